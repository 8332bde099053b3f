/** The webhook outbox contract: events written with terminal state changes, claimed and delivered by dispatchers. */
import type { Job, JobState } from '../core/job.js';

/** Event types, one per terminal state that notifies. */
export const WebhookEventType = Object.freeze({
  SUCCEEDED: 'export.succeeded',
  FAILED: 'export.failed',
  CANCELLED: 'export.cancelled',
} as const);
export type WebhookEventType = (typeof WebhookEventType)[keyof typeof WebhookEventType];

/** The event a terminal state produces (null: the state does not notify). */
export function eventTypeFor(state: JobState): WebhookEventType | null {
  if (state === 'succeeded') return WebhookEventType.SUCCEEDED;
  if (state === 'failed') return WebhookEventType.FAILED;
  if (state === 'cancelled') return WebhookEventType.CANCELLED;
  return null;
}

/** Delivery states of an event. `failed`: gave up (too old, or the URL was refused). */
export const DeliveryState = Object.freeze({ PENDING: 'pending', DELIVERED: 'delivered', FAILED: 'failed' } as const);
export type DeliveryState = (typeof DeliveryState)[keyof typeof DeliveryState];

/** One event in the outbox. */
export interface WebhookEvent {
  /** `evt_…`, unique; receivers dedupe on it (a delivery may be repeated). */
  id: string;
  jobId: string;
  tenant: string;
  type: WebhookEventType;
  url: string;
  /** The job as it was when it reached its terminal state (without its checkpoint). */
  job: Job;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

/** One delivery attempt. */
export interface WebhookAttempt {
  attempt: number;
  at: string;
  durationMs: number;
  /** HTTP status, or null when no response came (refused, timeout, connection error). */
  statusCode: number | null;
  error: string | null;
}

export interface AttemptOutcome {
  at: number;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
}

/** What becomes of the event after an attempt. */
export type NextDelivery =
  | { state: 'delivered' }
  | { state: 'pending'; nextAttemptAt: number }
  | { state: 'failed' };

/**
 * Where events wait for delivery. Claims are leases: an event claimed by a dispatcher that dies
 * becomes claimable again once `lockMs` has passed, so no event is lost.
 */
export interface WebhookOutbox {
  /** Claims up to `limit` pending events that are due and not held by a live claim. */
  claimDue(owner: string, lockMs: number, limit: number): Promise<WebhookEvent[]>;
  /**
   * Logs one attempt and moves the event on. Only the dispatcher holding the claim moves a
   * pending event back to pending or to failed; a success counts from anyone.
   */
  recordAttempt(eventId: string, owner: string, outcome: AttemptOutcome, next: NextDelivery): Promise<void>;
  /** The job's events with their attempts, oldest first. */
  forJob(jobId: string): Promise<(WebhookEvent & { deliveries: WebhookAttempt[] })[]>;
  /** Deletes delivered and failed events created before `before` (epoch ms); returns how many. */
  prune(before: number): Promise<number>;
}
