/** Runs the offload CLI from source in a child process (tsx), as a user would from a shell. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Starts `offload …args`; the caller may kill it. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs `offload …args` to the end. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Rows a CLI export has checkpointed so far (0 before its first part), read from its checkpoint file. */
export function checkpointedRows(checkpointPath: string): number {
  try {
    const rec = JSON.parse(readFileSync(checkpointPath, 'utf8')) as { checkpoint: { rows: number } | null };
    return rec.checkpoint?.rows ?? 0;
  } catch {
    return 0; // not written yet
  }
}

/**
 * Runs a CLI export and, once it has checkpointed rows, breaks its database connection `times`
 * times (`breakConnection` returns how many it broke), `gapMs` apart, while it runs.
 */
export async function runCliWhileBreaking(args: string[], checkpointPath: string, breakConnection: () => Promise<number>, times = 3, gapMs = 400): Promise<CliResult & { broken: number }> {
  const child = spawnCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => {
    running = false;
    resolve({ code, signal });
  }));
  let broken = 0;
  let rowsAtLastBreak = 0;
  while (running && broken < times) {
    const rows = checkpointedRows(checkpointPath);
    // Break only while it is exporting (past planning) and after it made progress since the last break.
    if (rows > rowsAtLastBreak) {
      broken += await breakConnection();
      rowsAtLastBreak = rows;
      await new Promise((r) => setTimeout(r, gapMs));
    } else {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  return { ...(await exited), stdout, stderr, broken };
}
