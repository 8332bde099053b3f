/** Exports to S3 over the real protocol (s3rver): byte-exact objects, kill -9 + resume without re-sent parts, presigned downloads. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepOrphanUploads } from '../../src/runner/embedded.js';
import { startService } from '../../src/service.js';
import { s3Storage } from '../../src/storage/s3.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { auth, serviceFixture, waitForState } from '../helpers/service.js';
import { createBigDb, tempDir } from '../helpers/sqlite-fixture.js';

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('S3 exports (s3rver)', () => {
  let s3: TestS3;
  let dir: string;
  let db: string;
  const objectBytes = async (key: string): Promise<Buffer> => {
    const res = await fetch(`${s3.endpoint}/${s3.bucket}/${key}`);
    expect(res.status).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  };
  const s3Args = (): string[] => ['--s3-endpoint', s3.endpoint, '--s3-force-path-style'];

  beforeAll(async () => {
    s3 = await startS3('exports');
    dir = tempDir('offload-s3-');
    db = join(dir, 'big.db');
    createBigDb(db, 1_000_000);
    const local = await runCli(['export', '--from', db, '--table', 'events', '--out', join(dir, 'ref.csv'), '--quiet']);
    expect(local.code).toBe(0);
  }, 120_000);
  afterAll(async () => s3.close());

  it('a multipart export equals the local export byte for byte; parts are >= 5 MiB except the last', async () => {
    const before = s3.requests.length;
    const r = await runCli(['export', '--from', db, '--table', 'events', '--to', `s3://${s3.bucket}/full/events.csv`, ...s3Args(), '--part-size', '5MiB', '--quiet'], s3.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const ref = readFileSync(join(dir, 'ref.csv'));
    expect((await objectBytes('full/events.csv')).equals(ref)).toBe(true);
    const parts = s3.requests.slice(before).filter((q) => q.method === 'PUT' && q.query.partNumber);
    // Parts of 5 MiB (the engine cuts a part at the first batch boundary past 5 MiB), the last smaller.
    expect(parts.length).toBeGreaterThanOrEqual(5);
    expect(parts.length).toBeLessThanOrEqual(Math.ceil(ref.length / (5 * MiB)));
    const head = await s3Storage({ bucket: s3.bucket, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials })
      .client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'full/events.csv' }));
    expect(head.ContentType).toBe('text/csv; charset=utf-8');
    expect(head.ContentDisposition).toContain('filename="events.csv"');
  }, 120_000);

  it('a small export is one PutObject, no multipart upload', async () => {
    const before = s3.requests.length;
    const r = await runCli(['export', '--from', db, '--table', 'events', '--where', 'id<=100', '--to', `s3://${s3.bucket}/small.ndjson`, '--format', 'ndjson', ...s3Args(), '--quiet'], s3.env);
    expect(r.code).toBe(0);
    const reqs = s3.requests.slice(before).filter((q) => q.key === 'small.ndjson');
    expect(reqs.map((q) => q.method)).toEqual(['PUT']);
    expect((await objectBytes('small.ndjson')).toString('utf8').trimEnd().split('\n')).toHaveLength(100);
  }, 60_000);

  it('kill -9 at random moments, resume: the same object, and no part recorded in a checkpoint is ever sent again', async () => {
    const key = 'crash/events.csv';
    const cpPath = join(dir, 'crash.checkpoint.json');
    const args = ['export', '--from', db, '--table', 'events', '--to', `s3://${s3.bucket}/${key}`, ...s3Args(), '--part-size', '5MiB', '--quiet', '--checkpoint', cpPath];
    const recorded = (): number[] => {
      try {
        const rec = JSON.parse(readFileSync(cpPath, 'utf8')) as { checkpoint: { upload: { parts: { n: number }[] } | null } | null };
        return rec.checkpoint?.upload?.parts.map((p) => p.n) ?? [];
      } catch {
        return [];
      }
    };
    const snapshots: { after: number; parts: number[] }[] = [];
    let kills = 0;
    let completed = false;
    for (let round = 0; round < 8 && kills < 4; round++) {
      const child = spawnCli([...args, ...(round > 0 ? ['--resume'] : [])], s3.env);
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      let finished = false;
      void exited.then(() => (finished = true));
      const start = recorded().length;
      while (!finished && recorded().length <= start) await sleep(5);
      await sleep(Math.floor(Math.random() * 600));
      if (finished) {
        completed = (await exited) === 0;
        break;
      }
      child.kill('SIGKILL');
      await exited;
      kills += 1;
      snapshots.push({ after: s3.requests.length, parts: recorded() });
    }
    expect(kills).toBeGreaterThanOrEqual(3);
    if (!completed) {
      const last = await runCli([...args, '--resume'], s3.env);
      expect(last.stderr).toBe('');
      expect(last.code).toBe(0);
    }
    expect(existsSync(cpPath)).toBe(false);
    expect((await objectBytes(key)).equals(readFileSync(join(dir, 'ref.csv')))).toBe(true);
    for (const snap of snapshots) {
      const resent = s3.requests.slice(snap.after).filter((q) => q.key === key && q.method === 'PUT' && snap.parts.includes(Number(q.query.partNumber)));
      expect(resent).toEqual([]);
    }
    // A crash costs at most the one part in flight: repeats of a part number (sent, then killed
    // before its checkpoint) number at most one per kill.
    const counts = [...s3.partUploads()].filter(([id]) => id.startsWith(`${key}#`)).map(([, n]) => n);
    const repeats = counts.reduce((sum, n) => sum + n - 1, 0);
    expect(repeats).toBeLessThanOrEqual(kills);
  }, 240_000);

  it('bad targets fail with one readable line and exit 2', async () => {
    const missing = await runCli(['export', '--from', db, '--table', 'events', '--to', 's3://no-such-bucket/x.csv', ...s3Args(), '--quiet'], s3.env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^offload: error \[STORAGE_NOT_FOUND\]: .*bucket "no-such-bucket" does not exist/);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const bad = await runCli(['export', '--from', db, '--table', 'events', '--to', 'https://x/y', '--quiet']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--to must look like s3://bucket/path/file.csv');
    const both = await runCli(['export', '--from', db, '--table', 'events', '--to', 's3://a/b.csv', '--out', 'x.csv']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('exactly one of --out');
  }, 60_000);

  it('the service on S3: download redirects to a presigned URL that works without credentials and serves ranges; orphans are swept', async () => {
    const f = serviceFixture(20_000, {
      storage: { type: 's3', bucket: s3.bucket, prefix: 'svc', endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: s3.credentials, presignSeconds: 600 },
      export: { batchSize: 500, partSize: 5 * MiB, sliceSeconds: 0.2, leaseSeconds: 2 },
    });
    const svc = await startService({ config: f.config, port: 0 });
    try {
      const res = await fetch(`${svc.url!}/v1/exports`, { method: 'POST', headers: { ...auth('acme'), 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset: 'employees', format: 'csv' }) });
      const job = (await res.json()) as { id: string };
      const done = await waitForState(svc.url!, job.id, 'acme');
      expect(done.status).toBe('succeeded');
      const dl = await fetch(`${svc.url!}/v1/exports/${job.id}/download`, { headers: auth('acme'), redirect: 'manual' });
      expect(dl.status).toBe(302);
      const location = dl.headers.get('location')!;
      expect(location).toContain('X-Amz-Signature=');
      expect(location).toContain('X-Amz-Expires=600');
      const object = await fetch(location);
      expect(object.status).toBe(200);
      const bytes = Buffer.from(await object.arrayBuffer());
      expect(sha(bytes)).toBe((done.file as { sha256: string }).sha256);
      const range = await fetch(location, { headers: { Range: 'bytes=10-19' } });
      expect(range.status).toBe(206);
      expect(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(10, 20))).toBe(true);
      const link = (await (await fetch(`${svc.url!}/v1/exports/${job.id}/link`, { method: 'POST', headers: auth('acme') })).json()) as { url: string };
      expect(Buffer.from(await (await fetch(link.url)).arrayBuffer()).equals(bytes)).toBe(true);

      // An upload nobody owns (a worker that died for good) is aborted by the sweeper.
      const orphanKey = 'svc/acme/job_gone.csv';
      await svc.storage.check?.();
      const client = (svc.storage as ReturnType<typeof s3Storage>).client;
      await client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: orphanKey }));
      expect(await sweepOrphanUploads(svc.store, svc.storage, 60_000)).toBe(0); // still within the grace period
      expect(await sweepOrphanUploads(svc.store, svc.storage, 0)).toBe(1);
      const left: string[] = [];
      for await (const u of svc.storage.listUnfinished!()) left.push(u.key);
      expect(left).toEqual([]);
    } finally {
      await svc.close();
    }
  }, 120_000);

  it('serve refuses to start when the bucket is missing', async () => {
    const f = serviceFixture(100, { storage: { type: 's3', bucket: 'missing-bucket', endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials } });
    await expect(startService({ config: f.config, port: 0 })).rejects.toThrow(/bucket "missing-bucket" does not exist/);
    const r = await runCli(['serve', '--config', f.configPath, '--port', '0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('STORAGE_NOT_FOUND');
  }, 60_000);
});
