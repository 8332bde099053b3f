/** Runs one claimed job to its end (or until stopped): slices, heartbeats, cancel, retries. Shared by every runner. */
import type { LoadedConfig } from '../config.js';
import { resolveRequest } from '../datasets.js';
import { planExport } from '../core/exporter.js';
import { runSlice, type Progress } from '../core/engine.js';
import { ErrorCode, OffloadError, toOffloadError } from '../core/errors.js';
import type { Checkpoint } from '../core/checkpoint.js';
import type { Job, JobProgress } from '../core/job.js';
import type { Storage } from '../storage/storage.js';
import type { JobStore, Lease } from '../store/store.js';
import type { SourcePool } from './source-pool.js';

export interface ExecuteDeps {
  config: LoadedConfig;
  store: JobStore;
  storage: Storage;
  sources: SourcePool;
  log?: (line: string) => void;
}

export type StopReason = 'shutdown' | 'cancel' | 'lease-lost';

/** Object key of a job's file in the storage. */
export function objectKeyFor(tenant: string, jobId: string, extension: string): string {
  return `${tenant}/${jobId}.${extension}`;
}

/**
 * Aborts the unfinished upload of a job that will never run again (cancelled while it waited in
 * the queue with a checkpoint), so no parts stay behind. Best effort: when the dataset's config
 * changed and the key cannot be rebuilt, the orphan sweeper removes the upload later.
 */
export async function discardQueuedUpload(config: LoadedConfig, storage: Storage, job: Job): Promise<void> {
  const upload = job.checkpoint?.upload;
  if (upload == null) return;
  const tenant = config.tenants.find((t) => t.id === job.tenant);
  if (!tenant) return;
  const { format } = resolveRequest(config, tenant, job.request);
  await storage.abortUpload(objectKeyFor(job.tenant, job.id, format.extension), upload);
}

