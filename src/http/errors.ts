/** The one place where errors become HTTP responses: `{error: {code, message}}`, never a stack trace. */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ErrorCode, OffloadError } from '../core/errors.js';

const STATUS: Partial<Record<ErrorCode, ContentfulStatusCode>> = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  NOT_READY: 409,
  GONE: 410,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_ROWS: 413,
  RANGE_NOT_SATISFIABLE: 416,
  VALIDATION_FAILED: 422,
  BAD_REQUEST: 422,
  UNKNOWN_DATASET: 422,
  UNKNOWN_COLUMN: 422,
  INVALID_FILTER: 422,
  UNSUPPORTED_FORMAT: 422,
  RATE_LIMITED: 429,
  SOURCE_UNREACHABLE: 503,
  WEBHOOK_URL_REJECTED: 400,
  STORE_ERROR: 503,
};

/** An error meant for the caller, with optional response headers (Retry-After, WWW-Authenticate). */
export class HttpError extends OffloadError {
  constructor(code: ErrorCode, message: string, readonly headers: Record<string, string> = {}) {
    super(code, message);
  }
}

export function errorResponse(c: Context, err: unknown, log?: (line: string) => void): Response {
  if (err instanceof OffloadError) {
    const status = STATUS[err.code] ?? 500;
    if (status === 500) log?.(`[offload] [http] ${c.req.method} ${c.req.path}: ${err.code}: ${err.message}`);
    const headers = err instanceof HttpError ? err.headers : {};
    const message = status === 500 ? 'internal error' : err.message.replace(/^\[offload\]\s*(\[[a-z]+\]\s*)?/, '');
    return c.json({ error: { code: err.code, message } }, status, headers);
  }
  log?.(`[offload] [http] ${c.req.method} ${c.req.path}: ${(err as Error).stack ?? String(err)}`);
  return c.json({ error: { code: ErrorCode.INTERNAL, message: 'internal error' } }, 500);
}
