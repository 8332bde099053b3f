/** PostgreSQL's CSV fast path: `COPY (SELECT …) TO STDOUT` per key range, rendered byte for byte like the CSV format. */
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { OffloadError } from '../core/errors.js';
import type { KeyTuple, Value } from '../core/types.js';
import { filterConditions, Params, whereSql, type SqlDialect } from './keyset-sql.js';
import type { CsvLayout, EncodedBatch, ReadOptions, ReadPlan } from './source.js';

/** What the COPY path needs from the PostgreSQL source it belongs to. */
export interface CopyContext {
  pool: pg.Pool;
  /** The source's dialect: quoted, schema-qualified relations for described tables, `$n` placeholders. */
  dialect: SqlDialect;
  /** Maps a driver error to an OffloadError with a stable code. */
  fail(err: unknown, what: string): OffloadError;
  /** Array types the generic path turns into JSON with pg-types (see `typeParsers` in postgres.ts). */
  jsonArrayOids: ReadonlySet<number>;
  /** PostgreSQL's own rendering of every value (`?copy=native`) instead of the generic path's. */
  native?: boolean;
}

interface ColumnType {
  /** The column's declared type, for casts (`character varying`, `public.mood`, …). */
  castType: string;
  /** OID of the type after domains are resolved: what the wire protocol reports and the generic parsers see. */
  oid: number;
  category: string;
}

/** Per column: declared type and base type (domains resolved the way RowDescription resolves them). */
const COLUMN_TYPES_SQL = `WITH RECURSIVE base(attnum, attname, cast_type, tid, depth) AS (
    SELECT a.attnum, a.attname, format_type(a.atttypid, NULL), a.atttypid, 0 FROM pg_attribute a
    WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
    SELECT b.attnum, b.attname, b.cast_type, t.typbasetype, b.depth + 1 FROM base b JOIN pg_type t ON t.oid = b.tid WHERE t.typtype = 'd')
  SELECT DISTINCT ON (b.attnum) b.attname, b.cast_type, b.tid::int AS oid, t.typcategory::text AS category,
    current_setting('TimeZone') = 'UTC' AND current_setting('DateStyle') LIKE 'ISO%' AS iso_utc
  FROM base b JOIN pg_type t ON t.oid = b.tid ORDER BY b.attnum, b.depth DESC`;

/**
 * A float's text as JavaScript's `String(Number(text))` writes it, which is what the generic path
 * does. PostgreSQL (extra_float_digits > 0) and V8 both print the shortest digits that read back
 * as the same double, closest first, but:
 * - PostgreSQL switches to exponent form outside [1e-4, 1e15) and pads the exponent to two
 *   digits; V8 does outside [1e-6, 1e21), without padding; V8 prints -0 as 0.
 * - From 2^53 up, the halfway points between doubles are integers, and a shorter decimal can sit
 *   exactly on one. V8 accepts it when round-half-even reads it back as the same double;
 *   PostgreSQL's Ryu never does and prints one digit more. So for those values the decimal one
 *   digit shorter (either neighbour of the text on that grid) is tried, and kept when it reads
 *   back as the same double: the only shorter candidate that can exist.
 */
