/** createExporter: the library entry point that resolves a request and runs slices to completion. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Checkpoint, CheckpointSink } from './checkpoint.js';
import { DEFAULT_BATCH_SIZE, DEFAULT_PART_SIZE, mayCopyCsv, runSlice, type ExportPlan, type Progress } from './engine.js';
import { ErrorCode, OffloadError } from './errors.js';
import { resolveTable, type TableRequest } from './plan.js';
import type { Format } from '../formats/format.js';
import type { Source } from '../sources/source.js';
import type { ObjectMeta, Storage, StoredFile } from '../storage/storage.js';

export interface ExporterOptions {
  storage: Storage;
  /** Rows per source query. Default: the source's `defaultBatchSize`, else 5,000. */
  batchSize?: number;
  /** Bytes per stored part (and checkpoint). Default 8 MiB. */
  partSize?: number;
}

export interface ExportRun {
  source: Source;
  /** One table, or several for formats that hold many (SQL dumps). */
  tables: TableRequest[];
  format: Format;
  formatOptions?: Record<string, unknown>;
  /** Object key in the storage. */
  key: string;
  meta?: Partial<ObjectMeta>;
  /** Fenced checkpoint writer; without one, progress is not kept across processes. */
  sink?: CheckpointSink;
  /** Checkpoint to resume from. */
  checkpoint?: Checkpoint | null;
  /** Length of one slice in ms; default: one slice for the whole export. */
  sliceMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /**
   * Retries after a retryable failure once the export has started (a dropped database
   * connection, a server restart, a statement timeout, a storage outage): wait with exponential
   * backoff and full jitter, then resume from the last checkpoint. Default: no retries.
   */
  retry?: RetryOptions;
}

export interface RetryOptions {
  /** Retries after failures in a row (a saved checkpoint in between resets the count). */
  retries: number;
  /** Backoff ceiling of the first retry; doubles each time. Default 1 s. */
  baseDelayMs?: number;
  /** Largest wait. Default 30 s. */
  maxDelayMs?: number;
  /** Called before each wait. */
  onRetry?: (error: OffloadError, retry: number, delayMs: number) => void;
}

export type ExportOutcome =
  | { status: 'succeeded'; file: StoredFile; rows: number }
  | { status: 'interrupted'; checkpoint: Checkpoint | null };

/** Builds the plan for a run: validates tables, columns and filters against the source. */
export async function planExport(run: ExportRun, options: ExporterOptions): Promise<ExportPlan> {
  if (run.tables.length === 0) throw new OffloadError(ErrorCode.BAD_REQUEST, '[offload] no table to export');
  if (run.tables.length > 1 && !run.format.multiTable) {
    throw new OffloadError(ErrorCode.UNSUPPORTED_FORMAT, `[offload] format ${run.format.name} holds one table; got ${run.tables.length}`);
  }
  const formatOptions = run.format.parseOptions(run.formatOptions ?? {});
  const tables = [];
  for (const t of run.tables) tables.push(await resolveTable(run.source, t, options.batchSize ?? (mayCopyCsv(run.format, run.source) ? run.source.copyBatchSize : undefined) ?? run.source.defaultBatchSize ?? DEFAULT_BATCH_SIZE));
  // Options that depend on the tables (header labels, SQL dialect) fail here, before any output.
  run.format.create({ tables: tables.map((t) => t.schema), options: formatOptions, dialect: run.source.dialect });
  const partSize = options.partSize ?? DEFAULT_PART_SIZE;
  if (!Number.isInteger(partSize) || partSize < 1) {
    throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] part size must be a positive integer, got ${String(partSize)}`);
  }
  return {
    source: run.source,
    tables: tables.map((t) => ({ read: t.read, schema: t.schema })),
    format: run.format,
    formatOptions,
    storage: options.storage,
    key: run.key,
    meta: { contentType: run.format.contentType, ...run.meta },
    partSize: Math.max(partSize, options.storage.minPartSize),
  };
}

/**
 * Exports tables from a source into storage, slice after slice, checkpointing at part boundaries.
 *
 * @example
 * const exporter = createExporter({ storage: fsStorage({ root: './out' }) });
 * const result = await exporter.run({
 *   source: sqliteSource({ path: './hr.db' }),
 *   tables: [{ table: 'employees', filters: [{ column: 'status', op: 'eq', value: 'active' }] }],
 *   format: csvFormat,
 *   key: 'employees.csv',
 * });
 */
export function createExporter(options: ExporterOptions) {
  return {
    plan: (run: ExportRun) => planExport(run, options),
    async run(run: ExportRun): Promise<ExportOutcome> {
      // The last checkpoint saved, so a retry resumes where the failed slice left off.
      let checkpoint = run.checkpoint ?? null;
      let progressed = false;
      const sink: CheckpointSink = {
        save: async (c) => {
          await run.sink?.save(c);
          checkpoint = c;
          progressed = true;
        },
      };
      // Planning is not retried: a wrong host, password or table should fail at once.
      const plan = await planExport(run, options);
      for (let retry = 0; ; ) {
        try {
          const result = await runSlice(plan, {
            checkpoint,
            sink,
            ...(run.sliceMs !== undefined ? { deadline: Date.now() + run.sliceMs } : {}),
            ...(run.signal ? { signal: run.signal } : {}),
            ...(run.onProgress ? { onProgress: run.onProgress } : {}),
          });
          if (result.done) return { status: 'succeeded', file: result.file, rows: result.rows };
          checkpoint = result.checkpoint;
          if (result.reason === 'aborted') return { status: 'interrupted', checkpoint };
        } catch (err) {
          // `retries` counts failures in a row: a checkpoint saved since the last one starts over.
          if (progressed) retry = 0;
          progressed = false;
          if (!(err instanceof OffloadError) || !err.retryable || retry >= (run.retry?.retries ?? 0) || run.signal?.aborted) throw err;
          retry += 1;
          const delay = retryDelayMs(run.retry!, retry);
          run.retry!.onRetry?.(err, retry, delay);
          await sleep(delay, undefined, run.signal ? { signal: run.signal } : {}).catch(() => undefined);
          if (run.signal?.aborted) return { status: 'interrupted', checkpoint };
        }
      }
    },
  };
}

/** Exponential backoff with full jitter: uniform in [0, min(max, base·2^(retry−1))]. */
export function retryDelayMs(options: RetryOptions, retry: number): number {
  const ceiling = Math.min(options.maxDelayMs ?? 30_000, (options.baseDelayMs ?? 1000) * 2 ** Math.max(0, retry - 1));
  return Math.floor(Math.random() * ceiling);
}

export type Exporter = ReturnType<typeof createExporter>;
