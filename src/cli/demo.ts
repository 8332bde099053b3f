/** `offload demo` (what `npm start` runs): generate a demo HR database once, export it with a progress bar. */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { generateHrDatabase } from './demo-data.js';
import { exportCommand } from './export-command.js';
import { parsePositiveInt } from './args.js';

interface DemoOptions { dir: string; rows: string }

export function registerDemo(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  program
    .command('demo')
    .description('generate a demo HR database (once) and export it to CSV with a progress bar')
    .option('--dir <path>', 'where the demo database and export go', '.offload/demo')
    .option('--rows <n>', 'employees to generate', '500000')
    .action((opts: DemoOptions) => run(() => demo(opts)));
}

async function demo(opts: DemoOptions): Promise<number> {
  const dir = resolve(opts.dir);
  const rows = parsePositiveInt(opts.rows, '--rows');
  mkdirSync(dir, { recursive: true });
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
  const out = join(dir, 'employees.csv');
  process.stderr.write(`Exporting table "employees" from ${db} to CSV …\n`);
  const code = await exportCommand({
    from: `sqlite:${db}`, table: 'employees', format: 'csv', out, where: [], batchSize: '5000', partSize: '8MiB',
    resume: false, force: true, quiet: false, header: true, bom: false,
  });
  if (code === 0) process.stderr.write(`\nDone. Try a filtered NDJSON export next:\n  npx offload export --from sqlite:${db} --table employees --format ndjson --where status=active --out ${join(dir, 'active.ndjson')}\n`);
  return code;
}
