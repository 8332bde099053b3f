/** Runs one contender as a child process under GNU time and reports wall time and peak RSS. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Contender {
  name: string;
  /** argv; the first entry is the program. */
  command: string[];
  /** File the contender writes (for MB/s); removed before the run. */
  output?: string;
  env?: NodeJS.ProcessEnv;
  /** Run with a shell (for redirections such as `sqlite3 … > file`). */
  shell?: boolean;
}

export interface Measurement {
  name: string;
  ok: boolean;
  /** Why it failed (exit code, out of memory). */
  error?: string;
  wallSeconds: number;
  peakRssMiB: number;
  outputBytes: number | null;
  /** Rows this run exported, when it differs from its comparison's row count (set by the caller). */
  rows?: number;
}

function parseTime(text: string): { wall: number; rssKiB: number } {
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)/.exec(text);
  const secs = wall ? wall[1]!.split(':').reduce((acc, part) => acc * 60 + Number(part), 0) : NaN;
  return { wall: secs, rssKiB: rss ? Number(rss[1]) : NaN };
}

/**
 * The line of a failed run's stderr that says what went wrong: for an uncaught Node error, the
 * `XxxError: message` line rather than the trailing `Node.js v20…` or a stack frame.
 */
function lastError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^Node\.js v\d/.test(l) && !l.startsWith('at '));
  return [...lines].reverse().find((l) => /^[A-Za-z]*Error\b|error/i.test(l)) ?? lines[lines.length - 1] ?? '';
}

/** Runs a contender under `/usr/bin/time -v` (peak RSS of the process tree's largest process). */
export async function measure(c: Contender): Promise<Measurement> {
  if (c.output) rmSync(c.output, { force: true });
  const dir = mkdtempSync(join(tmpdir(), 'offload-bench-'));
  const timeFile = join(dir, 'time.txt');
  const argv = c.shell ? ['-v', '-o', timeFile, 'sh', '-c', c.command.join(' ')] : ['-v', '-o', timeFile, ...c.command];
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn('/usr/bin/time', argv, { env: { ...process.env, ...c.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
  const t = parseTime(readFileSync(timeFile, 'utf8'));
  rmSync(dir, { recursive: true, force: true });
  let outputBytes: number | null = null;
  if (c.output) {
    try {
      outputBytes = statSync(c.output).size;
    } catch {
      outputBytes = null;
    }
  }
  const ok = result.code === 0;
  const oom = /heap out of memory|ENOMEM|Killed/i.test(result.stderr);
  return {
    name: c.name,
    ok,
    ...(ok ? {} : { error: oom ? 'out of memory' : `exit ${String(result.code)}: ${lastError(result.stderr)}` }),
    wallSeconds: t.wall,
    peakRssMiB: t.rssKiB / 1024,
    outputBytes,
  };
}
