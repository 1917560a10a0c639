// Shifts, rotates and bit instructions: group 2 (ROL/ROR/RCL/RCR/SHL/SHR/SAL/SAR), SHLD/SHRD,
// BT/BTS/BTR/BTC, BSF/BSR, TZCNT/LZCNT/POPCNT (SDM Vol. 2; flags per Vol. 1 Appendix A).

import type { Cpu } from './cpu';
import { Flag } from './cpu-state';
import { getAF, getCF, getStatusFlags, setStatusFlags } from './flags';
import { Insn } from './insn';
import { checkLimit, effectiveAddress, readReg, readRm, writeReg, writeRmAgain } from './operands';

const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = 0;
  for (let v = i; v !== 0; v >>= 1) b += v & 1;
  PARITY[i] = (b & 1) === 0 ? 1 : 0;
}

/** SF, ZF and PF of a result at `size`. */
export function szp(size: number, lo: number, hi: number): number {
  let f = PARITY[lo & 0xff] ? Flag.PF : 0;
  const bits = size * 8;
  const zero = size === 8 ? (lo | hi) === 0 : (size === 4 ? lo : lo & ((1 << bits) - 1)) === 0;
  if (zero) f |= Flag.ZF;
  const sign = size === 8 ? hi >>> 31 : (lo >>> (bits - 1)) & 1;
  if (sign) f |= Flag.SF;
  return f;
}

function toBig(lo: number, hi: number, size: number): bigint {
  const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  return size === 8 ? v : v & ((1n << BigInt(size * 8)) - 1n);
}

function fromBig(c: Cpu, v: bigint, size: number): number {
  const u = BigInt.asUintN(size * 8, v);
  c.hi = size === 8 ? Number(u >> 32n) | 0 : 0;
  return Number(u & 0xffffffffn) | 0;
}

/** Shift/rotate count per SDM: masked to 5 bits, 6 with a 64-bit operand. */
function shiftCount(c: Cpu, i: Insn): number {
  const raw = i.imm2 === 1 ? c.r[2] & 0xff : i.immLo & 0xff;
  return raw & (i.size === 8 ? 0x3f : 0x1f);
}

/** Group 2: by i.cc — 0 ROL, 1 ROR, 2 RCL, 3 RCR, 4 SHL, 5 SHR, 6 SAL (= SHL), 7 SAR */
export function shiftGroup(c: Cpu, i: Insn): void {
  const size = i.size;
  const count = shiftCount(c, i);
  const aLo = readRm(c, i, size), aHi = size === 8 ? c.hi : 0;
  if (count === 0) {
    // no change to the operand or the flags; the memory operand is still accessed
    writeRmAgain(c, i, size, aLo, aHi);
    return;
  }
  const bits = size * 8;
  const a = toBig(aLo, aHi, size);
  const mask = (1n << BigInt(bits)) - 1n;
  const msb = (v: bigint) => Number((v >> BigInt(bits - 1)) & 1n);
  const old = getStatusFlags(c);
  let res: bigint;
  let cf: number, of: number;
  let flags: number;
  switch (i.cc) {
    case 0: { // ROL
      const n = count % bits;
      res = n === 0 ? a : ((a << BigInt(n)) | (a >> BigInt(bits - n))) & mask;
      cf = Number(res & 1n);
      of = msb(res) ^ cf;
      flags = (old & ~(Flag.CF | Flag.OF)) | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0);
      break;
    }
    case 1: { // ROR
      const n = count % bits;
      res = n === 0 ? a : ((a >> BigInt(n)) | (a << BigInt(bits - n))) & mask;
      cf = msb(res);
      of = msb(res) ^ Number((res >> BigInt(bits - 2)) & 1n);
      flags = (old & ~(Flag.CF | Flag.OF)) | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0);
      break;
    }
    case 2: { // RCL: rotate the (bits+1)-bit quantity CF:operand left
      const n = size <= 2 ? count % (bits + 1) : count;
      const wide = (BigInt(getCF(c) ? 1 : 0) << BigInt(bits)) | a;
      const w = bits + 1;
      const wm = (1n << BigInt(w)) - 1n;
      const r = n === 0 ? wide : ((wide << BigInt(n)) | (wide >> BigInt(w - n))) & wm;
      res = r & mask;
      cf = Number(r >> BigInt(bits));
      of = msb(res) ^ cf;
      flags = (old & ~(Flag.CF | Flag.OF)) | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0);
      break;
    }
    case 3: { // RCR
      const n = size <= 2 ? count % (bits + 1) : count;
      const cin = getCF(c) ? 1 : 0;
      of = msb(a) ^ cin;
      const wide = (BigInt(cin) << BigInt(bits)) | a;
      const w = bits + 1;
      const wm = (1n << BigInt(w)) - 1n;
      const r = n === 0 ? wide : ((wide >> BigInt(n)) | (wide << BigInt(w - n))) & wm;
      res = r & mask;
      cf = Number(r >> BigInt(bits));
      flags = (old & ~(Flag.CF | Flag.OF)) | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0);
      break;
    }
    case 4: case 6: { // SHL/SAL
      res = (a << BigInt(count)) & mask;
      cf = count <= bits ? Number((a >> BigInt(bits - count)) & 1n) : 0;
      of = msb(res) ^ cf;
      const lo = fromBig(c, res, size);
      flags = szp(size, lo, c.hi) | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0) | (old & Flag.AF);
      break;
    }
    case 5: { // SHR
      res = a >> BigInt(count);
      cf = Number((a >> BigInt(count - 1)) & 1n);
      of = msb(a);
      const lo = fromBig(c, res, size);
      flags = szp(size, lo, c.hi) | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0) | (old & Flag.AF);
      break;
    }
    default: { // SAR
      const s = BigInt.asIntN(bits, a);
      res = BigInt.asUintN(bits, s >> BigInt(count));
      cf = Number((s >> BigInt(count - 1)) & 1n);
      const lo = fromBig(c, res, size);
      flags = szp(size, lo, c.hi) | (cf ? Flag.CF : 0) | (old & Flag.AF);
      break;
    }
  }
  setStatusFlags(c, flags);
  const lo = fromBig(c, res, size);
  writeRmAgain(c, i, size, lo, c.hi);
}

