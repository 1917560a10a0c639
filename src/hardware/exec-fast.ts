// Specialised handlers for the commonest instruction forms (32/64-bit register and simple
// memory operands, 64-bit stack ops), chosen once at decode time by `specialise` so the hot
// path skips the generic operand dispatch (size switch, register-or-memory test, op switch).
// Each computes exactly what the generic handler in exec-*.ts computes for the same
// instruction; the lazy-flag record is written only where flags.ts reads it back (ADD/SUB:
// result and both operands; LOGIC: the result; INC/DEC: the result and the old CF). Jcc
// forms live in jcc-fast.ts, 32-bit MUL/DIV in exec-muldiv32.ts, REP MOVS/STOS in string-bulk.ts.

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Flag, LazyOp, Lf } from './cpu-state';
import { getCF, setStatusFlags } from './flags';
import { Handler, Insn } from './insn';
import { AluOp, aluReg64, aluRegRm, aluRmImm, aluRmReg, imulRegRm, imulRegRmImm, incDec, mulDiv, testRmImm, testRmReg } from './exec-alu';
import { MULDIV32 } from './exec-muldiv32';
import { szp } from './exec-shift';
import { readRm } from './operands';
import { nonCanonicalStack } from './segment-checks';
import { movReg64Mem, movMemReg64, movRegRm, movRmImm, movRmReg, popReg, pushReg } from './exec-data';
import { callRel, jcc, jnz, ret } from './exec-control';
import { JCC_BY_CC } from './jcc-fast';
import { movs, stos } from './exec-string';
import { repMovsBulk, repStosBulk } from './string-bulk';
import { addressSum } from './operands';
import { Seg } from './cpu-state';

// ---- the operations on a destination register pair (index d = 2*reg) -------------------

function add64(c: Cpu, d: number, bLo: number, bHi: number): void {
  const r = c.r, lf = c.lf;
  const aLo = r[d], aHi = r[d + 1];
  const s = (aLo >>> 0) + (bLo >>> 0);
  const lo = s | 0, hi = (aHi + bHi + (s > 0xffffffff ? 1 : 0)) | 0;
  r[d] = lo; r[d + 1] = hi;
  lf[Lf.OP] = LazyOp.ADD; lf[Lf.SIZE] = 8; lf[Lf.RES_LO] = lo; lf[Lf.RES_HI] = hi;
  lf[Lf.A_LO] = aLo; lf[Lf.A_HI] = aHi; lf[Lf.B_LO] = bLo; lf[Lf.B_HI] = bHi;
}

/** Records a - b = (lo, hi) at `size` for the lazy flags. */
function subFlags(c: Cpu, size: number, lo: number, hi: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  const lf = c.lf;
  lf[Lf.OP] = LazyOp.SUB; lf[Lf.SIZE] = size; lf[Lf.RES_LO] = lo; lf[Lf.RES_HI] = hi;
  lf[Lf.A_LO] = aLo; lf[Lf.A_HI] = aHi; lf[Lf.B_LO] = bLo; lf[Lf.B_HI] = bHi;
}

/** SUB (write = true) and CMP (write = false). */
function sub64(c: Cpu, d: number, bLo: number, bHi: number, write: boolean): void {
  const r = c.r;
  const aLo = r[d], aHi = r[d + 1];
  const s = (aLo >>> 0) - (bLo >>> 0);
  const lo = s | 0, hi = (aHi - bHi - (s < 0 ? 1 : 0)) | 0;
  if (write) { r[d] = lo; r[d + 1] = hi; }
  subFlags(c, 8, lo, hi, aLo, aHi, bLo, bHi);
}

/** CMP of two values (a from memory): the flags only. */
function cmp64Values(c: Cpu, aLo: number, aHi: number, bLo: number, bHi: number): void {
  const s = (aLo >>> 0) - (bLo >>> 0);
  subFlags(c, 8, s | 0, (aHi - bHi - (s < 0 ? 1 : 0)) | 0, aLo, aHi, bLo, bHi);
}

