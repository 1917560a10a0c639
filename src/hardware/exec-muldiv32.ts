// MUL, IMUL (one operand), DIV and IDIV with a 32-bit operand, on numbers instead of BigInt:
// EDX:EAX results and dividends are handled as 16-bit pieces so every intermediate value is
// an exact double (below 2^53). Results, #DE and flags are those of the generic mulDiv in
// exec-alu.ts (SDM Vol. 2: MUL, IMUL, DIV, IDIV; flags undefined there follow that handler).

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Flag } from './cpu-state';
import { setStatusFlags } from './flags';
import { Insn } from './insn';
import { readRm } from './operands';
import { szp } from './exec-shift';

const EAX = 0, EDX = 2;

/** Unsigned 32 x 32 -> 64-bit product of uint32 a and b: low word returned, high word in c.hi. */
function mulU32(c: Cpu, a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const ll = al * bl;
  const mid = al * bh + ah * bl + (ll >>> 16); // below 2^34: exact
  c.hi = (ah * bh + Math.floor(mid / 65536)) | 0;
  return ((mid % 65536) * 65536 + (ll & 0xffff)) | 0;
}

/** Negates the 64-bit value (lo, c.hi): the new low word returned, the high word in c.hi. */
function neg64(c: Cpu, lo: number): number {
  const nlo = (-lo) | 0;
  c.hi = (~c.hi + (nlo === 0 ? 1 : 0)) | 0;
  return nlo;
}

/** EDX:EAX = lo, c.hi (32-bit writes zero bits 63:32); CF = OF = `overflow`, SF/ZF/PF from the low half. */
function writeProduct(c: Cpu, lo: number, overflow: boolean): void {
  const r = c.r;
  r[2 * EAX] = lo; r[2 * EAX + 1] = 0;
  r[2 * EDX] = c.hi; r[2 * EDX + 1] = 0;
  setStatusFlags(c, szp(4, lo, 0) | (overflow ? Flag.CF | Flag.OF : 0));
}

function mul32(c: Cpu, i: Insn): void {
  const lo = mulU32(c, c.r[2 * EAX] >>> 0, readRm(c, i, 4) >>> 0);
  writeProduct(c, lo, c.hi !== 0);
}

function imul32(c: Cpu, i: Insn): void {
  const a = c.r[2 * EAX] | 0, b = readRm(c, i, 4) | 0;
  let lo = mulU32(c, Math.abs(a), Math.abs(b));
  if ((a < 0) !== (b < 0)) lo = neg64(c, lo);
  writeProduct(c, lo, c.hi !== lo >> 31);
}

/**
 * Unsigned (h * 2^32 + l) / d for uint32 h < d, l and d > 0: the quotient (below 2^32) is
 * returned, the remainder left in c.hi. Long division by 16-bit digits keeps every value an
 * exact double, and each digit's Math.floor exact (the digit is below 2^16).
 */
function divU64by32(c: Cpu, h: number, l: number, d: number): number {
  let t = h * 65536 + (l >>> 16); // below d * 2^16 <= 2^48
  const q1 = Math.floor(t / d);
  t = (t - q1 * d) * 65536 + (l & 0xffff);
  const q0 = Math.floor(t / d);
  c.hi = t - q0 * d;
  return q1 * 65536 + q0;
}

function div32(c: Cpu, i: Insn): void {
  const d = readRm(c, i, 4) >>> 0;
  const r = c.r;
  const h = r[2 * EDX] >>> 0, l = r[2 * EAX] >>> 0;
  if (d === 0) throw new CpuFault(Vector.DE, -1, 'divide by zero');
  if (h >= d) throw new CpuFault(Vector.DE, -1, 'quotient too large');
  const q = divU64by32(c, h, l, d);
  r[2 * EAX] = q | 0; r[2 * EAX + 1] = 0;
  r[2 * EDX] = c.hi | 0; r[2 * EDX + 1] = 0;
}

function idiv32(c: Cpu, i: Insn): void {
  const dv = readRm(c, i, 4) | 0;
  const r = c.r;
  if (dv === 0) throw new CpuFault(Vector.DE, -1, 'divide by zero');
  let l = r[2 * EAX] | 0;
  c.hi = r[2 * EDX] | 0;
  const negative = c.hi < 0;
  if (negative) l = neg64(c, l);
  const d = Math.abs(dv);
  const h = c.hi >>> 0;
  // |quotient| >= 2^32 already when the high word reaches the divisor
  if (h >= d) throw new CpuFault(Vector.DE, -1, 'quotient out of range');
  const q = divU64by32(c, h, l >>> 0, d);
  const rem = c.hi;
  const qNegative = negative !== (dv < 0);
  if (qNegative ? q > 0x80000000 : q > 0x7fffffff) throw new CpuFault(Vector.DE, -1, 'quotient out of range');
  // flags are left as they were, as the generic handler does
  r[2 * EAX] = qNegative ? -q | 0 : q | 0; r[2 * EAX + 1] = 0;
  r[2 * EDX] = negative ? -rem | 0 : rem | 0; r[2 * EDX + 1] = 0;
}

/** Group 3 /4../7 (MUL, IMUL, DIV, IDIV) by ModRM.reg - 4. */
export const MULDIV32 = [mul32, imul32, div32, idiv32] as const;
