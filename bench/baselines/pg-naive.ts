/**
 * Baseline "naive design" for PostgreSQL → CSV: one `SELECT *` with every row in memory, the whole
 * CSV built as one string, then written. Memory grows with the table; at a few million rows it runs
 * out of heap (or hits V8's maximum string length), which the benchmark reports as the result.
 * Same casts as the cursor baseline. Usage: node --import tsx bench/baselines/pg-naive.ts <url> <table> <out.csv>
 */
import { writeFileSync } from 'node:fs';
import { stringify } from 'csv-stringify/sync';
import pg from 'pg';

const [url, table, out] = process.argv.slice(2) as [string, string, string];
const client = new pg.Client({ connectionString: url });
await client.connect();
const { rows } = await client.query<Record<string, unknown>>(`SELECT * FROM ${table} ORDER BY id`);
await client.end();
const text = stringify(rows, {
  header: true,
  record_delimiter: 'windows',
  cast: { boolean: (v) => (v ? 'true' : 'false'), date: (v) => v.toISOString() },
});
writeFileSync(out, text);