/** The flags of a logic result (AND/OR/XOR/TEST): CF = OF = 0, the rest from the result. */
function logicFlags(c: Cpu, size: number, lo: number, hi: number): void {
  const lf = c.lf;
  lf[Lf.OP] = LazyOp.LOGIC; lf[Lf.SIZE] = size; lf[Lf.RES_LO] = lo; lf[Lf.RES_HI] = hi;
}

function logic64(c: Cpu, d: number, lo: number, hi: number): void {
  const r = c.r;
  r[d] = lo; r[d + 1] = hi;
  logicFlags(c, 8, lo, hi);
}

// 32-bit forms: the result zero-extends into bits 63:32 (SDM Vol. 1, 3.4.1.1); the record's
// high words are zero as the generic path leaves them.

function add32(c: Cpu, d: number, b: number): void {
  const r = c.r, lf = c.lf;
  const a = r[d], lo = (a + b) | 0;
  r[d] = lo; r[d + 1] = 0;
  lf[Lf.OP] = LazyOp.ADD; lf[Lf.SIZE] = 4; lf[Lf.RES_LO] = lo; lf[Lf.RES_HI] = 0;
  lf[Lf.A_LO] = a; lf[Lf.A_HI] = 0; lf[Lf.B_LO] = b; lf[Lf.B_HI] = 0;
}

function sub32(c: Cpu, d: number, b: number, write: boolean): void {
  const r = c.r;
  const a = r[d], lo = (a - b) | 0;
  if (write) { r[d] = lo; r[d + 1] = 0; }
  subFlags(c, 4, lo, 0, a, 0, b, 0);
}

function logic32(c: Cpu, d: number, lo: number): void {
  const r = c.r;
  r[d] = lo; r[d + 1] = 0;
  logicFlags(c, 4, lo, 0);
}

// ---- op r/m, reg with a register r/m (opcodes 01, 09, 21, 29, 31, 39) -----------------

function add64RmReg(c: Cpu, i: Insn): void { const s = 2 * i.reg; add64(c, 2 * i.rm, c.r[s], c.r[s + 1]); }
function sub64RmReg(c: Cpu, i: Insn): void { const s = 2 * i.reg; sub64(c, 2 * i.rm, c.r[s], c.r[s + 1], true); }
function cmp64RmReg(c: Cpu, i: Insn): void { const s = 2 * i.reg; sub64(c, 2 * i.rm, c.r[s], c.r[s + 1], false); }
function or64RmReg(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm, s = 2 * i.reg; logic64(c, d, r[d] | r[s], r[d + 1] | r[s + 1]); }
function and64RmReg(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm, s = 2 * i.reg; logic64(c, d, r[d] & r[s], r[d + 1] & r[s + 1]); }
function xor64RmReg(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm, s = 2 * i.reg; logic64(c, d, r[d] ^ r[s], r[d + 1] ^ r[s + 1]); }

function add32RmReg(c: Cpu, i: Insn): void { add32(c, 2 * i.rm, c.r[2 * i.reg]); }
function sub32RmReg(c: Cpu, i: Insn): void { sub32(c, 2 * i.rm, c.r[2 * i.reg], true); }
function cmp32RmReg(c: Cpu, i: Insn): void { sub32(c, 2 * i.rm, c.r[2 * i.reg], false); }
function or32RmReg(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; logic32(c, d, r[d] | r[2 * i.reg]); }
function and32RmReg(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; logic32(c, d, r[d] & r[2 * i.reg]); }
function xor32RmReg(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; logic32(c, d, r[d] ^ r[2 * i.reg]); }

// ---- op reg, r/m with a register r/m (opcodes 03, 0B, 23, 2B, 33, 3B) -----------------

function add64RegRm(c: Cpu, i: Insn): void { const s = 2 * i.rm; add64(c, 2 * i.reg, c.r[s], c.r[s + 1]); }
function sub64RegRm(c: Cpu, i: Insn): void { const s = 2 * i.rm; sub64(c, 2 * i.reg, c.r[s], c.r[s + 1], true); }
function cmp64RegRm(c: Cpu, i: Insn): void { const s = 2 * i.rm; sub64(c, 2 * i.reg, c.r[s], c.r[s + 1], false); }
function or64RegRm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.reg, s = 2 * i.rm; logic64(c, d, r[d] | r[s], r[d + 1] | r[s + 1]); }
function and64RegRm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.reg, s = 2 * i.rm; logic64(c, d, r[d] & r[s], r[d + 1] & r[s + 1]); }
function xor64RegRm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.reg, s = 2 * i.rm; logic64(c, d, r[d] ^ r[s], r[d + 1] ^ r[s + 1]); }

