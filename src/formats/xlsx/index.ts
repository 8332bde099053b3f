/**
 * XLSX, streamed and resumable. A writer of our own (ExcelJS's streaming writer cannot continue
 * a half-written workbook): worksheets go out first as streamed zip entries, one deflate segment
 * per batch; the small parts that depend on the whole export (workbook.xml with the sheet list,
 * relationships, content types, styles) and the central directory are written at `finish()`.
 * Strings are inline (no shared-strings table), so memory does not grow with the data.
 */
import { ErrorCode, OffloadError } from '../../core/errors.js';
import type { JsonValue, Row, TableSchema } from '../../core/types.js';
import { EMPTY, utf8Bytes, Utf8Output, type Encoder, type EncoderContext, type Format } from '../format.js';
import { HEADER_DEFAULTS, headerLabels, parseHeaderOption, type HeaderOptions } from '../headers.js';
import { cellWriter, columnLetters, displayWidth, headerCell, xmlText, type CellWriter } from './cells.js';
import { emptyZipState, ZipWriter, type ZipState } from './zip.js';
import { contentTypesXml, ROOT_RELS_XML, sheetXmlHead, sheetXmlTail, STYLES_XML, workbookRelsXml, workbookXml, type SheetRef } from './parts.js';

/** Excel's last row (1,048,576); the header takes row 1 of every sheet. */
export const EXCEL_MAX_ROWS = 1_048_576;

export interface XlsxOptions extends HeaderOptions {
  /** Data rows per sheet before a new sheet starts (default and maximum: Excel's limit). */
  rowsPerSheet: number;
}

const DEFAULTS: XlsxOptions = { ...HEADER_DEFAULTS, rowsPerSheet: EXCEL_MAX_ROWS - 1 };

function parseXlsxOptions(input: Record<string, unknown>): XlsxOptions {
  const out: XlsxOptions = { ...DEFAULTS };
  const bad = (msg: string): OffloadError => new OffloadError(ErrorCode.BAD_REQUEST, `[offload] [xlsx] ${msg}`);
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    if (parseHeaderOption('xlsx', k, v, out)) {
      continue;
    } else if (k === 'rowsPerSheet') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > EXCEL_MAX_ROWS - 1) {
        throw bad(`rowsPerSheet must be an integer from 1 to ${EXCEL_MAX_ROWS - 1}`);
      }
      out.rowsPerSheet = v;
    } else {
      throw bad(`unknown option "${k}"`);
    }
  }
  return out;
}

interface XlsxState {
  zip: ZipState;
  sheets: SheetRef[];
  /** Table section being written. */
  table: number;
  /** Data rows written to the current sheet; null before its first row (sheet not opened). */
  rowsInSheet: number | null;
  /** Column widths of the current table, fixed by its first batch. */
  widths: number[] | null;
}

