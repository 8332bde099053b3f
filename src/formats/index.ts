/** The registry of built-in formats, by name. */
import { ErrorCode, OffloadError } from '../core/errors.js';
import { csvFormat } from './csv.js';
import { ndjsonFormat } from './ndjson.js';
import type { Format } from './format.js';

const formats = new Map<string, Format>([
  [csvFormat.name, csvFormat],
  [ndjsonFormat.name, ndjsonFormat],
]);

/** Names of every registered format. */
export function formatNames(): string[] {
  return [...formats.keys()];
}

/** Looks a format up by name; throws `UNSUPPORTED_FORMAT` with the list of known ones. */
export function getFormat(name: string): Format {
  const f = formats.get(name);
  if (!f) throw new OffloadError(ErrorCode.UNSUPPORTED_FORMAT, `[offload] unknown format "${name}" (one of: ${formatNames().join(', ')})`);
  return f;
}

export { csvFormat, ndjsonFormat };
export type { Encoder, EncoderContext, Format } from './format.js';