function add32RegRm(c: Cpu, i: Insn): void { add32(c, 2 * i.reg, c.r[2 * i.rm]); }
function sub32RegRm(c: Cpu, i: Insn): void { sub32(c, 2 * i.reg, c.r[2 * i.rm], true); }
function cmp32RegRm(c: Cpu, i: Insn): void { sub32(c, 2 * i.reg, c.r[2 * i.rm], false); }
function or32RegRm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.reg; logic32(c, d, r[d] | r[2 * i.rm]); }
function and32RegRm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.reg; logic32(c, d, r[d] & r[2 * i.rm]); }
function xor32RegRm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.reg; logic32(c, d, r[d] ^ r[2 * i.rm]); }

// ---- op reg, imm (83 /n, 81 /n, 05..3D accumulator forms); imm sign-extended by the decoder

function add64Imm(c: Cpu, i: Insn): void { add64(c, 2 * i.rm, i.immLo, i.immHi); }
function sub64Imm(c: Cpu, i: Insn): void { sub64(c, 2 * i.rm, i.immLo, i.immHi, true); }
function cmp64Imm(c: Cpu, i: Insn): void { sub64(c, 2 * i.rm, i.immLo, i.immHi, false); }
function or64Imm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; logic64(c, d, r[d] | i.immLo, r[d + 1] | i.immHi); }
function and64Imm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; logic64(c, d, r[d] & i.immLo, r[d + 1] & i.immHi); }
function xor64Imm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; logic64(c, d, r[d] ^ i.immLo, r[d + 1] ^ i.immHi); }

function add32Imm(c: Cpu, i: Insn): void { add32(c, 2 * i.rm, i.immLo); }
function sub32Imm(c: Cpu, i: Insn): void { sub32(c, 2 * i.rm, i.immLo, true); }
function cmp32Imm(c: Cpu, i: Insn): void { sub32(c, 2 * i.rm, i.immLo, false); }
function or32Imm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; logic32(c, d, r[d] | i.immLo); }
function and32Imm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; logic32(c, d, r[d] & i.immLo); }
function xor32Imm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; logic32(c, d, r[d] ^ i.immLo); }

/** Per AluOp: the handler, or undefined where the generic one stays (ADC/SBB read CF). */
type Table = ReadonlyArray<Handler | undefined>;
//                         ADD          OR          ADC        SBB        AND          SUB          XOR          CMP
const RM_REG_64: Table = [add64RmReg, or64RmReg, undefined, undefined, and64RmReg, sub64RmReg, xor64RmReg, cmp64RmReg];
const RM_REG_32: Table = [add32RmReg, or32RmReg, undefined, undefined, and32RmReg, sub32RmReg, xor32RmReg, cmp32RmReg];
const REG_RM_64: Table = [add64RegRm, or64RegRm, undefined, undefined, and64RegRm, sub64RegRm, xor64RegRm, cmp64RegRm];
const REG_RM_32: Table = [add32RegRm, or32RegRm, undefined, undefined, and32RegRm, sub32RegRm, xor32RegRm, cmp32RegRm];
const IMM_64: Table = [add64Imm, or64Imm, undefined, undefined, and64Imm, sub64Imm, xor64Imm, cmp64Imm];
const IMM_32: Table = [add32Imm, or32Imm, undefined, undefined, and32Imm, sub32Imm, xor32Imm, cmp32Imm];

// ---- TEST reg, reg / TEST reg, imm: flags only -------------------------------------------

function test64RmReg(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm, s = 2 * i.reg; logicFlags(c, 8, r[d] & r[s], r[d + 1] & r[s + 1]); }
function test32RmReg(c: Cpu, i: Insn): void { const r = c.r; logicFlags(c, 4, r[2 * i.rm] & r[2 * i.reg], 0); }
function test64Imm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; logicFlags(c, 8, r[d] & i.immLo, r[d + 1] & i.immHi); }
function test32Imm(c: Cpu, i: Insn): void { logicFlags(c, 4, c.r[2 * i.rm] & i.immLo, 0); }

