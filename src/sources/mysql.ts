/** MySQL / MariaDB source over mysql2: exact BIGINT/DECIMAL, UTC timestamps, a per-batch time limit. */
import mysql from 'mysql2/promise';
import { ErrorCode, OffloadError } from '../core/errors.js';
import type { ColumnInfo, LogicalType, Row, Value } from '../core/types.js';
import { countQuery, keysetBatches, type SqlDialect } from './keyset-sql.js';
import { dependencyOrder } from './sqlite.js';
import type { ReadPlan, Source, TableInfo } from './source.js';

export interface MysqlSourceOptions {
  /** `mysql://user:pass@host:3306/db` (also `mariadb://`). */
  url: string;
  /** Each batch query is stopped after this long (a retryable SOURCE_TIMEOUT). Default 30,000. */
  statementTimeoutMs?: number;
  poolSize?: number;
  connectTimeoutMs?: number;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

function logicalType(dataType: string): LogicalType {
  switch (dataType) {
    case 'tinyint': case 'smallint': case 'mediumint': case 'int': case 'bigint': case 'year': return 'integer';
    case 'float': case 'double': return 'real';
    case 'decimal': return 'decimal';
    case 'date': return 'date';
    case 'datetime': return 'timestamp';
    case 'timestamp': return 'timestamptz';
    case 'time': return 'time';
    case 'json': return 'json';
    case 'blob': case 'tinyblob': case 'mediumblob': case 'longblob': case 'binary': case 'varbinary': case 'bit': return 'blob';
    default: return 'text';
  }
}

/** Values as the Source contract wants them: exact integers, decimals as text, ISO times. */
const typeCast: mysql.TypeCast = (field, next) => {
  switch (field.type) {
    case 'LONGLONG': {
      const s = field.string();
      if (s === null) return null;
      const b = BigInt(s);
      return b <= MAX_SAFE && b >= MIN_SAFE ? Number(b) : b;
    }
    case 'NEWDECIMAL':
    case 'DECIMAL':
      return field.string();
    case 'DATETIME': {
      const s = field.string();
      return s === null ? null : s.replace(' ', 'T');
    }
    case 'TIMESTAMP': {
      const s = field.string();
      return s === null ? null : `${s.replace(' ', 'T')}Z`; // the session runs in UTC
    }
    case 'JSON':
      return field.string();
    default:
      return next();
  }
};

export function mysqlError(err: unknown, what: string): OffloadError {
  if (err instanceof OffloadError) return err;
  const e = err as Error & { code?: string; errno?: number };
  const msg = `[offload] [mysql] ${what}: ${e.message}`;
  const errno = e.errno ?? 0;
  if (errno === 1969 || errno === 3024 || errno === 1317) return new OffloadError(ErrorCode.SOURCE_TIMEOUT, msg, { cause: err, retryable: true });
  if (errno === 1045 || errno === 1044) return new OffloadError(ErrorCode.SOURCE_AUTH, msg, { cause: err });
  if (errno === 1049) return new OffloadError(ErrorCode.SOURCE_NOT_FOUND, msg, { cause: err });
  if (errno === 1146) return new OffloadError(ErrorCode.UNKNOWN_TABLE, msg, { cause: err });
  if (errno === 1054) return new OffloadError(ErrorCode.UNKNOWN_COLUMN, msg, { cause: err });
  if (/ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|PROTOCOL_CONNECTION_LOST|Pool is closed|connect ETIMEDOUT/.test(`${e.code ?? ''} ${e.message}`) || errno === 2013 || errno === 2006 || errno === 1927 || errno === 1053) {
    return new OffloadError(ErrorCode.SOURCE_UNREACHABLE, msg, { cause: err, retryable: true });
  }
  return new OffloadError(ErrorCode.SOURCE_ERROR, msg, { cause: err, retryable: errno === 1205 || errno === 1213 });
}

const dialect: SqlDialect = {
  quote: (id) => `\`${id.replaceAll('`', '``')}\``,
  placeholder: () => '?',
  rowValueComparison: false,
};

/**
 * Reads MySQL or MariaDB tables and views in the URL's database.
 * @example const source = mysqlSource({ url: 'mysql://app@db:3306/shop' });
 */
export function mysqlSource(options: MysqlSourceOptions): Source {
  const url = new URL(options.url.replace(/^mariadb:/, 'mysql:'));
  const timeoutMs = options.statementTimeoutMs ?? Number(url.searchParams.get('statement_timeout') ?? 30_000);
  const pool = mysql.createPool({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.slice(1)),
    connectionLimit: options.poolSize ?? 2,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    // JSON documents as their text (MariaDB's JSON columns would otherwise arrive parsed, big numbers rounded).
    jsonStrings: true,
    timezone: 'Z',
    typeCast,
    rowsAsArray: true,
  });
  // Every pooled connection reads TIMESTAMPs in UTC and stops a statement at the time limit;
  // the variable's name and unit differ between MariaDB (seconds) and MySQL (milliseconds).
  pool.pool.on('connection', (conn) => {
    conn.query("SET time_zone = '+00:00'");
    conn.query(`SET SESSION max_statement_time = ${timeoutMs / 1000}`, (err: unknown) => {
      if (err) conn.query(`SET SESSION max_execution_time = ${Math.round(timeoutMs)}`);
    });
  });
  const database = decodeURIComponent(url.pathname.slice(1));

