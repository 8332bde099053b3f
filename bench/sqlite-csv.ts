/** Comparison: SQLite → CSV, `sqlite3 -csv` against Offload, on the same generated table. */
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { generateHrDatabase } from '../src/cli/demo-data.js';
import { measure } from './measure.js';
import { peakRssCheck, wallRatioCheck, type ComparisonResult } from './report.js';
import { BENCH_DIR, offloadCli } from './setup.js';

export async function sqliteCsv(rows: number): Promise<ComparisonResult> {
  const db = join(BENCH_DIR, `hr-${rows}.db`);
  if (!existsSync(db)) {
    generateHrDatabase(`${db}.tmp`, { rows, seed: 7 });
    renameSync(`${db}.tmp`, db);
  }
  const out = (n: string): string => join(BENCH_DIR, n);
  const measurements = [
    await measure({ name: 'sqlite3 -csv', command: ['sqlite3', '-csv', '-header', db, '"SELECT * FROM employees ORDER BY id"', '>', out('sqlite3.csv')], shell: true, output: out('sqlite3.csv') }),
    await measure({ name: 'offload export (csv)', command: [...offloadCli, 'export', '--from', `sqlite:${db}`, '--table', 'employees', '--out', out('offload.csv'), '--quiet', '--force'], output: out('offload.csv') }),
  ];
  return {
    id: 'sqlite-csv',
    title: `SQLite → CSV (${rows.toLocaleString('en-US')} rows × 13 columns)`,
    rows,
    reference: 'sqlite3 -csv',
    measurements,
    targets: ['Offload ≤ 1.5 × sqlite3 -csv', 'peak RSS ≤ 150 MB'],
    checks: [
      wallRatioCheck(measurements, 'Offload ≤ 1.5 × sqlite3 -csv', 'Offload/sqlite3', 'offload export (csv)', 'sqlite3 -csv', { max: 1.5 }),
      peakRssCheck(measurements, 'peak RSS ≤ 150 MB', ['offload export (csv)'], 150),
    ],
    notes: [],
  };
}