// ---- INC/DEC reg: CF is kept, so the record holds the old CF in AUX ---------------------

function incDec64(c: Cpu, i: Insn, dec: boolean): void {
  const r = c.r, lf = c.lf, d = 2 * i.rm;
  const cf = getCF(c) ? 1 : 0;
  const aLo = r[d], aHi = r[d + 1];
  const lo = (aLo + (dec ? -1 : 1)) | 0;
  const hi = dec ? (lo === -1 ? (aHi - 1) | 0 : aHi) : (lo === 0 ? (aHi + 1) | 0 : aHi);
  r[d] = lo; r[d + 1] = hi;
  lf[Lf.OP] = dec ? LazyOp.DEC : LazyOp.INC; lf[Lf.SIZE] = 8; lf[Lf.RES_LO] = lo; lf[Lf.RES_HI] = hi;
  lf[Lf.A_LO] = aLo; lf[Lf.A_HI] = aHi; lf[Lf.B_LO] = 1; lf[Lf.B_HI] = 0; lf[Lf.AUX] = cf;
}

function incDec32(c: Cpu, i: Insn, dec: boolean): void {
  const r = c.r, lf = c.lf, d = 2 * i.rm;
  const cf = getCF(c) ? 1 : 0;
  const a = r[d];
  const lo = (a + (dec ? -1 : 1)) | 0;
  r[d] = lo; r[d + 1] = 0;
  lf[Lf.OP] = dec ? LazyOp.DEC : LazyOp.INC; lf[Lf.SIZE] = 4; lf[Lf.RES_LO] = lo; lf[Lf.RES_HI] = 0;
  lf[Lf.A_LO] = a; lf[Lf.A_HI] = 0; lf[Lf.B_LO] = 1; lf[Lf.B_HI] = 0; lf[Lf.AUX] = cf;
}

function inc64(c: Cpu, i: Insn): void { incDec64(c, i, false); }
function dec64(c: Cpu, i: Insn): void { incDec64(c, i, true); }
function inc32(c: Cpu, i: Insn): void { incDec32(c, i, false); }
function dec32(c: Cpu, i: Insn): void { incDec32(c, i, true); }

// ---- MOV between registers, MOV reg, imm, and MOV with a [base + disp] memory operand ------

function mov64RmReg(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm, s = 2 * i.reg; r[d] = r[s]; r[d + 1] = r[s + 1]; }
function mov32RmReg(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; r[d] = r[2 * i.reg]; r[d + 1] = 0; }
function mov64RegRm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.reg, s = 2 * i.rm; r[d] = r[s]; r[d + 1] = r[s + 1]; }
function mov32RegRm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.reg; r[d] = r[2 * i.rm]; r[d + 1] = 0; }
/** MOV reg, imm (B8+r, C7 /0): the decoder has sized and extended the immediate. */
function mov64Imm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; r[d] = i.immLo; r[d + 1] = i.immHi; }
function mov32Imm(c: Cpu, i: Insn): void { const r = c.r, d = 2 * i.rm; r[d] = i.immLo; r[d + 1] = 0; }

/** MOV r64, [base + disp] with 64-bit addressing and no FS/GS base: the address in two adds. */
function mov64RegBaseDisp(c: Cpu, i: Insn): void {
  const r = c.r, b = 2 * i.base;
  const s = (i.dispLo >>> 0) + (r[b] >>> 0);
  c.read64ToReg(s | 0, (i.dispHi + r[b + 1] + (s > 0xffffffff ? 1 : 0)) | 0, i.reg);
}

/** MOV [base + disp], r64 with 64-bit addressing and no FS/GS base. */
function mov64BaseDispReg(c: Cpu, i: Insn): void {
  const r = c.r, b = 2 * i.base;
  const s = (i.dispLo >>> 0) + (r[b] >>> 0);
  c.write64FromReg(s | 0, (i.dispHi + r[b + 1] + (s > 0xffffffff ? 1 : 0)) | 0, i.reg);
}

