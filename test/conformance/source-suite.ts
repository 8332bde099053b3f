/** The source conformance suite: every Source backend exports the same fixture to the same rows, in key order, through slices and kill -9. */
import { join } from 'node:path';
import { existsSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExporter, csvFormat, fsStorage, resolveTable, runSlice, type Checkpoint } from '../../src/index.js';
import { OffloadError } from '../../src/core/errors.js';
import type { Source } from '../../src/sources/source.js';
import { exportWithKills } from '../helpers/kill-resume.js';
import { tempDir } from '../helpers/sqlite-fixture.js';
import { COLUMNS, csvFields, expectCsvRows, expectNdjsonLines, FIXTURE_ROWS, mapRows, ndjsonLine, pairOrder, PAIR_COLUMNS, sha256File } from './fixture.js';

export { FIXTURE_ROWS, fixtureRow, type FixtureRow } from './fixture.js';

export interface SourceBackend {
  name: string;
  /**
   * Creates `conf_items` (id PK, big int64, amount double, dec decimal(20,4) (text in SQLite),
   * label text, data blob, ts UTC timestamp, day date, uid uuid/char(36), grp text, seq int) and
   * `conf_pairs` (grp, seq) PK with id, loads rows 1..n of the fixture in bulk, returns a source URL.
   */
  load(n: number): Promise<string>;
  open(url: string): Promise<Source>;
  /** Source URLs that must fail, with the code they fail with. */
  badUrls: [string, string][];
  cleanup?(): Promise<void>;
}

const LONG = 900_000;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export function testSource(backend: SourceBackend): void {
  describe(`Source conformance: ${backend.name} (${FIXTURE_ROWS.toLocaleString('en-US')} rows)`, () => {
    const n = FIXTURE_ROWS;
    let url: string;
    let source: Source;
    const dir = tempDir('offload-src-');
    const timings: string[] = [];
    const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const out = await f();
      timings.push(`${what} ${seconds(performance.now() - t0)}`);
      return out;
    };
    // Small fixtures finish quickly: smaller parts keep several checkpoints per run to kill between.
    const partSize = n >= 200_000 ? '256KiB' : '32KiB';

    beforeAll(async () => {
      url = await timed(`load`, () => backend.load(n));
      source = await backend.open(url);
    }, LONG);
    afterAll(async () => {
      await source?.close();
      await backend.cleanup?.();
      rmSync(dir, { recursive: true, force: true }); // a million-row run leaves about 1 GB
      console.log(`[conformance] ${backend.name}, ${n.toLocaleString('en-US')} rows: ${timings.join('; ')}`);
    }, LONG);

    it('exports exactly the fixture rows in key order as CSV, across many slices', async () => {
      const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: 500, partSize: 64 * 1024 });
      const plan = await exporter.plan({ source, tables: [{ table: 'conf_items' }], format: csvFormat, key: 'sliced.csv' });
      let checkpoint: Checkpoint | null = null;
      let slices = 0;
      await timed('CSV in slices', async () => {
        for (;;) {
          slices += 1;
          const r = await runSlice(plan, { checkpoint, sink: { save: async (cp) => void (checkpoint = cp) }, deadline: Date.now() + 5 });
          if (r.done) break;
          checkpoint = r.checkpoint;
        }
      });
      timings.push(`(${slices} slices)`);
      expect(slices).toBeGreaterThanOrEqual(10);
      expect(await expectCsvRows(join(dir, 'sliced.csv'), COLUMNS, mapRows(n, csvFields))).toBe(n);
    }, LONG);

    const cli = (format: string, out: string): string[] =>
      ['export', '--from', url, '--table', 'conf_items', '--format', format, '--out', join(dir, out), '--quiet', '--batch-size', '2000', '--part-size', partSize, '--slice-ms', '500'];

    it('ends byte-identical after kill -9 of the exporting CLI and --resume (CSV)', async () => {
      const out = join(dir, 'killed.csv');
      const r = await timed('CSV with kill -9', () => exportWithKills(cli('csv', 'killed.csv'), out, 2));
      timings.push(`(${r.kills} kills)`);
      expect(r.kills).toBeGreaterThanOrEqual(1);
      expect(existsSync(`${out}.offload-checkpoint.json`)).toBe(false);
      expect(await sha256File(out)).toBe(await sha256File(join(dir, 'sliced.csv')));
    }, LONG);

    it('exports exactly the fixture rows as NDJSON after kill -9 and --resume', async () => {
      const out = join(dir, 'killed.ndjson');
      const r = await timed('NDJSON with kill -9', () => exportWithKills(cli('ndjson', 'killed.ndjson'), out, 2));
      timings.push(`(${r.kills} kills)`);
      expect(r.kills).toBeGreaterThanOrEqual(1);
      expect(await expectNdjsonLines(out, mapRows(n, ndjsonLine))).toBe(n);
    }, LONG);

    it('pages a composite key in order', async () => {
      const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: 997, partSize: 1024 * 1024 });
      await timed('composite key CSV', () => exporter.run({ source, tables: [{ table: 'conf_pairs' }], format: csvFormat, key: 'pairs.csv' }));
      const expected = mapRows(n, (r) => [r.grp, String(r.seq), String(r.id)], pairOrder(n));
      expect(await expectCsvRows(join(dir, 'pairs.csv'), PAIR_COLUMNS, expected)).toBe(n);
    }, LONG);

    it('applies filters with bound parameters', async () => {
      const filters = [{ column: 'grp', op: 'eq', value: 'b' }, { column: 'id', op: 'between', value: ['100', '2000'] }, { column: 'label', op: 'neq', value: "x' OR '1'='1" }] as never[];
      const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: 211 });
      await exporter.run({ source, tables: [{ table: 'conf_items', columns: ['id', 'grp', 'ts'], filters }], format: csvFormat, key: 'filtered.csv' });
      const ids = Array.from({ length: 1901 }, (_, i) => 100 + i).filter((id) => id % 3 === 1);
      const got = await expectCsvRows(join(dir, 'filtered.csv'), ['id', 'grp', 'ts'], mapRows(n, (r) => [String(r.id), r.grp, r.ts ?? ''], ids));
      const { read } = await resolveTable(source, { table: 'conf_items', filters });
      expect(await source.count(read)).toBe(got);
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

