/** NDJSON: one JSON object per line, keys in column order, big integers exact (see values.ts). */
import type { JsonValue, Row, TableSchema } from '../core/types.js';
import { EMPTY, Utf8Output, type Encoder, type EncoderContext, type Format, noOptions, singleTable } from './format.js';
import { valueJson } from './values.js';

/** Renders one row as a JSON object literal with keys in column order. */
export function rowObjectRenderer(schema: TableSchema): (row: Row) => string {
  const prefixes = schema.columns.map((c, i) => (i === 0 ? '{' : ',') + JSON.stringify(c.name) + ':');
  const raw = schema.columns.map((c) => c.type === 'json');
  const width = prefixes.length;
  return (row) => {
    if (width === 0) return '{}';
    let s = '';
    for (let i = 0; i < width; i++) s += prefixes[i]! + valueJson(row[i]!, raw[i]);
    return s + '}';
  };
}

class NdjsonEncoder implements Encoder {
  private readonly render: (row: Row) => string;
  private readonly out = new Utf8Output();

  constructor(schema: TableSchema) {
    this.render = rowObjectRenderer(schema);
  }

  beginTable(): Uint8Array {
    return EMPTY;
  }

  encode(rows: readonly Row[]): Uint8Array {
    for (const row of rows) this.out.write(this.render(row) + '\n');
    return this.out.take();
  }

  endTable(): Uint8Array {
    return EMPTY;
  }

  finish(): Uint8Array {
    return EMPTY;
  }

  state(): JsonValue {
    return {};
  }
}

/** @example offload export --format ndjson --out people.ndjson */
export const ndjsonFormat: Format = {
  name: 'ndjson',
  extension: 'ndjson',
  contentType: 'application/x-ndjson',
  parseOptions: noOptions('ndjson'),
  create(context: EncoderContext): Encoder {
    return new NdjsonEncoder(singleTable('ndjson', context));
  },
};
