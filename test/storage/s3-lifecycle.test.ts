/**
 * Nothing billable is left behind: a cancelled export (running or waiting in the queue) and a
 * failed one leave zero in-progress multipart uploads, and the orphan sweeper never touches the
 * upload of a job that is still alive.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepOrphanUploads } from '../../src/runner/embedded.js';
import { startService, type Service } from '../../src/service.js';
import type { UnfinishedUpload } from '../../src/storage/storage.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { auth, serviceFixture, waitForState, type ServiceFixture } from '../helpers/service.js';

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('S3: cancel, failure and the orphan sweeper leave no parts behind', () => {
  let s3: TestS3;
  let f: ServiceFixture;
  beforeAll(async () => {
    s3 = await startS3('lifecycle');
    // acme owns about half the rows: ~26 MB of CSV, five 5 MiB parts.
    f = serviceFixture(400_000, {
      storage: { type: 's3', bucket: s3.bucket, prefix: 'life', endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: s3.credentials },
      export: { batchSize: 2000, partSize: 5 * MiB, sliceSeconds: 0.5, leaseSeconds: 2 },
      limits: { activeExportsPerTenant: 5, concurrency: 2, retentionHours: 24, syncRowCap: 5000, maxAttempts: 1, linkTtlSeconds: 3600 },
    });
    // Every part takes a while, so a test can act while an upload is open.
    s3.slow((r) => r.method === 'PUT' && r.query.partNumber !== undefined, 1500);
  }, 120_000);
  afterAll(async () => s3.close());

  const unfinished = async (svc: Service): Promise<UnfinishedUpload[]> => {
    const all: UnfinishedUpload[] = [];
    for await (const u of svc.storage.listUnfinished!()) all.push(u);
    return all;
  };
  const create = async (svc: Service): Promise<string> => {
    const res = await fetch(`${svc.url!}/v1/exports`, { method: 'POST', headers: { ...auth('acme'), 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset: 'employees', format: 'csv' }) });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };
  /** Waits until the job's upload exists on S3 and at least one of its parts is stored. */
  const untilPartStored = async (svc: Service, id: string): Promise<UnfinishedUpload> => {
    const until = Date.now() + 30_000;
    for (;;) {
      const mine = (await unfinished(svc)).find((u) => u.key === `acme/${id}.csv`);
      const job = await svc.store.get(id);
      if (mine && (job?.checkpoint?.parts ?? 0) >= 1) return mine;
      if (Date.now() > until) throw new Error(`export ${id} stored no part within 30 s (state ${String(job?.state)})`);
      await sleep(50);
    }
  };
  const cancel = async (svc: Service, id: string): Promise<number> =>
    (await fetch(`${svc.url!}/v1/exports/${id}/cancel`, { method: 'POST', headers: auth('acme') })).status;

  it('a running export: the sweeper leaves its upload alone; cancel aborts it', async () => {
    const svc = await startService({ config: f.config, port: 0 });
    try {
      const id = await create(svc);
      const upload = await untilPartStored(svc, id);
      // Grace 0: only ownership protects it, and the job is alive.
      expect(await sweepOrphanUploads(svc.store, svc.storage, 0)).toBe(0);
      expect((await unfinished(svc)).map((u) => u.uploadId)).toContain(upload.uploadId);

      expect(await cancel(svc, id)).toBe(202);
      expect((await waitForState(svc.url!, id, 'acme')).status).toBe('cancelled');
      expect(await unfinished(svc)).toEqual([]);
      expect(await svc.storage.stat(`acme/${id}.csv`)).toBeNull();
    } finally {
      await svc.close();
    }
  }, 90_000);

  it('an export cancelled while it waits in the queue with a checkpoint: its upload is aborted by the API', async () => {
    const worker = await startService({ config: f.config, port: 0 });
    let id: string;
    try {
      id = await create(worker);
      await untilPartStored(worker, id);
    } finally {
      await worker.close(); // checkpoints and releases the job: queued, upload open
    }
    const api = await startService({ config: f.config, port: 0, worker: false });
    try {
      const job = await api.store.get(id);
      expect(job?.state).toBe('queued');
      expect(job?.checkpoint?.upload).not.toBeNull();
      expect(await unfinished(api)).toHaveLength(1);
      expect(await cancel(api, id)).toBe(202);
      expect((await api.store.get(id))?.state).toBe('cancelled');
      expect(await unfinished(api)).toEqual([]);
    } finally {
      await api.close();
    }
  }, 90_000);

  it('a failed export (a part that keeps failing, no attempts left) aborts its upload', async () => {
    s3.fail((r) => r.key.startsWith('life/') && r.method === 'PUT' && r.query.partNumber === '2', 1000, 500, 'InternalError');
    const svc = await startService({ config: f.config, port: 0 });
    try {
      const id = await create(svc);
      const done = await waitForState(svc.url!, id, 'acme', undefined, 90_000);
      expect(done.status).toBe('failed');
      expect((done.error as { code: string }).code).toBe('STORAGE_ERROR');
      expect(s3.partUploads().get(`life/acme/${id}.csv#1`)).toBe(1);
      expect(await unfinished(svc)).toEqual([]);
    } finally {
      await svc.close();
    }
  }, 120_000);

  it('an orphan (its job is gone) is aborted once past the grace period; newer ones wait', async () => {
    const svc = await startService({ config: f.config, port: 0, worker: false });
    try {
      const { CreateMultipartUploadCommand } = await import('@aws-sdk/client-s3');
      const client = (svc.storage as unknown as { client: import('@aws-sdk/client-s3').S3Client }).client;
      await client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: 'life/acme/job_vanished.csv' }));
      expect(await sweepOrphanUploads(svc.store, svc.storage, 3_600_000)).toBe(0);
      expect(await unfinished(svc)).toHaveLength(1);
      expect(await sweepOrphanUploads(svc.store, svc.storage, 0)).toBe(1);
      expect(await unfinished(svc)).toEqual([]);
    } finally {
      await svc.close();
    }
  }, 60_000);
});
