/** The export job: frozen states, allowed transitions, and the request schema callers send. */
import { z } from 'zod';
import { COMPRESSIONS } from '../formats/index.js';
import type { Checkpoint } from './checkpoint.js';
import { FILTER_OPS } from './types.js';

/** Job states, shared by code, SQL and the OpenAPI schema. */
export const JobState = Object.freeze({
  QUEUED: 'queued',
  RUNNING: 'running',
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  EXPIRED: 'expired',
} as const);
export type JobState = (typeof JobState)[keyof typeof JobState];
export const JOB_STATES = Object.freeze(Object.values(JobState)) as readonly JobState[];

/** States a job can still leave. */
export const ACTIVE_STATES: readonly JobState[] = Object.freeze([JobState.QUEUED, JobState.RUNNING]);
export const TERMINAL_STATES: readonly JobState[] = Object.freeze([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED]);

/** Forward-only transitions: a terminal job never changes again, except succeeded → expired. */
const NEXT: Record<JobState, readonly JobState[]> = {
  queued: ['running', 'cancelled', 'failed'],
  running: ['queued', 'succeeded', 'failed', 'cancelled'],
  succeeded: ['expired'],
  failed: [],
  cancelled: [],
  expired: [],
};

export function canMove(from: JobState, to: JobState): boolean {
  return NEXT[from].includes(to);
}

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const FilterSchema = z.object({
  column: z.string().min(1),
  op: z.enum(FILTER_OPS),
  value: z.union([scalar, z.array(scalar)]).optional(),
});

/** Body of `POST /v1/exports`. */
export const ExportRequestSchema = z.object({
  dataset: z.string().min(1).max(200),
  format: z.string().min(1).max(40),
  columns: z.array(z.string().min(1)).min(1).max(500).optional(),
  filters: z.array(FilterSchema).max(50).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
  /** `gzip` compresses the file (one gzip stream; the file name gets `.gz`). Default `none`. */
  compression: z.enum(COMPRESSIONS).optional(),
  /** Where the terminal event (export.succeeded|failed|cancelled) is POSTed; default: the tenant's. */
  webhookUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).max(2000).optional(),
}).strict();
export type ExportRequest = z.infer<typeof ExportRequestSchema>;

export interface JobProgress {
  rows: number;
  totalRows: number | null;
  percent: number | null;
  bytes: number;
  etaSeconds: number | null;
}

export interface JobError {
  code: string;
  message: string;
}

export interface JobFile {
  key: string;
  size: number;
  sha256: string;
  contentType: string;
  contentEncoding?: string;
  filename: string;
  expiresAt: string;
}

/** One export job as the store keeps it. */
export interface Job {
  id: string;
  tenant: string;
  dataset: string;
  format: string;
  request: ExportRequest;
  state: JobState;
  progress: JobProgress;
  attempts: number;
  error: JobError | null;
  file: JobFile | null;
  checkpoint: Checkpoint | null;
  cancelRequested: boolean;
  /** Where the terminal event is delivered, when the export or its tenant has a webhook. */
  webhookUrl?: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

export const EMPTY_PROGRESS: JobProgress = Object.freeze({ rows: 0, totalRows: null, percent: null, bytes: 0, etaSeconds: null });
