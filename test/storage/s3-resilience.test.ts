/**
 * S3 under failure: injected 5xx and throttling are retried per part; a part that keeps failing
 * fails the slice, retryably; through a proxy that also drops connections mid-body, exports still
 * complete byte-identical.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExporter, csvFormat, fsStorage, sqliteSource } from '../../src/index.js';
import { OffloadError } from '../../src/core/errors.js';
import { DEFAULT_SCHEDULE, partSizeFor, S3_LIMITS, scheduleCapacity } from '../../src/storage/s3/part-size.js';
import { s3Storage } from '../../src/storage/s3.js';
import { FAULT_KINDS, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { createBigDb, tempDir } from '../helpers/sqlite-fixture.js';

const MiB = 1024 * 1024;

describe('S3 part sizes', () => {
  it('grow so 10,000 parts hold 5 TiB, and never pass S3 limits', () => {
    expect(partSizeFor(DEFAULT_SCHEDULE, 1)).toBe(5 * MiB);
    expect(partSizeFor(DEFAULT_SCHEDULE, 900)).toBe(5 * MiB);
    expect(partSizeFor(DEFAULT_SCHEDULE, 901)).toBe(10 * MiB);
    expect(partSizeFor(DEFAULT_SCHEDULE, S3_LIMITS.maxParts)).toBeLessThanOrEqual(S3_LIMITS.maxPartSize);
    expect(scheduleCapacity(DEFAULT_SCHEDULE)).toBeGreaterThanOrEqual(S3_LIMITS.maxObjectSize);
  });
});

describe('S3 retries (s3rver with injected failures)', () => {
  let s3: TestS3;
  let dir: string;
  let db: string;
  beforeAll(async () => {
    s3 = await startS3('retries');
    dir = tempDir('offload-s3-retry-');
    db = join(dir, 'big.db');
    createBigDb(db, 400_000);
  }, 60_000);
  afterAll(async () => s3.close());

  const run = async (key: string) => {
    const storage = s3Storage({ bucket: s3.bucket, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials, retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 } });
    const source = sqliteSource({ path: db });
    try {
      return await createExporter({ storage, partSize: 5 * MiB }).run({ source, tables: [{ table: 'events' }], format: csvFormat, key });
    } finally {
      await source.close();
    }
  };

  it('5xx and SlowDown on parts and on completion are retried; the object is complete and exact', async () => {
    const isPart = (key: string) => (r: { method: string; key: string; query: Record<string, string> }) => r.key === key && r.method === 'PUT' && r.query.partNumber === '2';
    s3.fail(isPart('a.csv'), 2, 500, 'InternalError');
    s3.fail((r) => r.key === 'a.csv' && r.method === 'PUT' && r.query.partNumber === '3', 1, 503, 'SlowDown');
    s3.fail((r) => r.key === 'a.csv' && r.method === 'POST' && r.query.uploadId !== undefined, 1, 500);
    const out = await run('a.csv');
    expect(out.status).toBe('succeeded');
    const body = Buffer.from(await (await fetch(`${s3.endpoint}/${s3.bucket}/a.csv`)).arrayBuffer());
    expect(out.status === 'succeeded' && out.file.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(s3.partUploads().get('a.csv#2')).toBe(3);
    expect(s3.partUploads().get('a.csv#3')).toBe(2);
  }, 60_000);

  it('a part that keeps failing fails the slice with a retryable STORAGE_ERROR naming the part', async () => {
    s3.fail((r) => r.key === 'b.csv' && r.method === 'PUT' && r.query.partNumber === '2', 10, 500);
    const err = await run('b.csv').then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OffloadError);
    expect((err as OffloadError).code).toBe('STORAGE_ERROR');
    expect((err as OffloadError).retryable).toBe(true);
    expect((err as OffloadError).message).toMatch(/upload part 2 of s3:\/\/retries\/b\.csv failed after 4 attempts/);
  }, 60_000);

  it('access denied is final, not retried', async () => {
    s3.fail((r) => r.key === 'c.csv' && r.method === 'PUT', 1, 403, 'AccessDenied');
    const before = s3.requests.filter((r) => r.key === 'c.csv').length;
    const err = await run('c.csv').then(() => null, (e: unknown) => e);
    expect((err as OffloadError).code).toBe('STORAGE_AUTH');
    expect(s3.requests.filter((r) => r.key === 'c.csv').length - before).toBe(2); // create + one refused part
  }, 60_000);
});

describe('S3 behind a faulty network (proxy that answers 500/503 and drops connections mid-body)', () => {
  let s3: TestS3;
  let proxy: FaultProxy;
  let dir: string;
  let db: string;
  let reference: Buffer;
  beforeAll(async () => {
    s3 = await startS3('flaky');
    proxy = await startFaultProxy(s3.endpoint);
    dir = tempDir('offload-s3-proxy-');
    db = join(dir, 'big.db');
    createBigDb(db, 1_000_000);
    const source = sqliteSource({ path: db });
    try {
      const out = await createExporter({ storage: fsStorage({ root: dir }), partSize: 5 * MiB }).run({ source, tables: [{ table: 'events' }], format: csvFormat, key: 'reference.csv' });
      expect(out.status).toBe('succeeded');
    } finally {
      await source.close();
    }
    reference = readFileSync(join(dir, 'reference.csv'));
  }, 120_000);
  afterAll(async () => {
    await proxy.close();
    await s3.close();
  });

  const storage = () => s3Storage({ bucket: s3.bucket, endpoint: proxy.endpoint, forcePathStyle: true, credentials: s3.credentials, retry: { attempts: 6, baseDelayMs: 5, maxDelayMs: 50 } });
  const exportTo = async (key: string) => {
    const source = sqliteSource({ path: db });
    try {
      return await createExporter({ storage: storage(), partSize: 5 * MiB }).run({ source, tables: [{ table: 'events' }], format: csvFormat, key });
    } finally {
      await source.close();
    }
  };
  const object = async (key: string) => Buffer.from(await (await fetch(`${s3.endpoint}/${s3.bucket}/${key}`)).arrayBuffer());
  const unfinished = async () => {
    const left = [];
    for await (const u of s3Storage({ bucket: s3.bucket, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials }).listUnfinished!()) left.push(u);
    return left;
  };

  it('every second request fails in a different way; the export completes byte-identical', async () => {
    proxy.configure({ every: 2, when: (r) => r.path.endsWith('/rotating.csv') });
    const out = await exportTo('rotating.csv');
    proxy.configure({ every: 0 });
    expect(out.status).toBe('succeeded');
    const body = await object('rotating.csv');
    expect(body.equals(reference)).toBe(true);
    expect(out.status === 'succeeded' && out.file.sha256).toBe(createHash('sha256').update(reference).digest('hex'));
    // The test proves something only if every kind of fault really happened, on parts too.
    expect(new Set(proxy.injected.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
    expect(proxy.injected.filter((f) => f.query.includes('partNumber')).length).toBeGreaterThanOrEqual(3);
    // A CreateMultipartUpload whose answer was lost leaves an upload the client never learnt of;
    // that is what the orphan sweeper is for. Nothing else may be left behind.
    const lostCreates = proxy.injected.filter((f) => f.kind === 'drop-response' && f.method === 'POST' && f.query === '?uploads').length;
    expect((await unfinished()).filter((u) => u.key === 'rotating.csv')).toHaveLength(lostCreates);
  }, 120_000);

  it('a completion that succeeded but whose answer was lost is recognised, not redone or failed', async () => {
    proxy.configure({ every: 1, limit: 1, kinds: ['drop-response'], when: (r) => r.path.endsWith('/lost-answer.csv') && r.method === 'POST' && r.query.has('uploadId') });
    const out = await exportTo('lost-answer.csv');
    expect(proxy.injected.at(-1)).toMatchObject({ kind: 'drop-response', method: 'POST' });
    expect(out.status).toBe('succeeded');
    expect((await object('lost-answer.csv')).equals(reference)).toBe(true);
    expect(out.status === 'succeeded' && out.file.sha256).toBe(createHash('sha256').update(reference).digest('hex'));
    expect((await unfinished()).filter((u) => u.key === 'lost-answer.csv')).toHaveLength(0);
  }, 120_000);
});
