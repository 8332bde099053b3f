/** SQLite source over better-sqlite3: tables and views, keyset pagination, exact 64-bit integers. */
import Database from 'better-sqlite3';
import { ErrorCode, OffloadError } from '../core/errors.js';
import type { ColumnInfo, KeyTuple, LogicalType, Row, Value } from '../core/types.js';
import { countQuery, keysetBatches, type SqlDialect } from './keyset-sql.js';
import type { Batch, ReadOptions, ReadPlan, Source, TableInfo } from './source.js';

export interface SqliteSourceOptions {
  /** Path of the database file. It must exist; it is opened read-only. */
  path: string;
}

const dialect: SqlDialect = {
  quote: (id) => `"${id.replaceAll('"', '""')}"`,
  placeholder: () => '?',
  rowValueComparison: true,
};

/** Maps a declared column type to a logical type, following SQLite's affinity rules. */
export function sqliteLogicalType(declared: string): LogicalType {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'integer';
  if (/CHAR|CLOB|TEXT/.test(t)) return 'text';
  if (t.includes('BLOB')) return 'blob';
  if (/REAL|FLOA|DOUB/.test(t)) return 'real';
  if (t === '') return 'unknown';
  if (t.includes('BOOL')) return 'boolean';
  if (/TIMESTAMP|DATETIME/.test(t)) return 'timestamp';
  if (t.includes('DATE')) return 'date';
  if (t.includes('TIME')) return 'time';
  if (t.includes('JSON')) return 'json';
  return 'decimal';
}

interface PragmaColumn { name: string; type: string; notnull: number | bigint; pk: number | bigint }

/**
 * Reads a SQLite database. Each batch runs in its own read transaction (keyset reads see
 * committed data batch by batch; see README "Consistency").
 * @example const source = sqliteSource({ path: './hr.db' });
 */
export function sqliteSource(options: SqliteSourceOptions): Source {
  let db: Database.Database;
  try {
    db = new Database(options.path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new OffloadError(ErrorCode.SOURCE_NOT_FOUND, `[offload] [sqlite] cannot open database "${options.path}": ${(err as Error).message}`, { cause: err });
  }
  const guard = <T>(what: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof OffloadError) throw err;
      const busy = /SQLITE_BUSY|locked/i.test((err as Error).message);
      throw new OffloadError(ErrorCode.SOURCE_ERROR, `[offload] [sqlite] ${what}: ${(err as Error).message}`, { cause: err, retryable: busy });
    }
  };

  const describe = (table: string): TableInfo => guard(`describe "${table}"`, () => {
    const entry = db.prepare("SELECT name, type, sql FROM sqlite_schema WHERE type IN ('table','view') AND name = ?").get(table) as
      | { name: string; type: 'table' | 'view'; sql: string | null }
      | undefined;
    if (!entry) {
      throw new OffloadError(ErrorCode.UNKNOWN_TABLE, `[offload] [sqlite] no table or view named "${table}" in ${options.path}`);
    }
    const cols = db.prepare('SELECT name, type, "notnull", pk FROM pragma_table_info(?)').all(entry.name) as PragmaColumn[];
    const columns: ColumnInfo[] = cols.map((c) => ({
      name: c.name,
      type: sqliteLogicalType(c.type),
      sourceType: c.type,
      nullable: Number(c.notnull) === 0 && Number(c.pk) === 0,
    }));
    const primaryKey = cols.filter((c) => Number(c.pk) > 0).sort((a, b) => Number(a.pk) - Number(b.pk)).map((c) => c.name);
    const withoutRowid = /\)\s*WITHOUT\s+ROWID\s*;?\s*$/i.test(entry.sql ?? '');
    const defaultKey = primaryKey.length > 0 ? primaryKey : entry.type === 'table' && !withoutRowid ? ['rowid'] : [];
    const references = entry.type === 'table'
      ? [...new Set((db.prepare('SELECT "table" FROM pragma_foreign_key_list(?)').all(entry.name) as { table: string }[]).map((r) => r.table))]
      : [];
    return { name: entry.name, kind: entry.type, columns, primaryKey, defaultKey, references };
  });

  const statements = new Map<string, Database.Statement>();
  const prepared = (sql: string): Database.Statement => {
    let stmt = statements.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      stmt.raw(true).safeIntegers(true);
      statements.set(sql, stmt);
    }
    return stmt;
  };

  return {
    dialect: 'sqlite',
    // No round trip per query: small batches cost no time and keep the heap small.
    defaultBatchSize: 1000,
    describe: async (table) => describe(table),
    listTables: async () => guard('list tables', () => {
      const names = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      return dependencyOrder(names, (n) => describe(n).references);
    }),
    count: async (plan) => guard('count', () => {
      const q = countQuery(dialect, plan);
      const row = db.prepare(q.sql).raw(true).get(...(q.params as unknown[])) as [number | bigint];
      return Number(row[0]);
    }),
    batches: (plan, after, opts) => readBatches(plan, after, opts ?? {}),
    close: async () => {
      statements.clear();
      db.close();
    },
  };

  function readBatches(plan: ReadPlan, after: KeyTuple | null, opts: ReadOptions): AsyncGenerator<Batch> {
    return keysetBatches(dialect, plan, after, opts.signal, async (q) => {
      // Yield to the event loop between synchronous reads so progress, timers and signals run.
      await new Promise<void>((resolve) => setImmediate(resolve));
      return guard(`read "${plan.table}"`, () => prepared(q.sql).all(...(q.params.map(bindable) as unknown[])) as Row[]);
    });
  }
}

/** better-sqlite3 binds Buffers, not bare Uint8Arrays, and has no boolean type. */
function bindable(v: Value): unknown {
  if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v;
}

/** Orders tables so that every table comes after the tables it references (cycles keep name order). */
export function dependencyOrder(names: string[], refs: (name: string) => string[]): string[] {
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: string): void => {
    if (state.get(n)) return;
    state.set(n, 'visiting');
    for (const r of refs(n)) if (r !== n && names.includes(r)) visit(r);
    state.set(n, 'done');
    out.push(n);
  };
  for (const n of names) visit(n);
  return out;
}
