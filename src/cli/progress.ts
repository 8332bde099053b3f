/** Progress output: a bar on a TTY (cli-progress), periodic plain lines otherwise, nothing with --quiet. */
import cliProgress from 'cli-progress';
import type { Progress } from '../core/engine.js';

export interface ProgressReporter {
  update(p: Progress): void;
  stop(): void;
}

const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]!}`;
}

/** One line: `1,200,000/5,000,000 rows (24.0%) 410,000 rows/s 96.1 MiB ETA 9s`. */
export function progressLine(p: Progress): string {
  const total = p.totalRows === null ? '' : `/${fmt.format(p.totalRows)}`;
  const pct = p.percent === null ? '' : ` (${p.percent.toFixed(1)}%)`;
  return `${fmt.format(p.rows)}${total} rows${pct} ${fmt.format(p.rowsPerSecond)} rows/s ${formatBytes(p.bytes)} ETA ${formatDuration(p.etaSeconds)}`;
}

export function createProgressReporter(options: { quiet: boolean; stream?: NodeJS.WriteStream; intervalMs?: number }): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { update: () => undefined, stop: () => undefined };
  if (!stream.isTTY) {
    const interval = options.intervalMs ?? 2000;
    let lastAt = 0;
    let last: Progress | null = null;
    return {
      update(p) {
        last = p;
        const now = Date.now();
        if (now - lastAt >= interval) {
          lastAt = now;
          stream.write(`[offload] ${progressLine(p)}\n`);
        }
      },
      stop() {
        if (last) stream.write(`[offload] ${progressLine(last)}\n`);
        last = null;
      },
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: ' {bar} {percentage}% | {rowsText} rows | {rate} rows/s | {size} | ETA {etaText}',
      barCompleteChar: '█',
      barIncompleteChar: '░',
      hideCursor: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const payload = {
        rowsText: p.totalRows === null ? fmt.format(p.rows) : `${fmt.format(p.rows)}/${fmt.format(p.totalRows)}`,
        rate: fmt.format(p.rowsPerSecond),
        size: formatBytes(p.bytes),
        etaText: formatDuration(p.etaSeconds),
      };
      const total = p.totalRows ?? Math.max(p.rows, 1);
      if (!started) {
        bar.start(total, p.rows, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(p.rows, payload);
      }
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
