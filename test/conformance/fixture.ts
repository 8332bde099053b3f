/** The conformance fixture: rows generated from their id (never all in memory), the bytes each format must hold, and streaming checks. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';

/**
 * Rows in the fixture. `OFFLOAD_CONFORMANCE_ROWS` sets it; the default is 1,000,000 under CI and
 * 20,000 elsewhere, so a local run stays quick.
 */
export const FIXTURE_ROWS = Number(process.env.OFFLOAD_CONFORMANCE_ROWS ?? (process.env.CI === 'true' || process.env.CI === '1' ? 1_000_000 : 20_000));

/**
 * One row: the values every dialect stores and hands back the same way. Per-dialect types with no
 * common rendering (PostgreSQL bool, json, arrays, intervals; MySQL JSON) have their own tests.
 */
export interface FixtureRow {
  id: number;
  /** int64, beyond 2^53 every fourth row. */
  big: bigint;
  amount: number;
  /** DECIMAL(20,4) as exact text. */
  dec: string | null;
  /** Quotes, commas, CR/LF, unicode, leading/trailing spaces. */
  label: string | null;
  data: Buffer | null;
  /** A UTC timestamp with microseconds (last digit never 0, which PostgreSQL would trim). */
  ts: string | null;
  day: string;
  uid: string | null;
  grp: string;
  seq: number;
}

export const COLUMNS = ['id', 'big', 'amount', 'dec', 'label', 'data', 'ts', 'day', 'uid', 'grp', 'seq'] as const;
export const PAIR_COLUMNS = ['grp', 'seq', 'id'] as const;

const TEXTS = ['plain', 'comma, inside', 'quote " inside', 'line\nbreak', 'crlf\r\nbreak', 'ünïcødé 陈 🚀', 'semi;colon\ttab', ' padded ', "it's", 'back\\slash'];
const DAY_MS = 86_400_000;
const BASE_DAY = Date.UTC(2000, 0, 1);

export function fixtureRow(id: number): FixtureRow {
  const iso = new Date((978_307_200 + id * 37) * 1000).toISOString();
  const micros = ((id * 7) % 100_000) * 10 + 1 + (id % 9);
  return {
    id,
    big: id % 4 === 0 ? 9007199254740993n + BigInt(id) : id % 4 === 1 ? -9223372036854775807n + BigInt(id) : BigInt(id * 1000),
    amount: (id % 1000) / 8 - 60,
    dec: id % 19 === 0 ? null : `${id % 5 === 0 ? '-' : ''}${1 + ((id * 7919) % 99_999)}.${String((id * 31) % 10_000).padStart(4, '0')}`,
    label: id % 13 === 0 ? null : `${TEXTS[id % TEXTS.length]!}#${id}`,
    data: id % 7 === 0 ? null : Buffer.from([id % 256, 0, 255, 10, 13, 34, (id >> 8) % 256]),
    ts: id % 11 === 0 ? null : `${iso.slice(0, 19)}.${String(micros).padStart(6, '0')}Z`,
    day: new Date(BASE_DAY + (id % 10_000) * DAY_MS).toISOString().slice(0, 10),
    uid: id % 17 === 0 ? null : `00000000-0000-4000-8000-${id.toString(16).padStart(12, '0')}`,
    grp: ['a', 'b', 'c'][id % 3]!,
    seq: Math.floor(id / 3),
  };
}

/** Ids 1..n in (grp, seq) order: grp is 'a', 'b', 'c' for id % 3 = 0, 1, 2, and seq grows with id. */
export function* pairOrder(n: number): Generator<number> {
  for (const r of [0, 1, 2]) for (let id = r === 0 ? 3 : r; id <= n; id += 3) yield id;
}

/** The CSV fields of a row, as a CSV parser reads them back. */
export function csvFields(r: FixtureRow): string[] {
  return [String(r.id), String(r.big), String(r.amount), r.dec ?? '', r.label ?? '', r.data?.toString('base64') ?? '', r.ts ?? '', r.day, r.uid ?? '', r.grp, String(r.seq)];
}

const SAFE = (b: bigint): boolean => b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= BigInt(Number.MIN_SAFE_INTEGER);

/** The exact NDJSON line of a row (keys in column order; big integers past 2^53 as strings). */
export function ndjsonLine(r: FixtureRow): string {
  return JSON.stringify({
    id: r.id, big: SAFE(r.big) ? Number(r.big) : r.big.toString(), amount: r.amount, dec: r.dec, label: r.label,
    data: r.data?.toString('base64') ?? null, ts: r.ts, day: r.day, uid: r.uid, grp: r.grp, seq: r.seq,
  });
}

/** Streams a CSV file and checks it holds the header, then exactly `expected` records, in order. */
export async function expectCsvRows(path: string, header: readonly string[], expected: Iterable<string[]>): Promise<number> {
  const it = expected[Symbol.iterator]();
  let n = -1;
  for await (const rec of createReadStream(path).pipe(parse({ relax_column_count: false })) as AsyncIterable<string[]>) {
    if (n++ === -1) {
      if (rec.join(',') !== header.join(',')) throw new Error(`header ${JSON.stringify(rec)} is not ${JSON.stringify(header)}`);
      continue;
    }
    const want = it.next();
    if (want.done) throw new Error(`record ${n} is one too many: ${JSON.stringify(rec)}`);
    if (rec.join('\u0001') !== want.value.join('\u0001')) throw new Error(`record ${n}: got ${JSON.stringify(rec)}, expected ${JSON.stringify(want.value)}`);
  }
  if (!it.next().done) throw new Error(`only ${n} records; more were expected`);
  return n;
}

/** Streams an NDJSON file and checks each line is byte for byte the expected one. */
export async function expectNdjsonLines(path: string, expected: Iterable<string>): Promise<number> {
  const it = expected[Symbol.iterator]();
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    n += 1;
    const want = it.next();
    if (want.done) throw new Error(`line ${n} is one too many: ${line}`);
    if (line !== want.value) throw new Error(`line ${n}: got ${line}, expected ${want.value}`);
  }
  if (!it.next().done) throw new Error(`only ${n} lines; more were expected`);
  return n;
}

export function* mapRows<T>(n: number, f: (r: FixtureRow) => T, ids: Iterable<number> = range(n)): Generator<T> {
  for (const id of ids) yield f(fixtureRow(id));
}

function* range(n: number): Generator<number> {
  for (let id = 1; id <= n; id++) yield id;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}
