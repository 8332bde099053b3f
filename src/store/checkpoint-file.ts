/** A checkpoint kept in a JSON file beside the output, fenced by a lease token (the CLI's job record). */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import type { Checkpoint, CheckpointSink } from '../core/checkpoint.js';
import { ErrorCode, OffloadError, leaseLost } from '../core/errors.js';
import type { JsonValue } from '../core/types.js';

interface FileRecord {
  offload: 1;
  request: JsonValue;
  token: number;
  startedAt: string;
  updatedAt: string;
  checkpoint: Checkpoint | null;
}

export interface AcquireOptions {
  /** Continue the export recorded in the file; refuse if there is none or it differs. */
  resume: boolean;
  /** Start over even if an unfinished export is recorded. */
  force: boolean;
}

async function readRecord(path: string): Promise<FileRecord | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const rec = JSON.parse(text) as FileRecord;
    if (rec.offload !== 1 || typeof rec.token !== 'number') throw new Error('not an offload checkpoint');
    return rec;
  } catch (err) {
    throw new OffloadError(ErrorCode.CHECKPOINT_MISMATCH, `[offload] ${path} is not a readable checkpoint (${(err as Error).message}); delete it to start over`, { cause: err });
  }
}

async function writeRecord(path: string, rec: FileRecord): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(rec));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

function canonical(v: JsonValue): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical(v[k]!)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The checkpoint file of one export. Each process that acquires it takes a new lease token; a
 * `save` from a process whose token is no longer current throws `LEASE_LOST` and writes nothing.
 */
export class CheckpointFile implements CheckpointSink {
  private constructor(
    readonly path: string,
    readonly token: number,
    private record: FileRecord,
  ) {}

  /** The checkpoint to resume from (null when starting fresh). */
  get checkpoint(): Checkpoint | null {
    return this.record.checkpoint;
  }

  /** An unfinished export recorded at `path`, if any (for clean-up before a forced restart). */
  static async peek(path: string): Promise<Checkpoint | null> {
    return (await readRecord(path))?.checkpoint ?? null;
  }

  static async acquire(path: string, request: JsonValue, options: AcquireOptions): Promise<CheckpointFile> {
    const existing = await readRecord(path);
    if (options.resume) {
      if (!existing) {
        throw new OffloadError(ErrorCode.NOTHING_TO_RESUME, `[offload] nothing to resume: no checkpoint at ${path}`);
      }
      if (canonical(existing.request) !== canonical(request)) {
        throw new OffloadError(ErrorCode.REQUEST_MISMATCH, `[offload] --resume refused: this request differs from the one that started the export (${canonical(existing.request)})`);
      }
    } else if (existing && !options.force) {
      throw new OffloadError(ErrorCode.EXPORT_EXISTS, `[offload] an unfinished export is recorded in ${path}: add --resume to continue it or --force to start over`);
    }
    const now = new Date().toISOString();
    const token = (existing?.token ?? 0) + 1;
    const record: FileRecord = {
      offload: 1,
      request,
      token,
      startedAt: options.resume && existing ? existing.startedAt : now,
      updatedAt: now,
      checkpoint: options.resume && existing ? existing.checkpoint : null,
    };
    await writeRecord(path, record);
    return new CheckpointFile(path, token, record);
  }

  async save(checkpoint: Checkpoint): Promise<void> {
    const current = await readRecord(this.path);
    if (!current || current.token !== this.token) throw leaseLost(this.path);
    this.record = { ...this.record, checkpoint, updatedAt: new Date().toISOString() };
    await writeRecord(this.path, this.record);
  }

  /** Deletes the file once the export is complete (only while this process holds the lease). */
  async remove(): Promise<void> {
    const current = await readRecord(this.path);
    if (current && current.token !== this.token) throw leaseLost(this.path);
    await rm(this.path, { force: true });
  }
}
