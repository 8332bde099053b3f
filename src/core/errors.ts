/** The error family: every failure carries a stable `code` and a `retryable` verdict the runners obey. */

/** Stable error codes, shared by code, the job store and the HTTP/CLI mappings. */
export const ErrorCode = Object.freeze({
  BAD_REQUEST: 'BAD_REQUEST',
  UNKNOWN_TABLE: 'UNKNOWN_TABLE',
  UNKNOWN_COLUMN: 'UNKNOWN_COLUMN',
  INVALID_FILTER: 'INVALID_FILTER',
  NO_KEY: 'NO_KEY',
  UNSUPPORTED_FORMAT: 'UNSUPPORTED_FORMAT',
  SOURCE_NOT_FOUND: 'SOURCE_NOT_FOUND',
  SOURCE_UNREACHABLE: 'SOURCE_UNREACHABLE',
  SOURCE_AUTH: 'SOURCE_AUTH',
  SOURCE_TIMEOUT: 'SOURCE_TIMEOUT',
  SOURCE_ERROR: 'SOURCE_ERROR',
  STORAGE_ERROR: 'STORAGE_ERROR',
  /** The configured bucket (or container) does not exist. */
  STORAGE_NOT_FOUND: 'STORAGE_NOT_FOUND',
  /** The storage rejected the credentials, or none were found. */
  STORAGE_AUTH: 'STORAGE_AUTH',
  CHECKPOINT_MISMATCH: 'CHECKPOINT_MISMATCH',
  REQUEST_MISMATCH: 'REQUEST_MISMATCH',
  EXPORT_EXISTS: 'EXPORT_EXISTS',
  NOTHING_TO_RESUME: 'NOTHING_TO_RESUME',
  LEASE_LOST: 'LEASE_LOST',
  ABORTED: 'ABORTED',
  INTERNAL: 'INTERNAL',
  UNKNOWN_DATASET: 'UNKNOWN_DATASET',
  UNAUTHORIZED: 'UNAUTHORIZED',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  NOT_READY: 'NOT_READY',
  GONE: 'GONE',
  RATE_LIMITED: 'RATE_LIMITED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FORBIDDEN: 'FORBIDDEN',
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  TOO_MANY_ROWS: 'TOO_MANY_ROWS',
  RANGE_NOT_SATISFIABLE: 'RANGE_NOT_SATISFIABLE',
  /** A webhook URL is malformed, does not resolve, or resolves to a loopback/private/link-local address not allow-listed. */
  WEBHOOK_URL_REJECTED: 'WEBHOOK_URL_REJECTED',
  /** The job store (e.g. PostgreSQL) could not be reached or answered with an error. */
  STORE_ERROR: 'STORE_ERROR',
} as const);

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes that describe bad input from the caller (CLI exit 2, HTTP 4xx). */
const INPUT_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  ErrorCode.BAD_REQUEST,
  ErrorCode.UNKNOWN_TABLE,
  ErrorCode.UNKNOWN_COLUMN,
  ErrorCode.INVALID_FILTER,
  ErrorCode.NO_KEY,
  ErrorCode.UNSUPPORTED_FORMAT,
  ErrorCode.SOURCE_NOT_FOUND,
  ErrorCode.STORAGE_NOT_FOUND,
  ErrorCode.REQUEST_MISMATCH,
  ErrorCode.EXPORT_EXISTS,
  ErrorCode.NOTHING_TO_RESUME,
  ErrorCode.UNKNOWN_DATASET,
  ErrorCode.VALIDATION_FAILED,
  ErrorCode.WEBHOOK_URL_REJECTED,
]);

export interface OffloadErrorOptions {
  /** Whether running the same slice again may succeed (network blip, timeout). Default false. */
  retryable?: boolean;
  cause?: unknown;
}

/**
 * An expected failure with a stable code.
 * @example throw new OffloadError('UNKNOWN_COLUMN', '[offload] [sqlite] no column "salry" in "employees"')
 */
export class OffloadError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: OffloadErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OffloadError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }

  /** True when the error describes bad input rather than a runtime failure. */
  get isInputError(): boolean {
    return INPUT_CODES.has(this.code);
  }
}

/** Wraps anything thrown into an OffloadError, keeping the original as `cause`. */
export function toOffloadError(err: unknown, fallback: ErrorCode = ErrorCode.INTERNAL): OffloadError {
  if (err instanceof OffloadError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new OffloadError(fallback, message, { cause: err });
}

/** Thrown when a checkpoint write carries a lease token that is no longer current. */
export function leaseLost(jobId: string): OffloadError {
  return new OffloadError(ErrorCode.LEASE_LOST, `[offload] lease on export ${jobId} was taken over by another worker`);
}
