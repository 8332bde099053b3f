/**
 * Baseline for the XLSX comparison: the usual design with ExcelJS's streaming WorkbookWriter,
 * rows read with a streaming SQLite iterator. Dates become JS Dates and numbers stay numbers, so
 * the workbook holds the same typed cells as Offload's.
 * Usage: node --import tsx bench/baselines/exceljs-xlsx.ts <db> <table> <out.xlsx> <columns> <maxId>
 */
import Database from 'better-sqlite3';
import ExcelJS from 'exceljs';

const [db, table, out, columnList, maxId] = process.argv.slice(2) as [string, string, string, string, string];
const columns = columnList.split(',');
const source = new Database(db, { readonly: true });
const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: out, useStyles: true, useSharedStrings: false });
const sheet = workbook.addWorksheet('Sheet1', { views: [{ state: 'frozen', ySplit: 1 }] });
sheet.columns = columns.map((c) => ({ header: c, key: c, width: 16 }));
sheet.getRow(1).font = { bold: true };
sheet.getRow(1).commit();
const dateColumns = new Set(columns.filter((c) => /_at$/.test(c)));
const stmt = source.prepare(`SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM "${table}" WHERE id <= ? ORDER BY id`).raw(true);
for (const row of stmt.iterate(Number(maxId)) as IterableIterator<unknown[]>) {
  const values = row.map((v, i) => (dateColumns.has(columns[i]!) && typeof v === 'string' ? new Date(v.replace(' ', 'T') + (v.length > 10 ? 'Z' : 'T00:00:00Z')) : v));
  sheet.addRow(values).commit();
}
sheet.commit();
await workbook.commit();
source.close();
