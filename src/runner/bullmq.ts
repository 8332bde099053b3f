/** The BullMQ runner: the API enqueues export ids on Redis; worker processes claim them in the job store and run them. */
import { randomUUID } from 'node:crypto';
import { DelayedError, Queue, Worker, type ConnectionOptions, type Job as QueueJob } from 'bullmq';
import { Redis } from 'ioredis';
import type { LoadedConfig } from '../config.js';
import { ErrorCode, OffloadError } from '../core/errors.js';
import { TERMINAL_STATES } from '../core/job.js';
import type { Storage } from '../storage/storage.js';
import type { JobStore } from '../store/store.js';
import { sweepStorage, type Runner } from './embedded.js';
import { executeJob } from './execute.js';
import { SourcePool } from './source-pool.js';

type BullmqConfig = Extract<LoadedConfig['runner'], { type: 'bullmq' }>;

/** Name and payload of the one kind of queue job: "run this export". */
export const EXPORT_JOB = 'export';
export interface ExportJobData { exportId: string }

/** States in which BullMQ will still hand the job to a worker. */
const LIVE_QUEUE_STATES = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

export function bullmqSettings(config: LoadedConfig): BullmqConfig {
  if (config.runner.type !== 'bullmq') throw new OffloadError(ErrorCode.BAD_REQUEST, '[offload] runner.type is not "bullmq"');
  return config.runner;
}

function connection(rc: BullmqConfig, producer = false): ConnectionOptions {
  // Workers wait for Redis through outages; the API's producer fails fast instead (the reconciler re-adds what it missed).
  return { url: rc.redisUrl, maxRetriesPerRequest: null, ...(producer ? { enableOfflineQueue: false } : {}) };
}

function openQueue(rc: BullmqConfig, producer: boolean): Queue<ExportJobData> {
  return new Queue<ExportJobData>(rc.queue, {
    connection: connection(rc, producer),
    prefix: rc.prefix,
    defaultJobOptions: {
      attempts: rc.attempts,
      backoff: { type: 'exponential', delay: rc.backoffMs, jitter: 0.25 },
      removeOnComplete: { age: rc.removeOnComplete.ageSeconds, count: rc.removeOnComplete.count },
      removeOnFail: { age: rc.removeOnFail.ageSeconds, count: rc.removeOnFail.count },
    },
  });
}

/** Adds one export to the queue; its queue job id is the export id, so adding twice is a no-op. */
async function addExport(queue: Queue<ExportJobData>, id: string, runAfter = 0): Promise<void> {
  await queue.add(EXPORT_JOB, { exportId: id }, { jobId: id, delay: Math.max(0, runAfter - Date.now()) });
}

/** Logs a repeated message at most once per `everyMs` (Redis outages make every connection complain). */
function throttled(log: (line: string) => void, everyMs = 5000): (line: string) => void {
  let last = 0;
  return (line) => {
    if (Date.now() - last < everyMs) return;
    last = Date.now();
    log(line);
  };
}

