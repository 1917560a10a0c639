// Operand access for instruction handlers: registers by size (with AH..BH), memory operands
// through the effective-address computation and segmentation (SDM Vol. 1, 3.7.5; Vol. 3A, 3.4).

import type { Cpu } from './cpu';
import { Seg } from './cpu-state';
import { Insn, HIGH_BYTE_BASE } from './insn';
import { checkSegmentAccess, isFlatData, nonCanonicalStack } from './segment-checks';

/** Reads a register operand: the low word is returned (zero-extended), the high word in cpu.hi. */
export function readReg(c: Cpu, reg: number, size: number): number {
  const r = c.r;
  switch (size) {
    case 8: c.hi = r[2 * reg + 1]; return r[2 * reg];
    case 4: c.hi = 0; return r[2 * reg];
    case 2: c.hi = 0; return r[2 * reg] & 0xffff;
    default:
      c.hi = 0;
      return reg >= HIGH_BYTE_BASE ? (r[2 * (reg - HIGH_BYTE_BASE)] >>> 8) & 0xff : r[2 * reg] & 0xff;
  }
}

/** Writes a register operand with MOV semantics: 32-bit writes zero bits 63:32. */
export function writeReg(c: Cpu, reg: number, size: number, lo: number, hi: number): void {
  const r = c.r;
  switch (size) {
    case 8: r[2 * reg] = lo; r[2 * reg + 1] = hi; return;
    case 4: r[2 * reg] = lo; r[2 * reg + 1] = 0; return;
    case 2: r[2 * reg] = (r[2 * reg] & ~0xffff) | (lo & 0xffff); return;
    default:
      if (reg >= HIGH_BYTE_BASE) {
        const k = 2 * (reg - HIGH_BYTE_BASE);
        r[k] = (r[k] & ~0xff00) | ((lo & 0xff) << 8);
      } else {
        r[2 * reg] = (r[2 * reg] & ~0xff) | (lo & 0xff);
      }
  }
}

/**
 * Computes the linear address of the memory operand into cpu.eaLo/eaHi: base + index*scale
 * + displacement at the address size, plus the segment base (only FS/GS in 64-bit mode).
 * Outside 64-bit mode the segment must be usable and hold all `size` bytes of the access.
 */
export function effectiveAddress(c: Cpu, i: Insn, size = 1): void {
  addressSum(c, i);
  let lo = c.eaLo, hi = c.eaHi;
  const asize = i.asize;
  if (asize === 8) {
    // 64-bit mode knows only DS, SS, FS and GS here (other overrides are ignored): the common
    // DS case costs the one comparison it always did
    if (i.seg !== Seg.DS) {
      if (i.seg >= Seg.FS) {
        const s = (lo >>> 0) + (c.segBase[2 * i.seg] >>> 0);
        lo = s | 0;
        hi = (hi + c.segBase[2 * i.seg + 1] + (s > 0xffffffff ? 1 : 0)) | 0;
      } else if (i.seg === Seg.SS && ((hi << 16) >> 16) !== hi) {
        throw nonCanonicalStack();
      }
    }
    c.eaLo = lo;
    c.eaHi = hi;
    return;
  }
  if (asize === 2) lo &= 0xffff;
  const seg = i.seg;
  if (c.in64BitMode) {
    // 32-bit addressing in 64-bit mode: the address is zero-extended, FS/GS bases still add
    if (seg >= Seg.FS) {
      const s = (lo >>> 0) + (c.segBase[2 * seg] >>> 0);
      c.eaLo = s | 0;
      c.eaHi = (c.segBase[2 * seg + 1] + (s > 0xffffffff ? 1 : 0)) | 0;
    } else {
      c.eaLo = lo;
      c.eaHi = 0;
    }
    return;
  }
  if (isFlatData(c, seg)) {
    c.eaSeg = -1;
  } else {
    // `size` bytes here (callers that know it); readRm/writeRm check the whole access with its kind
    checkSegmentAccess(c, seg, lo >>> 0, size, false);
    c.eaSeg = seg;
    c.eaOff = lo >>> 0;
  }
  c.eaLo = (lo + c.segBase[2 * seg]) | 0;
  c.eaHi = 0;
}

