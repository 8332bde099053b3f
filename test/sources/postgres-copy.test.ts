/** PostgreSQL COPY fast path: the same bytes as the generic path for every type and CSV layout, filters kept out of the SQL, fallbacks. */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExporter, csvFormat, fsStorage, resolveTable } from '../../src/index.js';
import type { Filter } from '../../src/core/types.js';
import { CrlfWriter } from '../../src/sources/postgres-copy.js';
import { postgresSource } from '../../src/sources/postgres.js';
import type { Source } from '../../src/sources/source.js';
import { SERVICES, serviceAvailable } from '../helpers/services.js';
import { tempDir } from '../helpers/sqlite-fixture.js';

const schema = `pc_copy_${process.pid}`;
const up = await serviceAvailable('postgres');

/** A source that records whether each export took the COPY path. */
function watched(url: string, copy: boolean): { source: Source; used: boolean[] } {
  const inner = postgresSource({ url, copy });
  const used: boolean[] = [];
  const source: Source = {
    dialect: inner.dialect,
    describe: (t) => inner.describe(t),
    listTables: () => inner.listTables(),
    count: (p) => inner.count(p),
    batches: (p, a, o) => inner.batches(p, a, o),
    close: () => inner.close(),
    ...(inner.copyCsv ? {
      copyCsv: async (p, a, l, o) => {
        const r = await inner.copyCsv!(p, a, l, o);
        used.push(r !== null);
        return r;
      },
    } : {}),
  };
  return { source, used };
}

describe('CrlfWriter', () => {
  it('turns record ends into CRLF and leaves quoted line breaks alone, across chunk boundaries', () => {
    const text = 'a,"x\ny",b\n"q""\n",2\nplain,"",z\n"\n"\n';
    const expected = 'a,"x\ny",b\r\n"q""\n",2\r\nplain,"",z\r\n"\n"\r\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const w = new CrlfWriter();
      const out = Buffer.concat([w.translate(Buffer.from(text.slice(0, cut))), w.translate(Buffer.from(text.slice(cut)))]);
      expect(out.toString()).toBe(expected);
    }
  });
});

