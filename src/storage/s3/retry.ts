/** Per-operation retries for S3 calls (backoff with full jitter) and the mapping of S3 failures to OffloadError. */
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, OffloadError } from '../../core/errors.js';

/** How often and how patiently one S3 operation (one part, one completion…) is retried. */
export interface RetryPolicy {
  /** Tries per operation, the first included. Default 6. */
  attempts: number;
  /** Backoff ceiling for the first retry; doubles on each retry. Default 200 ms. */
  baseDelayMs: number;
  /** Largest wait between two tries. Default 10 s. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ attempts: 6, baseDelayMs: 200, maxDelayMs: 10_000 });

/** The fields of an AWS SDK v3 service exception (or a Node network error) this module reads. */
interface AwsLikeError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const THROTTLE_OR_TRANSIENT = new Set([
  'SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded',
  'RequestTimeout', 'RequestTimeoutException', 'InternalError', 'ServiceUnavailable', 'TimeoutError',
]);
const NETWORK_CODES = new Set([
  'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'ECONNABORTED', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'UND_ERR_SOCKET',
]);

export function statusOf(err: unknown): number | undefined {
  return (err as AwsLikeError | null)?.$metadata?.httpStatusCode;
}

export function nameOf(err: unknown): string {
  const e = err as AwsLikeError | null;
  return e?.name ?? e?.Code ?? '';
}

/**
 * True for failures worth another try: 5xx, throttling (429, SlowDown) and connections that
 * dropped or timed out. Client errors (4xx: auth, missing bucket, bad request) are final.
 */
export function isRetryable(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as AwsLikeError;
  if (e.name === 'AbortError' || e.name === 'CredentialsProviderError') return false;
  const status = statusOf(err);
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (THROTTLE_OR_TRANSIENT.has(nameOf(err))) return true;
  if (e.code !== undefined && NETWORK_CODES.has(e.code)) return true;
  // Without an HTTP status the request never got a complete answer: the connection dropped
  // mid-request or mid-response (the SDK then reports a socket or a parse error).
  if (status === undefined || e.$retryable) {
    return /socket hang up|ECONNRESET|EPIPE|premature close|aborted|terminated|other side closed|Deserialization error|timed? ?out/i.test(e.message ?? '');
  }
  return false;
}

/** Full jitter: a uniform wait in [0, min(max, base·2^(retry−1))]. */
export function backoffMs(policy: RetryPolicy, retry: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(Math.random() * ceiling);
}

/**
 * Runs `op` until it succeeds, fails with a final error, or runs out of attempts; the last
 * failure becomes a retryable STORAGE_ERROR, so the runner retries the slice later.
 *
 * Hand-rolled rather than the SDK's retry strategy (which the client disables with
 * `maxAttempts: 1`): the SDK shares one retry quota per client, which a burst of failures can
 * drain for every later part, and it cannot tell the caller which part gave up.
 *
 * @example await withRetry(DEFAULT_RETRY, 'upload part 3 of exports/a.csv', () => client.send(cmd));
 */
export async function withRetry<T>(policy: RetryPolicy, what: string, op: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op(attempt);
    } catch (err) {
      if (err instanceof OffloadError) throw err;
      if (!isRetryable(err)) throw s3Failure(what, err);
      if (attempt >= policy.attempts) {
        throw new OffloadError(ErrorCode.STORAGE_ERROR, `[offload] [s3] ${what} failed after ${attempt} attempts: ${describe(err)}`, { cause: err, retryable: true });
      }
      await sleep(backoffMs(policy, attempt));
    }
  }
}

export function describe(err: unknown): string {
  const status = statusOf(err);
  const name = nameOf(err);
  const message = (err as AwsLikeError | null)?.message ?? String(err);
  const head = [name && name !== 'Error' ? name : '', status !== undefined ? `HTTP ${status}` : ''].filter(Boolean).join(', ');
  return head ? `${head}: ${message}` : message;
}

/** Maps a final S3 failure to an OffloadError with a code the CLI and runners understand. */
export function s3Failure(what: string, err: unknown): OffloadError {
  const status = statusOf(err);
  const name = nameOf(err);
  if (name === 'NoSuchBucket') {
    return new OffloadError(ErrorCode.STORAGE_NOT_FOUND, `[offload] [s3] ${what}: the bucket does not exist`, { cause: err });
  }
  if (name === 'CredentialsProviderError') {
    return new OffloadError(ErrorCode.STORAGE_AUTH, `[offload] [s3] ${what}: no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or the storage's credentials)`, { cause: err });
  }
  if (status === 403 || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'AccessDenied') {
    return new OffloadError(ErrorCode.STORAGE_AUTH, `[offload] [s3] ${what}: access denied (${describe(err)}); check the credentials and the bucket policy`, { cause: err });
  }
  return new OffloadError(ErrorCode.STORAGE_ERROR, `[offload] [s3] ${what}: ${describe(err)}`, { cause: err, retryable: isRetryable(err) });
}