function floatSql(c: string, oid: number): string {
  const t = `${c}::text`;
  // Each level is fenced with OFFSET 0 so every intermediate is computed once per row; flattened,
  // the repeated references multiply into a hundred times the work.
  const large = [
    `(SELECT CASE WHEN e10 < 21 THEN s || g2 || repeat('0', m2) ELSE s || left(g2, 1) || CASE WHEN length(g2) > 1 THEN '.' || substr(g2, 2) ELSE '' END || 'e+' || e10 END`,
    `FROM (SELECT s, g2, m2, length(g2) - 1 + m2 AS e10`,
    `FROM (SELECT s, rtrim(g, '0') AS g2, m + length(g) - length(rtrim(g, '0')) AS m2`,
    `FROM (SELECT s, CASE WHEN lo THEN d1 WHEN hi THEN d1up ELSE d END AS g, CASE WHEN lo OR hi THEN e - k + 2 ELSE e - k + 1 END AS m`,
    `FROM (SELECT s, d, k, e, d1, d1up, k > 1 AND (s || d1 || 'e' || (e - k + 2))::float8 = x AS lo, k > 1 AND (s || d1up || 'e' || (e - k + 2))::float8 = x AS hi`,
    `FROM (SELECT s, d, k, e, x, left(d, k - 1) AS d1, CASE WHEN k > 1 THEN (left(d, k - 1)::int8 + 1)::text END AS d1up`,
    `FROM (SELECT s, d, length(d) AS k, e, x`,
    `FROM (SELECT CASE WHEN left(t, 1) = '-' THEN '-' ELSE '' END AS s, translate(left(t, strpos(t, 'e') - 1), '-.', '') AS d, substr(t, strpos(t, 'e') + 1)::int AS e, x`,
    `FROM (SELECT ${t} AS t, ${t}::float8 AS x OFFSET 0) l0 OFFSET 0) l1 OFFSET 0) l2 OFFSET 0) l3 OFFSET 0) l4 OFFSET 0) l5 OFFSET 0) l6 OFFSET 0) l7)`,
  ].join(' ');
  const exponent = `regexp_replace(${t}, 'e([+-])0*', 'e\\1')`;
  // The common case first, decided on the value (a float4 against float4 bounds, which is where
  // its shortest text crosses them): PostgreSQL prints fixed notation in [1e-4, 1e15) for float8,
  // [1e-4, 1e6) for float4, and so does V8 there.
  const [type, fixedBelow] = oid === 700 ? ['float4', '1e6'] : ['float8', '1e15'];
  return `CASE WHEN ${c} = 0 THEN '0'`
    + ` WHEN abs(${c}) >= '1e-4'::${type} AND abs(${c}) < '${fixedBelow}'::${type} OR ${c} IN ('NaN'::${type}, 'Infinity'::${type}, '-Infinity'::${type}) THEN ${t}`
    + ` WHEN abs(${c}) < '1e-6'::${type} THEN ${exponent}`
    + ` WHEN abs(${t}::float8) < '9007199254740992'::float8 THEN ${t}::numeric::text`
    // Past ~1e60 the halfway points have more factors of two than any 17-digit decimal times a
    // power of ten can have, so no tie is possible; 1e300 keeps the neighbour below the largest double.
    + ` WHEN abs(${t}::float8) < '1e300'::float8 THEN ${large}`
    + ` ELSE ${exponent} END`;
}

/** Types whose text is never empty: COPY writes them as they are, as the generic path does. */
const PLAIN_OIDS = new Set([20, 21, 23, 26, 114, 650, 790, 829, 869, 1082, 1083, 1186, 1266, 1700, 2950, 3802]);
/** Text types: only the empty string needs care. `octet_length` keeps char(n) padding and ignores collations. */
const TEXT_OIDS = new Set([19, 25, 1042, 1043]);

/** What the rendering depends on in the session the COPY runs in. */
interface Session {
  /** TimeZone is UTC and DateStyle ISO (the source's defaults, unless the URL overrides them). */
  isoUtc: boolean;
}

/**
 * The SQL that renders column `c` as text exactly as the generic path's parser + CSV encoder
 * writes it, or null when there is no such SQL (the export then takes the generic path).
 * Empty text becomes NULL because COPY quotes empty strings ("") to tell them from NULL, and the
 * CSV format writes both as an empty field. Columns are cast only where the text differs: a cast
 * costs about as much as the COPY itself.
 */
