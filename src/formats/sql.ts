/**
 * SQL dump: `CREATE TABLE` from the source's introspection, then multi-row `INSERT`s, for the
 * SQLite, PostgreSQL and MySQL/MariaDB dialects. Each batch becomes whole statements, so the
 * encoder carries no state between batches and a resumed dump writes the same bytes.
 */
import { ErrorCode, OffloadError } from '../core/errors.js';
import type { ColumnInfo, JsonValue, LogicalType, Row, TableSchema, Value } from '../core/types.js';
import { EMPTY, utf8Bytes, type Encoder, type EncoderContext, type Format } from './format.js';

export type SqlDialect = 'sqlite' | 'postgres' | 'mysql';
const DIALECTS: readonly SqlDialect[] = ['sqlite', 'postgres', 'mysql'];

export interface SqlOptions {
  /** Dialect of the statements; default: the source's. */
  dialect: SqlDialect | null;
  /** Write `CREATE TABLE` statements. Default true (false = data only). */
  schema: boolean;
  /** Write `INSERT` statements. Default true (false = schema only: no row is read). */
  data: boolean;
  /** Precede each `CREATE TABLE` with `DROP TABLE IF EXISTS`. Default false. */
  dropTables: boolean;
  /** Rows per `INSERT` statement. Default 500. */
  rowsPerInsert: number;
}

const DEFAULTS: SqlOptions = { dialect: null, schema: true, data: true, dropTables: false, rowsPerInsert: 500 };

function parseSqlOptions(input: Record<string, unknown>): SqlOptions {
  const out: SqlOptions = { ...DEFAULTS };
  const bad = (msg: string): OffloadError => new OffloadError(ErrorCode.BAD_REQUEST, `[offload] [sql] ${msg}`);
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined || v === null) continue;
    if (k === 'dialect') {
      const d = v === 'mariadb' ? 'mysql' : v;
      if (!DIALECTS.includes(d as SqlDialect)) throw bad(`dialect must be one of ${DIALECTS.join(', ')} (or mariadb), got ${JSON.stringify(v)}`);
      out.dialect = d as SqlDialect;
    } else if (k === 'schema' || k === 'data' || k === 'dropTables') {
      if (typeof v !== 'boolean') throw bad(`${k} must be true or false`);
      out[k] = v;
    } else if (k === 'rowsPerInsert') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 100_000) throw bad('rowsPerInsert must be an integer from 1 to 100000');
      out.rowsPerInsert = v;
    } else {
      throw bad(`unknown option "${k}"`);
    }
  }
  if (!out.schema && !out.data) throw bad('schema and data cannot both be false');
  return out;
}

