/** Builds a temporary service setup: an HR database, a config with two tenants and their keys. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateHrDatabase } from '../../src/cli/demo-data.js';
import { hashApiKey, loadConfig, type LoadedConfig } from '../../src/config.js';
import { tempDir } from './sqlite-fixture.js';

export const KEYS = { acme: 'ofk_test_acme_key_0123456789abcdef', globex: 'ofk_test_globex_key_0123456789abcdef' };

export interface ServiceFixture {
  dir: string;
  db: string;
  configPath: string;
  config: LoadedConfig;
}

/** Writes a config for an HR database of `rows` employees; `overrides` are merged into the config. */
export function serviceFixture(rows = 20_000, overrides: Record<string, unknown> = {}): ServiceFixture {
  const dir = tempDir('offload-svc-');
  const db = join(dir, 'hr.db');
  generateHrDatabase(db, { rows });
  const raw = {
    server: { host: '127.0.0.1', port: 0, maxBodyBytes: 4096 },
    store: { type: 'sqlite', path: 'jobs.db' },
    storage: { type: 'fs', dir: 'exports' },
    datasets: [{
      name: 'employees',
      source: 'sqlite:hr.db',
      table: 'employees',
      tenantColumn: 'tenant_id',
      columns: ['id', 'employee_no', 'first_name', 'last_name', 'email', 'department_id', 'title', 'status', 'hired_at', 'salary', 'notes'],
      filters: { status: ['eq', 'neq', 'in'], hired_at: ['gte', 'lte', 'between'], department_id: ['eq', 'in'] },
    }],
    tenants: [
      { id: 'acme', keys: [{ id: 'k1', hash: hashApiKey(KEYS.acme) }] },
      { id: 'globex', keys: [{ id: 'k2', hash: hashApiKey(KEYS.globex) }] },
    ],
    limits: { activeExportsPerTenant: 5, concurrency: 2, retentionHours: 24, syncRowCap: 5000, maxAttempts: 3, linkTtlSeconds: 3600 },
    export: { batchSize: 500, partSize: 64 * 1024, sliceSeconds: 0.2, leaseSeconds: 2 },
    signingSecret: 'test-signing-secret-0123456789-abcdefghij',
    ...overrides,
  };
  const configPath = join(dir, 'offload.config.json');
  writeFileSync(configPath, JSON.stringify(raw, null, 2));
  return { dir, db, configPath, config: loadConfig(configPath) };
}

export function auth(tenant: keyof typeof KEYS): Record<string, string> {
  return { Authorization: `Bearer ${KEYS[tenant]}` };
}

/** Polls an export until it reaches a terminal state. */
export async function waitForState(url: string, id: string, tenant: keyof typeof KEYS, states = ['succeeded', 'failed', 'cancelled', 'expired'], timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/v1/exports/${id}`, { headers: auth(tenant) });
    const body = (await res.json()) as Record<string, unknown>;
    if (states.includes(body.status as string)) return body;
    if (Date.now() > until) throw new Error(`export ${id} still ${String(body.status)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
