import type { HrTime } from '@opentelemetry/api';

/**
 * The protobuf writer behind span-serializer.ts: one growable Buffer, kept between requests by its
 * caller, with the few primitives OTLP spans need (varints, fixed32/64, doubles, hex ids as bytes,
 * UTF-8 strings) and length-prefixed messages that reserve one byte for the length and move the
 * message on only when it is longer, as upstream's ProtobufWriter does (so the bytes are the same).
 */

/** Bytes kept for a length prefix before the message is written; longer lengths shift it on. */
const RESERVED = 1;

function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

// As upstream's hexToBinary: 0-9, a-f, anything else as if A-F.
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return c - 55;
}

/** hexDigit of every char code below 256: a table read instead of three comparisons. */
const HEX = Int16Array.from({ length: 256 }, (_, c) => hexDigit(c));

export class SpanWriter {
  buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  pos = 0;

  ensure(n: number): void {
    const needed = this.pos + n;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Unsigned varint up to 2^32 - 1 (tags, lengths, counts, kinds). */
  uint(v: number): void {
    this.ensure(5);
    const buf = this.buf;
    let x = v >>> 0;
    while (x > 0x7f) {
      buf[this.pos++] = (x & 0x7f) | 0x80;
      x >>>= 7;
    }
    buf[this.pos++] = x;
  }

  /** An int64 varint from a JS integer in the int64 range (two's complement when negative). */
  int64(value: number): void {
    if (value >= 0 && value <= 0xffffffff) {
      this.uint(value);
      return;
    }
    let low: number;
    let high: number;
    if (value >= 0) {
      low = value >>> 0;
      high = (value / 0x100000000) >>> 0;
    } else {
      const abs = Math.abs(value);
      low = ~(abs >>> 0) >>> 0;
      high = ~((abs / 0x100000000) >>> 0) >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    this.ensure(10);
    const buf = this.buf;
    while (high > 0 || low > 0x7f) {
      buf[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buf[this.pos++] = low & 0x7f;
  }

  fixed32(v: number): void {
    this.ensure(4);
    this.le32(v, this.pos);
    this.pos += 4;
  }

  /** Little-endian uint32 at `at` (room already ensured; no bounds checks as in writeUInt32LE). */
  private le32(v: number, at: number): void {
    const buf = this.buf;
    buf[at] = v & 0xff;
    buf[at + 1] = (v >>> 8) & 0xff;
    buf[at + 2] = (v >>> 16) & 0xff;
    buf[at + 3] = (v >>> 24) & 0xff;
  }

  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** Nanoseconds since the epoch as fixed64, exact for any HrTime (upstream's arithmetic). */
  hrTime(t: HrTime): void {
    const seconds = t[0];
    const nanos = t[1];
    const lowerNs = (seconds & 0xffff) * 1e9;
    const upperNs = ((seconds / 0x10000) >>> 0) * 1e9;
    const low = (lowerNs >>> 0) + (((upperNs & 0xffff) * 0x10000) >>> 0) + nanos;
    const carry = Math.floor(low / 0x100000000);
    const high = (Math.floor(lowerNs / 0x100000000) + ((upperNs / 0x10000) >>> 0) + carry) >>> 0;
    this.ensure(8);
    this.le32(low >>> 0, this.pos);
    this.le32(high, this.pos + 4);
    this.pos += 8;
  }

  /** A hex id as bytes, length-prefixed, with no intermediate array. */
  hexBytes(hex: string): void {
    const n = hex.length >>> 1;
    this.uint(n);
    this.ensure(n);
    const buf = this.buf;
    let at = this.pos;
    for (let i = 0; i < n * 2; i += 2) {
      const hi = hex.charCodeAt(i);
      const lo = hex.charCodeAt(i + 1);
      buf[at++] =
        ((hi < 256 ? HEX[hi]! : hexDigit(hi)) << 4) | (lo < 256 ? HEX[lo]! : hexDigit(lo));
    }
    this.pos = at;
  }

  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A length-prefixed UTF-8 string (lone surrogates become U+FFFD, as with TextEncoder). */
  string(s: string): void {
    const len = s.length;
    const start = this.pos;
    // Written as ASCII, checked on the way (one loop, not a check then a copy); the first
    // non-ASCII character sends the string back to the UTF-8 path.
    this.uint(len);
    this.ensure(len);
    const buf = this.buf;
    let at = this.pos;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) {
        this.pos = start;
        this.utf8(s);
        return;
      }
      buf[at++] = c;
    }
    this.pos = at;
  }

  private utf8(s: string): void {
    const size = Buffer.byteLength(s, 'utf8');
    this.uint(size);
    this.ensure(size);
    this.pos += this.buf.write(s, this.pos, size, 'utf8');
  }

  /** Reserves the length prefix of a message about to be written; returns where it goes. */
  begin(): number {
    this.ensure(RESERVED);
    const at = this.pos;
    this.pos += RESERVED;
    return at;
  }

  /** Writes the length of the message begun at `at`, moving it on when the prefix needs room. */
  end(at: number): void {
    const len = this.pos - at - RESERVED;
    const size = varintSize(len);
    if (size > RESERVED) {
      const extra = size - RESERVED;
      this.ensure(extra);
      this.buf.copyWithin(at + size, at + RESERVED, this.pos);
      this.pos += extra;
    }
    const buf = this.buf;
    let v = len;
    let p = at;
    while (v > 0x7f) {
      buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[p] = v;
  }
}
