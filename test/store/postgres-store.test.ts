/** The PostgreSQL job store runs the shared conformance suite (one schema per test), and migrates safely under concurrency. */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATION_COUNT } from '../../src/store/postgres-schema.js';
import { postgresJobStore } from '../../src/store/postgres.js';
import { testJobStore } from '../conformance/job-store-suite.js';
import { SERVICES, serviceAvailable } from '../helpers/services.js';

const pgUp = await serviceAvailable('postgres');
const url = SERVICES.postgres.url;
const run = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const schemas: string[] = [];
const newSchema = (tag: string): string => {
  const name = `dh_${tag}_${run}_${schemas.length}`;
  schemas.push(name);
  return name;
};

afterAll(async () => {
  if (!pgUp || schemas.length === 0) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await client.end();
});

describe.skipIf(!pgUp)('postgres job store', () => {
  testJobStore({ name: 'postgres', open: () => postgresJobStore({ url, schema: newSchema('store'), poolSize: 3 }) });

  it('applies migrations once when several processes start together', async () => {
    const schema = newSchema('mig');
    const stores = await Promise.all(Array.from({ length: 6 }, () => postgresJobStore({ url, schema, poolSize: 2 })));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const r = await client.query<{ version: number }>(`SELECT version FROM "${schema}".offload_migrations ORDER BY version`);
      expect(r.rows.map((x) => x.version)).toEqual(Array.from({ length: MIGRATION_COUNT }, (_, i) => i + 1));
      // Every store works on the same tables.
      await stores[0]!.create({ id: 'm1', tenant: 'acme', request: { dataset: 'd', format: 'csv' } });
      expect((await stores[5]!.get('m1'))?.state).toBe('queued');
    } finally {
      await client.end();
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('hands each queued job to exactly one of many concurrent claimers (SKIP LOCKED)', async () => {
    const schema = newSchema('race');
    const stores = await Promise.all(Array.from({ length: 4 }, () => postgresJobStore({ url, schema, poolSize: 4 })));
    try {
      for (let i = 0; i < 40; i++) await stores[0]!.create({ id: `r${i}`, tenant: i % 3 ? 'acme' : 'globex', request: { dataset: 'd', format: 'csv' } });
      const claimed = await Promise.all(stores.flatMap((st, w) => Array.from({ length: 12 }, () => st.claim(`w${w}`, 60_000))));
      const ids = claimed.filter((l) => l !== null).map((l) => l.job.id);
      expect(ids.length).toBe(40);
      expect(new Set(ids).size).toBe(40);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await expect(postgresJobStore({ url, schema: 'x"; DROP TABLE y; --' })).rejects.toThrow(/invalid schema name/);
  });
});
