/** PostgreSQL runs the source conformance suite in a database of its own. */
import pg from 'pg';
import { postgresSource } from '../../src/sources/postgres.js';
import { testSource } from '../conformance/source-suite.js';
import { SERVICES, serviceAvailable } from '../helpers/services.js';

const db = `offload_conf_${process.pid}`;
const admin = (): pg.Client => new pg.Client({ connectionString: SERVICES.postgres.url });

if (await serviceAvailable('postgres')) {
  testSource({
    name: 'postgres',
    async load(rows) {
      const a = admin();
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${db}`);
      await a.query(`CREATE DATABASE ${db}`);
      await a.end();
      const url = SERVICES.postgres.url.replace(/\/[^/]*$/, `/${db}`);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`CREATE TABLE conf_items (id bigint PRIMARY KEY, big bigint, amount double precision, label text, data bytea, grp text NOT NULL, seq int NOT NULL);
        CREATE TABLE conf_pairs (grp text NOT NULL, seq int NOT NULL, id bigint NOT NULL, PRIMARY KEY (grp, seq));`);
      for (let i = 0; i < rows.length; i += 500) {
        const chunk = rows.slice(i, i + 500);
        const vals: unknown[] = [];
        const tuples = chunk.map((r, j) => {
          vals.push(r.id, r.big.toString(), r.amount, r.label, r.data, r.grp, r.seq);
          return `(${Array.from({ length: 7 }, (_, k) => `$${j * 7 + k + 1}`).join(',')})`;
        });
        await c.query(`INSERT INTO conf_items VALUES ${tuples.join(',')}`, vals);
        await c.query(`INSERT INTO conf_pairs SELECT grp, seq, id FROM conf_items WHERE id BETWEEN $1 AND $2`, [chunk[0]!.id, chunk.at(-1)!.id]);
      }
      await c.end();
      return url;
    },
    open: async (url) => postgresSource({ url }),
    badUrls: [
      ['postgres://postgres@127.0.0.1:1/test', 'SOURCE_UNREACHABLE'],
      ['postgres://offload_no_such_role@127.0.0.1:5432/test', 'SOURCE_AUTH'],
      ['postgres://postgres@127.0.0.1:5432/offload_no_such_db', 'SOURCE_NOT_FOUND'],
    ],
    async cleanup() {
      const a = admin();
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await a.end();
    },
  });
}
