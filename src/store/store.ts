/** The JobStore contract: jobs, forward-only states, leases with fencing tokens, idempotency keys. */
import type { Checkpoint } from '../core/checkpoint.js';
import type { ExportRequest, Job, JobError, JobFile, JobProgress, JobState } from '../core/job.js';

export interface NewJob {
  id: string;
  tenant: string;
  request: ExportRequest;
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
  | { kind: 'conflict'; job: Job };

export type CancelResult = 'cancelled' | 'requested' | 'terminal' | 'missing';

/**
 * Where jobs live. Every write made under a lease is fenced: it names the lease token and fails
 * with `LEASE_LOST` (changing nothing) once another worker has claimed the job.
 */
export interface JobStore {
  /** Creates the job, or returns the one created earlier with the same idempotency key. */
  create(job: NewJob, idempotency?: { key: string; hash: string }): Promise<CreateResult>;
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
}
