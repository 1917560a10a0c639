// Conditional branches decided straight from a CMP/SUB flag record. After a - b the unsigned
// conditions are comparisons of a and b (B: a < b, BE: a <= b) and so are the signed ones
// (L: SF != OF exactly when a < b as signed numbers; LE: a <= b), SDM Vol. 1, B.1. So a
// branch after CMP needs no flag computed; after anything else the generic test decides.

import type { Cpu } from './cpu';
import { LazyOp, Lf } from './cpu-state';
import { testCondition } from './flags';
import { Handler, Insn } from './insn';
import { jumpTo } from './exec-control';

/** a < b for the recorded operands at the recorded size, signed or unsigned. */
function less(lf: Int32Array, signed: boolean): boolean {
  const a = lf[Lf.A_LO], b = lf[Lf.B_LO];
  const size = lf[Lf.SIZE];
  if (size === 8) {
    const ah = lf[Lf.A_HI], bh = lf[Lf.B_HI];
    if (ah !== bh) return signed ? ah < bh : (ah >>> 0) < (bh >>> 0);
    return (a >>> 0) < (b >>> 0);
  }
  // sizes 1, 2, 4: the operand is in the low bits; shift it to the top to compare
  const s = 32 - 8 * size;
  return signed ? (a << s) < (b << s) : (a << s) >>> 0 < (b << s) >>> 0;
}

function zero(lf: Int32Array): boolean {
  return (lf[Lf.RES_LO] | lf[Lf.RES_HI]) === 0;
}

function branch(c: Cpu, i: Insn, taken: boolean): void {
  if (taken) {
    jumpTo(c, i.immLo, i.immHi, i.size);
  } else {
    c.ip[0] = i.nextLo;
    c.ip[1] = i.nextHi;
  }
}

function sub(c: Cpu): boolean {
  return c.lf[Lf.OP] === LazyOp.SUB;
}

function jb(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? less(c.lf, false) : testCondition(c, 0x2)); }
function jae(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? !less(c.lf, false) : testCondition(c, 0x3)); }
function jz(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? zero(c.lf) : testCondition(c, 0x4)); }
function jbe(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? less(c.lf, false) || zero(c.lf) : testCondition(c, 0x6)); }
function ja(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? !(less(c.lf, false) || zero(c.lf)) : testCondition(c, 0x7)); }
function jl(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? less(c.lf, true) : testCondition(c, 0xc)); }
function jge(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? !less(c.lf, true) : testCondition(c, 0xd)); }
function jle(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? less(c.lf, true) || zero(c.lf) : testCondition(c, 0xe)); }
function jg(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? !(less(c.lf, true) || zero(c.lf)) : testCondition(c, 0xf)); }

/** By condition code: the fast handler, or undefined (O, NO, NE, S, NS, P, NP keep theirs). */
export const JCC_BY_CC: ReadonlyArray<Handler | undefined> = [
  undefined, undefined, jb, jae, jz, undefined, jbe, ja, undefined, undefined, undefined, undefined, jl, jge, jle, jg,
];