/** One dialect's quoting and literals. */
interface Dialect {
  ident(name: string): string;
  /** A string literal. */
  text(s: string): string;
  blob(b: Uint8Array): string;
  bool(b: boolean): string;
  /** A float that is NaN or ±Infinity. */
  special(n: number): string;
  /** The column type to declare for a column of another dialect (or an unknown native type). */
  portableType(col: ColumnInfo, inKey: boolean): string;
  /** The declared type to keep when the dump's dialect is the source's. */
  nativeType(col: ColumnInfo): string | null;
  header: string;
  footer: string;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const doubled = (s: string, q: string): string => q + s.replaceAll(q, q + q) + q;

const PORTABLE: Record<SqlDialect, Record<LogicalType, string>> = {
  sqlite: {
    integer: 'INTEGER', real: 'REAL', decimal: 'NUMERIC', boolean: 'BOOLEAN', text: 'TEXT', blob: 'BLOB', date: 'DATE', time: 'TIME',
    timestamp: 'DATETIME', timestamptz: 'TIMESTAMP', interval: 'TEXT', uuid: 'TEXT', json: 'JSON', unknown: '',
  },
  postgres: {
    integer: 'bigint', real: 'double precision', decimal: 'numeric', boolean: 'boolean', text: 'text', blob: 'bytea', date: 'date', time: 'time',
    timestamp: 'timestamp', timestamptz: 'timestamptz', interval: 'interval', uuid: 'uuid', json: 'jsonb', unknown: 'text',
  },
  mysql: {
    integer: 'BIGINT', real: 'DOUBLE', decimal: 'DECIMAL(65,20)', boolean: 'BOOLEAN', text: 'LONGTEXT', blob: 'LONGBLOB', date: 'DATE', time: 'TIME(6)',
    timestamp: 'DATETIME(6)', timestamptz: 'DATETIME(6)', interval: 'VARCHAR(100)', uuid: 'CHAR(36)', json: 'JSON', unknown: 'LONGTEXT',
  },
};

/** PostgreSQL types a dump can declare as they are (user-defined types, enums, domains become text). */
const PG_BUILTIN = /^(smallint|integer|bigint|real|double precision|numeric(\(\d+(,\d+)?\))?|money|boolean|text|character varying(\(\d+\))?|character(\(\d+\))?|"char"|name|bytea|date|time(\(\d\))?( with(out)? time zone)?|timestamp(\(\d\))?( with(out)? time zone)?|interval.*|uuid|jsonb?|inet|cidr|macaddr8?|xml|oid)(\[\])*$/;

const DIALECT: Record<SqlDialect, Dialect> = {
  sqlite: {
    ident: (n) => doubled(n, '"'),
    // A literal cannot hold NUL, and the sqlite3 shell drops CR before LF: such strings are
    // written as hex and cast back to text.
    text: (s) => (/[\0\r]/.test(s) ? `CAST(X'${Buffer.from(s, 'utf8').toString('hex')}' AS TEXT)` : doubled(s, "'")),
    blob: (b) => `X'${hex(b)}'`,
    bool: (b) => (b ? '1' : '0'),
    special: (n) => (Number.isNaN(n) ? 'NULL' : n > 0 ? '9e999' : '-9e999'),
    portableType: (c) => PORTABLE.sqlite[c.type],
    nativeType: (c) => c.sourceType,
    header: 'PRAGMA foreign_keys = OFF;\nBEGIN TRANSACTION;\n',
    footer: 'COMMIT;\n',
  },
  postgres: {
    ident: (n) => doubled(n, '"'),
    // PostgreSQL text cannot hold NUL at all: it is dropped (documented).
    // CR is written as an E'' escape so no line-ending conversion on the way can drop it.
    text: (s) => {
      const t = s.includes('\0') ? s.replaceAll('\0', '') : s;
      return t.includes('\r') ? `E'${t.replace(/[\\']/g, '\\$&').replaceAll('\r', '\\r')}'` : doubled(t, "'");
    },
    blob: (b) => `'\\x${hex(b)}'::bytea`,
    bool: (b) => (b ? 'TRUE' : 'FALSE'),
    special: (n) => (Number.isNaN(n) ? "'NaN'" : n > 0 ? "'Infinity'" : "'-Infinity'"),
    portableType: (c) => PORTABLE.postgres[c.type],
    nativeType: (c) => (PG_BUILTIN.test(c.sourceType) ? c.sourceType : null),
    header: "SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\nSET TIME ZONE 'UTC';\nBEGIN;\n",
    footer: 'COMMIT;\n',
  },
  mysql: {
    ident: (n) => doubled(n, '`'),
    // Backslashes mean escapes unless NO_BACKSLASH_ESCAPES is set: strings holding one (or NUL)
    // go as hex with a character-set introducer, which reads the same under every sql_mode.
    text: (s) => (/[\\\0\r]/.test(s) ? `_utf8mb4 X'${Buffer.from(s, 'utf8').toString('hex')}'` : doubled(s, "'")),
    blob: (b) => (b.length === 0 ? "''" : `X'${hex(b)}'`),
    bool: (b) => (b ? '1' : '0'),
    special: () => 'NULL',
    portableType: (c, inKey) => (inKey && (c.type === 'text' || c.type === 'unknown') ? 'VARCHAR(255)' : inKey && c.type === 'blob' ? 'VARBINARY(255)' : PORTABLE.mysql[c.type]),
    nativeType: (c) => c.sourceType,
    header: "SET NAMES utf8mb4;\nSET time_zone = '+00:00';\nSET FOREIGN_KEY_CHECKS = 0;\nSET UNIQUE_CHECKS = 0;\nSTART TRANSACTION;\n",
    footer: 'COMMIT;\nSET UNIQUE_CHECKS = 1;\nSET FOREIGN_KEY_CHECKS = 1;\n',
  },
};

const NUMERIC = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** The literal of one value in a column of this type. */
function literalWriter(d: Dialect, dialect: SqlDialect, col: ColumnInfo): (v: Value) => string {
  const mysqlTime = dialect === 'mysql' && (col.type === 'timestamp' || col.type === 'timestamptz');
  return (v) => {
    switch (typeof v) {
      case 'number':
        return Number.isFinite(v) ? String(v) : d.special(v);
      case 'bigint':
        return v.toString();
      case 'boolean':
        return d.bool(v);
      case 'string':
        if (col.type === 'decimal' && NUMERIC.test(v)) return v;
        // MySQL DATETIME takes neither the ISO `T` nor a zone suffix; the dump runs in UTC.
        if (mysqlTime) return d.text(v.replace('T', ' ').replace(/(Z|[+-]00:?00)$/, ''));
        if (dialect === 'postgres' && col.sourceType.endsWith('[]') && v.startsWith('[')) return d.text(pgArrayLiteral(JSON.parse(v) as unknown[]));
        return d.text(v);
      default:
        return v === null ? 'NULL' : d.blob(v);
    }
  };
}

/** A JSON array (how the Postgres source hands arrays over) as a PostgreSQL array literal. */
export function pgArrayLiteral(items: unknown[]): string {
  const el = (x: unknown): string => {
    if (x === null) return 'NULL';
    if (Array.isArray(x)) return pgArrayLiteral(x);
    const s = typeof x === 'string' ? x : typeof x === 'object' ? JSON.stringify(x) : String(x);
    return `"${s.replace(/["\\]/g, '\\$&')}"`;
  };
  return `{${items.map(el).join(',')}}`;
}

class SqlEncoder implements Encoder {
  private readonly d: Dialect;
  private readonly writers: ((v: Value) => string)[][];
  private readonly prefixes: string[];
  private table = 0;

