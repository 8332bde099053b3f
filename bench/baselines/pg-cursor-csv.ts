/**
 * Baseline "common design" for PostgreSQL → CSV: what most applications write — one `pg` client, a
 * server-side cursor read 5,000 rows at a time in a transaction, rows as objects through
 * csv-stringify into a file stream. Booleans and dates are cast the way Offload writes them, and
 * records end with CRLF, so the files are comparable in size.
 * Usage: node --import tsx bench/baselines/pg-cursor-csv.ts <url> <table> <out.csv>
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import pg from 'pg';

const [url, table, out] = process.argv.slice(2) as [string, string, string];
const client = new pg.Client({ connectionString: url });
await client.connect();
const csv = stringify({
  header: true,
  record_delimiter: 'windows',
  cast: { boolean: (v) => (v ? 'true' : 'false'), date: (v) => v.toISOString() },
});
const written = pipeline(csv, createWriteStream(out));
await client.query('BEGIN');
await client.query(`DECLARE c NO SCROLL CURSOR FOR SELECT * FROM ${table} ORDER BY id`);
for (;;) {
  const { rows } = await client.query<Record<string, unknown>>('FETCH 5000 FROM c');
  if (rows.length === 0) break;
  let full = false;
  for (const row of rows) full = !csv.write(row) || full;
  // Backpressure: wait for the file to take the batch before fetching the next one, so memory stays at one batch.
  if (full) await once(csv, 'drain');
}
await client.query('CLOSE c');
await client.query('COMMIT');
csv.end();
await written;
await client.end();
