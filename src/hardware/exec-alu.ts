// Integer arithmetic and logic: ADD/OR/ADC/SBB/AND/SUB/XOR/CMP, INC/DEC, NEG/NOT, TEST,
// MUL/IMUL/DIV/IDIV (SDM Vol. 2, instruction pages; flags per Appendix A of Vol. 1).

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Flag, LazyOp } from './cpu-state';
import { getCF, recordFlags, setStatusFlags } from './flags';
import { Insn } from './insn';
import { readReg, readRm, writeReg, writeRmAgain, truncate } from './operands';

/** ALU operation numbers as ModRM.reg encodes them in group 1 (SDM Vol. 2, Table A-6). */
export const enum AluOp { ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7 }

/** Computes `a op b` at `size`, records the flags, returns the low word (high in c.hi). */
export function alu(c: Cpu, op: number, size: number, aLo: number, aHi: number, bLo: number, bHi: number): number {
  let lo: number, hi = 0;
  switch (op) {
    case AluOp.ADD: case AluOp.ADC: {
      const cin = op === AluOp.ADC && getCF(c) ? 1 : 0;
      if (size === 8) {
        const s = (aLo >>> 0) + (bLo >>> 0) + cin;
        lo = s | 0;
        hi = (aHi + bHi + (s > 0xffffffff ? 1 : 0)) | 0;
      } else {
        lo = truncate((aLo + bLo + cin) | 0, size);
      }
      recordFlags(c, op === AluOp.ADD ? LazyOp.ADD : LazyOp.ADC, size, lo, hi, aLo, aHi, bLo, bHi);
      c.lf[8] = cin;
      break;
    }
    case AluOp.SUB: case AluOp.SBB: case AluOp.CMP: {
      const cin = op === AluOp.SBB && getCF(c) ? 1 : 0;
      if (size === 8) {
        const s = (aLo >>> 0) - (bLo >>> 0) - cin;
        lo = s | 0;
        hi = (aHi - bHi - (s < 0 ? 1 : 0)) | 0;
      } else {
        lo = truncate((aLo - bLo - cin) | 0, size);
      }
      recordFlags(c, op === AluOp.SBB ? LazyOp.SBB : LazyOp.SUB, size, lo, hi, aLo, aHi, bLo, bHi);
      c.lf[8] = cin;
      break;
    }
    case AluOp.OR: lo = aLo | bLo; hi = aHi | bHi; recordFlags(c, LazyOp.LOGIC, size, lo, hi, 0, 0, 0, 0); break;
    case AluOp.AND: lo = aLo & bLo; hi = aHi & bHi; recordFlags(c, LazyOp.LOGIC, size, lo, hi, 0, 0, 0, 0); break;
    default: lo = aLo ^ bLo; hi = aHi ^ bHi; recordFlags(c, LazyOp.LOGIC, size, lo, hi, 0, 0, 0, 0); break;
  }
  c.hi = hi;
  return lo;
}

/** op r/m, reg */
export function aluRmReg(c: Cpu, i: Insn): void {
  const size = i.size;
  const bLo = readReg(c, i.reg, size), bHi = c.hi;
  const aLo = readRm(c, i, size), aHi = c.hi;
  const lo = alu(c, i.cc, size, aLo, aHi, bLo, bHi);
  if (i.cc !== AluOp.CMP) writeRmAgain(c, i, size, lo, c.hi);
}

/** op reg, r/m */
export function aluRegRm(c: Cpu, i: Insn): void {
  const size = i.size;
  const bLo = readRm(c, i, size), bHi = c.hi;
  const aLo = readReg(c, i.reg, size), aHi = c.hi;
  const lo = alu(c, i.cc, size, aLo, aHi, bLo, bHi);
  if (i.cc !== AluOp.CMP) writeReg(c, i.reg, size, lo, c.hi);
}

/** op r/m, imm (immediate already sign-extended to the operand size by the decoder) */
export function aluRmImm(c: Cpu, i: Insn): void {
  const size = i.size;
  const aLo = readRm(c, i, size), aHi = c.hi;
  const lo = alu(c, i.cc, size, aLo, aHi, truncate(i.immLo, size), size === 8 ? i.immHi : 0);
  if (i.cc !== AluOp.CMP) writeRmAgain(c, i, size, lo, c.hi);
}

