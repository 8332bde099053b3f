/** PostgreSQL source over `pg`: exact types, keyset pagination, a per-batch statement timeout, reconnects. */
import pg from 'pg';
import { ErrorCode, OffloadError } from '../core/errors.js';
import type { ColumnInfo, KeyTuple, LogicalType, Row, Value } from '../core/types.js';
import { countQuery, keysetBatches, type SqlDialect } from './keyset-sql.js';
import { copyCsvRanges } from './postgres-copy.js';
import { dependencyOrder } from './sqlite.js';
import type { CsvLayout, ReadOptions, ReadPlan, Source, TableInfo } from './source.js';

export interface PostgresSourceOptions {
  /** `postgres://user:pass@host:5432/db` (`?statement_timeout=ms` and `?copy=false` are read too). */
  url: string;
  /** Each batch query is cancelled after this long (a retryable SOURCE_TIMEOUT). Default 30,000. */
  statementTimeoutMs?: number;
  /** Connections kept. Default 2. */
  poolSize?: number;
  connectTimeoutMs?: number;
  /**
   * CSV exports use `COPY … TO STDOUT` per key range when the plan allows it (same bytes as the
   * generic path, fewer round trips and no row objects). Default true; `?copy=false` in the URL.
   * `'native'` (`?copy=native`): COPY writes PostgreSQL's own text for every value (`t`/`f`,
   * `2024-01-01 10:00:00+00`, `\x…` bytea, `{…}` arrays), as psql would: fastest, but the
   * file differs from what the generic path and the other sources write.
   */
  copy?: boolean | 'native';
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** int8 text → number when exact, else bigint. */
function parseInt8(s: string): number | bigint {
  const b = BigInt(s);
  return b <= MAX_SAFE && b >= MIN_SAFE ? Number(b) : b;
}
/** `2024-01-02 03:04:05.123456+00` (session in UTC, DateStyle ISO) → `2024-01-02T03:04:05.123456Z`. */
const tstz = (s: string): string => (/^infinity|-infinity$/.test(s) ? s : s.replace(' ', 'T').replace(/\+00(:00)?$/, 'Z'));
const ts = (s: string): string => (/^infinity|-infinity$/.test(s) ? s : s.replace(' ', 'T'));
const bytea = (s: string): Uint8Array => Buffer.from(s.slice(2), 'hex');

const OID = { bool: 16, bytea: 17, int8: 20, int2: 21, int4: 23, oid: 26, json: 114, float4: 700, float8: 701, date: 1082, time: 1083, timestamp: 1114, timestamptz: 1184, interval: 1186, timetz: 1266, numeric: 1700, uuid: 2950, jsonb: 3802 } as const;

/** pg-types' parser for text[]: nested arrays of element text (or null), quoting and escapes undone. */
const TEXT_ARRAY: number = 1009;
const parseTextArray = pg.types.getTypeParser(TEXT_ARRAY, 'text') as (s: string) => unknown;

type Leaf = (s: string) => unknown;
/** Marks an element that is JSON text already (json[] and jsonb[] elements), written as it is. */
class RawJson {
  constructor(readonly text: string) {}
}
const nonFinite = (n: number): number | string => (Number.isFinite(n) ? n : String(n));

/**
 * Built-in array types and how their elements go into JSON, the same rules as single values:
 * booleans and small integers as JSON values, floats as numbers (NaN and infinities as strings),
 * int8 and numeric as strings (exact), times as ISO text, bytea as base64, json as it is.
 * Any other array (enums, domains, inet, …) becomes a JSON array of element text.
 */
const ARRAY_ELEMENTS = new Map<number, Leaf>([
  [1000, (s) => s === 't'], [1005, Number], [1007, Number], [1016, (s) => s], [1231, (s) => s],
  [1021, (s) => nonFinite(Number(s))], [1022, (s) => nonFinite(Number(s))],
  [1009, (s) => s], [1015, (s) => s], [1014, (s) => s], [2951, (s) => s], [1182, (s) => s], [1183, (s) => s], [1270, (s) => s], [1187, (s) => s],
  [1115, (s) => ts(s)], [1185, (s) => tstz(s)], [1001, (s) => Buffer.from(s.slice(2), 'hex').toString('base64')],
  [199, (s) => new RawJson(s)], [3807, (s) => new RawJson(s)],
]);

function arrayJson(parsed: unknown, leaf: Leaf): string {
  if (parsed === null) return 'null';
  if (Array.isArray(parsed)) return `[${parsed.map((e) => arrayJson(e, leaf)).join(',')}]`;
  const v = leaf(parsed as string);
  return v instanceof RawJson ? v.text : JSON.stringify(v);
}

/**
 * Our parsers: exact numbers, ISO times, bytes; arrays become JSON text; everything else stays
 * text. `arrayOids` holds the array types `describe` met that are not built in.
 */
function typeParsers(arrayOids: ReadonlySet<number>) {
  return {
    getTypeParser(oid: number, format?: string): (s: string) => unknown {
      void format;
      switch (oid) {
        case OID.bool: return (s) => s === 't';
        case OID.int2: case OID.int4: case OID.oid: return Number;
        case OID.int8: return parseInt8;
        case OID.float4: case OID.float8: return Number;
        case OID.timestamptz: return tstz;
        case OID.timestamp: return ts;
        case OID.bytea: return bytea;
        default: {
          const leaf = ARRAY_ELEMENTS.get(oid) ?? (arrayOids.has(oid) ? (s: string) => s : undefined);
          return leaf ? (s: string) => arrayJson(parseTextArray(s), leaf) : (s: string) => s;
        }
      }
    },
  };
}

/** Array types the generic path renders as JSON, built in or not (the COPY path must match them or step aside). */
const ARRAY_OIDS: ReadonlySet<number> = new Set(ARRAY_ELEMENTS.keys());

function logicalType(typname: string, category: string): LogicalType {
  switch (typname) {
    case 'int2': case 'int4': case 'int8': case 'oid': return 'integer';
    case 'float4': case 'float8': return 'real';
    case 'numeric': case 'money': return 'decimal';
    case 'bool': return 'boolean';
    case 'bytea': return 'blob';
    case 'date': return 'date';
    case 'time': case 'timetz': return 'time';
    case 'timestamp': return 'timestamp';
    case 'timestamptz': return 'timestamptz';
    case 'interval': return 'interval';
    case 'uuid': return 'uuid';
    case 'json': case 'jsonb': return 'json';
    default: return category === 'A' ? 'json' : 'text';
  }
}

/** Maps driver errors to stable codes; connection-level failures are retryable. */
export function pgError(err: unknown, what: string): OffloadError {
  if (err instanceof OffloadError) return err;
  const e = err as Error & { code?: string };
  const code = e.code ?? '';
  const msg = `[offload] [postgres] ${what}: ${e.message}`;
  if (code === '57014') return new OffloadError(ErrorCode.SOURCE_TIMEOUT, msg, { cause: err, retryable: true });
  if (code === '28P01' || code === '28000') return new OffloadError(ErrorCode.SOURCE_AUTH, msg, { cause: err });
  if (code === '3D000') return new OffloadError(ErrorCode.SOURCE_NOT_FOUND, msg, { cause: err });
  if (code === '42P01') return new OffloadError(ErrorCode.UNKNOWN_TABLE, msg, { cause: err });
  if (code === '42703') return new OffloadError(ErrorCode.UNKNOWN_COLUMN, msg, { cause: err });
  if (/^(08|57P)/.test(code) || /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|timeout exceeded when trying to connect|Connection terminated|not queryable/i.test(`${code} ${e.message}`)) {
    return new OffloadError(ErrorCode.SOURCE_UNREACHABLE, msg, { cause: err, retryable: true });
  }
  if (/^22/.test(code)) return new OffloadError(ErrorCode.INVALID_FILTER, msg, { cause: err });
  return new OffloadError(ErrorCode.SOURCE_ERROR, msg, { cause: err, retryable: /^(40|53|55)/.test(code) });
}

const quote = (id: string): string => `"${id.replaceAll('"', '""')}"`;

/**
 * Reads PostgreSQL tables, partitioned tables, views and materialized views.
 * @example const source = postgresSource({ url: 'postgres://app@db/prod', statementTimeoutMs: 30_000 });
 */
export function postgresSource(options: PostgresSourceOptions): Source {
  const url = new URL(options.url);
  const timeout = options.statementTimeoutMs ?? Number(url.searchParams.get('statement_timeout') ?? 30_000);
  url.searchParams.delete('statement_timeout');
  const copyParam = url.searchParams.get('copy');
  url.searchParams.delete('copy');
  if (copyParam !== null && !/^(true|false|on|off|1|0|native)$/i.test(copyParam)) {
    throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] [postgres] copy must be true, false or native, got "${copyParam}"`);
  }
  const copyMode = options.copy ?? (copyParam === null || /^(true|on|1)$/i.test(copyParam) ? true : /^native$/i.test(copyParam) ? 'native' : false);
  const useCopy = copyMode !== false;
  // Session settings in the startup packet, so every pooled connection reads times as ISO UTC
  // (and does not spend a JIT compile on a short batch query);
  // options given in the URL (search_path, …) are kept.
  const sessionOptions = ['-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c extra_float_digits=1 -c jit=off', url.searchParams.get('options') ?? ''].join(' ').trim();
  url.searchParams.delete('options');
  /** Array types of the columns described so far (enum[], inet[], …), rendered as JSON arrays of text. */
  const arrayTypes = new Set<number>();
  const pool = new pg.Pool({
    connectionString: url.toString(),
    max: options.poolSize ?? 2,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    statement_timeout: timeout,
    types: typeParsers(arrayTypes),
    // Shown in pg_stat_activity; `?application_name=` in the URL names one export's connections.
    application_name: url.searchParams.get('application_name') ?? 'offload',
    client_encoding: 'UTF8',
    options: sessionOptions,
  });
  // A connection dropped while idle (server restart, pg_terminate_backend) must not crash the
  // process; the pool replaces it on the next query.
  pool.on('error', () => undefined);

  /** Relation SQL (schema-qualified, quoted) for each name `describe` returned. */
  const relations = new Map<string, string>();
  const dialect: SqlDialect = {
    quote,
    relation: (table) => relations.get(table) ?? quote(table),
    placeholder: (n) => `$${n}`,
    rowValueComparison: true,
  };

  const query = async <T extends pg.QueryResultRow>(text: string, values: unknown[], what: string): Promise<T[]> => {
    try {
      return (await pool.query<T>({ text, values })).rows;
    } catch (err) {
      throw pgError(err, what);
    }
  };

  return {
    dialect: 'postgres',
    async describe(table) {
      const dot = table.indexOf('.');
      const [schema, name] = dot > 0 && !table.startsWith('"') ? [table.slice(0, dot), table.slice(dot + 1)] : [null, table];
      const rel = (await query<{ oid: number; nspname: string; relname: string; relkind: string }>(
        `SELECT c.oid::int AS oid, n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relname = $1 AND c.relkind IN ('r','p','v','m','f')
           AND (($2::text IS NULL AND n.nspname = ANY (current_schemas(false))) OR n.nspname = $2)
         ORDER BY array_position(current_schemas(false), n.nspname) LIMIT 1`, [name, schema], `describe "${table}"`))[0];
      if (!rel) throw new OffloadError(ErrorCode.UNKNOWN_TABLE, `[offload] [postgres] no table or view named "${table}"`);
      const cols = await query<{ attname: string; type: string; typname: string; typcategory: string; attnotnull: boolean; oid: number }>(
        `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, t.typname, t.typcategory, a.attnotnull, a.atttypid::int AS oid
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, [rel.oid], `describe "${table}"`);
      const pk = await query<{ attname: string }>(
        `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = $1 AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`, [rel.oid], `describe "${table}"`);
      const refs = await query<{ ref: string }>(
        `SELECT DISTINCT confrelid::regclass::text AS ref FROM pg_constraint WHERE conrelid = $1 AND contype = 'f'`, [rel.oid], `describe "${table}"`);
      const infoName = schema ? `${rel.nspname}.${rel.relname}` : rel.relname;
      relations.set(infoName, `${quote(rel.nspname)}.${quote(rel.relname)}`);
      for (const c of cols) if (c.typcategory === 'A') arrayTypes.add(c.oid);
      const columns: ColumnInfo[] = cols.map((c) => ({ name: c.attname, type: logicalType(c.typname, c.typcategory), sourceType: c.type, nullable: !c.attnotnull }));
      const primaryKey = pk.map((r) => r.attname);
      const kind = rel.relkind === 'v' || rel.relkind === 'm' ? 'view' : 'table';
      return { name: infoName, kind, columns, primaryKey, defaultKey: primaryKey, references: refs.map((r) => r.ref.replace(/^"|"$/g, '')) } satisfies TableInfo;
    },
    async listTables() {
      const rows = await query<{ relname: string }>(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r','p') AND n.nspname = current_schema() AND NOT c.relispartition ORDER BY c.relname`, [], 'list tables');
      const names = rows.map((r) => r.relname);
      const refs = new Map<string, string[]>();
      for (const n of names) refs.set(n, (await this.describe(n)).references);
      return dependencyOrder(names, (n) => refs.get(n) ?? []);
    },
    async count(plan: ReadPlan) {
      const q = countQuery(dialect, plan);
      const rows = await query<{ n: number | bigint }>(q.sql, q.params.map(bindable), `count "${plan.table}"`);
      return Number(rows[0]!.n);
    },
    batches(plan, after, opts) {
      return keysetBatches(dialect, plan, after, opts?.signal, async (q) => {
        try {
          const res = await pool.query({ text: q.sql, values: q.params.map(bindable), rowMode: 'array' });
          return res.rows as Row[];
        } catch (err) {
          throw pgError(err, `read "${plan.table}"`);
        }
      }, true);
    },
    // Row objects of 2,000 rows (and the prefetched next batch) keep the heap small; COPY ranges
    // are bytes, and bigger ones save a key query and a COPY statement per range.
    defaultBatchSize: 2000,
    ...(useCopy ? {
      copyBatchSize: 5000,
      copyCsv: (plan: ReadPlan, after: KeyTuple | null, layout: CsvLayout, opts?: ReadOptions) =>
        copyCsvRanges({ pool, dialect, fail: pgError, jsonArrayOids: new Set([...ARRAY_OIDS, ...arrayTypes]), native: copyMode === 'native' }, plan, after, layout, opts),
    } : {}),
    async close() {
      await pool.end();
    },
  };
}

function bindable(v: Value): unknown {
  if (typeof v === 'bigint') return v.toString();
  return v;
}