function renderSql(c: string, type: ColumnType, jsonArrayOids: ReadonlySet<number>, session: Session): string | null {
  if (PLAIN_OIDS.has(type.oid)) return c;
  if (TEXT_OIDS.has(type.oid)) return `CASE WHEN octet_length(${c}) = 0 THEN NULL ELSE ${c} END`;
  switch (type.oid) {
    case 16: return `CASE WHEN ${c} THEN 'true' WHEN NOT ${c} THEN 'false' END`; // bool: t/f in COPY
    case 17: return `NULLIF(translate(encode(${c}, 'base64'), chr(10), ''), '')`; // bytea: base64 without line breaks
    case 700: case 701: return floatSql(c, type.oid);
    // timestamp: 'T' for the first space; timestamptz: also 'Z' for a +00 offset at the end. In an
    // ISO/UTC session an AD value has one space and ends in +00, so plain replace() does it.
    case 1114:
      return session.isoUtc
        ? `CASE WHEN ${c} >= '0001-01-01'::timestamp THEN replace(${c}::text, ' ', 'T') ELSE regexp_replace(${c}::text, ' ', 'T') END`
        : `regexp_replace(${c}::text, ' ', 'T')`;
    case 1184: {
      const exact = `regexp_replace(regexp_replace(${c}::text, ' ', 'T'), '\\+00(:00)?$', 'Z')`;
      return session.isoUtc
        ? `CASE WHEN ${c} >= '0001-01-01 00:00:00+00'::timestamptz THEN replace(replace(${c}::text, ' ', 'T'), '+00', 'Z') ELSE ${exact} END`
        : exact;
    }
    // Arrays the generic path turns into JSON: booleans and small integers stay JSON values,
    // int8 and the string-like types become JSON strings (escaping is the same as JSON.stringify).
    case 1000: case 1005: case 1007: case 1014: return `array_to_json(${c})::text`;
    case 1009: case 1015: case 1016: case 1182: case 1183: case 1231: case 1270: case 2951: return `array_to_json(${c}::text[])::text`;
    default:
      // Other arrays (floats, timestamps, intervals, bytea, json, enums, …) become JSON whose
      // elements SQL would render differently: those exports take the generic path.
      if (jsonArrayOids.has(type.oid) || type.category === 'A') return null;
      return `NULLIF(concat(${c}), '')`; // the type's output function (::text would trim char(n), add inet's netmask)
  }
}

/** A key value read from this database as a literal of the key column's type: escaped, then cast. */
export function keyLiteral(v: Value, castType: string): string {
  return `${pg.escapeLiteral(valueText(v))}::${castType}`;
}