/**
 * Completes the segment check of the last computed address for an access of `size` bytes.
 * Only reached when that address went through a segment that is not flat data; `eaSeg` may
 * be stale after a switch into 64-bit mode, where no check applies.
 */
function checkWholeAccess(c: Cpu, size: number, write: boolean): void {
  if (c.in64BitMode) { c.eaSeg = -1; return; }
  checkSegmentAccess(c, c.eaSeg, c.eaOff, size, write);
}

/**
 * The segment checks of a data access outside 64-bit mode for callers that form addresses
 * themselves (string instructions, BT with a register bit offset): usable, within the limit.
 */
export function checkLimit(c: Cpu, seg: number, offset: number, size: number, write = false): void {
  if (!isFlatData(c, seg)) checkSegmentAccess(c, seg, offset, size, write);
}

/** base + index*scale + displacement as a 64-bit sum into cpu.eaLo/eaHi (no segment, no truncation). */
export function addressSum(c: Cpu, i: Insn): void {
  let lo = i.dispLo, hi = i.dispHi;
  const r = c.r;
  if (i.base >= 0) {
    const s = (lo >>> 0) + (r[2 * i.base] >>> 0);
    lo = s | 0;
    hi = (hi + r[2 * i.base + 1] + (s > 0xffffffff ? 1 : 0)) | 0;
  }
  if (i.index >= 0) {
    let xlo = r[2 * i.index], xhi = r[2 * i.index + 1];
    const sc = i.scale;
    if (sc !== 0) {
      xhi = (xhi << sc) | (xlo >>> (32 - sc));
      xlo = xlo << sc;
    }
    const s = (lo >>> 0) + (xlo >>> 0);
    lo = s | 0;
    hi = (hi + xhi + (s > 0xffffffff ? 1 : 0)) | 0;
  }
  c.eaLo = lo;
  c.eaHi = hi;
}

/** Reads the r/m operand (register or memory) of size `size`. */
export function readRm(c: Cpu, i: Insn, size: number): number {
  if (i.rm >= 0) return readReg(c, i.rm, size);
  effectiveAddress(c, i);
  if (c.eaSeg >= 0) checkWholeAccess(c, size, false);
  if (size === 8) return c.read64(c.eaLo, c.eaHi);
  c.hi = 0;
  return c.read(c.eaLo, c.eaHi, size);
}

/** Writes the r/m operand; for memory, reuses the address computed by a preceding readRm. */
export function writeRmAgain(c: Cpu, i: Insn, size: number, lo: number, hi: number): void {
  if (i.rm >= 0) { writeReg(c, i.rm, size, lo, hi); return; }
  if (c.eaSeg >= 0) checkWholeAccess(c, size, true);
  if (size === 8) c.write64(c.eaLo, c.eaHi, lo, hi);
  else c.write(c.eaLo, c.eaHi, size, lo);
}

/** Writes the r/m operand, computing the address. */
export function writeRm(c: Cpu, i: Insn, size: number, lo: number, hi: number): void {
  if (i.rm >= 0) { writeReg(c, i.rm, size, lo, hi); return; }
  effectiveAddress(c, i);
  if (c.eaSeg >= 0) checkWholeAccess(c, size, true);
  if (size === 8) c.write64(c.eaLo, c.eaHi, lo, hi);
  else c.write(c.eaLo, c.eaHi, size, lo);
}

/** Reads `size` bytes at the last computed address plus `delta` (for far pointers, descriptors). */
export function readAt(c: Cpu, delta: number, size: number): number {
  const lo = (c.eaLo + delta) | 0;
  const hi = c.in64BitMode && (lo >>> 0) < (c.eaLo >>> 0) ? (c.eaHi + 1) | 0 : c.eaHi;
  if (size === 8) return c.read64(lo, hi);
  c.hi = 0;
  return c.read(lo, hi, size);
}

/** Masks a value to an operand size (sizes below 8: high word zero). */
export function truncate(lo: number, size: number): number {
  return size === 1 ? lo & 0xff : size === 2 ? lo & 0xffff : lo;
}
