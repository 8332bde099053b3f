/** Embedded job store in SQLite (better-sqlite3): migrations, leases with fencing tokens, idempotency. */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Checkpoint } from '../core/checkpoint.js';
import { leaseLost } from '../core/errors.js';
import { EMPTY_PROGRESS, JobState, TERMINAL_STATES, type Job, type JobError, type JobFile, type JobProgress } from '../core/job.js';
import { OUTBOX_MIGRATION, sqliteOutbox } from './sqlite-outbox.js';
import type { ActiveJobRef, CancelResult, ClaimByIdResult, CreateResult, JobStore, Lease, LeaseRecord, ListOptions, NewJob } from './store.js';

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
  `ALTER TABLE jobs ADD COLUMN webhook_url TEXT;
   CREATE TABLE job_leases (
     job_id TEXT NOT NULL,
     token INTEGER NOT NULL,
     owner TEXT NOT NULL,
     claimed_at TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     last_seen_at TEXT NOT NULL,
     ended_at TEXT,
     end_reason TEXT,
     PRIMARY KEY (job_id, token)
   );
   ${OUTBOX_MIGRATION}`,
];

interface JobRow {
  seq: number; id: string; tenant: string; dataset: string; format: string; request: string; state: string;
  progress: string; attempts: number; error: string | null; file: string | null; checkpoint: string | null;
  cancel_requested: number; created_at: string; started_at: string | null; finished_at: string | null; updated_at: string;
  request_hash: string | null; webhook_url: string | null; lease_token: number; lease_expires_at: number | null; run_after: number;
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
    webhookUrl: r.webhook_url,
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
  const outbox = sqliteOutbox(db);
  const touchLease = db.prepare(`UPDATE job_leases SET last_seen_at = ?, expires_at = coalesce(?, expires_at),
    ended_at = coalesce(?, ended_at), end_reason = coalesce(?, end_reason) WHERE job_id = ? AND token = ?`);
  /**
   * Runs a fenced update (zero rows changed means the lease is gone), records it in the lease
   * history, and writes the webhook event when the job reached a terminal state — one transaction.
   */
  const fencedTx = db.transaction((id: string, token: number, sql: string, params: unknown[], end: string | null, leaseUntil: number | null): JobRow => {
    const now = iso();
    const info = db.prepare(`UPDATE jobs SET ${sql}, updated_at = ? WHERE id = ? AND lease_token = ? AND state = 'running'`).run(...params, now, id, token);
    if (info.changes === 0) throw leaseLost(id);
    touchLease.run(now, leaseUntil === null ? null : new Date(leaseUntil).toISOString(), end ? now : null, end, id, token);
    const row = byId.get(id) as JobRow;
    if (TERMINAL_STATES.includes(row.state as JobState)) outbox.record(toJob(row));
    return row;
  });
  const fenced = (id: string, token: number, sql: string, params: unknown[] = [], end: string | null = null, leaseUntil: number | null = null): JobRow =>
    fencedTx.immediate(id, token, sql, params, end, leaseUntil);

