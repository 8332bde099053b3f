/** `offload export`: one table to one file, resumable with --resume, progress on stderr. */
import { mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { createExporter } from '../core/exporter.js';
import { ErrorCode, OffloadError } from '../core/errors.js';
import type { JsonValue } from '../core/types.js';
import { getFormat, formatNames } from '../formats/index.js';
import { openSource } from '../sources/index.js';
import { fsStorage } from '../storage/fs.js';
import type { Storage } from '../storage/storage.js';
import { CheckpointFile } from '../store/checkpoint-file.js';
import { parseBytes, parseList, parsePositiveInt, parseWhere } from './args.js';
import { EXIT } from './exit.js';
import { createProgressReporter, formatBytes } from './progress.js';

export interface ExportCliOptions {
  from: string;
  table?: string;
  tables?: string;
  format: string;
  out?: string;
  to?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle: boolean;
  checkpoint?: string;
  columns?: string;
  key?: string;
  where: string[];
  batchSize?: string;
  partSize: string;
  resume: boolean;
  force: boolean;
  quiet: boolean;
  delimiter?: string;
  newline?: string;
  header: boolean;
  bom: boolean;
  headerStyle?: string;
  headerLabel: string[];
  gzip: boolean;
  rowsPerSheet?: string;
  sqlDialect?: string;
  schemaOnly: boolean;
  dataOnly: boolean;
  dropTables: boolean;
  sliceMs?: string;
  retries: string;
}

/** Path of the checkpoint file kept beside an output file while its export is unfinished. */
export function checkpointPathFor(out: string): string {
  return `${resolve(out)}.offload-checkpoint.json`;
}

/** Where the file goes: a local path (`--out`) or an S3 object (`--to s3://bucket/key`). */
async function outputTarget(opts: ExportCliOptions): Promise<{ storage: Storage; objectKey: string; display: string; checkpointPath: string }> {
  if ((opts.out === undefined) === (opts.to === undefined)) {
    throw new OffloadError(ErrorCode.BAD_REQUEST, '[offload] give exactly one of --out <path> and --to <s3://bucket/key>');
  }
  if (opts.out !== undefined) {
    if (opts.s3Endpoint || opts.s3Region || opts.s3ForcePathStyle) throw new OffloadError(ErrorCode.BAD_REQUEST, '[offload] --s3-* options need --to s3://bucket/key');
    const out = resolve(opts.out);
    return { storage: fsStorage({ root: dirname(out) }), objectKey: basename(out), display: out, checkpointPath: resolve(opts.checkpoint ?? checkpointPathFor(out)) };
  }
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(opts.to!);
  if (!m || m[2]!.endsWith('/')) throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] --to must look like s3://bucket/path/file.csv, got "${opts.to!}"`);
  const [, bucket, key] = m as unknown as [string, string, string];
  // Loaded only when needed: the AWS SDK alone costs tens of MB of memory.
  const { s3Storage } = await import('../storage/s3.js');
  const storage = s3Storage({
    bucket, forcePathStyle: opts.s3ForcePathStyle,
    ...(opts.s3Endpoint ? { endpoint: opts.s3Endpoint } : {}), ...(opts.s3Region ? { region: opts.s3Region } : {}),
  });
  const checkpointPath = resolve(opts.checkpoint ?? join('.offload', 'checkpoints', bucket, `${key.replace(/[^\w.-]+/g, '_')}.json`));
  return { storage, objectKey: key, display: opts.to!, checkpointPath };
}

