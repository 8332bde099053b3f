/** Deterministic generator of a realistic HR dataset in SQLite (demo, tests and benchmarks). */
import Database from 'better-sqlite3';

/** A small, fast, seedable PRNG (mulberry32), so every run generates the same rows. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Ana', 'Björn', 'Chloé', 'Dmitri', 'Émile', 'Fatima', 'Giulia', 'Hiroshi', 'Ingrid', 'José', 'Kwame', 'Łucja', 'Mei', 'Nadia', 'Olu', 'Priya', 'Quentin', 'Renée', 'Søren', 'Tomás', 'Ümit', 'Valentina', 'Wei', 'Xóchitl', 'Yusuf', 'Zoë', '陈', 'Алексей'];
const LAST = ['Smith', "O'Brien", 'García', 'Müller', 'Nguyen', 'Kowalski', 'Rossi', 'Tanaka', 'Okafor', 'Dubois', 'Andersson', 'Haddad', 'Ivanova', 'Papadopoulos', 'van der Berg', 'Silva', '山田', 'Smith, Jr.'];
const DEPARTMENTS = ['Engineering', 'Sales', 'Marketing', 'Finance', 'People', 'Support', 'Legal', 'R&D "Labs"', 'Operations'];
const STATUSES = ['active', 'active', 'active', 'active', 'on_leave', 'terminated'];
const TENANTS = ['acme', 'globex'];

export interface DemoOptions {
  rows: number;
  seed?: number;
}

/** Creates `employees` (and `departments`) in a new SQLite file at `path`. */
export function generateHrDatabase(path: string, options: DemoOptions): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec(`
    CREATE TABLE departments (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE employees (
      id INTEGER PRIMARY KEY,
      tenant_id TEXT NOT NULL,
      employee_no TEXT NOT NULL,
      first_name TEXT NOT NULL,
      last_name TEXT NOT NULL,
      email TEXT NOT NULL,
      department_id INTEGER REFERENCES departments(id),
      title TEXT,
      status TEXT NOT NULL,
      hired_at DATE NOT NULL,
      salary REAL,
      notes TEXT,
      updated_at TIMESTAMP NOT NULL
    );
    CREATE INDEX employees_tenant ON employees(tenant_id, id);
  `);
  const rand = prng(options.seed ?? 42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const insertDept = db.prepare('INSERT INTO departments (id, name) VALUES (?, ?)');
  DEPARTMENTS.forEach((d, i) => insertDept.run(i + 1, d));
  const insert = db.prepare(`INSERT INTO employees (id, tenant_id, employee_no, first_name, last_name, email, department_id,
    title, status, hired_at, salary, notes, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const day = 86_400_000;
  const epoch = Date.UTC(2005, 0, 1);
  const fill = db.transaction((from: number, to: number) => {
    for (let id = from; id < to; id++) {
      const first = pick(FIRST);
      const last = pick(LAST);
      const hired = new Date(epoch + Math.floor(rand() * 7300) * day);
      const r = rand();
      const notes = r < 0.6 ? null : r < 0.8 ? 'Prefers "remote", async work' : r < 0.9 ? 'Line one\nLine two, with comma' : '=HYPERLINK("x")';
      insert.run(
        id,
        TENANTS[id % TENANTS.length],
        `E${String(id).padStart(8, '0')}`,
        first,
        last,
        `${first}.${last}.${id}@example.com`.normalize('NFD').toLowerCase().replace(/[^a-z0-9.@]/g, ''),
        1 + Math.floor(rand() * DEPARTMENTS.length),
        rand() < 0.05 ? null : pick(['Engineer', 'Manager', 'Analyst', 'Director', 'Associate']),
        pick(STATUSES),
        hired.toISOString().slice(0, 10),
        Math.round((40_000 + rand() * 160_000) * 100) / 100,
        notes,
        new Date(hired.getTime() + Math.floor(rand() * 1000) * day).toISOString(),
      );
    }
  });
  for (let from = 1; from <= options.rows; from += 50_000) fill(from, Math.min(options.rows + 1, from + 50_000));
  db.close();
}