  const query = async <T>(sql: string, params: unknown[], what: string): Promise<T[]> => {
    try {
      const [rows] = await pool.query({ sql, values: params, rowsAsArray: false });
      return rows as T[];
    } catch (err) {
      throw mysqlError(err, what);
    }
  };

  const describe = async (table: string): Promise<TableInfo> => {
    const kind = await query<{ TABLE_TYPE: string; TABLE_NAME: string }>(
      'SELECT TABLE_TYPE, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [table], `describe "${table}"`);
    if (kind.length === 0) throw new OffloadError(ErrorCode.UNKNOWN_TABLE, `[offload] [mysql] no table or view named "${table}" in ${database}`);
    const cols = await query<{ COLUMN_NAME: string; DATA_TYPE: string; COLUMN_TYPE: string; IS_NULLABLE: string; COLUMN_KEY: string }>(
      `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, [table], `describe "${table}"`);
    const pk = await query<{ COLUMN_NAME: string }>(
      `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
       AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`, [table], `describe "${table}"`);
    const refs = await query<{ REFERENCED_TABLE_NAME: string }>(
      `SELECT DISTINCT REFERENCED_TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE()
       AND TABLE_NAME = ? AND REFERENCED_TABLE_NAME IS NOT NULL`, [table], `describe "${table}"`);
    const columns: ColumnInfo[] = cols.map((c) => ({
      name: c.COLUMN_NAME,
      type: c.COLUMN_TYPE === 'tinyint(1)' ? 'boolean' : logicalType(c.DATA_TYPE.toLowerCase()),
      sourceType: c.COLUMN_TYPE,
      nullable: c.IS_NULLABLE === 'YES',
    }));
    const primaryKey = pk.map((r) => r.COLUMN_NAME);
    return {
      name: kind[0]!.TABLE_NAME,
      kind: kind[0]!.TABLE_TYPE === 'VIEW' ? 'view' : 'table',
      columns,
      primaryKey,
      defaultKey: primaryKey,
      references: refs.map((r) => r.REFERENCED_TABLE_NAME),
    };
  };

  return {
    dialect: 'mysql',
    defaultBatchSize: 2000,
    describe,
    async listTables() {
      const rows = await query<{ TABLE_NAME: string }>(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", [], 'list tables');
      const refs = new Map<string, string[]>();
      for (const r of rows) refs.set(r.TABLE_NAME, (await describe(r.TABLE_NAME)).references);
      return dependencyOrder(rows.map((r) => r.TABLE_NAME), (n) => refs.get(n) ?? []);
    },
    async count(plan: ReadPlan) {
      const q = countQuery(dialect, plan);
      const rows = await query<{ n: number | string }>(q.sql, q.params.map(bindable), `count "${plan.table}"`);
      return Number(rows[0]!.n);
    },
    batches(plan, after, opts) {
      return keysetBatches(dialect, plan, after, opts?.signal, async (q) => {
        try {
          const [rows] = await pool.query({ sql: q.sql, values: q.params.map(bindable), rowsAsArray: true });
          return rows as unknown as Row[];
        } catch (err) {
          throw mysqlError(err, `read "${plan.table}"`);
        }
      }, true);
    },
    async close() {
      await pool.end();
    },
  };
}

/** BigInts are rendered as exact integer literals by mysql2's escaping, so they stay as they are. */
function bindable(v: Value): unknown {
  if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return v;
}
