// Conditional branches (Jcc), in two ways faster than the generic handler:
// - decided straight from a CMP/SUB flag record: after a - b the unsigned conditions are
//   comparisons of a and b (B: a < b, BE: a <= b) and so are the signed ones (L: SF != OF
//   exactly when a < b as signed numbers; LE: a <= b), SDM Vol. 1, B.1, so a branch after CMP
//   needs no flag computed; after anything else the generic test decides;
// - a taken branch sets `stopBlock`, so a decoded block may go on past a Jcc along its
//   fall-through path (decodeBlock does) and still end where the branch is taken.

import type { Cpu } from './cpu';
import { LazyOp, Lf } from './cpu-state';
import { getZF, testCondition } from './flags';
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
    c.stopBlock = true;
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
function jz(c: Cpu, i: Insn): void { branch(c, i, getZF(c)); }
function jnz(c: Cpu, i: Insn): void { branch(c, i, !getZF(c)); }
/** O, NO, S, NS, P, NP: the generic test. */
function jOther(c: Cpu, i: Insn): void { branch(c, i, testCondition(c, i.cc)); }
function jbe(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? less(c.lf, false) || zero(c.lf) : testCondition(c, 0x6)); }
function ja(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? !(less(c.lf, false) || zero(c.lf)) : testCondition(c, 0x7)); }
function jl(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? less(c.lf, true) : testCondition(c, 0xc)); }
function jge(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? !less(c.lf, true) : testCondition(c, 0xd)); }
function jle(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? less(c.lf, true) || zero(c.lf) : testCondition(c, 0xe)); }
function jg(c: Cpu, i: Insn): void { branch(c, i, sub(c) ? !(less(c.lf, true) || zero(c.lf)) : testCondition(c, 0xf)); }

/** The handler for each condition code. */
export const JCC_BY_CC: readonly Handler[] = [jOther, jOther, jb, jae, jz, jnz, jbe, ja, jOther, jOther, jOther, jOther, jl, jge, jle, jg];

/** Whether a handler is one of these: a branch that leaves its block only when taken. */
export function leavesBlockOnlyWhenTaken(h: Handler): boolean {
  return JCC_BY_CC.includes(h);
}
