/** The webhook outbox of the PostgreSQL job store: events written in the store's transactions, claimed with SKIP LOCKED. */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Job } from '../core/job.js';
import { eventTypeFor, type DeliveryState, type WebhookEvent, type WebhookEventType, type WebhookOutbox } from '../notify/outbox.js';

interface EventRow {
  id: string; job_id: string; tenant: string; type: string; url: string; job: Job; state: string; attempts: number;
  next_attempt_at: Date | null; last_error: string | null; created_at: Date; delivered_at: Date | null;
}

const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);

function toEvent(r: EventRow): WebhookEvent {
  return {
    id: r.id, jobId: r.job_id, tenant: r.tenant, type: r.type as WebhookEventType, url: r.url, job: r.job,
    state: r.state as DeliveryState, attempts: r.attempts, nextAttemptAt: isoOrNull(r.next_attempt_at),
    lastError: r.last_error, createdAt: r.created_at.toISOString(), deliveredAt: isoOrNull(r.delivered_at),
  };
}

type Query = <R extends pg.QueryResultRow>(text: string, params?: unknown[]) => Promise<pg.QueryResult<R>>;
type Tx = <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>;

/** Writes the event of a terminal change, on the client of the transaction that made it. */
export async function recordEvent(client: pg.PoolClient, s: string, job: Job): Promise<void> {
  const type = eventTypeFor(job.state);
  if (!type || !job.webhookUrl) return;
  await client.query(`INSERT INTO ${s}.webhook_events (id, job_id, tenant, type, url, job, state, next_attempt_at, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, 'pending', clock_timestamp(), clock_timestamp())`,
  [`evt_${randomUUID().replaceAll('-', '')}`, job.id, job.tenant, type, job.webhookUrl, JSON.stringify({ ...job, checkpoint: null })]);
}

export function postgresOutbox(s: string, q: Query, tx: Tx): WebhookOutbox {
  return {
    async claimDue(owner, lockMs, limit) {
      const r = await q<EventRow>(`
        UPDATE ${s}.webhook_events e SET locked_by = $1, locked_until = clock_timestamp() + $2::float8 * interval '1 millisecond'
        WHERE e.seq IN (
          SELECT seq FROM ${s}.webhook_events
          WHERE state = 'pending' AND next_attempt_at <= clock_timestamp() AND (locked_until IS NULL OR locked_until < clock_timestamp())
          ORDER BY next_attempt_at, seq LIMIT $3
          FOR UPDATE SKIP LOCKED)
        RETURNING e.*`, [owner, lockMs, limit]);
      return r.rows.map(toEvent).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    },
    async recordAttempt(eventId, owner, o, next) {
      await tx(async (c) => {
        const cur = (await c.query<{ attempts: number; state: string; locked_by: string | null }>(
          `SELECT attempts, state, locked_by FROM ${s}.webhook_events WHERE id = $1 FOR UPDATE`, [eventId])).rows[0];
        if (!cur) return;
        const attempt = cur.attempts + 1;
        await c.query(`INSERT INTO ${s}.webhook_attempts (event_id, attempt, owner, at, duration_ms, status_code, error)
          VALUES ($1, $2, $3, to_timestamp($4::float8 / 1000), $5, $6, $7)`, [eventId, attempt, owner, o.at, Math.round(o.durationMs), o.statusCode, o.error]);
        const moves = cur.state === 'pending' && (cur.locked_by === owner || next.state === 'delivered');
        if (!moves) {
          await c.query(`UPDATE ${s}.webhook_events SET attempts = $2 WHERE id = $1`, [eventId, attempt]);
          return;
        }
        await c.query(`UPDATE ${s}.webhook_events SET attempts = $2, state = $3,
            next_attempt_at = CASE WHEN $3 = 'pending' THEN to_timestamp($4::float8 / 1000) END, last_error = $5,
            delivered_at = CASE WHEN $3 = 'delivered' THEN to_timestamp($6::float8 / 1000) END, locked_by = NULL, locked_until = NULL
          WHERE id = $1`, [eventId, attempt, next.state, next.state === 'pending' ? next.nextAttemptAt : null, o.error, o.at]);
      });
    },
    async forJob(jobId) {
      const events = (await q<EventRow>(`SELECT * FROM ${s}.webhook_events WHERE job_id = $1 ORDER BY seq`, [jobId])).rows.map(toEvent);
      if (events.length === 0) return [];
      const attempts = (await q<{ event_id: string; attempt: number; at: Date; duration_ms: number; status_code: number | null; error: string | null }>(
        `SELECT event_id, attempt, at, duration_ms, status_code, error FROM ${s}.webhook_attempts WHERE event_id = ANY($1) ORDER BY seq`,
        [events.map((e) => e.id)])).rows;
      return events.map((e) => ({
        ...e,
        deliveries: attempts.filter((a) => a.event_id === e.id)
          .map((a) => ({ attempt: a.attempt, at: a.at.toISOString(), durationMs: a.duration_ms, statusCode: a.status_code, error: a.error })),
      }));
    },
    async prune(before) {
      const r = await q(`DELETE FROM ${s}.webhook_events WHERE state <> 'pending' AND created_at < to_timestamp($1::float8 / 1000)`, [before]);
      return r.rowCount ?? 0;
    },
  };
}
