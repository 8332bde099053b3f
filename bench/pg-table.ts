/** The generated PostgreSQL table the PostgreSQL comparisons read: one per row count, made once and kept. */
import pg from 'pg';

/** Database to benchmark in (`OFFLOAD_BENCH_PG_URL`). */
export const PG_URL = process.env.OFFLOAD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The 10 columns, in table order. */
export const PG_COLUMNS = ['id', 'account', 'kind', 'amount', 'score', 'created', 'flag', 'note', 'ref', 'email'];

/** `url` with `?copy=false` (Offload's generic keyset path instead of COPY). */
export function genericUrl(url: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}copy=false`;
}

/**
 * Creates `offload_bench_events10_<rows>` unless it exists and returns its name, or returns an error
 * message when there is no server. Rows are a function of generate_series only, so every run (and
 * every machine) reads the same data. Drop the tables by hand (`DROP TABLE offload_bench_events10_…`)
 * or with OFFLOAD_BENCH_PG_DROP=1 (see dropPgTable).
 */
export async function ensurePgTable(rows: number, url = PG_URL): Promise<{ table: string } | { skipped: string }> {
  const table = process.env.OFFLOAD_BENCH_PG_TABLE ?? `offload_bench_events10_${rows}`;
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    return { skipped: `Skipped: no PostgreSQL at ${url} (${(err as Error).message}); set OFFLOAD_BENCH_PG_URL.` };
  }
  try {
    const exists = (await client.query('SELECT to_regclass($1) IS NOT NULL AS ok', [table])).rows[0] as { ok: boolean };
    if (!exists.ok) {
      // A typical mixed row: integers, text with separators and quotes, exact decimals, floats, UTC
      // times, booleans, nulls and multi-line text, a uuid and an email-like text. Built under a
      // temporary name so an interrupted run never leaves a half-filled table that looks finished.
      const tmp = `${table}_building`;
      await client.query(`DROP TABLE IF EXISTS ${tmp}`);
      await client.query(`CREATE TABLE ${tmp} AS
        SELECT g::bigint AS id, ((g::bigint * 7919) % 100000)::int AS account, (ARRAY['click', 'view', 'buy, "now"', 'refund'])[g % 4 + 1] AS kind,
          round((g % 100000) / 7.0, 2)::numeric(12,2) AS amount, ((g % 1000) / 8.0)::float8 AS score,
          timestamptz '2020-01-01 00:00:00+00' + g * interval '1.5 second' AS created, g % 3 = 0 AS flag,
          CASE WHEN g % 17 = 0 THEN 'note ' || g || E'\\nsecond line' END AS note,
          md5(g::text)::uuid AS ref,
          'user.' || ((g::bigint * 48271) % 2147483647) || '@' || (ARRAY['example.com', 'mail.example.org', 'corp.example.net'])[g % 3 + 1] AS email
        FROM generate_series(1, ${rows}) g`);
      await client.query(`ALTER TABLE ${tmp} ADD PRIMARY KEY (id)`);
      await client.query(`ALTER TABLE ${tmp} RENAME TO ${table}`);
      await client.query(`ALTER INDEX ${tmp}_pkey RENAME TO ${table}_pkey`);
      await client.query(`VACUUM ANALYZE ${table}`);
    }
    return { table };
  } finally {
    await client.end();
  }
}

/** Drops the table when OFFLOAD_BENCH_PG_DROP=1 (to free the disk after a run). */
export async function dropPgTableIfAsked(table: string, url = PG_URL): Promise<void> {
  if (process.env.OFFLOAD_BENCH_PG_DROP !== '1') return;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`DROP TABLE IF EXISTS ${table}`);
  await c.end();
}
