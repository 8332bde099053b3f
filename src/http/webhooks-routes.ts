/** GET /v1/exports/:id/webhooks: the export's webhook events and every delivery attempt. */
import type { Hono } from 'hono';
import { ErrorCode } from '../core/errors.js';
import type { AppDeps, Env } from './app.js';
import { HttpError } from './errors.js';

export function registerWebhookRoutes(app: Hono<Env>, deps: AppDeps): void {
  app.get('/v1/exports/:id/webhooks', async (c) => {
    const job = await deps.store.get(c.req.param('id'));
    if (!job || job.tenant !== c.get('tenant').id) throw new HttpError(ErrorCode.NOT_FOUND, `no export "${c.req.param('id')}"`);
    const events = deps.store.webhooks ? await deps.store.webhooks.forJob(job.id) : [];
    return c.json({
      object: 'list',
      data: events.map((e) => ({
        id: e.id, type: e.type, url: e.url, status: e.state, attempts: e.attempts, createdAt: e.createdAt,
        nextAttemptAt: e.state === 'pending' ? e.nextAttemptAt : null, deliveredAt: e.deliveredAt, lastError: e.lastError, deliveries: e.deliveries,
      })),
    });
  });
}
