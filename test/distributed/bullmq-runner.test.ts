/** The BullMQ runner: healthy long slices are never stalled, a frozen worker loses its export (LEASE_LOST), reconciling, retries. */
import { writeFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { ExportRequest } from '../../src/core/job.js';
import { startService, type Service } from '../../src/service.js';
import type { LeaseRecord } from '../../src/store/store.js';
import { distributedFixture, distributedServices, dropDistributed, referenceBytes, startWorker, stopProc, type DistributedFixture, type Proc } from '../helpers/distributed.js';
import { auth } from '../helpers/service.js';
import { SERVICES } from '../helpers/services.js';
import type { LoadedConfig } from '../../src/config.js';

const { up, release: releaseGuard } = await distributedServices();
type Json = Record<string, unknown>;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const CSV: ExportRequest = { dataset: 'employees', format: 'csv' };

async function create(url: string, request: ExportRequest = CSV): Promise<string> {
  const res = await fetch(`${url}/v1/exports`, { method: 'POST', headers: { ...auth('acme'), 'Content-Type': 'application/json' }, body: JSON.stringify(request) });
  expect(res.status).toBe(202);
  return String(((await res.json()) as Json).id);
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Creates a table (or view) in the fixture's schema with `sql`, and points the `employees` dataset at it. */
async function pgDataset(f: DistributedFixture, admin: pg.Client, sql: string[], dataset: Json, limits: Json = {}): Promise<LoadedConfig> {
  await admin.query(`CREATE SCHEMA IF NOT EXISTS "${f.schema}"`);
  for (const q of sql) await admin.query(q);
  const raw = JSON.parse(JSON.stringify(f.config)) as Json & { limits: Json };
  raw.datasets = [{ name: 'employees', tenantColumn: 'tenant_id', ...dataset }];
  raw.limits = { ...raw.limits, ...limits };
  delete raw.path;
  writeFileSync(f.configPath, JSON.stringify(raw));
  return loadConfig(f.configPath);
}

function queueOf(f: DistributedFixture): Queue {
  const rc = f.config.runner as { queue: string; prefix: string };
  return new Queue(rc.queue, { connection: { url: SERVICES.redis.url }, prefix: rc.prefix });
}

describe.skipIf(!up)('BullMQ runner', () => {
  const fixtures: DistributedFixture[] = [];
  const services: Service[] = [];
  const procs: Proc[] = [];
  const queues: Queue[] = [];
  const release = releaseGuard;
  afterAll(async () => {
    // Whatever fails or hangs while stopping, the schemas and keys are dropped and the guard released.
    const bounded = (p: Promise<unknown>): Promise<unknown> => Promise.race([p.catch(() => undefined), sleep(20_000)]);
    try {
      for (const p of procs) await bounded(stopProc(p, 'SIGKILL'));
      for (const s of services) await bounded(s.close());
      for (const q of queues) await bounded(q.close());
    } finally {
      for (const f of fixtures) await dropDistributed(f);
      await release(); // last: Redis is used until here
    }
  });
  const fixture = (...args: Parameters<typeof distributedFixture>): DistributedFixture => {
    const f = distributedFixture(...args);
    fixtures.push(f);
    return f;
  };
  const service = async (f: DistributedFixture, worker: boolean, log?: string[]): Promise<Service> => {
    const s = await startService({ config: f.config, port: 0, worker, ...(log ? { log: (l: string) => log.push(l) } : {}) });
    services.push(s);
    return s;
  };

  it('does not mark a long, healthy slice as stalled: one lease, one queue attempt, although it outlasts the queue lock many times', async () => {
    // A 1 s queue lock checked every 0.5 s; one slice of ~6 s (a view that sleeps 5 ms per row): only lock renewal keeps the job.
    const f = fixture('long', 10, { runner: { lockDurationMs: 1000, stalledIntervalMs: 500 }, export: { batchSize: 100, partSize: 4096, sliceSeconds: 60, leaseSeconds: 1 } });
    const admin = new pg.Client({ connectionString: SERVICES.postgres.url });
    await admin.connect();
    let config: LoadedConfig;
    try {
      config = await pgDataset(f, admin, [
        `CREATE TABLE "${f.schema}".people (id int PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL)`,
        `INSERT INTO "${f.schema}".people SELECT g, 'acme', 'n' || g FROM generate_series(1, 1200) g`,
        `CREATE VIEW "${f.schema}".slow_people AS SELECT id, tenant_id, name, pg_sleep(0.005)::text AS pause FROM "${f.schema}".people`,
      ], { source: SERVICES.postgres.url, table: `${f.schema}.slow_people`, key: ['id'], columns: ['id', 'name', 'pause'] });
    } finally {
      await admin.end();
    }
    const log: string[] = [];
    const api = await startService({ config, port: 0, log: (l) => log.push(l) });
    services.push(api);
    services.push(await startService({ config, port: 0, log: (l) => log.push(l) })); // a second worker, whose stalled checker would take a job whose lock lapsed
    const id = await create(api.url!);
    const started = Date.now();
    const job = await until('the export to finish', async () => {
      const j = await api.store.get(id);
      return j && ['succeeded', 'failed'].includes(j.state) ? j : null;
    }, 120_000, 200);
    const took = Date.now() - started;
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.progress.rows).toBe(1200);
    expect(took).toBeGreaterThan(5000); // five lock durations and more, in one slice
    expect(job.attempts).toBe(1);
    expect((await api.store.leaseHistory!(id)).map((l) => l.endReason)).toEqual(['succeeded']);
    const q = queueOf(f);
    queues.push(q);
    const qjob = await q.getJob(id);
    expect(qjob?.attemptsStarted).toBe(1);
    expect(await qjob?.getState()).toBe('completed');
    expect(log.filter((l) => /stalled/.test(l))).toEqual([]);
  }, 180_000);

  it('hands the export of a frozen worker (SIGSTOP) to another, which resumes from the checkpoint; the old worker\'s writes then fail with LEASE_LOST', async () => {
    const f = fixture('frozen', 200_000, { export: { batchSize: 100, partSize: 16 * 1024, sliceSeconds: 1, leaseSeconds: 2 } });
    const api = await service(f, false);
    const a = await startWorker(f);
    procs.push(a);
    const id = await create(api.url!);
    const frozenAt = await until('a first checkpoint', async () => {
      const j = await api.store.get(id);
      return (j?.checkpoint?.rows ?? 0) >= 5000 ? j!.checkpoint!.rows : null;
    });
    a.child.kill('SIGSTOP');
    let b: Proc | null = null;
    try {
      b = await startWorker(f);
      procs.push(b);
      // B claims once A's lease lapsed and BullMQ found A's queue job stalled; its progress starts at A's checkpoint.
      const leases = await until('a second lease', async () => {
        const h = await api.store.leaseHistory!(id);
        return h.length >= 2 ? h : null;
      });
      expect(leases[1]!.claimedAt >= leases[0]!.expiresAt).toBe(true);
      // Resumed, not restarted: no checkpoint after the takeover is behind the one A left.
      let lowest = Infinity;
      await until('B to make progress', async () => {
        const j = (await api.store.get(id))!;
        lowest = Math.min(lowest, j.checkpoint?.rows ?? 0);
        return j.state === 'running' && (j.checkpoint?.rows ?? 0) > frozenAt + 5000;
      }, 60_000, 20);
      expect(lowest).toBeGreaterThanOrEqual(frozenAt);
    } finally {
      a.child.kill('SIGCONT');
    }
    await until('A to notice it lost the lease', async () => /lease lost; another worker has it/.test(a.output()), 30_000);
    const done = await until('the export to finish', async () => {
      const j = await api.store.get(id);
      return j && ['succeeded', 'failed'].includes(j.state) ? j : null;
    }, 120_000, 100);
    expect(done.state).toBe('succeeded');
    const h: LeaseRecord[] = await api.store.leaseHistory!(id);
    expect(h.map((l) => l.endReason)).toEqual(['lapsed', 'succeeded']);
    expect(h[0]!.owner).toContain(`-${a.child.pid}-`);
    expect(h[1]!.owner).toContain(`-${b!.child.pid}-`);
    expect(Date.parse(h[0]!.lastSeenAt)).toBeLessThanOrEqual(Date.parse(h[1]!.claimedAt)); // nothing of A's was accepted after B took over
    const bytes = Buffer.from(await (await fetch(`${api.url!}/v1/exports/${id}/download`, { headers: auth('acme') })).arrayBuffer());
    expect(bytes.equals(await referenceBytes(f, 'acme', CSV))).toBe(true);
  }, 180_000);

  it("obeys BullMQ's rate limiter and trims finished queue jobs (removeOnComplete)", async () => {
    const f = fixture('limit', 2000, { runner: { limiter: { max: 2, durationMs: 3000 }, removeOnComplete: { ageSeconds: 3600, count: 1 } } });
    const api = await service(f, true);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await create(api.url!));
    const jobs = await until('all four to finish', async () => {
      const js = await Promise.all(ids.map((id) => api.store.get(id)));
      return js.every((j) => j?.state === 'succeeded') ? js.map((j) => j!) : null;
    }, 60_000, 100);
    const starts = jobs.map((j) => Date.parse(j.startedAt!)).sort((a, b) => a - b);
    expect(starts[1]! - starts[0]!).toBeLessThan(2000); // two may start at once…
    expect(starts[2]! - starts[0]!).toBeGreaterThanOrEqual(2500); // …the third waits for the next window
    const q = queueOf(f);
    queues.push(q);
    expect((await q.getJobCounts('completed')).completed).toBe(1);
  }, 90_000);

  it('re-adds queued exports that have no queue job (never enqueued, or lost with Redis)', async () => {
    const f = fixture('reconcile', 5000);
    const api = await service(f, false);
    // Created behind the API's back: the store has them, the queue never heard of them.
    for (let i = 0; i < 3; i++) await api.store.create({ id: `exp_orphan_${i}`, tenant: 'acme', request: CSV });
    const log: string[] = [];
    await service(f, true, log);
    for (let i = 0; i < 3; i++) {
      await until(`exp_orphan_${i}`, async () => (await api.store.get(`exp_orphan_${i}`))?.state === 'succeeded', 30_000);
    }
    expect(log.join('\n')).toMatch(/reconciler re-added 3 export/);
  }, 60_000);

  it('retries a retryable failure as a failed queue attempt with backoff, and succeeds once the cause is gone', async () => {
    const f = fixture('retry', 10);
    const table = `${f.schema}.people`;
    const admin = new pg.Client({ connectionString: SERVICES.postgres.url });
    await admin.connect();
    try {
      // The dataset reads Postgres with a 300 ms statement timeout; a lock held by the test makes every read time out.
      const config = await pgDataset(f, admin, [
        `CREATE TABLE ${table} (id int PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL)`,
        `INSERT INTO ${table} SELECT g, CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'globex' END, 'n' || g FROM generate_series(1, 2000) g`,
      ], { source: `${SERVICES.postgres.url}?statement_timeout=300`, table, columns: ['id', 'name'] }, { maxAttempts: 6 });
      await admin.query('BEGIN');
      await admin.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      const api = await startService({ config, port: 0 });
      services.push(api);
      const id = await create(api.url!);
      await until('two failed attempts', async () => ((await api.store.leaseHistory!(id)).filter((l) => l.endReason === 'retry').length >= 2), 60_000, 100);
      await admin.query('COMMIT');
      const done = await until('success', async () => {
        const j = await api.store.get(id);
        return j && ['succeeded', 'failed'].includes(j.state) ? j : null;
      }, 60_000, 100);
      expect(done.state).toBe('succeeded');
      expect(done.attempts).toBeGreaterThanOrEqual(3);
      const q = queueOf({ ...f, config });
      queues.push(q);
      const qjob = (await q.getJob(id))!;
      expect(qjob.attemptsMade).toBeGreaterThanOrEqual(2); // each retry was a failed queue attempt…
      expect(qjob.opts.backoff).toMatchObject({ type: 'exponential', delay: 500 }); // …backed off exponentially
      const h = await api.store.leaseHistory!(id);
      expect(h.map((l) => l.endReason).at(-1)).toBe('succeeded');
      expect(h.filter((l) => l.endReason === 'retry').length).toBeGreaterThanOrEqual(2);
      // Retries are spaced by a growing delay.
      const gaps = h.slice(1).map((l, i) => Date.parse(l.claimedAt) - Date.parse(h[i]!.endedAt!));
      expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    } finally {
      await admin.query('ROLLBACK').catch(() => undefined);
      await admin.end();
    }
  }, 120_000);
});
