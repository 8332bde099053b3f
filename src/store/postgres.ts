/** Distributed job store in PostgreSQL (pg): SKIP LOCKED claims, fencing tokens, lease history, webhook outbox. */
import pg from 'pg';
import type { Checkpoint } from '../core/checkpoint.js';
import { ErrorCode, OffloadError, leaseLost } from '../core/errors.js';
import { EMPTY_PROGRESS, TERMINAL_STATES, type ExportRequest, type Job, type JobError, type JobFile, type JobProgress, type JobState } from '../core/job.js';
import { postgresOutbox, recordEvent } from './postgres-outbox.js';
import { migrate, quoteSchema } from './postgres-schema.js';
import type { ActiveJobRef, ClaimByIdResult, CreateResult, JobStore, Lease, LeaseRecord } from './store.js';

/** First key of the advisory locks that serialise job creation per tenant ('ofld'). */
const TENANT_LOCK_CLASS = 0x6f666c64;

export interface PostgresJobStoreOptions {
  /** `postgres://user:pass@host:5432/db`. */
  url: string;
  /** Schema holding the tables; created when missing. Default `offload`. */
  schema?: string;
  /** Connections kept. Default 10. */
  poolSize?: number;
  /** Where background connection errors are reported (an idle connection dropped by the server). */
  log?: (line: string) => void;
}

interface JobRow {
  seq: string; id: string; tenant: string; dataset: string; format: string; request: ExportRequest; state: JobState;
  progress: JobProgress | null; attempts: number; error: JobError | null; file: JobFile | null; checkpoint: Checkpoint | null;
  cancel_requested: boolean; lease_token: number; lease_expires_at: Date | null; run_after: Date; request_hash: string | null;
  webhook_url: string | null; created_at: Date; started_at: Date | null; finished_at: Date | null; updated_at: Date;
}

const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);

function toJob(r: JobRow): Job {
  return {
    id: r.id, tenant: r.tenant, dataset: r.dataset, format: r.format, request: r.request, state: r.state,
    progress: r.progress ?? { ...EMPTY_PROGRESS }, attempts: r.attempts, error: r.error, file: r.file, checkpoint: r.checkpoint,
    cancelRequested: r.cancel_requested, webhookUrl: r.webhook_url,
    createdAt: r.created_at.toISOString(), startedAt: isoOrNull(r.started_at), finishedAt: isoOrNull(r.finished_at), updatedAt: r.updated_at.toISOString(),
  };
}

const encodeCursor = (seq: string | number): string => Buffer.from(String(seq)).toString('base64url');
const decodeCursor = (c: string | undefined, fallback: string): string => {
  const v = c ? Buffer.from(c, 'base64url').toString() : fallback;
  return /^\d{1,19}$/.test(v) ? v : fallback;
};

