/**
 * A streaming, resumable ZIP writer — written by hand because no zip library can continue an
 * archive from a serialised state (offsets, CRC-32 and sizes of the open entry) after a crash.
 * Large entries are written with a data descriptor (sizes after the data); small ones, known
 * whole, with their sizes in the local header. ZIP64 records are added only where a size, an
 * offset or the entry count passes the 32-bit/16-bit limits (APPNOTE 6.3.x, 4.3.9, 4.5.3).
 */
import { crc32Update, deflateFinal, deflateSegment, XLSX_DEFLATE_LEVEL } from '../deflate.js';

const U32 = 0xffff_ffff;
const U16 = 0xffff;
const FLAG_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;
const DEFLATE = 8;
/** 1980-01-01 00:00:00: a fixed timestamp keeps equal inputs byte-identical. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

/** One finished entry, as the central directory needs it. */
export interface ZipEntry {
  name: string;
  offset: number;
  crc: number;
  compressed: number;
  size: number;
  flags: number;
}

/** The entry being streamed. */
export interface OpenEntry {
  name: string;
  offset: number;
  crc: number;
  compressed: number;
  size: number;
}

/** Everything needed to continue the archive: JSON-serialisable. */
export interface ZipState {
  /** Bytes of the archive written so far. */
  offset: number;
  entries: ZipEntry[];
  open: OpenEntry | null;
}

export function emptyZipState(): ZipState {
  return { offset: 0, entries: [], open: null };
}