// MOV with any [base + index*scale + disp] operand, 64-bit addressing, no FS/GS base: the
// linear address is the sum alone (SDM Vol. 1, 3.7.5; segment bases are 0 in 64-bit mode).

function mov64RegMem(c: Cpu, i: Insn): void { addressSum(c, i); c.read64ToReg(c.eaLo, c.eaHi, i.reg); }
function mov64MemReg(c: Cpu, i: Insn): void { addressSum(c, i); c.write64FromReg(c.eaLo, c.eaHi, i.reg); }
function mov32RegMem(c: Cpu, i: Insn): void {
  addressSum(c, i);
  const v = c.read(c.eaLo, c.eaHi, 4);
  c.r[2 * i.reg] = v;
  c.r[2 * i.reg + 1] = 0;
}
function mov32MemReg(c: Cpu, i: Insn): void { addressSum(c, i); c.write(c.eaLo, c.eaHi, 4, c.r[2 * i.reg]); }

// ---- op reg, [mem] and CMP [mem], reg/imm with 64-bit addressing and no FS/GS base --------

function load64(c: Cpu, i: Insn): number { addressSum(c, i); return c.read64(c.eaLo, c.eaHi); }
function load32(c: Cpu, i: Insn): number { addressSum(c, i); return c.read(c.eaLo, c.eaHi, 4); }

function add64RegMem(c: Cpu, i: Insn): void { const lo = load64(c, i); add64(c, 2 * i.reg, lo, c.hi); }
function sub64RegMem(c: Cpu, i: Insn): void { const lo = load64(c, i); sub64(c, 2 * i.reg, lo, c.hi, true); }
function cmp64RegMem(c: Cpu, i: Insn): void { const lo = load64(c, i); sub64(c, 2 * i.reg, lo, c.hi, false); }
function or64RegMem(c: Cpu, i: Insn): void { const lo = load64(c, i), r = c.r, d = 2 * i.reg; logic64(c, d, r[d] | lo, r[d + 1] | c.hi); }
function and64RegMem(c: Cpu, i: Insn): void { const lo = load64(c, i), r = c.r, d = 2 * i.reg; logic64(c, d, r[d] & lo, r[d + 1] & c.hi); }
function xor64RegMem(c: Cpu, i: Insn): void { const lo = load64(c, i), r = c.r, d = 2 * i.reg; logic64(c, d, r[d] ^ lo, r[d + 1] ^ c.hi); }

function add32RegMem(c: Cpu, i: Insn): void { add32(c, 2 * i.reg, load32(c, i)); }
function sub32RegMem(c: Cpu, i: Insn): void { sub32(c, 2 * i.reg, load32(c, i), true); }
function cmp32RegMem(c: Cpu, i: Insn): void { sub32(c, 2 * i.reg, load32(c, i), false); }
function or32RegMem(c: Cpu, i: Insn): void { const v = load32(c, i), d = 2 * i.reg; logic32(c, d, c.r[d] | v); }
function and32RegMem(c: Cpu, i: Insn): void { const v = load32(c, i), d = 2 * i.reg; logic32(c, d, c.r[d] & v); }
function xor32RegMem(c: Cpu, i: Insn): void { const v = load32(c, i), d = 2 * i.reg; logic32(c, d, c.r[d] ^ v); }

//                           ADD          OR          ADC        SBB        AND          SUB          XOR          CMP
const REG_MEM_64: Table = [add64RegMem, or64RegMem, undefined, undefined, and64RegMem, sub64RegMem, xor64RegMem, cmp64RegMem];
const REG_MEM_32: Table = [add32RegMem, or32RegMem, undefined, undefined, and32RegMem, sub32RegMem, xor32RegMem, cmp32RegMem];

function cmp64MemReg(c: Cpu, i: Insn): void { const lo = load64(c, i), s = 2 * i.reg; cmp64Values(c, lo, c.hi, c.r[s], c.r[s + 1]); }
function cmp32MemReg(c: Cpu, i: Insn): void { const a = load32(c, i), b = c.r[2 * i.reg]; subFlags(c, 4, (a - b) | 0, 0, a, 0, b, 0); }
function cmp64MemImm(c: Cpu, i: Insn): void { const lo = load64(c, i); cmp64Values(c, lo, c.hi, i.immLo, i.immHi); }
function cmp32MemImm(c: Cpu, i: Insn): void { const a = load32(c, i), b = i.immLo; subFlags(c, 4, (a - b) | 0, 0, a, 0, b, 0); }

