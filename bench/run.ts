/** `npm run bench` / `npm run bench:quick`: runs every comparison and writes BENCHMARKS.md and bench/results.json. */
import { join } from 'node:path';
import { writeReport, type ComparisonResult } from './report.js';
import { distributed } from './distributed.js';
import { postgresCsv } from './postgres-csv.js';
import { resumeCost } from './resume-cost.js';
import { scaling } from './scaling.js';
import { serviceLoad } from './service-load.js';
import { BENCH_DIR } from './setup.js';
import { sqliteCsv } from './sqlite-csv.js';
import { xlsxComparison } from './xlsx.js';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const sizes = quick
  ? { sqlite: 500_000, xlsx: 100_000, postgres: 200_000, scaling: [100_000, 200_000, 400_000, 800_000], serviceExports: 50, distributed: { rows: 50_000, exports: 6, workers: [1, 2], concurrency: 1, repeat: 1 } }
  : { sqlite: 5_000_000, xlsx: 480_000, postgres: 10_000_000, scaling: [1_000_000, 2_000_000, 4_000_000, 8_000_000], serviceExports: 200, distributed: { rows: 400_000, exports: 20, workers: [1, 2, 3], concurrency: 1, repeat: 1 } };

/** optIn: only with `--only=<id>` (needs more services, or takes long). */
type Step = { id: string; run: () => Promise<ComparisonResult>; optIn?: boolean };
const steps: Step[] = [
  { id: 'sqlite-csv', run: () => sqliteCsv(sizes.sqlite) },
  { id: 'xlsx', run: () => xlsxComparison(sizes.xlsx) },
  { id: 'resume-cost', run: () => resumeCost(join(BENCH_DIR, `hr-${sizes.sqlite}.db`), sizes.sqlite) },
  // These need a PostgreSQL server: OFFLOAD_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/test).
  { id: 'postgres-csv', run: () => postgresCsv(sizes.postgres) },
  { id: 'scaling', run: () => scaling(sizes.scaling) },
  { id: 'service-load', run: () => serviceLoad(sizes.serviceExports) },
  // Also needs Redis (OFFLOAD_BENCH_REDIS) and spawns worker processes.
  { id: 'distributed', run: () => distributed(sizes.distributed), optIn: true },
];

const results: ComparisonResult[] = [];
for (const step of steps) {
  if (only ? !only.includes(step.id) : step.optIn) continue;
  process.stderr.write(`[bench] ${step.id} …\n`);
  const started = Date.now();
  results.push(await step.run());
  process.stderr.write(`[bench] ${step.id} took ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}
const command = `npm run ${quick ? 'bench:quick' : 'bench'}${only ? ` -- --only=${only.join(',')}` : ''}`;
writeReport(results, command, quick ? join(BENCH_DIR, 'BENCHMARKS-quick.md') : 'BENCHMARKS.md', quick ? join(BENCH_DIR, 'results-quick.json') : 'bench/results.json');
process.stderr.write(`[bench] done: ${quick ? join(BENCH_DIR, 'BENCHMARKS-quick.md') : 'BENCHMARKS.md'}\n`);
