/** The webhook dispatcher: claims due events from the outbox, POSTs them signed, retries with backoff for up to a day. */
import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { Job } from '../core/job.js';
import { OffloadError } from '../core/errors.js';
import type { AddressPolicy, ResolvedTarget } from './address-policy.js';
import type { NextDelivery, WebhookEvent, WebhookOutbox } from './outbox.js';
import { SIGNATURE_HEADER, signWebhook } from './signature.js';

export interface DispatcherOptions {
  outbox: WebhookOutbox;
  /** HMAC key of the signature header. */
  secret: string;
  policy: AddressPolicy;
  /** The public view of the export put in `data.export`. */
  render: (job: Job) => unknown;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** First retry delay; doubles per attempt. Default 10 s. */
  retryBaseMs?: number;
  /** Longest delay between attempts. Default 1 h. */
  retryMaxDelayMs?: number;
  /** An event not delivered within this long of its creation is given up. Default 24 h. */
  maxAgeMs?: number;
  /** How often to look for due events. Default 1 s. */
  pollMs?: number;
  /** Deliveries in flight at once. Default 4. */
  concurrency?: number;
  /** Delivered and given-up events are deleted after this long. Default 7 days. */
  keepMs?: number;
  log?: (line: string) => void;
}

export interface Dispatcher {
  start(): void;
  /** Stops claiming and waits for deliveries in flight. */
  stop(): Promise<void>;
  /** Claims and delivers what is due now; resolves with how many events it attempted. */
  runOnce(): Promise<number>;
}

/** The JSON body of an event; the same bytes on every attempt. */
export function eventBody(event: WebhookEvent, render: (job: Job) => unknown): string {
  return JSON.stringify({ id: event.id, type: event.type, createdAt: event.createdAt, data: { export: render(event.job) } });
}

/** POSTs to a vetted target, connecting only to its vetted addresses; redirects are not followed. */
function post(target: ResolvedTarget, body: string, headers: Record<string, string>, timeoutMs: number): Promise<number> {
  const [first] = target.addresses;
  const lookup: LookupFunction = (_host, opts, cb) => {
    if (opts.all) (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, target.addresses);
    else cb(null, first!.address, first!.family);
  };
  const send = target.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target.url, {
      method: 'POST', lookup, signal: AbortSignal.timeout(timeoutMs),
      headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
    }, (res: IncomingMessage) => {
      res.resume(); // the answer's body is not needed
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', (err) => reject(err.name === 'AbortError' ? new Error(`no answer within ${timeoutMs} ms`) : err));
    req.end(body);
  });
}

/**
 * @example const d = createDispatcher({ outbox: store.webhooks!, secret, policy, render: (j) => jobView(j, base) }); d.start();
 */
export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const { outbox, secret, policy, render } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const retryBaseMs = options.retryBaseMs ?? 10_000;
  const retryMaxDelayMs = options.retryMaxDelayMs ?? 3_600_000;
  const maxAgeMs = options.maxAgeMs ?? 24 * 3_600_000;
  const pollMs = options.pollMs ?? 1000;
  const concurrency = options.concurrency ?? 4;
  const keepMs = options.keepMs ?? 7 * 86_400_000;
  // A claim outlives one request (with its DNS lookup) comfortably; after that, another dispatcher may take the event.
  const lockMs = 2 * timeoutMs + 5000;
  const owner = `dispatch-${process.pid}-${randomUUID().slice(0, 8)}`;
  const log = options.log ?? (() => undefined);
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let running: Promise<number> | null = null;
  let lastPrune = 0;

  const nextAfterFailure = (event: WebhookEvent, now: number): NextDelivery => {
    const n = event.attempts + 1;
    const delay = Math.min(retryMaxDelayMs, retryBaseMs * 2 ** (n - 1)) * (0.8 + Math.random() * 0.4);
    return now + delay > Date.parse(event.createdAt) + maxAgeMs ? { state: 'failed' } : { state: 'pending', nextAttemptAt: Math.round(now + delay) };
  };

  const deliver = async (event: WebhookEvent): Promise<void> => {
    const at = Date.now();
    if (at > Date.parse(event.createdAt) + maxAgeMs) {
      await outbox.recordAttempt(event.id, owner, { at, durationMs: 0, statusCode: null, error: 'given up: older than webhooks.maxAgeHours' }, { state: 'failed' });
      return;
    }
    const body = eventBody(event, render);
    let target: ResolvedTarget;
    try {
      target = await policy.check(event.url); // again at delivery: DNS answers change
    } catch (err) {
      const msg = err instanceof OffloadError ? `${err.code}: ${err.message.replace(/^\[offload\]\s*/, '')}` : String(err);
      log(`[offload] webhook ${event.id} for ${event.jobId} not sent: ${msg}`);
      await outbox.recordAttempt(event.id, owner, { at, durationMs: Date.now() - at, statusCode: null, error: msg }, { state: 'failed' });
      return;
    }
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      statusCode = await post(target, body, {
        'Content-Type': 'application/json',
        'User-Agent': 'Offload-Webhooks/1',
        [SIGNATURE_HEADER]: signWebhook(secret, body),
        'Offload-Event-Id': event.id,
        'Offload-Event-Type': event.type,
      }, timeoutMs);
      if (statusCode < 200 || statusCode > 299) error = `HTTP ${statusCode}`;
    } catch (err) {
      error = (err as Error).message;
    }
    const done = Date.now();
    const next: NextDelivery = error === null ? { state: 'delivered' } : nextAfterFailure(event, done);
    if (error !== null) log(`[offload] webhook ${event.id} attempt ${event.attempts + 1} failed (${error}); ${next.state === 'failed' ? 'giving up' : 'will retry'}`);
    await outbox.recordAttempt(event.id, owner, { at, durationMs: done - at, statusCode, error }, next);
  };

  const runOnce = async (): Promise<number> => {
    let total = 0;
    for (;;) {
      if (stopped) return total;
      const events = await outbox.claimDue(owner, lockMs, concurrency);
      await Promise.all(events.map((e) => deliver(e).catch((err: unknown) => log(`[offload] webhook ${e.id}: ${(err as Error).message}`))));
      total += events.length;
      if (events.length < concurrency) break;
    }
    if (Date.now() - lastPrune > 3_600_000) {
      lastPrune = Date.now();
      const n = await outbox.prune(Date.now() - keepMs);
      if (n > 0) log(`[offload] webhooks: ${n} old event(s) deleted`);
    }
    return total;
  };

  const tick = (): void => {
    if (stopped) return;
    running = runOnce().catch((err: unknown) => {
      log(`[offload] webhook dispatcher: ${(err as Error).message}`);
      return 0;
    });
    void running.finally(() => {
      running = null;
      if (!stopped) timer = setTimeout(tick, pollMs);
    });
  };

  return {
    start() {
      stopped = false;
      tick();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
    runOnce,
  };
}
