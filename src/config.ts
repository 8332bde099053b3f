/** The service configuration file (offload.config.json): datasets, tenants and keys, storage, limits. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ErrorCode, OffloadError } from './core/errors.js';
import { FILTER_OPS } from './core/types.js';
import { parseAddressRange } from './notify/address-policy.js';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'letters, digits, _ . - (max 100)');

export const DatasetSchema = z.object({
  name,
  /** Source URL: `sqlite:./hr.db` (relative to the config file), or a driver URL. */
  source: z.string().min(1),
  table: z.string().min(1),
  /** Key columns to page by; default: the table's primary key (or rowid). */
  key: z.array(z.string().min(1)).min(1).optional(),
  /** Column holding the tenant id; every query carries `tenantColumn = <caller's tenant>`. */
  tenantColumn: z.string().min(1),
  /** Columns callers may export, in default order. */
  columns: z.array(z.string().min(1)).min(1),
  /** Filterable columns and the operators allowed on each. */
  filters: z.record(z.string(), z.array(z.enum(FILTER_OPS)).min(1)).default({}),
  /** Formats offered for this dataset (default: every registered format). */
  formats: z.array(z.string().min(1)).min(1).optional(),
  description: z.string().optional(),
}).strict();

export const ApiKeySchema = z.object({
  id: z.string().min(1),
  /** `sha256:<hex>` of the key; the key itself is never stored. */
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex digits>'),
  createdAt: z.string().optional(),
}).strict();

export const TenantSchema = z.object({
  id: name,
  name: z.string().optional(),
  keys: z.array(ApiKeySchema).default([]),
  /** Datasets this tenant may export (default: all). */
  datasets: z.array(z.string()).optional(),
  /** Default webhook of the tenant's exports (an export's own `webhookUrl` wins). */
  webhookUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
}).strict();

/** Where jobs live: a SQLite file (one machine) or PostgreSQL (any number of API and worker processes). */
export const StoreSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('sqlite'), path: z.string().default('.offload/jobs.db') }).strict(),
  z.object({
    type: z.literal('postgres'),
    url: z.string().regex(/^postgres(ql)?:\/\//, 'expected postgres://…'),
    /** Schema for Offload's tables; created at start. */
    schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lower-case letters, digits and _ (max 63)').default('offload'),
    poolSize: z.number().int().positive().default(10),
  }).strict(),
]);

const KeepSchema = z.object({ ageSeconds: z.number().int().positive(), count: z.number().int().nonnegative() }).strict();

/** Who runs exports: the store-polling embedded runner, or BullMQ workers on Redis. */
export const RunnerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('embedded') }).strict(),
  z.object({
    type: z.literal('bullmq'),
    redisUrl: z.string().regex(/^rediss?:\/\//, 'expected redis://… or rediss://…'),
    /** Prefix of every Redis key BullMQ writes. */
    prefix: z.string().regex(/^[A-Za-z0-9_:.-]{1,100}$/).default('offload'),
    queue: name.default('exports'),
    /** Exports one worker process runs at once (default: limits.concurrency). */
    concurrency: z.number().int().positive().optional(),
    /** BullMQ's rate limiter: at most `max` exports started per `durationMs` (BullMQ counts it across the queue). */
    limiter: z.object({ max: z.number().int().positive().default(10), durationMs: z.number().int().positive().default(60_000) }).strict().prefault({}),
    /** Attempts of a queue job when the worker itself fails (store unreachable, export retry), with exponential backoff. */
    attempts: z.number().int().positive().default(5),
    backoffMs: z.number().int().positive().default(5000),
    /** BullMQ lock on an active job, renewed every half of it while the worker is healthy. */
    lockDurationMs: z.number().int().positive().default(30_000),
    stalledIntervalMs: z.number().int().positive().default(30_000),
    /** Times a job may be recovered from a dead worker before BullMQ fails it (the reconciler re-adds it after that). */
    maxStalledCount: z.number().int().nonnegative().default(10),
    removeOnComplete: KeepSchema.default({ ageSeconds: 86_400, count: 1000 }),
    removeOnFail: KeepSchema.default({ ageSeconds: 7 * 86_400, count: 5000 }),
    /** How often a worker re-adds queued exports whose queue job is missing (Redis restarted without persistence). */
    reconcileSeconds: z.number().positive().default(30),
  }).strict(),
]);

/** Signed webhooks on terminal states. */
export const WebhooksSchema = z.object({
  /** HMAC key of `Offload-Signature` (default: signingSecret). */
  secret: z.string().min(32).optional(),
  timeoutMs: z.number().int().positive().default(10_000),
  retryBaseMs: z.number().int().positive().default(10_000),
  retryMaxDelayMs: z.number().int().positive().default(3_600_000),
  /** Undelivered events are given up this long after they were created. */
  maxAgeHours: z.number().positive().default(24),
  /** Loopback, private or link-local addresses (or CIDR ranges) webhooks may reach anyway. */
  allowAddresses: z.array(z.string().refine((v) => parseAddressRange(v) !== null, 'expected an IP address or CIDR range')).default([]),
  pollMs: z.number().int().positive().default(1000),
  concurrency: z.number().int().positive().default(4),
  keepDays: z.number().positive().default(7),
}).strict();

