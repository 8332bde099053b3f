/** SQLite runs the source conformance suite; the fixture is loaded in one transaction through a prepared statement. */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { sqliteSource } from '../../src/sources/sqlite.js';
import { fixtureRow, testSource } from '../conformance/source-suite.js';
import { tempDir } from '../helpers/sqlite-fixture.js';

testSource({
  name: 'sqlite',
  async load(n) {
    const path = join(tempDir('offload-conf-'), 'conf.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    // dec, ts, day and uid are TEXT: a DECIMAL column would have NUMERIC affinity and turn '1.5000' into 1.5.
    db.exec(`CREATE TABLE conf_items (id INTEGER PRIMARY KEY, big INTEGER, amount REAL, dec TEXT, label TEXT, data BLOB, ts TEXT, day TEXT NOT NULL, uid TEXT, grp TEXT NOT NULL, seq INTEGER NOT NULL);
      CREATE TABLE conf_pairs (grp TEXT NOT NULL, seq INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (grp, seq)) WITHOUT ROWID;`);
    const ins = db.prepare('INSERT INTO conf_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const pair = db.prepare('INSERT INTO conf_pairs VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let id = 1; id <= n; id++) {
        const r = fixtureRow(id);
        ins.run(r.id, r.big, r.amount, r.dec, r.label, r.data, r.ts, r.day, r.uid, r.grp, r.seq);
        pair.run(r.grp, r.seq, r.id);
      }
    })();
    db.close();
    return `sqlite:${path}`;
  },
  open: async (url) => sqliteSource({ path: url.slice('sqlite:'.length) }),
  badUrls: [],
});
