/** The Format (encoder) contract: pure, synchronous, and serialisable so a resumed export writes the same bytes. */
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
  /** Encodes rows; reads only the first `columns.length` values of each row. */
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
export { utf8 };
