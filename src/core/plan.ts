/** Resolves an export request against a source: validates every identifier and filter, picks the key. */
import { ErrorCode, OffloadError } from './errors.js';
import { FILTER_OPS, type ColumnInfo, type Filter, type TableSchema, type Value } from './types.js';
import { DEFAULT_BATCH_SIZE } from './engine.js';
import { schemaFor, type ReadPlan, type Source, type TableInfo } from '../sources/source.js';

/** What to read from one table, as a caller states it (names not yet checked). */
export interface TableRequest {
  table: string;
  columns?: string[];
  /** Key columns to page by; default: the primary key, else the source's row id. */
  key?: string[];
  filters?: Filter[];
}

export interface ResolvedTable {
  info: TableInfo;
  read: ReadPlan;
  schema: TableSchema;
}

/**
 * Checks a request against the table's real columns and returns the read plan.
 * @throws OffloadError UNKNOWN_TABLE, UNKNOWN_COLUMN, NO_KEY or INVALID_FILTER
 */
export async function resolveTable(source: Source, req: TableRequest, batchSize = DEFAULT_BATCH_SIZE): Promise<ResolvedTable> {
  const info = await source.describe(req.table);
  const byName = new Map(info.columns.map((c) => [c.name, c]));
  const where = `[offload] [${source.dialect}]`;
  const column = (name: string, role: string): ColumnInfo => {
    const col = byName.get(name);
    if (!col) {
      const known = info.columns.map((c) => c.name).join(', ');
      throw new OffloadError(ErrorCode.UNKNOWN_COLUMN, `${where} ${role} column "${name}" does not exist in "${info.name}" (columns: ${known})`);
    }
    return col;
  };
  const columns = req.columns && req.columns.length > 0 ? req.columns : info.columns.map((c) => c.name);
  if (new Set(columns).size !== columns.length) {
    throw new OffloadError(ErrorCode.BAD_REQUEST, `${where} a column is listed twice in ${JSON.stringify(columns)}`);
  }
  for (const c of columns) column(c, 'exported');
  const key = req.key && req.key.length > 0 ? req.key : info.defaultKey;
  if (key.length === 0) {
    throw new OffloadError(ErrorCode.NO_KEY, `${where} "${info.name}" is a ${info.kind} without a primary key: declare key columns (--key)`);
  }
  for (const k of key) {
    if (!byName.has(k) && !(info.defaultKey.includes(k))) column(k, 'key');
  }
  const filters = (req.filters ?? []).map((f) => checkFilter(f, column(f.column, 'filter'), where));
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new OffloadError(ErrorCode.BAD_REQUEST, `${where} batch size must be a positive integer, got ${String(batchSize)}`);
  }
  const read: ReadPlan = { table: info.name, columns, key, filters, batchSize };
  return { info, read, schema: schemaFor(info, read) };
}

function checkFilter(f: Filter, col: ColumnInfo, where: string): Filter {
  const bad = (why: string): OffloadError =>
    new OffloadError(ErrorCode.INVALID_FILTER, `${where} filter on "${f.column}": ${why}`);
  if (!(FILTER_OPS as readonly string[]).includes(f.op)) throw bad(`unknown operator "${f.op}" (one of ${FILTER_OPS.join(', ')})`);
  switch (f.op) {
    case 'isNull':
    case 'notNull':
      return { column: f.column, op: f.op };
    case 'in':
      if (!Array.isArray(f.value) || f.value.length === 0) throw bad('"in" needs a non-empty list of values');
      return { column: f.column, op: 'in', value: f.value.map((v) => coerce(v, col, bad)) };
    case 'between':
      if (!Array.isArray(f.value) || f.value.length !== 2) throw bad('"between" needs exactly two values');
      return { column: f.column, op: 'between', value: [coerce(f.value[0], col, bad), coerce(f.value[1], col, bad)] };
    default:
      if (!('value' in f) || f.value === undefined || Array.isArray(f.value)) throw bad(`"${f.op}" needs one value`);
      return { column: f.column, op: f.op, value: coerce(f.value, col, bad) };
  }
}

/** Turns text from a command line or query string into the column's type, so comparisons are typed. */
function coerce(v: Value | undefined, col: ColumnInfo, bad: (why: string) => OffloadError): Value {
  if (v === undefined) throw bad('missing value');
  if (typeof v !== 'string') return v;
  switch (col.type) {
    case 'integer': {
      if (!/^[-+]?\d+$/.test(v.trim())) throw bad(`"${v}" is not an integer`);
      const b = BigInt(v.trim());
      return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
    }
    case 'real': {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) throw bad(`"${v}" is not a number`);
      return n;
    }
    case 'boolean':
      if (/^(true|t|1|yes)$/i.test(v)) return true;
      if (/^(false|f|0|no)$/i.test(v)) return false;
      throw bad(`"${v}" is not a boolean`);
    default:
      return v;
  }
}
