/**
 * Comparison: PostgreSQL → CSV on one generated table (10 columns), `psql \copy` as the reference,
 * against Offload's COPY path, its generic keyset path, and two baselines of how applications
 * usually do it (a cursor streamed through csv-stringify, and everything in memory at once).
 */
import { createHash } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { measure, type Contender, type Measurement } from './measure.js';
import { dropPgTableIfAsked, ensurePgTable, genericUrl, PG_URL } from './pg-table.js';
import { peakRssCheck, wallRatioCheck, type ComparisonResult } from './report.js';
import { BENCH_DIR, offloadCli, ROOT } from './setup.js';

const PSQL = 'psql \\copy';
const COPY = 'offload export (csv, COPY path)';
const NATIVE = 'offload export (csv, COPY path, copy=native, LF)';
const GENERIC = 'offload export (csv, generic path)';
const CURSOR = 'baseline: pg cursor + csv-stringify';
const NAIVE = 'baseline: SELECT * in memory';

const TARGETS = {
  copy: 'COPY path ≤ 1.1 × psql',
  native: 'COPY path with psql\'s renderings (copy=native, LF: the same bytes as psql) ≤ 1.1 × psql',
  generic: 'generic path ≥ 3 × faster than the cursor baseline',
  copyVsGeneric: 'COPY path faster than the generic path',
  rss: 'peak RSS ≤ 150 MB (both Offload paths)',
};

async function sha(path: string): Promise<string | null> {
  try {
    const h = createHash('sha256');
    for await (const c of createReadStream(path)) h.update(c as Buffer);
    return h.digest('hex');
  } catch {
    return null;
  }
}

export async function postgresCsv(rows: number): Promise<ComparisonResult> {
  const title = `PostgreSQL → CSV (${rows.toLocaleString('en-US')} rows × 10 columns)`;
  const made = await ensurePgTable(rows);
  if ('skipped' in made) return { id: 'postgres-csv', title, rows, reference: PSQL, measurements: [], targets: [], notes: [made.skipped] };
  const { table } = made;
  const out = (n: string): string => join(BENCH_DIR, n);
  const exportArgs = (from: string, file: string, ...more: string[]): string[] => [...offloadCli, 'export', '--from', from, '--table', table, '--out', out(file), '--quiet', '--force', ...more];
  const baseline = (script: string, file: string): string[] => [process.execPath, '--import', 'tsx', join(ROOT, 'bench/baselines', script), PG_URL, table, out(file)];
  // Each output is hashed (Offload's two) and deleted as soon as it is measured: at full size they are
  // over a GB each. The sizes are in results.json.
  const shas = new Map<string, string | null>();
  const run = async (c: Contender & { output: string }): Promise<Measurement> => {
    const m = await measure(c);
    if (c.name === COPY || c.name === GENERIC || c.name === NATIVE || c.name === PSQL) shas.set(c.name, m.ok ? await sha(c.output) : null);
    rmSync(c.output, { force: true });
    return m;
  };
  const measurements: Measurement[] = [
    await run({ name: PSQL, command: ['psql', PG_URL, '-q', '-c', `"\\copy (SELECT * FROM ${table} ORDER BY id) TO '${out('psql.csv')}' CSV HEADER"`], shell: true, output: out('psql.csv'),
      // The session settings Offload's connections use, so both render times in UTC.
      env: { PGOPTIONS: '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c extra_float_digits=1' } }),
    await run({ name: COPY, command: exportArgs(PG_URL, 'offload-copy.csv'), output: out('offload-copy.csv') }),
    await run({ name: NATIVE, command: exportArgs(`${PG_URL}${PG_URL.includes('?') ? '&' : '?'}copy=native`, 'offload-native.csv', '--newline', 'lf'), output: out('offload-native.csv') }),
    await run({ name: GENERIC, command: exportArgs(genericUrl(PG_URL), 'offload-generic.csv'), output: out('offload-generic.csv') }),
    await run({ name: CURSOR, command: baseline('pg-cursor-csv.ts', 'pg-cursor.csv'), output: out('pg-cursor.csv') }),
    // Default heap limit on purpose: running out of memory is this design's result at scale.
    await run({ name: NAIVE, command: baseline('pg-naive.ts', 'pg-naive.csv'), output: out('pg-naive.csv') }),
  ];
  const [copySha, genericSha] = [shas.get(COPY) ?? null, shas.get(GENERIC) ?? null];
  const [nativeSha, psqlSha] = [shas.get(NATIVE) ?? null, shas.get(PSQL) ?? null];
  await dropPgTableIfAsked(table);
  return {
    id: 'postgres-csv',
    title,
    rows,
    reference: PSQL,
    measurements,
    targets: [TARGETS.copy, TARGETS.native, TARGETS.generic, TARGETS.copyVsGeneric, TARGETS.rss],
    checks: [
      wallRatioCheck(measurements, TARGETS.copy, 'COPY/psql', COPY, PSQL, { max: 1.1 }),
      wallRatioCheck(measurements, TARGETS.native, 'native COPY/psql', NATIVE, PSQL, { max: 1.1 }),
      wallRatioCheck(measurements, TARGETS.generic, 'cursor/generic', CURSOR, GENERIC, { min: 3 }),
      wallRatioCheck(measurements, TARGETS.copyVsGeneric, 'COPY/generic', COPY, GENERIC, { max: 1 }),
      peakRssCheck(measurements, TARGETS.rss, [COPY, NATIVE, GENERIC], 150),
    ],
    notes: [
      `Columns: bigint key, int, text with separators and quotes, numeric(12,2), float8, timestamptz, boolean, text with nulls and line breaks, uuid, email-like text; table \`${table}\`, generated with generate_series (identical on every run).`,
      `Both Offload paths wrote the same bytes: ${copySha !== null && copySha === genericSha ? 'yes' : copySha === null || genericSha === null ? 'not checked (a path failed)' : 'NO'}. psql writes PostgreSQL's own renderings (t/f, \`2020-01-01 00:00:01.5+00\`, LF), and so does Offload with \`?copy=native\` and \`--newline lf\`: same bytes as psql: ${nativeSha !== null && nativeSha === psqlSha ? 'yes' : nativeSha === null || psqlSha === null ? 'not checked' : 'NO'}. The baselines cast booleans and dates as Offload does and end records with CRLF.`,
      'psql runs on the same machine as the server; Offload pages by key (5,000 rows per range) and checkpoints every 8 MiB; the cursor baseline fetches 5,000 rows per FETCH and waits for the file stream between batches; the naive baseline runs with Node\'s default heap limit. The baselines run their TypeScript through tsx, which adds about 0.2 s of start-up and 35 MiB of RSS.',
    ],
  };
}
