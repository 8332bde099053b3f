/** JSON: one array of row objects, streamed; the only state is whether a row was written yet. */
import type { JsonValue, Row, TableSchema } from '../core/types.js';
import { EMPTY, utf8Bytes, Utf8Output, type Encoder, type EncoderContext, type Format, noOptions, singleTable } from './format.js';
import { rowObjectRenderer } from './ndjson.js';

class JsonEncoder implements Encoder {
  private readonly render: (row: Row) => string;
  private readonly out = new Utf8Output();
  private any: boolean;

  constructor(schema: TableSchema, state?: { any?: boolean }) {
    this.render = rowObjectRenderer(schema);
    this.any = state?.any === true;
  }

  beginTable(): Uint8Array {
    return utf8Bytes('[');
  }

  encode(rows: readonly Row[]): Uint8Array {
    if (rows.length === 0) return EMPTY;
    for (const row of rows) {
      this.out.write((this.any ? ',\n' : '\n') + this.render(row));
      this.any = true;
    }
    return this.out.take();
  }

  endTable(): Uint8Array {
    return EMPTY;
  }

  finish(): Uint8Array {
    return utf8Bytes(this.any ? '\n]\n' : ']\n');
  }

  state(): JsonValue {
    return { any: this.any };
  }
}

/** @example offload export --format json --out people.json */
export const jsonFormat: Format = {
  name: 'json',
  extension: 'json',
  contentType: 'application/json',
  parseOptions: noOptions('json'),
  create(context: EncoderContext, state?: JsonValue): Encoder {
    return new JsonEncoder(singleTable('json', context), (state ?? undefined) as { any?: boolean } | undefined);
  },
};
