/** PostgreSQL runs the source conformance suite in a database of its own, loaded with COPY FROM STDIN. */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { postgresSource } from '../../src/sources/postgres.js';
import { fixtureRow, testSource, type FixtureRow } from '../conformance/source-suite.js';
import { SERVICES, serviceAvailable } from '../helpers/services.js';

const db = `pc_conf_${process.pid}`;
const admin = (): pg.Client => new pg.Client({ connectionString: SERVICES.postgres.url });

/** One row as a COPY CSV record: text quoted, null as an unquoted empty field, bytea as \x hex. */
function copyLine(r: FixtureRow): string {
  const q = (s: string | null): string => (s === null ? '' : `"${s.replaceAll('"', '""')}"`);
  return [r.id, r.big, r.amount, r.dec ?? '', q(r.label), r.data ? `\\x${r.data.toString('hex')}` : '', r.ts ?? '', r.day, r.uid ?? '', r.grp, r.seq].join(',') + '\n';
}

function* copyChunks(n: number): Generator<Buffer> {
  for (let id = 1; id <= n; id += 5000) {
    let chunk = '';
    for (let i = id; i < Math.min(id + 5000, n + 1); i++) chunk += copyLine(fixtureRow(i));
    yield Buffer.from(chunk);
  }
}

if (await serviceAvailable('postgres')) {
  testSource({
    name: 'postgres',
    async load(n) {
      const a = admin();
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await a.query(`CREATE DATABASE ${db}`);
      await a.end();
      const url = SERVICES.postgres.url.replace(/\/[^/]*$/, `/${db}`);
      const c = new pg.Client({ connectionString: url });
      c.on('error', () => undefined); // a failed load is dropped WITH (FORCE) in cleanup
      await c.connect();
      try {
        await c.query(`CREATE TABLE conf_items (id bigint PRIMARY KEY, big bigint, amount double precision, dec numeric(20,4), label text, data bytea,
            ts timestamptz, day date NOT NULL, uid uuid, grp text NOT NULL, seq int NOT NULL);
          CREATE TABLE conf_pairs (grp text NOT NULL, seq int NOT NULL, id bigint NOT NULL, PRIMARY KEY (grp, seq));`);
        await pipeline(Readable.from(copyChunks(n)), c.query(copyFrom('COPY conf_items FROM STDIN WITH (FORMAT csv)')));
        await c.query('INSERT INTO conf_pairs SELECT grp, seq, id FROM conf_items');
        // Visibility map and statistics, so range bounds come from index-only scans as in production.
        await c.query('VACUUM ANALYZE conf_items');
        await c.query('VACUUM ANALYZE conf_pairs');
      } finally {
        await c.end();
      }
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
