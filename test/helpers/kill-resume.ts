/** Runs an `offload export` CLI command, kill -9s it after it has stored some parts, resumes, and repeats until it finishes. */
import { existsSync, readFileSync } from 'node:fs';
import { runCli, spawnCli } from './cli.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Bytes the checkpoint says are durable, or null when there is none (yet). */
export function durableLength(cpPath: string): number | null {
  try {
    const rec = JSON.parse(readFileSync(cpPath, 'utf8')) as { checkpoint: { upload: { length: number } | null } | null };
    return rec.checkpoint?.upload?.length ?? null;
  } catch {
    return null; // absent, or being replaced right now
  }
}

export interface KillResult {
  /** How many runs were killed with SIGKILL. */
  kills: number;
  /** Runs in all, the last one completing. */
  runs: number;
}

/**
 * Starts `args` (an export writing to `out`), waits until the run has stored a part beyond what
 * was stored before, sleeps a random moment and sends SIGKILL; then resumes with `--resume`.
 * After `kills` kills, the last run goes to the end and must exit 0.
 */
export async function exportWithKills(args: string[], out: string, kills: number): Promise<KillResult> {
  const cpPath = `${out}.offload-checkpoint.json`;
  let killed = 0;
  let runs = 0;
  while (killed < kills) {
    const child = spawnCli([...args, ...(killed > 0 ? ['--resume'] : [])]);
    runs += 1;
    let stderr = '';
    child.stdout!.resume();
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let code: number | null | undefined;
    const exited = new Promise<void>((resolve) => child.on('exit', (c) => { code = c; resolve(); }));
    const before = durableLength(cpPath) ?? -1;
    while (code === undefined && (durableLength(cpPath) ?? -1) <= before) await sleep(5);
    if (code === undefined) await sleep(Math.floor(Math.random() * 150));
    if (code !== undefined) {
      await exited;
      if (code !== 0) throw new Error(`export exited with ${String(code)}: ${stderr}`);
      return { kills: killed, runs };
    }
    child.kill('SIGKILL');
    await exited;
    // The signal can land just after the run completed (the checkpoint is removed last).
    if (!existsSync(cpPath) && existsSync(out)) return { kills: killed, runs };
    killed += 1;
  }
  const last = await runCli([...args, '--resume']);
  if (last.code !== 0) throw new Error(`resumed export exited with ${String(last.code)}: ${last.stderr}`);
  return { kills: killed, runs: runs + 1 };
}