/** SHL r64, 1 / imm without BigInt: the common compiled-code form. */
export function shl64RegImm(c: Cpu, i: Insn): void {
  const count = i.immLo & 0x3f;
  if (count === 0) return;
  const r = c.r, k = 2 * i.rm;
  const lo = r[k], hi = r[k + 1];
  let nlo: number, nhi: number, cf: number;
  if (count < 32) {
    nhi = (hi << count) | (lo >>> (32 - count));
    nlo = lo << count;
    cf = (hi >>> (32 - count)) & 1;
  } else {
    nhi = count === 32 ? lo : lo << (count - 32);
    nlo = 0;
    cf = count === 32 ? hi & 1 : (lo >>> (64 - count)) & 1;
  }
  r[k] = nlo;
  r[k + 1] = nhi;
  const of = (nhi >>> 31) ^ cf;
  const af = getAF(c) ? Flag.AF : 0; // AF stays as it was; reading it alone spares computing all six
  setStatusFlags(c, szp(8, nlo, nhi) | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0) | af);
}

/** SHLD/SHRD r/m, reg, imm8/CL — i.cc 0 = SHLD, 1 = SHRD */
export function shiftDouble(c: Cpu, i: Insn): void {
  const size = i.size;
  const bits = size * 8;
  const count = (i.imm2 === 1 ? c.r[2] : i.immLo) & (size === 8 ? 0x3f : 0x1f);
  const aLo = readRm(c, i, size), aHi = size === 8 ? c.hi : 0;
  if (count === 0) { writeRmAgain(c, i, size, aLo, aHi); return; }
  const sLo = readReg(c, i.reg, size), sHi = size === 8 ? c.hi : 0;
  const a = toBig(aLo, aHi, size), s = toBig(sLo, sHi, size);
  const mask = (1n << BigInt(bits)) - 1n;
  let res: bigint, cf: number;
  if (i.cc === 0) {
    // 16-bit counts above 16 are undefined; this follows the 32-bit concatenation
    const w = (a << BigInt(bits)) | s;
    const r = w << BigInt(count);
    res = (r >> BigInt(bits)) & mask;
    cf = Number((w >> BigInt(2 * bits - count)) & 1n);
  } else {
    const w = (s << BigInt(bits)) | a;
    res = (w >> BigInt(count)) & mask;
    cf = Number((w >> BigInt(count - 1)) & 1n);
  }
  const of = Number(((res ^ a) >> BigInt(bits - 1)) & 1n);
  const lo = fromBig(c, res, size);
  const hi = c.hi;
  setStatusFlags(c, szp(size, lo, hi) | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0) | (getStatusFlags(c) & Flag.AF));
  writeRmAgain(c, i, size, lo, hi);
}

