/** CSV per RFC 4180: quotes only where needed, doubled quotes, header row, CRLF by default. */
import { ErrorCode, OffloadError } from '../core/errors.js';
import type { JsonValue, Row, TableSchema } from '../core/types.js';
import { EMPTY, utf8Bytes, Utf8Output, type Encoder, type EncoderContext, type Format, singleTable } from './format.js';
import { valueText } from './values.js';
import { HEADER_DEFAULTS, headerLabels, parseHeaderOption, type HeaderOptions } from './headers.js';

export interface CsvOptions extends HeaderOptions {
  /** Field separator: `,` (default), `;` or tab. */
  delimiter: ',' | ';' | '\t';
  /** Write a header row of column names. Default true. */
  header: boolean;
  /** Record separator. Default `\r\n` (RFC 4180). */
  newline: '\r\n' | '\n';
  /** Start the file with a UTF-8 byte-order mark (helps Excel). Default false. */
  bom: boolean;
}

const DEFAULTS: CsvOptions = { delimiter: ',', header: true, newline: '\r\n', bom: false, ...HEADER_DEFAULTS };

/** Validates CSV options, filling defaults (accepts `tab`, `crlf`, `lf` as names). */
export function parseCsvOptions(input: Record<string, unknown>): CsvOptions {
  const out: CsvOptions = { ...DEFAULTS };
  const bad = (msg: string): OffloadError => new OffloadError(ErrorCode.BAD_REQUEST, `[offload] [csv] ${msg}`);
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    if (k === 'delimiter') {
      const d = v === 'tab' ? '\t' : v;
      if (d !== ',' && d !== ';' && d !== '\t') throw bad(`delimiter must be ",", ";" or tab, got ${JSON.stringify(v)}`);
      out.delimiter = d;
    } else if (k === 'header' || k === 'bom') {
      if (typeof v !== 'boolean') throw bad(`${k} must be true or false`);
      out[k] = v;
    } else if (parseHeaderOption('csv', k, v, out)) {
      continue;
    } else if (k === 'newline') {
      const n = v === 'crlf' ? '\r\n' : v === 'lf' ? '\n' : v;
      if (n !== '\r\n' && n !== '\n') throw bad('newline must be "crlf" or "lf"');
      out.newline = n;
    } else {
      throw bad(`unknown option "${k}"`);
    }
  }
  return out;
}

class CsvEncoder implements Encoder {
  private readonly needsQuote: RegExp;
  private readonly width: number;
  private readonly labels: string[];
  private readonly out = new Utf8Output();

  constructor(
    schema: TableSchema,
    private readonly opts: CsvOptions,
  ) {
    this.needsQuote = opts.delimiter === '\t' ? /["\t\r\n]/ : opts.delimiter === ';' ? /[";\r\n]/ : /[",\r\n]/;
    this.width = schema.columns.length;
    this.labels = headerLabels('csv', schema, opts);
  }

  private field(s: string): string {
    return this.needsQuote.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  }

  beginTable(): Uint8Array {
    let head = this.opts.bom ? '\uFEFF' : '';
    if (this.opts.header) head += this.labels.map((l) => this.field(l)).join(this.opts.delimiter) + this.opts.newline;
    return utf8Bytes(head);
  }

  encode(rows: readonly Row[]): Uint8Array {
    const { delimiter, newline } = this.opts;
    const width = this.width;
    const out = this.out;
    for (const row of rows) {
      let line = '';
      for (let i = 0; i < width; i++) {
        const v = row[i]!;
        if (i > 0) line += delimiter;
        if (v === null) continue;
        line += typeof v === 'string' ? this.field(v) : typeof v === 'number' || typeof v === 'bigint' ? String(v) : this.field(valueText(v));
      }
      out.write(line + newline);
    }
    return out.take();
  }

  endTable(): Uint8Array {
    return EMPTY;
  }

  finish(): Uint8Array {
    return EMPTY;
  }

  state(): JsonValue {
    // Every record is encoded from its row alone: nothing to carry between slices.
    return {};
  }
}

/** @example offload export --format csv --out people.csv */
export const csvFormat: Format = {
  name: 'csv',
  extension: 'csv',
  contentType: 'text/csv; charset=utf-8',
  parseOptions: (input) => ({ ...parseCsvOptions(input) }),
  create(context: EncoderContext): Encoder {
    return new CsvEncoder(singleTable('csv', context), parseCsvOptions(context.options));
  },
};
