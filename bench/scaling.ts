/**
 * Scaling: Offload PostgreSQL → CSV on tables of growing size (one generated table per size, the
 * same generator as postgres-csv), generic keyset path and COPY path. Time per row should stay
 * flat (linear time) and so should peak RSS (memory bounded by batch and part size, not rows).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { measure, type Measurement } from './measure.js';
import { dropPgTableIfAsked, ensurePgTable, genericUrl, PG_URL } from './pg-table.js';
import { f1, f2, int, type ComparisonResult } from './report.js';
import { BENCH_DIR, offloadCli } from './setup.js';

const PATHS = [
  { label: 'generic path', url: genericUrl(PG_URL) },
  { label: 'COPY path', url: PG_URL },
];

export async function scaling(sizes: number[]): Promise<ComparisonResult> {
  const largest = Math.max(...sizes);
  const title = `Scaling: PostgreSQL → CSV, ${sizes.map((n) => n.toLocaleString('en-US')).join(' / ')} rows × 10 columns`;
  const measurements: Measurement[] = [];
  const notes: string[] = [];
  for (const rows of sizes) {
    const made = await ensurePgTable(rows);
    if ('skipped' in made) {
      return { id: 'scaling', title, rows: largest, reference: '', measurements: [], targets: [], notes: [made.skipped], contendersTable: false };
    }
    for (const p of PATHS) {
      const file = join(BENCH_DIR, 'scaling.csv');
      const m = await measure({ name: `${p.label}, ${rows.toLocaleString('en-US')} rows`, command: [...offloadCli, 'export', '--from', p.url, '--table', made.table, '--out', file, '--quiet', '--force'], output: file });
      measurements.push({ ...m, rows });
      rmSync(file, { force: true });
    }
    await dropPgTableIfAsked(made.table);
  }
  const table = { header: ['path', 'rows', 'result', 'wall (s)', 'µs per row (= s per million rows)', 'µs per row vs smallest', 'rows/s', 'peak RSS (MiB)'], align: ['left', 'right', 'left', 'right', 'right', 'right', 'right', 'right'] as ('left' | 'right')[], rows: [] as string[][] };
  const lines: string[] = [];
  for (const [i, p] of PATHS.entries()) {
    const runs = measurements.filter((_, j) => j % PATHS.length === i);
    const usPerRow = (m: Measurement): number => (m.ok ? (m.wallSeconds * 1e6) / (m.rows ?? NaN) : NaN);
    const first = runs[0];
    for (const m of runs) {
      const base = first ? usPerRow(first) : NaN;
      table.rows.push([p.label, int(m.rows ?? NaN), m.ok ? 'ok' : m.error ?? 'failed', f1(m.wallSeconds), f2(usPerRow(m)), f2(usPerRow(m) / base), m.ok ? int((m.rows ?? NaN) / m.wallSeconds) : '–', f1(m.peakRssMiB)]);
    }
    const ok = runs.filter((m) => m.ok);
    const last = ok[ok.length - 1];
    if (first?.ok && last && last !== first) {
      const rss = ok.map((m) => m.peakRssMiB);
      lines.push(`${p.label}: ${(last.rows ?? 0) / (first.rows ?? 1)}× the rows took ${f2(last.wallSeconds / first.wallSeconds)}× the time (µs per row ${f2(usPerRow(last) / usPerRow(first))}× the smallest run's; 1.00 = linear); peak RSS ${f1(Math.min(...rss))}–${f1(Math.max(...rss))} MiB across sizes.`);
    }
  }
  notes.push('One table per size (`offload_bench_events10_<rows>`, kept between runs); each run writes the whole table, deleted after it is measured. Small sizes carry a fixed start-up cost (Node, connecting, count(*)), so their µs per row is higher.');
  return { id: 'scaling', title, rows: largest, reference: '', measurements, targets: [], notes, lines, extraTables: [table], contendersTable: false };
}
