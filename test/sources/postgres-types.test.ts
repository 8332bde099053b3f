/** PostgreSQL: every type comes out exact (int8, numeric, times in ISO UTC, json, bytea, arrays, enums), views, partitions, lost connections. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExporter, csvFormat, fsStorage, ndjsonFormat } from '../../src/index.js';
import { postgresSource } from '../../src/sources/postgres.js';
import type { Source } from '../../src/sources/source.js';
import { runCli, runCliWhileBreaking } from '../helpers/cli.js';
import { SERVICES, serviceAvailable } from '../helpers/services.js';
import { tempDir } from '../helpers/sqlite-fixture.js';

const schema = `offload_types_${process.pid}`;
const up = await serviceAvailable('postgres');

describe.runIf(up)('postgres types and shapes', () => {
  let admin: pg.Client;
  let source: Source;
  const dir = tempDir('offload-pgt-');
  // Its own application_name, so terminating "our" backends spares every other test's connections.
  const app = `pc_types_${process.pid}`;
  const url = `${SERVICES.postgres.url}?options=-c%20search_path%3D${schema}&application_name=${app}`;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: SERVICES.postgres.url });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}; SET search_path = ${schema};
      CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
      CREATE TABLE typed (id int PRIMARY KEY, i8 int8, num numeric(40,20), f8 float8, tstz timestamptz, ts timestamp, d date, t time, iv interval,
        b bool, u uuid, j json, jb jsonb, by bytea, ia int8[], ta text[], m mood, n text);
      INSERT INTO typed VALUES
        (1, 9223372036854775807, 12345678901234567890.12345678901234567890, 0.1, '2024-03-01 12:34:56.789012+02', '2024-03-01 12:34:56', '2024-02-29', '23:59:59.5', '1 year 2 months 3 days 04:05:06',
         true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50, "x"]}', '{"b": 1}', '\\x00ff0a22', '{9007199254740993,-1}', '{"a,b","c\\"d",NULL}', 'happy', NULL),
        (2, -5, -0.5, -1e300, '1999-12-31 23:00:00-05', '1999-12-31 23:00:00', '1999-12-31', '00:00:00', '-1 days', false, NULL, 'null', '[]', '\\x', '{}', '{}', 'sad', 'x');
      CREATE TABLE arrays (id int PRIMARY KEY, na numeric[], fa float8[], tsa timestamptz[], tza timestamp[], da date[], iva interval[], bya bytea[], ja jsonb[], ma mood[]);
      INSERT INTO arrays VALUES (1, '{12345678901234567890.12345,-0.5,NULL}', '{0.1,NaN,-Infinity}', '{"2024-03-01 12:00:00.5+02"}', '{"2024-03-01 12:00:00"}',
        '{2024-02-29}', '{"1 day 02:00:00"}', '{"\\\\x00ff",NULL}', ARRAY['{"n": 12345678901234567890}'::jsonb], '{happy,sad}'), (2, '{{1,2},{3,4}}', '{}', NULL, NULL, NULL, NULL, NULL, '{}', '{}');
      CREATE VIEW typed_view AS SELECT id, i8, m FROM typed;
      CREATE TABLE parted (id int NOT NULL, region text NOT NULL, v text, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
      CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
      CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
      INSERT INTO parted SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, 'v' || g FROM generate_series(1, 1000) g;`);
    source = postgresSource({ url });
  });
  afterAll(async () => {
    await source?.close();
    await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin?.end();
  });

  const exportTo = async (key: string, table: string, format = ndjsonFormat, batchSize = 100): Promise<string> => {
    const out = await createExporter({ storage: fsStorage({ root: dir }), batchSize, partSize: 4096 }).run({ source, tables: [{ table, ...(table === 'typed_view' ? { key: ['id'] } : {}) }], format, key });
    expect(out.status).toBe('succeeded');
    return readFileSync(join(dir, key), 'utf8');
  };

  it('renders every type exactly in NDJSON', async () => {
    const [a, b] = (await exportTo('typed.ndjson', 'typed')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(a).toEqual({
      id: 1, i8: '9223372036854775807', num: '12345678901234567890.12345678901234567890', f8: 0.1,
      tstz: '2024-03-01T10:34:56.789012Z', ts: '2024-03-01T12:34:56', d: '2024-02-29', t: '23:59:59.5', iv: 'P1Y2M3DT4H5M6S',
      b: true, u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', j: { a: [1, 2.5, 'x'] }, jb: { b: 1 }, by: Buffer.from([0, 255, 10, 34]).toString('base64'),
      ia: ['9007199254740993', '-1'], ta: ['a,b', 'c"d', null], m: 'happy', n: null,
    });
    expect(b).toMatchObject({ i8: -5, num: '-0.50000000000000000000', f8: -1e300, tstz: '2000-01-01T04:00:00Z', iv: 'P-1D', b: false, u: null, j: null, jb: [], by: '', ia: [], ta: [] });
  });

  it('renders arrays as exact JSON: numerics as strings, times in ISO UTC, bytea in base64, json as it is, enums as text', async () => {
    const lines = (await exportTo('arrays.ndjson', 'arrays')).trim().split('\n');
    expect(lines[0]).toBe('{"id":1,"na":["12345678901234567890.12345","-0.5",null],"fa":[0.1,"NaN","-Infinity"],"tsa":["2024-03-01T10:00:00.5Z"],'
      + '"tza":["2024-03-01T12:00:00"],"da":["2024-02-29"],"iva":["P1DT2H"],"bya":["AP8=",null],"ja":[{"n": 12345678901234567890}],"ma":["happy","sad"]}');
    expect(lines[1]).toBe('{"id":2,"na":[["1","2"],["3","4"]],"fa":[],"tsa":null,"tza":null,"da":null,"iva":null,"bya":null,"ja":[],"ma":[]}');
  });

  it('renders JSON as text in CSV and keeps numerics exact', async () => {
    const csv = await exportTo('typed.csv', 'typed', csvFormat);
    const line1 = csv.split('\r\n')[1]!;
    expect(line1).toContain(',9223372036854775807,12345678901234567890.12345678901234567890,0.1,2024-03-01T10:34:56.789012Z,');
    expect(line1).toContain(',"{""a"": [1, 2.50, ""x""]}",');
  });

  it('exports views (with a declared key) and partitioned tables', async () => {
    expect((await exportTo('view.ndjson', 'typed_view')).trim().split('\n')).toEqual(['{"id":1,"i8":"9223372036854775807","m":"happy"}', '{"id":2,"i8":-5,"m":"sad"}']);
    const parted = (await exportTo('parted.csv', 'parted', csvFormat, 37)).trim().split('\r\n');
    expect(parted).toHaveLength(1001);
    expect(parted[1]).toBe('2,eu,v2');
    expect(parted[1000]).toBe('999,us,v999');
  });

  it('times a slow batch out with a retryable SOURCE_TIMEOUT', async () => {
    await admin.query(`CREATE OR REPLACE VIEW ${schema}.slow AS SELECT g AS id, pg_sleep(0.5) IS NULL AS s FROM generate_series(1, 3) g`);
    const s = postgresSource({ url, statementTimeoutMs: 200 });
    const err = await createExporter({ storage: fsStorage({ root: dir }) }).run({ source: s, tables: [{ table: 'slow', key: ['id'] }], format: csvFormat, key: 'slow.csv' }).catch((e: unknown) => e);
    await s.close();
    expect(err).toMatchObject({ code: 'SOURCE_TIMEOUT', retryable: true });
  });

  it('with --retries 0, pg_terminate_backend ends the run with SOURCE_UNREACHABLE; --resume ends byte-identical', async () => {
    await admin.query(`CREATE TABLE ${schema}.big AS SELECT g AS id, md5(g::text) AS h, g * 1.5 AS x FROM generate_series(1, 200000) g; ALTER TABLE ${schema}.big ADD PRIMARY KEY (id)`);
    const args = (out: string): string[] => ['export', '--from', url, '--table', 'big', '--out', join(dir, out), '--quiet', '--batch-size', '1000', '--part-size', '64KiB', '--retries', '0'];
    expect((await runCli(args('big-ref.csv'))).code).toBe(0);
    let killed = 0;
    const killer = setInterval(() => {
      void admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [app])
        .then((r) => { killed += r.rowCount ?? 0; });
    }, 150);
    let result = await runCli(args('big.csv'));
    let tries = 0;
    while (result.code !== 0 && tries++ < 50) {
      expect(result.stderr).toMatch(/SOURCE_UNREACHABLE/);
      // A run cut off while still planning has recorded nothing yet: it starts over instead.
      const recorded = existsSync(`${join(dir, 'big.csv')}.offload-checkpoint.json`);
      result = await runCli([...args('big.csv'), ...(recorded ? ['--resume'] : [])]);
      if (tries === 3) clearInterval(killer);
    }
    clearInterval(killer);
    expect(killed).toBeGreaterThan(0);
    expect(result.code).toBe(0);
    expect(readFileSync(join(dir, 'big.csv')).equals(readFileSync(join(dir, 'big-ref.csv')))).toBe(true);
  });

  it('one run rides out pg_terminate_backend: it reconnects with backoff and resumes from its checkpoint by itself', async () => {
    const out = join(dir, 'auto.csv');
    const terminate = async (): Promise<number> =>
      (await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [app])).rowCount ?? 0;
    const r = await runCliWhileBreaking(['export', '--from', url, '--table', 'big', '--out', out, '--quiet', '--batch-size', '500', '--part-size', '32KiB', '--retries', '10'], `${out}.offload-checkpoint.json`, terminate);
    expect(r.broken).toBeGreaterThan(0);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/SOURCE_UNREACHABLE: .*resuming from the last checkpoint in [\d.]+ s \(retry 1 of 10\)/);
    expect(readFileSync(out).equals(readFileSync(join(dir, 'big-ref.csv')))).toBe(true);
  });
});
