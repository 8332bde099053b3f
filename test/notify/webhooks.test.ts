/** Webhooks end to end over real HTTP: signed events, retries with the same id, refusals at POST and at delivery, tenant defaults. */
import { afterAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/config.js';
import { verifyWebhook } from '../../src/notify/signature.js';
import { startService, type Service } from '../../src/service.js';
import { auth, KEYS, serviceFixture, waitForState } from '../helpers/service.js';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.js';

type Json = Record<string, unknown>;
const SECRET = 'webhook-test-secret-0123456789-abcdefgh';
const json = { 'Content-Type': 'application/json' };

async function post(url: string, body: Json, tenant: keyof typeof KEYS = 'acme'): Promise<Response> {
  return fetch(`${url}/v1/exports`, { method: 'POST', headers: { ...auth(tenant), ...json }, body: JSON.stringify(body) });
}

async function waitForDelivery(url: string, id: string, status: string, timeoutMs = 30_000): Promise<Json[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = (await (await fetch(`${url}/v1/exports/${id}/webhooks`, { headers: auth('acme') })).json()) as { data: Json[] };
    if (r.data.length > 0 && r.data.every((e) => e.status === status)) return r.data;
    if (Date.now() > until) throw new Error(`webhooks of ${id}: ${JSON.stringify(r.data)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('webhooks', () => {
  const services: Service[] = [];
  const receivers: Receiver[] = [];
  afterAll(async () => {
    for (const s of services) await s.close();
    for (const r of receivers) await r.close();
  });

  const start = async (tenantHook?: string, allow = ['127.0.0.1']): Promise<Service> => {
    const f = serviceFixture(3000, {
      tenants: [
        { id: 'acme', keys: [{ id: 'k1', hash: hashApiKey(KEYS.acme) }] },
        { id: 'globex', keys: [{ id: 'k2', hash: hashApiKey(KEYS.globex) }], ...(tenantHook ? { webhookUrl: tenantHook } : {}) },
      ],
      webhooks: { secret: SECRET, allowAddresses: allow, retryBaseMs: 150, pollMs: 50, timeoutMs: 2000 },
      datasets: [
        { name: 'employees', source: 'sqlite:hr.db', table: 'employees', tenantColumn: 'tenant_id', columns: ['id', 'email', 'status'] },
        { name: 'broken', source: 'sqlite:missing.db', table: 'employees', tenantColumn: 'tenant_id', columns: ['id'] },
      ],
    });
    const svc = await startService({ config: f.config, port: 0 });
    services.push(svc);
    return svc;
  };

  it('delivers a signed export.succeeded event; a receiver answering 500 twice gets it three times with the same id', async () => {
    const rx = await startReceiver((n) => (n < 2 ? 500 : 200));
    receivers.push(rx);
    const svc = await start();
    const res = await post(svc.url!, { dataset: 'employees', format: 'csv', webhookUrl: rx.url });
    expect(res.status).toBe(202);
    const created = (await res.json()) as Json;
    expect(created.webhookUrl).toBe(rx.url);
    const id = String(created.id);
    const got = await rx.waitFor(3);
    const events = got.map((r) => JSON.parse(r.body) as { id: string; type: string; createdAt: string; data: { export: Json } });
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
    expect(events[0]!.id).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(got.map((r) => r.body)).toEqual([got[0]!.body, got[0]!.body, got[0]!.body]); // the same bytes every time
    for (const r of got) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['offload-event-id']).toBe(events[0]!.id);
      expect(r.headers['offload-event-type']).toBe('export.succeeded');
      expect(verifyWebhook(SECRET, r.body, r.headers['offload-signature'] as string)).toBe(true);
      expect(verifyWebhook('another-secret-0123456789-abcdefghijkl', r.body, r.headers['offload-signature'] as string)).toBe(false);
    }
    // Retries back off: the second gap is longer than the first.
    expect(got[2]!.at - got[1]!.at).toBeGreaterThan(got[1]!.at - got[0]!.at);
    const e = events[0]!;
    expect(e.type).toBe('export.succeeded');
    expect(Number.isNaN(Date.parse(e.createdAt))).toBe(false);
    expect(e.data.export).toMatchObject({ id, object: 'export', status: 'succeeded', progress: { percent: 100 } });
    expect((e.data.export.file as Json).sha256).toMatch(/^[0-9a-f]{64}$/);
    const [ev] = await waitForDelivery(svc.url!, id, 'delivered');
    expect(ev).toMatchObject({ id: e.id, type: 'export.succeeded', url: rx.url, status: 'delivered', attempts: 3, lastError: null });
    expect((ev!.deliveries as Json[]).map((d) => d.statusCode)).toEqual([500, 500, 200]);
    expect((ev!.deliveries as Json[])[0]).toMatchObject({ attempt: 1, error: 'HTTP 500' });
  });

  it("sends export.cancelled and export.failed, and uses the tenant's default URL when the export names none", async () => {
    const rx = await startReceiver();
    receivers.push(rx);
    const svc = await start(rx.url);
    // A queued export cancelled at once (the runner is stopped so it stays queued).
    await svc.runner!.stop();
    const q = (await (await post(svc.url!, { dataset: 'employees', format: 'csv' }, 'globex')).json()) as Json;
    expect(q.webhookUrl).toBe(rx.url);
    await fetch(`${svc.url!}/v1/exports/${String(q.id)}/cancel`, { method: 'POST', headers: auth('globex') });
    const [cancelled] = await rx.waitFor(1);
    expect(JSON.parse(cancelled!.body)).toMatchObject({ type: 'export.cancelled', data: { export: { id: q.id, status: 'cancelled' } } });
    // acme has no default: no URL, no event.
    const silent = (await (await post(svc.url!, { dataset: 'employees', format: 'csv' })).json()) as Json;
    expect(silent.webhookUrl).toBeNull();
    const r2 = await fetch(`${svc.url!}/v1/exports/${String(silent.id)}/webhooks`, { headers: auth('acme') });
    expect(((await r2.json()) as { data: unknown[] }).data).toEqual([]);
    // A failing export (its database is missing) sends export.failed with the error.
    const svc2 = await start(rx.url);
    const f = (await (await post(svc2.url!, { dataset: 'broken', format: 'csv' }, 'globex')).json()) as Json;
    await waitForState(svc2.url!, String(f.id), 'globex');
    const got = await rx.waitFor(2);
    expect(JSON.parse(got[1]!.body)).toMatchObject({ type: 'export.failed', data: { export: { id: f.id, status: 'failed', error: { code: 'SOURCE_NOT_FOUND' } } } });
    // Another tenant cannot see the deliveries.
    expect((await fetch(`${svc2.url!}/v1/exports/${String(f.id)}/webhooks`, { headers: auth('acme') })).status).toBe(404);
  });

  it('refuses loopback, private and link-local URLs at POST time with 400 WEBHOOK_URL_REJECTED unless allow-listed', async () => {
    const svc = await start(undefined, ['10.9.0.0/16']);
    for (const url of ['http://127.0.0.1:9/x', 'http://localhost:9/x', 'http://169.254.169.254/latest/meta-data', 'http://192.168.0.10/', 'http://[::1]:9/']) {
      const res = await post(svc.url!, { dataset: 'employees', format: 'csv', webhookUrl: url });
      expect(res.status, url).toBe(400);
      expect(((await res.json()) as { error: Json }).error.code).toBe('WEBHOOK_URL_REJECTED');
    }
    expect((await post(svc.url!, { dataset: 'employees', format: 'csv', webhookUrl: 'http://10.9.1.2/hook' })).status).toBe(202);
    const bad = await post(svc.url!, { dataset: 'employees', format: 'csv', webhookUrl: 'ftp://example.com/x' });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { error: Json }).error.message).toMatch(/webhookUrl/);
  });

  it('gives an event up once it is older than webhooks.maxAgeHours, after retrying until then', async () => {
    const rx = await startReceiver(() => 503);
    receivers.push(rx);
    const f = serviceFixture(1000, { webhooks: { secret: SECRET, allowAddresses: ['127.0.0.1'], retryBaseMs: 100, pollMs: 50, maxAgeHours: 1.5 / 3600 } });
    const svc = await startService({ config: f.config, port: 0 });
    services.push(svc);
    const id = String(((await (await post(svc.url!, { dataset: 'employees', format: 'csv', webhookUrl: rx.url })).json()) as Json).id);
    const [ev] = await waitForDelivery(svc.url!, id, 'failed');
    expect(ev!.attempts as number).toBeGreaterThanOrEqual(3);
    expect(ev!.lastError).toBe('HTTP 503');
    const deliveries = ev!.deliveries as { at: string }[];
    expect(Date.parse(deliveries.at(-1)!.at) - Date.parse(String(ev!.createdAt))).toBeLessThan(1500);
    expect(rx.received.length).toBe(ev!.attempts);
  });

  it('checks the address again at delivery and gives up without sending when it is refused', async () => {
    const rx = await startReceiver();
    receivers.push(rx);
    const svc = await start();
    // Accepted when created (as if DNS then pointed elsewhere): the dispatcher still refuses to send.
    await svc.store.create({ id: 'exp_dns_changed', tenant: 'acme', request: { dataset: 'employees', format: 'csv' }, webhookUrl: 'http://10.0.0.7:9/hook' });
    const [ev] = await waitForDelivery(svc.url!, 'exp_dns_changed', 'failed', 60_000);
    expect(ev!.attempts).toBe(1);
    expect(String(ev!.lastError)).toMatch(/^WEBHOOK_URL_REJECTED: .*10\.0\.0\.7/);
    expect((ev!.deliveries as Json[])[0]).toMatchObject({ statusCode: null });
    expect(rx.received).toHaveLength(0);
  });
});