/** Fast path for the register-register form of a 64-bit ALU op (no memory operand). */
export function aluReg64(c: Cpu, i: Insn): void {
  const r = c.r, d = 2 * i.rm, s = 2 * i.reg;
  const lo = alu(c, i.cc, 8, r[d], r[d + 1], r[s], r[s + 1]);
  if (i.cc !== AluOp.CMP) { r[d] = lo; r[d + 1] = c.hi; }
}

/** TEST r/m, reg and TEST r/m, imm */
export function testRmReg(c: Cpu, i: Insn): void {
  const size = i.size;
  const bLo = readReg(c, i.reg, size), bHi = c.hi;
  const aLo = readRm(c, i, size), aHi = c.hi;
  recordFlags(c, LazyOp.LOGIC, size, aLo & bLo, aHi & bHi, 0, 0, 0, 0);
}

export function testRmImm(c: Cpu, i: Insn): void {
  const size = i.size;
  const aLo = readRm(c, i, size), aHi = c.hi;
  recordFlags(c, LazyOp.LOGIC, size, aLo & truncate(i.immLo, size), size === 8 ? aHi & i.immHi : 0, 0, 0, 0, 0);
}

/** INC/DEC r/m (CF unchanged) */
export function incDec(c: Cpu, i: Insn): void {
  const size = i.size;
  const cf = getCF(c) ? 1 : 0;
  const aLo = readRm(c, i, size), aHi = c.hi;
  const dec = i.cc === 1;
  let lo: number, hi = 0;
  if (size === 8) {
    lo = (aLo + (dec ? -1 : 1)) | 0;
    hi = dec ? (lo === -1 ? (aHi - 1) | 0 : aHi) : (lo === 0 ? (aHi + 1) | 0 : aHi);
  } else {
    lo = truncate((aLo + (dec ? -1 : 1)) | 0, size);
  }
  recordFlags(c, dec ? LazyOp.DEC : LazyOp.INC, size, lo, hi, aLo, aHi, 1, 0);
  c.lf[8] = cf;
  writeRmAgain(c, i, size, lo, hi);
}

/** NOT r/m (no flags) */
export function notRm(c: Cpu, i: Insn): void {
  const size = i.size;
  const aLo = readRm(c, i, size), aHi = c.hi;
  writeRmAgain(c, i, size, truncate(~aLo, size), size === 8 ? ~aHi : 0);
}

/** NEG r/m: 0 - x with SUB flags */
export function negRm(c: Cpu, i: Insn): void {
  const size = i.size;
  const aLo = readRm(c, i, size), aHi = c.hi;
  const lo = alu(c, AluOp.SUB, size, 0, 0, aLo, aHi);
  writeRmAgain(c, i, size, lo, c.hi);
}

// ---- multiply and divide --------------------------------------------------------------

const M64 = 0xffffffffffffffffn;

function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

function signedBig(lo: number, hi: number, size: number): bigint {
  const bits = BigInt(size * 8);
  const v = size === 8 ? toBig(lo, hi) : BigInt(lo >>> 0) & ((1n << bits) - 1n);
  return BigInt.asIntN(size * 8, v);
}

/** Sets CF=OF from `overflow`; SF/ZF/PF/AF follow this machine's behaviour for MUL (undefined per SDM). */
function setMulFlags(c: Cpu, overflow: boolean, resultLow: bigint, size: number): void {
  let f = overflow ? Flag.CF | Flag.OF : 0;
  const low = BigInt.asUintN(size * 8, resultLow);
  if (low === 0n) f |= Flag.ZF;
  if ((low >> BigInt(size * 8 - 1)) & 1n) f |= Flag.SF;
  let p = Number(low & 0xffn), bits = 0;
  while (p) { bits += p & 1; p >>= 1; }
  if ((bits & 1) === 0) f |= Flag.PF;
  setStatusFlags(c, f);
}

