/** Starts the service: job store, storage, embedded runner and HTTP server, with a graceful shutdown. */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { LoadedConfig } from './config.js';
import { createApp } from './http/app.js';
import { createEmbeddedRunner, type Runner } from './runner/embedded.js';
import { fsStorage } from './storage/fs.js';
import { s3Storage } from './storage/s3.js';
import type { Storage } from './storage/storage.js';
import { sqliteJobStore } from './store/sqlite.js';
import type { JobStore } from './store/store.js';

export interface ServiceOptions {
  config: LoadedConfig;
  /** Serve the HTTP API. Default true. */
  http?: boolean;
  /** Run exports in this process. Default true. */
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

/**
 * @example const svc = await startService({ config: loadConfig('offload.config.json') }); … await svc.close();
 */
export async function startService(options: ServiceOptions): Promise<Service> {
  const { config } = options;
  const store = sqliteJobStore({ path: config.store.path });
  const storage = openStorage(config);
  // A missing bucket or bad credentials fail the start, not the first export.
  try {
    await storage.check?.();
  } catch (err) {
    await store.close();
    throw err;
  }
  const runner = options.worker === false ? null : createEmbeddedRunner({ config, store, storage, ...(options.log ? { log: options.log } : {}) });
  let server: ServerType | null = null;
  let url: string | null = null;
  if (options.http !== false) {
    const app = createApp({ config, store, storage, ...(runner ? { onJobCreated: () => runner.nudge() } : {}), ...(options.log ? { log: options.log } : {}) });
    const port = options.port ?? config.server.port;
    server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port, hostname: config.server.host }, () => resolve(s));
      s.once('error', reject);
    });
    const addr = server.address() as AddressInfo;
    url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${addr.port}`;
  }
  runner?.start();
  return {
    url,
    store,
    storage,
    runner,
    async close() {
      // Stop taking work first, let running slices checkpoint and release, then stop serving.
      await runner?.stop();
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
