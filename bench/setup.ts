/** Shared benchmark paths and the command that runs the built CLI. */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
/** Datasets and outputs; large, so outside the repository. */
export const BENCH_DIR = process.env.OFFLOAD_BENCH_DIR ?? join('/tmp', 'offload-bench');
mkdirSync(BENCH_DIR, { recursive: true });

/** The built CLI (run `npm run build` first; `npm ci` does it through `prepare`). */
export const offloadCli = [process.execPath, join(ROOT, 'dist/cli/main.js')];
