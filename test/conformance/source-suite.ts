/** The source conformance suite: every Source backend exports the same fixture to the same rows, in key order. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExporter, csvFormat, fsStorage, ndjsonFormat, resolveTable } from '../../src/index.js';
import { OffloadError } from '../../src/core/errors.js';
import type { Source } from '../../src/sources/source.js';
import { tempDir } from '../helpers/sqlite-fixture.js';

/** One fixture row: values every dialect stores and renders the same way. */
export interface FixtureRow { id: number; big: bigint; amount: number; label: string | null; data: Buffer | null; grp: string; seq: number }

export const FIXTURE_ROWS = 3000;
const TEXTS = ['plain', 'comma, inside', 'quote " inside', 'line\nbreak', 'crlf\r\nbreak', 'ünïcødé 陈 🚀', '', ' padded ', "it's"];

export function fixtureRows(n = FIXTURE_ROWS): FixtureRow[] {
  return Array.from({ length: n }, (_, k) => {
    const id = k + 1;
    return {
      id,
      big: id % 4 === 0 ? 9007199254740993n + BigInt(id) : id % 4 === 1 ? -9223372036854775807n + BigInt(id) : BigInt(id * 1000),
      amount: (id % 1000) / 8,
      label: id % 13 === 0 ? null : `${TEXTS[id % TEXTS.length]!}#${id}`,
      data: id % 7 === 0 ? null : Buffer.from([id % 256, 0, 255, 10, 13, 34]),
      grp: ['a', 'b', 'c'][id % 3]!,
      seq: Math.floor(id / 3),
    };
  });
}

export interface SourceBackend {
  name: string;
  /** Creates `conf_items` (id PK, big int64, amount double, label text, data blob, grp text, seq int) and `conf_pairs` (grp, seq) PK, loads `rows`, returns a source URL. */
  load(rows: FixtureRow[]): Promise<string>;
  open(url: string): Promise<Source>;
  /** Source URLs that must fail, with the code they fail with. */
  badUrls: [string, string][];
  cleanup?(): Promise<void>;
}

const COLUMNS = ['id', 'big', 'amount', 'label', 'data', 'grp', 'seq'];
const expectedCsv = (r: FixtureRow): string[] => [String(r.id), String(r.big), String(r.amount), r.label ?? '', r.data ? r.data.toString('base64') : '', r.grp, String(r.seq)];

export function testSource(backend: SourceBackend): void {
  describe(`Source conformance: ${backend.name}`, () => {
    const rows = fixtureRows();
    let url: string;
    let source: Source;
    let dir: string;
    beforeAll(async () => {
      url = await backend.load(rows);
      source = await backend.open(url);
      dir = tempDir('offload-src-');
    });
    afterAll(async () => {
      await source?.close();
      await backend.cleanup?.();
    });

    const run = async (key: string, format = csvFormat, opts: { sliceMs?: number; table?: string; columns?: string[]; filters?: never[] } = {}) => {
      const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: 211, partSize: 16 * 1024 });
      const out = await exporter.run({ source, tables: [{ table: opts.table ?? 'conf_items', ...(opts.columns ? { columns: opts.columns } : {}), ...(opts.filters ? { filters: opts.filters } : {}) }], format, key, ...(opts.sliceMs !== undefined ? { sliceMs: opts.sliceMs } : {}) });
      expect(out.status).toBe('succeeded');
      return readFileSync(join(dir, key));
    };

    it('exports exactly the fixture rows in key order as CSV', async () => {
      const bytes = await run('items.csv');
      const records = parse(bytes, { relax_column_count: false }) as string[][];
      expect(records[0]).toEqual(COLUMNS);
      expect(records.length - 1).toBe(rows.length);
      rows.forEach((r, i) => {
        const got = records[i + 1]!;
        if (got.join('\u0001') !== expectedCsv(r).join('\u0001')) expect(got).toEqual(expectedCsv(r));
      });
    });

    it('exports the same rows as NDJSON with exact big integers', async () => {
      const lines = (await run('items.ndjson', ndjsonFormat)).toString('utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(rows.length);
      lines.forEach((line, i) => {
        const r = rows[i]!;
        const o = JSON.parse(line) as Record<string, unknown>;
        expect(Object.keys(o)).toEqual(COLUMNS);
        const safe = r.big <= BigInt(Number.MAX_SAFE_INTEGER) && r.big >= BigInt(Number.MIN_SAFE_INTEGER);
        expect(o.big).toEqual(safe ? Number(r.big) : r.big.toString());
        expect(o.label).toEqual(r.label);
        expect(o.data).toEqual(r.data ? r.data.toString('base64') : null);
      });
    });

    it('gives the same bytes across many slices', async () => {
      const one = createHash('sha256').update(await run('one.csv')).digest('hex');
      const many = createHash('sha256').update(await run('many.csv', csvFormat, { sliceMs: 1 })).digest('hex');
      expect(many).toBe(one);
    });

    it('pages a composite key in order', async () => {
      const records = parse(await run('pairs.csv', csvFormat, { table: 'conf_pairs' }), { from_line: 2 }) as string[][];
      const expected = rows.map((r) => [r.grp, String(r.seq), String(r.id)]).sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : Number(a[1]) - Number(b[1])));
      expect(records).toEqual(expected);
    });

    it('applies filters with bound parameters', async () => {
      const filters = [{ column: 'grp', op: 'eq', value: 'b' }, { column: 'id', op: 'between', value: ['100', '200'] }] as never[];
      const records = parse(await run('filtered.csv', csvFormat, { columns: ['id', 'grp'], filters }), { from_line: 2 }) as string[][];
      expect(records).toEqual(rows.filter((r) => r.grp === 'b' && r.id >= 100 && r.id <= 200).map((r) => [String(r.id), 'b']));
      const { read } = await resolveTable(source, { table: 'conf_items', filters });
      expect(await source.count(read)).toBe(records.length);
    });

    it('rejects unknown tables and columns with stable codes', async () => {
      const code = async (p: Promise<unknown>): Promise<string> => ((await p.catch((e: unknown) => e)) as OffloadError).code;
      expect(await code(resolveTable(source, { table: 'conf_missing' }))).toBe('UNKNOWN_TABLE');
      expect(await code(resolveTable(source, { table: 'conf_items', columns: ['nope'] }))).toBe('UNKNOWN_COLUMN');
      expect(await code(resolveTable(source, { table: 'conf_items', filters: [{ column: 'nope', op: 'eq', value: 1 }] }))).toBe('UNKNOWN_COLUMN');
    });

    it.each(backend.badUrls)('fails clearly for %s', async (bad, expectedCode) => {
      const err = await (async () => {
        const s = await backend.open(bad);
        try {
          await s.describe('conf_items');
        } finally {
          await s.close().catch(() => undefined);
        }
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OffloadError);
      expect((err as OffloadError).code).toBe(expectedCode);
    });
  });
}
