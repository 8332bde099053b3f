/** Small SQLite fixtures with every storage class, awkward text and several key shapes. */
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix = 'offload-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export const AWKWARD_TEXT = ['plain', 'comma, inside', 'quote " inside', 'line\nbreak', 'crlf\r\nbreak', 'ünïcødé 陈 🚀', '', ' leading space', '=1+2'];

/** `items`: id, big (int64 edge values), price REAL, name TEXT, data BLOB; nulls sprinkled in. */
export function createTypedDb(path: string, rows = 100): void {
  const db = new Database(path);
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, big INTEGER, price REAL, name TEXT, data BLOB, status TEXT);
    CREATE TABLE pairs (a TEXT NOT NULL, b INTEGER NOT NULL, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
    CREATE TABLE heap (v TEXT);
    CREATE VIEW cheap AS SELECT id, name, price FROM items WHERE price < 50;`);
  const ins = db.prepare('INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)');
  const big = [9007199254740993n, -9223372036854775808n, 9223372036854775807n, 42n, null];
  db.transaction(() => {
    for (let i = 1; i <= rows; i++) {
      ins.run(
        i,
        big[i % big.length],
        i % 7 === 0 ? null : i * 1.25,
        i % 11 === 0 ? null : `${AWKWARD_TEXT[i % AWKWARD_TEXT.length]}#${i}`,
        i % 5 === 0 ? null : Buffer.from([i % 256, 0, 255, 10, 13]),
        i % 3 === 0 ? 'inactive' : 'active',
      );
    }
    const pair = db.prepare('INSERT INTO pairs VALUES (?, ?, ?)');
    for (const a of ['x', 'y', 'z']) for (let b = 1; b <= 5; b++) pair.run(a, b, `${a}${b}`);
    const heap = db.prepare('INSERT INTO heap VALUES (?)');
    for (let i = 0; i < 7; i++) heap.run(`h${i}`);
  })();
  db.close();
}

/** A big table for crash tests: `n` rows of mixed values, deterministic. */
export function createBigDb(path: string, n: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.exec('CREATE TABLE events (id INTEGER PRIMARY KEY, account INTEGER NOT NULL, kind TEXT NOT NULL, amount REAL, note TEXT)');
  const ins = db.prepare('INSERT INTO events VALUES (?, ?, ?, ?, ?)');
  const kinds = ['click', 'view', 'buy, "now"', 'refund\nline'];
  db.transaction(() => {
    for (let i = 1; i <= n; i++) {
      ins.run(i, (i * 7919) % 100_000, kinds[i % kinds.length], i % 13 === 0 ? null : (i % 1000) / 8, i % 17 === 0 ? `note ${i} ✓` : null);
    }
  })();
  db.close();
}
