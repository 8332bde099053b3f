/** Comparison: PostgreSQL → CSV, `psql \copy` against Offload's COPY path and its generic keyset path, on one generated table. */
import { join } from 'node:path';
import pg from 'pg';
import { measure } from './measure.js';
import type { ComparisonResult } from './report.js';
import { BENCH_DIR, offloadCli } from './setup.js';

/** Database to benchmark in (`OFFLOAD_BENCH_PG_URL`); the table is made once and kept unless asked. */
const URL = process.env.OFFLOAD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function postgresCsv(rows: number): Promise<ComparisonResult> {
  const table = process.env.OFFLOAD_BENCH_PG_TABLE ?? `offload_bench_events_${rows}`;
  const client = new pg.Client({ connectionString: URL });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    return {
      id: 'postgres-csv', title: 'PostgreSQL → CSV', rows, reference: 'psql \\copy', measurements: [], targets: [],
      notes: [`Skipped: no PostgreSQL at ${URL} (${(err as Error).message}); set OFFLOAD_BENCH_PG_URL.`],
    };
  }
  try {
    const exists = (await client.query('SELECT to_regclass($1) IS NOT NULL AS ok', [table])).rows[0] as { ok: boolean };
    if (!exists.ok) {
      // A mixed row: integers, text with separators and quotes, exact decimals, floats, UTC times, booleans, nulls.
      await client.query(`CREATE TABLE ${table} AS
        SELECT g::bigint AS id, ((g::bigint * 7919) % 100000)::int AS account, (ARRAY['click', 'view', 'buy, "now"', 'refund'])[g % 4 + 1] AS kind,
          round((g % 100000) / 7.0, 2)::numeric(12,2) AS amount, ((g % 1000) / 8.0)::float8 AS score,
          timestamptz '2020-01-01 00:00:00+00' + g * interval '1.5 second' AS created, g % 3 = 0 AS flag,
          CASE WHEN g % 17 = 0 THEN 'note ' || g || E'\\nsecond line' END AS note
        FROM generate_series(1, ${rows}) g`);
      await client.query(`ALTER TABLE ${table} ADD PRIMARY KEY (id)`);
      await client.query(`VACUUM ANALYZE ${table}`);
    }
  } finally {
    await client.end();
  }
  const out = (n: string): string => join(BENCH_DIR, n);
  const copyUrl = URL;
  const genericUrl = `${URL}${URL.includes('?') ? '&' : '?'}copy=false`;
  const exportArgs = (from: string, file: string): string[] => [...offloadCli, 'export', '--from', from, '--table', table, '--out', out(file), '--quiet', '--force'];
  const measurements = [
    await measure({ name: 'psql \\copy', command: ['psql', URL, '-q', '-c', `"\\copy (SELECT * FROM ${table} ORDER BY id) TO '${out('psql.csv')}' CSV HEADER"`], shell: true, output: out('psql.csv') }),
    await measure({ name: 'offload export (csv, COPY path)', command: exportArgs(copyUrl, 'offload-copy.csv'), output: out('offload-copy.csv') }),
    await measure({ name: 'offload export (csv, generic path)', command: exportArgs(genericUrl, 'offload-generic.csv'), output: out('offload-generic.csv') }),
  ];
  if (process.env.OFFLOAD_BENCH_PG_DROP === '1') {
    const c = new pg.Client({ connectionString: URL });
    await c.connect();
    await c.query(`DROP TABLE IF EXISTS ${table}`);
    await c.end();
  }
  return {
    id: 'postgres-csv',
    title: `PostgreSQL → CSV (${rows.toLocaleString('en-US')} rows × 8 columns)`,
    rows,
    reference: 'psql \\copy',
    measurements,
    targets: ['COPY path faster than the generic path', 'peak RSS ≤ 150 MB'],
    notes: [
      'The files differ from psql\'s in value renderings only (Offload writes true/false, ISO-8601 UTC times, CRLF); both Offload paths write the same bytes.',
      'psql runs on the same machine as the server; Offload pages by key (5,000 rows per range) and checkpoints every 8 MiB.',
    ],
  };
}