function localHeader(name: Buffer, flags: number, crc: number, compressed: number, size: number): Buffer {
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(20, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt16LE(DEFLATE, 8);
  h.writeUInt16LE(DOS_TIME, 10);
  h.writeUInt16LE(DOS_DATE, 12);
  h.writeUInt32LE(crc >>> 0, 14);
  h.writeUInt32LE(compressed, 18);
  h.writeUInt32LE(size, 22);
  h.writeUInt16LE(name.length, 26);
  h.writeUInt16LE(0, 28);
  return Buffer.concat([h, name]);
}

/**
 * Appends entries to an archive whose state it owns. Every method returns the bytes to write
 * and advances `state.offset` by their length.
 */
export class ZipWriter {
  constructor(readonly state: ZipState) {}

  private emit(parts: Uint8Array[]): Uint8Array {
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.state.offset += out.length;
    return out;
  }

  /** Starts a streamed entry (sizes in a data descriptor after the data). */
  begin(name: string): Uint8Array {
    if (this.state.open) throw new Error(`[offload] [zip] entry ${this.state.open.name} is still open`);
    this.state.open = { name, offset: this.state.offset, crc: 0, compressed: 0, size: 0 };
    return this.emit([localHeader(Buffer.from(name, 'utf8'), FLAG_DESCRIPTOR | FLAG_UTF8, 0, 0, 0)]);
  }

  /** Compresses bytes into the open entry as one independently flushed segment. */
  write(bytes: Uint8Array): Uint8Array {
    const open = this.requireOpen();
    const seg = deflateSegment(bytes, XLSX_DEFLATE_LEVEL);
    open.crc = crc32Update(open.crc, bytes);
    open.size += bytes.length;
    open.compressed += seg.length;
    return this.emit([seg]);
  }

  /** Writes the last bytes of the open entry and its data descriptor. */
  end(last: Uint8Array): Uint8Array {
    const open = this.requireOpen();
    const seg = deflateFinal(last, XLSX_DEFLATE_LEVEL);
    open.crc = crc32Update(open.crc, last);
    open.size += last.length;
    open.compressed += seg.length;
    const zip64 = open.size >= U32 || open.compressed >= U32;
    const d = Buffer.alloc(zip64 ? 24 : 16);
    d.writeUInt32LE(0x08074b50, 0);
    d.writeUInt32LE(open.crc >>> 0, 4);
    if (zip64) {
      d.writeBigUInt64LE(BigInt(open.compressed), 8);
      d.writeBigUInt64LE(BigInt(open.size), 16);
    } else {
      d.writeUInt32LE(open.compressed, 8);
      d.writeUInt32LE(open.size, 12);
    }
    this.state.entries.push({ ...open, flags: FLAG_DESCRIPTOR | FLAG_UTF8 });
    this.state.open = null;
    return this.emit([seg, d]);
  }

  /** Writes a whole small entry at once. */
  add(name: string, bytes: Uint8Array): Uint8Array {
    if (this.state.open) throw new Error(`[offload] [zip] entry ${this.state.open.name} is still open`);
    const data = deflateFinal(bytes, XLSX_DEFLATE_LEVEL);
    const crc = crc32Update(0, bytes);
    const entry: ZipEntry = { name, offset: this.state.offset, crc, compressed: data.length, size: bytes.length, flags: FLAG_UTF8 };
    this.state.entries.push(entry);
    return this.emit([localHeader(Buffer.from(name, 'utf8'), FLAG_UTF8, crc, data.length, bytes.length), data]);
  }

  /** Writes the central directory and the end records; the archive is complete after this. */
  finish(): Uint8Array {
    if (this.state.open) throw new Error(`[offload] [zip] entry ${this.state.open.name} is still open`);
    const start = this.state.offset;
    const records: Buffer[] = [];
    for (const e of this.state.entries) records.push(centralRecord(e));
    const dir = Buffer.concat(records);
    const end = endRecords(this.state.entries.length, start, dir.length);
    return this.emit([dir, end]);
  }

  private requireOpen(): OpenEntry {
    if (!this.state.open) throw new Error('[offload] [zip] no entry is open');
    return this.state.open;
  }
}

function centralRecord(e: ZipEntry): Buffer {
  const name = Buffer.from(e.name, 'utf8');
  const big = { size: e.size >= U32, compressed: e.compressed >= U32, offset: e.offset >= U32 };
  const extraFields: Buffer[] = [];
  if (big.size) extraFields.push(u64(e.size));
  if (big.compressed) extraFields.push(u64(e.compressed));
  if (big.offset) extraFields.push(u64(e.offset));
  let extra = Buffer.alloc(0);
  if (extraFields.length > 0) {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(0x0001, 0);
    head.writeUInt16LE(extraFields.length * 8, 2);
    extra = Buffer.concat([head, ...extraFields]);
  }
  const zip64 = extraFields.length > 0;
  const h = Buffer.alloc(46);
  h.writeUInt32LE(0x02014b50, 0);
  h.writeUInt16LE(zip64 ? 45 : 20, 4);
  h.writeUInt16LE(zip64 ? 45 : 20, 6);
  h.writeUInt16LE(e.flags, 8);
  h.writeUInt16LE(DEFLATE, 10);
  h.writeUInt16LE(DOS_TIME, 12);
  h.writeUInt16LE(DOS_DATE, 14);
  h.writeUInt32LE(e.crc >>> 0, 16);
  h.writeUInt32LE(big.compressed ? U32 : e.compressed, 20);
  h.writeUInt32LE(big.size ? U32 : e.size, 24);
  h.writeUInt16LE(name.length, 28);
  h.writeUInt16LE(extra.length, 30);
  // comment length, disk number, internal attributes, external attributes: all zero
  h.writeUInt32LE(big.offset ? U32 : e.offset, 42);
  return Buffer.concat([h, name, extra]);
}

function endRecords(count: number, dirOffset: number, dirSize: number): Buffer {
  const zip64 = count >= U16 || dirOffset >= U32 || dirSize >= U32;
  const parts: Buffer[] = [];
  if (zip64) {
    const r = Buffer.alloc(56);
    r.writeUInt32LE(0x06064b50, 0);
    r.writeBigUInt64LE(44n, 4);
    r.writeUInt16LE(45, 12);
    r.writeUInt16LE(45, 14);
    r.writeBigUInt64LE(BigInt(count), 24);
    r.writeBigUInt64LE(BigInt(count), 32);
    r.writeBigUInt64LE(BigInt(dirSize), 40);
    r.writeBigUInt64LE(BigInt(dirOffset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(dirOffset + dirSize), 8);
    loc.writeUInt32LE(1, 16);
    parts.push(r, loc);
  }
  const e = Buffer.alloc(22);
  e.writeUInt32LE(0x06054b50, 0);
  e.writeUInt16LE(Math.min(count, U16), 8);
  e.writeUInt16LE(Math.min(count, U16), 10);
  e.writeUInt32LE(Math.min(dirSize, U32), 12);
  e.writeUInt32LE(Math.min(dirOffset, U32), 16);
  parts.push(e);
  return Buffer.concat(parts);
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
