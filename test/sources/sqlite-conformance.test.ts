/** SQLite runs the source conformance suite. */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { sqliteSource } from '../../src/sources/sqlite.js';
import { testSource } from '../conformance/source-suite.js';
import { tempDir } from '../helpers/sqlite-fixture.js';

testSource({
  name: 'sqlite',
  async load(rows) {
    const path = join(tempDir('offload-conf-'), 'conf.db');
    const db = new Database(path);
    db.exec(`CREATE TABLE conf_items (id INTEGER PRIMARY KEY, big INTEGER, amount REAL, label TEXT, data BLOB, grp TEXT NOT NULL, seq INTEGER NOT NULL);
      CREATE TABLE conf_pairs (grp TEXT NOT NULL, seq INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (grp, seq)) WITHOUT ROWID;`);
    const ins = db.prepare('INSERT INTO conf_items VALUES (?, ?, ?, ?, ?, ?, ?)');
    const pair = db.prepare('INSERT INTO conf_pairs VALUES (?, ?, ?)');
    db.transaction(() => {
      for (const r of rows) {
        ins.run(r.id, r.big, r.amount, r.label, r.data, r.grp, r.seq);
        pair.run(r.grp, r.seq, r.id);
      }
    })();
    db.close();
    return `sqlite:${path}`;
  },
  open: async (url) => sqliteSource({ path: url.slice('sqlite:'.length) }),
  badUrls: [],
});
