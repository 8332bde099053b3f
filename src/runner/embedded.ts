/** The embedded runner: N concurrent jobs in this process, claimed fairly from the job store, plus retention. */
import { randomUUID } from 'node:crypto';
import type { LoadedConfig } from '../config.js';
import type { Storage } from '../storage/storage.js';
import type { JobStore } from '../store/store.js';
import { executeJob } from './execute.js';
import { SourcePool } from './source-pool.js';

export interface EmbeddedRunnerOptions {
  config: LoadedConfig;
  store: JobStore;
  storage: Storage;
  /** How often to look for work when idle. Default 250 ms. */
  pollMs?: number;
  log?: (line: string) => void;
}

export interface Runner {
  start(): void;
  /** Stops claiming, checkpoints and releases running jobs, and resolves when they are released. */
  stop(): Promise<void>;
  /** Asks the runner to look for work now (after a job was created). */
  nudge(): void;
  readonly running: number;
}

/**
 * Runs exports in this process, `config.limits.concurrency` at a time.
 * @example const runner = createEmbeddedRunner({ config, store, storage }); runner.start();
 */
export function createEmbeddedRunner(options: EmbeddedRunnerOptions): Runner {
  const { config, store, storage } = options;
  const owner = `embedded-${process.pid}-${randomUUID().slice(0, 8)}`;
  const sources = new SourcePool();
  const shutdown = new AbortController();
  const active = new Set<Promise<void>>();
  const pollMs = options.pollMs ?? 250;
  let timer: NodeJS.Timeout | null = null;
  let sweeper: NodeJS.Timeout | null = null;
  let filling = false;
  const log = options.log ?? (() => undefined);

  const fill = async (): Promise<void> => {
    if (filling || shutdown.signal.aborted) return;
    filling = true;
    try {
      while (active.size < config.limits.concurrency && !shutdown.signal.aborted) {
        const lease = await store.claim(owner, config.export.leaseSeconds * 1000);
        if (!lease) break;
        const run = executeJob(lease, { config, store, storage, sources, log }, shutdown.signal)
          .catch((err: unknown) => log(`[offload] runner: export ${lease.job.id} crashed: ${(err as Error).message}`))
          .finally(() => {
            active.delete(run);
            schedule(0);
          });
        active.add(run);
      }
    } catch (err) {
      log(`[offload] runner: claim failed: ${(err as Error).message}`);
    } finally {
      filling = false;
    }
  };

  const schedule = (ms: number): void => {
    if (shutdown.signal.aborted) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void fill().finally(() => schedule(pollMs));
    }, ms);
  };

  const sweep = async (): Promise<void> => {
    try {
      await sweepStorage(config, store, storage, log);
    } catch (err) {
      log(`[offload] retention sweep failed: ${(err as Error).message}`);
    }
  };

  return {
    start() {
      schedule(0);
      void sweep();
      sweeper = setInterval(() => void sweep(), 30_000);
    },
    async stop() {
      shutdown.abort();
      if (timer) clearTimeout(timer);
      if (sweeper) clearInterval(sweeper);
      await Promise.allSettled([...active]);
      await sources.closeAll();
    },
    nudge() {
      schedule(0);
    },
    get running() {
      return active.size;
    },
  };
}

/** One pass of housekeeping: expired files deleted, orphaned multipart uploads aborted. */
export async function sweepStorage(config: LoadedConfig, store: JobStore, storage: Storage, log: (line: string) => void): Promise<void> {
  const n = await sweepExpired(store, storage);
  if (n > 0) log(`[offload] retention: ${n} expired export(s) deleted`);
  const graceHours = config.storage.type === 's3' ? config.storage.orphanGraceHours : 24;
  const orphans = await sweepOrphanUploads(store, storage, graceHours * 3600_000);
  if (orphans > 0) log(`[offload] storage: ${orphans} orphaned multipart upload(s) aborted`);
}

/** Runs the retention sweep once (for tests and `offload worker --once`). */
export async function sweepExpired(store: JobStore, storage: Storage, now = Date.now()): Promise<number> {
  let n = 0;
  for (const job of await store.dueForExpiry(now, 1000)) {
    if (job.file) await storage.delete(job.file.key);
    await store.markExpired(job.id);
    n++;
  }
  return n;
}

/**
 * Aborts unfinished multipart uploads that no live job owns (its job is gone or finished) and
 * that are older than `graceMs`, so crashed or abandoned exports leave no billable parts behind.
 * Keys are `<tenant>/<jobId>.<ext>`: the job id is the file name up to its first dot.
 */
export async function sweepOrphanUploads(store: JobStore, storage: Storage, graceMs: number, now = Date.now()): Promise<number> {
  if (!storage.listUnfinished || !storage.abortUnfinished) return 0;
  let n = 0;
  for await (const u of storage.listUnfinished()) {
    if (now - u.initiatedAt.getTime() < graceMs) continue;
    const jobId = u.key.slice(u.key.lastIndexOf('/') + 1).split('.')[0] ?? '';
    const job = jobId ? await store.get(jobId) : null;
    if (job && (job.state === 'queued' || job.state === 'running')) continue;
    await storage.abortUnfinished(u);
    n++;
  }
  return n;
}
