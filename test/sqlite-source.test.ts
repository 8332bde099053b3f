/** SQLite source: keys (primary, composite, rowid, views), filters, types, identifier validation. */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveTable, sqliteSource, type Row, type Source, type TableRequest } from '../src/index.js';
import { OffloadError } from '../src/core/errors.js';
import { createTypedDb, tempDir } from './helpers/sqlite-fixture.js';

async function readAll(source: Source, req: TableRequest, batchSize = 7): Promise<Row[]> {
  const { read } = await resolveTable(source, req, batchSize);
  const rows: Row[] = [];
  for await (const b of source.batches(read, null)) rows.push(...b.rows.map((r) => r.slice(0, read.columns.length)));
  return rows;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(OffloadError);
  return (err as OffloadError).code;
}

describe('sqliteSource', () => {
  let path: string;
  let source: Source;
  beforeAll(() => {
    path = join(tempDir(), 'typed.db');
    createTypedDb(path, 100);
    const db = new Database(path);
    db.exec(`CREATE TABLE "odd ""name""" ("the id" INTEGER PRIMARY KEY, "a,b" TEXT); INSERT INTO "odd ""name""" VALUES (1, 'x'), (2, 'y');`);
    db.close();
    source = sqliteSource({ path });
  });

  it('describes tables and views with logical types and default keys', async () => {
    const items = await source.describe('items');
    expect(items.kind).toBe('table');
    expect(items.defaultKey).toEqual(['id']);
    expect(items.columns.map((c) => [c.name, c.type])).toEqual([
      ['id', 'integer'], ['big', 'integer'], ['price', 'real'], ['name', 'text'], ['data', 'blob'], ['status', 'text'],
    ]);
    expect((await source.describe('pairs')).defaultKey).toEqual(['a', 'b']);
    expect((await source.describe('heap')).defaultKey).toEqual(['rowid']);
    const view = await source.describe('cheap');
    expect(view.kind).toBe('view');
    expect(view.defaultKey).toEqual([]);
  });

  it('pages in key order across batches and keeps 64-bit integers exact', async () => {
    const rows = await readAll(source, { table: 'items' });
    expect(rows).toHaveLength(100);
    expect(rows.map((r) => Number(r[0]))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const bigs = new Set(rows.map((r) => r[1]));
    expect(bigs).toContain(9007199254740993n);
    expect(bigs).toContain(-9223372036854775808n);
    expect(bigs).toContain(9223372036854775807n);
    expect(rows[10]![4]).toEqual(Buffer.from([11, 0, 255, 10, 13])); // id 11: blob bytes as stored
    expect(rows[4]![4]).toBeNull(); // id 5: null blob
    expect(rows[6]![2]).toBeNull(); // id 7: null price
    expect(rows[1]![2]).toBe(2.5);
  });

  it('pages composite keys and rowid tables without OFFSET', async () => {
    const pairs = await readAll(source, { table: 'pairs' }, 4);
    expect(pairs.map((r) => `${String(r[0])}${String(r[1])}`)).toEqual(['x1', 'x2', 'x3', 'x4', 'x5', 'y1', 'y2', 'y3', 'y4', 'y5', 'z1', 'z2', 'z3', 'z4', 'z5']);
    const heap = await readAll(source, { table: 'heap' }, 2);
    expect(heap.map((r) => r[0])).toEqual(['h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
    expect(heap[0]).toHaveLength(1); // the rowid is read for paging but not exported
  });

  it('exports a view with declared key columns, and refuses one without', async () => {
    const rows = await readAll(source, { table: 'cheap', key: ['id'] }, 3);
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.every((r) => typeof r[2] === 'number' && r[2] < 50)).toBe(true);
    expect(await codeOf(resolveTable(source, { table: 'cheap' }))).toBe('NO_KEY');
  });

  it('selects and orders columns', async () => {
    const rows = await readAll(source, { table: 'items', columns: ['status', 'id'] });
    expect(rows[0]).toEqual(['active', 1n]);
  });

  it('applies every filter operator with bound parameters', async () => {
    const ids = async (filters: TableRequest['filters']): Promise<number[]> =>
      (await readAll(source, { table: 'items', columns: ['id'], filters })).map((r) => Number(r[0]));
    expect(await ids([{ column: 'id', op: 'eq', value: '5' }])).toEqual([5]);
    expect((await ids([{ column: 'status', op: 'neq', value: 'active' }])).every((i) => i % 3 === 0)).toBe(true);
    expect(await ids([{ column: 'id', op: 'in', value: ['3', '4', '99'] }])).toEqual([3, 4, 99]);
    expect(await ids([{ column: 'id', op: 'gt', value: 97 }])).toEqual([98, 99, 100]);
    expect(await ids([{ column: 'id', op: 'gte', value: 98 }])).toEqual([98, 99, 100]);
    expect(await ids([{ column: 'id', op: 'lt', value: 3 }])).toEqual([1, 2]);
    expect(await ids([{ column: 'id', op: 'lte', value: 2 }])).toEqual([1, 2]);
    expect(await ids([{ column: 'id', op: 'between', value: ['10', '12'] }])).toEqual([10, 11, 12]);
    expect(await ids([{ column: 'price', op: 'isNull' }])).toEqual(Array.from({ length: 14 }, (_, i) => (i + 1) * 7));
    expect((await ids([{ column: 'price', op: 'notNull' }])).length).toBe(86);
    // A value that looks like SQL stays a value.
    expect(await ids([{ column: 'name', op: 'eq', value: "x' OR '1'='1" }])).toEqual([]);
    const { read } = await resolveTable(source, { table: 'items', filters: [{ column: 'status', op: 'eq', value: 'active' }] });
    expect(await source.count(read)).toBe(67);
  });

  it('quotes identifiers from the catalogue', async () => {
    const rows = await readAll(source, { table: 'odd "name"', columns: ['a,b', 'the id'] });
    expect(rows).toEqual([['x', 1n], ['y', 2n]]);
  });

  it('rejects unknown tables, columns and bad filters with stable codes', async () => {
    expect(await codeOf(resolveTable(source, { table: 'nope' }))).toBe('UNKNOWN_TABLE');
    expect(await codeOf(resolveTable(source, { table: 'items', columns: ['id', 'salary'] }))).toBe('UNKNOWN_COLUMN');
    expect(await codeOf(resolveTable(source, { table: 'items', filters: [{ column: 'x', op: 'eq', value: 1 }] }))).toBe('UNKNOWN_COLUMN');
    expect(await codeOf(resolveTable(source, { table: 'items', filters: [{ column: 'id', op: 'eq', value: 'abc' }] }))).toBe('INVALID_FILTER');
    expect(await codeOf(resolveTable(source, { table: 'items', filters: [{ column: 'id', op: 'between', value: ['1'] as never }] }))).toBe('INVALID_FILTER');
    expect(await codeOf(resolveTable(source, { table: 'items', filters: [{ column: 'id', op: 'like' as never, value: 'a' }] }))).toBe('INVALID_FILTER');
    expect(() => sqliteSource({ path: join(tempDir(), 'missing.db') })).toThrow(/cannot open database/);
  });

  it('lists tables referenced-first', async () => {
    const d = join(tempDir(), 'fk.db');
    const db = new Database(d);
    db.exec('CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id)); CREATE TABLE a (id INTEGER PRIMARY KEY, c_id INTEGER REFERENCES c(id)); CREATE TABLE c (id INTEGER PRIMARY KEY);');
    db.close();
    const s = sqliteSource({ path: d });
    expect(await s.listTables()).toEqual(['c', 'a', 'b']);
    await s.close();
  });
});
