/** Distributed mode with real processes: 1 API + 3 BullMQ workers on Postgres and Redis, kill -9 chaos, and a Redis restart. */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportRequest } from '../../src/core/job.js';
import { postgresJobStore } from '../../src/store/postgres.js';
import type { JobStore, LeaseRecord } from '../../src/store/store.js';
import { distributedFixture, distributedServices, dropDistributed, redisGuard, referenceBytes, startApi, startWorker, stopProc, type DistributedFixture, type Proc } from '../helpers/distributed.js';
import { auth, type KEYS } from '../helpers/service.js';
import { SERVICES } from '../helpers/services.js';

const { up, release: releaseGuard } = await distributedServices();
type Tenant = keyof typeof KEYS;
type Json = Record<string, unknown>;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** 20 requests of different sizes (≈8k to 150k rows), formats and options, over two tenants. */
function workload(n: number): { tenant: Tenant; request: ExportRequest }[] {
  const out: { tenant: Tenant; request: ExportRequest }[] = [];
  for (let i = 0; i < n; i++) {
    const tenant: Tenant = i % 2 === 0 ? 'acme' : 'globex';
    const format = i % 3 === 1 ? 'ndjson' : 'csv';
    const request: ExportRequest = { dataset: 'employees', format };
    switch (i % 5) {
      case 0: break; // the whole tenant
      case 1: request.filters = [{ column: 'department_id', op: 'eq', value: (i % 9) + 1 }]; break;
      case 2: request.filters = [{ column: 'status', op: 'in', value: ['active', 'on_leave'] }]; request.columns = ['id', 'email', 'status', 'hired_at']; break;
      case 3: request.filters = [{ column: 'hired_at', op: 'between', value: ['2008-01-01', `${2012 + (i % 7)}-12-31`] }]; break;
      default: request.filters = [{ column: 'department_id', op: 'in', value: [1, 2, 3, (i % 6) + 4] }]; request.columns = ['id', 'first_name', 'last_name', 'salary', 'notes'];
    }
    if (format === 'csv' && i % 4 === 3) request.options = { delimiter: ';', newline: 'lf', bom: true };
    out.push({ tenant, request });
  }
  return out;
}

async function createAll(url: string, jobs: { tenant: Tenant; request: ExportRequest }[]): Promise<string[]> {
  const ids: string[] = [];
  for (const j of jobs) {
    const res = await fetch(`${url}/v1/exports`, { method: 'POST', headers: { ...auth(j.tenant), 'Content-Type': 'application/json' }, body: JSON.stringify(j.request) });
    expect(res.status).toBe(202);
    ids.push(String(((await res.json()) as Json).id));
  }
  return ids;
}

async function statuses(url: string): Promise<Map<string, Json>> {
  const all = new Map<string, Json>();
  for (const tenant of ['acme', 'globex'] as Tenant[]) {
    const r = (await (await fetch(`${url}/v1/exports?limit=100`, { headers: auth(tenant) })).json()) as { data: Json[] };
    for (const e of r.data) all.set(String(e.id), e);
  }
  return all;
}

async function waitAllTerminal(url: string, ids: string[], timeoutMs: number, tick?: () => Promise<void>): Promise<Map<string, Json>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await statuses(url);
    if (ids.every((id) => ['succeeded', 'failed', 'cancelled'].includes(String(s.get(id)?.status)))) return s;
    if (Date.now() > until) throw new Error(`not finished after ${timeoutMs} ms: ${ids.map((id) => `${id}=${String(s.get(id)?.status)}`).join(', ')}`);
    await (tick ? tick() : sleep(250));
  }
}

/** No two leases of a job overlap: each starts after the previous one was last seen and had ended or expired. */
function expectNoOverlap(id: string, leases: LeaseRecord[]): void {
  expect(leases.length, id).toBeGreaterThan(0);
  for (let i = 1; i < leases.length; i++) {
    const prev = leases[i - 1]!;
    const next = leases[i]!;
    expect(next.token, id).toBeGreaterThan(prev.token);
    expect(Date.parse(next.claimedAt), `${id} token ${next.token} claimed before token ${prev.token} was last seen`).toBeGreaterThanOrEqual(Date.parse(prev.lastSeenAt));
    const freeAt = prev.endReason === 'lapsed' || prev.endedAt === null ? prev.expiresAt : prev.endedAt;
    expect(Date.parse(next.claimedAt), `${id} token ${next.token} claimed while token ${prev.token} was live`).toBeGreaterThanOrEqual(Date.parse(freeAt));
  }
  expect(leases.at(-1)!.endReason, id).toBe('succeeded');
}

