/** The checkpoint record: everything a slice needs to continue, written only at part boundaries. */
import type { JsonValue } from './types.js';
import type { StoredFile } from '../storage/storage.js';

export const CHECKPOINT_VERSION = 1;

/**
 * Written after each durable part. Everything before it is stored as whole parts; everything
 * after it is recomputed by the next slice, so the output stays byte-identical.
 */
export interface Checkpoint {
  version: typeof CHECKPOINT_VERSION;
  /** Table index of the plan and the encoded key of the last row written (see json-value.ts). */
  cursor: { table: number; key: JsonValue };
  encoder: JsonValue;
  /** Storage upload state; null until the first part is stored. */
  upload: JsonValue;
  /** Rows and bytes durably written. */
  rows: number;
  bytes: number;
  parts: number;
  totalRows: number | null;
  /** Set once the object is published, so a crash right after completion does not redo it. */
  completed?: StoredFile;
}

/**
 * Persists checkpoints for one export under one lease. `save` must be atomic and fenced:
 * if another worker has taken the lease since, it throws `LEASE_LOST` and changes nothing.
 */
export interface CheckpointSink {
  save(checkpoint: Checkpoint): Promise<void>;
}
