/**
 * S3 (and S3-compatible: MinIO, R2, Ceph) storage. Multipart uploads are driven by hand — not by
 * the SDK's `Upload` helper, which hides the upload id — so every finished part (number, ETag,
 * size, MD5) is in the checkpoint and a resumed export continues with the next part number
 * without sending a finished part again. An export smaller than one part is a single PutObject.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand,
  HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ErrorCode, OffloadError } from '../core/errors.js';
import type { JsonValue } from '../core/types.js';
import { DEFAULT_SCHEDULE, partSizeFor, S3_LIMITS, type PartSchedule } from './s3/part-size.js';
import { DEFAULT_RETRY, nameOf, s3Failure, statusOf, withRetry, type RetryPolicy } from './s3/retry.js';
import type { ByteRange, ObjectMeta, PresignOptions, Storage, StoredFile, UnfinishedUpload, Upload } from './storage.js';

export interface S3StorageOptions {
  bucket: string;
  /** Key prefix for every object, e.g. `exports/` (a trailing `/` is added when missing). */
  prefix?: string;
  /** Default `us-east-1` (or AWS_REGION). */
  region?: string;
  /** Endpoint of an S3-compatible store, e.g. `http://127.0.0.1:9000`. */
  endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`), needed by most S3-compatible stores. */
  forcePathStyle?: boolean;
  /** Static credentials; default: the SDK's provider chain (env, profile, instance role…). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  retry?: RetryPolicy;
  /** Part-size growth schedule (kept in each upload's state). */
  schedule?: PartSchedule;
  /** A client of your own (tests, custom middleware); the options above are then ignored. */
  client?: S3Client;
}

/** One uploaded part, as recorded in the checkpoint. */
interface PartRecord { n: number; etag: string; size: number; md5: string }

interface S3UploadState {
  uploadId: string | null;
  parts: PartRecord[];
  schedule: PartSchedule;
}

function isState(s: JsonValue): s is S3UploadState & JsonValue {
  return s !== null && typeof s === 'object' && !Array.isArray(s) && 'parts' in s && Array.isArray(s.parts) && 'schedule' in s;
}

/** `attachment` header with an ASCII fallback and the UTF-8 name (RFC 6266). */
export function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/**
 * @example
 * const storage = s3Storage({ bucket: 'exports', prefix: 'offload/', region: 'eu-west-1' });
 * const minio = s3Storage({ bucket: 'exports', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true });
 */
export function s3Storage(options: S3StorageOptions): Storage & { readonly bucket: string; readonly prefix: string; readonly client: S3Client } {
  const bucket = options.bucket;
  if (!bucket) throw new OffloadError(ErrorCode.BAD_REQUEST, '[offload] [s3] a bucket is required');
  const prefix = options.prefix ? (options.prefix.endsWith('/') ? options.prefix : `${options.prefix}/`).replace(/^\/+/, '') : '';
  const retry = options.retry ?? DEFAULT_RETRY;
  const client = options.client ?? new S3Client({
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.credentials ? { credentials: { ...options.credentials } } : {}), // the SDK annotates the object it gets
    // Retries are ours, per operation (see retry.ts); checksums only where S3 requires them,
    // so S3-compatible stores without the newer checksum headers work too (Content-MD5 is sent).
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const fullKey = (key: string): string => {
    if (key.length === 0 || key.startsWith('/') || key.split('/').includes('..')) {
      throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] [s3] invalid object key "${key}"`);
    }
    return prefix + key;
  };
  const where = (key: string): string => `s3://${bucket}/${prefix}${key}`;

  const objectHeaders = (key: string, meta: ObjectMeta) => ({
    Bucket: bucket,
    Key: fullKey(key),
    ContentType: meta.contentType,
    ...(meta.filename ? { ContentDisposition: contentDisposition(meta.filename) } : {}),
    ...(meta.contentEncoding ? { ContentEncoding: meta.contentEncoding } : {}),
    ...(meta.jobId ? { Metadata: { 'offload-job-id': meta.jobId } } : {}),
  });

  async function stat(key: string): Promise<{ size: number; modifiedAt: Date } | null> {
    try {
      const head = await withRetry(retry, `stat ${where(key)}`, () => client.send(new HeadObjectCommand({ Bucket: bucket, Key: fullKey(key) })));
      return { size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
    } catch (err) {
      if (err instanceof OffloadError && isNotFound(err.cause)) return null;
      throw err;
    }
  }

  async function sha256Of(key: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of await read(key)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  function openUpload(key: string, meta: ObjectMeta, initial: S3UploadState, fresh: boolean): Upload {
    const state: S3UploadState = { uploadId: initial.uploadId, parts: [...initial.parts], schedule: initial.schedule };
    // The whole-object SHA-256 is kept live while this process saw every byte; a resumed
    // upload reads the object back once at completion (a hash state cannot be checkpointed).
    let hash: ReturnType<typeof createHash> | null = fresh ? createHash('sha256') : null;
    let size = state.parts.reduce((n, p) => n + p.size, 0);

    const uploadPart = async (bytes: Uint8Array): Promise<void> => {
      if (state.uploadId === null) {
        const created = await withRetry(retry, `start the upload of ${where(key)}`, () => client.send(new CreateMultipartUploadCommand(objectHeaders(key, meta))));
        if (!created.UploadId) throw new OffloadError(ErrorCode.STORAGE_ERROR, `[offload] [s3] no upload id for ${where(key)}`, { retryable: true });
        state.uploadId = created.UploadId;
      }
      const n = state.parts.length + 1;
      if (n > S3_LIMITS.maxParts) throw new OffloadError(ErrorCode.STORAGE_ERROR, `[offload] [s3] ${where(key)} would need more than ${S3_LIMITS.maxParts} parts`);
      const md5 = createHash('md5').update(bytes).digest('base64');
      const uploadId = state.uploadId;
      const res = await withRetry(retry, `upload part ${n} of ${where(key)}`, async () => {
        try {
          return await client.send(new UploadPartCommand({ Bucket: bucket, Key: fullKey(key), UploadId: uploadId, PartNumber: n, Body: bytes, ContentLength: bytes.length, ContentMD5: md5 }));
        } catch (err) {
          if (nameOf(err) === 'NoSuchUpload') {
            throw new OffloadError(ErrorCode.CHECKPOINT_MISMATCH, `[offload] [s3] the multipart upload of ${where(key)} no longer exists (aborted or expired): the export must start over`, { cause: err });
          }
          throw err;
        }
      });
      state.parts.push({ n, etag: res.ETag ?? '', size: bytes.length, md5 });
      hash?.update(bytes);
      size += bytes.length;
    };

    /**
     * The object's SHA-256 when a previous process already completed this very upload and died
     * before it could record that; null otherwise. Checked by content, not by ETag (S3's
     * multipart ETag formula is not followed by every S3-compatible store): the object must have
     * the expected size and every part range must have the recorded MD5.
     */
    const alreadyCompleted = async (last: Uint8Array): Promise<string | null> => {
      const md5s = state.parts.map((p) => p.md5);
      const sizes = state.parts.map((p) => p.size);
      if (last.length > 0) {
        md5s.push(createHash('md5').update(last).digest('base64'));
        sizes.push(last.length);
      }
      const total = sizes.reduce((a, b) => a + b, 0);
      const found = await stat(key);
      if (!found || found.size !== total) return null;
      const whole = createHash('sha256');
      let part = 0;
      let md5 = createHash('md5');
      let left = sizes[0] ?? 0;
      for await (const chunk of await read(key)) {
        let buf = chunk as Buffer;
        whole.update(buf);
        while (buf.length > 0) {
          const take = Math.min(left, buf.length);
          md5.update(buf.subarray(0, take));
          buf = buf.subarray(take);
          left -= take;
          if (left === 0 && part < sizes.length) {
            if (md5.digest('base64') !== md5s[part]) return null;
            part += 1;
            md5 = createHash('md5');
            left = sizes[part] ?? Infinity;
          }
        }
      }
      return part === sizes.length ? whole.digest('hex') : null;
    };

    return {
      writePart: uploadPart,
      state: () => ({ uploadId: state.uploadId, parts: state.parts.map((p) => ({ ...p })), schedule: { ...state.schedule } }),
      nextPartSize: () => partSizeFor(state.schedule, state.parts.length + 1),
      async complete(last: Uint8Array): Promise<StoredFile> {
        if (state.uploadId === null) {
          // Smaller than one part: one PutObject, no multipart upload at all.
          const md5 = createHash('md5').update(last).digest('base64');
          await withRetry(retry, `put ${where(key)}`, () => client.send(new PutObjectCommand({ ...objectHeaders(key, meta), Body: last, ContentLength: last.length, ContentMD5: md5 })));
          return { key, size: last.length, sha256: createHash('sha256').update(last).digest('hex') };
        }
        if (!fresh) {
          const done = await alreadyCompleted(last);
          if (done !== null) return { key, size: size + last.length, sha256: done };
        }
        if (last.length > 0) await uploadPart(last);
        const uploadId = state.uploadId;
        try {
          await withRetry(retry, `complete the upload of ${where(key)}`, () => client.send(new CompleteMultipartUploadCommand({
            Bucket: bucket, Key: fullKey(key), UploadId: uploadId,
            MultipartUpload: { Parts: state.parts.map((p) => ({ PartNumber: p.n, ETag: p.etag })) },
          })));
        } catch (err) {
          // A completion whose answer was lost on the way (dropped connection) has already
          // turned the upload into the object; its retry then finds no upload. Accept the
          // object only if it is exactly the parts this upload sent.
          if (!(err instanceof OffloadError && nameOf(err.cause) === 'NoSuchUpload')) throw err;
          const done = await alreadyCompleted(new Uint8Array(0));
          if (done === null) {
            throw new OffloadError(ErrorCode.CHECKPOINT_MISMATCH, `[offload] [s3] the multipart upload of ${where(key)} no longer exists (aborted or expired): the export must start over`, { cause: err });
          }
          hash = null;
          return { key, size, sha256: done };
        }
        const sha256 = hash ? hash.digest('hex') : await sha256Of(key);
        hash = null;
        return { key, size, sha256 };
      },
      async abort(): Promise<void> {
        if (state.uploadId !== null) await abortMultipart(key, state.uploadId);
        state.uploadId = null;
        state.parts = [];
      },
    };
  }

  async function abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await withRetry(retry, `abort the upload of ${where(key)}`, () => client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: fullKey(key), UploadId: uploadId })));
    } catch (err) {
      // Already gone is the outcome we wanted.
      if (!(err instanceof OffloadError && nameOf(err.cause) === 'NoSuchUpload')) throw err;
    }
  }

  async function read(key: string, range?: ByteRange): Promise<Readable> {
    const res = await withRetry(retry, `read ${where(key)}`, () => client.send(new GetObjectCommand({
      Bucket: bucket, Key: fullKey(key), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
    }))).catch((err: unknown) => {
      if (err instanceof OffloadError && isNotFound(err.cause)) throw new OffloadError(ErrorCode.NOT_FOUND, `[offload] [s3] ${where(key)} does not exist`, { cause: err });
      throw err;
    });
    const body = res.Body;
    if (body instanceof Readable) return body;
    if (!body) return Readable.from([]);
    return Readable.fromWeb((body as { transformToWebStream(): ReadableStream }).transformToWebStream() as never);
  }

  return {
    name: 's3',
    bucket,
    prefix,
    client,
    minPartSize: S3_LIMITS.minPartSize,
    createUpload: async (key, meta) => openUpload(key, meta, { uploadId: null, parts: [], schedule: options.schedule ?? DEFAULT_SCHEDULE }, true),
    async resumeUpload(key, meta, state) {
      if (!isState(state)) throw new OffloadError(ErrorCode.CHECKPOINT_MISMATCH, `[offload] [s3] the checkpoint of ${where(key)} does not describe an S3 upload`);
      return openUpload(key, meta, state, state.parts.length === 0 && state.uploadId === null);
    },
    async abortUpload(key, state) {
      if (isState(state) && state.uploadId) await abortMultipart(key, state.uploadId);
    },
    stat,
    read,
    async delete(key) {
      await withRetry(retry, `delete ${where(key)}`, () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: fullKey(key) })));
    },
    async check() {
      try {
        await withRetry({ ...retry, attempts: 2 }, `check bucket "${bucket}"`, () => client.send(new HeadBucketCommand({ Bucket: bucket })));
      } catch (err) {
        const cause = err instanceof OffloadError ? err.cause : err;
        if (isNotFound(cause)) throw new OffloadError(ErrorCode.STORAGE_NOT_FOUND, `[offload] [s3] bucket "${bucket}" does not exist${options.endpoint ? ` at ${options.endpoint}` : ''}`, { cause });
        throw err instanceof OffloadError ? err : s3Failure(`check bucket "${bucket}"`, err);
      }
    },
    async presign(key: string, opts: PresignOptions) {
      const cmd = new GetObjectCommand({ Bucket: bucket, Key: fullKey(key), ...(opts.filename ? { ResponseContentDisposition: contentDisposition(opts.filename) } : {}) });
      return getSignedUrl(client, cmd, { expiresIn: opts.expiresIn });
    },
    async *listUnfinished(): AsyncIterable<UnfinishedUpload> {
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      for (;;) {
        const page = await withRetry(retry, `list unfinished uploads under s3://${bucket}/${prefix}`, () => client.send(new ListMultipartUploadsCommand({
          Bucket: bucket, Prefix: prefix, ...(keyMarker ? { KeyMarker: keyMarker } : {}), ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
        })));
        for (const u of page.Uploads ?? []) {
          if (u.Key && u.UploadId) yield { key: u.Key.slice(prefix.length), uploadId: u.UploadId, initiatedAt: u.Initiated ?? new Date(0) };
        }
        if (!page.IsTruncated) return;
        keyMarker = page.NextKeyMarker;
        uploadIdMarker = page.NextUploadIdMarker;
      }
    },
    abortUnfinished: (u) => abortMultipart(u.key, u.uploadId),
  };
}

function isNotFound(err: unknown): boolean {
  const name = nameOf(err);
  return statusOf(err) === 404 || name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchBucket';
}
