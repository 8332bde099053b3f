/** The registry of built-in formats, by name. */
import { ErrorCode, OffloadError } from '../core/errors.js';
import { csvFormat } from './csv.js';
import { gzipped } from './gzip.js';
import { jsonFormat } from './json.js';
import { ndjsonFormat } from './ndjson.js';
import { sqlFormat } from './sql.js';
import { xlsxFormat } from './xlsx/index.js';
import type { Format } from './format.js';

const formats = new Map<string, Format>([
  [csvFormat.name, csvFormat],
  [ndjsonFormat.name, ndjsonFormat],
  [jsonFormat.name, jsonFormat],
  [xlsxFormat.name, xlsxFormat],
  [sqlFormat.name, sqlFormat],
]);

export const COMPRESSIONS = Object.freeze(['none', 'gzip'] as const);
export type Compression = (typeof COMPRESSIONS)[number];

/** Names of every registered format. */
export function formatNames(): string[] {
  return [...formats.keys()];
}

/**
 * Looks a format up by name, optionally gzip-compressed; throws `UNSUPPORTED_FORMAT` with the
 * list of known ones.
 */
export function getFormat(name: string, compression: Compression | string = 'none'): Format {
  const f = formats.get(name);
  if (!f) throw new OffloadError(ErrorCode.UNSUPPORTED_FORMAT, `[offload] unknown format "${name}" (one of: ${formatNames().join(', ')})`);
  if (compression === 'none') return f;
  if (compression === 'gzip') return gzipped(f);
  throw new OffloadError(ErrorCode.UNSUPPORTED_FORMAT, `[offload] unknown compression "${compression}" (one of: ${COMPRESSIONS.join(', ')})`);
}

export { csvFormat, gzipped, jsonFormat, ndjsonFormat, sqlFormat, xlsxFormat };
export type { Encoder, EncoderContext, Format } from './format.js';
