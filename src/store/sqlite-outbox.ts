/** The webhook outbox of the SQLite job store: events written inside the store's transactions, claimed with leases. */
import type Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import type { Job } from '../core/job.js';
import { eventTypeFor, type DeliveryState, type WebhookAttempt, type WebhookEvent, type WebhookEventType, type WebhookOutbox } from '../notify/outbox.js';

export const OUTBOX_MIGRATION = `
  CREATE TABLE webhook_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    type TEXT NOT NULL,
    url TEXT NOT NULL,
    job TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending','delivered','failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    locked_by TEXT,
    locked_until INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT
  );
  CREATE INDEX webhook_events_due ON webhook_events (state, next_attempt_at);
  CREATE INDEX webhook_events_job ON webhook_events (job_id, seq);
  CREATE TABLE webhook_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    owner TEXT NOT NULL,
    at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT
  );
  CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, seq);`;

interface EventRow {
  id: string; job_id: string; tenant: string; type: string; url: string; job: string; state: string; attempts: number;
  next_attempt_at: number | null; last_error: string | null; created_at: string; delivered_at: string | null;
}

function toEvent(r: EventRow): WebhookEvent {
  return {
    id: r.id, jobId: r.job_id, tenant: r.tenant, type: r.type as WebhookEventType, url: r.url, job: JSON.parse(r.job) as Job,
    state: r.state as DeliveryState, attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at === null ? null : new Date(r.next_attempt_at).toISOString(),
    lastError: r.last_error, createdAt: r.created_at, deliveredAt: r.delivered_at,
  };
}

/** Outbox over an open database; `record` is called inside the store's transaction of a terminal change. */
export function sqliteOutbox(db: Database.Database): WebhookOutbox & { record(job: Job): void } {
  const insert = db.prepare(`INSERT INTO webhook_events (id, job_id, tenant, type, url, job, state, next_attempt_at, created_at)
    VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)`);
  const claimTx = db.transaction((owner: string, lockMs: number, limit: number): WebhookEvent[] => {
    const now = Date.now();
    const rows = db.prepare(`SELECT * FROM webhook_events WHERE state = 'pending' AND next_attempt_at <= ?
      AND (locked_until IS NULL OR locked_until < ?) ORDER BY next_attempt_at, seq LIMIT ?`).all(now, now, limit) as EventRow[];
    const lock = db.prepare('UPDATE webhook_events SET locked_by = ?, locked_until = ? WHERE id = ?');
    for (const r of rows) lock.run(owner, now + lockMs, r.id);
    return rows.map(toEvent);
  });
  const recordTx = db.transaction((eventId: string, owner: string, o: { at: number; durationMs: number; statusCode: number | null; error: string | null }, next: { state: string; nextAttemptAt?: number }) => {
    const r = db.prepare('SELECT attempts, state, locked_by FROM webhook_events WHERE id = ?').get(eventId) as { attempts: number; state: string; locked_by: string | null } | undefined;
    if (!r) return;
    const attempt = r.attempts + 1;
    db.prepare('INSERT INTO webhook_attempts (event_id, attempt, owner, at, duration_ms, status_code, error) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(eventId, attempt, owner, new Date(o.at).toISOString(), Math.round(o.durationMs), o.statusCode, o.error);
    const moves = r.state === 'pending' && (r.locked_by === owner || next.state === 'delivered');
    if (!moves) {
      db.prepare('UPDATE webhook_events SET attempts = ? WHERE id = ?').run(attempt, eventId);
      return;
    }
    db.prepare(`UPDATE webhook_events SET attempts = ?, state = ?, next_attempt_at = ?, last_error = ?, delivered_at = ?,
      locked_by = NULL, locked_until = NULL WHERE id = ?`)
      .run(attempt, next.state, next.state === 'pending' ? next.nextAttemptAt! : null, o.error,
        next.state === 'delivered' ? new Date(o.at).toISOString() : null, eventId);
  });

  return {
    record(job) {
      const type = eventTypeFor(job.state);
      if (!type || !job.webhookUrl) return;
      const now = new Date();
      insert.run(`evt_${randomUUID().replaceAll('-', '')}`, job.id, job.tenant, type, job.webhookUrl,
        JSON.stringify({ ...job, checkpoint: null }), now.getTime(), now.toISOString());
    },
    async claimDue(owner, lockMs, limit) {
      return claimTx.immediate(owner, lockMs, limit);
    },
    async recordAttempt(eventId, owner, outcome, next) {
      recordTx.immediate(eventId, owner, outcome, next);
    },
    async forJob(jobId) {
      const events = (db.prepare('SELECT * FROM webhook_events WHERE job_id = ? ORDER BY seq').all(jobId) as EventRow[]).map(toEvent);
      const attempts = db.prepare('SELECT attempt, at, duration_ms, status_code, error FROM webhook_attempts WHERE event_id = ? ORDER BY seq');
      return events.map((e) => ({
        ...e,
        deliveries: (attempts.all(e.id) as { attempt: number; at: string; duration_ms: number; status_code: number | null; error: string | null }[])
          .map((a): WebhookAttempt => ({ attempt: a.attempt, at: a.at, durationMs: a.duration_ms, statusCode: a.status_code, error: a.error })),
      }));
    },
    async prune(before) {
      return db.transaction(() => {
        const cutoff = new Date(before).toISOString();
        db.prepare(`DELETE FROM webhook_attempts WHERE event_id IN (SELECT id FROM webhook_events WHERE state <> 'pending' AND created_at < ?)`).run(cutoff);
        return db.prepare(`DELETE FROM webhook_events WHERE state <> 'pending' AND created_at < ?`).run(cutoff).changes;
      }).immediate();
    },
  };
}
