/** MariaDB/MySQL runs the source conformance suite in a database of its own, loaded with LOAD DATA LOCAL INFILE. */
import { Readable } from 'node:stream';
import mysql from 'mysql2/promise';
import { mysqlSource } from '../../src/sources/mysql.js';
import { fixtureRow, testSource, type FixtureRow } from '../conformance/source-suite.js';
import { SERVICES, serviceAvailable } from '../helpers/services.js';

const db = `pc_conf_${process.pid}`;
const base = SERVICES.mysql.url.replace(/\/[^/]*$/, '');

/** One row as a LOAD DATA line: tab-separated, backslash escapes, \N for null, blobs in hex. */
function loadLine(r: FixtureRow): string {
  const esc = (s: string | null): string => (s === null ? '\\N' : s.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!));
  const ts = r.ts === null ? null : r.ts.replace('T', ' ').replace('Z', '');
  return [String(r.id), String(r.big), String(r.amount), esc(r.dec), esc(r.label), esc(r.data?.toString('hex') ?? null), esc(ts), r.day, esc(r.uid), r.grp, String(r.seq)].join('\t') + '\n';
}

function* loadChunks(n: number): Generator<Buffer> {
  for (let id = 1; id <= n; id += 5000) {
    let chunk = '';
    for (let i = id; i < Math.min(id + 5000, n + 1); i++) chunk += loadLine(fixtureRow(i));
    yield Buffer.from(chunk);
  }
}

if (await serviceAvailable('mysql')) {
  testSource({
    name: 'mariadb',
    async load(n) {
      const c = await mysql.createConnection({ uri: `${base}/test`, supportBigNumbers: true, flags: ['+LOCAL_FILES'] });
      await c.query(`DROP DATABASE IF EXISTS ${db}`);
      await c.query(`CREATE DATABASE ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
      await c.query(`USE ${db}`);
      await c.query("SET time_zone = '+00:00'");
      await c.query(`CREATE TABLE conf_items (id BIGINT PRIMARY KEY, big BIGINT, amount DOUBLE, \`dec\` DECIMAL(20,4), label TEXT, data BLOB,
        ts TIMESTAMP(6) NULL DEFAULT NULL, day DATE NOT NULL, uid CHAR(36), grp VARCHAR(10) NOT NULL, seq INT NOT NULL)`);
      await c.query('CREATE TABLE conf_pairs (grp VARCHAR(10) NOT NULL, seq INT NOT NULL, id BIGINT NOT NULL, PRIMARY KEY (grp, seq))');
      await c.query({
        sql: `LOAD DATA LOCAL INFILE 'fixture.tsv' INTO TABLE conf_items CHARACTER SET utf8mb4
          FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'
          (id, big, amount, \`dec\`, label, @data, ts, day, uid, grp, seq) SET data = UNHEX(@data)`,
        infileStreamFactory: () => Readable.from(loadChunks(n)),
      });
      await c.query('INSERT INTO conf_pairs SELECT grp, seq, id FROM conf_items');
      await c.end();
      return `${base}/${db}`;
    },
    open: async (url) => mysqlSource({ url }),
    badUrls: [
      ['mysql://root@127.0.0.1:1/test', 'SOURCE_UNREACHABLE'],
      ['mysql://root:wrong-password@127.0.0.1:3306/test', 'SOURCE_AUTH'],
      [`${base}/offload_no_such_db`, 'SOURCE_NOT_FOUND'],
    ],
    async cleanup() {
      const c = await mysql.createConnection({ uri: `${base}/test` });
      await c.query(`DROP DATABASE IF EXISTS ${db}`);
      await c.end();
    },
  });
}
