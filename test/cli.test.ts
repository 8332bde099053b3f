/** The export CLI: exit codes, one-line errors, no file at the final path on bad input, --resume rules. */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { createTypedDb, tempDir } from './helpers/sqlite-fixture.js';

describe('offload export (CLI)', () => {
  let dir: string;
  let db: string;
  beforeAll(() => {
    dir = tempDir();
    db = join(dir, 'typed.db');
    createTypedDb(db, 50);
  });

  const base = (out: string, ...extra: string[]): string[] => ['export', '--from', `sqlite:${db}`, '--table', 'items', '--out', join(dir, out), '--quiet', ...extra];

  it('exports CSV that a CSV parser reads back as the source rows', async () => {
    const r = await runCli(base('items.csv', '--where', 'status=active', '--columns', 'id,name,big,data'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const records = parse(readFileSync(join(dir, 'items.csv')), { columns: true }) as Record<string, string>[];
    expect(records).toHaveLength(34);
    expect(Object.keys(records[0]!)).toEqual(['id', 'name', 'big', 'data']);
    const r1 = records.find((x) => x.id === '1')!;
    expect(r1.name).toBe('comma, inside#1');
    expect(r1.big).toBe('-9223372036854775808');
    expect(Buffer.from(r1.data!, 'base64')).toEqual(Buffer.from([1, 0, 255, 10, 13]));
    expect(records.find((x) => x.id === '4')!.name).toBe('crlf\r\nbreak#4');
    expect(existsSync(join(dir, 'items.csv.offload-checkpoint.json'))).toBe(false);
  });

  it('exports NDJSON with keys in column order and big integers as strings', async () => {
    const r = await runCli(base('items.ndjson', '--format', 'ndjson', '--where', 'id<=3'));
    expect(r.code).toBe(0);
    const lines = readFileSync(join(dir, 'items.ndjson'), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('{"id":1,"big":"-9223372036854775808","price":1.25,"name":"comma, inside#1","data":"AQD/Cg0=","status":"active"}');
    expect(JSON.parse(lines[1]!).big).toBe('9223372036854775807');
    expect(JSON.parse(lines[2]!).big).toBe(42);
  });

  const bad: [string, string[], number, RegExp][] = [
    ['missing database', ['export', '--from', 'sqlite:/nonexistent/x.db', '--table', 'items', '--out', 'OUT'], 2, /SOURCE_NOT_FOUND.*cannot open database/],
    ['unknown table', ['--table', 'nope'], 2, /UNKNOWN_TABLE.*no table or view named "nope"/],
    ['unknown column', ['--columns', 'id,salary'], 2, /UNKNOWN_COLUMN.*"salary"/],
    ['malformed filter', ['--where', 'status'], 2, /INVALID_FILTER.*malformed filter "status"/],
    ['filter on unknown column', ['--where', 'salary>10'], 2, /UNKNOWN_COLUMN/],
    ['non-numeric filter value', ['--where', 'id>=ten'], 2, /INVALID_FILTER.*not an integer/],
    ['unknown format', ['--format', 'docx'], 2, /UNSUPPORTED_FORMAT.*docx/],
    ['bad part size', ['--part-size', 'lots'], 2, /invalid size "lots"/],
    ['bad batch size', ['--batch-size', '0'], 2, /positive integer/],
    ['resume with nothing to resume', ['--resume'], 2, /NOTHING_TO_RESUME/],
  ];

  it.each(bad)('%s → exit code, one readable line, no output file', async (_name, args, code, message) => {
    const out = `bad-${Math.random().toString(36).slice(2)}.csv`;
    const argv = args[0] === 'export' ? args.map((a) => (a === 'OUT' ? join(dir, out) : a)) : [...base(out), ...args];
    const r = await runCli(argv);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(dir).filter((f) => f.startsWith(out))).toEqual([]);
  });

  it('missing required options → exit 2 with usage help', async () => {
    const r = await runCli(['export', '--table', 'items']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/required option '--from <url>'/);
  });

  it('a runtime failure → exit 1 with one line; --debug adds the stack', async () => {
    const blocker = join(dir, 'blocker');
    mkdirSync(join(blocker, 'x.csv'), { recursive: true }); // the final path is a directory: rename fails
    const r = await runCli(base('blocker/x.csv'));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/STORAGE_ERROR/);
    const d = await runCli([...base('blocker/x.csv', '--force'), '--debug']);
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/\n\s+at /);
  });

  it('refuses to start over an unfinished export without --resume or --force, and refuses a different request on --resume', async () => {
    const out = 'unfinished.csv';
    // A slice length of 1 ms and SIGTERM are not needed: a stale checkpoint from an interrupted run suffices.
    const first = await runCli([...base(out, '--batch-size', '5', '--part-size', '1', '--slice-ms', '1')]);
    expect(first.code).toBe(0);
    const cp = join(dir, `${out}.offload-checkpoint.json`);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(cp, JSON.stringify({ offload: 1, token: 3, request: { from: 'other' }, startedAt: '', updatedAt: '', checkpoint: null }));
    const again = await runCli(base(out));
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/EXPORT_EXISTS.*--resume.*--force/);
    const resume = await runCli(base(out, '--resume'));
    expect(resume.code).toBe(2);
    expect(resume.stderr).toMatch(/REQUEST_MISMATCH/);
    const force = await runCli(base(out, '--force'));
    expect(force.code).toBe(0);
    expect(existsSync(cp)).toBe(false);
  });

  it('prints help', async () => {
    const r = await runCli(['export', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--resume/);
  });
});