  constructor(
    private readonly tables: TableSchema[],
    private readonly opts: SqlOptions,
    private readonly dialect: SqlDialect,
    private readonly native: boolean,
  ) {
    this.d = DIALECT[dialect];
    this.writers = tables.map((t) => t.columns.map((c) => literalWriter(this.d, dialect, c)));
    this.prefixes = tables.map((t) => `INSERT INTO ${this.d.ident(tableName(t))} (${t.columns.map((c) => this.d.ident(c.name)).join(', ')}) VALUES\n`);
  }

  private createTable(t: TableSchema): string {
    const d = this.d;
    const key = new Set(t.primaryKey);
    const cols = t.columns.map((c) => {
      const type = (this.native ? d.nativeType(c) : null) ?? d.portableType(c, key.has(c.name));
      return `  ${d.ident(c.name)}${type ? ` ${type}` : ''}${c.nullable ? '' : ' NOT NULL'}`;
    });
    // The primary key only when every key column is exported.
    if (t.primaryKey.length > 0 && t.primaryKey.every((k) => t.columns.some((c) => c.name === k))) {
      cols.push(`  PRIMARY KEY (${t.primaryKey.map((k) => d.ident(k)).join(', ')})`);
    }
    const drop = this.opts.dropTables ? `DROP TABLE IF EXISTS ${d.ident(tableName(t))};\n` : '';
    return `${drop}CREATE TABLE ${d.ident(tableName(t))} (\n${cols.join(',\n')}\n);\n`;
  }

  beginTable(index: number): Uint8Array {
    this.table = index;
    const t = this.tables[index]!;
    let out = index === 0 ? `-- Offload SQL dump (${this.dialect}): ${this.tables.map(tableName).join(', ')}\n${this.d.header}` : '';
    out += `\n-- ${tableName(t)}\n`;
    if (this.opts.schema) out += this.createTable(t);
    return utf8Bytes(out);
  }

  encode(rows: readonly Row[]): Uint8Array {
    if (rows.length === 0 || !this.opts.data) return EMPTY;
    const writers = this.writers[this.table]!;
    const prefix = this.prefixes[this.table]!;
    const width = writers.length;
    const per = this.opts.rowsPerInsert;
    let out = '';
    for (let i = 0; i < rows.length; i += per) {
      out += prefix;
      const end = Math.min(rows.length, i + per);
      for (let j = i; j < end; j++) {
        const row = rows[j]!;
        let tuple = '(';
        for (let c = 0; c < width; c++) tuple += (c > 0 ? ', ' : '') + writers[c]!(row[c]!);
        out += tuple + (j + 1 < end ? '),\n' : ');\n');
      }
    }
    return utf8Bytes(out);
  }

  endTable(): Uint8Array {
    return EMPTY;
  }

  finish(): Uint8Array {
    return utf8Bytes(`\n${this.d.footer}`);
  }

  state(): JsonValue {
    return {};
  }
}

/** The table's name without a schema qualifier (the dump loads into the target's current schema). */
function tableName(t: TableSchema): string {
  const dot = t.name.lastIndexOf('.');
  return dot > 0 ? t.name.slice(dot + 1) : t.name;
}

/**
 * @example offload export --from ./hr.db --format sql --out hr.sql        (every table)
 * @example offload export --from postgres://…/db --table employees --format sql --sql-dialect mysql --out e.sql
 */
export const sqlFormat: Format = {
  name: 'sql',
  extension: 'sql',
  contentType: 'application/sql; charset=utf-8',
  multiTable: true,
  parseOptions: (input) => ({ ...parseSqlOptions(input) }),
  readsRows: (options) => parseSqlOptions(options).data,
  create(context: EncoderContext): Encoder {
    const opts = parseSqlOptions(context.options);
    const source = context.dialect === 'mariadb' ? 'mysql' : context.dialect;
    const dialect = opts.dialect ?? (DIALECTS.includes(source as SqlDialect) ? (source as SqlDialect) : null);
    if (!dialect) {
      throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] [sql] choose a dialect (${DIALECTS.join(', ')}): the source "${String(context.dialect)}" has no default`);
    }
    return new SqlEncoder(context.tables, opts, dialect, dialect === source);
  },
};