describe.runIf(up)('postgres COPY fast path', () => {
  let admin: pg.Client;
  const dir = tempDir('offload-pgcopy-');
  const url = `${SERVICES.postgres.url}?options=-c%20search_path%3D${schema}`;
  const copying = watched(url, true);
  const generic = watched(url, false);

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: SERVICES.postgres.url });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}; SET search_path = ${schema};
      SELECT setseed(0.42);
      CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', '');
      CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 100);
      CREATE DOMAIN stamp AS timestamptz;
      CREATE TABLE typed (id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, num numeric, f4 float4, f8 float8,
        tstz timestamptz, ts timestamp, d date, t time, ttz timetz, iv interval, b bool, u uuid, j json, jb jsonb, by bytea,
        i8a int8[], i4a int4[], ta text[], ba bool[], va varchar(10)[], ca char(3)[], ua uuid[], tma time[], m mood, ma numeric[],
        dom short_text, ds stamp, mo money, vc varchar(20), ch char(5), txt text, n text);
      INSERT INTO typed VALUES
        (1, 32767, -2147483648, 9223372036854775807, 12345678901234567890.12345678901234567890, 0.1, 0.1,
         '2024-03-01 12:34:56.789012+02', '2024-03-01 12:34:56', '2024-02-29', '23:59:59.5', '10:00:00+05:30', '1 year 2 months 3 days 04:05:06',
         true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50, "x"], "s": "q\\"t,\\n"}', '{"b": 1}', '\\x00ff0a22',
         '{9007199254740993,-1,NULL}', '{1,NULL,-3}', '{"a,b","c\\"d",NULL,"","line\nbreak","tab\there","back\\\\slash","ctl\u0001x"}', '{t,f,NULL}',
         '{x,"y z"}', '{"a",NULL}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{12:00:00,NULL}', 'happy', '{12345678901234567890.123,NaN,NULL}',
         'dom,ain', '2020-01-01 00:00:00+00', 1234.5, 'vc "q"', 'ab', 'plain', NULL),
        (2, -1, 0, -5, -0.5, '-0', '-0', '1999-12-31 23:00:00-05', '1999-12-31 23:00:00', '1999-12-31', '00:00:00', '00:00:00-08', '-1 days',
         false, NULL, 'null', '[]', '\\x', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', 'sad', '{}', '', NULL, -0.01, '', '', '', ''),
        (3, NULL, NULL, NULL, 'NaN', 'NaN', 'NaN', 'infinity', '-infinity', 'infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', NULL, NULL, NULL, NULL, NULL, NULL, '\\.', NULL),
        (4, 0, 0, 0, 0, 'Infinity', '-Infinity', '0044-03-15 12:00:00+00 BC', '0044-03-15 12:00:00 BC', '0044-03-15 BC', '24:00:00', '24:00:00+00', 'PT0S',
         true, NULL, '"x"', '"\\u00e9"', decode(repeat('ab', 200), 'hex'), '{{1,2},{3,4}}', '{{1},{2}}', '{{"a"},{"b"}}', NULL, NULL, NULL, NULL, NULL, 'ok', '{{1.50},{-2}}',
         'semi;colon', NULL, 0, E'tab\\there', 'x', E'cr\\rlf\\r\\nend', E'ünïcødé 陈 🚀 "quoted", text\\nwith break');
      INSERT INTO typed (id, f4, f8, num, txt)
        SELECT 10 + g, CASE WHEN abs(v) < 1e38 AND abs(v) > 1e-37 THEN v::float4 END, v, round(v::numeric, 6), 'r' || g FROM (
          SELECT g, CASE g % 7 WHEN 0 THEN (random() - 0.5) * 10 ^ (random() * 600 - 300) WHEN 1 THEN (random() - 0.5) * 10 ^ (random() * 80 - 40)
            WHEN 2 THEN 10 ^ ((g % 60) - 30) WHEN 3 THEN -(10 ^ ((g % 60) - 30)) * 1.5 WHEN 4 THEN round((random() * 1e6)::numeric, (g % 9))::float8
            WHEN 5 THEN 1e-6 * (1 + (g % 3 - 1) * 1e-15) ELSE 1e21 * (1 + (g % 3 - 1) * 1e-15) END AS v
          FROM generate_series(1, 20000) g) s;
      INSERT INTO typed (id, f8, f4) SELECT 200000 + g, v, CASE WHEN abs(v) < 1e38 THEN v::float4 END FROM (
          SELECT g, (CASE WHEN g % 2 = 0 THEN 1 ELSE -1 END) * CASE g % 3 WHEN 0 THEN round(random() * 1e6) * 10 ^ (10 + g % 40)
            WHEN 1 THEN floor(random() * 2 ^ (53 + g % 20)) ELSE (2 ^ (53 + g % 30)) * (1 + (g % 5) * 2 ^ -52) END AS v
          FROM generate_series(1, 20000) g) s;
      INSERT INTO typed (id, f4, f8) VALUES (100001, '1e-6', '5e-324'), (100002, '1e21', '1.7976931348623157e308'), (100003, '9.999999e-7', '9.999999999999999e20'),
        (100004, '3.4028235e38', '1e-7'), (100005, '1.1754944e-38', '123456789012345680000');
      INSERT INTO typed (id, f4, f8) SELECT 100010 + i * 2 + (s + 1) / 2, (s * v::float8)::float4, s * v::float8
        FROM unnest(ARRAY['999999', '1e6', '1234567', '9.9e-5', '1e-4', '1e-6', '9.99e-7', '1e15', '999999999999999', '1e21', '9.999e20', '1e-7',
          '9007199254740992', '9007199254740993', '123456789012345678', '1e38', '3e-38']) WITH ORDINALITY AS u(v, i), (VALUES (1), (-1)) AS sg(s);
      CREATE TABLE wide_array (id int PRIMARY KEY, fa float8[]);
      INSERT INTO wide_array VALUES (1, '{1.5,NaN}'), (2, NULL);
      CREATE TABLE enum_array (id int PRIMARY KEY, ma mood[]);
      INSERT INTO enum_array VALUES (1, '{sad,happy}'), (2, '{}');
      CREATE TABLE bykey (k bytea, t timestamptz, v text, PRIMARY KEY (k, t));
      INSERT INTO bykey SELECT decode(lpad(to_hex(g % 300), 4, '0'), 'hex'), '2024-01-01 00:00:00+00'::timestamptz + g * interval '1.000001 second', 'v' || g
        FROM generate_series(1, 3000) g;`);
  });
  afterAll(async () => {
    await copying.source.close();
    await generic.source.close();
    await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin?.end();
    rmSync(dir, { recursive: true, force: true });
  });

  let n = 0;
  const exportCsv = async (source: Source, table: string, options: Record<string, unknown> = {}, extra: { filters?: Filter[]; columns?: string[]; batchSize?: number; sliceMs?: number } = {}): Promise<Buffer> => {
    const key = `out-${++n}.csv`;
    const out = await createExporter({ storage: fsStorage({ root: dir }), batchSize: extra.batchSize ?? 997, partSize: 8192 }).run({
      source, format: csvFormat, formatOptions: options, key,
      tables: [{ table, ...(extra.filters ? { filters: extra.filters } : {}), ...(extra.columns ? { columns: extra.columns } : {}) }],
      ...(extra.sliceMs !== undefined ? { sliceMs: extra.sliceMs } : {}),
    });
    expect(out.status).toBe('succeeded');
    return readFileSync(join(dir, key));
  };

  /** Exports through both paths, checks the COPY path was taken and the bytes are the same. */
  const same = async (table: string, options: Record<string, unknown> = {}, extra: Parameters<typeof exportCsv>[3] = {}): Promise<Buffer> => {
    copying.used.length = 0;
    const fast = await exportCsv(copying.source, table, options, extra);
    expect(copying.used.length).toBeGreaterThan(0);
    expect(copying.used.every(Boolean)).toBe(true);
    const slow = await exportCsv(generic.source, table, options, extra);
    expect(generic.used).toEqual([]);
    if (!fast.equals(slow)) {
      const a = fast.toString('utf8').split('\n');
      const b = slow.toString('utf8').split('\n');
      const i = a.findIndex((line, j) => line !== b[j]);
      expect(a[i]).toBe(b[i]); // the first line that differs
    }
    expect(fast.equals(slow)).toBe(true);
    return fast;
  };

  it.each([
    ['defaults (comma, CRLF, header)', {}],
    ['semicolon, LF, BOM', { delimiter: ';', newline: 'lf', bom: true }],
    ['tab, no header', { delimiter: 'tab', header: false }],
  ])('writes the same bytes as the generic path for every type: %s', async (_name, options) => {
    const bytes = await same('typed', options);
    expect(bytes.length).toBeGreaterThan(100_000);
  });

  it('renders the awkward values as the CSV format does', async () => {
    const text = (await same('typed', { newline: 'lf' }, { columns: ['id', 'b', 'by', 'f8', 'tstz', 'ts', 'txt', 'ta', 'n'] })).toString('utf8');
    const lines = text.split('\n');
    expect(lines[1]).toBe('1,true,AP8KIg==,0.1,2024-03-01T10:34:56.789012Z,2024-03-01T12:34:56,plain,"[""a,b"",""c\\""d"",null,"""",""line\\nbreak"",""tab\\there"",""back\\\\slash"",""ctl\\u0001x""]",');
    expect(lines[2]).toBe('2,false,,0,2000-01-01T04:00:00Z,1999-12-31T23:00:00,,[],');
    expect(lines[3]).toBe('3,,,NaN,infinity,-infinity,\\.,,');
  });

  it('keeps composite keys of bytea and timestamptz across ranges, slices and filters', async () => {
    await same('bykey', {}, { batchSize: 101 });
    await same('bykey', {}, { batchSize: 50, sliceMs: 1 });
    await same('bykey', {}, { batchSize: 77, filters: [{ column: 'v', op: 'gt', value: 'v2' }, { column: 't', op: 'lt', value: '2024-01-01T00:30:00Z' }] });
  });

  it('binds filter values (quotes, backslashes and SQL in them included) instead of splicing them', async () => {
    const hostile = "x'); DROP TABLE typed; --\\'";
    const filters: Filter[] = [
      { column: 'txt', op: 'neq', value: hostile },
      { column: 'm', op: 'in', value: ['happy', 'sad'] },
      { column: 'vc', op: 'neq', value: hostile },
      { column: 'd', op: 'between', value: ['1999-01-01', '2025-01-01'] },
      { column: 'b', op: 'eq', value: 'true' },
      { column: 'i8', op: 'gte', value: '9223372036854775807' },
    ];
    const bytes = await same('typed', {}, { filters });
    expect(bytes.toString('utf8').trim().split('\r\n')).toHaveLength(2);
    expect((await admin.query(`SELECT count(*)::int AS n FROM ${schema}.typed`)).rows[0].n).toBeGreaterThan(20000);
    const none = await same('typed', {}, { filters: [{ column: 'txt', op: 'eq', value: hostile }] });
    expect(none.toString('utf8').split('\r\n')).toHaveLength(2); // header only
  });

  it('falls back to the generic path where COPY cannot render the same bytes', async () => {
    copying.used.length = 0;
    const oneColumn = await exportCsv(copying.source, 'typed', {}, { columns: ['txt'] });
    expect(oneColumn.toString('utf8')).toContain('\r\n\\.\r\n'); // COPY would have quoted a lone \.
    const floats = await exportCsv(copying.source, 'wide_array');
    expect(floats.toString('utf8')).toBe('id,fa\r\n1,"[1.5,""NaN""]"\r\n2,\r\n');
    const enums = await exportCsv(copying.source, 'enum_array');
    expect(enums.toString('utf8')).toBe('id,ma\r\n1,"[""sad"",""happy""]"\r\n2,[]\r\n');
    expect(copying.used).toEqual([false, false, false]);
  });

  it('stops mid-COPY on abort, stores what it has, and resumes at a range boundary to the same bytes', async () => {
    const reference = await exportCsv(generic.source, 'bykey', {}, { batchSize: 50 });
    const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: 50, partSize: 1024 });
    const controller = new AbortController();
    copying.used.length = 0;
    const first = await exporter.run({
      source: copying.source, tables: [{ table: 'bykey' }], format: csvFormat, key: 'aborted.csv', signal: controller.signal,
      onProgress: (p) => { if (p.rows >= 1000) controller.abort(); },
    });
    expect(first.status).toBe('interrupted');
    const checkpoint = first.status === 'interrupted' ? first.checkpoint : null;
    expect(checkpoint?.rows).toBeGreaterThanOrEqual(1000);
    expect(checkpoint!.rows % 50).toBe(0); // whole ranges only
    const second = await exporter.run({ source: copying.source, tables: [{ table: 'bykey' }], format: csvFormat, key: 'aborted.csv', checkpoint });
    expect(second.status).toBe('succeeded');
    expect(copying.used.every(Boolean)).toBe(true);
    expect(readFileSync(join(dir, 'aborted.csv')).equals(reference)).toBe(true);
    // The connection came back to the pool in a usable state.
    expect(await copying.source.count((await resolveTable(copying.source, { table: 'bykey' })).read)).toBe(3000);
  });

  it('can be turned off in the source URL', async () => {
    const s = postgresSource({ url: `${url}&copy=false` });
    expect(s.copyCsv).toBeUndefined();
    await s.close();
    expect(() => postgresSource({ url: `${url}&copy=maybe` })).toThrow(/copy must be true, false or native/);
  });

  it('copy=native writes what psql \\copy writes (PostgreSQL\'s own text), across many ranges and slices', async () => {
    const native = postgresSource({ url: `${url}&copy=native` });
    try {
      const ours = await exportCsv(native, 'typed', { newline: 'lf' }, { batchSize: 997, sliceMs: 5 });
      // psql with the session settings Offload's connections use (UTC, ISO dates and intervals).
      const psql = execFileSync('psql', [SERVICES.postgres.url, '-X', '-q', '-c', `\\copy (SELECT * FROM ${schema}.typed ORDER BY id) TO STDOUT CSV HEADER`], {
        env: { ...process.env, PGOPTIONS: '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c extra_float_digits=1' },
        maxBuffer: 64 * 1024 * 1024,
      });
      expect(ours.length).toBeGreaterThan(100_000);
      expect(ours.equals(psql)).toBe(true);
      expect(ours.toString('utf8').split('\n')[1]).toMatch(/^1,32767,-2147483648,9223372036854775807,.*,2024-03-01 10:34:56\.789012\+00,.*,t,a0eebc99/);
    } finally {
      await native.close();
    }
  });
});
