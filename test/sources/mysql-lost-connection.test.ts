/** MariaDB: the export's connections are KILLed from another session mid-export; the export reconnects and resumes to a byte-identical file. */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExporter, csvFormat, fsStorage, ndjsonFormat, runSlice, type Checkpoint, type Format } from '../../src/index.js';
import { OffloadError } from '../../src/core/errors.js';
import { mysqlSource } from '../../src/sources/mysql.js';
import { runCli, runCliWhileBreaking } from '../helpers/cli.js';
import { SERVICES, serviceAvailable } from '../helpers/services.js';
import { tempDir } from '../helpers/sqlite-fixture.js';

const db = `pc_kill_${process.pid}`;
const base = SERVICES.mysql.url.replace(/\/[^/]*$/, '');
const url = `${base}/${db}`;
const up = await serviceAvailable('mysql');

describe.runIf(up)('MariaDB lost connection', () => {
  let admin: mysql.Connection;
  const dir = tempDir('offload-mykill-');

  /** KILLs every connection running a query on this test's database (not the admin's), every `everyMs`. */
  const killer = (everyMs: number): { stop: () => void; killed: () => number } => {
    let killed = 0;
    const timer = setInterval(() => {
      void (async () => {
        const [rows] = await admin.query("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND COMMAND IN ('Query', 'Execute') AND ID <> CONNECTION_ID()", [db]);
        for (const r of rows as { ID: number }[]) {
          await admin.query(`KILL ${Number(r.ID)}`).then(() => (killed += 1), () => undefined); // it may be gone already
        }
      })();
    }, everyMs);
    return { stop: () => clearInterval(timer), killed: () => killed };
  };

  beforeAll(async () => {
    admin = await mysql.createConnection({ uri: `${base}/test` });
    await admin.query(`DROP DATABASE IF EXISTS ${db}`);
    await admin.query(`CREATE DATABASE ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await admin.query(`CREATE TABLE ${db}.big (id BIGINT PRIMARY KEY, h CHAR(32) NOT NULL, x DECIMAL(18,3), note TEXT, at TIMESTAMP(6) NULL)`);
    await admin.query(`INSERT INTO ${db}.big SELECT seq, md5(seq), seq * 1.5, IF(seq % 7 = 0, NULL, CONCAT('n, "', seq, '"\n')), FROM_UNIXTIME(1000000000 + seq + 0.25)
      FROM seq_1_to_200000`);
    // The same rows, but every 400th row costs 2 ms: queries are in flight long enough for a
    // KILL to land in one (a KILL of an idle pooled connection is absorbed by the pool).
    await admin.query(`CREATE ALGORITHM=MERGE VIEW ${db}.slow AS SELECT * FROM ${db}.big WHERE id % 400 <> 0 OR SLEEP(0.002) = 0`);
  });
  afterAll(async () => {
    await admin?.query(`DROP DATABASE IF EXISTS ${db}`);
    await admin?.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('KILL of the CLI export\'s connection with --retries 0: SOURCE_UNREACHABLE, then --resume ends byte-identical', async () => {
    const args = (out: string, table = 'slow'): string[] => ['export', '--from', url, '--table', table, '--key', 'id', '--out', join(dir, out), '--quiet', '--batch-size', '1000', '--part-size', '64KiB', '--retries', '0'];
    expect((await runCli(args('ref.csv', 'big'))).code).toBe(0);
    const k = killer(150);
    let result = await runCli(args('big.csv'));
    let tries = 0;
    while (result.code !== 0 && tries++ < 50) {
      expect(result.stderr).toMatch(/SOURCE_UNREACHABLE|SOURCE_TIMEOUT/);
      // A run cut off while still planning has recorded nothing yet: it starts over instead.
      const recorded = existsSync(`${join(dir, 'big.csv')}.offload-checkpoint.json`);
      result = await runCli([...args('big.csv'), ...(recorded ? ['--resume'] : [])]);
      if (tries === 3) k.stop();
    }
    k.stop();
    expect(k.killed()).toBeGreaterThan(0);
    expect(result.code).toBe(0);
    expect(readFileSync(join(dir, 'big.csv')).equals(readFileSync(join(dir, 'ref.csv')))).toBe(true);
  }, 300_000);

  it('one CLI run rides out KILLs of its connection: it reconnects with backoff and resumes by itself', async () => {
    const out = join(dir, 'auto.csv');
    const killOnce = async (): Promise<number> => {
      const [rows] = await admin.query("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND COMMAND IN ('Query', 'Execute') AND ID <> CONNECTION_ID()", [db]);
      let n = 0;
      for (const r of rows as { ID: number }[]) await admin.query(`KILL ${Number(r.ID)}`).then(() => (n += 1), () => undefined);
      return n;
    };
    const r = await runCliWhileBreaking(['export', '--from', url, '--table', 'slow', '--key', 'id', '--out', out, '--quiet', '--batch-size', '500', '--part-size', '32KiB', '--retries', '10'], `${out}.offload-checkpoint.json`, killOnce);
    expect(r.broken).toBeGreaterThan(0);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/SOURCE_(UNREACHABLE|TIMEOUT): .*resuming from the last checkpoint in [\d.]+ s \(retry 1 of 10\)/);
    expect(readFileSync(out).equals(readFileSync(join(dir, 'ref.csv')))).toBe(true);
  }, 300_000);

  it.each([['csv', csvFormat], ['ndjson', ndjsonFormat]] as [string, Format][])('the same source reconnects and continues from its checkpoint (%s)', async (name, format) => {
    const exporter = createExporter({ storage: fsStorage({ root: dir }), batchSize: 1000, partSize: 32 * 1024 });
    const reference = mysqlSource({ url });
    await exporter.run({ source: reference, tables: [{ table: 'big' }], format, key: `ref-lib.${name}` });
    await reference.close();

    const source = mysqlSource({ url });
    const plan = await exporter.plan({ source, tables: [{ table: 'slow', key: ['id'] }], format, key: `lib.${name}` });
    let checkpoint: Checkpoint | null = null;
    const failures: string[] = [];
    const k = killer(100);
    try {
      for (;;) {
        try {
          const r = await runSlice(plan, { checkpoint, sink: { save: async (cp) => void (checkpoint = cp) }, deadline: Date.now() + 200 });
          if (r.done) break;
          checkpoint = r.checkpoint;
        } catch (err) {
          // What a runner does: a retryable failure waits a moment and continues from the last checkpoint.
          if (!(err instanceof OffloadError) || !err.retryable || failures.length > 100) throw err;
          failures.push(err.code);
          if (failures.length === 5) k.stop();
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    } finally {
      k.stop();
      await source.close();
    }
    expect(k.killed()).toBeGreaterThan(0);
    expect(failures.length).toBeGreaterThan(0);
    expect(new Set(failures)).toEqual(new Set(failures.filter((c) => c === 'SOURCE_UNREACHABLE' || c === 'SOURCE_TIMEOUT')));
    expect(readFileSync(join(dir, `lib.${name}`)).equals(readFileSync(join(dir, `ref-lib.${name}`)))).toBe(true);
  }, 300_000);
});
