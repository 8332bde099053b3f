/**
 * SQL dumps loaded back with each database's own client (sqlite3, psql, mariadb) into an empty
 * database: the contents must be identical to the source's.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExporter, fsStorage, sqlFormat, type Source } from '../../src/index.js';
import { openSource } from '../../src/sources/index.js';
import { runCli } from '../helpers/cli.js';
import { SERVICES, serviceAvailable } from '../helpers/services.js';
import { createTypedDb, tempDir } from '../helpers/sqlite-fixture.js';

const dir = tempDir('offload-sql-');

/** Dumps every table of `source` (or the listed ones) with the given options; returns the file. */
async function dump(source: Source, key: string, formatOptions: Record<string, unknown> = {}, tables?: string[]): Promise<string> {
  const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: 97 });
  const names = tables ?? (await source.listTables());
  const out = await exporter.run({ source, tables: names.map((table) => ({ table })), format: sqlFormat, formatOptions: { rowsPerInsert: 40, ...formatOptions }, key });
  expect(out.status).toBe('succeeded');
  return join(dir, key);
}

describe('SQL dump → sqlite3', () => {
  const src = join(dir, 'src.db');
  beforeAll(() => {
    createTypedDb(src, 400);
    const db = new Database(src);
    db.exec(`CREATE TABLE odd ("we""ird col" TEXT, n NUMERIC, r REAL, t TEXT PRIMARY KEY);
      CREATE TABLE child (id INTEGER PRIMARY KEY, item INTEGER REFERENCES items(id), note TEXT);`);
    db.prepare('INSERT INTO odd VALUES (?, ?, ?, ?)').run("it's \\ back'slash", 12.5, 1e300, 'a\u0000b');
    db.prepare('INSERT INTO odd VALUES (?, ?, ?, ?)').run(null, -1, -0.5, 'x');
    db.prepare('INSERT INTO odd VALUES (?, ?, ?, ?)').run('∞', 9223372036854775807n, Infinity, 'inf');
    db.prepare('INSERT INTO child VALUES (?, ?, ?)').run(1, 3, 'child of 3');
    db.close();
  });

  const contents = (path: string, table: string): unknown[] => {
    const db = new Database(path, { readonly: true });
    db.defaultSafeIntegers(true);
    const cols = (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[]).map((c) => `"${c.name.replaceAll('"', '""')}"`);
    // typeof() too: a value must come back with its storage class, not only its text.
    const rows = db.prepare(`SELECT ${cols.map((c) => `${c}, typeof(${c})`).join(', ')} FROM "${table}" ORDER BY 1${cols.length > 1 ? ', 3' : ''}`).raw(true).all();
    db.close();
    return rows;
  };

  it('the whole database, in dependency order, loads into an empty one with identical contents', async () => {
    const source = await openSource(src);
    const file = await dump(source, 'whole.sql');
    const order = await source.listTables();
    await source.close();
    expect(order.indexOf('items')).toBeLessThan(order.indexOf('child'));
    const dst = join(dir, 'dst.db');
    execFileSync('sqlite3', [dst], { input: readFileSync(file) });
    for (const t of ['items', 'pairs', 'heap', 'odd', 'child']) expect(contents(dst, t)).toEqual(contents(src, t));
    const schema = execFileSync('sqlite3', [dst, '.schema items'], { encoding: 'utf8' });
    expect(schema).toContain('"id" INTEGER NOT NULL');
    expect(schema).toContain('PRIMARY KEY ("id")');
  });

  it('CLI: schema only, data only and a table list', async () => {
    const schemaOnly = join(dir, 'schema.sql');
    const r1 = await runCli(['export', '--from', src, '--format', 'sql', '--schema-only', '--out', schemaOnly, '--quiet']);
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    const s = readFileSync(schemaOnly, 'utf8');
    expect(s).toContain('CREATE TABLE "items"');
    expect(s).not.toContain('INSERT');

    const dataOnly = join(dir, 'data.sql');
    const r2 = await runCli(['export', '--from', src, '--format', 'sql', '--data-only', '--tables', 'pairs,heap', '--out', dataOnly, '--quiet']);
    expect(r2.code).toBe(0);
    const d = readFileSync(dataOnly, 'utf8');
    expect(d).not.toContain('CREATE TABLE');
    expect(d.indexOf('INSERT INTO "pairs"')).toBeLessThan(d.indexOf('INSERT INTO "heap"'));
    expect(d).not.toContain('"items"');
    // schema from one dump + data from the other = those two tables
    const dst = join(dir, 'split.db');
    execFileSync('sqlite3', [dst], { input: Buffer.concat([readFileSync(schemaOnly), readFileSync(dataOnly)]) });
    expect(contents(dst, 'pairs')).toEqual(contents(src, 'pairs'));
    expect(contents(dst, 'heap')).toEqual(contents(src, 'heap'));
    expect(contents(dst, 'items')).toEqual([]);

    const bad = await runCli(['export', '--from', src, '--format', 'sql', '--schema-only', '--data-only', '--out', join(dir, 'x.sql')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const noTable = await runCli(['export', '--from', src, '--format', 'csv', '--out', join(dir, 'x.csv')]);
    expect(noTable.code).toBe(2);
    expect(noTable.stderr).toContain('--table is required');
  });
});

const pgUp = await serviceAvailable('postgres');
describe.skipIf(!pgUp)('SQL dump → psql', () => {
  const schema = `fmt_src_${process.pid}`;
  const target = `fmt_dst_${process.pid}`;
  const cross = `fmt_x_${process.pid}`;
  const psql = (sql: string, searchPath: string, input?: Buffer): string =>
    execFileSync('psql', [SERVICES.postgres.url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', ...(input ? [] : ['-c', sql])], {
      encoding: 'utf8', env: { ...process.env, PGOPTIONS: `-c search_path=${searchPath}` }, ...(input ? { input } : {}),
    });
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: SERVICES.postgres.url });
    await admin.connect();
    for (const s of [schema, target, cross]) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE; CREATE SCHEMA ${s}`);
    await admin.query(`SET search_path = ${schema};
      CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
      CREATE TABLE typed (id int8 PRIMARY KEY, n numeric(40,12), f float8, r real, b boolean, t text NOT NULL, bin bytea, d date, ts timestamp, tz timestamptz,
        tm time, iv interval, u uuid, j jsonb, ints int8[], texts text[], m mood);
      CREATE TABLE pairs (a text, b int4, v varchar(10), PRIMARY KEY (a, b));
      INSERT INTO typed VALUES
        (1, 12345678901234567890.123456789012, 1.5, 0.25, true, 'it''s \\ "q", new
line', '\\x00ff10', '2024-02-29', '2024-02-29 13:45:10.123456', '2024-02-29 13:45:10.5+02', '23:59:59.999', '1 year 2 mons 3 days 04:05:06', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k": [1, "x"], "big": 12345678901234567890}', '{1,NULL,9223372036854775807}', '{"a,b","c\\"d",NULL,"e\\\\f"}', 'happy'),
        (2, NULL, 'NaN', '-Infinity', false, '', NULL, '0001-01-01', NULL, NULL, NULL, '-3 days', NULL, 'null', '{}', '{}', NULL),
        (3, -0.5, NULL, NULL, NULL, 'ünïcødé 陈 🚀', '\\x', NULL, NULL, 'infinity', NULL, NULL, NULL, '[]', NULL, NULL, 'sad');
      INSERT INTO pairs SELECT chr(97 + g % 3), g, 'v' || g FROM generate_series(1, 250) g;`);
  });
  afterAll(async () => {
    for (const s of [schema, target, cross]) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await admin.end();
  });

  const table = (t: string, searchPath: string): string => psql(`SELECT * FROM ${t} ORDER BY 1, 2`, searchPath);

  it('a PostgreSQL dump loads with psql into an empty schema with identical contents', async () => {
    const source = await openSource(`${SERVICES.postgres.url}?options=-c%20search_path%3D${schema}`);
    const file = await dump(source, 'pg.sql', {}, ['typed', 'pairs']);
    await source.close();
    psql('', target, readFileSync(file));
    expect(table('typed', target)).toBe(table('typed', schema));
    expect(table('pairs', target)).toBe(table('pairs', schema));
    // Declared types survive (the enum becomes text: the dump does not create types).
    const types = psql(`SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'typed'::regclass AND attnum > 0`, target).trim();
    expect(types).toBe('bigint,numeric(40,12),double precision,real,boolean,text,bytea,date,timestamp without time zone,timestamp with time zone,time without time zone,interval,uuid,jsonb,bigint[],text[],text');
  });

  it('a SQLite database dumped for PostgreSQL loads with psql', async () => {
    const src = join(dir, 'for-pg.db');
    createTypedDb(src, 300);
    const source = await openSource(src);
    const file = await dump(source, 'sqlite-for-pg.sql', { dialect: 'postgres' }, ['items', 'pairs']);
    await source.close();
    psql('', cross, readFileSync(file));
    const db = new Database(src, { readonly: true });
    db.defaultSafeIntegers(true);
    // Text as hex of its UTF-8 bytes on both sides, so newlines and CR compare exactly.
    const expected = (db.prepare("SELECT id, coalesce(big, '-'), iif(name IS NULL, '-', hex(name)), iif(data IS NULL, '-', hex(data)), coalesce(price, '-') FROM items ORDER BY id").raw(true).all() as unknown[][])
      .map((r) => r.map(String).join('|'));
    db.close();
    const rows = psql("SELECT id, coalesce(big::text, '-'), coalesce(upper(encode(convert_to(name, 'UTF8'), 'hex')), '-'), coalesce(upper(encode(data, 'hex')), '-'), coalesce(price::text, '-') FROM items ORDER BY id", cross).trimEnd().split('\n');
    expect(rows).toEqual(expected);
    expect(psql('SELECT count(*), sum(big::numeric) FROM items', cross).trim()).toBe(
      (() => { const d = new Database(src, { readonly: true }); d.defaultSafeIntegers(true); const r = d.prepare('SELECT big FROM items').raw(true).all() as [bigint | null][]; d.close(); return `300|${r.reduce((s, [b]) => s + (b ?? 0n), 0n)}`; })(),
    );
  });
});

const myUp = await serviceAvailable('mysql');
describe.skipIf(!myUp)('SQL dump → mariadb', () => {
  const src = `fmt_src_${process.pid}`;
  const dst = `fmt_dst_${process.pid}`;
  const base = SERVICES.mysql.url.replace(/\/[^/]*$/, '');
  const client = (db: string, sql?: string, input?: Buffer): string =>
    execFileSync('mariadb', ['-h', '127.0.0.1', '-u', 'root', '-B', '-N', db, ...(sql ? ['-e', sql] : [])], { encoding: 'utf8', ...(input ? { input } : {}) });
  let c: mysql.Connection;
  beforeAll(async () => {
    c = await mysql.createConnection({ uri: `${base}/test`, multipleStatements: true });
    await c.query(`DROP DATABASE IF EXISTS ${src}; DROP DATABASE IF EXISTS ${dst};
      CREATE DATABASE ${src} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; CREATE DATABASE ${dst} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; USE ${src};
      CREATE TABLE typed (id BIGINT PRIMARY KEY, big BIGINT UNSIGNED, n DECIMAL(30,10), f DOUBLE, b TINYINT(1), t TEXT NOT NULL, v VARCHAR(50), bin BLOB,
        d DATE, dt DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME, j JSON, e ENUM('x','y'));
      INSERT INTO typed VALUES
        (1, 18446744073709551615, 12345678901234567890.0123456789, 1.5, 1, 'it''s \\\\ back\\\\slash "q"', 'tab\\there', X'00FF10', '2024-02-29', '2024-02-29 13:45:10.123456', '2024-02-29 13:45:10.500', '23:59:59', '{"k": [1, "x"]}', 'y'),
        (2, NULL, -0.5, NULL, 0, 'nul\\0inside', NULL, X'', '1000-01-01', NULL, NULL, '-838:59:59', 'null', NULL),
        (3, 0, NULL, -1e300, NULL, 'ünïcødé 陈 🚀', '', NULL, NULL, '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.000', NULL, NULL, 'x');
      CREATE TABLE pairs (a VARCHAR(5), b INT, v TEXT, PRIMARY KEY (a, b));
      INSERT INTO pairs VALUES ('a', 1, 'x'), ('a', 2, NULL), ('b', 1, 'z');`);
  });
  afterAll(async () => {
    await c.query(`DROP DATABASE IF EXISTS ${src}; DROP DATABASE IF EXISTS ${dst}`);
    await c.end();
  });

  it('a MariaDB dump loads with the mariadb client into an empty database with identical contents', async () => {
    const source = await openSource(`${base}/${src}`);
    const file = await dump(source, 'my.sql', {}, ['typed', 'pairs']);
    await source.close();
    client(dst, undefined, readFileSync(file));
    const q = (db: string, t: string): string => client(db, `SELECT *, ${t === 'typed' ? 'HEX(bin), HEX(t)' : "'-'"} FROM ${t} ORDER BY 1`);
    expect(q(dst, 'typed')).toBe(q(src, 'typed'));
    expect(q(dst, 'pairs')).toBe(q(src, 'pairs'));
    expect(client(dst, 'SHOW CREATE TABLE typed')).toContain("`e` enum('x','y')");
  });
});
