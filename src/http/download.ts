/** File downloads with Content-Disposition, ETag and single byte ranges (206), streamed from storage. */
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { ErrorCode } from '../core/errors.js';
import type { JobFile } from '../core/job.js';
import type { Storage } from '../storage/storage.js';
import { HttpError } from './errors.js';

/** Parses one `bytes=` range against a size; null means "send everything" (absent or multi-range). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) {
    if (/^bytes=.+,/.test(header)) return null; // several ranges: answering with the whole file is allowed
    throw new HttpError(ErrorCode.RANGE_NOT_SATISFIABLE, `malformed Range "${header}"`, { 'Content-Range': `bytes */${size}` });
  }
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) {
    throw new HttpError(ErrorCode.RANGE_NOT_SATISFIABLE, `range ${header} is outside the ${size}-byte file`, { 'Content-Range': `bytes */${size}` });
  }
  return { start, end };
}

function disposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

export async function sendFile(c: Context, storage: Storage, file: JobFile): Promise<Response> {
  const etag = `"${file.sha256}"`;
  const ifRange = c.req.header('if-range');
  const range = ifRange && ifRange !== etag ? null : parseRange(c.req.header('range'), file.size);
  const headers: Record<string, string> = {
    'Content-Type': file.contentType,
    'Content-Disposition': disposition(file.filename),
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Cache-Control': 'private, no-store',
  };
  if (file.contentEncoding) headers['Content-Encoding'] = file.contentEncoding;
  if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers);
  if (file.size === 0) return c.body('', 200, { ...headers, 'Content-Length': '0' });
  const stream = await storage.read(file.key, range ?? undefined);
  const body = Readable.toWeb(stream) as ReadableStream<Uint8Array>;
  if (range) {
    headers['Content-Range'] = `bytes ${range.start}-${range.end}/${file.size}`;
    headers['Content-Length'] = String(range.end - range.start + 1);
    return c.body(body, 206, headers);
  }
  headers['Content-Length'] = String(file.size);
  return c.body(body, 200, headers);
}
