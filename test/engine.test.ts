/** The resumable slice: many slices, aborts and stale leases all give the bytes of one uninterrupted run. */
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createExporter, csvFormat, fsStorage, ndjsonFormat, runSlice, sqliteSource, CheckpointFile,
  type Checkpoint, type CheckpointSink, type Format, type Source,
} from '../src/index.js';
import { OffloadError } from '../src/core/errors.js';
import { createBigDb, createTypedDb, tempDir } from './helpers/sqlite-fixture.js';

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('runSlice', () => {
  let dir: string;
  let db: string;
  beforeAll(() => {
    dir = tempDir();
    db = join(dir, 'big.db');
    createBigDb(db, 20_000);
  });

  async function exportOnce(format: Format, key: string, opts: { sliceMs?: number; partSize?: number; batchSize?: number } = {}) {
    const source = sqliteSource({ path: db });
    const saves: Checkpoint[] = [];
    const sink: CheckpointSink = { save: async (cp) => void saves.push(structuredClone(cp)) };
    const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: opts.batchSize ?? 700, partSize: opts.partSize ?? 64 * 1024 });
    const out = await exporter.run({ source, tables: [{ table: 'events' }], format, key, sink, ...(opts.sliceMs !== undefined ? { sliceMs: opts.sliceMs } : {}) });
    await source.close();
    return { out, saves };
  }

  it.each([csvFormat, ndjsonFormat])('%s: a deadline of 1 ms gives many slices and the same bytes', async (format) => {
    const one = await exportOnce(format, `one.${format.extension}`);
    const many = await exportOnce(format, `many.${format.extension}`, { sliceMs: 1 });
    expect(one.out.status).toBe('succeeded');
    expect(many.out.status).toBe('succeeded');
    expect(many.saves.length).toBeGreaterThan(one.saves.length);
    expect(sha(join(dir, `many.${format.extension}`))).toBe(sha(join(dir, `one.${format.extension}`)));
    if (one.out.status === 'succeeded') {
      expect(one.out.rows).toBe(20_000);
      expect(one.out.file.sha256).toBe(sha(join(dir, `one.${format.extension}`)));
    }
  });

  it('checkpoints only at part boundaries: each checkpoint matches the bytes durably stored', async () => {
    const { saves } = await exportOnce(csvFormat, 'parts.csv', { partSize: 100_000 });
    const final = readFileSync(join(dir, 'parts.csv'));
    const partials = saves.filter((s) => !s.completed);
    expect(partials.length).toBeGreaterThan(3);
    for (const cp of partials) {
      expect(cp.bytes).toBeGreaterThanOrEqual(100_000 * cp.parts);
      expect(cp.upload).toEqual({ length: cp.bytes });
      // The stored prefix ends exactly after the last row of the cursor's key.
      const prefix = final.subarray(0, cp.bytes).toString('utf8');
      const lines = prefix.split('\r\n');
      expect(lines.at(-1)).toBe('');
      const key = (cp.cursor.key as number[] | { $bigint: string }[])[0];
      const lastId = typeof key === 'number' ? key : Number((key as { $bigint: string }).$bigint);
      expect(lines.at(-2)!.split(',')[0]).toBe(String(lastId));
      expect(cp.rows).toBe(lastId);
    }
    expect(saves.at(-1)!.completed?.size).toBe(final.length);
  });

  it('an aborted slice stores what it buffered and the next slice continues to identical bytes', async () => {
    await exportOnce(csvFormat, 'ref.csv');
    const source = sqliteSource({ path: db });
    const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: 700, partSize: 1 << 30 });
    const plan = await exporter.plan({ source, tables: [{ table: 'events' }], format: csvFormat, key: 'aborted.csv' });
    let saved: Checkpoint | null = null;
    const sink: CheckpointSink = { save: async (cp) => void (saved = cp) };
    const controller = new AbortController();
    let batches = 0;
    const first = await runSlice(plan, {
      checkpoint: null, sink, signal: controller.signal,
      onProgress: () => { if (++batches === 3) controller.abort(); },
    });
    expect(first.done).toBe(false);
    expect(saved).not.toBeNull();
    expect(saved!.rows).toBe(2100);
    expect(existsSync(join(dir, 'aborted.csv'))).toBe(false);
    const second = await runSlice(plan, { checkpoint: saved, sink });
    expect(second.done).toBe(true);
    expect(sha(join(dir, 'aborted.csv'))).toBe(sha(join(dir, 'ref.csv')));
    await source.close();
  });

  it('a checkpoint write with a stale lease token fails with LEASE_LOST and changes nothing', async () => {
    const path = join(dir, 'lease.offload-checkpoint.json');
    const a = await CheckpointFile.acquire(path, { r: 1 }, { resume: false, force: false });
    const source = sqliteSource({ path: db });
    const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: 500, partSize: 20_000 });
    const plan = await exporter.plan({ source, tables: [{ table: 'events' }], format: csvFormat, key: 'lease.csv' });
    const r1 = await runSlice(plan, { checkpoint: null, sink: a, deadline: 0 });
    expect(r1.done).toBe(false);
    // Another worker takes the export over.
    const b = await CheckpointFile.acquire(path, { r: 1 }, { resume: true, force: false });
    const before = readFileSync(path, 'utf8');
    const err = await runSlice(plan, { checkpoint: a.checkpoint ?? (r1.done ? null : r1.checkpoint), sink: a, deadline: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OffloadError);
    expect((err as OffloadError).code).toBe('LEASE_LOST');
    expect(readFileSync(path, 'utf8')).toBe(before);
    // The new holder finishes the export from the last good checkpoint.
    let cp = b.checkpoint;
    for (;;) {
      const r = await runSlice(plan, { checkpoint: cp, sink: b, deadline: Date.now() + 5 });
      if (r.done) break;
      cp = r.checkpoint;
    }
    await exportOnce(csvFormat, 'lease-ref.csv', { batchSize: 500 });
    expect(sha(join(dir, 'lease.csv'))).toBe(sha(join(dir, 'lease-ref.csv')));
    await source.close();
  });

  it('exports 0 rows as a header-only file', async () => {
    const d = tempDir();
    createTypedDb(join(d, 't.db'), 0);
    const source = sqliteSource({ path: join(d, 't.db') });
    const out = await createExporter({ storage: fsStorage({ root: d }) }).run({ source, tables: [{ table: 'items' }], format: csvFormat, key: 'empty.csv' });
    expect(out.status).toBe('succeeded');
    expect(readFileSync(join(d, 'empty.csv'), 'utf8')).toBe('id,big,price,name,data,status\r\n');
    await source.close();
  });

  it('slices shorter than one minimum-size part still make progress (S3: 5 MiB minimum)', async () => {
    const base = fsStorage({ root: dir });
    const storage = { ...base, minPartSize: 200 * 1024 };
    const source = sqliteSource({ path: db });
    const saves: Checkpoint[] = [];
    const exporter = createExporter({ storage, batchSize: 300, partSize: 16 * 1024 });
    const out = await exporter.run({ source, tables: [{ table: 'events' }], format: csvFormat, key: 'minpart.csv', sliceMs: 1, sink: { save: async (cp) => void saves.push(structuredClone(cp)) } });
    await source.close();
    expect(out.status).toBe('succeeded');
    // Every stored part but the last is at least the minimum part size.
    const sizes = saves.slice(0, -1).map((cp, i) => cp.bytes - (i > 0 ? saves[i - 1]!.bytes : 0));
    expect(sizes.every((n) => n >= 200 * 1024)).toBe(true);
    expect(sha(join(dir, 'minpart.csv'))).toBe(sha(join(dir, 'one.csv')));
  });
  it('run({ retry }) resumes from the last checkpoint after retryable failures; without it the failure surfaces', async () => {
    const reference = await exportOnce(csvFormat, 'retry-ref.csv');
    expect(reference.out.status).toBe('succeeded');
    // A source whose connection breaks on the 5th, 9th and 13th batch query, as a restarted server would.
    const flaky = (): Source => {
      const inner = sqliteSource({ path: db });
      let queries = 0;
      return {
        ...inner,
        async *batches(plan, after, opts) {
          for await (const b of inner.batches(plan, after, opts)) {
            queries += 1;
            if (queries % 4 === 1 && queries > 1 && queries < 14) throw new OffloadError('SOURCE_UNREACHABLE', '[offload] connection lost (test)', { retryable: true });
            yield b;
          }
        },
      };
    };
    const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: 700, partSize: 16 * 1024 });
    const retries: number[] = [];
    const source = flaky();
    const saves: Checkpoint[] = [];
    const out = await exporter.run({
      source, tables: [{ table: 'events' }], format: csvFormat, key: 'retry.csv', sink: { save: async (cp) => void saves.push(cp) },
      retry: { retries: 3, baseDelayMs: 5, onRetry: (_err, n) => retries.push(n) },
    });
    expect(out.status).toBe('succeeded');
    expect(retries).toEqual([1, 1, 1]); // each failure came after progress, so the count starts again
    expect(sha(join(dir, 'retry.csv'))).toBe(sha(join(dir, 'retry-ref.csv')));
    // Resumed from checkpoints: the rows counted in checkpoints never go backwards.
    expect(saves.map((c) => c.rows)).toEqual([...saves.map((c) => c.rows)].sort((a, b) => a - b));

    const err = await exporter.run({ source: flaky(), tables: [{ table: 'events' }], format: csvFormat, key: 'retry-none.csv' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SOURCE_UNREACHABLE', retryable: true });
  });
});
