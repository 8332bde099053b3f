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
 *
 * The bytes given to `writePart` and `complete` belong to the caller again once the call
 * resolves (the engine reuses one buffer for every part): keep no reference to them.
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
  /**
   * Smallest size the next `writePart` should have, when the backend needs parts to grow as the
   * object grows (S3: at most 10,000 parts per object). The engine buffers
   * `max(plan.partSize, nextPartSize())` before writing a part. Optional: absent means no growth.
   */
  nextPartSize?(): number;
}

/** Options of a presigned (signed, expiring) download URL. */
export interface PresignOptions {
  /** Seconds the URL stays valid. */
  expiresIn: number;
  /** File name the browser saves as (overrides Content-Disposition in the response). */
  filename?: string;
}

/** A multipart upload still in progress in the backend (listed by the orphan sweeper). */
export interface UnfinishedUpload {
  /** Object key relative to the storage (prefix removed). */
  key: string;
  uploadId: string;
  initiatedAt: Date;
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
  /**
   * Checks the configuration against the backend (bucket exists, credentials work) so a service
   * fails at start with a clear message rather than at its first export. Optional.
   */
  check?(): Promise<void>;
  /** A signed URL that downloads the object without Offload in the path (S3). Optional. */
  presign?(key: string, options: PresignOptions): Promise<string>;
  /** Multipart uploads in progress under this storage, for the orphan sweeper. Optional. */
  listUnfinished?(): AsyncIterable<UnfinishedUpload>;
  /** Aborts one listed unfinished upload, freeing its parts. Optional, paired with `listUnfinished`. */
  abortUnfinished?(upload: UnfinishedUpload): Promise<void>;
}
