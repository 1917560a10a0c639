// Operand access for instruction handlers: registers by size (with AH..BH), memory operands
// through the effective-address computation and segmentation (SDM Vol. 1, 3.7.5; Vol. 3A, 3.4).

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Seg } from './cpu-state';
import { Insn, HIGH_BYTE_BASE } from './insn';

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
 */
export function effectiveAddress(c: Cpu, i: Insn): void {
  addressSum(c, i);
  let lo = c.eaLo, hi = c.eaHi;
  const asize = i.asize;
  if (asize === 8) {
    if (i.seg >= Seg.FS) {
      const s = (lo >>> 0) + (c.segBase[2 * i.seg] >>> 0);
      lo = s | 0;
      hi = (hi + c.segBase[2 * i.seg + 1] + (s > 0xffffffff ? 1 : 0)) | 0;
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
  checkLimit(c, seg, lo >>> 0);
  c.eaLo = (lo + c.segBase[2 * seg]) | 0;
  c.eaHi = 0;
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

/** Segment limit check for the first byte (expand-up segments). */
function checkLimit(c: Cpu, seg: number, offset: number): void {
  if (offset > c.segLimit[seg] && (c.segAr[seg] & 0x1c) !== 0x14) {
    throw new CpuFault(seg === Seg.SS ? Vector.SS : Vector.GP, 0, 'segment limit');
  }
}

/** Reads the r/m operand (register or memory) of size `size`. */
export function readRm(c: Cpu, i: Insn, size: number): number {
  if (i.rm >= 0) return readReg(c, i.rm, size);
  effectiveAddress(c, i);
  if (size === 8) return c.read64(c.eaLo, c.eaHi);
  c.hi = 0;
  return c.read(c.eaLo, c.eaHi, size);
}

/** Writes the r/m operand; for memory, reuses the address computed by a preceding readRm. */
export function writeRmAgain(c: Cpu, i: Insn, size: number, lo: number, hi: number): void {
  if (i.rm >= 0) { writeReg(c, i.rm, size, lo, hi); return; }
  if (size === 8) c.write64(c.eaLo, c.eaHi, lo, hi);
  else c.write(c.eaLo, c.eaHi, size, lo);
}

/** Writes the r/m operand, computing the address. */
export function writeRm(c: Cpu, i: Insn, size: number, lo: number, hi: number): void {
  if (i.rm >= 0) { writeReg(c, i.rm, size, lo, hi); return; }
  effectiveAddress(c, i);
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
