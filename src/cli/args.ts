/** Parsers for CLI arguments: byte sizes, positive integers, column lists and `--where` filters. */
import { ErrorCode, OffloadError } from '../core/errors.js';
import { FILTER_OPS, type Filter, type FilterOp } from '../core/types.js';

const usage = (msg: string): OffloadError => new OffloadError(ErrorCode.BAD_REQUEST, msg);

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3 };

/** `8MiB`, `512k`, `1048576` → bytes. */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw usage(`invalid size "${text}" (examples: 8MiB, 512KiB, 1048576)`);
  const n = Math.round(Number(m[1]) * unit);
  if (n < 1) throw usage(`size "${text}" must be at least 1 byte`);
  return n;
}

export function parsePositiveInt(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw usage(`${what} must be a positive integer, got "${text}"`);
  return Number(text);
}

/** `a,b,c` → ['a','b','c'] (empty entries rejected). */
export function parseList(text: string, what: string): string[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw usage(`${what} "${text}" has an empty entry`);
  return items;
}

const SYMBOLS: Record<string, FilterOp> = { '!=': 'neq', '>=': 'gte', '<=': 'lte', '=': 'eq', '>': 'gt', '<': 'lt' };
const OP_NAMES = new Map(FILTER_OPS.map((op) => [op.toLowerCase(), op]));

/**
 * Parses one `--where` expression:
 * `col=v`, `col!=v`, `col>v`, `col>=v`, `col<v`, `col<=v`, `col:in=a,b,c`, `col:between=a,b`,
 * `col:null`, `col:notnull` (any operator may also be written `col:gte=v`).
 */
export function parseWhere(expr: string): Filter {
  const bad = (why: string): OffloadError => new OffloadError(ErrorCode.INVALID_FILTER, `[offload] malformed filter "${expr}": ${why}`);
  const nullary = /^(.+?):(null|isnull|notnull)$/i.exec(expr);
  if (nullary) {
    return { column: nullary[1]!, op: nullary[2]!.toLowerCase() === 'notnull' ? 'notNull' : 'isNull' };
  }
  const m = /^(.+?)(!=|>=|<=|=|>|<)(.*)$/s.exec(expr);
  if (!m) throw bad('expected column, operator and value, e.g. status=active or hired_at>=2020-01-01');
  let column = m[1]!;
  let op: FilterOp = SYMBOLS[m[2]!]!;
  const value = m[3]!;
  const named = /^(.+):([a-z]+)$/i.exec(column);
  if (named) {
    const found = OP_NAMES.get(named[2]!.toLowerCase());
    if (!found) throw bad(`unknown operator "${named[2]!}" (one of ${FILTER_OPS.join(', ')})`);
    if (m[2] !== '=') throw bad(`write "${named[1]!}:${named[2]!}=value"`);
    column = named[1]!;
    op = found;
  }
  if (column.trim() === '') throw bad('missing column name');
  switch (op) {
    case 'in': return { column, op, value: value.split(',') };
    case 'between': {
      const parts = value.split(',');
      if (parts.length !== 2) throw bad('between takes two values: col:between=low,high');
      return { column, op, value: [parts[0]!, parts[1]!] };
    }
    case 'isNull':
    case 'notNull':
      return { column, op };
    default:
      return { column, op, value };
  }
}
