/** Builds keyset-paginated SELECTs and counts from a validated read plan, for any SQL dialect. */
import type { Filter, KeyTuple, Row, Value } from '../core/types.js';
import type { ReadPlan } from './source.js';

/** The few ways SQL dialects differ in the queries a source runs. */
export interface SqlDialect {
  /** Quotes an identifier (already validated against the catalogue). */
  quote(identifier: string): string;
  /** Quotes a table name (schema-qualified where the dialect needs it). Default: `quote`. */
  relation?(table: string): string;
  /** Placeholder for the n-th (1-based) bound parameter, compared with `column`. */
  placeholder(n: number, column: string): string;
  /**
   * Whether `(a, b) > (?, ?)` is used for composite keys; otherwise the expanded
   * `a > ? OR (a = ? AND b > ?)` form, which some planners turn into an index range more reliably.
   */
  rowValueComparison: boolean;
}

export interface SqlQuery {
  sql: string;
  params: Value[];
}

/** Collects bound values in order and hands out the dialect's placeholders for them. */
export class Params {
  readonly values: Value[] = [];
  constructor(private readonly dialect: SqlDialect) {}
  add(v: Value, column: string): string {
    this.values.push(v);
    return this.dialect.placeholder(this.values.length, column);
  }
}

/** The columns a batch query selects: the plan's columns, then key columns not among them. */
export function selectedColumns(plan: ReadPlan): string[] {
  return [...plan.columns, ...plan.key.filter((k) => !plan.columns.includes(k))];
}

/** Positions of the key columns within `selectedColumns(plan)`. */
export function keyPositions(plan: ReadPlan): number[] {
  const cols = selectedColumns(plan);
  return plan.key.map((k) => cols.indexOf(k));
}

function filterSql(d: SqlDialect, f: Filter, p: Params): string {
  const c = d.quote(f.column);
  const add = (v: Value): string => p.add(v, f.column);
  switch (f.op) {
    case 'eq': return `${c} = ${add(f.value)}`;
    // "not equal" keeps rows where the column is null: that is what people mean by it.
    case 'neq': return `(${c} <> ${add(f.value)} OR ${c} IS NULL)`;
    case 'gt': return `${c} > ${add(f.value)}`;
    case 'gte': return `${c} >= ${add(f.value)}`;
    case 'lt': return `${c} < ${add(f.value)}`;
    case 'lte': return `${c} <= ${add(f.value)}`;
    case 'in': return `${c} IN (${f.value.map(add).join(', ')})`;
    case 'between': return `${c} BETWEEN ${add(f.value[0])} AND ${add(f.value[1])}`;
    case 'isNull': return `${c} IS NULL`;
    case 'notNull': return `${c} IS NOT NULL`;
  }
}

function afterSql(d: SqlDialect, key: string[], after: KeyTuple, p: Params): string {
  if (key.length === 1) return `${d.quote(key[0]!)} > ${p.add(after[0]!, key[0]!)}`;
  if (d.rowValueComparison) {
    return `(${key.map((k) => d.quote(k)).join(', ')}) > (${after.map((v, i) => p.add(v, key[i]!)).join(', ')})`;
  }
  const ors: string[] = [];
  for (let i = 0; i < key.length; i++) {
    const eqs = key.slice(0, i).map((k, j) => `${d.quote(k)} = ${p.add(after[j]!, k)}`);
    ors.push([...eqs, `${d.quote(key[i]!)} > ${p.add(after[i]!, key[i]!)}`].join(' AND '));
  }
  return `(${ors.map((o) => `(${o})`).join(' OR ')})`;
}

/** The plan's filter predicates, values added to `p`. */
export function filterConditions(d: SqlDialect, filters: readonly Filter[], p: Params): string[] {
  return filters.map((f) => filterSql(d, f, p));
}

/** ` WHERE filters AND key > after`, or an empty string when there is no condition. */
export function whereSql(d: SqlDialect, plan: ReadPlan, after: KeyTuple | null, p: Params): string {
  const parts = filterConditions(d, plan.filters, p);
  if (after) parts.push(afterSql(d, plan.key, after, p));
  return parts.length > 0 ? ` WHERE ${parts.join(' AND ')}` : '';
}

/** `SELECT cols FROM t WHERE filters AND key > after ORDER BY key LIMIT n`. */
export function batchQuery(d: SqlDialect, plan: ReadPlan, after: KeyTuple | null): SqlQuery {
  const p = new Params(d);
  const cols = selectedColumns(plan).map((c) => d.quote(c)).join(', ');
  const where = whereSql(d, plan, after, p);
  const order = plan.key.map((k) => d.quote(k)).join(', ');
  return { sql: `SELECT ${cols} FROM ${(d.relation ?? d.quote)(plan.table)}${where} ORDER BY ${order} LIMIT ${plan.batchSize}`, params: p.values };
}

/** `SELECT count(*) FROM t WHERE filters`. */
export function countQuery(d: SqlDialect, plan: ReadPlan): SqlQuery {
  const p = new Params(d);
  return { sql: `SELECT count(*) AS n FROM ${(d.relation ?? d.quote)(plan.table)}${whereSql(d, plan, null, p)}`, params: p.values };
}

/**
 * The keyset loop every SQL source shares: query a batch after the cursor, yield it with the key
 * of its last row, stop at a short batch. `fetch` runs one query and returns rows as arrays.
 */
export async function* keysetBatches(
  d: SqlDialect,
  plan: ReadPlan,
  after: KeyTuple | null,
  signal: AbortSignal | undefined,
  fetch: (q: SqlQuery) => Promise<Row[]>,
  prefetch = false,
): AsyncGenerator<{ rows: Row[]; lastKey: KeyTuple }> {
  const positions = keyPositions(plan);
  let cursor = after;
  // With `prefetch` (network sources), the next batch's query runs while the consumer encodes
  // and stores this one, so the database and the encoder work at the same time.
  let next: Promise<Row[]> | null = null;
  try {
    for (;;) {
      signal?.throwIfAborted();
      const rows = await (next ?? fetch(batchQuery(d, plan, cursor)));
      next = null;
      if (rows.length === 0) return;
      const lastRow = rows[rows.length - 1]!;
      cursor = positions.map((i) => lastRow[i]!);
      if (prefetch && rows.length === plan.batchSize) {
        next = fetch(batchQuery(d, plan, cursor));
        next.catch(() => undefined); // awaited on the next turn or below; not unhandled meanwhile
      }
      yield { rows, lastKey: cursor };
      if (rows.length < plan.batchSize) return;
    }
  } finally {
    // The consumer stopped early: let the query in flight finish before the connection is reused.
    if (next) await next.catch(() => undefined);
  }
}
