/** Header labels shared by the formats with a header row (CSV, XLSX). */
import { ErrorCode, OffloadError } from '../core/errors.js';
import type { TableSchema } from '../core/types.js';

export interface HeaderOptions {
  /** Column names as they are (`raw`, default) or as titles (`hired_at` → `Hired At`). */
  headerStyle: 'raw' | 'title';
  /** Labels for some columns, overriding `headerStyle`: `{ "hired_at": "Start date" }`. */
  headers: Record<string, string>;
}

export const HEADER_DEFAULTS: HeaderOptions = Object.freeze({ headerStyle: 'raw', headers: {} }) as HeaderOptions;

/** `hired_at`, `hiredAt`, `hired-at` → `Hired At`. */
export function titleCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[\s_-]+/)
    .filter((w) => w.length > 0)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join(' ');
}

/**
 * Reads `headerStyle` or `headers` into `out`; returns false for any other option key.
 * @throws OffloadError BAD_REQUEST on a bad value
 */
export function parseHeaderOption(format: string, key: string, value: unknown, out: HeaderOptions): boolean {
  const bad = (msg: string): OffloadError => new OffloadError(ErrorCode.BAD_REQUEST, `[offload] [${format}] ${msg}`);
  if (key === 'headerStyle') {
    if (value !== 'raw' && value !== 'title') throw bad('headerStyle must be "raw" or "title"');
    out.headerStyle = value;
    return true;
  }
  if (key === 'headers') {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((l) => typeof l !== 'string')) {
      throw bad('headers must be an object of column name → label text');
    }
    out.headers = { ...(value as Record<string, string>) };
    return true;
  }
  return false;
}

/** The header label of each column; a label for a column that is not exported is an error. */
export function headerLabels(format: string, schema: TableSchema, opts: HeaderOptions, strict = true): string[] {
  const known = new Set(schema.columns.map((c) => c.name));
  if (strict) {
    for (const name of Object.keys(opts.headers)) {
      if (!known.has(name)) {
        throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] [${format}] headers: "${name}" is not an exported column (columns: ${[...known].join(', ')})`);
      }
    }
  }
  return schema.columns.map((c) => opts.headers[c.name] ?? (opts.headerStyle === 'title' ? titleCase(c.name) : c.name));
}