  /** Gives the job a new lease (token + 1) and records it; the previous lease, if still open, lapsed. */
  const takeLease = (id: string, owner: string, leaseMs: number, now: number): Lease => {
    const at = new Date(now).toISOString();
    db.prepare(`UPDATE jobs SET state = 'running', lease_token = lease_token + 1, lease_owner = ?, lease_expires_at = ?,
      attempts = attempts + 1, started_at = coalesce(started_at, ?), updated_at = ? WHERE id = ?`)
      .run(owner, now + leaseMs, at, at, id);
    const r = byId.get(id) as JobRow;
    db.prepare("UPDATE job_leases SET ended_at = ?, end_reason = 'lapsed' WHERE job_id = ? AND ended_at IS NULL AND token < ?").run(at, id, r.lease_token);
    db.prepare('INSERT INTO job_leases (job_id, token, owner, claimed_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, r.lease_token, owner, at, new Date(now + leaseMs).toISOString(), at);
    return { job: toJob(r), token: r.lease_token };
  };

  const claimTx = db.transaction((owner: string, leaseMs: number): Lease | null => {
    const now = Date.now();
    const row = db.prepare(`
      SELECT j.id FROM jobs j
      WHERE (j.state = 'queued' AND j.run_after <= @now) OR (j.state = 'running' AND j.lease_expires_at < @now)
      ORDER BY (SELECT count(*) FROM jobs r WHERE r.tenant = j.tenant AND r.state = 'running' AND r.lease_expires_at >= @now), j.seq
      LIMIT 1`).get({ now }) as { id: string } | undefined;
    return row ? takeLease(row.id, owner, leaseMs, now) : null;
  });

  const claimByIdTx = db.transaction((id: string, owner: string, leaseMs: number): ClaimByIdResult => {
    const now = Date.now();
    const r = byId.get(id) as JobRow | undefined;
    if (!r) return { kind: 'missing' };
    if (r.state !== 'queued' && r.state !== 'running') return { kind: 'terminal', state: r.state as JobState };
    if (r.state === 'running' && (r.lease_expires_at ?? 0) >= now) return { kind: 'busy', until: r.lease_expires_at! };
    if (r.state === 'queued' && r.run_after > now) return { kind: 'later', until: r.run_after };
    return { kind: 'claimed', lease: takeLease(id, owner, leaseMs, now) };
  });

  const countActive = (tenant: string): number =>
    (db.prepare("SELECT count(*) AS n FROM jobs WHERE tenant = ? AND state IN ('queued','running')").get(tenant) as { n: number }).n;

  const createTx = db.transaction((job: NewJob, idem?: { key: string; hash: string }, maxActive?: number): CreateResult => {
    if (idem) {
      const prior = db.prepare('SELECT * FROM jobs WHERE tenant = ? AND idempotency_key = ?').get(job.tenant, idem.key) as JobRow | undefined;
      if (prior) return { kind: prior.request_hash === idem.hash ? 'existing' : 'conflict', job: toJob(prior) };
    }
    if (maxActive !== undefined) {
      const active = countActive(job.tenant);
      if (active >= maxActive) return { kind: 'limited', active };
    }
    const now = iso();
    db.prepare(`INSERT INTO jobs (id, tenant, dataset, format, request, state, progress, idempotency_key, request_hash, webhook_url, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)`)
      .run(job.id, job.tenant, job.request.dataset, job.request.format, JSON.stringify(job.request), JSON.stringify(EMPTY_PROGRESS),
        idem?.key ?? null, idem?.hash ?? null, job.webhookUrl ?? null, now, now);
    return { kind: 'created', job: get(job.id)! };
  });

  const cancelTx = db.transaction((id: string): CancelResult => {
    const job = get(id);
    if (!job) return 'missing';
    if (job.state === JobState.QUEUED) {
      db.prepare(`UPDATE jobs SET state = 'cancelled', finished_at = ?, updated_at = ?, lease_token = lease_token + 1 WHERE id = ?`).run(iso(), iso(), id);
      outbox.record(get(id)!);
      return 'cancelled';
    }
    if (job.state === JobState.RUNNING) {
      db.prepare('UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?').run(iso(), id);
      return 'requested';
    }
    return 'terminal';
  });

  return {
    async create(job, idempotency, limits) {
      // IMMEDIATE: the write lock is taken first, so the count and the insert are one step for
      // every process sharing the database file.
      return createTx.immediate(job, idempotency, limits?.maxActive);
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
      return countActive(tenant);
    },
    async claim(owner, leaseMs) {
      return claimTx.immediate(owner, leaseMs);
    },
    async renew(id, token, leaseMs) {
      const until = Date.now() + leaseMs;
      const r = fenced(id, token, 'lease_expires_at = ?', [until], null, until);
      return { cancelRequested: r.cancel_requested === 1 };
    },
    async saveCheckpoint(id, token, checkpoint, progress) {
      fenced(id, token, 'checkpoint = ?, progress = ?', [JSON.stringify(checkpoint), JSON.stringify(progress)]);
    },
    async saveProgress(id, token, progress) {
      fenced(id, token, 'progress = ?', [JSON.stringify(progress)]);
    },
    async succeed(id, token, file, progress) {
      fenced(id, token, "state = 'succeeded', file = ?, progress = ?, expires_at = ?, finished_at = ?, lease_owner = NULL, error = NULL",
        [JSON.stringify(file), JSON.stringify(progress), Date.parse(file.expiresAt), iso()], 'succeeded');
    },
    async fail(id, token, error) {
      fenced(id, token, "state = 'failed', error = ?, finished_at = ?, lease_owner = NULL", [JSON.stringify(error), iso()], 'failed');
    },
    async retry(id, token, error, runAfter) {
      fenced(id, token, "state = 'queued', error = ?, run_after = ?, lease_owner = NULL, lease_expires_at = NULL", [JSON.stringify(error), runAfter], 'retry');
    },
    async release(id, token) {
      fenced(id, token, "state = 'queued', attempts = max(attempts - 1, 0), run_after = 0, lease_owner = NULL, lease_expires_at = NULL", [], 'released');
    },
    async requestCancel(id) {
      return cancelTx.immediate(id);
    },
    async markCancelled(id, token) {
      fenced(id, token, "state = 'cancelled', finished_at = ?, lease_owner = NULL", [iso()], 'cancelled');
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
    async claimById(id, owner, leaseMs) {
      return claimByIdTx.immediate(id, owner, leaseMs);
    },
    async listActive(limit, after) {
      const from = after ? Number(Buffer.from(after, 'base64url').toString()) : 0;
      const rows = db.prepare(`SELECT seq, id, state, run_after, lease_expires_at FROM jobs WHERE state IN ('queued','running') AND seq > ?
        ORDER BY seq LIMIT ?`).all(from, limit + 1) as { seq: number; id: string; state: 'queued' | 'running'; run_after: number; lease_expires_at: number | null }[];
      const page = rows.slice(0, limit);
      const jobs: ActiveJobRef[] = page.map((r) => ({ id: r.id, state: r.state, runAfter: r.run_after, leaseExpiresAt: r.lease_expires_at }));
      return { jobs, nextCursor: rows.length > limit ? Buffer.from(String(page.at(-1)!.seq)).toString('base64url') : null };
    },
    async leaseHistory(id) {
      const rows = db.prepare('SELECT * FROM job_leases WHERE job_id = ? ORDER BY token').all(id) as {
        token: number; owner: string; claimed_at: string; expires_at: string; last_seen_at: string; ended_at: string | null; end_reason: string | null;
      }[];
      return rows.map((r): LeaseRecord => ({ token: r.token, owner: r.owner, claimedAt: r.claimed_at, expiresAt: r.expires_at, lastSeenAt: r.last_seen_at, endedAt: r.ended_at, endReason: r.end_reason }));
    },
    webhooks: outbox,
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