function storeError(err: unknown): OffloadError {
  if (err instanceof OffloadError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new OffloadError(ErrorCode.STORE_ERROR, `[offload] [postgres-store] ${msg}`, { cause: err, retryable: true });
}

/**
 * The distributed job store. Migrations run at open (under an advisory lock), so any number of
 * API and worker processes may start together.
 * @example const store = await postgresJobStore({ url: 'postgres://offload@db/offload', schema: 'offload' });
 */
export async function postgresJobStore(options: PostgresJobStoreOptions): Promise<JobStore> {
  const schema = options.schema ?? 'offload';
  const s = quoteSchema(schema);
  const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 10, application_name: 'offload' });
  pool.on('error', (err) => options.log?.(`[offload] [postgres-store] idle connection error: ${err.message}`));
  try {
    await migrate(pool, schema);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw storeError(err);
  }

  const q = async <R extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>> => {
    try {
      return await pool.query<R>(text, params);
    } catch (err) {
      throw storeError(err);
    }
  };
  const tx = async <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw storeError(err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw storeError(err);
    } finally {
      client.release(broken);
    }
  };

  const LEASE_INSERT = `
    lapsed AS (UPDATE ${s}.job_leases l SET ended_at = clock_timestamp(), end_reason = 'lapsed'
      FROM claimed WHERE l.job_id = claimed.id AND l.ended_at IS NULL AND l.token < claimed.lease_token),
    leased AS (INSERT INTO ${s}.job_leases (job_id, token, owner, claimed_at, expires_at, last_seen_at)
      SELECT id, lease_token, lease_owner, clock_timestamp(), lease_expires_at, clock_timestamp() FROM claimed)
    SELECT * FROM claimed`;
  const CLAIM_SET = `state = 'running', lease_token = t.lease_token + 1, lease_owner = $1,
    lease_expires_at = clock_timestamp() + $2::float8 * interval '1 millisecond', attempts = t.attempts + 1,
    started_at = coalesce(t.started_at, clock_timestamp()), updated_at = clock_timestamp()`;

  /** A fenced write that keeps the lease (renew, checkpoint, progress), recorded in the lease history. */
  const fencedKeep = async (id: string, token: number, sets: string, params: unknown[]): Promise<{ cancel_requested: boolean }> => {
    const r = await q<{ cancel_requested: boolean }>(`
      WITH u AS (UPDATE ${s}.jobs SET ${sets}, updated_at = clock_timestamp()
                 WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING cancel_requested, lease_expires_at),
           l AS (UPDATE ${s}.job_leases SET last_seen_at = clock_timestamp(), expires_at = coalesce((SELECT lease_expires_at FROM u), expires_at)
                 WHERE job_id = $1 AND token = $2 AND EXISTS (SELECT 1 FROM u))
      SELECT cancel_requested FROM u`, [id, token, ...params]);
    if (r.rows.length === 0) throw leaseLost(id);
    return r.rows[0]!;
  };

  /** A fenced write that ends the lease; a terminal state writes its webhook event in the same transaction. */
  const fencedEnd = (id: string, token: number, sets: string, params: unknown[], reason: string): Promise<void> =>
    tx(async (c) => {
      const r = await c.query<JobRow>(`UPDATE ${s}.jobs SET ${sets}, updated_at = clock_timestamp()
        WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING *`, [id, token, ...params]);
      if (r.rows.length === 0) throw leaseLost(id);
      await c.query(`UPDATE ${s}.job_leases SET last_seen_at = clock_timestamp(), ended_at = clock_timestamp(), end_reason = $3
        WHERE job_id = $1 AND token = $2`, [id, token, reason]);
      const job = toJob(r.rows[0]!);
      if (TERMINAL_STATES.includes(job.state)) await recordEvent(c, s, job);
    });

  const get = async (id: string): Promise<Job | null> => {
    const r = await q<JobRow>(`SELECT * FROM ${s}.jobs WHERE id = $1`, [id]);
    return r.rows[0] ? toJob(r.rows[0]) : null;
  };

  return {
    create: (job, idem, limits) => tx(async (c): Promise<CreateResult> => {
      const prior = async (): Promise<CreateResult | null> => {
        if (!idem) return null;
        const r = (await c.query<JobRow>(`SELECT * FROM ${s}.jobs WHERE tenant = $1 AND idempotency_key = $2`, [job.tenant, idem.key])).rows[0];
        return r ? { kind: r.request_hash === idem.hash ? 'existing' : 'conflict', job: toJob(r) } : null;
      };
      if (limits?.maxActive !== undefined) {
        // One creator per tenant at a time, across every API process, until this transaction
        // ends: the count below and the insert cannot interleave with another request's.
        await c.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [TENANT_LOCK_CLASS, job.tenant]);
        const replay = await prior();
        if (replay) return replay;
        const n = (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.jobs WHERE tenant = $1 AND state IN ('queued','running')`, [job.tenant])).rows[0]!.n;
        if (n >= limits.maxActive) return { kind: 'limited', active: n };
      }
      const r = await c.query<JobRow>(`INSERT INTO ${s}.jobs (id, tenant, dataset, format, request, state, progress, idempotency_key, request_hash, webhook_url)
        VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9) ON CONFLICT (tenant, idempotency_key) DO NOTHING RETURNING *`,
      [job.id, job.tenant, job.request.dataset, job.request.format, JSON.stringify(job.request), JSON.stringify(EMPTY_PROGRESS),
        idem?.key ?? null, idem?.hash ?? null, job.webhookUrl ?? null]);
      if (r.rows[0]) return { kind: 'created', job: toJob(r.rows[0]) };
      return (await prior())!;
    }),
    get,
    async findByIdempotencyKey(tenant, key) {
      const r = (await q<JobRow>(`SELECT * FROM ${s}.jobs WHERE tenant = $1 AND idempotency_key = $2`, [tenant, key])).rows[0];
      return r ? { job: toJob(r), hash: r.request_hash ?? '' } : null;
    },
    async list(tenant, opts) {
      const before = decodeCursor(opts.cursor, '9223372036854775807');
      const r = await q<JobRow>(`SELECT * FROM ${s}.jobs WHERE tenant = $1 AND seq < $2 AND ($3::text IS NULL OR state = $3)
        ORDER BY seq DESC LIMIT $4`, [tenant, before, opts.state ?? null, opts.limit + 1]);
      const page = r.rows.slice(0, opts.limit);
      return { jobs: page.map(toJob), nextCursor: r.rows.length > opts.limit ? encodeCursor(page.at(-1)!.seq) : null };
    },
    async countActive(tenant) {
      const r = await q<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.jobs WHERE tenant = $1 AND state IN ('queued','running')`, [tenant]);
      return r.rows[0]!.n;
    },
    async claim(owner, leaseMs) {
      // Fair: the tenant with the fewest live leases first; SKIP LOCKED lets concurrent claimers take different jobs.
      const r = await q<JobRow>(`
        WITH running AS (
          SELECT tenant, count(*) AS n FROM ${s}.jobs WHERE state = 'running' AND lease_expires_at >= clock_timestamp() GROUP BY tenant
        ), next AS (
          SELECT j.seq FROM ${s}.jobs j LEFT JOIN running r ON r.tenant = j.tenant
          WHERE (j.state = 'queued' AND j.run_after <= clock_timestamp()) OR (j.state = 'running' AND j.lease_expires_at < clock_timestamp())
          ORDER BY coalesce(r.n, 0), j.seq
          LIMIT 1
          FOR UPDATE OF j SKIP LOCKED
        ), claimed AS (
          UPDATE ${s}.jobs t SET ${CLAIM_SET} FROM next WHERE t.seq = next.seq RETURNING t.*
        ), ${LEASE_INSERT}`, [owner, leaseMs]);
      const row = r.rows[0];
      return row ? { job: toJob(row), token: row.lease_token } : null;
    },
    async claimById(id, owner, leaseMs): Promise<ClaimByIdResult> {
      return tx(async (c) => {
        const cur = (await c.query<{ state: JobState; lease_expires_at: Date | null; run_after: Date; now: Date }>(
          `SELECT state, lease_expires_at, run_after, clock_timestamp() AS now FROM ${s}.jobs WHERE id = $1 FOR UPDATE`, [id])).rows[0];
        if (!cur) return { kind: 'missing' };
        if (cur.state !== 'queued' && cur.state !== 'running') return { kind: 'terminal', state: cur.state };
        if (cur.state === 'running' && cur.lease_expires_at && cur.lease_expires_at >= cur.now) return { kind: 'busy', until: cur.lease_expires_at.getTime() };
        if (cur.state === 'queued' && cur.run_after > cur.now) return { kind: 'later', until: cur.run_after.getTime() };
        const r = await c.query<JobRow>(`WITH claimed AS (UPDATE ${s}.jobs t SET ${CLAIM_SET} WHERE t.id = $3 RETURNING t.*), ${LEASE_INSERT}`, [owner, leaseMs, id]);
        const row = r.rows[0]!;
        const lease: Lease = { job: toJob(row), token: row.lease_token };
        return { kind: 'claimed', lease };
      });
    },
    async renew(id, token, leaseMs) {
      const r = await fencedKeep(id, token, `lease_expires_at = clock_timestamp() + $3::float8 * interval '1 millisecond'`, [leaseMs]);
      return { cancelRequested: r.cancel_requested };
    },
    async saveCheckpoint(id, token, checkpoint, progress) {
      await fencedKeep(id, token, 'checkpoint = $3, progress = $4', [JSON.stringify(checkpoint), JSON.stringify(progress)]);
    },
    async saveProgress(id, token, progress) {
      await fencedKeep(id, token, 'progress = $3', [JSON.stringify(progress)]);
    },
    async succeed(id, token, file, progress) {
      await fencedEnd(id, token, `state = 'succeeded', file = $3, progress = $4, expires_at = $5::timestamptz, finished_at = clock_timestamp(),
        lease_owner = NULL, error = NULL`, [JSON.stringify(file), JSON.stringify(progress), file.expiresAt], 'succeeded');
    },
    async fail(id, token, error) {
      await fencedEnd(id, token, `state = 'failed', error = $3, finished_at = clock_timestamp(), lease_owner = NULL`, [JSON.stringify(error)], 'failed');
    },
    async retry(id, token, error, runAfter) {
      await fencedEnd(id, token, `state = 'queued', error = $3, run_after = to_timestamp($4::float8 / 1000), lease_owner = NULL, lease_expires_at = NULL`,
        [JSON.stringify(error), runAfter], 'retry');
    },
    async release(id, token) {
      await fencedEnd(id, token, `state = 'queued', attempts = greatest(attempts - 1, 0), run_after = 'epoch', lease_owner = NULL, lease_expires_at = NULL`, [], 'released');
    },
    async requestCancel(id) {
      return tx(async (c) => {
        const cur = (await c.query<{ state: JobState }>(`SELECT state FROM ${s}.jobs WHERE id = $1 FOR UPDATE`, [id])).rows[0];
        if (!cur) return 'missing';
        if (cur.state === 'queued') {
          const r = await c.query<JobRow>(`UPDATE ${s}.jobs SET state = 'cancelled', finished_at = clock_timestamp(), updated_at = clock_timestamp(),
            lease_token = lease_token + 1 WHERE id = $1 RETURNING *`, [id]);
          await recordEvent(c, s, toJob(r.rows[0]!));
          return 'cancelled';
        }
        if (cur.state === 'running') {
          await c.query(`UPDATE ${s}.jobs SET cancel_requested = true, updated_at = clock_timestamp() WHERE id = $1`, [id]);
          return 'requested';
        }
        return 'terminal';
      });
    },
    async markCancelled(id, token) {
      await fencedEnd(id, token, `state = 'cancelled', finished_at = clock_timestamp(), lease_owner = NULL`, [], 'cancelled');
    },
    async dueForExpiry(now, limit) {
      const r = await q<JobRow>(`SELECT * FROM ${s}.jobs WHERE state = 'succeeded' AND expires_at <= to_timestamp($1::float8 / 1000)
        ORDER BY expires_at LIMIT $2`, [now, limit]);
      return r.rows.map(toJob);
    },
    async markExpired(id) {
      await q(`UPDATE ${s}.jobs SET state = 'expired', updated_at = clock_timestamp() WHERE id = $1 AND state = 'succeeded'`, [id]);
    },
    async listActive(limit, after) {
      const r = await q<{ seq: string; id: string; state: 'queued' | 'running'; run_after: Date; lease_expires_at: Date | null }>(
        `SELECT seq, id, state, run_after, lease_expires_at FROM ${s}.jobs WHERE state IN ('queued','running') AND seq > $1 ORDER BY seq LIMIT $2`,
        [decodeCursor(after, '0'), limit + 1]);
      const page = r.rows.slice(0, limit);
      const jobs: ActiveJobRef[] = page.map((j) => ({ id: j.id, state: j.state, runAfter: j.run_after.getTime(), leaseExpiresAt: j.lease_expires_at?.getTime() ?? null }));
      return { jobs, nextCursor: r.rows.length > limit ? encodeCursor(page.at(-1)!.seq) : null };
    },
    async leaseHistory(id) {
      const r = await q<{ token: number; owner: string; claimed_at: Date; expires_at: Date; last_seen_at: Date; ended_at: Date | null; end_reason: string | null }>(
        `SELECT * FROM ${s}.job_leases WHERE job_id = $1 ORDER BY token`, [id]);
      return r.rows.map((l): LeaseRecord => ({
        token: l.token, owner: l.owner, claimedAt: l.claimed_at.toISOString(), expiresAt: l.expires_at.toISOString(),
        lastSeenAt: l.last_seen_at.toISOString(), endedAt: isoOrNull(l.ended_at), endReason: l.end_reason,
      }));
    },
    webhooks: postgresOutbox(s, q, tx),
    async close() {
      await pool.end();
    },
  };
}
