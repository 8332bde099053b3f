/** `offload demo` (what `npm start` runs): a demo HR database and config (made once), then the service with copy-paste curl commands. */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Service } from '../service.js';
import { generateHrDatabase } from './demo-data.js';
import { parsePositiveInt } from './args.js';
import { EXIT } from './exit.js';

interface DemoOptions { dir: string; rows: string; port: string }

export function registerDemo(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('demo')
    .description('create a demo HR database and config (once), start the service and print curl commands')
    .option('--dir <path>', 'where the demo database, config, jobs and exports go', '.offload/demo')
    .option('--rows <n>', 'employees to generate the first time', '500000')
    .option('--port <n>', 'port to listen on (falls back to a free port when taken)', '8080')
    .action((opts: DemoOptions) => run(() => demo(opts)));
}

function ensureDatabase(dir: string, rows: number): string {
  const db = join(dir, 'hr.db');
  if (!existsSync(db)) {
    process.stderr.write(`Generating a demo HR database with ${rows.toLocaleString('en-US')} employees in ${db} …\n`);
    const tmp = `${db}.tmp`;
    rmSync(tmp, { force: true });
    generateHrDatabase(tmp, { rows });
    renameSync(tmp, db);
    rmSync(`${tmp}-wal`, { force: true });
    rmSync(`${tmp}-shm`, { force: true });
  }
  return db;
}

/** The demo's keys are kept in plain text beside its config so every start can print them; real keys never are. */
function ensureConfig(dir: string, port: number, hashApiKey: (key: string) => string): { configPath: string; keys: Record<string, string> } {
  const configPath = join(dir, 'offload.config.json');
  const keysPath = join(dir, 'demo-keys.json');
  if (existsSync(configPath) && existsSync(keysPath)) {
    return { configPath, keys: JSON.parse(readFileSync(keysPath, 'utf8')) as Record<string, string> };
  }
  const keys = { acme: `ofk_${randomBytes(24).toString('base64url')}`, globex: `ofk_${randomBytes(24).toString('base64url')}` };
  const config = {
    server: { host: '127.0.0.1', port },
    store: { type: 'sqlite', path: 'jobs.db' },
    storage: { type: 'fs', dir: 'exports' },
    datasets: [{
      name: 'employees',
      description: 'Employees of the tenant, one row each',
      source: 'sqlite:hr.db',
      table: 'employees',
      tenantColumn: 'tenant_id',
      columns: ['id', 'employee_no', 'first_name', 'last_name', 'email', 'department_id', 'title', 'status', 'hired_at', 'salary', 'notes', 'updated_at'],
      filters: { status: ['eq', 'neq', 'in'], hired_at: ['gte', 'lte', 'between'], department_id: ['eq', 'in'], salary: ['gte', 'lte', 'between'] },
    }],
    tenants: Object.entries(keys).map(([id, key]) => ({ id, name: id === 'acme' ? 'Acme Corp' : 'Globex', keys: [{ id: `${id}-demo`, hash: hashApiKey(key), createdAt: new Date().toISOString() }] })),
    limits: { activeExportsPerTenant: 5, concurrency: 3, retentionHours: 24, syncRowCap: 10000 },
    signingSecret: randomBytes(32).toString('base64url'),
  };
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  writeFileSync(keysPath, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  return { configPath, keys };
}

async function demo(opts: DemoOptions): Promise<number> {
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const rows = parsePositiveInt(opts.rows, '--rows');
  const port = parsePositiveInt(opts.port, '--port');
  ensureDatabase(dir, rows);
  const [{ hashApiKey, loadConfig }, { startService }] = await Promise.all([import('../config.js'), import('../service.js')]);
  const { configPath, keys } = ensureConfig(dir, port, hashApiKey);
  const config = loadConfig(configPath);
  const log = (l: string): void => void process.stderr.write(`${l}\n`);
  let svc: Service;
  try {
    svc = await startService({ config, port, log });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    svc = await startService({ config, port: 0, log });
  }
  const url = svc.url!;
  const k = keys.acme!;
  process.stdout.write(`
Offload demo is running at ${url}  (config: ${configPath})
Tenants: acme (key ${k}), globex (key ${keys.globex!})

  # Start an export of acme's active employees hired since 2020, as CSV:
  curl -s -X POST ${url}/v1/exports -H 'Authorization: Bearer ${k}' -H 'Content-Type: application/json' \\
    -d '{"dataset":"employees","format":"csv","filters":[{"column":"status","op":"eq","value":"active"},{"column":"hired_at","op":"gte","value":"2020-01-01"}]}'

  # Watch it (replace EXPORT_ID with the "id" from the answer):
  curl -N ${url}/v1/exports/EXPORT_ID/events -H 'Authorization: Bearer ${k}'
  curl -s ${url}/v1/exports/EXPORT_ID -H 'Authorization: Bearer ${k}'

  # Download it (resumable with curl -C -):
  curl -OJ ${url}/v1/exports/EXPORT_ID/download -H 'Authorization: Bearer ${k}'

  # More: ${url}/openapi.json · GET /v1/datasets · GET /v1/exports · POST /v1/exports/EXPORT_ID/cancel

Press Ctrl-C to stop (running exports are checkpointed and resume on the next start).
`);
  return new Promise<number>((resolveExit) => {
    const stop = (): void => void svc.close().then(() => resolveExit(EXIT.OK));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
