/** The HTTP API (Hono): auth, body limits, error mapping, health, OpenAPI, and the export/dataset routes. */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { LoadedConfig, TenantConfig } from '../config.js';
import { hashApiKey } from '../config.js';
import { ErrorCode } from '../core/errors.js';
import type { Storage } from '../storage/storage.js';
import type { JobStore } from '../store/store.js';
import { registerDatasetRoutes } from './datasets-routes.js';
import { errorResponse, HttpError } from './errors.js';
import { registerExportRoutes } from './exports-routes.js';
import { openApiDocument } from './openapi.js';
import { registerWebhookRoutes } from './webhooks-routes.js';

export interface AppDeps {
  config: LoadedConfig;
  store: JobStore;
  storage: Storage;
  /** Called after a job is created (awaited): an in-process runner starts it now, a queue runner enqueues it. */
  onJobCreated?: (job: { id: string }) => void | Promise<void>;
  log?: (line: string) => void;
  /** Base URL for links; default from the request. */
  publicUrl?: string;
}

export type Env = { Variables: { tenant: TenantConfig; base: string } };

/** Finds the tenant of a `Bearer` key; throws 401 otherwise. */
export function authenticate(config: LoadedConfig, header: string | undefined): TenantConfig {
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  const fail = (msg: string): HttpError => new HttpError(ErrorCode.UNAUTHORIZED, msg, { 'WWW-Authenticate': 'Bearer realm="offload"' });
  if (!m) throw fail('missing API key: send "Authorization: Bearer <key>"');
  const hash = hashApiKey(m[1]!);
  const tenant = config.tenants.find((t) => t.keys.some((k) => k.hash === hash));
  if (!tenant) throw fail('invalid API key');
  return tenant;
}

/**
 * Builds the app. Serve it with `@hono/node-server`.
 * @example serve({ fetch: createApp({ config, store, storage }).fetch, port: 8080 });
 */
export function createApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.onError((err, c) => errorResponse(c, err, deps.log));
  app.notFound((c) => c.json({ error: { code: ErrorCode.NOT_FOUND, message: `no route ${c.req.method} ${c.req.path}` } }, 404));

  app.use('*', async (c, next) => {
    c.set('base', deps.publicUrl ?? deps.config.server.publicUrl ?? new URL(c.req.url).origin);
    await next();
  });
  app.use('/v1/*', bodyLimit({
    maxSize: deps.config.server.maxBodyBytes,
    onError: () => {
      throw new HttpError(ErrorCode.PAYLOAD_TOO_LARGE, `request body is larger than ${deps.config.server.maxBodyBytes} bytes`);
    },
  }));
  app.use('/v1/*', async (c, next) => {
    // Signed download links carry their own authorisation.
    const signed = /^\/v1\/exports\/[^/]+\/download$/.test(c.req.path) && c.req.query('signature') !== undefined;
    if (!signed) c.set('tenant', authenticate(deps.config, c.req.header('authorization')));
    await next();
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    try {
      await deps.store.countActive('__readyz__');
      return c.json({ status: 'ready' });
    } catch (err) {
      deps.log?.(`[offload] readyz: ${(err as Error).message}`);
      return c.json({ status: 'unavailable' }, 503);
    }
  });
  app.get('/openapi.json', (c) => c.json(openApiDocument(c.get('base'))));

  registerExportRoutes(app, deps);
  registerWebhookRoutes(app, deps);
  registerDatasetRoutes(app, deps);
  return app;
}
