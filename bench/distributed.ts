/**
 * Distributed throughput: the same exports run by 1, 2 and 3 `offload worker` processes (BullMQ on Redis,
 * job store in Postgres, one `offload serve --no-worker`). Reports exports/min and rows/s per worker count.
 * Opt-in step of bench/run.ts (`npm run bench -- --only=distributed`), or on its own:
 *
 *   node --import tsx bench/distributed.ts [--rows 400000] [--exports 20] [--workers 1,2,3] [--concurrency 1] [--repeat 1]
 *   env: OFFLOAD_BENCH_PG (postgres://postgres@127.0.0.1:5432/test), OFFLOAD_BENCH_REDIS (redis://127.0.0.1:6379)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { generateHrDatabase } from '../src/cli/demo-data.js';
import { hashApiKey } from '../src/config.js';
import { f1, int, markdownTable, type ComparisonResult } from './report.js';
import type { Measurement } from './measure.js';
import { ROOT } from './setup.js';

export interface DistributedOptions {
  rows: number;
  exports: number;
  workers: number[];
  /** Exports one worker runs at once: 1 makes "workers" mean "CPU cores used". */
  concurrency: number;
  repeat: number;
}
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

async function runOnce(o: DistributedOptions, dir: string, workers: number, run: number): Promise<{ seconds: number; rows: number; bytes: number }> {
  const tag = `dh_bench_${process.pid.toString(36)}_${workers}_${run}`;
  const config = {
    server: { host: '127.0.0.1', port: 0 },
    store: { type: 'postgres', url: PG_URL, schema: tag },
    runner: { type: 'bullmq', redisUrl: REDIS_URL, prefix: tag, concurrency: o.concurrency, limiter: { max: 10_000, durationMs: 60_000 } },
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
    for (let i = 0; i < o.exports; i++) {
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

/** Skipped (with why) when PostgreSQL or Redis does not answer. */
async function unreachable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_URL });
  try {
    await client.connect();
  } catch (err) {
    return `Skipped: no PostgreSQL at ${PG_URL} (${(err as Error).message}); set OFFLOAD_BENCH_PG.`;
  } finally {
    await client.end().catch(() => undefined);
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    return `Skipped: no Redis at ${REDIS_URL} (${(err as Error).message}); set OFFLOAD_BENCH_REDIS.`;
  } finally {
    redis.disconnect();
  }
  return null;
}

export async function distributed(o: DistributedOptions): Promise<ComparisonResult> {
  const title = `Distributed throughput: ${o.exports} exports of a ${o.rows.toLocaleString('en-US')}-row table by ${o.workers.join(', ')} worker processes`;
  const skipped = await unreachable();
  if (skipped) return { id: 'distributed', title, rows: 0, reference: '', measurements: [], targets: [], notes: [skipped], contendersTable: false };
  const dir = mkdtempSync(join(tmpdir(), 'offload-bench-dist-'));
  const measurements: Measurement[] = [];
  const rows: string[][] = [];
  try {
    // One tenant, so every export reads from the same rows.
    generateHrDatabase(join(dir, 'hr.db'), { rows: o.rows });
    const db = (await import('better-sqlite3')).default(join(dir, 'hr.db'));
    db.prepare("UPDATE employees SET tenant_id = 'acme'").run();
    db.close();
    for (let run = 0; run < o.repeat; run++) {
      for (const n of o.workers) {
        const r = await runOnce(o, dir, n, run);
        measurements.push({ name: `${n} worker${n > 1 ? 's' : ''}, round ${run + 1}`, ok: true, wallSeconds: r.seconds, peakRssMiB: NaN, outputBytes: r.bytes, rows: r.rows });
        rows.push([String(n), String(run + 1), String(o.exports), int(r.rows), `${f1(r.seconds)} s`, f1(o.exports / (r.seconds / 60)), int(r.rows / r.seconds)]);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    id: 'distributed',
    title,
    rows: measurements.reduce((n, m) => Math.max(n, m.rows ?? 0), 0),
    reference: '',
    measurements,
    contendersTable: false,
    extraTables: [{
      header: [`workers (${o.concurrency} export${o.concurrency > 1 ? 's' : ''} each at a time)`, 'round', 'exports', 'rows', 'time', 'exports/min', 'rows/s'],
      align: ['right', 'right', 'right', 'right', 'right', 'right', 'right'],
      rows,
    }],
    targets: [],
    notes: ['One `offload serve --no-worker`, a BullMQ queue on Redis and a PostgreSQL job store; the exports mix CSV and NDJSON, whole tenant, department, status and date filters (the chaos test\'s workload). Workers share the machine\'s cores with the API, PostgreSQL and Redis.'],
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string, fallback: string): string => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1]! : fallback;
  };
  const result = await distributed({
    rows: Number(arg('rows', '400000')),
    exports: Number(arg('exports', '20')),
    workers: arg('workers', '1,2,3').split(',').map(Number),
    concurrency: Number(arg('concurrency', '1')),
    repeat: Number(arg('repeat', '1')),
  });
  console.log(markdownTable(result));
}
