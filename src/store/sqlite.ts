/** Embedded job store in SQLite (better-sqlite3): migrations, leases with fencing tokens, idempotency. */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Checkpoint } from '../core/checkpoint.js';
import { leaseLost } from '../core/errors.js';
import { EMPTY_PROGRESS, JobState, type Job, type JobError, type JobFile, type JobProgress } from '../core/job.js';
import type { CancelResult, CreateResult, JobStore, Lease, ListOptions, NewJob } from './store.js';

export interface SqliteJobStoreOptions {
  /** Database file; created with its directory when missing. */
  path: string;
}

const MIGRATIONS: string[] = [
  `CREATE TABLE jobs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     tenant TEXT NOT NULL,
     dataset TEXT NOT NULL,
     format TEXT NOT NULL,
     request TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled','expired')),
     progress TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     error TEXT,
     file TEXT,
     checkpoint TEXT,
     cancel_requested INTEGER NOT NULL DEFAULT 0,
     lease_token INTEGER NOT NULL DEFAULT 0,
     lease_owner TEXT,
     lease_expires_at INTEGER,
     run_after INTEGER NOT NULL DEFAULT 0,
     expires_at INTEGER,
     idempotency_key TEXT,
     request_hash TEXT,
     created_at TEXT NOT NULL,
     started_at TEXT,
     finished_at TEXT,
     updated_at TEXT NOT NULL,
     UNIQUE (tenant, idempotency_key)
   );
   CREATE INDEX jobs_tenant_seq ON jobs (tenant, seq);
   CREATE INDEX jobs_runnable ON jobs (state, run_after);
   CREATE INDEX jobs_expiry ON jobs (state, expires_at);`,
];

interface JobRow {
  seq: number; id: string; tenant: string; dataset: string; format: string; request: string; state: string;
  progress: string; attempts: number; error: string | null; file: string | null; checkpoint: string | null;
  cancel_requested: number; created_at: string; started_at: string | null; finished_at: string | null; updated_at: string;
  request_hash: string | null;
}

const parse = <T>(s: string | null): T | null => (s === null ? null : (JSON.parse(s) as T));
const iso = (): string => new Date().toISOString();

function toJob(r: JobRow): Job {
  return {
    id: r.id,
    tenant: r.tenant,
    dataset: r.dataset,
    format: r.format,
    request: JSON.parse(r.request) as Job['request'],
    state: r.state as JobState,
    progress: parse<JobProgress>(r.progress) ?? { ...EMPTY_PROGRESS },
    attempts: r.attempts,
    error: parse<JobError>(r.error),
    file: parse<JobFile>(r.file),
    checkpoint: parse<Checkpoint>(r.checkpoint),
    cancelRequested: r.cancel_requested === 1,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    updatedAt: r.updated_at,
  };
}

/**
 * The embedded job store. Safe for several processes on one machine (SQLite locking, WAL).
 * @example const store = sqliteJobStore({ path: '.offload/jobs.db' });
 */
