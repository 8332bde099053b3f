/** /v1/exports: create (202, idempotent), get, list, cancel, download, signed link, SSE progress. */
import { createHash, randomUUID } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { describeIssues } from '../config.js';
import { ErrorCode } from '../core/errors.js';
import { ExportRequestSchema, JOB_STATES, TERMINAL_STATES, type Job, type JobState } from '../core/job.js';
import { resolveRequest } from '../datasets.js';
import { discardQueuedUpload } from '../runner/execute.js';
import { createAddressPolicy } from '../notify/address-policy.js';
import type { AppDeps, Env } from './app.js';
import { sendFile } from './download.js';
import { HttpError } from './errors.js';
import { signedQuery, verifySignature } from './links.js';
import { jobView } from './views.js';

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(ErrorCode.VALIDATION_FAILED, 'request body is not valid JSON');
  }
}

const ListQuery = z.object({
  status: z.enum(JOB_STATES as [JobState, ...JobState[]]).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/).optional(),
});

export function registerExportRoutes(app: Hono<Env>, deps: AppDeps): void {
  const { config, store, storage } = deps;
  const webhookPolicy = createAddressPolicy(config.webhooks.allowAddresses);

  /** The caller's job, or 404 — another tenant's job is indistinguishable from a missing one. */
  const ownJob = async (c: Context<Env>): Promise<Job> => {
    const job = await store.get(c.req.param('id') ?? '');
    if (!job || job.tenant !== c.get('tenant').id) throw new HttpError(ErrorCode.NOT_FOUND, `no export "${c.req.param('id') ?? ''}"`);
    return job;
  };

  app.post('/v1/exports', async (c) => {
    const tenant = c.get('tenant');
    const body = await readJson(c);
    const parsed = ExportRequestSchema.safeParse(body);
    if (!parsed.success) throw new HttpError(ErrorCode.VALIDATION_FAILED, describeIssues(parsed.error.issues));
    const request = parsed.data;
    resolveRequest(config, tenant, request);
    const key = c.req.header('idempotency-key');
    if (key !== undefined && (key.length < 1 || key.length > 255)) throw new HttpError(ErrorCode.VALIDATION_FAILED, 'Idempotency-Key must be 1–255 characters');
    const hash = createHash('sha256').update(canonical(request)).digest('hex');
    if (key !== undefined) {
      // A replay is answered before the active-exports limit is checked: it creates nothing.
      const prior = await store.findByIdempotencyKey(tenant.id, key);
      if (prior && prior.hash !== hash) throw new HttpError(ErrorCode.CONFLICT, 'this Idempotency-Key was used with a different request body');
      if (prior) return c.json(jobView(prior.job, c.get('base')), 200, { Location: `${c.get('base')}/v1/exports/${prior.job.id}` });
    }
    // The export's webhook, else its tenant's; refused now if it reaches a private address (and again at delivery).
    const webhookUrl = request.webhookUrl ?? tenant.webhookUrl ?? null;
    if (webhookUrl !== null) await webhookPolicy.check(webhookUrl);
    const result = await store.create(
      { id: `exp_${randomUUID().replaceAll('-', '')}`, tenant: tenant.id, request, webhookUrl },
      key === undefined ? undefined : { key, hash },
      { maxActive: config.limits.activeExportsPerTenant },
    );
    if (result.kind === 'limited') {
      throw new HttpError(ErrorCode.RATE_LIMITED, `tenant has ${config.limits.activeExportsPerTenant} active exports (the limit); retry when one finishes`, { 'Retry-After': '10' });
    }
    if (result.kind === 'conflict') throw new HttpError(ErrorCode.CONFLICT, 'this Idempotency-Key was used with a different request body');
    if (result.kind === 'created') await deps.onJobCreated?.(result.job);
    const view = jobView(result.job, c.get('base'));
    return c.json(view, result.kind === 'created' ? 202 : 200, { Location: `${c.get('base')}/v1/exports/${result.job.id}` });
  });

  app.get('/v1/exports', async (c) => {
    const q = ListQuery.safeParse(c.req.query());
    if (!q.success) throw new HttpError(ErrorCode.VALIDATION_FAILED, describeIssues(q.error.issues));
    const page = await store.list(c.get('tenant').id, { limit: q.data.limit, ...(q.data.status ? { state: q.data.status } : {}), ...(q.data.cursor ? { cursor: q.data.cursor } : {}) });
    return c.json({ object: 'list', data: page.jobs.map((j) => jobView(j, c.get('base'))), nextCursor: page.nextCursor });
  });

  app.get('/v1/exports/:id', async (c) => c.json(jobView(await ownJob(c), c.get('base'))));

  app.post('/v1/exports/:id/cancel', async (c) => {
    const job = await ownJob(c);
    const r = await store.requestCancel(job.id);
    if (r === 'terminal') throw new HttpError(ErrorCode.CONFLICT, `export ${job.id} is already ${job.state}`);
    // A running job's worker discards its own upload; a queued one has no worker to do it.
    const latest = (await store.get(job.id))!;
    if (r === 'cancelled') {
      await discardQueuedUpload(config, storage, latest).catch((err: unknown) => deps.log?.(`[offload] export ${job.id}: could not abort its upload (the orphan sweeper will): ${(err as Error).message}`));
    }
    return c.json(jobView(latest, c.get('base')), 202);
  });

  app.get('/v1/exports/:id/download', async (c) => {
    let job: Job;
    if (c.req.query('signature') !== undefined) {
      const found = await store.get(c.req.param('id'));
      if (!found || !verifySignature(config.signingSecret, c.req.param('id'), c.req.query('expires'), c.req.query('signature'))) {
        throw new HttpError(ErrorCode.FORBIDDEN, 'the download link is invalid or has expired');
      }
      job = found;
    } else {
      job = await ownJob(c);
    }
    if (job.state === 'expired') throw new HttpError(ErrorCode.GONE, `export ${job.id} has expired and its file was deleted`);
    if (job.state !== 'succeeded' || !job.file) {
      throw new HttpError(ErrorCode.NOT_READY, `export ${job.id} is ${job.state}; the file is available once it has succeeded`);
    }
    // Object storage serves the bytes itself: redirect to a short-lived presigned URL.
    if (storage.presign) return c.redirect(await presignedFor(job.id, job.file), 302);
    return sendFile(c, storage, job.file);
  });

  /** A presigned URL for an S3 file, valid for the configured time but never past the file's expiry. */
  async function presignedFor(id: string, file: NonNullable<Job['file']>): Promise<string> {
    const ttl = config.storage.type === 's3' ? config.storage.presignSeconds : config.limits.linkTtlSeconds;
    const left = Math.floor((Date.parse(file.expiresAt) - Date.now()) / 1000);
    const expiresIn = Math.max(1, Math.min(ttl, left));
    if (left <= 0) throw new HttpError(ErrorCode.GONE, `export ${id} has expired`);
    return storage.presign!(file.key, { expiresIn, filename: file.filename });
  }

  app.post('/v1/exports/:id/link', async (c) => {
    const job = await ownJob(c);
    if (job.state === 'expired') throw new HttpError(ErrorCode.GONE, `export ${job.id} has expired`);
    if (job.state !== 'succeeded' || !job.file) throw new HttpError(ErrorCode.NOT_READY, `export ${job.id} is ${job.state}`);
    if (storage.presign) {
      const url = await presignedFor(job.id, job.file);
      const expiresIn = Number(new URL(url).searchParams.get('X-Amz-Expires') ?? '0');
      return c.json({ url, expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString() });
    }
    const fileExpiry = Math.floor(Date.parse(job.file.expiresAt) / 1000);
    const expires = Math.min(fileExpiry, Math.floor(Date.now() / 1000) + config.limits.linkTtlSeconds);
    const url = `${c.get('base')}/v1/exports/${job.id}/download?${signedQuery(config.signingSecret, job.id, expires)}`;
    return c.json({ url, expiresAt: new Date(expires * 1000).toISOString() });
  });

  app.get('/v1/exports/:id/events', async (c) => {
    const first = await ownJob(c);
    return streamSSE(c, async (stream) => {
      let last = '';
      let job: Job | null = first;
      let ticks = 0;
      while (job && !stream.aborted) {
        const view = jobView(job, c.get('base'));
        const text = JSON.stringify(view);
        const terminal = TERMINAL_STATES.includes(job.state);
        if (text !== last) {
          last = text;
          await stream.writeSSE({ event: terminal ? job.state : 'progress', data: text, id: String(Date.now()) });
        } else if (++ticks % 30 === 0) {
          await stream.write(': keep-alive\n\n');
        }
        if (terminal) break;
        await stream.sleep(500);
        job = await store.get(first.id);
      }
    });
  });
}
