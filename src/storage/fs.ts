/** Local filesystem storage: parts appended to `<key>.partial` and fsynced, published by an atomic rename. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { ErrorCode, OffloadError } from '../core/errors.js';
import type { JsonValue } from '../core/types.js';
import type { ByteRange, ObjectMeta, Storage, StoredFile, Upload } from './storage.js';

export interface FsStorageOptions {
  /** Directory that keys are relative to; created when missing. */
  root: string;
}

interface FsUploadState { length: number }

const PARTIAL = '.partial';

function isState(s: JsonValue): s is { length: number } {
  return s !== null && typeof s === 'object' && !Array.isArray(s) && typeof s.length === 'number';
}

/**
 * Stores exports as files under `root`. A final path never holds a half-written file: parts go
 * to `<path>.partial` (fsynced per part, its durable length kept in the checkpoint), and
 * completion renames it into place.
 * @example const storage = fsStorage({ root: './exports' });
 */
export function fsStorage(options: FsStorageOptions): Storage {
  const root = resolve(options.root);
  const pathOf = (key: string): string => {
    const p = normalize(join(root, key));
    if (isAbsolute(key) || !(p + sep).startsWith(root + sep) || p === root) {
      throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] [fs] key "${key}" escapes the storage root`);
    }
    return p;
  };
  const fail = (what: string, err: unknown): OffloadError =>
    err instanceof OffloadError ? err : new OffloadError(ErrorCode.STORAGE_ERROR, `[offload] [fs] ${what}: ${(err as Error).message}`, { cause: err, retryable: isTransient(err) });

  async function openUpload(key: string, state: FsUploadState | null): Promise<Upload> {
    const final = pathOf(key);
    const partial = final + PARTIAL;
    await mkdir(dirname(final), { recursive: true });
    let fh: FileHandle;
    let length = 0;
    // A hash over everything written is kept while this process saw every byte; after a resume
    // the file is read back once at completion instead (hash state cannot be checkpointed).
    let hash: ReturnType<typeof createHash> | null = createHash('sha256');
    if (state === null) {
      fh = await open(partial, 'w');
    } else {
      const st = await stat(partial).catch(() => null);
      if (!st) {
        const published = await stat(final).catch(() => null);
        if (published && published.size >= state.length) return completedUpload(final);
        throw new OffloadError(ErrorCode.CHECKPOINT_MISMATCH, `[offload] [fs] ${partial} is missing: the export cannot resume and must start over`);
      }
      if (st.size < state.length) {
        throw new OffloadError(ErrorCode.CHECKPOINT_MISMATCH, `[offload] [fs] ${partial} holds ${st.size} bytes, fewer than the ${state.length} the checkpoint recorded`);
      }
      fh = await open(partial, 'r+');
      // Bytes past the checkpoint were written by a slice that died before checkpointing them.
      await fh.truncate(state.length);
      length = state.length;
      hash = length === 0 ? hash : null;
    }
    let closed = false;
    const write = async (bytes: Uint8Array): Promise<void> => {
      let off = 0;
      while (off < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, off, bytes.length - off, length + off);
        off += bytesWritten;
      }
      hash?.update(bytes);
      length += bytes.length;
    };
    return {
      async writePart(bytes) {
        try {
          await write(bytes);
          await fh.sync();
        } catch (err) {
          throw fail(`write ${partial}`, err);
        }
      },
      state: () => ({ length }),
      async complete(last) {
        try {
          await write(last);
          await fh.sync();
          await fh.close();
          closed = true;
          const sha256 = hash ? hash.digest('hex') : await sha256File(partial);
          await rename(partial, final);
          await syncDir(dirname(final));
          return { key, size: length, sha256 };
        } catch (err) {
          throw fail(`complete ${final}`, err);
        }
      },
      async abort() {
        if (!closed) await fh.close().catch(() => undefined);
        closed = true;
        await rm(partial, { force: true });
      },
      async release() {
        if (!closed) await fh.close().catch(() => undefined);
        closed = true;
      },
    };

    function completedUpload(path: string): Upload {
      // The object was published but the crash came before the job recorded it: the engine
      // recomputes the same bytes, which are already in place.
      return {
        writePart: async () => undefined,
        state: () => ({ length: 0 }),
        complete: async () => {
          const st = await stat(path);
          return { key, size: st.size, sha256: await sha256File(path) } satisfies StoredFile;
        },
        abort: async () => undefined,
      };
    }
  }

  return {
    name: 'fs',
    minPartSize: 0,
    createUpload: (key: string, _meta: ObjectMeta) => openUpload(key, null),
    resumeUpload(key: string, _meta: ObjectMeta, state: JsonValue) {
      if (!isState(state)) throw new OffloadError(ErrorCode.CHECKPOINT_MISMATCH, '[offload] [fs] upload state is not an fs state');
      return openUpload(key, { length: state.length });
    },
    async abortUpload(key: string) {
      await rm(pathOf(key) + PARTIAL, { force: true });
    },
    async stat(key: string) {
      const st = await stat(pathOf(key)).catch(() => null);
      return st && st.isFile() ? { size: st.size, modifiedAt: st.mtime } : null;
    },
    async read(key: string, range?: ByteRange): Promise<Readable> {
      const path = pathOf(key);
      const st = await stat(path).catch(() => null);
      if (!st) throw new OffloadError(ErrorCode.STORAGE_ERROR, `[offload] [fs] no object "${key}"`);
      return createReadStream(path, range ? { start: range.start, end: range.end } : {});
    },
    async delete(key: string) {
      await rm(pathOf(key), { force: true });
    },
  };
}

async function sha256File(path: string): Promise<string> {
  // One buffer for the whole file: a read stream's fresh chunk per read would pile up as garbage
  // outside the heap (tens of MB on a large file) before the collector runs.
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafeSlow(1 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable; some platforms cannot open directories, which is harmless.
  const fh = await open(dir, 'r').catch(() => null);
  if (fh) {
    await fh.sync().catch(() => undefined);
    await fh.close();
  }
}

/**
 * Whether a file-system failure may go away by itself (a full disk being cleaned, a busy or
 * briefly unavailable network mount). Permissions, a directory in the way or a read-only file
 * system stay until someone acts: retrying them only delays the error.
 */
function isTransient(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return !['EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EROFS', 'ENAMETOOLONG', 'ELOOP', 'EINVAL'].includes(code ?? '');
}
