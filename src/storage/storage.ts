/** The Storage contract: resumable part-wise uploads, reads with ranges, deletes. */
import type { Readable } from 'node:stream';
import type { JsonValue } from '../core/types.js';

/** Metadata written with the object. */
export interface ObjectMeta {
  contentType: string;
  /** File name offered to downloaders (Content-Disposition). */
  filename?: string;
  contentEncoding?: string;
  jobId?: string;
}

/** A stored, complete object. */
export interface StoredFile {
  key: string;
  size: number;
  /** Hex SHA-256 of the whole object. */
  sha256: string;
}

/**
 * One object being written part by part. Each `writePart` is durable when it resolves; `state()`
 * then describes everything written so far, and `Storage.resumeUpload(key, meta, state)` continues
 * from exactly there (anything written after that state is discarded).
 */
export interface Upload {
  writePart(bytes: Uint8Array): Promise<void>;
  state(): JsonValue;
  /** Writes the last bytes (may be empty) and publishes the object atomically. */
  complete(last: Uint8Array): Promise<StoredFile>;
  /** Discards everything written; the object never appears. */
  abort(): Promise<void>;
  /**
   * Frees handles held for a paused upload (slice ended, or failed) without discarding anything;
   * the upload continues later through `resumeUpload`. Optional: backends holding nothing omit it.
   */
  release?(): Promise<void>;
}

export interface ByteRange {
  start: number;
  /** Inclusive end. */
  end: number;
}

/**
 * Where exports are written.
 * @example const storage = fsStorage({ root: './exports' });
 */
export interface Storage {
  readonly name: string;
  /**
   * Smallest part `writePart` accepts, except the last (S3: 5 MiB; fs: 0). The engine never
   * writes a smaller part, so a slice stopped early may recompute up to this much.
   */
  readonly minPartSize: number;
  createUpload(key: string, meta: ObjectMeta): Promise<Upload>;
  resumeUpload(key: string, meta: ObjectMeta, state: JsonValue): Promise<Upload>;
  /** Discards an unfinished upload known only by its state (cancel, crash clean-up). */
  abortUpload(key: string, state: JsonValue): Promise<void>;
  stat(key: string): Promise<{ size: number; modifiedAt: Date } | null>;
  read(key: string, range?: ByteRange): Promise<Readable>;
  delete(key: string): Promise<void>;
}