async function download(url: string, tenant: Tenant, id: string): Promise<Buffer> {
  const res = await fetch(`${url}/v1/exports/${id}/download`, { headers: auth(tenant) });
  expect(res.status, id).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

function redisPing(): boolean {
  try {
    return execFileSync('redis-cli', ['-h', SERVICES.redis.host, '-p', String(SERVICES.redis.port), 'ping'], { encoding: 'utf8', timeout: 2000 }).trim() === 'PONG';
  } catch {
    return false;
  }
}

function startRedis(): void {
  execFileSync('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '-::1', '--port', '6379', '--save', '', '--appendonly', 'no',
    '--dir', '/var/lib/redis', '--logfile', '/var/log/redis/ci.log']);
}

describe.skipIf(!up)('distributed mode: 1 API process + 3 worker processes', () => {
  let f: DistributedFixture;
  let api: Proc & { url: string };
  const workers: Proc[] = [];
  const everyProc: Proc[] = [];
  let store: JobStore;
  let release = releaseGuard;
  const spawnWorker = async (): Promise<Proc> => {
    const w = await startWorker(f);
    everyProc.push(w);
    return w;
  };

  beforeAll(async () => {
    // Small batches and parts: many checkpoints per export, so kills land between them.
    f = distributedFixture('chaos', 300_000, { export: { batchSize: 250, partSize: 16 * 1024 } });
    api = await startApi(f);
    workers.push(...(await Promise.all([0, 1, 2].map(() => spawnWorker()))));
    store = await postgresJobStore({ url: SERVICES.postgres.url, schema: f.schema, poolSize: 2 });
  });

  afterAll(async () => {
    if (!redisPing()) startRedis();
    await Promise.all([...workers, api].filter(Boolean).map((p) => stopProc(p, 'SIGTERM')));
    await store?.close();
    if (f) await dropDistributed(f);
    await release();
  });

  /** What each unfinished export looks like in the store, in BullMQ, and what the workers said (for a failure message). */
  const diagnose = async (ids: string[]): Promise<string> => {
    const { Queue } = await import('bullmq');
    const rc = f.config.runner as { queue: string; prefix: string };
    const queue = new Queue(rc.queue, { connection: { url: SERVICES.redis.url }, prefix: rc.prefix });
    const lines: string[] = [];
    for (const id of ids) {
      const job = await store.get(id);
      if (!job || ['succeeded', 'failed', 'cancelled'].includes(job.state)) continue;
      const q = await queue.getJob(id);
      lines.push(`${id}: store ${job.state} attempts ${job.attempts} rows ${job.progress.rows} error ${JSON.stringify(job.error)}; ` +
        `queue ${q ? await q.getState() : 'missing'} attemptsMade ${q?.attemptsMade ?? '-'} stalled ${String((q as unknown as { stalledCounter?: number } | undefined)?.stalledCounter ?? '-')}; ` +
        `leases ${JSON.stringify((await store.leaseHistory!(id)).slice(-2))}`);
    }
    await queue.close();
    return `${lines.join('\n')}\n--- worker logs (last lines) ---\n${everyProc.map((p) => p.output().split('\n').slice(-15).join('\n')).join('\n---\n')}`;
  };

  const checkAll = async (ids: string[], jobs: { tenant: Tenant; request: ExportRequest }[], final: Map<string, Json>): Promise<LeaseRecord[][]> => {
    const histories: LeaseRecord[][] = [];
    for (const [i, id] of ids.entries()) {
      expect(final.get(id)?.status, `${id}: ${JSON.stringify(final.get(id)?.error)}`).toBe('succeeded');
      const bytes = await download(api.url, jobs[i]!.tenant, id);
      const ref = await referenceBytes(f, jobs[i]!.tenant, jobs[i]!.request);
      expect(bytes.length, id).toBe(ref.length);
      expect(bytes.equals(ref), `${id} differs from an uninterrupted run`).toBe(true);
      const leases = await store.leaseHistory!(id);
      expectNoOverlap(id, leases);
      histories.push(leases);
    }
    return histories;
  };

  it('kill -9 of a random worker every few seconds: every export completes with the bytes of an uninterrupted run, never two leases at once', async () => {
    const jobs = workload(20);
    const started = Date.now();
    const ids = await createAll(api.url, jobs);
    let kills = 0;
    let nextKill = Date.now() + 1000;
    const restarting = new Set<number>();
    const restarts: Promise<void>[] = [];
    // Every 1.5–3 s a random worker that is up gets kill -9 and is started again (in the background).
    const chaos = async (): Promise<void> => {
      await sleep(200);
      if (Date.now() < nextKill) return;
      const up = [0, 1, 2].filter((i) => !restarting.has(i));
      if (up.length === 0) return;
      const i = up[Math.floor(Math.random() * up.length)]!;
      restarting.add(i);
      await stopProc(workers[i]!, 'SIGKILL');
      kills++;
      nextKill = Date.now() + 1500 + Math.random() * 1500;
      restarts.push(spawnWorker().then((w) => {
        workers[i] = w;
        restarting.delete(i);
      }, (err: unknown) => {
        console.error(`[chaos] worker ${i} did not restart: ${(err as Error).message}`);
        throw err;
      }));
    };
    const final = await waitAllTerminal(api.url, ids, 200_000, chaos).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}\n${await diagnose(ids)}`);
    });
    await Promise.all(restarts);
    const elapsed = Date.now() - started;
    const histories = await checkAll(ids, jobs, final);
    const rows = [...final.values()].filter((e) => ids.includes(String(e.id))).reduce((n, e) => n + (e.progress as { rows: number }).rows, 0);
    const interrupted = histories.filter((h) => h.length > 1).length;
    const lapsed = histories.flat().filter((l) => l.endReason === 'lapsed').length;
    const logs = everyProc.map((p) => p.output()).join('\n');
    const stalled = (logs.match(/stalled \(its worker died or froze\)/g) ?? []).length;
    console.log(`[chaos] ${ids.length} exports, ${rows} rows in ${(elapsed / 1000).toFixed(1)} s with ${kills} kill -9s; ${interrupted} exports ran under ` +
      `more than one lease, ${lapsed} leases lapsed and were taken over, BullMQ recovered ${stalled} stalled queue jobs`);
    expect(kills).toBeGreaterThanOrEqual(3);
    expect(lapsed).toBeGreaterThan(0); // the chaos did interrupt running exports…
    expect(stalled).toBeGreaterThan(0); // …and BullMQ's stalled-job recovery handed them on
  }, 270_000);

  it('Redis restarted in the middle (shutdown nosave, started again): every export still completes', async () => {
    // Wait until no other Redis test of this suite is running, then keep them out until Redis is back.
    await release();
    release = await redisGuard('exclusive');
    const jobs = workload(10);
    const ids = await createAll(api.url, jobs);
    // Wait until some exports are under way and some are still waiting in the queue.
    for (;;) {
      const s = await statuses(api.url);
      if (ids.some((id) => (s.get(id)?.progress as { rows: number } | undefined)?.rows)) break;
      await sleep(100);
    }
    try {
      execFileSync('redis-cli', ['-p', '6379', 'shutdown', 'nosave']);
    } catch {
      // redis-cli reports the dropped connection of a successful shutdown as an error
    }
    for (let i = 0; i < 50 && redisPing(); i++) await sleep(100);
    expect(redisPing()).toBe(false);
    await sleep(1500);
    startRedis();
    for (let i = 0; i < 50 && !redisPing(); i++) await sleep(100);
    expect(redisPing()).toBe(true);
    const final = await waitAllTerminal(api.url, ids, 120_000);
    await release();
    release = async () => undefined;
    await checkAll(ids, jobs, final);
    expect(everyProc.map((w) => w.output()).join('\n')).toMatch(/reconciler re-added \d+ export/);
  }, 300_000);
});
