/**
 * A real S3 protocol endpoint for tests: s3rver on an ephemeral port, plus the two multipart
 * calls s3rver 3 does not implement (ListMultipartUploads, AbortMultipartUpload), answered from
 * s3rver's own upload directory, and S3's NoSuchUpload for calls on an upload that no longer
 * exists. (ListParts, which s3rver also lacks, is not used by Offload.) Every request is
 * recorded, so tests can count UploadPart calls.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import S3rver from 's3rver';
import { tempDir } from './sqlite-fixture.js';

export interface S3Request { method: string; bucket: string; key: string; query: Record<string, string> }

export interface TestS3 {
  endpoint: string;
  bucket: string;
  requests: S3Request[];
  /** `{ accessKeyId, secretAccessKey }` s3rver accepts. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Environment for a child process using this endpoint (SDK default credential chain). */
  env: Record<string, string>;
  /** Answers the next `count` requests matching `when` with an S3 error instead of serving them. */
  fail(when: (r: S3Request) => boolean, count: number, status?: number, code?: string): void;
  /** Holds every request matching `when` for `ms` before serving it (a slow network or store). */
  slow(when: (r: S3Request) => boolean, ms: number): void;
  /** UploadPart calls per `key#partNumber`. */
  partUploads(): Map<string, number>;
  close(): Promise<void>;
}

type KoaContext = {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  body: unknown;
  type: string;
};
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

const xml = (s: string): string => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startS3(bucket = 'exports'): Promise<TestS3> {
  const directory = tempDir('offload-s3rver-');
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: process.env.OFFLOAD_S3RVER_LOG !== '1', directory, configureBuckets: [{ name: bucket, configs: [] }] });
  const requests: S3Request[] = [];
  const uploadsDir = (b: string): string => join(directory, b, '._S3rver_uploads');
  const faults: { when: (r: S3Request) => boolean; left: number; status: number; code: string }[] = [];
  const delays: { when: (r: S3Request) => boolean; ms: number }[] = [];

  const extra: KoaMiddleware = async (ctx, next) => {
    const [, b = '', ...rest] = ctx.path.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const request = { method: ctx.method, bucket: b, key, query: { ...ctx.query } };
    requests.push(request);
    const delay = delays.find((d) => d.when(request));
    if (delay) await new Promise((r) => setTimeout(r, delay.ms));
    const fault = faults.find((f) => f.left > 0 && f.when(request));
    if (fault) {
      fault.left -= 1;
      ctx.status = fault.status;
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected by the test</Message></Error>`;
      return;
    }
    if (ctx.method === 'GET' && key === '' && 'uploads' in ctx.query) {
      // ListMultipartUploads (one page; tests keep few uploads)
      const prefix = ctx.query.prefix ?? '';
      const entries: string[] = [];
      for (const id of await readdir(uploadsDir(b)).catch(() => [] as string[])) {
        const k = await readFile(join(uploadsDir(b), id, 'key'), 'utf8').catch(() => null);
        if (k === null || !k.startsWith(prefix)) continue;
        const initiated = (await stat(join(uploadsDir(b), id))).birthtime.toISOString();
        entries.push(`<Upload><Key>${xml(k)}</Key><UploadId>${id}</UploadId><Initiated>${initiated}</Initiated></Upload>`);
      }
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${xml(b)}</Bucket><IsTruncated>false</IsTruncated>${entries.join('')}</ListMultipartUploadsResult>`;
      return;
    }
    const uploadDir = ctx.query.uploadId ? join(uploadsDir(b), ctx.query.uploadId.replace(/[^0-9a-f]/gi, '')) : null;
    if (uploadDir && key !== '' && !(await stat(uploadDir).catch(() => null))) {
      // UploadPart, CompleteMultipartUpload or AbortMultipartUpload of an upload that was
      // completed or aborted: S3 answers NoSuchUpload (s3rver 3 answers 500).
      ctx.status = 404;
      ctx.type = 'application/xml';
      ctx.body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>';
      return;
    }
    if (ctx.method === 'DELETE' && uploadDir) {
      // AbortMultipartUpload
      await rm(uploadDir, { recursive: true, force: true });
      ctx.status = 204;
      ctx.body = '';
      return;
    }
    await next();
  };
  (server as unknown as { middleware: KoaMiddleware[] }).middleware.unshift(extra);
  const address = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${address.port}`;
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  return {
    endpoint,
    bucket,
    requests,
    credentials,
    env: { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_REGION: 'us-east-1' },
    fail(when, count, status = 500, code = 'InternalError') {
      faults.push({ when, left: count, status, code });
    },
    slow(when, ms) {
      delays.push({ when, ms });
    },
    partUploads() {
      const m = new Map<string, number>();
      for (const r of requests) {
        if (r.method === 'PUT' && r.query.uploadId && r.query.partNumber) {
          const id = `${r.key}#${r.query.partNumber}`;
          m.set(id, (m.get(id) ?? 0) + 1);
        }
      }
      return m;
    },
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
