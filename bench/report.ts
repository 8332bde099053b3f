/** Writes benchmark results as a Markdown table (BENCHMARKS.md) and JSON (bench/results.json). */
import { cpus, totalmem } from 'node:os';
import { execSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Measurement } from './measure.js';

/** A target with its measured value: `met` is null when a contender it depends on failed. */
export interface TargetCheck {
  /** The target's text, as listed in `targets`. */
  target: string;
  /** What was measured, e.g. "COPY/psql = 1.80×". */
  measured: string;
  met: boolean | null;
}

/** A table for comparisons that are not contenders side by side (scaling, service load). */
export interface ExtraTable {
  caption?: string;
  header: string[];
  /** Per column; numbers read better right-aligned. Default: left. */
  align?: ('left' | 'right')[];
  rows: string[][];
}

export interface ComparisonResult {
  id: string;
  title: string;
  rows: number;
  /** Name of the contender ratios are taken against. */
  reference: string;
  measurements: Measurement[];
  notes: string[];
  targets: string[];
  /** Measured verdicts of (some of) `targets`, matched by text. */
  checks?: TargetCheck[];
  /** Paragraphs printed under the title, before any table. */
  lines?: string[];
  extraTables?: ExtraTable[];
  /** false: no contenders table (the measurements still go to results.json). Default true. */
  contendersTable?: boolean;
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

export const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');
export const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
export const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');

const verdict = (met: boolean | null): string => (met === null ? 'not measured' : met ? 'met' : 'not met');
const byName = (ms: Measurement[], name: string): Measurement | undefined => ms.find((m) => m.name === name);

/**
 * Checks `wall(numerator) / wall(denominator)` against `max` (at most) or `min` (at least).
 * `label` names the ratio in the report, e.g. "COPY/psql".
 */
export function wallRatioCheck(ms: Measurement[], target: string, label: string, numerator: string, denominator: string, bound: { max?: number; min?: number }): TargetCheck {
  const a = byName(ms, numerator);
  const b = byName(ms, denominator);
  if (!a?.ok || !b?.ok) {
    const failed = [a, b].filter((m) => !m?.ok).map((m) => (m ? `${m.name}: ${m.error ?? 'failed'}` : 'missing'));
    return { target, measured: `${label}: ${failed.join(', ')}`, met: null };
  }
  const ratio = a.wallSeconds / b.wallSeconds;
  const met = (bound.max === undefined || ratio <= bound.max) && (bound.min === undefined || ratio >= bound.min);
  return { target, measured: `${label} = ${f2(ratio)}×`, met };
}

/** Checks that every named contender's peak RSS stays within `maxMB` (10^6 bytes; the tables show MiB). */
export function peakRssCheck(ms: Measurement[], target: string, names: string[], maxMB: number): TargetCheck {
  const found = names.map((n) => byName(ms, n));
  const measured = found.filter((m): m is Measurement => m !== undefined && Number.isFinite(m.peakRssMiB));
  if (measured.length === 0) return { target, measured: 'peak RSS not measured', met: null };
  const worst = measured.reduce((w, m) => (m.peakRssMiB > w.peakRssMiB ? m : w));
  const mb = (worst.peakRssMiB * 2 ** 20) / 1e6;
  const missing = found.length !== measured.length;
  return { target, measured: `highest peak RSS ${f1(mb)} MB (${worst.name})`, met: missing ? null : mb <= maxMB };
}

function table(t: ExtraTable): string[] {
  const align = t.header.map((_, i) => (t.align?.[i] === 'right' ? '---:' : '---'));
  return [
    ...(t.caption ? [t.caption, ''] : []),
    `| ${t.header.join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...t.rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

export function markdownTable(c: ComparisonResult): string {
  const lines = [`### ${c.title}`, ''];
  if (c.lines && c.lines.length > 0) lines.push(...c.lines, '');
  if (c.contendersTable !== false) {
    const ref = c.measurements.find((m) => m.name === c.reference);
    lines.push(
      `${c.rows.toLocaleString('en-US')} rows. Ratios are wall time relative to **${c.reference}** in the same run.`,
      '',
      '| contender | result | wall (s) | rows/s | MB/s | peak RSS (MiB) | time ratio |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const m of c.measurements) {
      const ratio = ref && ref.ok && m.ok ? (m.wallSeconds / ref.wallSeconds).toFixed(2) : '–';
      const mbs = m.outputBytes !== null && m.ok ? f1(m.outputBytes / 1e6 / m.wallSeconds) : '–';
      lines.push(`| ${m.name} | ${m.ok ? 'ok' : m.error ?? 'failed'} | ${f1(m.wallSeconds)} | ${m.ok ? int((m.rows ?? c.rows) / m.wallSeconds) : '–'} | ${mbs} | ${f1(m.peakRssMiB)} | ${ratio} |`);
    }
  }
  for (const t of c.extraTables ?? []) {
    if (lines[lines.length - 1] !== '') lines.push('');
    lines.push(...table(t));
  }
  if (c.targets.length > 0) {
    const checks = new Map((c.checks ?? []).map((k) => [k.target, k]));
    lines.push('', ...c.targets.map((t) => {
      const k = checks.get(t);
      return k ? `- Target: ${t} — ${k.measured} — **${verdict(k.met)}**` : `- Target: ${t}`;
    }));
  }
  if (c.notes.length > 0) lines.push('', ...c.notes.map((n) => `- ${n}`));
  while (lines[lines.length - 1] === '') lines.pop();
  return lines.join('\n');
}

export interface Report { date: string; machine: string; command: string; results: ComparisonResult[] }

/**
 * The Markdown report. `analysis` (bench/analysis.md: the profiles behind the targets that are not
 * met and what would close them) is written by hand and appended as it is.
 */
export function renderReport(r: Report, analysis: string | null): string {
  const header = [
    '# Benchmarks',
    '',
    `- Date: ${r.date}`,
    `- Machine: ${r.machine}`,
    `- Command: \`${r.command}\``,
    '',
    'Each comparison runs its contenders back to back on the same data in one run; peak RSS is from',
    'GNU `time -v`. Machines here are shared and noisy: read the ratios, not the absolute times.',
    '',
  ];
  return `${header.join('\n')}\n${r.results.map(markdownTable).join('\n\n')}\n${analysis ? `\n${analysis.trim()}\n` : ''}`;
}

export const ANALYSIS_PATH = 'bench/analysis.md';

function readAnalysis(): string | null {
  return existsSync(ANALYSIS_PATH) ? readFileSync(ANALYSIS_PATH, 'utf8') : null;
}

export function writeReport(results: ComparisonResult[], command: string, path = 'BENCHMARKS.md', jsonPath = 'bench/results.json'): void {
  const report: Report = { date: new Date().toISOString(), machine: machine(), command, results };
  writeFileSync(path, renderReport(report, readAnalysis()));
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
}

/** Rewrites BENCHMARKS.md from bench/results.json (after editing bench/analysis.md): `npm run bench:report`. */
export function rewriteReport(path = 'BENCHMARKS.md', jsonPath = 'bench/results.json'): void {
  const report = JSON.parse(readFileSync(jsonPath, 'utf8')) as Report;
  writeFileSync(path, renderReport(report, readAnalysis()));
}