/** Writes a product/quotient pair into (E/R)AX-like registers by size. */
function writeAxDx(c: Cpu, size: number, low: bigint, high: bigint): void {
  if (size === 1) {
    const v = Number(BigInt.asUintN(16, (high << 8n) | BigInt.asUintN(8, low)));
    writeReg(c, 0, 2, v, 0);
    return;
  }
  const w = (v: bigint, reg: number) => {
    const u = BigInt.asUintN(size * 8, v);
    writeReg(c, reg, size, Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0);
  };
  w(low, 0);
  w(high, 2);
}

function readSized(c: Cpu, reg: number, size: number): bigint {
  const lo = readReg(c, reg, size);
  return toBig(lo, size === 8 ? c.hi : 0);
}

/** Group 3: MUL, IMUL (one operand), DIV, IDIV — by i.cc (4..7) */
export function mulDiv(c: Cpu, i: Insn): void {
  const size = i.size;
  const bits = BigInt(size * 8);
  const srcLo = readRm(c, i, size), srcHi = size === 8 ? c.hi : 0;
  const src = toBig(srcLo, srcHi);
  const a = size === 1 ? BigInt(readReg(c, 0, 1)) : readSized(c, 0, size);
  switch (i.cc) {
    case 4: { // MUL
      const p = a * src;
      const high = p >> bits;
      setMulFlags(c, high !== 0n, p, size);
      writeAxDx(c, size, p, high);
      return;
    }
    case 5: { // IMUL
      const p = BigInt.asIntN(size * 8, a) * signedBig(srcLo, srcHi, size);
      const low = BigInt.asIntN(size * 8, p);
      setMulFlags(c, low !== p, p, size);
      writeAxDx(c, size, p, p >> bits);
      return;
    }
    case 6: { // DIV
      const hiPart = size === 1 ? BigInt((readReg(c, 0, 2) >>> 8) & 0xff) : readSized(c, 2, size);
      const dividend = (hiPart << bits) | a;
      if (src === 0n) throw new CpuFault(Vector.DE, -1, 'divide by zero');
      const q = dividend / src;
      if (q >> bits !== 0n) throw new CpuFault(Vector.DE, -1, 'quotient too large');
      writeDivResult(c, size, q, dividend % src);
      return;
    }
    default: { // IDIV
      const hiPart = size === 1 ? BigInt((readReg(c, 0, 2) >>> 8) & 0xff) : readSized(c, 2, size);
      const dividend = BigInt.asIntN(size * 16, (hiPart << bits) | a);
      const divisor = signedBig(srcLo, srcHi, size);
      if (divisor === 0n) throw new CpuFault(Vector.DE, -1, 'divide by zero');
      const q = dividend / divisor;
      if (q !== BigInt.asIntN(size * 8, q)) throw new CpuFault(Vector.DE, -1, 'quotient out of range');
      writeDivResult(c, size, q, dividend % divisor);
    }
  }
}

function writeDivResult(c: Cpu, size: number, q: bigint, rem: bigint): void {
  // flags are undefined after DIV/IDIV; this machine leaves them as they were
  if (size === 1) {
    const v = Number(BigInt.asUintN(8, q)) | (Number(BigInt.asUintN(8, rem)) << 8);
    writeReg(c, 0, 2, v, 0);
    return;
  }
  writeAxDx(c, size, q, rem);
}

/** IMUL reg, r/m (0F AF) and IMUL reg, r/m, imm (69, 6B) */
export function imulReg(c: Cpu, i: Insn, useImm: boolean): void {
  const size = i.size;
  const lo = readRm(c, i, size), hi = size === 8 ? c.hi : 0;
  const a = signedBig(lo, hi, size);
  let b: bigint;
  if (useImm) {
    b = signedBig(truncate(i.immLo, size), size === 8 ? i.immHi : 0, size);
  } else {
    const rlo = readReg(c, i.reg, size);
    b = signedBig(rlo, size === 8 ? c.hi : 0, size);
  }
  const p = a * b;
  const low = BigInt.asIntN(size * 8, p);
  setMulFlags(c, low !== p, p, size);
  const u = BigInt.asUintN(size * 8, p);
  writeReg(c, i.reg, size, Number(u & 0xffffffffn) | 0, Number((u >> 32n) & M64) | 0);
}

export function imulRegRm(c: Cpu, i: Insn): void { imulReg(c, i, false); }
export function imulRegRmImm(c: Cpu, i: Insn): void { imulReg(c, i, true); }

