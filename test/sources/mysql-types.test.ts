/** MariaDB/MySQL: exact BIGINT and DECIMAL, DATETIME and UTC TIMESTAMP, JSON as text, BLOB, TINYINT(1), null; the per-batch time limit. */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExporter, csvFormat, fsStorage, ndjsonFormat } from '../../src/index.js';
import { mysqlSource } from '../../src/sources/mysql.js';
import type { Source } from '../../src/sources/source.js';
import { SERVICES, serviceAvailable } from '../helpers/services.js';
import { tempDir } from '../helpers/sqlite-fixture.js';

const db = `pc_mytypes_${process.pid}`;
const base = SERVICES.mysql.url.replace(/\/[^/]*$/, '');
const up = await serviceAvailable('mysql');

describe.runIf(up)('MariaDB types', () => {
  let admin: mysql.Connection;
  let source: Source;
  const dir = tempDir('offload-myt-');
  beforeAll(async () => {
    admin = await mysql.createConnection({ uri: `${base}/test`, multipleStatements: true });
    await admin.query(`DROP DATABASE IF EXISTS ${db}; CREATE DATABASE ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; USE ${db};
      SET time_zone = '+05:00';
      CREATE TABLE typed (id INT PRIMARY KEY, big BIGINT, ubig BIGINT UNSIGNED, dec36 DECIMAL(36,18), dt DATETIME(6), ts TIMESTAMP(3) NULL, d DATE, t TIME,
        j JSON, bl BLOB, flag TINYINT(1), y YEAR, f DOUBLE, txt TEXT);
      INSERT INTO typed VALUES
        (1, 9223372036854775807, 18446744073709551615, 123456789012345678.123456789012345678, '2024-03-01 12:34:56.789012', '2024-03-01 17:34:56.789', '2024-02-29', '23:59:59',
         '{"a": 12345678901234567890, "b": [1, 2.50]}', X'00FF0A22', 1, 2024, 0.1, 'ünïcødé, "quoted"'),
        (2, -9223372036854775808, 0, -0.5, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, -1e300, NULL);
      CREATE VIEW slow AS SELECT seq AS id, SLEEP(0.5) AS s FROM seq_1_to_3;`);
    source = mysqlSource({ url: `${base}/${db}` });
  });
  afterAll(async () => {
    await source?.close();
    await admin?.query(`DROP DATABASE IF EXISTS ${db}`);
    await admin?.end();
    rmSync(dir, { recursive: true, force: true });
  });

  const exportTo = async (key: string, format = ndjsonFormat): Promise<string> => {
    const out = await createExporter({ storage: fsStorage({ root: dir }) }).run({ source, tables: [{ table: 'typed' }], format, key });
    expect(out.status).toBe('succeeded');
    return readFileSync(join(dir, key), 'utf8');
  };

  it('renders every type exactly in NDJSON', async () => {
    const [a, b] = (await exportTo('typed.ndjson')).trim().split('\n');
    // The TIMESTAMP was written at +05:00 and comes out in UTC; JSON stays the stored text (MariaDB's JSON is LONGTEXT).
    expect(a).toBe('{"id":1,"big":"9223372036854775807","ubig":"18446744073709551615","dec36":"123456789012345678.123456789012345678",'
      + '"dt":"2024-03-01T12:34:56.789012","ts":"2024-03-01T12:34:56.789Z","d":"2024-02-29","t":"23:59:59",'
      + '"j":"{\\"a\\": 12345678901234567890, \\"b\\": [1, 2.50]}","bl":"AP8KIg==","flag":1,"y":2024,"f":0.1,"txt":"ünïcødé, \\"quoted\\""}');
    expect(b).toBe('{"id":2,"big":"-9223372036854775808","ubig":0,"dec36":"-0.500000000000000000","dt":null,"ts":null,"d":null,"t":null,"j":null,"bl":null,"flag":0,"y":null,"f":-1e+300,"txt":null}');
  });

  it('writes the same values as CSV text', async () => {
    const lines = (await exportTo('typed.csv', csvFormat)).split('\r\n');
    expect(lines[1]).toBe('1,9223372036854775807,18446744073709551615,123456789012345678.123456789012345678,2024-03-01T12:34:56.789012,2024-03-01T12:34:56.789Z,2024-02-29,23:59:59,'
      + '"{""a"": 12345678901234567890, ""b"": [1, 2.50]}",AP8KIg==,1,2024,0.1,"ünïcødé, ""quoted"""');
  });

  it('stops a slow batch at the time limit with a retryable SOURCE_TIMEOUT', async () => {
    const s = mysqlSource({ url: `${base}/${db}?statement_timeout=200` });
    const err = await createExporter({ storage: fsStorage({ root: dir }) }).run({ source: s, tables: [{ table: 'slow', key: ['id'] }], format: csvFormat, key: 'slow.csv' }).catch((e: unknown) => e);
    await s.close();
    expect(err).toMatchObject({ code: 'SOURCE_TIMEOUT', retryable: true });
  });
});
