// Data movement: MOV and its extending forms, LEA, XCHG, CMOVcc, SETcc, CBW/CWD families,
// BSWAP, CMPXCHG, XADD, PUSH/POP, LAHF/SAHF, ENTER/LEAVE (SDM Vol. 2).

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Flag, LazyOp } from './cpu-state';
import { getStatusFlags, recordFlags, setStatusFlags, testCondition } from './flags';
import { alu, AluOp } from './exec-alu';
import { Insn } from './insn';
import { effectiveAddress, readReg, readRm, truncate, writeReg, writeRm, writeRmAgain } from './operands';
import { adjustSp, peek, pop, push, stackAddressSize } from './stack';

/** MOV r/m, reg */
export function movRmReg(c: Cpu, i: Insn): void {
  const lo = readReg(c, i.reg, i.size);
  writeRm(c, i, i.size, lo, c.hi);
}

/** MOV reg, r/m */
export function movRegRm(c: Cpu, i: Insn): void {
  const lo = readRm(c, i, i.size);
  writeReg(c, i.reg, i.size, lo, c.hi);
}

/** MOV r64, [mem] fast path (no segment base, 64-bit addressing). */
export function movReg64Mem(c: Cpu, i: Insn): void {
  effectiveAddress(c, i);
  const lo = c.read64(c.eaLo, c.eaHi);
  c.r[2 * i.reg] = lo;
  c.r[2 * i.reg + 1] = c.hi;
}

/** MOV [mem], r64 fast path. */
export function movMemReg64(c: Cpu, i: Insn): void {
  effectiveAddress(c, i);
  c.write64(c.eaLo, c.eaHi, c.r[2 * i.reg], c.r[2 * i.reg + 1]);
}

/** MOV r/m, imm and MOV reg, imm (decoder puts the register in rm) */
export function movRmImm(c: Cpu, i: Insn): void {
  writeRm(c, i, i.size, truncate(i.immLo, i.size), i.size === 8 ? i.immHi : 0);
}

/** LEA reg, m: the offset only, no segment base, at the operand size */
export function lea(c: Cpu, i: Insn): void {
  // effective address without segmentation: compute with a temporary segment of DS in 64-bit form
  const r = c.r;
  let lo = i.dispLo, hi = i.dispHi;
  if (i.base >= 0) {
    const s = (lo >>> 0) + (r[2 * i.base] >>> 0);
    lo = s | 0;
    hi = (hi + r[2 * i.base + 1] + (s > 0xffffffff ? 1 : 0)) | 0;
  }
  if (i.index >= 0) {
    let xlo = r[2 * i.index], xhi = r[2 * i.index + 1];
    if (i.scale !== 0) {
      xhi = (xhi << i.scale) | (xlo >>> (32 - i.scale));
      xlo = xlo << i.scale;
    }
    const s = (lo >>> 0) + (xlo >>> 0);
    lo = s | 0;
    hi = (hi + xhi + (s > 0xffffffff ? 1 : 0)) | 0;
  }
  if (i.asize === 2) { lo &= 0xffff; hi = 0; } else if (i.asize === 4) hi = 0;
  writeReg(c, i.reg, i.size, truncate(lo, i.size), hi);
}

/** MOVZX reg, r/m8/16 — source size in i.imm2 */
export function movzx(c: Cpu, i: Insn): void {
  const v = readRm(c, i, i.imm2);
  writeReg(c, i.reg, i.size, v, 0);
}

/** MOVSX reg, r/m8/16 and MOVSXD reg, r/m32 — source size in i.imm2 */
export function movsx(c: Cpu, i: Insn): void {
  const src = i.imm2;
  const v = readRm(c, i, src);
  const lo = src === 1 ? (v << 24) >> 24 : src === 2 ? (v << 16) >> 16 : v | 0;
  writeReg(c, i.reg, i.size, truncate(lo, i.size), lo < 0 ? -1 : 0);
}

/** XCHG r/m, reg */
export function xchg(c: Cpu, i: Insn): void {
  const size = i.size;
  const aLo = readRm(c, i, size), aHi = c.hi;
  const bLo = readReg(c, i.reg, size), bHi = c.hi;
  writeRmAgain(c, i, size, bLo, bHi);
  writeReg(c, i.reg, size, aLo, aHi);
}

/** CMOVcc reg, r/m: the source is read (and may fault) whatever the condition */
export function cmov(c: Cpu, i: Insn): void {
  const lo = readRm(c, i, i.size), hi = c.hi;
  if (testCondition(c, i.cc)) writeReg(c, i.reg, i.size, lo, hi);
  else if (i.size === 4) c.r[2 * i.reg + 1] = 0; // a 32-bit CMOV zero-extends even when false
}

/** SETcc r/m8 */
export function setcc(c: Cpu, i: Insn): void {
  writeRm(c, i, 1, testCondition(c, i.cc) ? 1 : 0, 0);
}

