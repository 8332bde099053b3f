/** Writes benchmark results as a Markdown table (BENCHMARKS.md) and JSON (bench/results.json). */
import { cpus, totalmem } from 'node:os';
import { execSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { Measurement } from './measure.js';

export interface ComparisonResult {
  id: string;
  title: string;
  rows: number;
  /** Name of the contender ratios are taken against. */
  reference: string;
  measurements: Measurement[];
  notes: string[];
  targets: string[];
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  let os = '';
  try {
    os = execSync('uname -sr', { encoding: 'utf8' }).trim();
  } catch {
    os = process.platform;
  }
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os}, Node ${process.version}`;
}

const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');

export function markdownTable(c: ComparisonResult): string {
  const ref = c.measurements.find((m) => m.name === c.reference);
  const lines = [
    `### ${c.title}`,
    '',
    `${c.rows.toLocaleString('en-US')} rows. Ratios are wall time relative to **${c.reference}** in the same run.`,
    '',
    '| contender | result | wall (s) | rows/s | MB/s | peak RSS (MiB) | time ratio |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const m of c.measurements) {
    const ratio = ref && ref.ok && m.ok ? (m.wallSeconds / ref.wallSeconds).toFixed(2) : '–';
    const mbs = m.outputBytes !== null && m.ok ? f1(m.outputBytes / 1e6 / m.wallSeconds) : '–';
    lines.push(`| ${m.name} | ${m.ok ? 'ok' : m.error ?? 'failed'} | ${f1(m.wallSeconds)} | ${m.ok ? int(c.rows / m.wallSeconds) : '–'} | ${mbs} | ${f1(m.peakRssMiB)} | ${ratio} |`);
  }
  if (c.targets.length > 0) lines.push('', ...c.targets.map((t) => `- Target: ${t}`));
  if (c.notes.length > 0) lines.push('', ...c.notes.map((n) => `- ${n}`));
  return lines.join('\n');
}

export function writeReport(results: ComparisonResult[], command: string, path = 'BENCHMARKS.md', jsonPath = 'bench/results.json'): void {
  const date = new Date().toISOString();
  const header = [
    '# Benchmarks',
    '',
    `- Date: ${date}`,
    `- Machine: ${machine()}`,
    `- Command: \`${command}\``,
    '',
    'Each comparison runs its contenders back to back on the same data in one run; peak RSS is from',
    'GNU `time -v`. Machines here are shared and noisy: read the ratios, not the absolute times.',
    '',
  ];
  writeFileSync(path, `${header.join('\n')}\n${results.map(markdownTable).join('\n\n')}\n`);
  writeFileSync(jsonPath, `${JSON.stringify({ date, machine: machine(), command, results }, null, 2)}\n`);
}
