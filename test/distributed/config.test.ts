/** Config of distributed mode: store, runner and webhooks sections, their defaults, and errors with field paths. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';

const base = {
  datasets: [{ name: 'employees', source: 'sqlite:hr.db', table: 'employees', tenantColumn: 'tenant_id', columns: ['id'] }],
  tenants: [{ id: 'acme', keys: [] }],
  signingSecret: 'x'.repeat(32),
};

describe('distributed config', () => {
  it('defaults to the embedded SQLite store and runner, with webhook defaults', () => {
    const c = parseConfig(base, '/etc/offload/offload.config.json');
    expect(c.store).toEqual({ type: 'sqlite', path: '/etc/offload/.offload/jobs.db' });
    expect(c.runner).toEqual({ type: 'embedded' });
    expect(c.webhooks).toMatchObject({ timeoutMs: 10_000, maxAgeHours: 24, allowAddresses: [], retryBaseMs: 10_000 });
  });

  it('reads a postgres store and a bullmq runner, filling in BullMQ defaults', () => {
    const c = parseConfig({ ...base, store: { type: 'postgres', url: 'postgres://u@db/offload' }, runner: { type: 'bullmq', redisUrl: 'redis://r:6379' } }, 'c.json');
    expect(c.store).toEqual({ type: 'postgres', url: 'postgres://u@db/offload', schema: 'offload', poolSize: 10 });
    expect(c.runner).toMatchObject({
      type: 'bullmq', prefix: 'offload', queue: 'exports', limiter: { max: 10, durationMs: 60_000 }, attempts: 5,
      removeOnComplete: { ageSeconds: 86_400, count: 1000 }, reconcileSeconds: 30,
    });
  });

  it('names the bad field', () => {
    expect(() => parseConfig({ ...base, store: { type: 'postgres', url: 'mysql://x' } }, 'c.json')).toThrow(/store\.url: expected postgres/);
    expect(() => parseConfig({ ...base, store: { type: 'postgres', url: 'postgres://x', schema: 'Bad-Name' } }, 'c.json')).toThrow(/store\.schema/);
    expect(() => parseConfig({ ...base, runner: { type: 'bullmq' } }, 'c.json')).toThrow(/runner\.redisUrl/);
    expect(() => parseConfig({ ...base, runner: { type: 'bullmq', redisUrl: 'redis://r', limiter: { max: 0 } } }, 'c.json')).toThrow(/runner\.limiter\.max/);
    expect(() => parseConfig({ ...base, runner: { type: 'kafka' } }, 'c.json')).toThrow(/runner\.type/);
    expect(() => parseConfig({ ...base, webhooks: { allowAddresses: ['10.0.0.0/8', 'intranet'] } }, 'c.json')).toThrow(/webhooks\.allowAddresses\.1: expected an IP address or CIDR range/);
    expect(() => parseConfig({ ...base, tenants: [{ id: 'acme', webhookUrl: 'ftp://x/y' }] }, 'c.json')).toThrow(/tenants\.0\.webhookUrl/);
  });
});
