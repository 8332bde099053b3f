/**
 * Distributed throughput: the same 20 exports run by 1, 2 and 3 `offload worker` processes (BullMQ on Redis,
 * job store in Postgres, one `offload serve --no-worker`). Prints exports/min and rows/s per worker count.
 *
 *   node --import tsx bench/distributed.ts [--rows 400000] [--exports 20] [--workers 1,2,3] [--concurrency 1] [--repeat 1]
 *   env: OFFLOAD_BENCH_PG (postgres://postgres@127.0.0.1:5432/test), OFFLOAD_BENCH_REDIS (redis://127.0.0.1:6379)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { generateHrDatabase } from '../src/cli/demo-data.js';
import { hashApiKey } from '../src/config.js';
import { ROOT } from './setup.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const ROWS = Number(arg('rows', '400000'));
const EXPORTS = Number(arg('exports', '20'));
const WORKERS = arg('workers', '1,2,3').split(',').map(Number);
/** Exports one worker runs at once: 1 makes "workers" mean "CPU cores used". */
const CONCURRENCY = Number(arg('concurrency', '1'));
const REPEAT = Number(arg('repeat', '1'));
const PG_URL = process.env.OFFLOAD_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.OFFLOAD_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const KEY = 'ofk_bench_key_0123456789abcdefghijkl';
const MAIN = join(ROOT, 'src/cli/main.ts');

function start(args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const on = (d: Buffer): void => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) resolve({ child, match: m });
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`offload ${args[0]} exited (${String(code)}):\n${out}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** The same mix as the chaos test: whole tenant, one department, status subsets, date ranges; CSV and NDJSON. */
function workload(i: number): Record<string, unknown> {
  const request: Record<string, unknown> = { dataset: 'employees', format: i % 3 === 1 ? 'ndjson' : 'csv' };
  switch (i % 5) {
    case 0: break;
    case 1: request.filters = [{ column: 'department_id', op: 'eq', value: (i % 9) + 1 }]; break;
    case 2: request.filters = [{ column: 'status', op: 'in', value: ['active', 'on_leave'] }]; request.columns = ['id', 'email', 'status', 'hired_at']; break;
    case 3: request.filters = [{ column: 'hired_at', op: 'between', value: ['2008-01-01', `${2012 + (i % 7)}-12-31`] }]; break;
    default: request.filters = [{ column: 'department_id', op: 'in', value: [1, 2, 3, (i % 6) + 4] }]; request.columns = ['id', 'first_name', 'last_name', 'salary', 'notes'];
  }
  return request;
}

async function runOnce(dir: string, workers: number, run: number): Promise<{ seconds: number; rows: number; bytes: number }> {
  const tag = `dh_bench_${process.pid.toString(36)}_${workers}_${run}`;
  const config = {
    server: { host: '127.0.0.1', port: 0 },
    store: { type: 'postgres', url: PG_URL, schema: tag },
    runner: { type: 'bullmq', redisUrl: REDIS_URL, prefix: tag, concurrency: CONCURRENCY, limiter: { max: 10_000, durationMs: 60_000 } },
    storage: { type: 'fs', dir: join(dir, `exports-${workers}`) },
    datasets: [{
      name: 'employees', source: `sqlite:${join(dir, 'hr.db')}`, table: 'employees', tenantColumn: 'tenant_id',
      columns: ['id', 'employee_no', 'first_name', 'last_name', 'email', 'department_id', 'title', 'status', 'hired_at', 'salary', 'notes'],
      filters: { status: ['eq', 'in'], hired_at: ['between'], department_id: ['eq', 'in'] },
    }],
    tenants: [{ id: 'acme', keys: [{ id: 'k', hash: hashApiKey(KEY) }] }],
    limits: { activeExportsPerTenant: 1000, concurrency: 2 },
    export: { batchSize: 5000, partSize: 1024 * 1024, sliceSeconds: 20, leaseSeconds: 30 },
    signingSecret: 'bench-signing-secret-0123456789-abcdefgh',
  };
  const configPath = join(dir, `offload-${workers}.config.json`);
  writeFileSync(configPath, JSON.stringify(config));
  const api = await start(['serve', '--no-worker', '--config', configPath, '--port', '0'], /listening on (http:\/\/\S+)/);
  const url = api.match[1]!;
  const ws = await Promise.all(Array.from({ length: workers }, () => start(['worker', '--config', configPath], /worker running/)));
  try {
    const t0 = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < EXPORTS; i++) {
      const res = await fetch(`${url}/v1/exports`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify(workload(i)) });
      ids.push(((await res.json()) as { id: string }).id);
    }
    for (;;) {
      const list = (await (await fetch(`${url}/v1/exports?limit=100`, { headers: { Authorization: `Bearer ${KEY}` } })).json()) as { data: { id: string; status: string; progress: { rows: number; bytes: number } }[] };
      const mine = list.data.filter((e) => ids.includes(e.id));
      if (mine.some((e) => e.status === 'failed' || e.status === 'cancelled')) throw new Error('an export did not succeed');
      if (mine.length === ids.length && mine.every((e) => e.status === 'succeeded')) {
        const seconds = (Date.now() - t0) / 1000;
        return { seconds, rows: mine.reduce((n, e) => n + e.progress.rows, 0), bytes: mine.reduce((n, e) => n + e.progress.bytes, 0) };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await Promise.all([...ws.map((w) => stop(w.child)), stop(api.child)]);
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${tag}" CASCADE`);
    await client.end();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${tag}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    rmSync(join(dir, `exports-${workers}`), { recursive: true, force: true });
  }
}

const dir = mkdtempSync(join(tmpdir(), 'offload-bench-dist-'));
try {
  // One tenant, so every export reads from the same ROWS rows.
  generateHrDatabase(join(dir, 'hr.db'), { rows: ROWS });
  const db = (await import('better-sqlite3')).default(join(dir, 'hr.db'));
  db.prepare("UPDATE employees SET tenant_id = 'acme'").run();
  db.close();
  console.log(`| workers (${CONCURRENCY} export${CONCURRENCY > 1 ? 's' : ''} each at a time) | exports | rows | time | exports/min | rows/s |`);
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (let run = 0; run < REPEAT; run++) {
    for (const n of WORKERS) {
      const r = await runOnce(dir, n, run);
      console.log(`| ${n} | ${EXPORTS} | ${r.rows.toLocaleString('en')} | ${r.seconds.toFixed(1)} s | ${(EXPORTS / (r.seconds / 60)).toFixed(1)} | ${Math.round(r.rows / r.seconds).toLocaleString('en')} |`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
