/** Lossless JSON encoding of cell values (bigint, bytes) for checkpoints and cursors. */
import type { JsonValue, KeyTuple, Value } from './types.js';

/** Encodes a value so that `decodeValue(encodeValue(v))` is equal to `v`, bigint and bytes included. */
export function encodeValue(v: Value): JsonValue {
  if (typeof v === 'bigint') return { $bigint: v.toString() };
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (typeof v === 'number' && !Number.isFinite(v)) return { $number: String(v) };
  return v;
}

export function decodeValue(j: JsonValue): Value {
  if (j !== null && typeof j === 'object' && !Array.isArray(j)) {
    if (typeof j.$bigint === 'string') return BigInt(j.$bigint);
    if (typeof j.$bytes === 'string') return new Uint8Array(Buffer.from(j.$bytes, 'base64'));
    if (typeof j.$number === 'string') return Number(j.$number);
  }
  if (Array.isArray(j) || (j !== null && typeof j === 'object')) {
    throw new TypeError(`[offload] not an encoded value: ${JSON.stringify(j)}`);
  }
  return j;
}

export function encodeKey(key: KeyTuple | null): JsonValue {
  return key === null ? null : key.map(encodeValue);
}

export function decodeKey(j: JsonValue): KeyTuple | null {
  if (j === null) return null;
  if (!Array.isArray(j)) throw new TypeError('[offload] cursor key must be an array');
  return j.map(decodeValue);
}
