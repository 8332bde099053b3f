/** createExporter: the library entry point that resolves a request and runs slices to completion. */
import type { Checkpoint, CheckpointSink } from './checkpoint.js';
import { DEFAULT_BATCH_SIZE, DEFAULT_PART_SIZE, runSlice, type ExportPlan, type Progress } from './engine.js';
import { ErrorCode, OffloadError } from './errors.js';
import { resolveTable, type TableRequest } from './plan.js';
import type { Format } from '../formats/format.js';
import type { Source } from '../sources/source.js';
import type { ObjectMeta, Storage, StoredFile } from '../storage/storage.js';

export interface ExporterOptions {
  storage: Storage;
  /** Rows per source query. Default 5,000. */
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
  for (const t of run.tables) tables.push(await resolveTable(run.source, t, options.batchSize ?? DEFAULT_BATCH_SIZE));
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
      const plan = await planExport(run, options);
      const sink: CheckpointSink = run.sink ?? { save: async () => undefined };
      let checkpoint = run.checkpoint ?? null;
      for (;;) {
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
      }
    },
  };
}

export type Exporter = ReturnType<typeof createExporter>;