export function sqliteJobStore(options: SqliteJobStoreOptions): JobStore {
  mkdirSync(dirname(options.path), { recursive: true });
  const db = new Database(options.path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = NORMAL');
  migrate(db);

  const byId = db.prepare('SELECT * FROM jobs WHERE id = ?');
  const get = (id: string): Job | null => {
    const r = byId.get(id) as JobRow | undefined;
    return r ? toJob(r) : null;
  };
  /** Runs a fenced update; zero rows changed means the lease is gone. */
  const fenced = (id: string, token: number, sql: string, ...params: unknown[]): void => {
    const info = db.prepare(`UPDATE jobs SET ${sql}, updated_at = ? WHERE id = ? AND lease_token = ? AND state = 'running'`).run(...params, iso(), id, token);
    if (info.changes === 0) throw leaseLost(id);
  };

  const claimTx = db.transaction((owner: string, leaseMs: number): Lease | null => {
    const now = Date.now();
    const row = db.prepare(`
      SELECT j.id FROM jobs j
      WHERE (j.state = 'queued' AND j.run_after <= @now) OR (j.state = 'running' AND j.lease_expires_at < @now)
      ORDER BY (SELECT count(*) FROM jobs r WHERE r.tenant = j.tenant AND r.state = 'running' AND r.lease_expires_at >= @now), j.seq
      LIMIT 1`).get({ now }) as { id: string } | undefined;
    if (!row) return null;
    db.prepare(`UPDATE jobs SET state = 'running', lease_token = lease_token + 1, lease_owner = ?, lease_expires_at = ?,
      attempts = attempts + 1, started_at = coalesce(started_at, ?), updated_at = ? WHERE id = ?`)
      .run(owner, now + leaseMs, iso(), iso(), row.id);
    const r = byId.get(row.id) as JobRow & { lease_token: number };
    return { job: toJob(r), token: r.lease_token };
  });

  const createTx = db.transaction((job: NewJob, idem?: { key: string; hash: string }): CreateResult => {
    if (idem) {
      const prior = db.prepare('SELECT * FROM jobs WHERE tenant = ? AND idempotency_key = ?').get(job.tenant, idem.key) as JobRow | undefined;
      if (prior) return { kind: prior.request_hash === idem.hash ? 'existing' : 'conflict', job: toJob(prior) };
    }
    const now = iso();
    db.prepare(`INSERT INTO jobs (id, tenant, dataset, format, request, state, progress, idempotency_key, request_hash, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)`)
      .run(job.id, job.tenant, job.request.dataset, job.request.format, JSON.stringify(job.request), JSON.stringify(EMPTY_PROGRESS),
        idem?.key ?? null, idem?.hash ?? null, now, now);
    return { kind: 'created', job: get(job.id)! };
  });

  const cancelTx = db.transaction((id: string): CancelResult => {
    const job = get(id);
    if (!job) return 'missing';
    if (job.state === JobState.QUEUED) {
      db.prepare(`UPDATE jobs SET state = 'cancelled', finished_at = ?, updated_at = ?, lease_token = lease_token + 1 WHERE id = ?`).run(iso(), iso(), id);
      return 'cancelled';
    }
    if (job.state === JobState.RUNNING) {
      db.prepare('UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?').run(iso(), id);
      return 'requested';
    }
    return 'terminal';
  });

  return {
    async create(job, idempotency) {
      return createTx.immediate(job, idempotency);
    },
    async get(id) {
      return get(id);
    },
    async findByIdempotencyKey(tenant, key) {
      const r = db.prepare('SELECT * FROM jobs WHERE tenant = ? AND idempotency_key = ?').get(tenant, key) as JobRow | undefined;
      return r ? { job: toJob(r), hash: r.request_hash ?? '' } : null;
    },
    async list(tenant: string, opts: ListOptions) {
      const before = opts.cursor ? Number(Buffer.from(opts.cursor, 'base64url').toString()) : Number.MAX_SAFE_INTEGER;
      const rows = (opts.state
        ? db.prepare('SELECT * FROM jobs WHERE tenant = ? AND seq < ? AND state = ? ORDER BY seq DESC LIMIT ?').all(tenant, before, opts.state, opts.limit + 1)
        : db.prepare('SELECT * FROM jobs WHERE tenant = ? AND seq < ? ORDER BY seq DESC LIMIT ?').all(tenant, before, opts.limit + 1)) as JobRow[];
      const page = rows.slice(0, opts.limit);
      const nextCursor = rows.length > opts.limit ? Buffer.from(String(page.at(-1)!.seq)).toString('base64url') : null;
      return { jobs: page.map(toJob), nextCursor };
    },
    async countActive(tenant) {
      const r = db.prepare("SELECT count(*) AS n FROM jobs WHERE tenant = ? AND state IN ('queued','running')").get(tenant) as { n: number };
      return r.n;
    },
    async claim(owner, leaseMs) {
      return claimTx.immediate(owner, leaseMs);
    },
    async renew(id, token, leaseMs) {
      fenced(id, token, 'lease_expires_at = ?', Date.now() + leaseMs);
      const r = db.prepare('SELECT cancel_requested FROM jobs WHERE id = ?').get(id) as { cancel_requested: number };
      return { cancelRequested: r.cancel_requested === 1 };
    },
    async saveCheckpoint(id, token, checkpoint, progress) {
      fenced(id, token, 'checkpoint = ?, progress = ?', JSON.stringify(checkpoint), JSON.stringify(progress));
    },
    async saveProgress(id, token, progress) {
      fenced(id, token, 'progress = ?', JSON.stringify(progress));
    },
    async succeed(id, token, file, progress) {
      fenced(id, token, "state = 'succeeded', file = ?, progress = ?, expires_at = ?, finished_at = ?, lease_owner = NULL, error = NULL",
        JSON.stringify(file), JSON.stringify(progress), Date.parse(file.expiresAt), iso());
    },
    async fail(id, token, error) {
      fenced(id, token, "state = 'failed', error = ?, finished_at = ?, lease_owner = NULL", JSON.stringify(error), iso());
    },
    async retry(id, token, error, runAfter) {
      fenced(id, token, "state = 'queued', error = ?, run_after = ?, lease_owner = NULL, lease_expires_at = NULL", JSON.stringify(error), runAfter);
    },
    async release(id, token) {
      fenced(id, token, "state = 'queued', attempts = max(attempts - 1, 0), run_after = 0, lease_owner = NULL, lease_expires_at = NULL");
    },
    async requestCancel(id) {
      return cancelTx.immediate(id);
    },
    async markCancelled(id, token) {
      fenced(id, token, "state = 'cancelled', finished_at = ?, lease_owner = NULL", iso());
    },
    async dueForExpiry(now, limit) {
      return (db.prepare("SELECT * FROM jobs WHERE state = 'succeeded' AND expires_at <= ? ORDER BY expires_at LIMIT ?").all(now, limit) as JobRow[]).map(toJob);
    },
    async markExpired(id) {
      db.prepare("UPDATE jobs SET state = 'expired', updated_at = ? WHERE id = ? AND state = 'succeeded'").run(iso(), id);
    },
    async close() {
      db.close();
    },
  };
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS offload_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  db.transaction(() => {
    const done = new Set((db.prepare('SELECT version FROM offload_migrations').all() as { version: number }[]).map((r) => r.version));
    MIGRATIONS.forEach((sql, i) => {
      if (done.has(i + 1)) return;
      db.exec(sql);
      db.prepare('INSERT INTO offload_migrations (version, applied_at) VALUES (?, ?)').run(i + 1, iso());
    });
  }).immediate();
}