// ---- IMUL r32, r/m32 (, imm): without BigInt --------------------------------------------

/**
 * The signed product's low 32 bits into `reg`; CF = OF = 1 when the product does not fit in
 * 32 bits. The double product is exact below 2^53 in magnitude, and anything larger certainly
 * does not fit. SF, ZF and PF follow the low half and AF is clear, as the generic IMUL sets
 * them (undefined in the SDM).
 */
function imul32(c: Cpu, reg: number, a: number, b: number): void {
  const low = Math.imul(a, b);
  const p = a * b;
  const overflow = p !== low; // |p| >= 2^53 is never equal to an int32
  c.r[2 * reg] = low;
  c.r[2 * reg + 1] = 0;
  setStatusFlags(c, szp(4, low, 0) | (overflow ? Flag.CF | Flag.OF : 0));
}

function imul32RegRm(c: Cpu, i: Insn): void { const b = readRm(c, i, 4) | 0; imul32(c, i.reg, c.r[2 * i.reg], b); }
function imul32RegRmImm(c: Cpu, i: Insn): void { imul32(c, i.reg, readRm(c, i, 4) | 0, i.immLo); }

// ---- near CALL/RET and PUSH/POP reg with a 64-bit operand: only decoded in 64-bit mode, where
// the stack-address size is always 64 bits (SDM Vol. 1, 6.2.3), so RSP is used unmodified ----

const RSP = 2 * 4;

function checkCanonical(hi: number): void {
  if (((hi << 16) >> 16) !== hi) throw new CpuFault(Vector.GP, 0, 'non-canonical branch target');
}

/** CALL rel32: the target is checked before the push, so a #GP leaves RSP as it was. */
function callRel64(c: Cpu, i: Insn): void {
  checkCanonical(i.immHi);
  const r = c.r, lo = r[RSP], hi = r[RSP + 1];
  const nlo = (lo - 8) | 0, nhi = (nlo >>> 0) > (lo >>> 0) ? (hi - 1) | 0 : hi;
  if (((nhi << 16) >> 16) !== nhi) throw nonCanonicalStack();
  c.write64(nlo, nhi, i.nextLo, i.nextHi);
  r[RSP] = nlo; r[RSP + 1] = nhi;
  c.ip[0] = i.immLo; c.ip[1] = i.immHi;
}

/** RET and RET imm16. */
function ret64(c: Cpu, i: Insn): void {
  const r = c.r, lo = r[RSP], hi = r[RSP + 1];
  if (((hi << 16) >> 16) !== hi) throw nonCanonicalStack();
  const tLo = c.read64(lo, hi), tHi = c.hi;
  checkCanonical(tHi);
  const s = (lo >>> 0) + 8 + (i.immLo & 0xffff);
  r[RSP] = s | 0; r[RSP + 1] = s > 0xffffffff ? (hi + 1) | 0 : hi;
  c.ip[0] = tLo; c.ip[1] = tHi;
}

/** PUSH r64: the value is read first, so PUSH RSP stores the old RSP. */
function push64Reg(c: Cpu, i: Insn): void {
  const r = c.r, lo = r[RSP], hi = r[RSP + 1];
  const nlo = (lo - 8) | 0, nhi = (nlo >>> 0) > (lo >>> 0) ? (hi - 1) | 0 : hi;
  if (((nhi << 16) >> 16) !== nhi) throw nonCanonicalStack();
  c.write64(nlo, nhi, r[2 * i.reg], r[2 * i.reg + 1]);
  r[RSP] = nlo; r[RSP + 1] = nhi;
}

/** POP r64: RSP steps before the register is written, so POP RSP loads the popped value. */
function pop64Reg(c: Cpu, i: Insn): void {
  const r = c.r, lo = r[RSP], hi = r[RSP + 1];
  if (((hi << 16) >> 16) !== hi) throw nonCanonicalStack();
  const vLo = c.read64(lo, hi), vHi = c.hi;
  r[RSP] = (lo + 8) | 0; r[RSP + 1] = (lo >>> 0) > 0xfffffff7 ? (hi + 1) | 0 : hi;
  r[2 * i.reg] = vLo; r[2 * i.reg + 1] = vHi;
}