export const ConfigSchema = z.object({
  server: z.object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    /** Base URL for links in responses (default http://host:port). */
    publicUrl: z.url().optional(),
    maxBodyBytes: z.number().int().positive().default(64 * 1024),
  }).strict().default({ host: '127.0.0.1', port: 8080, maxBodyBytes: 64 * 1024 }),
  store: StoreSchema.default({ type: 'sqlite', path: '.offload/jobs.db' }),
  runner: RunnerSchema.default({ type: 'embedded' }),
  webhooks: WebhooksSchema.prefault({}),
  storage: z.discriminatedUnion('type', [
    z.object({ type: z.literal('fs'), dir: z.string().default('.offload/exports') }).strict(),
    z.object({
      type: z.literal('s3'),
      bucket: z.string().min(3).max(63),
      prefix: z.string().default(''),
      region: z.string().optional(),
      /** S3-compatible endpoint (MinIO, R2, Ceph), e.g. http://127.0.0.1:9000. */
      endpoint: z.url().optional(),
      forcePathStyle: z.boolean().default(false),
      /** Static credentials; default: the AWS SDK's chain (env, profile, instance role). */
      credentials: z.object({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1), sessionToken: z.string().optional() }).strict().optional(),
      /** Expiry of presigned download URLs. */
      presignSeconds: z.number().int().positive().max(7 * 24 * 3600).default(3600),
      /** Unfinished multipart uploads no live job owns are aborted after this long. */
      orphanGraceHours: z.number().positive().default(24),
    }).strict(),
  ]).default({ type: 'fs', dir: '.offload/exports' }),
  datasets: z.array(DatasetSchema).min(1),
  tenants: z.array(TenantSchema).min(1),
  limits: z.object({
    activeExportsPerTenant: z.number().int().positive().default(5),
    concurrency: z.number().int().positive().default(3),
    retentionHours: z.number().positive().default(24),
    syncRowCap: z.number().int().nonnegative().default(10_000),
    maxAttempts: z.number().int().positive().default(3),
    linkTtlSeconds: z.number().int().positive().default(3600),
  }).strict().default({ activeExportsPerTenant: 5, concurrency: 3, retentionHours: 24, syncRowCap: 10_000, maxAttempts: 3, linkTtlSeconds: 3600 }),
  export: z.object({
    /** Rows per source query; default: the source's own (5,000; 1,000 for SQLite). */
    batchSize: z.number().int().positive().optional(),
    partSize: z.number().int().positive().default(8 * 1024 * 1024),
    /** Length of one time-boxed slice; between slices the worker re-checks cancel and lease. */
    sliceSeconds: z.number().positive().default(20),
    leaseSeconds: z.number().positive().default(30),
  }).strict().default({ partSize: 8 * 1024 * 1024, sliceSeconds: 20, leaseSeconds: 30 }),
  /** HMAC secret for signed download links and webhooks (>= 32 characters). */
  signingSecret: z.string().min(32),
}).strict().superRefine((cfg, ctx) => {
  const names = new Set<string>();
  cfg.datasets.forEach((d, i) => {
    if (names.has(d.name)) ctx.addIssue({ code: 'custom', path: ['datasets', i, 'name'], message: `duplicate dataset "${d.name}"` });
    names.add(d.name);
    Object.keys(d.filters).forEach((col) => {
      if (!d.columns.includes(col) && col !== d.tenantColumn) ctx.addIssue({ code: 'custom', path: ['datasets', i, 'filters', col], message: `filterable column "${col}" is not among the dataset's columns` });
    });
  });
  const ids = new Set<string>();
  cfg.tenants.forEach((t, i) => {
    if (ids.has(t.id)) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'id'], message: `duplicate tenant "${t.id}"` });
    ids.add(t.id);
    (t.datasets ?? []).forEach((d, j) => {
      if (!names.has(d)) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'datasets', j], message: `unknown dataset "${d}"` });
    });
  });
});

export type Config = z.infer<typeof ConfigSchema>;
export type DatasetConfig = z.infer<typeof DatasetSchema>;
export type TenantConfig = z.infer<typeof TenantSchema>;

/** A loaded config with paths resolved against the config file's directory. */
export interface LoadedConfig extends Config {
  path: string;
}

/** Formats zod issues as `path.to.field: message` lines. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((i) => `${i.path.length > 0 ? i.path.map(String).join('.') : '(root)'}: ${i.message}`).join('; ');
}

/** Validates a parsed config object; `base` resolves relative paths. */
export function parseConfig(raw: unknown, path: string): LoadedConfig {
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] invalid config ${path}: ${describeIssues(result.error.issues)}`);
  }
  const base = dirname(resolve(path));
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const cfg = result.data;
  return {
    ...cfg,
    path: resolve(path),
    store: cfg.store.type === 'sqlite' ? { ...cfg.store, path: abs(cfg.store.path) } : cfg.store,
    storage: cfg.storage.type === 'fs' ? { ...cfg.storage, dir: abs(cfg.storage.dir) } : cfg.storage,
    datasets: cfg.datasets.map((d) => ({ ...d, source: resolveSourceUrl(d.source, base) })),
  };
}

/** Reads and validates a config file. */
export function loadConfig(path: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] cannot read config ${path}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] config ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(raw, path);
}

/** SQLite paths in dataset URLs are relative to the config file. */
function resolveSourceUrl(url: string, base: string): string {
  const m = /^sqlite:(?!\/\/)(.*)$/.exec(url);
  if (m) return `sqlite:${isAbsolute(m[1]!) ? m[1]! : resolve(base, m[1]!)}`;
  if (!/^[a-z][a-z0-9+.-]*:/i.test(url)) return `sqlite:${isAbsolute(url) ? url : resolve(base, url)}`;
  return url;
}

/** `sha256:<hex>` of an API key. Keys are 32 random bytes, so a fast hash is enough (no dictionary to attack). */
export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}
