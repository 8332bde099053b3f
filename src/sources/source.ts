/** The Source contract: describe a table, count it, and stream it in key order as row batches. */
import type { ColumnInfo, Filter, KeyTuple, Row, TableSchema } from '../core/types.js';

/** What the source knows about a table or view. */
export interface TableInfo {
  name: string;
  kind: 'table' | 'view';
  columns: ColumnInfo[];
  /** Primary key columns, empty when there is none. */
  primaryKey: string[];
  /** The key the source pages by when the caller declares none (primary key, or rowid). */
  defaultKey: string[];
  /** Foreign-key targets, so whole-database dumps can order tables safely. */
  references: string[];
}

/** What to read from one table: every identifier here has been validated against `describe()`. */
export interface ReadPlan {
  table: string;
  /** Exported columns, in output order. */
  columns: string[];
  /** Key columns, in order; together they are unique and non-null. */
  key: string[];
  filters: Filter[];
  batchSize: number;
}

/** One page of rows and the key of its last row (the cursor to resume after). */
export interface Batch {
  rows: Row[];
  lastKey: KeyTuple;
}

export interface ReadOptions {
  signal?: AbortSignal;
}

/** How CSV records are laid out, for sources that write CSV themselves (`Source.copyCsv`). */
export interface CsvLayout {
  delimiter: ',' | ';' | '\t';
  newline: '\r\n' | '\n';
}

/** Records a source encoded itself: the bytes of `rows` rows, and the key of the last of them. */
export interface EncodedBatch {
  chunks: Uint8Array[];
  rows: number;
  lastKey: KeyTuple;
}

/**
 * A database or file the engine reads from. Implementations page with keyset pagination
 * (`WHERE (k1,k2) > (?,?) ORDER BY k1,k2 LIMIT n`), never OFFSET, and bind every value.
 *
 * @example
 * const source = sqliteSource({ path: './hr.db' });
 * const info = await source.describe('employees');
 */
export interface Source {
  /** Short name used in messages: `sqlite`, `postgres`, `mysql`. */
  readonly dialect: string;
  /**
   * Rows per query when the caller sets none. In-process sources (SQLite) have no round trip to
   * amortise and keep less memory with small batches; network sources want bigger ones.
   */
  readonly defaultBatchSize?: number;
  /** Rows per COPY range when the caller sets none (`copyCsv` streams bytes, not row objects). */
  readonly copyBatchSize?: number;
  /** Columns, keys and kind of a table or view; throws `UNKNOWN_TABLE` if missing. */
  describe(table: string): Promise<TableInfo>;
  /** Tables of the source in dependency-safe order (referenced tables first). */
  listTables(): Promise<string[]>;
  /** Row count under the plan's filters, or null when it is not cheap to know. */
  count(plan: ReadPlan): Promise<number | null>;
  /**
   * Rows strictly after `after` in key order, one batch at a time. Each row holds the plan's
   * columns followed by any key columns not among them.
   */
  batches(plan: ReadPlan, after: KeyTuple | null, options?: ReadOptions): AsyncIterable<Batch>;
  /**
   * Optional fast path for CSV (PostgreSQL's `COPY … TO STDOUT`): the records strictly after
   * `after`, header excluded, byte for byte what the CSV format would write for `batches()`.
   * Resolves null when this plan cannot take the fast path; the engine then uses `batches()`.
   */
  copyCsv?(plan: ReadPlan, after: KeyTuple | null, layout: CsvLayout, options?: ReadOptions): Promise<AsyncIterable<EncodedBatch> | null>;
  /** Releases connections and file handles. */
  close(): Promise<void>;
}

/** The schema an encoder sees for a read plan. */
export function schemaFor(info: TableInfo, plan: ReadPlan): TableSchema {
  const byName = new Map(info.columns.map((c) => [c.name, c]));
  return {
    name: info.name,
    columns: plan.columns.map((name) => {
      const col = byName.get(name);
      if (!col) throw new Error(`[offload] column ${name} missing from ${info.name}`);
      return col;
    }),
    primaryKey: info.primaryKey,
  };
}
