// Bounds-checked little-endian reads from a guest file, shared by the ELF and DWARF parsers.
// Every read past the end becomes the parser's own error naming what was read and where, so a
// malformed file never surfaces as a RangeError, a wrong value or a hang.

/** Builds the caller's error type (ElfError, DwarfError) from a message and a byte offset. */
export type ReadFailure = (message: string, offset: number) => Error;

const utf8 = new TextDecoder('utf-8');

/** A cursor over `bytes`; `pos` is the offset of the next read. */
export class ByteReader {
  pos = 0;
  private readonly view: DataView;

  constructor(readonly bytes: Uint8Array, readonly fail: ReadFailure) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  /** Throws unless `size` bytes from `offset` lie inside the data. */
  need(offset: number, size: number, what: string): void {
    if (offset < 0 || size < 0 || offset + size > this.bytes.length) {
      throw this.fail(`${what}: needs ${size} byte(s) at offset 0x${offset.toString(16)} but the data ends at 0x${this.bytes.length.toString(16)}`, offset);
    }
  }

  u8(what: string): number {
    this.need(this.pos, 1, what);
    return this.view.getUint8(this.pos++);
  }

  i8(what: string): number {
    this.need(this.pos, 1, what);
    return this.view.getInt8(this.pos++);
  }

  u16(what: string): number {
    this.need(this.pos, 2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(this.pos, 4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(what: string): bigint {
    this.need(this.pos, 8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** An unsigned field of 1, 2, 4 or 8 bytes (ELF class or DWARF address/offset size). */
  unsigned(size: number, what: string): bigint {
    switch (size) {
      case 1: return BigInt(this.u8(what));
      case 2: return BigInt(this.u16(what));
      case 4: return BigInt(this.u32(what));
      case 8: return this.u64(what);
      default: throw this.fail(`${what}: unsupported field size ${size}`, this.pos);
    }
  }

  /** Unsigned LEB128 of any length; DWARF 5, 7.6. */
  ulebBig(what: string): bigint {
    const start = this.pos;
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.bytes.length) throw this.fail(`${what}: LEB128 number at offset 0x${start.toString(16)} runs past the end of the data`, start);
      const b = this.bytes[this.pos++];
      if (shift < 64n) result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
    }
  }

  /** Unsigned LEB128 that must fit a JS number (counts, indices, line numbers). */
  uleb(what: string): number {
    const start = this.pos;
    const v = this.ulebBig(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail(`${what}: value 0x${v.toString(16)} at offset 0x${start.toString(16)} is too large`, start);
    return Number(v);
  }

  /** Signed LEB128 as a 64-bit two's complement value. */
  slebBig(what: string): bigint {
    const start = this.pos;
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.bytes.length) throw this.fail(`${what}: LEB128 number at offset 0x${start.toString(16)} runs past the end of the data`, start);
      const b = this.bytes[this.pos++];
      if (shift < 64n) result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) {
        if (shift < 64n && (b & 0x40) !== 0) result -= 1n << shift;
        return BigInt.asIntN(64, result);
      }
    }
  }

  sleb(what: string): number {
    const start = this.pos;
    const v = this.slebBig(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw this.fail(`${what}: value ${v} at offset 0x${start.toString(16)} is too large`, start);
    }
    return Number(v);
  }

  /** A NUL-terminated UTF-8 string starting at `pos`. */
  cstring(what: string): string {
    const s = this.cstringAt(this.pos, what);
    this.pos = this.bytes.indexOf(0, this.pos) + 1;
    return s;
  }

  /** A NUL-terminated UTF-8 string at `offset`, without moving the cursor. `what` may be built only on error. */
  cstringAt(offset: number, what: string | (() => string)): string {
    const name = (): string => (typeof what === 'string' ? what : what());
    if (offset < 0 || offset >= this.bytes.length) {
      throw this.fail(`${name()}: string offset 0x${offset.toString(16)} is out of range (size 0x${this.bytes.length.toString(16)})`, offset);
    }
    const end = this.bytes.indexOf(0, offset);
    if (end < 0) throw this.fail(`${name()}: string at offset 0x${offset.toString(16)} has no terminating NUL`, offset);
    return utf8.decode(this.bytes.subarray(offset, end));
  }

  skip(count: number, what: string): void {
    this.need(this.pos, count, what);
    this.pos += count;
  }
}

/** `value` as a JS number when it is at most `limit`, else the caller's error. */
export function toOffset(value: bigint, limit: number, what: string, fail: ReadFailure, at: number): number {
  if (value > BigInt(limit)) throw fail(`${what} 0x${value.toString(16)} lies beyond the end of the data (0x${limit.toString(16)} bytes)`, at);
  return Number(value);
}
