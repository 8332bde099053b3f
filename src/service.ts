/** Starts the service: job store, storage, runner (embedded or BullMQ), webhook dispatcher and HTTP server, with a graceful shutdown. */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { LoadedConfig } from './config.js';
import { createApp } from './http/app.js';
import { jobView } from './http/views.js';
import { createAddressPolicy } from './notify/address-policy.js';
import { createDispatcher, type Dispatcher } from './notify/dispatcher.js';
import { createEmbeddedRunner, type Runner } from './runner/embedded.js';
import { fsStorage } from './storage/fs.js';
import { s3Storage } from './storage/s3.js';
import type { Storage } from './storage/storage.js';
import type { JobStore } from './store/store.js';

export interface ServiceOptions {
  config: LoadedConfig;
  /** Serve the HTTP API. Default true. */
  http?: boolean;
  /** Run exports (and deliver webhooks) in this process. Default true. */
  worker?: boolean;
  /** Override the configured port (0 = any free port). */
  port?: number;
  log?: (line: string) => void;
}

export interface Service {
  url: string | null;
  store: JobStore;
  storage: Storage;
  runner: Runner | null;
  dispatcher: Dispatcher | null;
  close(): Promise<void>;
}

export function openStorage(config: LoadedConfig): Storage {
  const s = config.storage;
  if (s.type === 'fs') return fsStorage({ root: s.dir });
  return s3Storage({
    bucket: s.bucket, prefix: s.prefix, forcePathStyle: s.forcePathStyle,
    ...(s.region ? { region: s.region } : {}), ...(s.endpoint ? { endpoint: s.endpoint } : {}), ...(s.credentials ? { credentials: s.credentials } : {}),
  });
}

/** Opens the configured job store; each backend's driver is loaded only when it is used. */
export async function openStore(config: LoadedConfig, log?: (line: string) => void): Promise<JobStore> {
  const s = config.store;
  if (s.type === 'postgres') {
    const { postgresJobStore } = await import('./store/postgres.js');
    return postgresJobStore({ url: s.url, schema: s.schema, poolSize: s.poolSize, ...(log ? { log } : {}) });
  }
  const { sqliteJobStore } = await import('./store/sqlite.js');
  return sqliteJobStore({ path: s.path });
}

/** Base URL put in links of webhook payloads (workers serve no HTTP, so it comes from the config). */
export function publicBaseUrl(config: LoadedConfig): string {
  if (config.server.publicUrl) return config.server.publicUrl.replace(/\/$/, '');
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  return `http://${host}:${config.server.port}`;
}

/** The webhook dispatcher for this config, or null when the store has no outbox. */
export function openDispatcher(config: LoadedConfig, store: JobStore, log?: (line: string) => void): Dispatcher | null {
  if (!store.webhooks) return null;
  const w = config.webhooks;
  const base = publicBaseUrl(config);
  return createDispatcher({
    outbox: store.webhooks,
    secret: w.secret ?? config.signingSecret,
    policy: createAddressPolicy(w.allowAddresses),
    render: (job) => jobView(job, base),
    timeoutMs: w.timeoutMs,
    retryBaseMs: w.retryBaseMs,
    retryMaxDelayMs: w.retryMaxDelayMs,
    maxAgeMs: w.maxAgeHours * 3_600_000,
    pollMs: w.pollMs,
    concurrency: w.concurrency,
    keepMs: w.keepDays * 86_400_000,
    ...(log ? { log } : {}),
  });
}

/**
 * @example const svc = await startService({ config: loadConfig('offload.config.json') }); … await svc.close();
 */
export async function startService(options: ServiceOptions): Promise<Service> {
  const { config, log } = options;
  const store = await openStore(config, log);
  const storage = openStorage(config);
  // A missing bucket or bad credentials fail the start, not the first export.
  try {
    await storage.check?.();
  } catch (err) {
    await store.close();
    throw err;
  }
  const logOpt = log ? { log } : {};
  let runner: Runner | null = null;
  let onJobCreated: ((job: { id: string }) => void | Promise<void>) | undefined;
  let closeEnqueuer = async (): Promise<void> => undefined;
  if (config.runner.type === 'bullmq') {
    const { createBullmqEnqueuer, createBullmqRunner } = await import('./runner/bullmq.js');
    if (options.http !== false) {
      const enqueuer = createBullmqEnqueuer(config, log);
      onJobCreated = (job) => enqueuer.enqueue(job.id);
      closeEnqueuer = () => enqueuer.close();
    }
    if (options.worker !== false) runner = createBullmqRunner({ config, store, storage, ...logOpt });
  } else if (options.worker !== false) {
    const embedded = createEmbeddedRunner({ config, store, storage, ...logOpt });
    runner = embedded;
    onJobCreated = () => embedded.nudge();
  }
  const dispatcher = options.worker === false ? null : openDispatcher(config, store, log);
  let server: ServerType | null = null;
  let url: string | null = null;
  if (options.http !== false) {
    const app = createApp({ config, store, storage, ...(onJobCreated ? { onJobCreated } : {}), ...logOpt });
    const port = options.port ?? config.server.port;
    server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port, hostname: config.server.host }, () => resolve(s));
      s.once('error', reject);
    });
    const addr = server.address() as AddressInfo;
    url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${addr.port}`;
  }
  runner?.start();
  dispatcher?.start();
  return {
    url,
    store,
    storage,
    runner,
    dispatcher,
    async close() {
      // Stop taking work first, let running slices checkpoint and release, then stop serving.
      await runner?.stop();
      await dispatcher?.stop();
      await closeEnqueuer();
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
      }
      await store.close();
    },
  };
}
