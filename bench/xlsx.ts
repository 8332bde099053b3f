/** Comparison: 480,000 rows × 12 columns → XLSX, ExcelJS's streaming writer against Offload. */
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { generateHrDatabase } from '../src/cli/demo-data.js';
import { measure } from './measure.js';
import { peakRssCheck, wallRatioCheck, type ComparisonResult } from './report.js';
import { BENCH_DIR, offloadCli, ROOT } from './setup.js';

const COLUMNS = 'id,tenant_id,employee_no,first_name,last_name,email,department_id,title,status,hired_at,salary,updated_at';

export async function xlsxComparison(rows: number): Promise<ComparisonResult> {
  const dbRows = Math.max(rows, 500_000);
  const db = join(BENCH_DIR, `hr-${dbRows}.db`);
  if (!existsSync(db)) {
    generateHrDatabase(`${db}.tmp`, { rows: dbRows, seed: 7 });
    renameSync(`${db}.tmp`, db);
  }
  const out = (n: string): string => join(BENCH_DIR, n);
  const measurements = [
    await measure({
      name: 'ExcelJS WorkbookWriter (streaming)',
      command: [process.execPath, '--import', 'tsx', join(ROOT, 'bench/baselines/exceljs-xlsx.ts'), db, 'employees', out('exceljs.xlsx'), COLUMNS, String(rows)],
      output: out('exceljs.xlsx'),
    }),
    await measure({
      name: 'offload export (xlsx)',
      command: [...offloadCli, 'export', '--from', `sqlite:${db}`, '--table', 'employees', '--format', 'xlsx', '--columns', COLUMNS, '--where', `id<=${rows}`, '--out', out('offload.xlsx'), '--quiet', '--force'],
      output: out('offload.xlsx'),
    }),
  ];
  return {
    id: 'xlsx',
    title: `SQLite → XLSX (${rows.toLocaleString('en-US')} rows × 12 columns)`,
    rows,
    reference: 'ExcelJS WorkbookWriter (streaming)',
    measurements,
    targets: ['Offload ≤ 0.5 × ExcelJS time', 'peak RSS ≤ 150 MB'],
    checks: [
      wallRatioCheck(measurements, 'Offload ≤ 0.5 × ExcelJS time', 'Offload/ExcelJS', 'offload export (xlsx)', 'ExcelJS WorkbookWriter (streaming)', { max: 0.5 }),
      peakRssCheck(measurements, 'peak RSS ≤ 150 MB', ['offload export (xlsx)'], 150),
    ],
    notes: ['Both write typed cells (numbers, dates with a date format, inline strings) with a bold, frozen header; ExcelJS reads rows with a streaming SQLite iterator, Offload with keyset batches of 5,000 rows.'],
  };
}
