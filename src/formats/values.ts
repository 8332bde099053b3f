/** Text renderings of cell values shared by the text formats (CSV, NDJSON, JSON). */
import type { Value } from '../core/types.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

export function base64(bytes: Uint8Array): string {
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('base64');
}

/** A value as plain text (CSV field before quoting): null is empty, blobs are base64. */
export function valueText(v: Value): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return base64(v);
  return String(v);
}

/**
 * A value as a JSON literal. Integers within ±(2^53−1) are numbers; larger ones are strings so no
 * JSON parser rounds them. Non-finite reals (NaN, ±Infinity) are strings. Blobs are base64 strings.
 * `rawJson` marks a JSON-typed column whose text is embedded as a document, not as a string.
 */
export function valueJson(v: Value, rawJson = false): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return rawJson ? v : JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : `"${String(v)}"`;
    case 'bigint':
      return v <= MAX_SAFE && v >= MIN_SAFE ? v.toString() : `"${v.toString()}"`;
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      return `"${base64(v)}"`;
  }
}