/** Format options from the CLI flags that apply to this format; flags for another format are an error. */
function formatOptionsFrom(format: string, opts: ExportCliOptions): Record<string, unknown> {
  const headers = Object.fromEntries(opts.headerLabel.map((l) => {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] --header-label needs column=Label, got "${l}"`);
    return [l.slice(0, eq), l.slice(eq + 1)];
  }));
  const given = (flag: string, value: unknown): boolean => value !== undefined && value !== false && !(Array.isArray(value) && value.length === 0);
  const only = (formats: string[], flags: Record<string, unknown>): void => {
    if (formats.includes(format)) return;
    const used = Object.entries(flags).find(([flag, v]) => given(flag, v));
    if (used) throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] ${used[0]} does not apply to --format ${format}`);
  };
  only(['csv'], { '--delimiter': opts.delimiter, '--newline': opts.newline, '--no-header': !opts.header, '--bom': opts.bom });
  only(['csv', 'xlsx'], { '--header-style': opts.headerStyle, '--header-label': opts.headerLabel });
  only(['xlsx'], { '--rows-per-sheet': opts.rowsPerSheet });
  only(['sql'], { '--sql-dialect': opts.sqlDialect, '--schema-only': opts.schemaOnly, '--data-only': opts.dataOnly, '--drop-tables': opts.dropTables });
  const header = { headerStyle: opts.headerStyle, ...(opts.headerLabel.length > 0 ? { headers } : {}) };
  switch (format) {
    case 'csv':
      return { delimiter: opts.delimiter, newline: opts.newline, header: opts.header, bom: opts.bom, ...header };
    case 'xlsx':
      return { ...header, rowsPerSheet: opts.rowsPerSheet === undefined ? undefined : parsePositiveInt(opts.rowsPerSheet, '--rows-per-sheet') };
    case 'sql':
      if (opts.schemaOnly && opts.dataOnly) throw new OffloadError(ErrorCode.BAD_REQUEST, '[offload] --schema-only and --data-only exclude each other');
      return { dialect: opts.sqlDialect, schema: !opts.dataOnly, data: !opts.schemaOnly, dropTables: opts.dropTables };
    default:
      return {};
  }
}

