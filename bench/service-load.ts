/**
 * Service under load: the built `offload serve` (embedded runner, SQLite job store, local files) gets
 * N export requests at once (CSV, NDJSON, XLSX and JSON in turn), and while they run the bench polls
 * the API every ~20 ms to see how responsive it stays. Reports request latency (p50, p99, max), the
 * server's peak RSS (VmHWM), the time until every export succeeded, and checks a few downloads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { generateHrDatabase } from '../src/cli/demo-data.js';
import { hashApiKey } from '../src/config.js';
import type { Measurement } from './measure.js';
import { f1, int, type ComparisonResult } from './report.js';
import { BENCH_DIR, offloadCli } from './setup.js';

const FORMATS = ['csv', 'ndjson', 'xlsx', 'json'];
const COLUMNS = ['id', 'employee_no', 'first_name', 'last_name', 'email', 'department_id', 'title', 'status', 'hired_at', 'salary', 'notes', 'updated_at'];
/** Embedded runner: exports run at a time (the config default). */
const CONCURRENCY = 3;
const POLL_MS = 20;

interface ExportView {
  id: string;
  status: string;
  format: string;
  progress: { rows: number; bytes: number };
  file: { size: number } | null;
  createdAt: string;
  finishedAt: string | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile of unsorted samples. */
function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function startServer(configPath: string): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const child = spawn(offloadCli[0]!, [...offloadCli.slice(1), 'serve', '--config', configPath, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const log = (): string => out.slice(-4000);
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]!, log });
    });
    child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
    child.once('exit', (code) => reject(new Error(`offload serve exited (${String(code)}):\n${log()}`)));
  });
}

/** Peak resident set size of a live process, from the kernel (Linux). */
function vmHwmMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

