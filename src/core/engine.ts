/** runSlice: the resumable, time-boxed export loop (see DESIGN.md "The one idea"). */
import { ErrorCode, OffloadError } from './errors.js';
import { CHECKPOINT_VERSION, type Checkpoint, type CheckpointSink } from './checkpoint.js';
import { decodeKey, encodeKey } from './json-value.js';
import type { KeyTuple, TableSchema } from './types.js';
import { parseCsvOptions } from '../formats/csv.js';
import type { Encoder, Format } from '../formats/format.js';
import type { EncodedBatch, ReadPlan, Source } from '../sources/source.js';
import type { ObjectMeta, Storage, StoredFile, Upload } from '../storage/storage.js';

/** A fully resolved export: every identifier validated, every backend constructed. */
export interface ExportPlan {
  source: Source;
  /** One entry per table section, in output order. */
  tables: { read: ReadPlan; schema: TableSchema }[];
  format: Format;
  formatOptions: Record<string, unknown>;
  storage: Storage;
  /** Object key in the storage. */
  key: string;
  meta: ObjectMeta;
  /** Bytes buffered before a part is written and a checkpoint taken. */
  partSize: number;
}

export interface Progress {
  rows: number;
  totalRows: number | null;
  bytes: number;
  percent: number | null;
  /** Rows per second over this slice so far. */
  rowsPerSecond: number;
  etaSeconds: number | null;
}

export interface SliceOptions {
  /** Where the previous slice stopped; null for a fresh export. */
  checkpoint: Checkpoint | null;
  /** Fenced checkpoint writer for the lease this slice holds. */
  sink: CheckpointSink;
  /** Epoch milliseconds: stop at the first batch boundary after it. */
  deadline?: number;
  /** Stop at the next batch boundary (or abort a read in flight). */
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

export type SliceResult =
  | { done: true; file: StoredFile; rows: number; bytes: number }
  | { done: false; reason: 'deadline' | 'aborted'; checkpoint: Checkpoint | null };

export const DEFAULT_BATCH_SIZE = 5000;
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

/**
 * Runs one slice of an export: restores the checkpoint, then batch → encode → buffer → part →
 * checkpoint until the source is exhausted (the object is published), the deadline passes or the
 * signal aborts (the buffer is stored and checkpointed when the storage allows a part that small).
 * At least one batch is processed per slice, so a chain of slices always makes progress.
 *
 * @example
 * let cp = null;
 * for (;;) {
 *   const r = await runSlice(plan, { checkpoint: cp, sink, deadline: Date.now() + 25_000 });
 *   if (r.done) break;
 *   cp = r.checkpoint;
 * }
 */
export async function runSlice(plan: ExportPlan, options: SliceOptions): Promise<SliceResult> {
  const { checkpoint, sink, signal } = options;
  if (checkpoint?.completed) {
    return { done: true, file: checkpoint.completed, rows: checkpoint.rows, bytes: checkpoint.completed.size };
  }
  if (checkpoint && checkpoint.version !== CHECKPOINT_VERSION) {
    throw new OffloadError(ErrorCode.CHECKPOINT_MISMATCH, `[offload] checkpoint version ${String(checkpoint.version)} is not supported`);
  }
  const encoder = plan.format.create(
    { tables: plan.tables.map((t) => t.schema), options: plan.formatOptions, dialect: plan.source.dialect },
    checkpoint?.encoder,
  );
  let upload: Upload | null = null;
  const openUpload = async (): Promise<Upload> => {
    upload ??= checkpoint?.upload != null
      ? await plan.storage.resumeUpload(plan.key, plan.meta, checkpoint.upload)
      : await plan.storage.createUpload(plan.key, plan.meta);
    return upload;
  };

  let table = checkpoint?.cursor.table ?? 0;
  let after: KeyTuple | null = checkpoint ? decodeKey(checkpoint.cursor.key) : null;
  let durableRows = checkpoint?.rows ?? 0;
  let durableBytes = checkpoint?.bytes ?? 0;
  let parts = checkpoint?.parts ?? 0;
  // A schema-only dump needs no rows: the tables are opened and closed without a query.
  const readsRows = plan.format.readsRows?.(plan.formatOptions) ?? true;
  const totalRows = checkpoint ? checkpoint.totalRows : readsRows ? await countRows(plan) : 0;
  let last: Checkpoint | null = checkpoint;

  // One buffer for the part being filled, reused for every part of the slice: no concatenation
  // copy per part and no part-sized garbage for the collector (the storage does not keep the
  // bytes once writePart resolves).
  let part = Buffer.allocUnsafeSlow(0);
  let buffered = 0;
  let pendingRows = 0;
  const push = (bytes: Uint8Array): void => {
    if (bytes.length === 0) return;
    if (buffered + bytes.length > part.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(buffered + bytes.length, Math.min(2 * part.length, partTarget() + bytes.length), 64 * 1024));
      part.copy(grown, 0, 0, buffered);
      part = grown;
    }
    part.set(bytes, buffered);
    buffered += bytes.length;
  };
  /** The buffered bytes, valid until the next push. */
  const takeBuffer = (): Uint8Array => {
    const out = part.subarray(0, buffered);
    buffered = 0;
    return out;
  };

  const storePart = async (): Promise<void> => {
    const up = await openUpload();
    const size = buffered;
    await up.writePart(takeBuffer());
    durableBytes += size;
    durableRows += pendingRows;
    pendingRows = 0;
    parts += 1;
    last = {
      version: CHECKPOINT_VERSION,
      cursor: { table, key: encodeKey(after) },
      encoder: encoder.state(),
      upload: up.state(),
      rows: durableRows,
      bytes: durableBytes,
      parts,
      totalRows,
    };
    await sink.save(last);
  };

