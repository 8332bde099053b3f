/** Value, row, column and filter types shared by every seam. */

/**
 * One cell as sources hand it over. Integers outside ±2^53 are `bigint`; exact decimals, dates,
 * times and JSON documents are `string` (see the column's `type`); binary is `Uint8Array`.
 */
export type Value = null | string | number | bigint | boolean | Uint8Array;

/**
 * One row: values in the order of the table schema's columns. A row may carry trailing values
 * beyond `columns.length` (key columns the source needs for paging); encoders read only the
 * first `columns.length` values.
 */
export type Row = readonly Value[];

/** The logical type of a column, the same for every source dialect. */
export type LogicalType =
  | 'integer'
  | 'real'
  | 'decimal'
  | 'boolean'
  | 'text'
  | 'blob'
  | 'date'
  | 'time'
  | 'timestamp'
  | 'timestamptz'
  | 'interval'
  | 'uuid'
  | 'json'
  | 'unknown';

export interface ColumnInfo {
  name: string;
  type: LogicalType;
  /** The type as the source declares it (`VARCHAR(20)`, `int8`, …). */
  sourceType: string;
  nullable: boolean;
}

/** The columns one table section of an export writes, in output order. */
export interface TableSchema {
  name: string;
  columns: ColumnInfo[];
  /** Primary key column names when the source has one (used by SQL dumps). */
  primaryKey: string[];
}

export const FILTER_OPS = Object.freeze([
  'eq',
  'neq',
  'in',
  'gt',
  'gte',
  'lt',
  'lte',
  'between',
  'isNull',
  'notNull',
] as const);
export type FilterOp = (typeof FILTER_OPS)[number];

/** A typed predicate on one column; values are always bound parameters, never spliced. */
export type Filter =
  | { column: string; op: 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte'; value: Value }
  | { column: string; op: 'in'; value: Value[] }
  | { column: string; op: 'between'; value: [Value, Value] }
  | { column: string; op: 'isNull' | 'notNull' };

/** The values of the key columns of one row. */
export type KeyTuple = Value[];

/** Where reading stopped: which table of the plan, and the key of the last row written. */
export interface Cursor {
  table: number;
  key: KeyTuple | null;
}

/** JSON as stored in checkpoints and job records. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