/** Exponential backoff with jitter: ~2 s, 4 s, 8 s … capped at 5 minutes. */
export function backoffMs(attempt: number): number {
  const base = Math.min(300_000, 2000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

function toJobProgress(p: Progress): JobProgress {
  return { rows: p.rows, totalRows: p.totalRows, percent: p.percent === null ? null : Math.round(p.percent * 10) / 10, bytes: p.bytes, etaSeconds: p.etaSeconds === null ? null : Math.round(p.etaSeconds) };
}

/**
 * Executes a leased job. Resolves when the job reached a terminal state, was re-queued for a
 * retry, was released (shutdown), or the lease was lost. Never throws for job failures.
 */
export async function executeJob(lease: Lease, deps: ExecuteDeps, shutdown: AbortSignal): Promise<void> {
  const { config, store, storage } = deps;
  const { job, token } = lease;
  const stop = new AbortController();
  let reason: StopReason | null = null;
  const halt = (r: StopReason): void => {
    reason ??= r;
    stop.abort();
  };
  const onShutdown = (): void => halt('shutdown');
  shutdown.addEventListener('abort', onShutdown, { once: true });
  if (shutdown.aborted) halt('shutdown');
  const leaseMs = config.export.leaseSeconds * 1000;
  const heartbeat = setInterval(() => {
    store.renew(job.id, token, leaseMs).then(
      (r) => { if (r.cancelRequested) halt('cancel'); },
      (err: unknown) => { if (err instanceof OffloadError && err.code === ErrorCode.LEASE_LOST) halt('lease-lost'); },
    );
  }, Math.max(200, leaseMs / 3));

  let checkpoint: Checkpoint | null = job.checkpoint;
  let lastProgressSave = 0;
  let objectKey: string | null = null;
  try {
    if (job.cancelRequested) halt('cancel');
    const tenant = config.tenants.find((t) => t.id === job.tenant);
    if (!tenant) throw new OffloadError(ErrorCode.FORBIDDEN, `[offload] tenant "${job.tenant}" is no longer configured`);
    const resolved = resolveRequest(config, tenant, job.request);
    const source = await deps.sources.get(resolved.dataset.source);
    const ext = resolved.format.extension;
    objectKey = objectKeyFor(job.tenant, job.id, ext);
    const plan = await planExport({
      source, tables: [resolved.table], format: resolved.format, formatOptions: resolved.formatOptions, key: objectKey,
      meta: { filename: `${resolved.dataset.name}-${job.createdAt.slice(0, 10)}.${ext}`, jobId: job.id },
    }, { storage, ...(config.export.batchSize !== undefined ? { batchSize: config.export.batchSize } : {}), partSize: config.export.partSize });
    let latest: JobProgress | null = null;
    for (;;) {
      if (reason) break;
      const result = await runSlice(plan, {
        checkpoint,
        sink: { save: (cp) => store.saveCheckpoint(job.id, token, cp, latest ?? progressOf(cp)) },
        deadline: Date.now() + config.export.sliceSeconds * 1000,
        signal: stop.signal,
        onProgress: (p) => {
          latest = toJobProgress(p);
          const now = Date.now();
          if (now - lastProgressSave >= 500) {
            lastProgressSave = now;
            store.saveProgress(job.id, token, latest).catch((err: unknown) => {
              if (err instanceof OffloadError && err.code === ErrorCode.LEASE_LOST) halt('lease-lost');
            });
          }
        },
      });
      if (result.done) {
        const expiresAt = new Date(Date.now() + config.limits.retentionHours * 3_600_000).toISOString();
        const final: JobProgress = { rows: result.rows, totalRows: (latest as JobProgress | null)?.totalRows ?? result.rows, percent: 100, bytes: result.bytes, etaSeconds: 0 };
        await store.succeed(job.id, token, {
          key: result.file.key, size: result.file.size, sha256: result.file.sha256,
          contentType: plan.meta.contentType, filename: plan.meta.filename ?? `${job.id}.${ext}`, expiresAt,
          ...(plan.meta.contentEncoding ? { contentEncoding: plan.meta.contentEncoding } : {}),
        }, final);
        deps.log?.(`[offload] export ${job.id} succeeded: ${result.rows} rows, ${result.bytes} bytes`);
        return;
      }
      checkpoint = result.checkpoint;
    }
    await finishStopped(reason ?? 'shutdown');
  } catch (err) {
    if (reason === 'cancel' || reason === 'shutdown') {
      await finishStopped(reason);
      return;
    }
    const e = toOffloadError(err);
    if (e.code === ErrorCode.LEASE_LOST || reason === 'lease-lost') {
      deps.log?.(`[offload] export ${job.id}: lease lost; another worker has it`);
      return;
    }
    const fresh = await store.get(job.id);
    const attempts = fresh?.attempts ?? job.attempts;
    const error = { code: e.code, message: e.message.replace(/^\[offload\]\s*/, '') };
    try {
      if (e.retryable && attempts < config.limits.maxAttempts) {
        deps.log?.(`[offload] export ${job.id} attempt ${attempts} failed (${e.code}), retrying: ${e.message}`);
        await store.retry(job.id, token, error, Date.now() + backoffMs(attempts));
      } else {
        deps.log?.(`[offload] export ${job.id} failed (${e.code}): ${e.message}`);
        await discardOutput();
        await store.fail(job.id, token, error);
      }
    } catch (storeErr) {
      if (!(storeErr instanceof OffloadError && storeErr.code === ErrorCode.LEASE_LOST)) throw storeErr;
    }
  } finally {
    clearInterval(heartbeat);
    shutdown.removeEventListener('abort', onShutdown);
  }

  async function discardOutput(): Promise<void> {
    const latest = await store.get(job.id);
    const upload = latest?.checkpoint?.upload;
    if (objectKey && upload != null) await storage.abortUpload(objectKey, upload).catch(() => undefined);
  }

  async function finishStopped(r: StopReason): Promise<void> {
    if (r === 'lease-lost') {
      deps.log?.(`[offload] export ${job.id}: lease lost; another worker has it`);
      return;
    }
    try {
      if (r === 'cancel') {
        await discardOutput();
        await store.markCancelled(job.id, token);
        deps.log?.(`[offload] export ${job.id} cancelled`);
      } else {
        await store.release(job.id, token);
      }
    } catch (err) {
      if (!(err instanceof OffloadError && err.code === ErrorCode.LEASE_LOST)) throw err;
    }
  }
}

function progressOf(cp: Checkpoint): JobProgress {
  const percent = cp.totalRows ? Math.min(100, Math.round((cp.rows / cp.totalRows) * 1000) / 10) : null;
  return { rows: cp.rows, totalRows: cp.totalRows, percent, bytes: cp.bytes, etaSeconds: null };
}