export interface Enqueuer {
  enqueue(jobId: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The API side: puts created exports on the queue. A failed add is logged, not fatal: the job is
 * in the store, and workers' reconciler re-adds queued exports that have no queue job.
 * @example const q = createBullmqEnqueuer(config); await q.enqueue(job.id);
 */
export function createBullmqEnqueuer(config: LoadedConfig, log: (line: string) => void = () => undefined): Enqueuer {
  const rc = bullmqSettings(config);
  const queue = openQueue(rc, true);
  const warn = throttled(log);
  queue.on('error', (err) => warn(`[offload] [bullmq] queue: ${err.message}`));
  return {
    async enqueue(jobId) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          addExport(queue, jobId),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('Redis did not answer within 2 s')), 2000))),
        ]);
      } catch (err) {
        log(`[offload] [bullmq] could not enqueue ${jobId} (a worker's reconciler will): ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await queue.close();
    },
  };
}

export interface BullmqRunnerOptions {
  config: LoadedConfig;
  store: JobStore;
  storage: Storage;
  log?: (line: string) => void;
}

/**
 * A worker process: a BullMQ Worker whose processor claims the named export in the job store (the
 * store decides; BullMQ only dispatches), runs it with executeJob, and hands it back to the queue
 * when it must wait (another live lease, a retry not yet due, shutdown). Also runs the reconciler
 * and the retention sweep.
 * @example const runner = createBullmqRunner({ config, store, storage }); runner.start();
 */
export function createBullmqRunner(options: BullmqRunnerOptions): Runner & { reconcile(): Promise<number> } {
  const { config, store, storage } = options;
  const rc = bullmqSettings(config);
  if (!store.claimById || !store.listActive) throw new OffloadError(ErrorCode.BAD_REQUEST, '[offload] the BullMQ runner needs a job store with claimById and listActive');
  const claimById = store.claimById.bind(store);
  const listActive = store.listActive.bind(store);
  const log = options.log ?? (() => undefined);
  const warn = throttled(log);
  const owner = `bullmq-${process.pid}-${randomUUID().slice(0, 8)}`;
  const sources = new SourcePool();
  const shutdown = new AbortController();
  const leaseMs = config.export.leaseSeconds * 1000;
  const marker = `${rc.prefix}:${rc.queue}:offload-marker`;
  let worker: Worker<ExportJobData> | null = null;
  let queue: Queue<ExportJobData> | null = null;
  let redis: Redis | null = null;
  const timers: NodeJS.Timeout[] = [];
  let active = 0;

  /** Hands the queue job back to BullMQ to be picked up again at `at` (not a failed attempt). */
  const later = async (qjob: QueueJob<ExportJobData>, token: string | undefined, at: number): Promise<never> => {
    await qjob.moveToDelayed(Math.max(Date.now(), at), token);
    throw new DelayedError();
  };

  const process_ = async (qjob: QueueJob<ExportJobData>, token?: string): Promise<{ outcome: string }> => {
    const id = qjob.data.exportId;
    const claim = await claimById(id, owner, leaseMs);
    if (claim.kind === 'missing' || claim.kind === 'terminal') return { outcome: claim.kind };
    if (claim.kind === 'busy') return later(qjob, token, claim.until + 250);
    if (claim.kind === 'later') return later(qjob, token, claim.until);
    active++;
    try {
      await executeJob(claim.lease, { config, store, storage, sources, log }, shutdown.signal);
    } finally {
      active--;
    }
    const after = await store.get(id);
    if (!after || TERMINAL_STATES.includes(after.state)) return { outcome: after?.state ?? 'missing' };
    if (after.state === 'running') return { outcome: 'taken-over' }; // our lease was lost; its new holder has the queue job
    // Back to queued: released at shutdown (another worker continues now), or a retry (a failed attempt, with backoff).
    if (shutdown.signal.aborted) return later(qjob, token, Date.now());
    throw new Error(`export ${id} attempt failed (${after.error?.code ?? 'unknown'}): ${after.error?.message ?? ''}; retrying`);
  };

  /** Re-adds active exports that have no live queue job (lost with Redis, or failed in BullMQ after too many stalls). */
  const reconcile = async (): Promise<number> => {
    if (!queue) return 0;
    let added = 0;
    let after: string | undefined;
    do {
      const page = await listActive(500, after);
      for (const j of page.jobs) {
        if (j.state === 'running' && (j.leaseExpiresAt ?? 0) > Date.now()) continue; // a live worker has it
        const existing = await queue.getJob(j.id);
        if (existing && LIVE_QUEUE_STATES.has(await existing.getState())) continue;
        if (existing) await existing.remove().catch(() => undefined);
        await addExport(queue, j.id, j.state === 'queued' ? j.runAfter : 0);
        added++;
      }
      after = page.nextCursor ?? undefined;
    } while (after);
    if (added > 0) log(`[offload] [bullmq] reconciler re-added ${added} export(s) without a queue job`);
    return added;
  };

  /** Redis without persistence forgets every job when it restarts; a missing marker key tells us so at once. */
  const watchMarker = async (): Promise<void> => {
    if (!redis) return;
    const set = await redis.set(marker, owner, 'NX');
    if (set === 'OK') await reconcile();
  };

  const every = (ms: number, fn: () => Promise<unknown>, what: string): void => {
    let busy = false;
    timers.push(setInterval(() => {
      if (busy || shutdown.signal.aborted) return;
      busy = true;
      fn().catch((err: unknown) => warn(`[offload] [bullmq] ${what}: ${(err as Error).message}`)).finally(() => (busy = false));
    }, ms));
  };

  return {
    start() {
      queue = openQueue(rc, false);
      queue.on('error', (err) => warn(`[offload] [bullmq] queue: ${err.message}`));
      redis = new Redis(rc.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: false });
      redis.on('error', (err) => warn(`[offload] [bullmq] redis: ${err.message}`));
      worker = new Worker<ExportJobData>(rc.queue, process_, {
        connection: connection(rc),
        prefix: rc.prefix,
        name: owner,
        concurrency: rc.concurrency ?? config.limits.concurrency,
        limiter: { max: rc.limiter.max, duration: rc.limiter.durationMs },
        lockDuration: rc.lockDurationMs,
        stalledInterval: rc.stalledIntervalMs,
        maxStalledCount: rc.maxStalledCount,
      });
      worker.on('error', (err) => warn(`[offload] [bullmq] worker: ${err.message}`));
      worker.on('stalled', (jobId) => log(`[offload] [bullmq] export ${jobId} stalled (its worker died or froze); handing it to another worker`));
      worker.on('failed', (job, err) => {
        if (job) log(`[offload] [bullmq] queue job ${job.id} attempt ${job.attemptsMade} failed: ${err.message}`);
      });
      every(Math.min(2000, rc.reconcileSeconds * 1000), watchMarker, 'marker check');
      every(rc.reconcileSeconds * 1000, reconcile, 'reconcile');
      every(30_000, () => sweepStorage(config, store, storage, log), 'retention sweep');
      void watchMarker().catch((err: unknown) => warn(`[offload] [bullmq] marker check: ${(err as Error).message}`));
    },
    async stop() {
      // Running exports checkpoint and release their leases; their queue jobs go back to the queue.
      shutdown.abort();
      for (const t of timers) clearInterval(t);
      await worker?.close();
      await queue?.close();
      redis?.disconnect();
      await sources.closeAll();
    },
    nudge() {
      // BullMQ wakes a worker when a job is added.
    },
    get running() {
      return active;
    },
    reconcile,
  };
}