  const started = Date.now();
  const startRows = durableRows;
  const report = (): void => {
    if (!options.onProgress) return;
    const rows = durableRows + pendingRows;
    const elapsed = (Date.now() - started) / 1000;
    const rate = elapsed > 0 ? (rows - startRows) / elapsed : 0;
    const percent = totalRows ? Math.min(100, (rows / totalRows) * 100) : totalRows === 0 ? 100 : null;
    const eta = totalRows !== null && rate > 0 ? Math.max(0, (totalRows - rows) / rate) : null;
    options.onProgress({ rows, totalRows, bytes: durableBytes + buffered, percent, rowsPerSecond: rate, etaSeconds: eta });
  };

  const shouldStop = (): 'deadline' | 'aborted' | null => {
    if (signal?.aborted) return 'aborted';
    if (options.deadline !== undefined && Date.now() >= options.deadline) return 'deadline';
    return null;
  };

  // A deadline stop stores its buffer as a part; below the storage's minimum part size it could
  // not, and the next slice would redo the same rows forever. So a slice past its deadline reads
  // on until its buffer is empty (a part was just stored) or big enough to store.
  const deadlineStop = (): 'deadline' | 'aborted' | null => {
    const stop = shouldStop();
    const min = Math.max(plan.storage.minPartSize, upload?.nextPartSize?.() ?? 0);
    return stop === 'deadline' && buffered > 0 && buffered < min ? null : stop;
  };

  // The storage may ask for bigger parts as the object grows (S3 allows 10,000 parts).
  const partTarget = (): number => Math.max(plan.partSize, upload?.nextPartSize?.() ?? 0);

  let completed = false;
  try {
    if (!checkpoint) push(encoder.beginTable(0));
    // A resumed upload is opened before the first part so that part already has the right size.
    else if (checkpoint.upload != null) await openUpload();
    let batchesThisSlice = 0;
    let stop: 'deadline' | 'aborted' | null = null;

    try {
      while (table < plan.tables.length && stop === null) {
        const { read } = plan.tables[table]!;
        for await (const batch of encodedBatches(plan, read, after, encoder, signal, readsRows)) {
          for (const chunk of batch.chunks) push(chunk);
          after = batch.lastKey;
          pendingRows += batch.rows;
          batchesThisSlice += 1;
          if (buffered >= partTarget()) await storePart();
          report();
          stop = deadlineStop();
          if (stop !== null) break;
        }
        if (stop !== null) break;
        push(encoder.endTable());
        table += 1;
        after = null;
        if (table < plan.tables.length) push(encoder.beginTable(table));
        if (batchesThisSlice > 0) stop = deadlineStop();
      }
    } catch (err) {
      // A read cut short by the signal: the batch in flight was not encoded, so what is buffered
      // still matches `after` and can be stored like at any other stop.
      const cutShort = !(err instanceof OffloadError) || err.code === ErrorCode.ABORTED;
      if (!signal?.aborted || !cutShort) throw err;
      stop = 'aborted';
    }

    if (stop !== null) {
      if (buffered > 0 && buffered >= plan.storage.minPartSize) await storePart();
      return { done: false, reason: stop, checkpoint: last };
    }

    push(encoder.finish());
    const up = await openUpload();
    const size = buffered;
    const file = await up.complete(takeBuffer());
    completed = true;
    durableRows += pendingRows;
    pendingRows = 0;
    durableBytes += size;
    report();
    await sink.save({
      version: CHECKPOINT_VERSION,
      cursor: { table, key: null },
      encoder: encoder.state(),
      upload: null,
      rows: durableRows,
      bytes: durableBytes,
      parts: parts + 1,
      totalRows,
      completed: file,
    });
    return { done: true, file, rows: durableRows, bytes: file.size };
  } finally {
    // A paused or failed slice keeps its upload for the next slice but frees its handles now.
    if (!completed) await (upload as Upload | null)?.release?.().catch(() => undefined);
  }
}

/**
 * One table's batches as bytes: the source's own CSV when it offers a fast path for this plan
 * (`Source.copyCsv`, same bytes by contract), else its rows through the encoder.
 */
async function* encodedBatches(plan: ExportPlan, read: ReadPlan, after: KeyTuple | null, encoder: Encoder, signal: AbortSignal | undefined, readsRows: boolean): AsyncGenerator<EncodedBatch> {
  if (!readsRows) return;
  const options = signal ? { signal } : {};
  if (mayCopyCsv(plan.format, plan.source)) {
    const copied = await plan.source.copyCsv(read, after, parseCsvOptions(plan.formatOptions), options);
    if (copied) {
      yield* copied;
      return;
    }
  }
  for await (const batch of plan.source.batches(read, after, options)) {
    yield { chunks: [encoder.encode(batch.rows)], rows: batch.rows.length, lastKey: batch.lastKey };
  }
}

/** Whether the source may write this format's bytes itself: plain CSV only (a compressed format must see every byte through its encoder). */
export function mayCopyCsv(format: Format, source: Source): source is Source & Required<Pick<Source, 'copyCsv'>> {
  return format.name === 'csv' && !format.compression && source.copyCsv !== undefined;
}

async function countRows(plan: ExportPlan): Promise<number | null> {
  let total = 0;
  for (const t of plan.tables) {
    const n = await plan.source.count(t.read);
    if (n === null) return null;
    total += n;
  }
  return total;
}
