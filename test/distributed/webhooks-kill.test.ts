/** No webhook event is lost when the worker delivering it is killed: another worker delivers it, with the same id. */
import { afterAll, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../src/notify/signature.js';
import { startService, type Service } from '../../src/service.js';
import { distributedFixture, distributedServices, dropDistributed, startWorker, stopProc, type DistributedFixture, type Proc } from '../helpers/distributed.js';
import { auth } from '../helpers/service.js';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.js';

const { up, release: releaseGuard } = await distributedServices();
const SECRET = 'webhook-kill-secret-0123456789-abcdefgh';

describe.skipIf(!up)('webhooks in distributed mode', () => {
  let f: DistributedFixture | null = null;
  let api: Service | null = null;
  let rx: Receiver | null = null;
  const procs: Proc[] = [];
  const release = releaseGuard;
  afterAll(async () => {
    for (const p of procs) await stopProc(p, 'SIGKILL');
    await api?.close();
    await rx?.close();
    if (f) await dropDistributed(f);
    await release(); // last: Redis is used until here
  });

  it('kill -9 of the worker in the middle of a delivery: another worker delivers the same event', async () => {
    // The receiver never answers the first delivery; the worker sending it is killed while it waits.
    rx = await startReceiver((n) => (n === 0 ? 'hang' : 200));
    f = distributedFixture('hookkill', 2000, { webhooks: { secret: SECRET, timeoutMs: 3000, retryBaseMs: 200, pollMs: 100 } });
    api = await startService({ config: f.config, port: 0, worker: false });
    const a = await startWorker(f);
    procs.push(a);
    const res = await fetch(`${api.url!}/v1/exports`, {
      method: 'POST', headers: { ...auth('acme'), 'Content-Type': 'application/json' },
      body: JSON.stringify({ dataset: 'employees', format: 'ndjson', webhookUrl: rx.url }),
    });
    expect(res.status).toBe(202);
    const id = String(((await res.json()) as { id: string }).id);
    await rx.waitFor(1);
    await stopProc(a, 'SIGKILL');
    const killedAt = Date.now();
    const b = await startWorker(f);
    procs.push(b);
    const [first, second] = await rx.waitFor(2, 60_000);
    // The claim of the dead worker had to lapse first (2 × timeout + 5 s).
    expect(second!.at - killedAt).toBeGreaterThan(5000);
    expect(second!.body).toBe(first!.body);
    const event = JSON.parse(second!.body) as { id: string; type: string; data: { export: { id: string; status: string } } };
    expect(event).toMatchObject({ type: 'export.succeeded', data: { export: { id, status: 'succeeded' } } });
    expect(second!.headers['offload-event-id']).toBe(event.id);
    expect(verifyWebhook(SECRET, second!.body, second!.headers['offload-signature'] as string)).toBe(true);
    let status = '';
    for (let i = 0; i < 100 && status !== 'delivered'; i++) {
      const r = (await (await fetch(`${api.url!}/v1/exports/${id}/webhooks`, { headers: auth('acme') })).json()) as { data: { id: string; status: string; deliveries: unknown[] }[] };
      expect(r.data).toHaveLength(1);
      expect(r.data[0]!.id).toBe(event.id);
      status = r.data[0]!.status;
      if (status !== 'delivered') await new Promise((res2) => setTimeout(res2, 100));
    }
    expect(status).toBe('delivered');
  }, 120_000);
});
