/** `offload export`: one table to one file, resumable with --resume, progress on stderr. */
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { createExporter } from '../core/exporter.js';
import { DEFAULT_BATCH_SIZE } from '../core/engine.js';
import type { JsonValue } from '../core/types.js';
import { getFormat, formatNames } from '../formats/index.js';
import { openSource } from '../sources/index.js';
import { fsStorage } from '../storage/fs.js';
import { CheckpointFile } from '../store/checkpoint-file.js';
import { parseBytes, parseList, parsePositiveInt, parseWhere } from './args.js';
import { EXIT } from './exit.js';
import { createProgressReporter, formatBytes } from './progress.js';

export interface ExportCliOptions {
  from: string;
  table: string;
  format: string;
  out: string;
  columns?: string;
  key?: string;
  where: string[];
  batchSize: string;
  partSize: string;
  resume: boolean;
  force: boolean;
  quiet: boolean;
  delimiter?: string;
  newline?: string;
  header: boolean;
  bom: boolean;
  sliceMs?: string;
}

/** Path of the checkpoint file kept beside an output file while its export is unfinished. */
export function checkpointPathFor(out: string): string {
  return `${resolve(out)}.offload-checkpoint.json`;
}

export function registerExport(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('export')
    .description('export one table or view to a file, resumably')
    .requiredOption('--from <url>', 'source: sqlite:./hr.db (or a path to a SQLite file)')
    .requiredOption('--table <name>', 'table or view to export')
    .option('--format <format>', `output format (${formatNames().join(', ')})`, 'csv')
    .requiredOption('--out <path>', 'output file (written to <path>.partial, renamed when complete)')
    .option('--columns <a,b,c>', 'columns to export, in this order (default: all)')
    .option('--key <a,b>', 'key columns to page by (default: primary key, else rowid)')
    .option('--where <expr>', 'filter, repeatable: col=v, col!=v, col>=v, col:in=a,b, col:between=a,b, col:null, col:notnull', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--batch-size <n>', 'rows per source query', String(DEFAULT_BATCH_SIZE))
    .option('--part-size <size>', 'bytes written and checkpointed at a time', '8MiB')
    .option('--resume', 'continue an interrupted export of the same request', false)
    .option('--force', 'start over even if an unfinished export of this file is recorded', false)
    .option('--quiet', 'no progress output', false)
    .option('--delimiter <char>', 'CSV: field delimiter , ; or tab')
    .option('--newline <crlf|lf>', 'CSV: record separator (default crlf)')
    .option('--no-header', 'CSV: omit the header row')
    .option('--bom', 'CSV: start with a UTF-8 byte-order mark', false)
    .option('--slice-ms <ms>', 'run in time-boxed slices of this length (as a serverless worker would)')
    .addHelpText('after', `
Examples:
  offload export --from sqlite:./hr.db --table employees --out employees.csv
  offload export --from ./hr.db --table employees --format ndjson --out active.ndjson \\
      --columns id,name,hired_at --where status=active --where 'hired_at>=2020-01-01'
  offload export --from ./hr.db --table employees --out employees.csv --resume`)
    .action((opts: ExportCliOptions) => run(() => exportCommand(opts)));
}

export async function exportCommand(opts: ExportCliOptions): Promise<number> {
  const format = getFormat(opts.format);
  const formatOptions: Record<string, unknown> = format.name === 'csv'
    ? { delimiter: opts.delimiter, newline: opts.newline, header: opts.header, bom: opts.bom }
    : {};
  const batchSize = parsePositiveInt(opts.batchSize, '--batch-size');
  const partSize = parseBytes(opts.partSize);
  const sliceMs = opts.sliceMs === undefined ? undefined : parsePositiveInt(opts.sliceMs, '--slice-ms');
  const columns = opts.columns ? parseList(opts.columns, '--columns') : undefined;
  const key = opts.key ? parseList(opts.key, '--key') : undefined;
  const filters = opts.where.map(parseWhere);
  const out = resolve(opts.out);
  const storage = fsStorage({ root: dirname(out) });
  const objectKey = basename(out);

  const source = await openSource(opts.from);
  try {
    const exporter = createExporter({ storage, batchSize, partSize });
    const tables = [{ table: opts.table, ...(columns ? { columns } : {}), ...(key ? { key } : {}), filters }];
    // Validate everything before any file is touched: bad input leaves no trace.
    await exporter.plan({ source, tables, format, formatOptions, key: objectKey });

    const request: JsonValue = {
      from: opts.from, table: opts.table, format: format.name, columns: columns ?? null, key: key ?? null,
      where: opts.where, batchSize, formatOptions: JSON.parse(JSON.stringify(format.parseOptions(formatOptions))) as JsonValue,
    };
    const cpPath = checkpointPathFor(out);
    if (opts.force && !opts.resume) {
      const stale = await CheckpointFile.peek(cpPath);
      if (stale?.upload != null) await storage.abortUpload(objectKey, stale.upload);
    }
    const cp = await CheckpointFile.acquire(cpPath, request, { resume: opts.resume, force: opts.force });

    const controller = new AbortController();
    const onSignal = (): void => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const progress = createProgressReporter({ quiet: opts.quiet });
    try {
      const outcome = await exporter.run({
        source, tables, format, formatOptions, key: objectKey,
        meta: { filename: objectKey },
        sink: cp,
        checkpoint: cp.checkpoint,
        signal: controller.signal,
        onProgress: (p) => progress.update(p),
        ...(sliceMs !== undefined ? { sliceMs } : {}),
      });
      progress.stop();
      if (outcome.status === 'interrupted') {
        process.stderr.write(`offload: interrupted; ${outcome.checkpoint ? `${outcome.checkpoint.rows} rows are saved` : 'nothing was saved yet'}. Run the same command with --resume to continue.\n`);
        return EXIT.INTERRUPTED;
      }
      await cp.remove();
      if (!opts.quiet) {
        process.stdout.write(`${out}\n  ${outcome.rows} rows, ${formatBytes(outcome.file.size)}, sha256 ${outcome.file.sha256}\n`);
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

