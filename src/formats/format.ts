/** The Format (encoder) contract: pure, synchronous, and serialisable so a resumed export writes the same bytes. */
import { ErrorCode, OffloadError } from '../core/errors.js';
import type { JsonValue, Row, TableSchema } from '../core/types.js';

/**
 * Turns rows into bytes. Encoders do no I/O. The engine calls, in order:
 * `beginTable(0)`, `encode(rows)`…, `endTable()`, [`beginTable(1)`, …], `finish()`.
 * At any point between calls, `state()` captures everything needed to continue: an encoder
 * created with that state continues as if it had never stopped.
 */
export interface Encoder {
  /** Opens table section `index` of the plan (the first call also opens the file). */
  beginTable(index: number): Uint8Array;
  /**
   * Encodes rows; reads only the first `columns.length` values of each row. The bytes returned
   * by any method are valid until the next call on this encoder (encoders may reuse one buffer).
   */
  encode(rows: readonly Row[]): Uint8Array;
  /** Closes the current table section. */
  endTable(): Uint8Array;
  /** Closes the file: the bytes returned are the last ones. */
  finish(): Uint8Array;
  /** JSON-serialisable state; restored with `Format.create(…, state)`. */
  state(): JsonValue;
}

export interface EncoderContext {
  /** One schema per table section; most formats accept exactly one. */
  tables: TableSchema[];
  /** Format options, already validated by `Format.parseOptions`. */
  options: Record<string, unknown>;
  /** Dialect of the source (`sqlite`, `postgres`, `mysql`), for formats that default to it (SQL dumps). */
  dialect?: string;
}

/**
 * A file format. Formats are registered by name in `formats/index.ts`.
 * @example const enc = csvFormat.create({ tables: [schema], options: csvFormat.parseOptions({}) });
 */
export interface Format {
  readonly name: string;
  /** File extension without dot. */
  readonly extension: string;
  readonly contentType: string;
  /** Whether several tables can go into one file (SQL dumps). Default false. */
  readonly multiTable?: boolean;
  /** `gzip` when the bytes are compressed (see `gzipped`). */
  readonly compression?: 'gzip';
  /**
   * False when these options need no rows at all (a schema-only SQL dump): the engine then skips
   * reading. Default: rows are read.
   */
  readsRows?(options: Record<string, unknown>): boolean;
  /** Validates caller options, filling defaults; throws `BAD_REQUEST` on bad input. */
  parseOptions(input: Record<string, unknown>): Record<string, unknown>;
  create(context: EncoderContext, state?: JsonValue): Encoder;
}

const utf8 = new TextEncoder();

/** UTF-8 encodes a string into a Uint8Array (Buffer-backed for speed). */
export function utf8Bytes(s: string): Uint8Array {
  return s.length === 0 ? EMPTY : Buffer.from(s, 'utf8');
}

export const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * A reusable UTF-8 output buffer for text encoders: each record is written as it is built, and
 * `take()` returns a view of the bytes, valid until the next write. Compared with concatenating
 * a whole batch into one string and converting it, this keeps no batch-sized string (or its
 * rope of pieces) on the heap and allocates no new buffer per batch.
 */
export class Utf8Output {
  private buf = Buffer.allocUnsafeSlow(64 * 1024);
  private pos = 0;

  write(s: string): void {
    // At most 3 bytes per UTF-16 unit (a surrogate pair is 4 bytes for 2 units).
    if (this.pos + s.length * 3 > this.buf.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.buf.length, this.pos + s.length * 3));
      this.buf.copy(grown, 0, 0, this.pos);
      this.buf = grown;
    }
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  take(): Uint8Array {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return out;
  }
}
export { utf8 };

/** `parseOptions` of a format that takes no options: rejects any key. */
export function noOptions(format: string): (input: Record<string, unknown>) => Record<string, unknown> {
  return (input) => {
    const unknown = Object.keys(input).filter((k) => input[k] !== undefined);
    if (unknown.length > 0) throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] [${format}] unknown option "${unknown[0]!}"`);
    return {};
  };
}

/** Throws `UNSUPPORTED_FORMAT` unless the context holds exactly one table. */
export function singleTable(format: string, context: EncoderContext): TableSchema {
  if (context.tables.length !== 1) {
    throw new OffloadError(ErrorCode.UNSUPPORTED_FORMAT, `[offload] [${format}] a ${format.toUpperCase()} file holds exactly one table`);
  }
  return context.tables[0]!;
}
