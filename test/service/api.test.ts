/** The HTTP API over real HTTP: lifecycle, auth and tenant isolation, validation, limits, downloads, links, retention. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import ExcelJS from 'exceljs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepExpired } from '../../src/runner/embedded.js';
import { signedQuery } from '../../src/http/links.js';
import { startService, type Service } from '../../src/service.js';
import { runCli } from '../helpers/cli.js';
import { auth, serviceFixture, waitForState, type ServiceFixture } from '../helpers/service.js';

type Json = Record<string, unknown>;

describe('HTTP API', () => {
  let f: ServiceFixture;
  let svc: Service;
  let url: string;
  const post = (path: string, body: unknown, headers: Record<string, string> = auth('acme')): Promise<Response> =>
    fetch(`${url}${path}`, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const get = (path: string, headers: Record<string, string> = auth('acme')): Promise<Response> => fetch(`${url}${path}`, { headers });
  const create = async (body: Json = { dataset: 'employees', format: 'csv' }, tenant: 'acme' | 'globex' = 'acme'): Promise<Json> => {
    const res = await post('/v1/exports', body, auth(tenant));
    expect(res.status).toBe(202);
    return (await res.json()) as Json;
  };

  beforeAll(async () => {
    f = serviceFixture(20_000);
    svc = await startService({ config: f.config, port: 0 });
    url = svc.url!;
  });
  afterAll(async () => svc.close());

  it('create → SSE → download gives the bytes of the same export run by the CLI', async () => {
    const job = await create({ dataset: 'employees', format: 'csv', filters: [{ column: 'status', op: 'eq', value: 'active' }] });
    expect(job.status).toBe('queued');
    expect((job.links as Json).self).toBe(`${url}/v1/exports/${String(job.id)}`);
    const events = await get(`/v1/exports/${String(job.id)}/events`);
    expect(events.headers.get('content-type')).toMatch(/text\/event-stream/);
    const text = await events.text();
    const kinds = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(kinds.at(-1)).toBe('succeeded');
    const last = JSON.parse([...text.matchAll(/^data: (.*)$/gm)].at(-1)![1]!) as Json;
    expect((last.progress as Json).percent).toBe(100);

    const dl = await get(`/v1/exports/${String(job.id)}/download`);
    expect(dl.status).toBe(200);
    expect(dl.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(dl.headers.get('content-disposition')).toMatch(/^attachment; filename="employees-\d{4}-\d{2}-\d{2}\.csv"/);
    const bytes = Buffer.from(await dl.arrayBuffer());
    expect(dl.headers.get('content-length')).toBe(String(bytes.length));
    expect(dl.headers.get('etag')).toBe(`"${String((last.file as Json).sha256)}"`);

    const cli = await runCli(['export', '--from', `sqlite:${f.db}`, '--table', 'employees', '--quiet', '--out', join(f.dir, 'cli.csv'),
      '--columns', 'id,employee_no,first_name,last_name,email,department_id,title,status,hired_at,salary,notes',
      '--where', 'status=active', '--where', 'tenant_id=acme']);
    expect(cli.code).toBe(0);
    expect(bytes.equals(readFileSync(join(f.dir, 'cli.csv')))).toBe(true);
  });

  it('serves Range requests, so a download can resume', async () => {
    const job = await create();
    await waitForState(url, String(job.id), 'acme');
    const full = Buffer.from(await (await get(`/v1/exports/${String(job.id)}/download`)).arrayBuffer());
    const a = await fetch(`${url}/v1/exports/${String(job.id)}/download`, { headers: { ...auth('acme'), Range: 'bytes=0-999' } });
    expect(a.status).toBe(206);
    expect(a.headers.get('content-range')).toBe(`bytes 0-999/${full.length}`);
    const b = await fetch(`${url}/v1/exports/${String(job.id)}/download`, { headers: { ...auth('acme'), Range: 'bytes=1000-' } });
    expect(b.status).toBe(206);
    const joined = Buffer.concat([Buffer.from(await a.arrayBuffer()), Buffer.from(await b.arrayBuffer())]);
    expect(joined.equals(full)).toBe(true);
    const bad = await fetch(`${url}/v1/exports/${String(job.id)}/download`, { headers: { ...auth('acme'), Range: `bytes=${full.length + 10}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${full.length}`);
  });

  it('offers every format, gzip included: the right type, a .gz file name, bytes that unpack to the plain export', async () => {
    const plain = await create({ dataset: 'employees', format: 'ndjson' });
    const gz = await create({ dataset: 'employees', format: 'ndjson', compression: 'gzip' });
    const xlsx = await create({ dataset: 'employees', format: 'xlsx', options: { headerStyle: 'title' } });
    for (const j of [plain, gz, xlsx]) expect((await waitForState(url, String(j.id), 'acme')).status).toBe('succeeded');
    const dl = await get(`/v1/exports/${String(gz.id)}/download`);
    expect(dl.headers.get('content-type')).toBe('application/gzip');
    expect(dl.headers.get('content-encoding')).toBeNull(); // the client keeps the .gz file as it is
    expect(dl.headers.get('content-disposition')).toMatch(/filename="employees-\d{4}-\d{2}-\d{2}\.ndjson\.gz"/);
    const unpacked = gunzipSync(Buffer.from(await dl.arrayBuffer()));
    const plainBytes = Buffer.from(await (await get(`/v1/exports/${String(plain.id)}/download`)).arrayBuffer());
    expect(unpacked.equals(plainBytes)).toBe(true);
    const x = await get(`/v1/exports/${String(xlsx.id)}/download`);
    expect(x.headers.get('content-type')).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(await x.arrayBuffer());
    expect(wb.worksheets[0]!.rowCount).toBe(plainBytes.toString('utf8').trimEnd().split('\n').length + 1);
    expect(wb.worksheets[0]!.getCell('A1').value).toBe('Id');
    const bad = await post('/v1/exports', { dataset: 'employees', format: 'csv', compression: 'zip' });
    expect(bad.status).toBe(422);
    const badOpt = await post('/v1/exports', { dataset: 'employees', format: 'sql', options: { dialect: 'oracle' } });
    expect(badOpt.status).toBe(422);
    expect(((await badOpt.json()) as { error: Json }).error.code).toBe('BAD_REQUEST');
  });

  it('isolates tenants on every route (another tenant’s export is 404)', async () => {
    const job = await create();
    const id = String(job.id);
    await waitForState(url, id, 'acme');
    for (const [method, path] of [['GET', ''], ['GET', '/download'], ['GET', '/events'], ['POST', '/cancel'], ['POST', '/link']] as const) {
      const res = await fetch(`${url}/v1/exports/${id}${path}`, { method, headers: auth('globex') });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(((await res.json()) as Json).error).toMatchObject({ code: 'NOT_FOUND' });
    }
    const list = (await (await get('/v1/exports', auth('globex'))).json()) as { data: Json[] };
    expect(list.data.some((j) => j.id === id)).toBe(false);
    // Globex's own export contains only globex rows: the tenant predicate is always applied.
    const g = await create({ dataset: 'employees', format: 'ndjson', columns: ['id'] }, 'globex');
    await waitForState(url, String(g.id), 'globex');
    const lines = (await (await get(`/v1/exports/${String(g.id)}/download`, auth('globex'))).text()).trim().split('\n');
    expect(lines).toHaveLength(10_000);
    expect(lines.every((l) => (JSON.parse(l) as { id: number }).id % 2 === 1)).toBe(true); // globex rows have odd ids
  });

  it('answers 401 without a valid key, with a JSON error and no stack trace', async () => {
    for (const headers of [{}, { Authorization: 'Bearer nope' }, { Authorization: 'Basic abc' }] as Record<string, string>[]) {
      const res = await get('/v1/exports', headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/Bearer/);
      const body = (await res.json()) as Json;
      expect(body.error).toMatchObject({ code: 'UNAUTHORIZED' });
    }
  });

  it('answers 422 with field paths for invalid bodies, and 413 for oversized ones', async () => {
    const cases: [unknown, RegExp][] = [
      ['{not json', /not valid JSON/],
      [{ format: 'csv' }, /dataset/],
      [{ dataset: 'employees', format: 'csv', filters: [{ column: 'status', op: 'like', value: 'x' }] }, /filters\.0\.op/],
      [{ dataset: 'employees', format: 'csv', sql: 'select 1' }, /sql/],
      [{ dataset: 'salaries', format: 'csv' }, /unknown dataset "salaries"/],
      [{ dataset: 'employees', format: 'docx' }, /format "docx"/],
      [{ dataset: 'employees', format: 'csv', columns: ['id', 'tenant_id'] }, /"tenant_id" is not exportable/],
      [{ dataset: 'employees', format: 'csv', filters: [{ column: 'salary', op: 'gt', value: 1 }] }, /"salary" .* is not filterable/],
      [{ dataset: 'employees', format: 'csv', filters: [{ column: 'status', op: 'gt', value: 'a' }] }, /operator "gt" is not allowed/],
      [{ dataset: 'employees', format: 'csv', options: { delimiter: '|' } }, /delimiter/],
    ];
    for (const [body, message] of cases) {
      const res = await post('/v1/exports', body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      const err = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(err.message).toMatch(message);
    }
    const big = await post('/v1/exports', { dataset: 'employees', format: 'csv', columns: Array.from({ length: 400 }, () => 'employee_no') });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: Json }).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('is idempotent with Idempotency-Key: same body → same export, other body → 409', async () => {
    const key = { ...auth('acme'), 'Idempotency-Key': 'order-42' };
    const a = await post('/v1/exports', { dataset: 'employees', format: 'csv', columns: ['id'] }, key);
    expect(a.status).toBe(202);
    const b = await post('/v1/exports', { columns: ['id'], format: 'csv', dataset: 'employees' }, key);
    expect(b.status).toBe(200);
    expect(((await b.json()) as Json).id).toBe(((await a.json()) as Json).id);
    const c = await post('/v1/exports', { dataset: 'employees', format: 'ndjson' }, key);
    expect(c.status).toBe(409);
    // The same key is another tenant's own namespace.
    const d = await post('/v1/exports', { dataset: 'employees', format: 'ndjson' }, { ...auth('globex'), 'Idempotency-Key': 'order-42' });
    expect(d.status).toBe(202);
  });

  it('lists newest first with cursor pagination and a status filter', async () => {
    const page1 = (await (await get('/v1/exports?limit=2')).json()) as { data: Json[]; nextCursor: string };
    expect(page1.data).toHaveLength(2);
    expect(page1.nextCursor).toBeTruthy();
    const page2 = (await (await get(`/v1/exports?limit=2&cursor=${page1.nextCursor}`)).json()) as { data: Json[] };
    expect(page2.data.length).toBeGreaterThan(0);
    expect(String(page2.data[0]!.createdAt) <= String(page1.data[1]!.createdAt)).toBe(true);
    expect(page1.data.map((j) => j.id)).not.toContain(page2.data[0]!.id);
    const ok = (await (await get('/v1/exports?status=succeeded&limit=100')).json()) as { data: Json[] };
    expect(ok.data.every((j) => j.status === 'succeeded')).toBe(true);
    expect((await get('/v1/exports?limit=1000')).status).toBe(422);
    expect((await get('/v1/exports?status=bogus')).status).toBe(422);
  });

  it('signs download links: valid works without a key, tampered or expired → 403', async () => {
    const job = await create({ dataset: 'employees', format: 'csv', columns: ['id', 'email'] });
    const id = String(job.id);
    await waitForState(url, id, 'acme');
    const link = (await (await post(`/v1/exports/${id}/link`, {})).json()) as { url: string; expiresAt: string };
    expect(Date.parse(link.expiresAt)).toBeGreaterThan(Date.now());
    const ok = await fetch(link.url);
    expect(ok.status).toBe(200);
    expect((await ok.text()).startsWith('id,email\r\n')).toBe(true);
    // Change the signature's first character (to one it is not: 'A' alone fails once in 64 runs).
    const tampered = await fetch(link.url.replace(/signature=(.)/, (_m, c: string) => `signature=${c === 'A' ? 'B' : 'A'}`));
    expect(tampered.status).toBe(403);
    const otherJob = await fetch(link.url.replace(id, 'exp_other'));
    expect(otherJob.status).toBe(403);
    const past = Math.floor(Date.now() / 1000) - 5;
    const expired = await fetch(`${url}/v1/exports/${id}/download?${signedQuery(f.config.signingSecret, id, past)}`);
    expect(expired.status).toBe(403);
    expect(((await expired.json()) as { error: Json }).error.code).toBe('FORBIDDEN');
  });

  it('retention deletes the file and answers 410 afterwards', async () => {
    const job = await create({ dataset: 'employees', format: 'csv', columns: ['id'] });
    const id = String(job.id);
    const done = await waitForState(url, id, 'acme');
    const expiresAt = Date.parse(String((done.file as Json).expiresAt));
    expect(await sweepExpired(svc.store, svc.storage, expiresAt + 1)).toBeGreaterThanOrEqual(1);
    const after = (await (await get(`/v1/exports/${id}`)).json()) as Json;
    expect(after.status).toBe('expired');
    expect((await get(`/v1/exports/${id}/download`)).status).toBe(410);
    expect(await svc.storage.stat(`acme/${id}.csv`)).toBeNull();
  });

  it('streams small exports synchronously and refuses beyond the row cap with 413', async () => {
    const small = await get('/v1/datasets/employees/rows.csv?columns=id,status&where=status%3Dterminated');
    expect(small.status).toBe(200);
    const lines = (await small.text()).trim().split('\r\n');
    expect(lines[0]).toBe('id,status');
    expect(lines.slice(1).every((l) => l.endsWith(',terminated'))).toBe(true);
    expect(lines.length).toBeGreaterThan(100);
    const nd = await get('/v1/datasets/employees/rows.ndjson?columns=id&where=status%3Dterminated', auth('globex'));
    expect(nd.headers.get('content-type')).toBe('application/x-ndjson');
    expect((await nd.text()).trim().split('\n').every((l) => (JSON.parse(l) as { id: number }).id % 2 === 1)).toBe(true);
    const big = await get('/v1/datasets/employees/rows.csv');
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string; message: string } }).error.message).toMatch(/POST \/v1\/exports/);
    expect((await get('/v1/datasets/employees/rows.csv?where=salary%3E1')).status).toBe(422);
  });

  it('describes datasets, health, readiness and the OpenAPI document', async () => {
    const ds = (await (await get('/v1/datasets')).json()) as { data: Json[] };
    expect(ds.data[0]).toMatchObject({ name: 'employees', formats: expect.arrayContaining(['csv', 'ndjson']) as unknown });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { openapi: string; paths: Json; components: { schemas: Json } };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/exports', '/v1/exports/{id}', '/v1/exports/{id}/download']));
    expect(doc.components.schemas.ExportRequest).toBeTruthy();
    expect((await get('/v1/nope')).status).toBe(404);
  });
});