/** CBW/CWDE/CDQE: sign-extend the lower half of the accumulator */
export function cbw(c: Cpu, i: Insn): void {
  const r = c.r;
  if (i.size === 2) writeReg(c, 0, 2, ((r[0] << 24) >> 24) & 0xffff, 0);
  else if (i.size === 4) writeReg(c, 0, 4, (r[0] << 16) >> 16, 0);
  else r[1] = r[0] >> 31;
}

/** CWD/CDQ/CQO: fill DX/EDX/RDX with the accumulator's sign */
export function cwd(c: Cpu, i: Insn): void {
  const r = c.r;
  if (i.size === 2) writeReg(c, 2, 2, (r[0] << 16) >> 31, 0);
  else if (i.size === 4) writeReg(c, 2, 4, r[0] >> 31, 0);
  else { const s = r[1] >> 31; r[4] = s; r[5] = s; }
}

/** BSWAP reg (16-bit operand size is undefined; this machine zeroes the low word) */
export function bswap(c: Cpu, i: Insn): void {
  const r = c.r, k = 2 * i.reg;
  const sw = (v: number) => ((v >>> 24) | ((v >>> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24)) | 0;
  if (i.size === 8) { const lo = r[k]; r[k] = sw(r[k + 1]); r[k + 1] = sw(lo); } else if (i.size === 4) { r[k] = sw(r[k]); r[k + 1] = 0; } else { r[k] &= ~0xffff; }
}

/** CMPXCHG r/m, reg: compare with the accumulator; the destination is always written */
export function cmpxchg(c: Cpu, i: Insn): void {
  const size = i.size;
  const dLo = readRm(c, i, size), dHi = size === 8 ? c.hi : 0;
  const aLo = readReg(c, 0, size), aHi = size === 8 ? c.hi : 0;
  alu(c, AluOp.CMP, size, aLo, aHi, dLo, dHi);
  if (aLo === dLo && aHi === dHi) {
    const sLo = readReg(c, i.reg, size);
    writeRmAgain(c, i, size, sLo, c.hi);
  } else {
    // a memory destination is written back unchanged; a register destination is not written
    if (i.rm < 0) writeRmAgain(c, i, size, dLo, dHi);
    writeReg(c, 0, size, dLo, dHi);
  }
}

/** CMPXCHG8B/16B m64/m128 (0F C7 /1) */
export function cmpxchg8b(c: Cpu, i: Insn): void {
  if (i.rm >= 0) throw new CpuFault(Vector.UD, -1, 'CMPXCHG8B with a register operand');
  effectiveAddress(c, i, i.size === 8 ? 16 : 8);
  const r = c.r;
  const wide = i.size === 8;
  if (wide && (c.eaLo & 15) !== 0) throw new CpuFault(Vector.GP, 0, 'CMPXCHG16B operand not 16-byte aligned');
  const n = wide ? 8 : 4;
  const lo0 = wide ? c.read64(c.eaLo, c.eaHi) : c.read(c.eaLo, c.eaHi, 4);
  const lo1 = wide ? c.hi : 0;
  const a2 = (c.eaLo + n) | 0, a2h = (a2 >>> 0) < (c.eaLo >>> 0) ? (c.eaHi + 1) | 0 : c.eaHi;
  const hi0 = wide ? c.read64(a2, a2h) : c.read(a2, a2h, 4);
  const hi1 = wide ? c.hi : 0;
  const eq = wide
    ? lo0 === r[0] && lo1 === r[1] && hi0 === r[4] && hi1 === r[5]
    : (lo0 | 0) === r[0] && (hi0 | 0) === r[4];
  const f = getStatusFlags(c) & ~Flag.ZF;
  if (eq) {
    if (wide) { c.write64(c.eaLo, c.eaHi, r[6], r[7]); c.write64(a2, a2h, r[2], r[3]); } else { c.write(c.eaLo, c.eaHi, 4, r[6]); c.write(a2, a2h, 4, r[2]); }
    setStatusFlags(c, f | Flag.ZF);
  } else {
    // the destination is written back with its own value, as the processor does
    if (wide) {
      c.write64(c.eaLo, c.eaHi, lo0, lo1); c.write64(a2, a2h, hi0, hi1);
      r[0] = lo0; r[1] = lo1; r[4] = hi0; r[5] = hi1;
    } else {
      c.write(c.eaLo, c.eaHi, 4, lo0); c.write(a2, a2h, 4, hi0);
      r[0] = lo0; r[1] = 0; r[4] = hi0; r[5] = 0;
    }
    setStatusFlags(c, f);
  }
}

/** XADD r/m, reg */
export function xadd(c: Cpu, i: Insn): void {
  const size = i.size;
  const dLo = readRm(c, i, size), dHi = size === 8 ? c.hi : 0;
  const sLo = readReg(c, i.reg, size), sHi = size === 8 ? c.hi : 0;
  const lo = alu(c, AluOp.ADD, size, dLo, dHi, sLo, sHi);
  const hi = c.hi;
  writeReg(c, i.reg, size, dLo, dHi);
  writeRmAgain(c, i, size, lo, hi);
}

// ---- stack --------------------------------------------------------------------------

/** PUSH reg (register in i.reg) */
export function pushReg(c: Cpu, i: Insn): void {
  const lo = readReg(c, i.reg, i.size);
  push(c, i.size, lo, c.hi);
}

/** PUSH r/m */
export function pushRm(c: Cpu, i: Insn): void {
  const lo = readRm(c, i, i.size);
  push(c, i.size, lo, c.hi);
}

/** PUSH imm (sign-extended to the operand size) */
export function pushImm(c: Cpu, i: Insn): void {
  push(c, i.size, truncate(i.immLo, i.size), i.immHi);
}

/** POP reg */
export function popReg(c: Cpu, i: Insn): void {
  const lo = pop(c, i.size);
  writeReg(c, i.reg, i.size, lo, c.hi);
}

/** POP r/m: RSP is incremented before the destination address is computed (SDM, POP) */
export function popRm(c: Cpu, i: Insn): void {
  const lo = peek(c, i.size, 0), hi = c.hi;
  const savedLo = c.r[8], savedHi = c.r[9];
  adjustSp(c, i.size);
  try {
    writeRm(c, i, i.size, lo, hi);
  } catch (e) {
    c.r[8] = savedLo;
    c.r[9] = savedHi;
    throw e;
  }
}

/** LEAVE: RSP = RBP, then pop RBP */
export function leave(c: Cpu, i: Insn): void {
  const asz = stackAddressSize(c);
  const r = c.r;
  const savedLo = r[8], savedHi = r[9];
  if (asz === 8) { r[8] = r[10]; r[9] = r[11]; } else if (asz === 4) r[8] = r[10]; else r[8] = (r[8] & ~0xffff) | (r[10] & 0xffff);
  try {
    const lo = pop(c, i.size);
    writeReg(c, 5, i.size, lo, c.hi);
  } catch (e) {
    r[8] = savedLo;
    r[9] = savedHi;
    throw e;
  }
}

/** ENTER imm16, imm8 */
export function enter(c: Cpu, i: Insn): void {
  const size = i.size;
  const level = i.imm2 & 31;
  const r = c.r;
  const asz = stackAddressSize(c);
  const saved = r.slice(0, 32);
  try {
    push(c, size, readReg(c, 5, size), c.hi);
    const frameLo = r[8], frameHi = r[9];
    if (level > 0) {
      for (let k = 1; k < level; k++) {
        // copy the enclosing frame pointers from the old frame
        const bp = readReg(c, 5, asz === 8 ? 8 : asz);
        const bpHi = c.hi;
        const off = (bp - k * size) | 0;
        const offHi = asz === 8 && (off >>> 0) > (bp >>> 0) ? (bpHi - 1) | 0 : bpHi;
        const v = size === 8 ? c.read64(off, offHi) : c.read(asz === 8 ? off : (off + c.segBase[4]) | 0, asz === 8 ? offHi : 0, size);
        push(c, size, v, size === 8 ? c.hi : 0);
      }
      push(c, size, frameLo, frameHi);
    }
    writeReg(c, 5, asz === 8 ? 8 : asz, frameLo, frameHi);
    adjustSp(c, -(i.immLo & 0xffff));
    // touch the new top of stack as the processor does (may #SS/#PF)
    peek(c, 1, 0);
  } catch (e) {
    r.set(saved);
    throw e;
  }
}

// ---- flags --------------------------------------------------------------------------

/** LAHF: AH = SF:ZF:0:AF:0:PF:1:CF */
export function lahf(c: Cpu): void {
  writeReg(c, 16, 1, (getStatusFlags(c) & 0xd5) | 2, 0);
}

/** SAHF: SF, ZF, AF, PF, CF from AH */
export function sahf(c: Cpu): void {
  const ah = (c.r[0] >>> 8) & 0xd5;
  setStatusFlags(c, (getStatusFlags(c) & Flag.OF) | ah);
}

export function clc(c: Cpu): void { setStatusFlags(c, getStatusFlags(c) & ~Flag.CF); }
export function stc(c: Cpu): void { setStatusFlags(c, getStatusFlags(c) | Flag.CF); }
export function cmc(c: Cpu): void { setStatusFlags(c, getStatusFlags(c) ^ Flag.CF); }
export function cld(c: Cpu): void { c.flagsOther &= ~Flag.DF; }
export function std(c: Cpu): void { c.flagsOther |= Flag.DF; }

/** Records flags as a logic result (used by instructions that define only SF/ZF/PF). */
export function logicFlags(c: Cpu, size: number, lo: number, hi: number): void {
  recordFlags(c, LazyOp.LOGIC, size, lo, hi, 0, 0, 0, 0);
}