/**
 * Handlers that touch only registers and flags: they cannot write memory (so cannot hit a code
 * page) and never set `stopBlock`, so a compiled block need not test it after them.
 */
export const REGISTER_ONLY: ReadonlySet<Handler> = new Set<Handler>([
  ...[RM_REG_64, RM_REG_32, REG_RM_64, REG_RM_32, IMM_64, IMM_32].flatMap((t) => t.filter((h): h is Handler => h !== undefined)),
  inc64, dec64, inc32, dec32, mov64RmReg, mov32RmReg, mov64RegRm, mov32RegRm, mov64Imm, mov32Imm,
  test64RmReg, test32RmReg, test64Imm, test32Imm,
]);

/**
 * The specialised handler for a decoded instruction, or its own handler when none applies.
 * Only instructions without LOCK reach here with a generic handler (the decoder swaps a
 * LOCK-prefixed register form's handler for a #UD thrower first), so none is lost.
 */
export function specialise(i: Insn): Handler {
  const h = i.exec;
  const size = i.size;
  if (i.rm >= 0 && (size === 8 || size === 4)) {
    const wide = size === 8;
    let t: Table | undefined;
    if (h === aluReg64 || h === aluRmReg) t = wide ? RM_REG_64 : RM_REG_32;
    else if (h === aluRegRm) t = wide ? REG_RM_64 : REG_RM_32;
    else if (h === aluRmImm) t = wide ? IMM_64 : IMM_32;
    if (t !== undefined) return t[i.cc] ?? h;
    if (h === incDec) return i.cc === 0 ? (wide ? inc64 : inc32) : (wide ? dec64 : dec32);
    if (h === movRmReg) return wide ? mov64RmReg : mov32RmReg;
    if (h === movRegRm) return wide ? mov64RegRm : mov32RegRm;
    if (h === movRmImm) return wide ? mov64Imm : mov32Imm;
    if (h === testRmReg) return wide ? test64RmReg : test32RmReg;
    if (h === testRmImm) return wide ? test64Imm : test32Imm;
  }
  // the decoder picks movReg64Mem/movMemReg64 only for DS-relative 64-bit addressing (SS-relative
  // ones go through effectiveAddress, which raises #SS for a non-canonical stack address)
  if (h === movReg64Mem) return i.base >= 0 && i.index < 0 ? mov64RegBaseDisp : mov64RegMem;
  if (h === movMemReg64) return i.base >= 0 && i.index < 0 ? mov64BaseDispReg : mov64MemReg;
  if (i.rm < 0 && (size === 4 || size === 8) && i.asize === 8 && i.seg === Seg.DS && !i.lock) {
    const wide = size === 8;
    if (h === movRegRm && !wide) return mov32RegMem;
    if (h === movRmReg && !wide) return mov32MemReg;
    if (h === aluRegRm) return (wide ? REG_MEM_64 : REG_MEM_32)[i.cc] ?? h;
    if (h === aluRmReg && i.cc === AluOp.CMP) return wide ? cmp64MemReg : cmp32MemReg;
    if (h === aluRmImm && i.cc === AluOp.CMP) return wide ? cmp64MemImm : cmp32MemImm;
  }
  if (size === 8) {
    // a 64-bit operand size for these means 64-bit mode
    if (h === callRel) return callRel64;
    if (h === ret) return ret64;
    if (h === pushReg) return push64Reg;
    if (h === popReg) return pop64Reg;
  }
  if (h === jcc || h === jnz) return JCC_BY_CC[i.cc];
  if (size === 4 && h === imulRegRm) return imul32RegRm;
  if (size === 4 && h === imulRegRmImm) return imul32RegRmImm;
  if (size === 4 && h === mulDiv) return MULDIV32[i.cc - 4];
  if (i.rep !== 0 && i.asize === 8) {
    if (h === movs) return repMovsBulk;
    if (h === stos) return repStosBulk;
  }
  return h;
}
