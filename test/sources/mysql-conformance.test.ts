/** MariaDB/MySQL runs the source conformance suite in a database of its own. */
import mysql from 'mysql2/promise';
import { mysqlSource } from '../../src/sources/mysql.js';
import { testSource } from '../conformance/source-suite.js';
import { SERVICES, serviceAvailable } from '../helpers/services.js';

const db = `offload_conf_${process.pid}`;
const base = SERVICES.mysql.url.replace(/\/[^/]*$/, '');

if (await serviceAvailable('mysql')) {
  testSource({
    name: 'mariadb',
    async load(rows) {
      const c = await mysql.createConnection({ uri: `${base}/test`, supportBigNumbers: true });
      await c.query(`DROP DATABASE IF EXISTS ${db}`);
      await c.query(`CREATE DATABASE ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
      await c.query(`USE ${db}`);
      await c.query('CREATE TABLE conf_items (id BIGINT PRIMARY KEY, big BIGINT, amount DOUBLE, label TEXT, data BLOB, grp VARCHAR(10) NOT NULL, seq INT NOT NULL)');
      await c.query('CREATE TABLE conf_pairs (grp VARCHAR(10) NOT NULL, seq INT NOT NULL, id BIGINT NOT NULL, PRIMARY KEY (grp, seq))');
      for (let i = 0; i < rows.length; i += 500) {
        const chunk = rows.slice(i, i + 500).map((r) => [r.id, r.big, r.amount, r.label, r.data, r.grp, r.seq]);
        await c.query('INSERT INTO conf_items VALUES ?', [chunk]);
      }
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
