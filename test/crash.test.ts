/** Crash test: kill -9 a real exporting process at random moments (some inside a part write), resume, compare bytes. */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse';
import { createReadStream } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from './helpers/cli.js';
import { createBigDb, tempDir } from './helpers/sqlite-fixture.js';

const ROWS = 1_000_000;
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function durableLength(cpPath: string): number | null {
  try {
    const rec = JSON.parse(readFileSync(cpPath, 'utf8')) as { checkpoint: { upload: { length: number } | null } | null };
    return rec.checkpoint?.upload?.length ?? null;
  } catch {
    return null; // being replaced right now
  }
}

describe('kill -9 and resume', () => {
  let dir: string;
  let db: string;
  beforeAll(() => {
    dir = tempDir('offload-crash-');
    db = join(dir, 'big.db');
    createBigDb(db, ROWS);
  });

  /**
   * Runs `offload export … extra` to `name`, kills it with SIGKILL at >= 5 moments (some inside a
   * part write), resumes to the end and checks the file equals an uninterrupted run's.
   */
  async function crashAndResume(name: string, extra: string[]): Promise<string> {
    const args = (out: string): string[] => ['export', '--from', `sqlite:${db}`, '--table', 'events', '--out', join(dir, out), '--quiet', '--batch-size', '2000', '--part-size', '256KiB', ...extra];
    const ref = await runCli(args(`ref-${name}`));
    expect(ref.code).toBe(0);

    const out = join(dir, name);
    const cpPath = `${out}.offload-checkpoint.json`;
    const partial = `${out}.partial`;
    let kills = 0;
    let killsInsidePart = 0;
    let resumed = false;
    while (kills < 6) {
      const child = spawnCli([...args(name), ...(resumed ? ['--resume'] : [])]);
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      let finished = false;
      void exited.then(() => (finished = true));
      // Wait until this run has stored something, so every kill interrupts real work.
      const before = durableLength(cpPath) ?? -1;
      while (!finished && (durableLength(cpPath) ?? -1) <= before) await sleep(2);
      if (kills % 2 === 0) {
        // Inside a part write: bytes are in the .partial file but not yet in the checkpoint.
        const until = Date.now() + 3000;
        while (!finished && Date.now() < until) {
          const len = durableLength(cpPath);
          const size = existsSync(partial) ? statSync(partial).size : 0;
          if (len !== null && size > len) break;
          await new Promise((r) => setImmediate(r));
        }
      } else {
        await sleep(Math.floor(Math.random() * 400));
      }
      if (finished) break;
      const len = durableLength(cpPath);
      const size = existsSync(partial) ? statSync(partial).size : 0;
      child.kill('SIGKILL');
      await exited;
      kills += 1;
      if (len !== null && size > len) killsInsidePart += 1;
      resumed = true;
    }
    expect(kills).toBeGreaterThanOrEqual(5);
    expect(killsInsidePart).toBeGreaterThanOrEqual(1);
    expect(existsSync(out)).toBe(false); // never a half-written file at the final path

    const last = await runCli([...args(name), '--resume']);
    expect(last.stderr).toBe('');
    expect(last.code).toBe(0);
    expect(sha(out)).toBe(sha(join(dir, `ref-${name}`)));
    expect(existsSync(partial)).toBe(false);
    expect(existsSync(cpPath)).toBe(false);
    return out;
  }

  it(`a ${ROWS.toLocaleString('en-US')}-row CSV export killed at >= 5 moments ends byte-identical to an uninterrupted run`, async () => {
    const out = await crashAndResume('crashed.csv', []);

    // Parse the file back: exactly the source rows, in key order, none missing, none twice.
    const src = new Database(db, { readonly: true });
    const it = src.prepare('SELECT id, account, kind, amount, note FROM events ORDER BY id').raw(true).iterate() as IterableIterator<unknown[]>;
    let n = 0;
    const parser = createReadStream(out).pipe(parse({ from_line: 2 }));
    for await (const rec of parser as AsyncIterable<string[]>) {
      const row = it.next().value as unknown[];
      const expected = row.map((v) => (v === null ? '' : String(v)));
      if (rec.join('\u0001') !== expected.join('\u0001')) expect(rec).toEqual(expected);
      n += 1;
    }
    expect(it.next().done).toBe(true);
    src.close();
    expect(n).toBe(ROWS);
  }, 300_000);

  it('XLSX (a third of the rows) and gzipped NDJSON survive kill -9 the same way', async () => {
    const xlsx = await crashAndResume('crashed.xlsx', ['--format', 'xlsx', '--where', 'id<=350000']);
    execFileSync('unzip', ['-tq', xlsx]);
    const gz = await crashAndResume('crashed.ndjson.gz', ['--format', 'ndjson', '--gzip']);
    execFileSync('gunzip', ['-t', gz]);
    const lines = gunzipSync(readFileSync(gz)).toString('utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(ROWS);
    expect(JSON.parse(lines[ROWS - 1]!)).toMatchObject({ id: ROWS });
  }, 400_000);
});
