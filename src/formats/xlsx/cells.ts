/** Cell XML for SpreadsheetML: typed numbers, real Excel dates, booleans and inline strings. */
import type { ColumnInfo, LogicalType, Value } from '../../core/types.js';
import { base64 } from '../values.js';

/** Style ids of styles.xml (see `STYLES_XML`). */
export const STYLE = Object.freeze({ plain: 0, header: 1, date: 2, timestamp: 3, time: 4 });

/** Excel's limit on the characters of one cell. */
export const MAX_CELL_CHARS = 32_767;
/** Appended to a text cut at Excel's limit, so readers see it was cut. */
export const TRUNCATION_MARKER = '…[truncated]';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MS_PER_DAY = 86_400_000;
/** Excel serial of 1970-01-01 (day 0 is 1899-12-30 in the 1900 date system). */
const UNIX_EPOCH_SERIAL = 25_569;
/** 1900-03-01: earlier serials are wrong in Excel (its 1900 leap-year bug), so they stay text. */
const FIRST_SAFE_SERIAL = 61;
/** 9999-12-31, the last date Excel shows. */
const LAST_SERIAL = 2_958_465;

/** Column letters: 0 → A, 25 → Z, 26 → AA. */
export function columnLetters(index: number): string {
  let n = index + 1;
  let s = '';
  while (n > 0) {
    const r = (n - 1) % 26;
    s = String.fromCharCode(65 + r) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

// Control characters are exactly what this pattern must find.
// eslint-disable-next-line no-control-regex
const XML_SPECIAL = /[&<>\r]|[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Escapes text for an XML text node. Characters XML cannot carry (control characters, lone
 * surrogates) use SpreadsheetML's `_xHHHH_` escape, which Excel decodes; a literal `_xHHHH_` in
 * the data is protected as `_x005F_xHHHH_`. CR is written as `&#13;` so parsers keep it.
 */
export function xmlText(s: string): string {
  return s.replace(XML_SPECIAL, (m) => {
    switch (m) {
      case '&': return '&amp;';
      case '<': return '&lt;';
      case '>': return '&gt;';
      case '\r': return '&#13;';
      default:
        if (m.length === 7) return `_x005F${m}`;
        return `_x${m.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}_`;
    }
  });
}

/** Cuts text longer than Excel's cell limit, never inside a surrogate pair, and marks the cut. */
export function fitCell(s: string): string {
  if (s.length <= MAX_CELL_CHARS) return s;
  let end = MAX_CELL_CHARS - TRUNCATION_MARKER.length;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end -= 1;
  return s.slice(0, end) + TRUNCATION_MARKER;
}

function inlineString(ref: string, s: string): string {
  const text = xmlText(fitCell(s));
  const space = /^\s|\s$/.test(s) ? ' xml:space="preserve"' : '';
  return `<c r="${ref}" t="inlineStr"><is><t${space}>${text}</t></is></c>`;
}

function numberCell(ref: string, n: string, style = 0): string {
  return style === 0 ? `<c r="${ref}"><v>${n}</v></c>` : `<c r="${ref}" s="${style}"><v>${n}</v></c>`;
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/;
const TIME = /^(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/;

/**
 * An ISO date or timestamp as an Excel serial number (days since 1899-12-30, UTC); null when it
 * is not one Excel can show (before 1900-03-01, after 9999, or not ISO). Offsets are applied, so
 * `timestamptz` values land in UTC: Excel has no time zones.
 */
export function dateSerial(s: string): number | null {
  const m = DATE_TIME.exec(s);
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), frac ? Math.round(Number(`0${frac}`) * 1000) : 0);
  if (Number(y) < 100) return null; // Date.UTC maps years 0–99 to 1900–1999
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0')) * 60_000;
  }
  if (!Number.isFinite(ms)) return null;
  const serial = ms / MS_PER_DAY + UNIX_EPOCH_SERIAL;
  return serial >= FIRST_SAFE_SERIAL && serial < LAST_SERIAL + 1 ? serial : null;
}

/** A time of day as a fraction of a day; null when it is not `HH:MM[:SS[.fff]]` within a day. */
export function timeFraction(s: string): number | null {
  const m = TIME.exec(s);
  if (!m) return null;
  const [, h, mi, sec = '0', frac = ''] = m;
  const ms = ((Number(h) * 60 + Number(mi)) * 60 + Number(sec)) * 1000 + (frac ? Math.round(Number(`0${frac}`) * 1000) : 0);
  return ms <= MS_PER_DAY ? ms / MS_PER_DAY : null;
}

/** True when a decimal string survives a round trip through a double (<= 15 significant digits). */
export function decimalFitsDouble(s: string): boolean {
  const m = /^[-+]?(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) return false;
  const digits = `${m[1]}${m[2] ?? ''}`.replace(/^0+/, '').replace(/0+$/, '');
  return digits.length <= 15;
}

export type CellWriter = (ref: string, v: Value) => string;

/** The writer of one column's cells, chosen once from its logical type; null values write nothing. */
export function cellWriter(col: ColumnInfo): CellWriter {
  const textual = textRenderer(col.type);
  return (ref, v) => {
    switch (typeof v) {
      case 'number':
        return Number.isFinite(v) ? numberCell(ref, String(v)) : inlineString(ref, String(v));
      case 'bigint':
        // Beyond 2^53 a double would round the value: keep it exact as text.
        return v <= MAX_SAFE && v >= MIN_SAFE ? numberCell(ref, v.toString()) : inlineString(ref, v.toString());
      case 'boolean':
        return `<c r="${ref}" t="b"><v>${v ? 1 : 0}</v></c>`;
      case 'string':
        return textual(ref, v);
      default:
        return v === null ? '' : inlineString(ref, base64(v));
    }
  };
}

function textRenderer(type: LogicalType): (ref: string, s: string) => string {
  switch (type) {
    case 'decimal':
      return (ref, s) => (decimalFitsDouble(s) ? numberCell(ref, s.startsWith('+') ? s.slice(1) : s) : inlineString(ref, s));
    case 'date':
    case 'timestamp':
    case 'timestamptz':
      return (ref, s) => {
        const serial = dateSerial(s);
        if (serial === null) return inlineString(ref, s);
        const style = Number.isInteger(serial) && !/[T ]/.test(s) ? STYLE.date : STYLE.timestamp;
        return numberCell(ref, String(serial), style);
      };
    case 'time':
      return (ref, s) => {
        const f = timeFraction(s);
        return f === null ? inlineString(ref, s) : numberCell(ref, String(f), STYLE.time);
      };
    default:
      return inlineString;
  }
}

/** A header cell: bold (style 1), inline string. */
export function headerCell(ref: string, label: string): string {
  return `<c r="${ref}" s="${STYLE.header}" t="inlineStr"><is><t>${xmlText(fitCell(label))}</t></is></c>`;
}

/** Display width (in characters) a value suggests for its column. */
export function displayWidth(col: ColumnInfo, v: Value): number {
  if (v === null) return 0;
  switch (col.type) {
    case 'date': return 10;
    case 'timestamp': case 'timestamptz': return 19;
    case 'time': return 8;
    default: break;
  }
  if (typeof v === 'string') {
    const nl = v.indexOf('\n');
    return nl >= 0 ? nl : v.length;
  }
  if (v instanceof Uint8Array) return Math.ceil(v.length / 3) * 4;
  return String(v).length;
}