/** A value as the text PostgreSQL's input function for its column reads (what `pg` sends for a bound parameter). */
function valueText(v: Value): string {
  if (v === null) throw new TypeError('[offload] [postgres] a key or filter value is null');
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return `\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return String(v);
}

/**
 * Scans COPY output (always LF-terminated on the wire) and turns record-ending LFs into CRLF,
 * leaving line breaks inside quoted fields alone. A quote outside a field toggles quoting; a
 * doubled quote inside one toggles twice, and unquoted fields never hold a quote.
 */
export class CrlfWriter {
  private quoted = false;

  translate(chunk: Buffer): Buffer {
    const breaks: number[] = [];
    let q = chunk.indexOf(0x22);
    let n = chunk.indexOf(0x0a);
    for (;;) {
      if (this.quoted) {
        if (q < 0) break;
        this.quoted = false;
        const at = q + 1;
        q = chunk.indexOf(0x22, at);
        if (n >= 0 && n < at) n = chunk.indexOf(0x0a, at);
      } else if (n >= 0 && (q < 0 || n < q)) {
        breaks.push(n);
        n = chunk.indexOf(0x0a, n + 1);
      } else if (q >= 0) {
        this.quoted = true;
        const at = q + 1;
        q = chunk.indexOf(0x22, at);
        if (n >= 0 && n < at) n = chunk.indexOf(0x0a, at);
      } else {
        break;
      }
    }
    if (breaks.length === 0) return chunk;
    const out = Buffer.allocUnsafe(chunk.length + breaks.length);
    let from = 0;
    let to = 0;
    for (const b of breaks) {
      to += chunk.copy(out, to, from, b);
      out[to++] = 0x0d;
      from = b;
    }
    chunk.copy(out, to, from);
    return out;
  }
}

const DELIMITER_SQL: Record<CsvLayout['delimiter'], string> = { ',': `','`, ';': `';'`, '\t': `E'\\t'` };

/**
 * Prepares a COPY export of `plan` after `after`, or returns null when the plan cannot take it
 * (README, "The COPY path"): a single exported column (COPY quotes a lone `\.`),
 * a column type without an exact SQL rendering, a key that is an array, a null filter value.
 *
 * Each range: an indexed, parameterised query finds the key of the range's last row (the
 * `batchSize`-th after the cursor, or the last row); then `COPY (SELECT … WHERE key > lower AND
 * key <= upper ORDER BY key)` streams it. Bounds are values read from the database, written as
 * escaped literals with a cast to the key column's type. Caller filters never enter the SQL text:
 * their values are bound to `set_config('offload.pN', $1, false)` on the connection and the COPY
 * reads them with `current_setting('offload.pN')` cast to the column's type.
 */
export async function copyCsvRanges(ctx: CopyContext, plan: ReadPlan, after: KeyTuple | null, layout: CsvLayout, options: ReadOptions = {}): Promise<AsyncIterable<EncodedBatch> | null> {
  if (plan.columns.length < 2) return null;
  if (plan.filters.some((f) => 'value' in f && (Array.isArray(f.value) ? f.value.some((v) => v === null) : f.value === null))) return null;
  const relation = (ctx.dialect.relation ?? ctx.dialect.quote)(plan.table);
  let types: Map<string, ColumnType>;
  const session: Session = { isoUtc: false };
  try {
    const rows = (await ctx.pool.query<{ attname: string; cast_type: string; oid: number; category: string; iso_utc: boolean }>(COLUMN_TYPES_SQL, [relation])).rows;
    types = new Map(rows.map((r) => [r.attname, { castType: r.cast_type, oid: r.oid, category: r.category }]));
    session.isoUtc = rows.every((r) => r.iso_utc);
  } catch (err) {
    throw ctx.fail(err, `describe "${plan.table}" for COPY`);
  }
  const type = (c: string): ColumnType => types.get(c) ?? { castType: 'unknown', oid: 0, category: '' };
  const exprs: string[] = [];
  for (const c of plan.columns) {
    const sql = ctx.native ? `offload_src.${ctx.dialect.quote(c)}` : renderSql(ctx.dialect.quote(c), type(c), ctx.jsonArrayOids, session);
    if (sql === null) return null;
    exprs.push(sql);
  }
  if (plan.key.some((k) => type(k).category === 'A' || type(k).oid === 0)) return null;

  const copyDialect: SqlDialect = {
    quote: (id) => ctx.dialect.quote(id),
    placeholder: (n, column) => `(SELECT current_setting('offload.p${n}')::${type(column).castType})`,
    rowValueComparison: true,
  };
  const settings = new Params(copyDialect);
  const filterSql = filterConditions(copyDialect, plan.filters, settings);
  const keys = plan.key.map((k) => ctx.dialect.quote(k));
  const literal = (v: Value, i: number): string => keyLiteral(v, type(plan.key[i]!).castType);
  const row = (items: string[]): string => (items.length === 1 ? items[0]! : `(${items.join(', ')})`);
  /**
   * `key > lower AND key <= upper`. Key columns on which both bounds agree become equalities and
   * the rest is compared as a row: before PostgreSQL 18 a btree scan stops at a row comparison's
   * upper bound only on its first column, so `(a, b) <= ('x', 9)` would read on through all of 'x'.
   */
  const rangeSql = (lower: KeyTuple | null, upper: KeyTuple): string[] => {
    let same = 0;
    while (lower && same < keys.length - 1 && valueText(lower[same]!) === valueText(upper[same]!)) same += 1;
    const rest = keys.slice(same);
    const at = (key: KeyTuple): string => row(key.slice(same).map((v, j) => literal(v, same + j)));
    return [
      ...keys.slice(0, same).map((k, i) => `${k} = ${literal(upper[i]!, i)}`),
      ...(lower ? [`${row(rest)} > ${at(lower)}`] : []),
      `${row(rest)} <= ${at(upper)}`,
    ];
  };
  const copyOptions = `FORMAT csv, DELIMITER ${DELIMITER_SQL[layout.delimiter]}`;
  const copySql = (lower: KeyTuple | null, upper: KeyTuple): string => {
    const where = [...filterSql, ...rangeSql(lower, upper)];
    // ORDER BY names the table's columns through the alias: a bare name would mean the rendered text column.
    return `COPY (SELECT ${exprs.join(', ')} FROM ${relation} AS offload_src WHERE ${where.join(' AND ')} ORDER BY ${keys.map((k) => `offload_src.${k}`).join(', ')}) TO STDOUT WITH (${copyOptions})`;
  };
  /** The key `batchSize` rows after `lower` (`nth`), or the last key after it: index-only reads, values bound. */
  const keyQuery = (lower: KeyTuple | null, which: 'nth' | 'last'): pg.QueryConfig => {
    const p = new Params(ctx.dialect);
    const where = whereSql(ctx.dialect, plan, lower, p);
    const order = which === 'nth' ? `${keys.join(', ')} OFFSET ${plan.batchSize - 1}` : keys.map((k) => `${k} DESC`).join(', ');
    return { text: `SELECT ${keys.join(', ')} FROM ${relation}${where} ORDER BY ${order} LIMIT 1`, values: p.values.map(bindable), rowMode: 'array' } as pg.QueryConfig;
  };

  async function* ranges(): AsyncGenerator<EncodedBatch> {
    const { signal } = options;
    signal?.throwIfAborted();
    let client: pg.PoolClient;
    try {
      client = await ctx.pool.connect();
    } catch (err) {
      throw ctx.fail(err, `read "${plan.table}"`);
    }
    let broken: Error | undefined;
    let next: Promise<{ batch: EncodedBatch; final: boolean } | null> | null = null;
    // The connection is held across yields; if the server drops it meanwhile, the driver emits
    // 'error' on it (a crash without a listener). The next query then fails, and is mapped.
    let lost: Error | undefined;
    const onError = (err: Error): void => void (lost ??= err);
    client.on('error', onError);
    try {
      for (let i = 0; i < settings.values.length; i++) {
        await client.query('SELECT set_config($1, $2, false)', [`offload.p${i + 1}`, valueText(settings.values[i]!)]);
      }
      /** One range after `lower`: its bounds, then its records; null when no row is left. */
      const fetchRange = async (lower: KeyTuple | null): Promise<{ batch: EncodedBatch; final: boolean } | null> => {
        signal?.throwIfAborted();
        let upper = (await client.query(keyQuery(lower, 'nth'))).rows[0] as KeyTuple | undefined;
        // Fewer than batchSize rows remain: the last range ends at the last key.
        const final = !upper;
        upper ??= (await client.query(keyQuery(lower, 'last'))).rows[0] as KeyTuple | undefined;
        if (!upper) return null;
        const range = await copyRange(client, copySql(lower, upper), layout, signal);
        return { batch: { chunks: range.chunks, rows: range.rows, lastKey: upper }, final };
      };
      // The next range is read while the engine encodes and stores this one, so the server does
      // not wait for the client (at most two ranges are held).
      next = fetchRange(after);
      for (;;) {
        const current = await next;
        next = null;
        if (!current) break;
        if (!current.final) {
          next = fetchRange(current.batch.lastKey);
          next.catch(() => undefined); // awaited on the next turn or in finally; not unhandled meanwhile
        }
        yield current.batch;
        if (current.final) break;
      }
    } catch (err) {
      // A connection that failed or was left inside a COPY is not given back to the pool.
      broken = err instanceof Error ? err : new Error(String(err));
      if (signal?.aborted) throw err;
      throw ctx.fail(lost ?? err, `read "${plan.table}"`);
    } finally {
      // The consumer stopped early (a slice's deadline): let the range being read finish first.
      if (next) await (next as Promise<unknown>).catch((err: unknown) => void (broken ??= err instanceof Error ? err : new Error(String(err))));
      // Also when the consumer stops early: the pooled connection keeps no filter values.
      broken ??= lost;
      if (!broken && settings.values.length > 0) {
        await client.query(settings.values.map((_, i) => `RESET offload.p${i + 1}`).join('; ')).catch((err: unknown) => {
          broken = err instanceof Error ? err : new Error(String(err));
        });
      }
      client.off('error', onError);
      client.release(broken);
    }
  }
  return ranges();
}

/** Runs one COPY and collects its output (one range: at most `batchSize` records). */
async function copyRange(client: pg.PoolClient, sql: string, layout: CsvLayout, signal: AbortSignal | undefined): Promise<{ chunks: Uint8Array[]; rows: number }> {
  const stream = client.query(copyTo(sql));
  const onAbort = (): void => void stream.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  const crlf = layout.newline === '\r\n' ? new CrlfWriter() : null;
  const chunks: Uint8Array[] = [];
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(crlf ? crlf.translate(chunk) : chunk);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return { chunks, rows: stream.rowCount };
}

function bindable(v: Value): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
