/** Cancel (queued and running), the active-exports limit (429), kill -9 of the server, config and keys. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startService, type Service } from '../../src/service.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { auth, serviceFixture, waitForState, KEYS } from '../helpers/service.js';

type Json = Record<string, unknown>;
const json = { 'Content-Type': 'application/json' };

async function createExport(url: string, body: Json = { dataset: 'employees', format: 'csv' }): Promise<Response> {
  return fetch(`${url}/v1/exports`, { method: 'POST', headers: { ...auth('acme'), ...json }, body: JSON.stringify(body) });
}

describe('export lifecycle', () => {
  const services: Service[] = [];
  afterAll(async () => {
    for (const s of services) await s.close();
  });

  it('cancels a queued export at once, and refuses to cancel a terminal one (409)', async () => {
    const f = serviceFixture(2000);
    const api = await startService({ config: f.config, port: 0, worker: false });
    services.push(api);
    const job = (await (await createExport(api.url!)).json()) as Json;
    const res = await fetch(`${api.url!}/v1/exports/${String(job.id)}/cancel`, { method: 'POST', headers: auth('acme') });
    expect(res.status).toBe(202);
    expect(((await res.json()) as Json).status).toBe('cancelled');
    const again = await fetch(`${api.url!}/v1/exports/${String(job.id)}/cancel`, { method: 'POST', headers: auth('acme') });
    expect(again.status).toBe(409);
    expect((await fetch(`${api.url!}/v1/exports/${String(job.id)}/download`, { headers: auth('acme') })).status).toBe(409);
  });

  it('limits active exports per tenant with 429 and Retry-After', async () => {
    const f = serviceFixture(2000, { limits: { activeExportsPerTenant: 2 } });
    const api = await startService({ config: f.config, port: 0, worker: false });
    services.push(api);
    expect((await createExport(api.url!)).status).toBe(202);
    expect((await createExport(api.url!)).status).toBe(202);
    const third = await createExport(api.url!);
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await third.json()) as { error: Json }).error.code).toBe('RATE_LIMITED');
    // Another tenant has its own allowance.
    const other = await fetch(`${api.url!}/v1/exports`, { method: 'POST', headers: { ...auth('globex'), ...json }, body: JSON.stringify({ dataset: 'employees', format: 'csv' }) });
    expect(other.status).toBe(202);
  });

  it('cancels a running export within a batch and deletes its partial output', async () => {
    const f = serviceFixture(200_000, { export: { batchSize: 100, partSize: 16 * 1024, sliceSeconds: 5, leaseSeconds: 2 } });
    const svc = await startService({ config: f.config, port: 0 });
    services.push(svc);
    const job = (await (await createExport(svc.url!)).json()) as Json;
    const id = String(job.id);
    await waitForState(svc.url!, id, 'acme', ['running']);
    for (;;) {
      const j = (await (await fetch(`${svc.url!}/v1/exports/${id}`, { headers: auth('acme') })).json()) as { progress: { rows: number } };
      if (j.progress.rows > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const res = await fetch(`${svc.url!}/v1/exports/${id}/cancel`, { method: 'POST', headers: auth('acme') });
    expect(res.status).toBe(202);
    const done = await waitForState(svc.url!, id, 'acme', ['cancelled', 'succeeded', 'failed']);
    expect(done.status).toBe('cancelled');
    expect((done.progress as { rows: number }).rows).toBeLessThan(100_000);
    const dir = join(f.dir, 'exports', 'acme');
    expect(existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(id)) : []).toEqual([]);
  });

  it('survives kill -9 of the server mid-export: after a restart the export completes with the same bytes', async () => {
    const f = serviceFixture(150_000, { export: { batchSize: 200, partSize: 32 * 1024, sliceSeconds: 1, leaseSeconds: 1 } });
    const start = async (): Promise<{ child: ChildProcess; url: string }> => {
      const child = spawnCli(['serve', '--config', f.configPath, '--port', '0']);
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`server exited with ${String(code)}`)));
      });
      return { child, url };
    };
    const first = await start();
    const job = (await (await createExport(first.url, { dataset: 'employees', format: 'ndjson' })).json()) as Json;
    const id = String(job.id);
    for (;;) {
      const j = (await (await fetch(`${first.url}/v1/exports/${id}`, { headers: auth('acme') })).json()) as { progress: { rows: number } };
      if (j.progress.rows >= 10_000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const second = await start();
    try {
      const done = await waitForState(second.url, id, 'acme', ['succeeded', 'failed', 'cancelled'], 120_000);
      expect(done.status).toBe('succeeded');
      expect(done.attempts).toBe(2);
      const bytes = Buffer.from(await (await fetch(`${second.url}/v1/exports/${id}/download`, { headers: auth('acme') })).arrayBuffer());
      const cli = await runCli(['export', '--from', `sqlite:${f.db}`, '--table', 'employees', '--format', 'ndjson', '--quiet', '--out', join(f.dir, 'ref.ndjson'),
        '--columns', 'id,employee_no,first_name,last_name,email,department_id,title,status,hired_at,salary,notes', '--where', 'tenant_id=acme']);
      expect(cli.code).toBe(0);
      expect(bytes.equals(readFileSync(join(f.dir, 'ref.ndjson')))).toBe(true);
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    }
  });

  it('fails at start with the path of the bad field when the config is invalid', async () => {
    const f = serviceFixture(10);
    const raw = JSON.parse(readFileSync(f.configPath, 'utf8')) as { datasets: Json[]; limits: Json };
    raw.datasets[0]!.tenantColumn = 7;
    raw.limits.concurrency = -1;
    writeFileSync(f.configPath, JSON.stringify(raw));
    expect(() => loadConfig(f.configPath)).toThrow(/datasets\.0\.tenantColumn: .*; limits\.concurrency: /);
    const r = await runCli(['serve', '--config', f.configPath]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid config .*datasets\.0\.tenantColumn/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('creates API keys that authenticate, storing only their hash', async () => {
    const f = serviceFixture(100);
    const r = await runCli(['keys', 'create', '--tenant', 'globex', '--config', f.configPath]);
    expect(r.code).toBe(0);
    const key = r.stdout.trim();
    expect(key).toMatch(/^ofk_[A-Za-z0-9_-]{40,}$/);
    const text = readFileSync(f.configPath, 'utf8');
    expect(text).not.toContain(key);
    expect(text).not.toContain(KEYS.acme);
    const api = await startService({ config: loadConfig(f.configPath), port: 0, worker: false });
    services.push(api);
    const res = await fetch(`${api.url!}/v1/datasets`, { headers: { Authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const bad = await runCli(['keys', 'create', '--tenant', 'nobody', '--config', f.configPath]);
    expect(bad.code).toBe(2);
  });
});
