/** `offload serve`, `offload worker` and `offload keys create`. */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import type { Command } from 'commander';
import { ErrorCode, OffloadError } from '../core/errors.js';
import { parsePositiveInt } from './args.js';
import { EXIT } from './exit.js';

type Run = (fn: () => Promise<number>) => Promise<void>;

/** Waits for SIGINT/SIGTERM, then shuts the service down gracefully. */
function untilSignal(close: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      process.stderr.write(`[offload] ${sig}: checkpointing running exports and releasing them …\n`);
      void close().then(() => resolve(EXIT.OK));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

export function registerService(program: Command, run: Run): void {
  program
    .command('serve')
    .description('run the HTTP API and (unless --no-worker) the embedded export worker')
    .option('--config <path>', 'config file', 'offload.config.json')
    .option('--port <n>', 'port to listen on (overrides the config; 0 = any free port)')
    .option('--no-worker', 'serve the API only; run exports in `offload worker` processes')
    .action((opts: { config: string; port?: string; worker: boolean }) => run(async () => {
      const { config, startService } = await loadService(opts.config);
      const port = opts.port === undefined ? undefined : opts.port === '0' ? 0 : parsePositiveInt(opts.port, '--port');
      const svc = await startService({ config, worker: opts.worker, ...(port !== undefined ? { port } : {}), log: (l) => process.stderr.write(`${l}\n`) });
      process.stdout.write(`offload listening on ${svc.url ?? ''}${opts.worker ? ' (with embedded worker)' : ''}\n`);
      return untilSignal(() => svc.close());
    }));

  program
    .command('worker')
    .description('run exports from the job store without serving HTTP')
    .option('--config <path>', 'config file', 'offload.config.json')
    .action((opts: { config: string }) => run(async () => {
      const { config, startService } = await loadService(opts.config);
      const svc = await startService({ config, http: false, log: (l) => process.stderr.write(`${l}\n`) });
      const r = config.runner;
      const how = r.type === 'bullmq' ? `bullmq queue ${r.prefix}:${r.queue}, concurrency ${r.concurrency ?? config.limits.concurrency}` : `concurrency ${config.limits.concurrency}`;
      process.stdout.write(`offload worker running (${how}, ${config.store.type} job store)\n`);
      return untilSignal(() => svc.close());
    }));

  const keys = program.command('keys').description('manage API keys');
  keys
    .command('create')
    .description('create an API key for a tenant: stores its hash in the config file and prints the key once')
    .requiredOption('--tenant <id>', 'tenant id (must exist in the config)')
    .option('--config <path>', 'config file', 'offload.config.json')
    .action((opts: { tenant: string; config: string }) => run(async () => {
      const key = await createApiKey(opts.config, opts.tenant);
      process.stdout.write(`${key}\n`);
      process.stderr.write(`Stored the key's hash for tenant "${opts.tenant}" in ${opts.config}. This is the only time the key is shown.\n`);
      return EXIT.OK;
    }));
}

/**
 * The service modules (HTTP server, job stores, runners, AWS SDK) and the config, loaded on
 * demand so `offload export` and `--help` do not pay their memory.
 */
export async function loadService(configPath: string) {
  const [{ loadConfig }, { startService }] = await Promise.all([import('../config.js'), import('../service.js')]);
  return { config: loadConfig(configPath), startService };
}

/** Adds a new key to a tenant in the config file (atomically) and returns the key. */
export async function createApiKey(configPath: string, tenantId: string): Promise<string> {
  const { hashApiKey, loadConfig, parseConfig } = await import('../config.js');
  loadConfig(configPath); // the file must be valid before we touch it
  const raw = JSON.parse(readFileSync(configPath, 'utf8')) as { tenants: { id: string; keys?: unknown[] }[] };
  const tenant = raw.tenants.find((t) => t.id === tenantId);
  if (!tenant) throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] no tenant "${tenantId}" in ${configPath}`);
  const key = `ofk_${randomBytes(32).toString('base64url')}`;
  tenant.keys = [...(tenant.keys ?? []), { id: `key_${randomBytes(6).toString('hex')}`, hash: hashApiKey(key), createdAt: new Date().toISOString() }];
  parseConfig(raw, configPath);
  const tmp = `${configPath}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(raw, null, 2)}\n`);
  renameSync(tmp, configPath);
  return key;
}
