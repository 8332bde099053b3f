/** Distributed-mode fixtures: a config on Postgres (own schema) + BullMQ (own Redis prefix), real API and worker processes, reference bytes. */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { generateHrDatabase } from '../../src/cli/demo-data.js';
import { hashApiKey, loadConfig, type LoadedConfig } from '../../src/config.js';
import { createExporter } from '../../src/core/exporter.js';
import type { ExportRequest } from '../../src/core/job.js';
import { resolveRequest } from '../../src/datasets.js';
import { openSource } from '../../src/sources/index.js';
import { fsStorage } from '../../src/storage/fs.js';
import { spawnCli } from './cli.js';
import { KEYS } from './service.js';
import { SERVICES, serviceAvailable } from './services.js';

export interface DistributedFixture {
  dir: string;
  configPath: string;
  config: LoadedConfig;
  schema: string;
  prefix: string;
}

let counter = 0;

/** A fresh schema and Redis prefix (`dh_<tag>_…`), an HR database of `rows` rows, and a config using them. */
export function distributedFixture(tag: string, rows: number, overrides: { runner?: Record<string, unknown>; export?: Record<string, unknown>; webhooks?: Record<string, unknown>; limits?: Record<string, unknown> } = {}): DistributedFixture {
  const dir = mkdtempSync(join(tmpdir(), `dh-${tag}-`));
  generateHrDatabase(join(dir, 'hr.db'), { rows });
  const unique = `${tag}_${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}${counter++}`;
  const schema = `dh_${unique}`;
  const prefix = `dh_${unique}`;
  const raw = {
    server: { host: '127.0.0.1', port: 0 },
    store: { type: 'postgres', url: SERVICES.postgres.url, schema, poolSize: 4 },
    runner: {
      type: 'bullmq', redisUrl: SERVICES.redis.url, prefix, concurrency: 2, limiter: { max: 1000, durationMs: 1000 },
      lockDurationMs: 3000, stalledIntervalMs: 1000, maxStalledCount: 50, reconcileSeconds: 3, backoffMs: 500, ...overrides.runner,
    },
    storage: { type: 'fs', dir: 'exports' },
    datasets: [{
      name: 'employees', source: 'sqlite:hr.db', table: 'employees', tenantColumn: 'tenant_id',
      columns: ['id', 'employee_no', 'first_name', 'last_name', 'email', 'department_id', 'title', 'status', 'hired_at', 'salary', 'notes'],
      filters: { status: ['eq', 'neq', 'in'], hired_at: ['gte', 'lte', 'between'], department_id: ['eq', 'in'] },
    }],
    tenants: [
      { id: 'acme', keys: [{ id: 'k1', hash: hashApiKey(KEYS.acme) }] },
      { id: 'globex', keys: [{ id: 'k2', hash: hashApiKey(KEYS.globex) }] },
    ],
    limits: { activeExportsPerTenant: 100, concurrency: 2, maxAttempts: 5, ...overrides.limits },
    export: { batchSize: 500, partSize: 64 * 1024, sliceSeconds: 1, leaseSeconds: 2, ...overrides.export },
    webhooks: { allowAddresses: ['127.0.0.1'], ...overrides.webhooks },
    signingSecret: 'test-signing-secret-0123456789-abcdefghij',
  };
  const configPath = join(dir, 'offload.config.json');
  writeFileSync(configPath, JSON.stringify(raw, null, 2));
  return { dir, configPath, config: loadConfig(configPath), schema, prefix };
}

/** Drops the fixture's schema and every Redis key under its prefix. */
export async function dropDistributed(f: DistributedFixture): Promise<void> {
  const client = new pg.Client({ connectionString: SERVICES.postgres.url });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${f.schema}" CASCADE`);
  await client.end();
  const redis = new Redis(SERVICES.redis.url, { maxRetriesPerRequest: 3 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${f.prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts `offload …args` and resolves once its stdout matches `ready` (the URL for `serve`). */
export async function startProc(args: string[], ready: RegExp, timeoutMs = 30_000): Promise<Proc & { match: RegExpExecArray }> {
  const child = spawnCli(args);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`offload ${args[0]} not ready within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = (): void => {
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(m);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`offload ${args[0]} exited with ${String(code)} before it was ready:\n${out}`));
    });
  });
  return { child, output: () => out, exited, match };
}

export const startApi = async (f: DistributedFixture): Promise<Proc & { url: string }> => {
  const p = await startProc(['serve', '--no-worker', '--config', f.configPath, '--port', '0'], /listening on (http:\/\/\S+)/);
  return { ...p, url: p.match[1]! };
};

export const startWorker = (f: DistributedFixture): Promise<Proc> => startProc(['worker', '--config', f.configPath], /worker running/);

/** Stops a process by its own pid (SIGTERM, or SIGKILL) and waits for it to exit; SIGKILL if SIGTERM takes over 15 s. */
export async function stopProc(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGCONT'); // a stopped process cannot handle SIGTERM
  p.child.kill(signal);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
  await p.exited;
  clearTimeout(timer);
}

/** The bytes an uninterrupted, single-process run of the same request writes. */
export async function referenceBytes(f: DistributedFixture, tenantId: string, request: ExportRequest): Promise<Buffer> {
  const tenant = f.config.tenants.find((t) => t.id === tenantId)!;
  const resolved = resolveRequest(f.config, tenant, request);
  const source = await openSource(resolved.dataset.source);
  const root = mkdtempSync(join(tmpdir(), 'dh-ref-'));
  try {
    const exporter = createExporter({ storage: fsStorage({ root }), batchSize: 5000, partSize: 8 * 1024 * 1024 });
    const r = await exporter.run({ source, tables: [resolved.table], format: resolved.format, formatOptions: resolved.formatOptions, key: `ref.${resolved.format.extension}` });
    if (r.status !== 'succeeded') throw new Error('reference export did not finish');
    return readFileSync(join(root, r.file.key));
  } finally {
    await source.close();
  }
}

/**
 * A cross-process guard for Redis restarts: test files that use Redis hold it shared, and the test
 * that restarts Redis holds it exclusively, so it never pulls Redis away from another test of this
 * suite running in parallel. Returns the release function (ending the session releases the lock).
 */
export async function redisGuard(mode: 'shared' | 'exclusive'): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: SERVICES.postgres.url });
  await client.connect();
  await client.query(`SELECT ${mode === 'shared' ? 'pg_advisory_lock_shared' : 'pg_advisory_lock'}(hashtext($1))`, ['dh:offload-tests:redis-restart']);
  return async () => {
    await client.end();
  };
}

/**
 * For test files that need Postgres and Redis: takes the Redis-restart guard (shared) first, so the
 * Redis check cannot run in the middle of another file's Redis restart, then checks both services.
 * Call at the top of the file; release in afterAll.
 */
export async function distributedServices(): Promise<{ up: boolean; release: () => Promise<void> }> {
  const none = async (): Promise<void> => undefined;
  if (!(await serviceAvailable('postgres'))) return { up: false, release: none };
  const release = await redisGuard('shared');
  if (await serviceAvailable('redis')) return { up: true, release };
  await release();
  return { up: false, release: none };
}
