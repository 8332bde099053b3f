/** Every format, plain and gzipped: resumed output equals one uninterrupted run; files parse back with real readers. */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { createExporter, fsStorage, getFormat, sqliteSource, type Checkpoint, type CheckpointSink } from '../../src/index.js';
import { OffloadError } from '../../src/core/errors.js';
import { titleCase } from '../../src/formats/headers.js';
import { createBigDb, createTypedDb, tempDir } from '../helpers/sqlite-fixture.js';

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('formats', () => {
  let dir: string;
  let big: string;
  let typed: string;
  beforeAll(() => {
    dir = tempDir('offload-formats-');
    big = join(dir, 'big.db');
    typed = join(dir, 'typed.db');
    createBigDb(big, 12_000);
    createTypedDb(typed, 500);
    const db = new Database(typed);
    db.exec('CREATE TABLE empty (id INTEGER PRIMARY KEY, name TEXT)');
    db.close();
  });

  async function run(db: string, table: string, format: string, compression: string, key: string, opts: { sliceMs?: number; formatOptions?: Record<string, unknown> } = {}) {
    const source = sqliteSource({ path: db });
    const saves: Checkpoint[] = [];
    const sink: CheckpointSink = { save: async (cp) => void saves.push(structuredClone(cp)) };
    try {
      const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: 500, partSize: 16 * 1024 });
      const out = await exporter.run({
        source, tables: [{ table }], format: getFormat(format, compression), key, sink,
        ...(opts.formatOptions ? { formatOptions: opts.formatOptions } : {}),
        ...(opts.sliceMs !== undefined ? { sliceMs: opts.sliceMs } : {}),
      });
      expect(out.status).toBe('succeeded');
      return { path: join(dir, key), saves };
    } finally {
      await source.close();
    }
  }

  const cases = ['csv', 'ndjson', 'json', 'xlsx', 'sql'].flatMap((f) => [[f, 'none'], [f, 'gzip']] as const);

  it.each(cases)('%s (%s): a slice per batch writes the bytes of one uninterrupted run', async (format, compression) => {
    const opts = format === 'xlsx' ? { formatOptions: { rowsPerSheet: 5000 } } : {};
    const one = await run(big, 'events', format, compression, `one-${format}-${compression}`, opts);
    const many = await run(big, 'events', format, compression, `many-${format}-${compression}`, { ...opts, sliceMs: 1 });
    // Every slice restarted from a checkpoint with a fresh encoder built from its state.
    expect(many.saves.length).toBeGreaterThan(5);
    expect(sha(many.path)).toBe(sha(one.path));
    if (compression === 'gzip') {
      execFileSync('gunzip', ['-t', many.path]);
      const plain = await run(big, 'events', format, 'none', `plain-${format}`, opts);
      expect(gunzipSync(readFileSync(many.path)).equals(readFileSync(plain.path))).toBe(true);
    }
  });

  it('JSON is one array equal to the NDJSON lines, and [] for no rows', async () => {
    const json = await run(typed, 'items', 'json', 'none', 'items.json');
    const nd = await run(typed, 'items', 'ndjson', 'none', 'items.ndjson');
    const lines = readFileSync(nd.path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(JSON.parse(readFileSync(json.path, 'utf8'))).toEqual(lines);
    expect(lines).toHaveLength(500);
    const empty = await run(typed, 'empty', 'json', 'none', 'empty.json');
    expect(readFileSync(empty.path, 'utf8')).toBe('[]\n');
    expect(JSON.parse(readFileSync(empty.path, 'utf8'))).toEqual([]);
  });

  it('CSV header styles and labels', async () => {
    expect(titleCase('hired_at')).toBe('Hired At');
    expect(titleCase('hiredAt')).toBe('Hired At');
    expect(titleCase('id')).toBe('Id');
    const out = await run(typed, 'items', 'csv', 'none', 'titled.csv', { formatOptions: { headerStyle: 'title', headers: { big: 'Big number', name: 'Name, "quoted"' } } });
    const rows = parse(readFileSync(out.path), { relax_column_count: false }) as string[][];
    expect(rows[0]).toEqual(['Id', 'Big number', 'Price', 'Name, "quoted"', 'Data', 'Status']);
    expect(rows).toHaveLength(501);
    const semi = await run(typed, 'items', 'csv', 'none', 'semi.csv', { formatOptions: { delimiter: ';', bom: true, newline: 'lf' } });
    const text = readFileSync(semi.path, 'utf8');
    expect(text.startsWith('\uFEFFid;big;price;name;data;status\n')).toBe(true);
    const parsed = parse(text, { delimiter: ';', bom: true }) as string[][];
    expect(parsed).toHaveLength(501);
    expect(parsed.slice(1).map((r) => r[0])).toEqual(Array.from({ length: 500 }, (_, i) => String(i + 1)));
  });

  it('bad format options fail before anything is written, with BAD_REQUEST', async () => {
    const source = sqliteSource({ path: typed });
    const exporter = createExporter({ storage: fsStorage({ root: dir }) });
    const attempt = (format: string, formatOptions: Record<string, unknown>) =>
      exporter.plan({ source, tables: [{ table: 'items' }], format: getFormat(format), formatOptions, key: 'never.out' }).then(() => null, (e: unknown) => e);
    for (const [format, options, text] of [
      ['csv', { headers: { nope: 'X' } }, '"nope" is not an exported column'],
      ['csv', { headerStyle: 'shout' }, 'headerStyle'],
      ['xlsx', { rowsPerSheet: 2_000_000 }, 'rowsPerSheet'],
      ['sql', { dialect: 'oracle' }, 'dialect'],
      ['sql', { schema: false, data: false }, 'both be false'],
      ['json', { pretty: true }, 'unknown option "pretty"'],
    ] as const) {
      const err = await attempt(format, options);
      expect(err).toBeInstanceOf(OffloadError);
      expect((err as OffloadError).code).toBe('BAD_REQUEST');
      expect((err as OffloadError).message).toContain(text);
    }
    expect(() => getFormat('csv', 'brotli')).toThrow(/unknown compression "brotli"/);
    await source.close();
  });
});