export function registerExport(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('export')
    .description('export one table or view to a file, resumably')
    .requiredOption('--from <url>', 'source: sqlite:./hr.db (or a path to a SQLite file)')
    .option('--table <name>', 'table or view to export (required except for --format sql)')
    .option('--tables <a,b>', 'SQL dump: these tables, in this order (default: every table, referenced ones first)')
    .option('--format <format>', `output format (${formatNames().join(', ')})`, 'csv')
    .option('--out <path>', 'output file (written to <path>.partial, renamed when complete)')
    .option('--to <s3://bucket/key>', 'write to S3 instead of --out (multipart upload; credentials from the AWS environment)')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (MinIO, R2, Ceph…)')
    .option('--s3-region <region>', 'S3 region (default AWS_REGION or us-east-1)')
    .option('--s3-force-path-style', 'path-style S3 URLs (most S3-compatible stores need this)', false)
    .option('--checkpoint <path>', 'checkpoint file (default: <out>.offload-checkpoint.json; for --to: .offload/checkpoints/<bucket>/<key>.json)')
    .option('--columns <a,b,c>', 'columns to export, in this order (default: all)')
    .option('--key <a,b>', 'key columns to page by (default: primary key, else rowid)')
    .option('--where <expr>', 'filter, repeatable: col=v, col!=v, col>=v, col:in=a,b, col:between=a,b, col:null, col:notnull', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--batch-size <n>', 'rows per source query or COPY range (default: SQLite 1,000, PostgreSQL and MySQL 2,000, COPY ranges 5,000)')
    .option('--part-size <size>', 'bytes written and checkpointed at a time', '8MiB')
    .option('--resume', 'continue an interrupted export of the same request', false)
    .option('--force', 'start over even if an unfinished export of this file is recorded', false)
    .option('--quiet', 'no progress output', false)
    .option('--delimiter <char>', 'CSV: field delimiter , ; or tab')
    .option('--newline <crlf|lf>', 'CSV: record separator (default crlf)')
    .option('--no-header', 'CSV: omit the header row')
    .option('--bom', 'CSV: start with a UTF-8 byte-order mark', false)
    .option('--header-style <raw|title>', 'CSV/XLSX: header text as column names (raw) or titles (hired_at → Hired At)')
    .option('--header-label <col=Label>', 'CSV/XLSX: header label for one column, repeatable', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--rows-per-sheet <n>', 'XLSX: data rows per sheet before the next sheet (default and maximum 1048575)')
    .option('--sql-dialect <dialect>', 'SQL: sqlite, postgres or mysql (default: the source\'s)')
    .option('--schema-only', 'SQL: CREATE TABLE statements only', false)
    .option('--data-only', 'SQL: INSERT statements only', false)
    .option('--drop-tables', 'SQL: DROP TABLE IF EXISTS before each CREATE TABLE', false)
    .option('--gzip', 'compress the file with gzip (one gzip stream; name it e.g. orders.csv.gz)', false)
    .option('--slice-ms <ms>', 'run in time-boxed slices of this length (as a serverless worker would)')
    .option('--retries <n>', 'after a lost connection or another retryable failure: resume from the checkpoint up to n times, with backoff (0 = exit at once)', '5')
    .addHelpText('after', `
Examples:
  offload export --from sqlite:./hr.db --table employees --out employees.csv
  offload export --from ./hr.db --table employees --format ndjson --out active.ndjson \\
      --columns id,name,hired_at --where status=active --where 'hired_at>=2020-01-01'
  offload export --from ./hr.db --table employees --out employees.csv --resume
  offload export --from ./hr.db --table employees --format xlsx --header-style title --out employees.xlsx
  offload export --from ./hr.db --format sql --out hr.sql                  (every table)
  offload export --from postgres://localhost/app --table orders --format csv --gzip --out orders.csv.gz`)
    .action((opts: ExportCliOptions) => run(() => exportCommand(opts)));
}

export async function exportCommand(opts: ExportCliOptions): Promise<number> {
  const format = getFormat(opts.format, opts.gzip ? 'gzip' : 'none');
  const formatOptions = formatOptionsFrom(format.name, opts);
  const batchSize = opts.batchSize === undefined ? undefined : parsePositiveInt(opts.batchSize, '--batch-size');
  const partSize = parseBytes(opts.partSize);
  const sliceMs = opts.sliceMs === undefined ? undefined : parsePositiveInt(opts.sliceMs, '--slice-ms');
  const retries = opts.retries === '0' ? 0 : parsePositiveInt(opts.retries, '--retries');
  const columns = opts.columns ? parseList(opts.columns, '--columns') : undefined;
  const key = opts.key ? parseList(opts.key, '--key') : undefined;
  const filters = opts.where.map(parseWhere);
  const target = await outputTarget(opts);
  const { storage, objectKey, display } = target;

  const source = await openSource(opts.from);
  try {
    const exporter = createExporter({ storage, ...(batchSize !== undefined ? { batchSize } : {}), partSize });
    const names = opts.table ? [opts.table] : opts.tables ? parseList(opts.tables, '--tables') : format.multiTable && format.name === 'sql' ? await source.listTables() : null;
    if (!names) throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] --table is required for --format ${format.name}`);
    if (names.length > 1 && (columns || key || filters.length > 0)) {
      throw new OffloadError(ErrorCode.BAD_REQUEST, '[offload] --columns, --key and --where apply to one table: use --table');
    }
    const tables = names.map((table) => ({ table, ...(columns ? { columns } : {}), ...(key ? { key } : {}), filters }));
    // Validate everything before any file is touched: bad input leaves no trace.
    await exporter.plan({ source, tables, format, formatOptions, key: objectKey });
    await storage.check?.();

    const request: JsonValue = {
      from: opts.from, to: display, tables: names, format: format.name, compression: format.compression ?? 'none', columns: columns ?? null, key: key ?? null,
      where: opts.where, batchSize: batchSize ?? null, formatOptions: JSON.parse(JSON.stringify(format.parseOptions(formatOptions))) as JsonValue,
    };
    const cpPath = target.checkpointPath;
    if (opts.force && !opts.resume) {
      const stale = await CheckpointFile.peek(cpPath);
      if (stale?.upload != null) await storage.abortUpload(objectKey, stale.upload);
    }
    mkdirSync(dirname(cpPath), { recursive: true });
    const cp = await CheckpointFile.acquire(cpPath, request, { resume: opts.resume, force: opts.force });

    const controller = new AbortController();
    const onSignal = (): void => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const progress = createProgressReporter({ quiet: opts.quiet });
    try {
      const outcome = await exporter.run({
        source, tables, format, formatOptions, key: objectKey,
        meta: { filename: basename(objectKey) },
        sink: cp,
        checkpoint: cp.checkpoint,
        signal: controller.signal,
        onProgress: (p) => progress.update(p),
        ...(sliceMs !== undefined ? { sliceMs } : {}),
        retry: {
          retries,
          onRetry: (err, n, delayMs) => process.stderr.write(`\noffload: ${err.code}: ${err.message.replace(/^\[offload\]\s*/, '')}; resuming from the last checkpoint in ${(delayMs / 1000).toFixed(1)} s (retry ${n} of ${retries})\n`),
        },
      });
      progress.stop();
      if (outcome.status === 'interrupted') {
        process.stderr.write(`offload: interrupted; ${outcome.checkpoint ? `${outcome.checkpoint.rows} rows are saved` : 'nothing was saved yet'}. Run the same command with --resume to continue.\n`);
        return EXIT.INTERRUPTED;
      }
      await cp.remove();
      if (!opts.quiet) {
        process.stdout.write(`${display}\n  ${outcome.rows} rows, ${formatBytes(outcome.file.size)}, sha256 ${outcome.file.sha256}\n`);
      }
      return EXIT.OK;
    } finally {
      progress.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } finally {
    await source.close();
  }
}