export async function serviceLoad(count: number, rowsPerExport = 20_000): Promise<ComparisonResult> {
  const title = `Service under load: ${count} exports at once (${rowsPerExport.toLocaleString('en-US')} rows each), API polled every ${POLL_MS} ms`;
  const dir = mkdtempSync(join(BENCH_DIR, 'service-load-'));
  const key = `ofk_${randomBytes(32).toString('base64url')}`;
  const auth = { Authorization: `Bearer ${key}` };
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    // One tenant owns every row, so each export reads the whole table.
    const db = join(dir, 'hr.db');
    generateHrDatabase(db, { rows: rowsPerExport, seed: 7 });
    const h = new Database(db);
    h.prepare("UPDATE employees SET tenant_id = 'acme'").run();
    h.close();
    const config = {
      server: { host: '127.0.0.1', port: 0 },
      store: { type: 'sqlite', path: join(dir, 'jobs.db') },
      runner: { type: 'embedded' },
      storage: { type: 'fs', dir: join(dir, 'exports') },
      datasets: [{ name: 'employees', source: `sqlite:${db}`, table: 'employees', tenantColumn: 'tenant_id', columns: COLUMNS, filters: { status: ['eq', 'in'] } }],
      tenants: [{ id: 'acme', keys: [{ id: 'bench', hash: hashApiKey(key) }] }],
      // Above the number of requests, so every one is accepted and queued.
      limits: { activeExportsPerTenant: Math.max(250, count + 50), concurrency: CONCURRENCY },
      signingSecret: randomBytes(32).toString('hex'),
    };
    const configPath = join(dir, 'offload.config.json');
    writeFileSync(configPath, JSON.stringify(config));
    server = await startServer(configPath);
    const { url } = server;
    const get = async (path: string): Promise<{ ms: number; status: number; body: unknown }> => {
      const t = performance.now();
      const res = await fetch(`${url}${path}`, { headers: auth });
      const body: unknown = await res.json();
      return { ms: performance.now() - t, status: res.status, body };
    };

    // All requests at once.
    const t0 = performance.now();
    const posts = await Promise.all(Array.from({ length: count }, async (_, i) => {
      const t = performance.now();
      const res = await fetch(`${url}/v1/exports`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ dataset: 'employees', format: FORMATS[i % FORMATS.length] }),
      });
      const body = (await res.json()) as Partial<ExportView>;
      return { ms: performance.now() - t, status: res.status, id: body.id };
    }));
    const ids = posts.filter((p) => p.status === 202 && p.id).map((p) => p.id!);

    // Latency probe, open loop: a GET /v1/exports/:id (round robin) and a list page start every
    // POLL_MS whether or not earlier ones have answered, so a slow answer cannot hide the ones
    // that would have queued behind it. In flight is capped so a stalled server is not flooded.
    const latency = { one: [] as number[], list: [] as number[], errors: 0, skipped: 0 };
    const inFlight = new Set<Promise<void>>();
    const track = (path: string, into: number[]): void => {
      const p = get(path).then(
        (r) => {
          into.push(r.ms);
          if (r.status !== 200) latency.errors++;
        },
        () => void latency.errors++,
      ).finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    let done = false;
    const probe = (async () => {
      for (let i = 0; !done && ids.length > 0; i++) {
        if (inFlight.size < 100) {
          track(`/v1/exports/${ids[i % ids.length]!}`, latency.one);
          track('/v1/exports?limit=100', latency.list);
        } else latency.skipped++;
        await sleep(POLL_MS);
      }
      await Promise.all(inFlight);
    })();

    // Done when nothing is queued or running; the time limit only guards against a stuck run.
    const deadline = Date.now() + 120_000 + count * 10_000;
    let timedOut = false;
    for (;;) {
      const [q, r] = await Promise.all([get('/v1/exports?status=queued&limit=1'), get('/v1/exports?status=running&limit=1')]);
      if ((q.body as { data: unknown[] }).data.length === 0 && (r.body as { data: unknown[] }).data.length === 0) break;
      if (Date.now() > deadline) {
        timedOut = true;
        break;
      }
      await sleep(100);
    }
    const wall = (performance.now() - t0) / 1000;
    done = true;
    await probe;

    // Every export, by paging through the list.
    const all: ExportView[] = [];
    for (let cursor: string | null = null; ;) {
      const page = (await get(`/v1/exports?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).body as { data: ExportView[]; nextCursor: string | null };
      all.push(...page.data);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    const mine = all.filter((e) => ids.includes(e.id));
    const succeeded = mine.filter((e) => e.status === 'succeeded');
    const byStatus = Object.entries(mine.reduce<Record<string, number>>((acc, e) => ({ ...acc, [e.status]: (acc[e.status] ?? 0) + 1 }), {})).map(([s, n]) => `${n} ${s}`).join(', ');
    const serverSeconds = succeeded.length > 0
      ? (Math.max(...succeeded.map((e) => Date.parse(e.finishedAt ?? ''))) - Math.min(...mine.map((e) => Date.parse(e.createdAt)))) / 1000
      : NaN;

    // Download one export of each format and compare with the size the API reports.
    const downloads: string[] = [];
    let downloadsOk = true;
    for (const format of FORMATS) {
      const e = succeeded.find((x) => x.format === format);
      if (!e) {
        downloadsOk = false;
        downloads.push(`${format}: none succeeded`);
        continue;
      }
      const res = await fetch(`${url}/v1/exports/${e.id}/download`, { headers: auth });
      const size = (await res.arrayBuffer()).byteLength;
      const ok = res.status === 200 && size > 0 && size === e.file?.size;
      downloadsOk &&= ok;
      downloads.push(`${format} ${int(size)} bytes${ok ? '' : ` (HTTP ${res.status}, API says ${String(e.file?.size)})`}`);
    }

    const peakRss = vmHwmMiB(server.child.pid!);
    await stop(server.child);
    server = undefined;

    const allOk = !timedOut && succeeded.length === count;
    const rows = succeeded.reduce((n, e) => n + e.progress.rows, 0);
    const bytes = succeeded.reduce((n, e) => n + (e.file?.size ?? 0), 0);
    const postMs = posts.map((p) => p.ms);
    const accepted = posts.filter((p) => p.status === 202).length;
    const rejected = posts.filter((p) => p.status !== 202).map((p) => p.status);
    const measurement: Measurement = {
      name: 'offload serve (embedded runner, SQLite job store)',
      ok: allOk,
      ...(allOk ? {} : { error: timedOut ? 'timed out' : `${succeeded.length} of ${count} succeeded (${byStatus})` }),
      wallSeconds: wall,
      peakRssMiB: peakRss,
      outputBytes: bytes,
      rows,
    };
    const lat = (name: string, xs: number[]): string[] => [name, int(xs.length), f1(percentile(xs, 50)), f1(percentile(xs, 99)), f1(Math.max(...xs))];
    const target = `all ${count} exports succeed`;
    return {
      id: 'service-load',
      title,
      rows,
      reference: '',
      measurements: [measurement],
      contendersTable: false,
      extraTables: [
        {
          header: ['measure', 'value'],
          rows: [
            ['exports requested / accepted (202)', `${count} / ${accepted}${rejected.length > 0 ? ` (others: HTTP ${[...new Set(rejected)].join(', ')})` : ''}`],
            ['final states', byStatus || '–'],
            ['time until all finished (first POST → nothing queued or running)', `${f1(wall)} s`],
            ['first createdAt → last finishedAt (server clock)', `${f1(serverSeconds)} s`],
            ['throughput', `${f1(succeeded.length / (wall / 60))} exports/min, ${int(rows / wall)} rows/s`],
            ['rows / bytes written', `${int(rows)} / ${f1(bytes / 1e6)} MB`],
            ['server peak RSS (VmHWM)', `${f1(peakRss)} MiB`],
            ['downloads checked (size > 0, = API size)', downloads.join('; ')],
          ],
        },
        {
          caption: `API latency while the exports ran${latency.errors > 0 ? ` (${latency.errors} failed or non-200 answers)` : ''}${latency.skipped > 0 ? ` (${latency.skipped} ticks skipped: 100 requests in flight)` : ''}:`,
          header: ['request', 'n', 'p50 (ms)', 'p99 (ms)', 'max (ms)'],
          align: ['left', 'right', 'right', 'right', 'right'],
          rows: [lat(`POST /v1/exports (${count} at once)`, postMs), lat('GET /v1/exports/:id', latency.one), lat('GET /v1/exports?limit=100', latency.list)],
        },
      ],
      targets: [target],
      checks: [{ target, measured: `${succeeded.length} succeeded, downloads ${downloadsOk ? 'ok' : 'NOT ok'}`, met: allOk && downloadsOk }],
      notes: [
        `\`offload serve\` with the embedded runner (${CONCURRENCY} exports at a time), SQLite job store and local file storage; one SQLite dataset made by generateHrDatabase; formats ${FORMATS.join(', ')} in turn.`,
        `Every ${POLL_MS} ms the bench process starts a GET /v1/exports/:id and a GET /v1/exports?limit=100 without waiting for earlier answers (open loop), plus a status check every 100 ms that is not counted. The POST latencies include queueing behind the other requests sent at the same moment. The bench process shares the machine’s cores with the server.`,
      ],
    };
  } finally {
    if (server) await stop(server.child);
    rmSync(dir, { recursive: true, force: true });
  }
}
