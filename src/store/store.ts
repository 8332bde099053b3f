/** The JobStore contract: jobs, forward-only states, leases with fencing tokens, idempotency keys. */
import type { Checkpoint } from '../core/checkpoint.js';
import type { ExportRequest, Job, JobError, JobFile, JobProgress, JobState } from '../core/job.js';
import type { WebhookOutbox } from '../notify/outbox.js';

export interface NewJob {
  id: string;
  tenant: string;
  request: ExportRequest;
  /** Where this export's terminal event is delivered (its own `webhookUrl` or its tenant's default). */
  webhookUrl?: string | null;
}

/** A claimed job and the fencing token every write under this lease must carry. */
export interface Lease {
  job: Job;
  token: number;
}

export interface ListOptions {
  state?: JobState;
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

export type CreateResult =
  | { kind: 'created'; job: Job }
  | { kind: 'existing'; job: Job }
  | { kind: 'conflict'; job: Job }
  /** The tenant already has `maxActive` queued or running exports; nothing was created. */
  | { kind: 'limited'; active: number };

export type CancelResult = 'cancelled' | 'requested' | 'terminal' | 'missing';

/** Outcome of claiming one named job (queue runners, where the queue picks the job and the store decides). */
export type ClaimByIdResult =
  | { kind: 'claimed'; lease: Lease }
  | { kind: 'missing' }
  | { kind: 'terminal'; state: JobState }
  /** Another worker holds a live lease until `until` (epoch ms). */
  | { kind: 'busy'; until: number }
  /** Queued for a retry that is not due before `until` (epoch ms). */
  | { kind: 'later'; until: number };

/** A queued or running job, as a queue runner's reconciler needs to see it. */
export interface ActiveJobRef {
  id: string;
  state: 'queued' | 'running';
  /** Epoch ms before which a queued job is not claimable (0: now). */
  runAfter: number;
  /** Epoch ms when a running job's lease lapses. */
  leaseExpiresAt: number | null;
}

/** One lease of a job: who held which token, and when (the store's own clock). */
export interface LeaseRecord {
  token: number;
  owner: string;
  claimedAt: string;
  /** When the lease lapses (last renewal + lease length). */
  expiresAt: string;
  /** Last write accepted under this token (claim, renewal, checkpoint, progress, end). */
  lastSeenAt: string;
  endedAt: string | null;
  /** succeeded, failed, retry, released, cancelled, or lapsed (another worker claimed after expiry). */
  endReason: string | null;
}

/**
 * Where jobs live. Every write made under a lease is fenced: it names the lease token and fails
 * with `LEASE_LOST` (changing nothing) once another worker has claimed the job.
 */
export interface JobStore {
  /** Creates the job, or returns the one created earlier with the same idempotency key. */
  /**
   * Creates a queued job. With `maxActive`, the tenant's count of queued and running jobs is
   * checked in the same transaction (serialised per tenant), so concurrent requests cannot pass
   * the limit together.
   */
  create(job: NewJob, idempotency?: { key: string; hash: string }, limits?: { maxActive?: number }): Promise<CreateResult>;
  get(id: string): Promise<Job | null>;
  /** The job created with this idempotency key, and the hash of its request. */
  findByIdempotencyKey(tenant: string, key: string): Promise<{ job: Job; hash: string } | null>;
  /** A tenant's jobs, newest first. */
  list(tenant: string, options: ListOptions): Promise<{ jobs: Job[]; nextCursor: string | null }>;
  /** Jobs of the tenant that are queued or running. */
  countActive(tenant: string): Promise<number>;
  /**
   * Claims the next runnable job (queued and due, or running with a lapsed lease), fair across
   * tenants: the tenant with the fewest running jobs goes first. Increments the lease token.
   */
  claim(owner: string, leaseMs: number): Promise<Lease | null>;
  /** Extends the lease; throws LEASE_LOST when it was taken over. Returns whether cancel was requested. */
  renew(id: string, token: number, leaseMs: number): Promise<{ cancelRequested: boolean }>;
  saveCheckpoint(id: string, token: number, checkpoint: Checkpoint, progress: JobProgress): Promise<void>;
  saveProgress(id: string, token: number, progress: JobProgress): Promise<void>;
  succeed(id: string, token: number, file: JobFile, progress: JobProgress): Promise<void>;
  fail(id: string, token: number, error: JobError): Promise<void>;
  /** Back to queued, not before `runAfter` (epoch ms), keeping the checkpoint. */
  retry(id: string, token: number, error: JobError, runAfter: number): Promise<void>;
  /** Gives the lease up (shutdown): the job is queued again and resumes from its checkpoint. */
  release(id: string, token: number): Promise<void>;
  /** Queued → cancelled at once; running → cancel requested (the worker finishes it). */
  requestCancel(id: string): Promise<CancelResult>;
  /** The worker's side of a cancel: running → cancelled. */
  markCancelled(id: string, token: number): Promise<void>;
  /** Succeeded jobs whose file expired before `now` (epoch ms). */
  dueForExpiry(now: number, limit: number): Promise<Job[]>;
  markExpired(id: string): Promise<void>;
  close(): Promise<void>;
  /**
   * Claims this job if it is runnable now (queued and due, or running with a lapsed lease), else
   * says why not. Optional: needed by queue runners (BullMQ), where the queue chooses the job.
   */
  claimById?(id: string, owner: string, leaseMs: number): Promise<ClaimByIdResult>;
  /** Queued and running jobs of every tenant, oldest first, a page after `after`. Optional, for queue reconcilers. */
  listActive?(limit: number, after?: string): Promise<{ jobs: ActiveJobRef[]; nextCursor: string | null }>;
  /** Every lease the job had, by token. Optional (audit, and the tests' proof that no job ran twice at once). */
  leaseHistory?(id: string): Promise<LeaseRecord[]>;
  /**
   * The webhook outbox. Stores that have one write an event in the same transaction as every
   * terminal state change of a job with a webhook URL. Optional.
   */
  readonly webhooks?: WebhookOutbox;
}