/**
 * BT/BTS/BTR/BTC — i.cc 4..7 (BT, BTS, BTR, BTC). With a register bit offset and a memory
 * operand the offset is signed and selects any bit relative to the address (SDM Vol. 2A, BT).
 */
export function bitTest(c: Cpu, i: Insn, fromReg: boolean): void {
  const size = i.size;
  const bits = size * 8;
  let offLo: number, offHi: number;
  if (fromReg) { offLo = readReg(c, i.reg, size); offHi = size === 8 ? c.hi : 0; } else { offLo = i.immLo & 0xff; offHi = 0; }
  let lo: number, hi: number, bit: number;
  if (i.rm >= 0 || !fromReg) {
    bit = offLo & (bits - 1);
    lo = readRm(c, i, size);
    hi = size === 8 ? c.hi : 0;
  } else {
    effectiveAddress(c, i);
    const off = size === 8 ? (BigInt.asIntN(64, (BigInt(offHi >>> 0) << 32n) | BigInt(offLo >>> 0))) : BigInt.asIntN(bits, BigInt(offLo >>> 0));
    const byteOff = (off >> BigInt(Math.log2(bits))) * BigInt(size);
    const addr = BigInt.asUintN(64, ((BigInt(c.eaHi >>> 0) << 32n) | BigInt(c.eaLo >>> 0)) + byteOff);
    c.eaLo = Number(addr & 0xffffffffn) | 0;
    c.eaHi = c.in64BitMode ? Number(addr >> 32n) | 0 : 0;
    // the segment must hold the operand the bit offset lands in, not just the base address
    if (!c.in64BitMode) checkLimit(c, i.seg, (c.eaLo - c.segBase[2 * i.seg]) >>> 0, size);
    bit = Number(BigInt.asUintN(64, off) & BigInt(bits - 1));
    if (size === 8) { lo = c.read64(c.eaLo, c.eaHi); hi = c.hi; } else { lo = c.read(c.eaLo, c.eaHi, size); hi = 0; }
  }
  const word = bit >= 32 ? hi : lo;
  const m = 1 << (bit & 31);
  const cf = (word & m) !== 0;
  setStatusFlags(c, (getStatusFlags(c) & ~Flag.CF) | (cf ? Flag.CF : 0));
  if (i.cc === 4) return;
  let nw = word;
  if (i.cc === 5) nw = word | m;
  else if (i.cc === 6) nw = word & ~m;
  else nw = word ^ m;
  if (bit >= 32) hi = nw; else lo = nw;
  if (i.rm >= 0) writeReg(c, i.rm, size, lo, hi);
  else if (size === 8) c.write64(c.eaLo, c.eaHi, lo, hi);
  else c.write(c.eaLo, c.eaHi, size, lo);
}

export function btRmReg(c: Cpu, i: Insn): void { bitTest(c, i, true); }
export function btRmImm(c: Cpu, i: Insn): void { bitTest(c, i, false); }

/** BSF/BSR (i.cc 0/1) and TZCNT/LZCNT (i.cc 2/3) and POPCNT (i.cc 4) */
export function bitScan(c: Cpu, i: Insn): void {
  const size = i.size;
  const bits = size * 8;
  const lo = readRm(c, i, size), hi = size === 8 ? c.hi : 0;
  const v = toBig(lo, hi, size);
  const old = getStatusFlags(c);
  if (i.cc === 4) {
    let n = 0;
    for (let x = v; x !== 0n; x &= x - 1n) n++;
    setStatusFlags(c, n === 0 ? Flag.ZF : 0);
    writeReg(c, i.reg, size, n, 0);
    return;
  }
  if (i.cc <= 1) {
    if (v === 0n) {
      // destination unchanged (as this machine does); ZF set, other flags undefined
      setStatusFlags(c, (old & ~Flag.ZF) | Flag.ZF);
      return;
    }
    const idx = i.cc === 0 ? lowestSet(v) : v.toString(2).length - 1;
    setStatusFlags(c, old & ~Flag.ZF);
    writeReg(c, i.reg, size, idx, 0);
    return;
  }
  const n = v === 0n ? bits : i.cc === 2 ? lowestSet(v) : bits - v.toString(2).length;
  setStatusFlags(c, (old & ~(Flag.CF | Flag.ZF)) | (v === 0n ? Flag.CF : 0) | (n === 0 ? Flag.ZF : 0));
  writeReg(c, i.reg, size, n, 0);
}

function lowestSet(v: bigint): number {
  let n = 0;
  while (((v >> BigInt(n)) & 1n) === 0n) n++;
  return n;
}
