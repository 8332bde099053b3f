/** XLSX read back with ExcelJS: typed cells, header styling, sheet overflow, truncation, a valid zip. */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createExporter, fsStorage, sqliteSource, xlsxFormat } from '../../src/index.js';
import { dateSerial, decimalFitsDouble, fitCell, MAX_CELL_CHARS, TRUNCATION_MARKER, xmlText } from '../../src/formats/xlsx/cells.js';
import { tempDir } from '../helpers/sqlite-fixture.js';

const LONG = 'é'.repeat(40_000);

describe('xlsx', () => {
  let dir: string;
  let db: string;
  beforeAll(() => {
    dir = tempDir('offload-xlsx-');
    db = join(dir, 'typed.db');
    const d = new Database(db);
    d.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, dec DECIMAL(30,10), flag BOOLEAN, day DATE, ts TIMESTAMP, tm TIME, txt TEXT, bin BLOB);
      CREATE TABLE many (id INTEGER PRIMARY KEY, v TEXT);
      CREATE TABLE other (k TEXT PRIMARY KEY, n REAL);`);
    const ins = d.prepare('INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    ins.run(1, 42, 1.5, '12.5', 1, '2024-02-29', '2024-02-29 13:45:10.250', '13:45:10', 'comma, "quote"\nline', Buffer.from([0, 1, 2, 255]));
    ins.run(2, 9007199254740993n, -0.25, '-3.25', 0, '1899-01-01', 'not a date', '25:99', ' padded ', Buffer.alloc(0));
    ins.run(3, -7, 1e21, null, null, null, '2024-01-01T23:00:00+02:00', null, LONG, null);
    ins.run(4, null, null, null, null, null, null, null, 'a\rb <&> _x0041_ \u0001', null);
    const many = d.prepare('INSERT INTO many VALUES (?, ?)');
    d.transaction(() => { for (let i = 1; i <= 2500; i++) many.run(i, `v${i}`); })();
    d.prepare('INSERT INTO other VALUES (?, ?)').run('a', 0.5);
    d.close();
  });

  async function exportXlsx(tables: string[], key: string, formatOptions: Record<string, unknown> = {}): Promise<ExcelJS.Workbook> {
    const source = sqliteSource({ path: db });
    try {
      const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: 300 });
      const out = await exporter.run({ source, tables: tables.map((table) => ({ table })), format: xlsxFormat, formatOptions, key });
      expect(out.status).toBe('succeeded');
    } finally {
      await source.close();
    }
    execFileSync('unzip', ['-tq', join(dir, key)]); // every CRC and size in the archive checks out
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.readFile(join(dir, key));
    return wb;
  }

  it('every cell has the value and type of the source', async () => {
    const wb = await exportXlsx(['t'], 't.xlsx', { headerStyle: 'title', headers: { tm: 'Time of day' } });
    expect(wb.worksheets.map((w) => w.name)).toEqual(['Sheet1']);
    const ws = wb.worksheets[0]!;
    const values = (r: number): unknown[] => (ws.getRow(r).values as unknown[]).slice(1);
    expect(values(1)).toEqual(['Id', 'I', 'R', 'Dec', 'Flag', 'Day', 'Ts', 'Time of day', 'Txt', 'Bin']);
    expect(values(2)).toEqual([1, 42, 1.5, 12.5, 1, new Date('2024-02-29T00:00:00Z'), new Date('2024-02-29T13:45:10.250Z'), new Date('1899-12-30T13:45:10Z'), 'comma, "quote"\nline', 'AAEC/w==']);
    // Beyond 2^53: exact text, never a rounded number. Dates Excel cannot show stay text.
    // (Decimals beyond 15 digits are covered below: SQLite itself stores them as REAL.)
    const r2 = values(3);
    expect(r2.slice(0, 9)).toEqual([2, '9007199254740993', -0.25, -3.25, 0, '1899-01-01', 'not a date', '25:99', ' padded ']);
    expect(r2[9] ?? '').toBe(''); // an empty blob is an empty string cell, which ExcelJS reads as no value
    const r3 = values(4);
    expect(r3.slice(0, 3)).toEqual([3, -7, 1e21]);
    expect(r3[6]).toEqual(new Date('2024-01-01T21:00:00Z')); // offsets are applied: Excel has no zones, times are UTC
    expect((r3[8] as string).length).toBe(MAX_CELL_CHARS);
    expect((r3[8] as string).endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(values(5)[0]).toBe(4);
    expect(values(5).slice(1, 8).every((v) => v === undefined || v === null)).toBe(true);
    // SpreadsheetML escapes: Excel decodes them; ExcelJS may hand them over as written.
    expect(['a\rb <&> _x005F_x0041_ _x0001_', 'a\rb <&> _x0041_ \u0001']).toContain(values(5)[8]);
    // Types, not only values: numbers are numeric cells, dates are date cells with a date format.
    expect(ws.getCell('B3').type).toBe(ExcelJS.ValueType.String);
    expect(ws.getCell('C2').type).toBe(ExcelJS.ValueType.Number);
    expect(ws.getCell('F2').type).toBe(ExcelJS.ValueType.Date);
    expect(ws.getCell('F2').numFmt).toBe('yyyy-mm-dd');
    expect(ws.getCell('G2').numFmt).toBe('yyyy-mm-dd hh:mm:ss');
    // Header: bold, frozen, with an autofilter over the data; widths from the first batch.
    expect(ws.getCell('A1').font?.bold).toBe(true);
    expect(ws.views[0]).toMatchObject({ state: 'frozen', ySplit: 1 });
    expect(ws.autoFilter).toBe('A1:J5');
    expect(ws.getColumn(9).width).toBe(60);
    expect(ws.getColumn(1).width).toBe(8);
  });

  it('continues on Sheet2, Sheet3… with the header repeated when a sheet is full', async () => {
    const wb = await exportXlsx(['many'], 'many.xlsx', { rowsPerSheet: 1000 });
    expect(wb.worksheets.map((w) => [w.name, w.rowCount])).toEqual([['Sheet1', 1001], ['Sheet2', 1001], ['Sheet3', 501]]);
    const ids: unknown[] = [];
    for (const ws of wb.worksheets) {
      expect((ws.getRow(1).values as unknown[]).slice(1)).toEqual(['id', 'v']);
      ws.eachRow((row, n) => { if (n > 1) ids.push(row.getCell(1).value); });
    }
    expect(ids).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1));
  });

  it('several tables become one sheet each, named after the table; an empty table keeps its header', async () => {
    const d = new Database(db);
    d.exec('CREATE TABLE IF NOT EXISTS nada (id INTEGER PRIMARY KEY, label TEXT)');
    d.close();
    const wb = await exportXlsx(['other', 'nada'], 'two.xlsx');
    expect(wb.worksheets.map((w) => w.name)).toEqual(['other', 'nada']);
    expect((wb.worksheets[0]!.getRow(2).values as unknown[]).slice(1)).toEqual(['a', 0.5]);
    expect(wb.worksheets[1]!.rowCount).toBe(1);
    expect((wb.worksheets[1]!.getRow(1).values as unknown[]).slice(1)).toEqual(['id', 'label']);
  });

  it('cell helpers: date range, decimals, escaping, truncation at a surrogate pair', () => {
    expect(dateSerial('1900-03-01')).toBe(61);
    expect(dateSerial('1900-02-28')).toBeNull();
    expect(dateSerial('1970-01-01T00:00:00Z')).toBe(25569);
    expect(dateSerial('10000-01-01')).toBeNull();
    expect(decimalFitsDouble('123456789012345')).toBe(true);
    expect(decimalFitsDouble('1234567890123456')).toBe(false);
    expect(decimalFitsDouble('0.000000000000001000')).toBe(true);
    expect(decimalFitsDouble('NaN')).toBe(false);
    expect(xmlText('\u0000\ud800x')).toBe('_x0000__xD800_x');
    const emoji = `${'a'.repeat(MAX_CELL_CHARS - TRUNCATION_MARKER.length - 1)}${'🚀'.repeat(10)}`;
    const cut = fitCell(emoji);
    expect(cut.length).toBeLessThanOrEqual(MAX_CELL_CHARS);
    expect(cut.endsWith(`a${TRUNCATION_MARKER}`)).toBe(true);
  });
});
