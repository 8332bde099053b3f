/** Tables of the PostgreSQL job store, and migrations applied under an advisory lock (safe when processes start together). */
import type pg from 'pg';

/** Migrations, in order; `s` is the quoted schema. Never edit one that shipped: append a new one. */
const MIGRATIONS: ((s: string) => string)[] = [
  (s) => `
    CREATE TABLE ${s}.jobs (
      seq bigserial PRIMARY KEY,
      id text NOT NULL UNIQUE,
      tenant text NOT NULL,
      dataset text NOT NULL,
      format text NOT NULL,
      request json NOT NULL,
      state text NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled','expired')),
      progress json NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      error json,
      file json,
      checkpoint json,
      cancel_requested boolean NOT NULL DEFAULT false,
      lease_token integer NOT NULL DEFAULT 0,
      lease_owner text,
      lease_expires_at timestamptz,
      run_after timestamptz NOT NULL DEFAULT 'epoch',
      expires_at timestamptz,
      idempotency_key text,
      request_hash text,
      webhook_url text,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      UNIQUE (tenant, idempotency_key)
    );
    CREATE INDEX jobs_tenant_seq ON ${s}.jobs (tenant, seq);
    CREATE INDEX jobs_queued ON ${s}.jobs (run_after, seq) WHERE state = 'queued';
    CREATE INDEX jobs_running ON ${s}.jobs (lease_expires_at) WHERE state = 'running';
    CREATE INDEX jobs_expiry ON ${s}.jobs (expires_at) WHERE state = 'succeeded';
    CREATE INDEX jobs_active ON ${s}.jobs (seq) WHERE state IN ('queued','running');

    CREATE TABLE ${s}.job_leases (
      job_id text NOT NULL REFERENCES ${s}.jobs (id) ON DELETE CASCADE,
      token integer NOT NULL,
      owner text NOT NULL,
      claimed_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      last_seen_at timestamptz NOT NULL,
      ended_at timestamptz,
      end_reason text,
      PRIMARY KEY (job_id, token)
    );

    CREATE TABLE ${s}.webhook_events (
      seq bigserial PRIMARY KEY,
      id text NOT NULL UNIQUE,
      job_id text NOT NULL REFERENCES ${s}.jobs (id) ON DELETE CASCADE,
      tenant text NOT NULL,
      type text NOT NULL,
      url text NOT NULL,
      job json NOT NULL,
      state text NOT NULL CHECK (state IN ('pending','delivered','failed')),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz,
      locked_by text,
      locked_until timestamptz,
      last_error text,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      delivered_at timestamptz
    );
    CREATE INDEX webhook_events_due ON ${s}.webhook_events (next_attempt_at) WHERE state = 'pending';
    CREATE INDEX webhook_events_job ON ${s}.webhook_events (job_id, seq);

    CREATE TABLE ${s}.webhook_attempts (
      seq bigserial PRIMARY KEY,
      event_id text NOT NULL REFERENCES ${s}.webhook_events (id) ON DELETE CASCADE,
      attempt integer NOT NULL,
      owner text NOT NULL,
      at timestamptz NOT NULL,
      duration_ms integer NOT NULL,
      status_code integer,
      error text
    );
    CREATE INDEX webhook_attempts_event ON ${s}.webhook_attempts (event_id, seq);`,
];

/** Schema names are identifiers we splice into SQL, so only plain lower-case names are accepted. */
export function quoteSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name "${schema}" (lower-case letters, digits and _, max 63)`);
  return `"${schema}"`;
}

/**
 * Creates the schema and applies missing migrations. Holds a session advisory lock derived from
 * the schema name, so processes starting together apply each migration exactly once.
 */
export async function migrate(pool: pg.Pool, schema: string): Promise<number> {
  const s = quoteSchema(schema);
  const client = await pool.connect();
  let applied = 0;
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`offload:migrate:${schema}`]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${s}.offload_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set((await client.query<{ version: number }>(`SELECT version FROM ${s}.offload_migrations`)).rows.map((r) => r.version));
      for (const [i, sql] of MIGRATIONS.entries()) {
        if (done.has(i + 1)) continue;
        await client.query('BEGIN');
        try {
          await client.query(sql(s));
          await client.query(`INSERT INTO ${s}.offload_migrations (version) VALUES ($1)`, [i + 1]);
          await client.query('COMMIT');
          applied++;
        } catch (err) {
          await client.query('ROLLBACK');
          throw err;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`offload:migrate:${schema}`]);
    }
  } finally {
    client.release();
  }
  return applied;
}

export const MIGRATION_COUNT = MIGRATIONS.length;
