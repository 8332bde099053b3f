/**
 * gzip for any format: wraps an encoder so its bytes come out as one gzip member built from
 * independently flushed deflate segments (see deflate.ts). The running CRC-32 and length live in
 * the encoder state, so a resumed export continues the same member and writes the same bytes.
 *
 * Why one member and not one per part: part boundaries move when a slice stops at its deadline,
 * segment boundaries (one per encoder call) do not; the output is then identical however the
 * export was sliced. `gunzip`, browsers and every zlib reader accept it.
 */
import type { JsonValue, Row } from '../core/types.js';
import { crc32Update, deflateFinal, deflateSegment } from './deflate.js';
import type { Encoder, EncoderContext, Format } from './format.js';

/** Fixed header: no file name, mtime 0 (so equal inputs give equal files), OS unknown. */
const HEADER = Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);

interface GzipState {
  inner: JsonValue;
  crc: number;
  /** Uncompressed length mod 2^32, as the gzip trailer stores it. */
  size: number;
}

class GzipEncoder implements Encoder {
  private crc: number;
  private size: number;

  constructor(
    private readonly inner: Encoder,
    state?: GzipState,
  ) {
    this.crc = state?.crc ?? 0;
    this.size = state?.size ?? 0;
  }

  private track(bytes: Uint8Array): void {
    this.crc = crc32Update(this.crc, bytes);
    this.size = (this.size + bytes.length) % 0x1_0000_0000;
  }

  private segment(bytes: Uint8Array): Uint8Array {
    this.track(bytes);
    return deflateSegment(bytes);
  }

  beginTable(index: number): Uint8Array {
    const body = this.segment(this.inner.beginTable(index));
    return index === 0 ? Buffer.concat([HEADER, body]) : body;
  }

  encode(rows: readonly Row[]): Uint8Array {
    return this.segment(this.inner.encode(rows));
  }

  endTable(): Uint8Array {
    return this.segment(this.inner.endTable());
  }

  finish(): Uint8Array {
    const last = this.inner.finish();
    this.track(last);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.size >>> 0, 4);
    return Buffer.concat([deflateFinal(last), trailer]);
  }

  state(): JsonValue {
    return { inner: this.inner.state(), crc: this.crc, size: this.size };
  }
}

/**
 * The gzip-compressed variant of a format: same options, `.gz` appended to the extension,
 * served as `application/gzip` (not as `Content-Encoding: gzip`, which makes browsers and curl
 * unpack the file silently while keeping the `.gz` name).
 */
export function gzipped(format: Format): Format {
  return {
    name: format.name,
    extension: `${format.extension}.gz`,
    contentType: 'application/gzip',
    ...(format.multiTable !== undefined ? { multiTable: format.multiTable } : {}),
    ...(format.readsRows ? { readsRows: format.readsRows } : {}),
    compression: 'gzip',
    parseOptions: (input) => format.parseOptions(input),
    create(context: EncoderContext, state?: JsonValue): Encoder {
      const s = state as GzipState | undefined;
      return new GzipEncoder(format.create(context, s?.inner ?? undefined), s);
    },
  };
}
