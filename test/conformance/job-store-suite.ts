/** The job-store conformance suite: every JobStore backend runs it (states, leases and fencing, idempotency, lists, expiry). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_VERSION, type Checkpoint } from '../../src/core/checkpoint.js';
import { EMPTY_PROGRESS, type ExportRequest } from '../../src/core/job.js';
import type { JobStore } from '../../src/store/store.js';

export interface JobStoreFactory {
  name: string;
  /** A fresh, empty store (its own file, schema or prefix). */
  open(): Promise<JobStore>;
}

const request = (n = 1): ExportRequest => ({ dataset: 'employees', format: 'csv', columns: [`c${n}`] });
const cp = (rows: number): Checkpoint => ({ version: CHECKPOINT_VERSION, cursor: { table: 0, key: [rows] }, encoder: {}, upload: { length: rows * 10 }, rows, bytes: rows * 10, parts: 1, totalRows: 100 });
const file = { key: 'acme/x.csv', size: 10, sha256: 'ab', contentType: 'text/csv', filename: 'x.csv', expiresAt: new Date(Date.now() + 60_000).toISOString() };

export function testJobStore(factory: JobStoreFactory): void {
  describe(`JobStore conformance: ${factory.name}`, () => {
    let store: JobStore;
    beforeEach(async () => {
      store = await factory.open();
    });
    afterEach(async () => store.close());

    const make = async (id: string, tenant = 'acme'): Promise<void> => {
      const r = await store.create({ id, tenant, request: request() });
      expect(r.kind).toBe('created');
    };

    it('creates queued jobs and claims them with increasing lease tokens', async () => {
      await make('j1');
      const job = await store.get('j1');
      expect(job).toMatchObject({ id: 'j1', tenant: 'acme', state: 'queued', attempts: 0, progress: EMPTY_PROGRESS, checkpoint: null });
      const a = await store.claim('w1', 10_000);
      expect(a?.job.state).toBe('running');
      expect(a?.job.attempts).toBe(1);
      expect(await store.claim('w2', 10_000)).toBeNull();
      await store.release('j1', a!.token);
      const b = await store.claim('w2', 10_000);
      expect(b!.token).toBeGreaterThan(a!.token);
      expect(b!.job.attempts).toBe(1); // a release is not a failed attempt
    });

    it('fences every write: a stale token fails with LEASE_LOST and changes nothing', async () => {
      await make('j1');
      const a = await store.claim('w1', 1);
      await store.saveCheckpoint('j1', a!.token, cp(10), { ...EMPTY_PROGRESS, rows: 10 });
      await new Promise((r) => setTimeout(r, 10)); // w1's lease lapses; w2 takes over
      const b = await store.claim('w2', 10_000);
      expect(b?.job.id).toBe('j1');
      expect(b?.job.checkpoint?.rows).toBe(10);
      for (const write of [
        () => store.saveCheckpoint('j1', a!.token, cp(20), EMPTY_PROGRESS),
        () => store.saveProgress('j1', a!.token, EMPTY_PROGRESS),
        () => store.renew('j1', a!.token, 1000),
        () => store.succeed('j1', a!.token, file, EMPTY_PROGRESS),
        () => store.fail('j1', a!.token, { code: 'X', message: 'x' }),
        () => store.retry('j1', a!.token, { code: 'X', message: 'x' }, 0),
        () => store.release('j1', a!.token),
        () => store.markCancelled('j1', a!.token),
      ]) {
        await expect(write()).rejects.toMatchObject({ code: 'LEASE_LOST' });
      }
      const j = await store.get('j1');
      expect(j?.state).toBe('running');
      expect(j?.checkpoint?.rows).toBe(10);
      await store.saveCheckpoint('j1', b!.token, cp(30), EMPTY_PROGRESS);
      expect((await store.get('j1'))?.checkpoint?.rows).toBe(30);
    });

    it('moves states only forward: a terminal job never changes again, except succeeded → expired', async () => {
      await make('ok');
      const a = await store.claim('w', 10_000);
      await store.succeed('ok', a!.token, file, { ...EMPTY_PROGRESS, rows: 5 });
      await expect(store.fail('ok', a!.token, { code: 'X', message: 'late' })).rejects.toMatchObject({ code: 'LEASE_LOST' });
      expect(await store.requestCancel('ok')).toBe('terminal');
      expect(await store.claim('w', 10_000)).toBeNull();
      await store.markExpired('ok');
      expect((await store.get('ok'))?.state).toBe('expired');
      await make('bad');
      const b = await store.claim('w', 10_000);
      await store.fail('bad', b!.token, { code: 'SOURCE_ERROR', message: 'boom' });
      await store.markExpired('bad');
      expect(await store.get('bad')).toMatchObject({ state: 'failed', error: { code: 'SOURCE_ERROR', message: 'boom' } });
    });

    it('retries later: a retried job is not claimable before its time and keeps its checkpoint', async () => {
      await make('r');
      const a = await store.claim('w', 10_000);
      await store.saveCheckpoint('r', a!.token, cp(40), EMPTY_PROGRESS);
      await store.retry('r', a!.token, { code: 'SOURCE_TIMEOUT', message: 't' }, Date.now() + 60_000);
      expect(await store.claim('w', 10_000)).toBeNull();
      expect((await store.get('r'))?.state).toBe('queued');
      await store.retry('r', a!.token + 1, { code: 'X', message: 'x' }, 0).catch(() => undefined);
      expect((await store.get('r'))?.checkpoint?.rows).toBe(40);
    });

    it('cancels queued jobs at once and flags running ones for their worker', async () => {
      await make('q');
      expect(await store.requestCancel('q')).toBe('cancelled');
      expect((await store.get('q'))?.state).toBe('cancelled');
      await make('r');
      const a = await store.claim('w', 10_000);
      expect(await store.requestCancel('r')).toBe('requested');
      expect(await store.renew('r', a!.token, 10_000)).toEqual({ cancelRequested: true });
      await store.markCancelled('r', a!.token);
      expect((await store.get('r'))?.state).toBe('cancelled');
      expect(await store.requestCancel('missing')).toBe('missing');
    });

    it('honours idempotency keys per tenant', async () => {
      const first = await store.create({ id: 'i1', tenant: 'acme', request: request(1) }, { key: 'k', hash: 'h1' });
      expect(first.kind).toBe('created');
      const same = await store.create({ id: 'i2', tenant: 'acme', request: request(1) }, { key: 'k', hash: 'h1' });
      expect(same).toMatchObject({ kind: 'existing', job: { id: 'i1' } });
      const other = await store.create({ id: 'i3', tenant: 'acme', request: request(2) }, { key: 'k', hash: 'h2' });
      expect(other.kind).toBe('conflict');
      expect((await store.create({ id: 'i4', tenant: 'globex', request: request(1) }, { key: 'k', hash: 'h1' })).kind).toBe('created');
      expect(await store.findByIdempotencyKey('acme', 'k')).toMatchObject({ job: { id: 'i1' }, hash: 'h1' });
      expect(await store.findByIdempotencyKey('acme', 'nope')).toBeNull();
    });

    it('holds the active-exports limit under concurrent creates; replays pass, other tenants are not affected', async () => {
      const tries = await Promise.all(Array.from({ length: 24 }, (_, i) => store.create({ id: `l${i}`, tenant: 'acme', request: request(i) }, undefined, { maxActive: 5 })));
      expect(tries.filter((r) => r.kind === 'created')).toHaveLength(5);
      expect(tries.filter((r) => r.kind === 'limited')).toHaveLength(19);
      expect(tries.find((r) => r.kind === 'limited')).toMatchObject({ active: 5 });
      expect(await store.countActive('acme')).toBe(5);
      // A finished export frees its place.
      const lease = await store.claim('w1', 60_000);
      await store.fail(lease!.job.id, lease!.token, { code: 'X', message: 'x' });
      expect((await store.create({ id: 'l-next', tenant: 'acme', request: request() }, { key: 'idem', hash: 'h' }, { maxActive: 5 })).kind).toBe('created');
      // Replaying an idempotency key creates nothing, so the limit does not refuse it.
      expect((await store.create({ id: 'l-again', tenant: 'acme', request: request() }, { key: 'idem', hash: 'h' }, { maxActive: 5 }))).toMatchObject({ kind: 'existing', job: { id: 'l-next' } });
      expect((await store.create({ id: 'g1', tenant: 'globex', request: request() }, undefined, { maxActive: 5 })).kind).toBe('created');
    });

    it("lists a tenant's jobs newest first with cursors and a state filter; counts active ones", async () => {
      for (let i = 0; i < 5; i++) await make(`a${i}`);
      await make('g0', 'globex');
      const p1 = await store.list('acme', { limit: 2 });
      expect(p1.jobs.map((j) => j.id)).toEqual(['a4', 'a3']);
      const p2 = await store.list('acme', { limit: 2, cursor: p1.nextCursor! });
      expect(p2.jobs.map((j) => j.id)).toEqual(['a2', 'a1']);
      const p3 = await store.list('acme', { limit: 2, cursor: p2.nextCursor! });
      expect(p3.jobs.map((j) => j.id)).toEqual(['a0']);
      expect(p3.nextCursor).toBeNull();
      expect(await store.countActive('acme')).toBe(5);
      await store.requestCancel('a0');
      expect((await store.list('acme', { limit: 10, state: 'cancelled' })).jobs.map((j) => j.id)).toEqual(['a0']);
      expect(await store.countActive('acme')).toBe(4);
    });

    it('claims fairly across tenants', async () => {
      for (let i = 0; i < 3; i++) await make(`a${i}`, 'acme');
      await make('g0', 'globex');
      const first = await store.claim('w', 10_000);
      const second = await store.claim('w', 10_000);
      expect(first?.job.tenant).toBe('acme');
      expect(second?.job.tenant).toBe('globex'); // not acme's second job
    });

    it('claims one named job, or says why not (queue runners)', async (ctx) => {
      if (!store.claimById) return ctx.skip('store has no claimById');
      expect(await store.claimById('nope', 'w', 10_000)).toEqual({ kind: 'missing' });
      await make('n1');
      const a = await store.claimById('n1', 'w1', 10_000);
      expect(a.kind).toBe('claimed');
      const lease = (a as { lease: { token: number; job: { state: string; attempts: number } } }).lease;
      expect(lease.job).toMatchObject({ state: 'running', attempts: 1 });
      const busy = await store.claimById('n1', 'w2', 10_000);
      expect(busy.kind).toBe('busy');
      expect((busy as { until: number }).until).toBeGreaterThan(Date.now() + 5000);
      await store.retry('n1', lease.token, { code: 'SOURCE_TIMEOUT', message: 't' }, Date.now() + 60_000);
      const later = await store.claimById('n1', 'w2', 10_000);
      expect(later.kind).toBe('later');
      expect((later as { until: number }).until).toBeGreaterThan(Date.now() + 50_000);
      await make('n2');
      const b = await store.claimById('n2', 'w1', 1);
      await new Promise((r) => setTimeout(r, 10));
      const c = await store.claimById('n2', 'w2', 10_000); // the lease lapsed: taken over
      expect(c.kind).toBe('claimed');
      const tokenB = (b as { lease: { token: number } }).lease.token;
      expect((c as { lease: { token: number } }).lease.token).toBeGreaterThan(tokenB);
      await expect(store.saveProgress('n2', tokenB, EMPTY_PROGRESS)).rejects.toMatchObject({ code: 'LEASE_LOST' });
      await store.succeed('n2', (c as { lease: { token: number } }).lease.token, file, EMPTY_PROGRESS);
      expect(await store.claimById('n2', 'w3', 10_000)).toEqual({ kind: 'terminal', state: 'succeeded' });
    });

    it('lists active jobs of every tenant, oldest first, page by page', async (ctx) => {
      if (!store.listActive) return ctx.skip('store has no listActive');
      for (let i = 0; i < 3; i++) await make(`x${i}`, i % 2 ? 'globex' : 'acme');
      await make('done');
      await store.requestCancel('done');
      await store.claimById?.('x1', 'w', 10_000);
      const p1 = await store.listActive(2);
      expect(p1.jobs.map((j) => j.id)).toEqual(['x0', 'x1']);
      expect(p1.jobs[1]).toMatchObject({ state: 'running' });
      expect(p1.jobs[1]!.leaseExpiresAt).toBeGreaterThan(Date.now());
      const p2 = await store.listActive(2, p1.nextCursor!);
      expect(p2.jobs.map((j) => j.id)).toEqual(['x2']);
      expect(p2.nextCursor).toBeNull();
    });

    it('keeps a lease history: who held which token, when it was last seen, how it ended', async (ctx) => {
      if (!store.leaseHistory) return ctx.skip('store has no leaseHistory');
      await make('h');
      const a = await store.claim('w1', 1);
      await store.saveCheckpoint('h', a!.token, cp(10), EMPTY_PROGRESS);
      await new Promise((r) => setTimeout(r, 10));
      const b = await store.claim('w2', 10_000);
      await expect(store.saveProgress('h', a!.token, EMPTY_PROGRESS)).rejects.toMatchObject({ code: 'LEASE_LOST' });
      await store.release('h', b!.token);
      const c = await store.claim('w3', 10_000);
      await store.succeed('h', c!.token, file, EMPTY_PROGRESS);
      const h = await store.leaseHistory('h');
      expect(h.map((l) => [l.token, l.owner, l.endReason])).toEqual([[a!.token, 'w1', 'lapsed'], [b!.token, 'w2', 'released'], [c!.token, 'w3', 'succeeded']]);
      for (let i = 1; i < h.length; i++) {
        // A lease starts only after the one before it was last seen, and after it ended or expired.
        expect(Date.parse(h[i]!.claimedAt)).toBeGreaterThanOrEqual(Date.parse(h[i - 1]!.lastSeenAt));
        expect(Date.parse(h[i]!.claimedAt)).toBeGreaterThanOrEqual(Math.min(Date.parse(h[i - 1]!.expiresAt), Date.parse(h[i - 1]!.endedAt ?? h[i - 1]!.expiresAt)));
      }
    });

    it('writes a webhook event with every terminal change of a job that has a URL, and delivers it through claims', async (ctx) => {
      const outbox = store.webhooks;
      if (!outbox) return ctx.skip('store has no webhook outbox');
      const url = 'https://hooks.example.com/offload';
      for (const id of ['ok', 'bad', 'cq', 'cr']) expect((await store.create({ id, tenant: 'acme', request: request(), webhookUrl: url })).kind).toBe('created');
      await make('silent'); // no URL: no event
      const ok = await store.claimById!('ok', 'w', 10_000);
      await store.succeed('ok', (ok as { lease: { token: number } }).lease.token, file, { ...EMPTY_PROGRESS, rows: 7 });
      const bad = await store.claimById!('bad', 'w', 10_000);
      await store.fail('bad', (bad as { lease: { token: number } }).lease.token, { code: 'SOURCE_ERROR', message: 'boom' });
      expect(await store.requestCancel('cq')).toBe('cancelled');
      const cr = await store.claimById!('cr', 'w', 10_000);
      await store.requestCancel('cr');
      await store.markCancelled('cr', (cr as { lease: { token: number } }).lease.token);
      const s = await store.claimById!('silent', 'w', 10_000);
      await store.succeed('silent', (s as { lease: { token: number } }).lease.token, file, EMPTY_PROGRESS);
      // A fenced write that fails writes no event.
      await expect(store.fail('ok', (ok as { lease: { token: number } }).lease.token, { code: 'X', message: 'x' })).rejects.toMatchObject({ code: 'LEASE_LOST' });

      const claimed = await outbox.claimDue('d1', 60_000, 10);
      expect(claimed.map((e) => [e.jobId, e.type]).sort()).toEqual([['bad', 'export.failed'], ['cq', 'export.cancelled'], ['cr', 'export.cancelled'], ['ok', 'export.succeeded']]);
      expect(new Set(claimed.map((e) => e.id)).size).toBe(4);
      const okEvent = claimed.find((e) => e.jobId === 'ok')!;
      expect(okEvent).toMatchObject({ url, tenant: 'acme', state: 'pending', attempts: 0 });
      expect(okEvent.id).toMatch(/^evt_[0-9a-f]{32}$/);
      expect(okEvent.job).toMatchObject({ id: 'ok', state: 'succeeded', progress: { rows: 7 }, file: { sha256: 'ab' }, checkpoint: null });
      expect(await outbox.claimDue('d2', 60_000, 10)).toEqual([]); // held by d1

      const t = Date.now();
      await outbox.recordAttempt(okEvent.id, 'd1', { at: t, durationMs: 12, statusCode: 500, error: 'HTTP 500' }, { state: 'pending', nextAttemptAt: t - 1 });
      const again = await outbox.claimDue('d2', 60_000, 10);
      expect(again.map((e) => e.id)).toEqual([okEvent.id]);
      expect(again[0]!.attempts).toBe(1);
      // d1's claim is gone: its late failure report is logged but does not move the event.
      await outbox.recordAttempt(okEvent.id, 'd1', { at: t, durationMs: 5, statusCode: 502, error: 'HTTP 502' }, { state: 'failed' });
      await outbox.recordAttempt(okEvent.id, 'd2', { at: t + 1, durationMs: 3, statusCode: 200, error: null }, { state: 'delivered' });
      const [ev] = await outbox.forJob('ok');
      expect(ev).toMatchObject({ id: okEvent.id, state: 'delivered', attempts: 3 });
      expect(ev!.deliveries.map((d) => [d.attempt, d.statusCode])).toEqual([[1, 500], [2, 502], [3, 200]]);
      expect(await outbox.forJob('silent')).toEqual([]);

      const badEvent = claimed.find((e) => e.jobId === 'bad')!;
      await outbox.recordAttempt(badEvent.id, 'd1', { at: t, durationMs: 1, statusCode: null, error: 'refused' }, { state: 'failed' });
      expect((await outbox.forJob('bad'))[0]).toMatchObject({ state: 'failed', lastError: 'refused' });
      expect(await outbox.prune(Date.now() + 1000)).toBe(2); // delivered and failed ones; pending ones stay
      expect(await outbox.forJob('ok')).toEqual([]);
      expect((await outbox.forJob('cq')).length).toBe(1);
    });

    it('finds succeeded jobs due for expiry', async () => {
      await make('e');
      const a = await store.claim('w', 10_000);
      const expiresAt = new Date(Date.now() + 1000).toISOString();
      await store.succeed('e', a!.token, { ...file, expiresAt }, EMPTY_PROGRESS);
      expect(await store.dueForExpiry(Date.now(), 10)).toEqual([]);
      expect((await store.dueForExpiry(Date.now() + 2000, 10)).map((j) => j.id)).toEqual(['e']);
    });
  });
}