/** Sheet names: `Sheet1`… for one table; the table name (cut to Excel's 31 characters) for many. */
function sheetName(tables: TableSchema[], table: number, part: number, taken: Set<string>): string {
  if (tables.length === 1) return `Sheet${part}`;
  const base = tables[table]!.name.replace(/[[\]:*?/\\]/g, '_').slice(0, 31) || `Sheet${table + 1}`;
  let name = part === 1 ? base : `${base.slice(0, 25)} (${part})`;
  for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${base.slice(0, 25)} (${part}.${n})`;
  return name;
}

class XlsxEncoder implements Encoder {
  private readonly s: XlsxState;
  private readonly zip: ZipWriter;
  private readonly writers: CellWriter[][];
  private readonly letters: string[][];
  private readonly labels: string[][];
  private readonly xml = new Utf8Output();

  constructor(
    private readonly tables: TableSchema[],
    private readonly opts: XlsxOptions,
    state?: XlsxState,
  ) {
    this.s = state ? (JSON.parse(JSON.stringify(state)) as XlsxState) : { zip: emptyZipState(), sheets: [], table: 0, rowsInSheet: null, widths: null };
    this.zip = new ZipWriter(this.s.zip);
    this.writers = tables.map((t) => t.columns.map(cellWriter));
    this.letters = tables.map((t) => t.columns.map((_, i) => columnLetters(i)));
    this.labels = tables.map((t) => headerLabels('xlsx', t, opts, tables.length === 1));
  }

  beginTable(index: number): Uint8Array {
    this.s.table = index;
    this.s.rowsInSheet = null;
    this.s.widths = null;
    return EMPTY;
  }

  /** Opens a new sheet entry and writes its head and header row. */
  private openSheet(sample: readonly Row[]): Uint8Array[] {
    const t = this.s.table;
    const schema = this.tables[t]!;
    if (!this.s.widths) {
      this.s.widths = schema.columns.map((c, i) => {
        let w = Math.max(this.labels[t]![i]!.length + 2, 8);
        for (const row of sample) w = Math.max(w, displayWidth(c, row[i] ?? null) + 2);
        return Math.min(w, 60);
      });
    }
    const part = this.s.sheets.filter((x) => x.table === t).length + 1;
    const taken = new Set(this.s.sheets.map((x) => x.name.toLowerCase()));
    const number = this.s.sheets.length + 1;
    const ref: SheetRef = { name: sheetName(this.tables, t, part, taken), table: t, file: `sheet${number}.xml`, lastRow: 1, columns: schema.columns.length };
    this.s.sheets.push(ref);
    this.s.rowsInSheet = 0;
    const head = this.labels[t]!.map((l, i) => headerCell(`${this.letters[t]![i]!}1`, l)).join('');
    return [this.zip.begin(`xl/worksheets/${ref.file}`), this.zip.write(utf8Bytes(`${sheetXmlHead(this.s.widths)}<row r="1">${head}</row>`))];
  }

  private closeSheet(): Uint8Array {
    const ref = this.s.sheets[this.s.sheets.length - 1]!;
    this.s.rowsInSheet = null;
    return this.zip.end(utf8Bytes(sheetXmlTail(ref)));
  }

  encode(rows: readonly Row[]): Uint8Array {
    if (rows.length === 0) return EMPTY;
    const out: Uint8Array[] = [];
    const t = this.s.table;
    const writers = this.writers[t]!;
    const letters = this.letters[t]!;
    const width = writers.length;
    let i = 0;
    while (i < rows.length) {
      if (this.s.rowsInSheet === null) out.push(...this.openSheet(rows.slice(i)));
      else if (this.s.rowsInSheet >= this.opts.rowsPerSheet) {
        out.push(this.closeSheet());
        continue;
      }
      const ref = this.s.sheets[this.s.sheets.length - 1]!;
      const take = Math.min(rows.length - i, this.opts.rowsPerSheet - this.s.rowsInSheet!);
      let r = ref.lastRow;
      for (let j = i; j < i + take; j++) {
        const row = rows[j]!;
        r += 1;
        let xml = `<row r="${r}">`;
        for (let c = 0; c < width; c++) {
          const v = row[c]!;
          if (v !== null) xml += writers[c]!(letters[c]! + r, v);
        }
        this.xml.write(xml + '</row>');
      }
      ref.lastRow = r;
      this.s.rowsInSheet! += take;
      out.push(this.zip.write(this.xml.take()));
      i += take;
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  endTable(): Uint8Array {
    const out: Uint8Array[] = [];
    // A table without rows still gets its sheet with the header row.
    if (this.s.rowsInSheet === null && !this.s.sheets.some((x) => x.table === this.s.table)) out.push(...this.openSheet([]));
    if (this.s.rowsInSheet !== null) out.push(this.closeSheet());
    return Buffer.concat(out);
  }

  finish(): Uint8Array {
    const sheets = this.s.sheets;
    return Buffer.concat([
      this.zip.add('xl/workbook.xml', utf8Bytes(workbookXml(sheets))),
      this.zip.add('xl/_rels/workbook.xml.rels', utf8Bytes(workbookRelsXml(sheets))),
      this.zip.add('xl/styles.xml', utf8Bytes(STYLES_XML)),
      this.zip.add('_rels/.rels', utf8Bytes(ROOT_RELS_XML)),
      this.zip.add('[Content_Types].xml', utf8Bytes(contentTypesXml(sheets))),
      this.zip.finish(),
    ]);
  }

  state(): JsonValue {
    return JSON.parse(JSON.stringify(this.s)) as JsonValue;
  }
}

/**
 * @example offload export --from ./hr.db --table employees --format xlsx --out employees.xlsx
 */
export const xlsxFormat: Format = {
  name: 'xlsx',
  extension: 'xlsx',
  contentType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  multiTable: true,
  parseOptions: (input) => ({ ...parseXlsxOptions(input) }),
  create(context: EncoderContext, state?: JsonValue): Encoder {
    return new XlsxEncoder(context.tables, parseXlsxOptions(context.options), (state ?? undefined) as XlsxState | undefined);
  },
};

export { xmlText };
