// The instruction decoder (SDM Vol. 2, chapter 2 and Appendix A opcode maps): prefixes, REX,
// ModRM/SIB in 16-, 32- and 64-bit addressing, displacements and immediates, into an Insn that
// names its handler. The same decoder feeds the executor and the disassembler.

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Seg } from './cpu-state';
import { Handler, HIGH_BYTE_BASE, Insn } from './insn';
import * as A from './exec-alu';
import * as S from './exec-shift';
import * as D from './exec-data';
import * as C from './exec-control';
import * as T from './exec-string';
import * as Y from './exec-system';
import * as V from './exec-descriptor-check';
import * as B from './exec-bcd';
import * as BD from './exec-bound';
import { specialise } from './exec-fast';
import { leavesBlockOnlyWhenTaken } from './jcc-fast';

export type DecodeMode = 16 | 32 | 64;

/** Reads the instruction's bytes: byte(k) is the k-th byte from the instruction start. */
export interface ByteSource { byte(k: number): number }

/** Longest legal instruction (SDM Vol. 2A, 2.3.11). */
export const MAX_INSN_LENGTH = 15;
/** Longest run of instructions decoded into one cached block. */
const MAX_BLOCK = 64;

const ud: Handler = (_c, i) => { throw new CpuFault(Vector.UD, -1, `undefined opcode 0x${i.opcode.toString(16)}`); };

/** x87 and SSE/AVX are outside the emulated set: #NM when CR0.TS/EM says so, else #UD. */
const fpu: Handler = (c, i) => {
  if ((c.cr0 & 0xc) !== 0) throw new CpuFault(Vector.NM, -1, 'x87/SSE with CR0.EM or CR0.TS set');
  throw new CpuFault(Vector.UD, -1, `x87/SSE/AVX instruction 0x${i.opcode.toString(16)} is not emulated`);
};

class Decoder {
  k = 0;
  rex = 0;
  opsize = 4;
  asize = 8;
  seg = -1;
  rep = 0;
  lock = false;
  has66 = false;
  extra66 = 0;
  ignoredSeg = 0;
  constructor(readonly src: ByteSource, readonly mode: DecodeMode) {}

  next(): number {
    if (this.k >= MAX_INSN_LENGTH) throw new CpuFault(Vector.GP, 0, 'instruction longer than 15 bytes');
    return this.src.byte(this.k++);
  }

  imm8s(): number { return (this.next() << 24) >> 24; }
  imm16(): number { const a = this.next(); return a | (this.next() << 8); }
  imm32(): number { const a = this.imm16(); return (a | (this.imm16() << 16)) | 0; }
}

function byteReg(d: Decoder, n: number): number {
  return d.rex === 0 && n >= 4 && n < 8 ? HIGH_BYTE_BASE + n - 4 : n;
}

/** Decodes ModRM (and SIB, displacement) into the Insn's operand fields. */
function modrm(d: Decoder, i: Insn, byteOps: boolean): void {
  const m = d.next();
  const mod = m >> 6;
  const reg = ((m >> 3) & 7) | ((d.rex & 4) << 1);
  const rm = m & 7;
  i.reg = byteOps ? byteReg(d, reg) : reg;
  i.cc = (m >> 3) & 7;
  if (mod === 3) {
    const n = rm | ((d.rex & 1) << 3);
    i.rm = byteOps ? byteReg(d, n) : n;
    return;
  }
  i.rm = -1;
  // the disassembler shows an explicit zero displacement ([rbp+0x0]) as the bytes have it
  i.dispBytes = mod === 1 ? 1 : mod === 2 ? d.asize === 2 ? 2 : 4 : 0;
  let defSeg = Seg.DS;
  if (d.asize === 2) {
    const BASE = [3, 3, 5, 5, 6, 7, 5, 3];
    const INDEX = [6, 7, 6, 7, -1, -1, -1, -1];
    if (mod === 0 && rm === 6) {
      i.base = -1; i.index = -1; i.dispLo = d.imm16(); i.dispHi = 0;
    } else {
      i.base = BASE[rm]; i.index = INDEX[rm];
      if (rm === 2 || rm === 3 || rm === 6) defSeg = Seg.SS;
      i.dispLo = mod === 1 ? d.imm8s() & 0xffff : mod === 2 ? d.imm16() : 0;
      i.dispHi = 0;
    }
    i.scale = 0;
    i.seg = d.seg >= 0 ? d.seg : defSeg;
    return;
  }
  i.scale = 0;
  i.index = -1;
  let base: number;
  i.sib = rm === 4;
  if (rm === 4) {
    const sib = d.next();
    i.scale = sib >> 6;
    const idx = ((sib >> 3) & 7) | ((d.rex & 2) << 2);
    i.index = idx === 4 ? -1 : idx;
    const b = sib & 7;
    if (b === 5 && mod === 0) {
      base = -1;
      i.dispLo = d.imm32();
    } else {
      base = b | ((d.rex & 1) << 3);
      if (b === 4 || b === 5) defSeg = Seg.SS;
    }
  } else if (rm === 5 && mod === 0) {
    i.dispLo = d.imm32();
    if (d.mode === 64) {
      base = -1;
      i.ripRelative = true;
    } else {
      base = -1;
    }
  } else {
    base = rm | ((d.rex & 1) << 3);
    if (rm === 5) defSeg = Seg.SS;
  }
  i.base = base;
  if (mod === 1) i.dispLo = d.imm8s();
  else if (mod === 2) i.dispLo = d.imm32();
  else if (!(rm === 5 || (rm === 4 && i.base === -1))) i.dispLo = 0;
  i.dispHi = i.dispLo < 0 ? -1 : 0;
  if (d.asize === 4) i.dispHi = 0;
  i.seg = d.seg >= 0 ? d.seg : defSeg;
}

/** Operand size for 'v' operands; `default64` for stack and near-branch instructions in 64-bit mode. */
function vsize(d: Decoder, default64 = false): number {
  if (d.mode === 64) {
    if (d.rex & 8) return 8;
    if (default64) return d.has66 ? 2 : 8;
  }
  return d.opsize;
}

/** Sign-extended z-immediate (16 or 32 bits) into imm fields. */
function immZ(d: Decoder, i: Insn, size: number): void {
  if (size === 2) { i.immLo = (d.imm16() << 16) >> 16; } else { i.immLo = d.imm32(); }
  i.immHi = i.immLo < 0 ? -1 : 0;
}

function imm8(d: Decoder, i: Insn): void {
  i.immLo = d.imm8s();
  i.immHi = i.immLo < 0 ? -1 : 0;
}

/** Relative branch: target = next RIP + rel, computed once the length is known. */
function relTarget(i: Insn, rel: number, mode: DecodeMode): void {
  const s = (i.nextLo >>> 0) + rel;
  let lo = s | 0;
  let hi = i.nextHi;
  if (mode === 64 && i.size === 8) {
    if (s > 0xffffffff) hi = (hi + 1) | 0; else if (s < 0) hi = (hi - 1) | 0;
  } else {
    hi = 0;
    if (i.size === 2) lo &= 0xffff;
  }
  i.immLo = lo;
  i.immHi = hi;
}

const ALU_NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const SHIFT_NAMES = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];
const CC_NAMES = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

function set(i: Insn, mnemonic: string, form: string, exec: Handler): void {
  i.mnemonic = mnemonic;
  i.form = form;
  i.exec = exec;
}

/** Instructions whose LOCK prefix is legal (with a memory destination; SDM Vol. 2B, LOCK). */
const LOCKABLE = new Set(['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'inc', 'dec', 'neg', 'not', 'btc', 'btr', 'bts', 'cmpxchg', 'cmpxchg8b', 'cmpxchg16b', 'xadd', 'xchg']);

/** Decodes one instruction at RIP (ripLo, ripHi). Throws #UD/#GP/#PF for bad or unreadable bytes. */
export function decodeInsn(src: ByteSource, mode: DecodeMode, ripLo: number, ripHi: number): Insn {
  const d = new Decoder(src, mode);
  const i = new Insn(ud);
  i.ripLo = ripLo;
  i.ripHi = ripHi;
  d.opsize = mode === 16 ? 2 : 4;
  d.asize = mode === 64 ? 8 : mode === 32 ? 4 : 2;
  let b: number;
  for (;;) {
    b = d.next();
    if (b === 0x66) { if (d.has66) d.extra66++; d.has66 = true; d.opsize = mode === 16 ? 4 : 2; }
    else if (b === 0x67) d.asize = mode === 64 ? 4 : mode === 32 ? 2 : 4;
    else if (b === 0xf0) d.lock = true;
    else if (b === 0xf2 || b === 0xf3) d.rep = b;
    else if (b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e) { if (mode !== 64) d.seg = [Seg.ES, Seg.CS, Seg.SS, Seg.DS][(b >> 3) & 3]; else d.ignoredSeg = b; }
    else if (b === 0x64) d.seg = Seg.FS;
    else if (b === 0x65) d.seg = Seg.GS;
    else if (mode === 64 && (b & 0xf0) === 0x40) {
      d.rex = b;
      b = d.next();
      // a REX prefix counts only immediately before the opcode
      if (b === 0x66 || b === 0x67 || b === 0xf0 || b === 0xf2 || b === 0xf3 || (b & 0xf0) === 0x40 || b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e || b === 0x64 || b === 0x65) {
        d.rex = 0;
        d.k--;
        continue;
      }
      d.rex |= 0x100; // remember that a REX byte was present even if it is 0x40
      break;
    } else break;
  }
  i.asize = d.asize;
  i.rep = d.rep;
  i.lock = d.lock;
  i.segOverride = d.seg;
  i.extra66 = d.extra66;
  i.ignoredSeg = d.ignoredSeg;
  i.seg = d.seg >= 0 ? d.seg : Seg.DS;
  i.opcode = b;
  if (b === 0x0f) decodeTwoByte(d, i);
  else decodeOneByte(d, i, b);
  i.len = d.k;
  // next RIP
  const s = (ripLo >>> 0) + d.k;
  if (mode === 64) {
    i.nextLo = s | 0;
    i.nextHi = s > 0xffffffff ? (ripHi + 1) | 0 : ripHi;
  } else {
    i.nextLo = mode === 16 ? s & 0xffff : s | 0;
    i.nextHi = 0;
  }
  if (i.ripRelative) {
    // RIP-relative: fold next RIP + sign-extended displacement into an absolute address once
    const u = BigInt.asUintN(64, ((BigInt(i.nextHi >>> 0) << 32n) | BigInt(i.nextLo >>> 0)) + BigInt(i.dispLo));
    i.dispLo = Number(u & 0xffffffffn) | 0;
    i.dispHi = i.asize === 4 ? 0 : Number(u >> 32n) | 0;
  }
  if (i.relative !== undefined) {
    relTarget(i, i.relative, mode);
  }
  if (d.lock && (!LOCKABLE.has(i.mnemonic) || i.rm >= 0)) {
    i.exec = (_c, x) => { throw new CpuFault(Vector.UD, -1, `LOCK prefix not allowed on ${x.mnemonic}`); };
  }
  i.exec = specialise(i);
  return i;
}

function decodeOneByte(d: Decoder, i: Insn, b: number): void {
  const mode = d.mode;
  const inval64 = mode === 64;
  if (b < 0x40 && (b & 7) < 6) {
    // ALU: op Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev / AL,Ib / rAX,Iz
    const op = b >> 3;
    const form = b & 7;
    const name = ALU_NAMES[op];
    if (form < 4) {
      const byteOps = (form & 1) === 0;
      i.size = byteOps ? 1 : vsize(d);
      modrm(d, i, byteOps);
      i.cc = op;
      if (form < 2) {
        set(i, name, byteOps ? 'Eb,Gb' : 'Ev,Gv', i.rm >= 0 && i.size === 8 ? A.aluReg64 : A.aluRmReg);
      } else {
        set(i, name, byteOps ? 'Gb,Eb' : 'Gv,Ev', A.aluRegRm);
      }
    } else {
      i.size = form === 4 ? 1 : vsize(d);
      i.rm = 0;
      i.cc = op;
      if (form === 4) imm8(d, i); else immZ(d, i, i.size);
      set(i, name, form === 4 ? 'AL,Ib' : 'rAX,Iz', A.aluRmImm);
    }
    return;
  }
  switch (b) {
    case 0x06: case 0x0e: case 0x16: case 0x1e:
      if (inval64) return;
      i.size = d.opsize; i.reg = (b >> 3) & 3;
      set(i, 'push', 'S', Y.pushSeg);
      return;
    case 0x07: case 0x17: case 0x1f:
      if (inval64) return;
      i.size = d.opsize; i.reg = (b >> 3) & 3;
      set(i, 'pop', 'S', Y.popSeg);
      i.endsBlock = true;
      return;
    case 0x27: case 0x2f: case 0x37: case 0x3f:
      if (inval64) return;
      set(i, ['daa', 'das', 'aaa', 'aas'][(b >> 3) & 3], '', [B.daa, B.das, B.aaa, B.aas][(b >> 3) & 3]);
      return;
  }
  if (b >= 0x40 && b <= 0x4f) {
    // INC/DEC r (not in 64-bit mode, where these are REX)
    i.size = d.opsize;
    i.rm = b & 7;
    i.cc = (b >> 3) & 1;
    set(i, i.cc ? 'dec' : 'inc', 'Zv', A.incDec);
    return;
  }
  if (b >= 0x50 && b <= 0x57) {
    i.size = vsize(d, true);
    i.reg = (b & 7) | ((d.rex & 1) << 3);
    set(i, 'push', 'Zv', D.pushReg);
    return;
  }
  if (b >= 0x58 && b <= 0x5f) {
    i.size = vsize(d, true);
    i.reg = (b & 7) | ((d.rex & 1) << 3);
    set(i, 'pop', 'Zv', D.popReg);
    return;
  }
  if (b >= 0x70 && b <= 0x7f) {
    i.size = vsize(d, true);
    i.cc = b & 0xf;
    i.relative = d.imm8s();
    set(i, 'j' + CC_NAMES[i.cc], 'J', i.cc === 5 ? C.jnz : C.jcc);
    i.endsBlock = true;
    return;
  }
  if (b >= 0x91 && b <= 0x97) {
    i.size = vsize(d);
    i.reg = (b & 7) | ((d.rex & 1) << 3);
    i.rm = 0;
    set(i, 'xchg', 'Zv,rAX', D.xchg);
    return;
  }
  if (b >= 0xb0 && b <= 0xb7) {
    i.size = 1;
    i.rm = byteReg(d, (b & 7) | ((d.rex & 1) << 3));
    imm8(d, i);
    set(i, 'mov', 'Zb,Ib', D.movRmImm);
    return;
  }
  if (b >= 0xb8 && b <= 0xbf) {
    i.size = vsize(d);
    i.rm = (b & 7) | ((d.rex & 1) << 3);
    if (i.size === 8) { i.immLo = d.imm32(); i.immHi = d.imm32(); } else immZ(d, i, i.size);
    set(i, 'mov', 'Zv,Iv', D.movRmImm);
    return;
  }
  if (b >= 0xd8 && b <= 0xdf) {
    modrm(d, i, false);
    set(i, '(x87)', '', fpu);
    return;
  }
  switch (b) {
    case 0x60: case 0x61:
      if (inval64) return;
      i.size = d.opsize;
      set(i, b === 0x60 ? 'pusha' : 'popa', '', b === 0x60 ? Y.pusha : Y.popa);
      return;
    case 0x62:
      // 64-bit mode: the EVEX (AVX-512) prefix — P0 holds the opcode map, two more payload
      // bytes follow — decoded for its length only; elsewhere BOUND, whose register form is EVEX too
      if (mode === 64) { const map = d.next() & 3; d.next(); d.next(); skipSseOperands(d, i, map, d.next()); set(i, '(evex)', '', fpu); return; }
      i.size = d.opsize;
      modrm(d, i, false);
      if (i.rm >= 0) { set(i, '(evex)', '', fpu); return; }
      set(i, 'bound', 'Gv,Ma', BD.bound);
      return;
    case 0x63:
      if (mode === 64) {
        i.size = vsize(d);
        modrm(d, i, false);
        i.imm2 = 4;
        set(i, 'movsxd', 'Gv,Ed', i.size === 8 ? D.movsx : D.movRegRm);
        if (i.size !== 8) i.size = i.size === 2 ? 2 : 4;
        if (i.size !== 8) { i.imm2 = i.size; }
        return;
      }
      i.size = 2;
      modrm(d, i, false);
      set(i, 'arpl', 'Ew,Gw', Y.arpl);
      return;
    case 0x68:
      i.size = vsize(d, true);
      immZ(d, i, i.size === 2 ? 2 : 4);
      set(i, 'push', 'Iz', D.pushImm);
      return;
    case 0x6a:
      i.size = vsize(d, true);
      imm8(d, i);
      set(i, 'push', 'Ib', D.pushImm);
      return;
    case 0x69: case 0x6b:
      i.size = vsize(d);
      modrm(d, i, false);
      if (b === 0x69) immZ(d, i, i.size); else imm8(d, i);
      set(i, 'imul', b === 0x69 ? 'Gv,Ev,Iz' : 'Gv,Ev,Ib', A.imulRegRmImm);
      return;
    case 0x6c: case 0x6d: case 0x6e: case 0x6f:
      i.size = b & 1 ? (d.opsize === 8 ? 4 : d.opsize) : 1;
      if (b & 1 && d.opsize === 2) i.size = 2; else if (b & 1) i.size = 4;
      set(i, b < 0x6e ? 'ins' : 'outs', b < 0x6e ? 'Y,DX' : 'DX,X', b < 0x6e ? T.ins : T.outs);
      i.endsBlock = i.rep !== 0;
      return;
    case 0x80: case 0x81: case 0x82: case 0x83:
      if (b === 0x82 && inval64) return;
      i.size = b === 0x81 || b === 0x83 ? vsize(d) : 1;
      modrm(d, i, i.size === 1);
      if (b === 0x81) immZ(d, i, i.size); else imm8(d, i);
      set(i, ALU_NAMES[i.cc], b === 0x81 ? 'Ev,Iz' : b === 0x83 ? 'Ev,Ib' : 'Eb,Ib', A.aluRmImm);
      return;
    case 0x84: case 0x85:
      i.size = b === 0x84 ? 1 : vsize(d);
      modrm(d, i, b === 0x84);
      set(i, 'test', b === 0x84 ? 'Eb,Gb' : 'Ev,Gv', A.testRmReg);
      return;
    case 0x86: case 0x87:
      i.size = b === 0x86 ? 1 : vsize(d);
      modrm(d, i, b === 0x86);
      set(i, 'xchg', b === 0x86 ? 'Eb,Gb' : 'Ev,Gv', D.xchg);
      return;
    case 0x88: case 0x89:
      i.size = b === 0x88 ? 1 : vsize(d);
      modrm(d, i, b === 0x88);
      set(i, 'mov', b === 0x88 ? 'Eb,Gb' : 'Ev,Gv', i.size === 8 && i.rm < 0 && i.seg === Seg.DS && d.asize === 8 ? D.movMemReg64 : D.movRmReg);
      return;
    case 0x8a: case 0x8b:
      i.size = b === 0x8a ? 1 : vsize(d);
      modrm(d, i, b === 0x8a);
      set(i, 'mov', b === 0x8a ? 'Gb,Eb' : 'Gv,Ev', i.size === 8 && i.rm < 0 && i.seg === Seg.DS && d.asize === 8 ? D.movReg64Mem : D.movRegRm);
      return;
    case 0x8c:
      i.size = vsize(d);
      modrm(d, i, false);
      if (i.rm < 0) i.size = 2;
      if (i.cc > 5) return;
      set(i, 'mov', 'Ewv,Sw', Y.movFromSeg);
      return;
    case 0x8d:
      i.size = vsize(d);
      modrm(d, i, false);
      if (i.rm >= 0) return;
      set(i, 'lea', 'Gv,M', D.lea);
      return;
    case 0x8e:
      i.size = vsize(d); // the selector is a word; a register source is named at operand size
      modrm(d, i, false);
      if (i.cc > 5 || i.cc === Seg.CS) return;
      set(i, 'mov', 'Sw,Ewv', Y.movToSeg);
      i.endsBlock = true;
      return;
    case 0x8f:
      i.size = vsize(d, true);
      modrm(d, i, false);
      if (i.cc !== 0) return;
      set(i, 'pop', 'Ev', D.popRm);
      return;
    case 0x90:
      if (d.rex & 1) {
        i.size = vsize(d); i.reg = 8; i.rm = 0;
        set(i, 'xchg', 'Zv,rAX', D.xchg);
        return;
      }
      set(i, d.rep === 0xf3 ? 'pause' : 'nop', '', d.rep === 0xf3 ? Y.pause : Y.nop);
      return;
    case 0x98:
      i.size = vsize(d);
      set(i, i.size === 2 ? 'cbw' : i.size === 4 ? 'cwde' : 'cdqe', '', D.cbw);
      return;
    case 0x99:
      i.size = vsize(d);
      set(i, i.size === 2 ? 'cwd' : i.size === 4 ? 'cdq' : 'cqo', '', D.cwd);
      return;
    case 0x9a:
      if (inval64) return;
      i.size = d.opsize;
      i.immLo = d.opsize === 2 ? d.imm16() : d.imm32();
      i.imm2 = d.imm16();
      set(i, 'call', 'Ap', C.callFar);
      i.endsBlock = true;
      return;
    case 0x9b:
      set(i, 'fwait', '', Y.fwait);
      return;
    case 0x9c:
      i.size = vsize(d, true);
      set(i, i.size === 2 ? 'pushf' : i.size === 4 ? 'pushfd' : 'pushfq', '', C.pushf);
      return;
    case 0x9d:
      i.size = vsize(d, true);
      set(i, i.size === 2 ? 'popf' : i.size === 4 ? 'popfd' : 'popfq', '', C.popf);
      return;
    case 0x9e:
      set(i, 'sahf', '', D.sahf);
      return;
    case 0x9f:
      set(i, 'lahf', '', D.lahf);
      return;
    case 0xa0: case 0xa1: case 0xa2: case 0xa3: {
      // MOV AL/rAX <-> moffs: the offset is address-size wide
      i.size = b & 1 ? vsize(d) : 1;
      i.rm = -1;
      i.base = -1;
      i.index = -1;
      if (d.asize === 8) { i.dispLo = d.imm32(); i.dispHi = d.imm32(); } else if (d.asize === 4) { i.dispLo = d.imm32(); i.dispHi = 0; } else { i.dispLo = d.imm16(); i.dispHi = 0; }
      i.reg = 0;
      set(i, 'mov', b < 0xa2 ? 'rAX,O' : 'O,rAX', b < 0xa2 ? D.movRegRm : D.movRmReg);
      return;
    }
    case 0xa4: case 0xa5: case 0xa6: case 0xa7: case 0xaa: case 0xab: case 0xac: case 0xad: case 0xae: case 0xaf: {
      i.size = b & 1 ? vsize(d) : 1;
      const kind = (b - 0xa4) >> 1; // a4 movs, a6 cmps, (a8 test), aa stos, ac lods, ae scas
      set(i, ['movs', 'cmps', '', 'stos', 'lods', 'scas'][kind], 'string', [T.movs, T.cmps, ud, T.stos, T.lods, T.scas][kind]);
      i.endsBlock = i.rep !== 0;
      return;
    }
    case 0xa8: case 0xa9:
      i.size = b === 0xa8 ? 1 : vsize(d);
      i.rm = 0;
      if (b === 0xa8) imm8(d, i); else immZ(d, i, i.size);
      set(i, 'test', b === 0xa8 ? 'AL,Ib' : 'rAX,Iz', A.testRmImm);
      return;
    case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3:
      i.size = b & 1 ? vsize(d) : 1;
      modrm(d, i, (b & 1) === 0);
      if (b <= 0xc1) { i.immLo = d.next(); i.imm2 = 0; } else if (b <= 0xd1) { i.immLo = 1; i.imm2 = 0; } else i.imm2 = 1;
      set(i, SHIFT_NAMES[i.cc], b <= 0xc1 ? 'Ev,Ib' : b <= 0xd1 ? 'Ev,1' : 'Ev,CL',
        i.cc === 4 && i.size === 8 && i.rm >= 0 && i.imm2 === 0 ? S.shl64RegImm : S.shiftGroup);
      return;
    case 0xc2: case 0xc3:
      i.size = vsize(d, true);
      i.immLo = b === 0xc2 ? d.imm16() : 0;
      set(i, 'ret', b === 0xc2 ? 'Iw' : '', C.ret);
      i.endsBlock = true;
      return;
    case 0xc4: case 0xc5:
      if (mode === 64) { skipVex(d, i, b); set(i, '(vex)', '', fpu); return; }
      i.size = d.opsize;
      modrm(d, i, false);
      if (i.rm >= 0) { set(i, '(vex)', '', fpu); return; }
      i.cc = b === 0xc4 ? Seg.ES : Seg.DS;
      set(i, b === 0xc4 ? 'les' : 'lds', 'Gv,Mp', Y.loadFarPointer);
      return;
    case 0xc6: case 0xc7:
      i.size = b === 0xc6 ? 1 : vsize(d);
      modrm(d, i, b === 0xc6);
      if (i.cc !== 0) return;
      if (b === 0xc6) imm8(d, i); else immZ(d, i, i.size);
      set(i, 'mov', b === 0xc6 ? 'Eb,Ib' : 'Ev,Iz', D.movRmImm);
      return;
    case 0xc8:
      i.size = vsize(d, true);
      i.immLo = d.imm16();
      i.imm2 = d.next();
      set(i, 'enter', 'Iw,Ib', D.enter);
      return;
    case 0xc9:
      i.size = vsize(d, true);
      set(i, 'leave', '', D.leave);
      return;
    case 0xca: case 0xcb:
      i.size = d.mode === 64 && (d.rex & 8) ? 8 : d.opsize;
      i.immLo = b === 0xca ? d.imm16() : 0;
      set(i, 'retf', b === 0xca ? 'Iw' : '', C.retFar);
      i.endsBlock = true;
      return;
    case 0xcc:
      i.immLo = 3;
      set(i, 'int3', '', C.softInt);
      i.endsBlock = true;
      return;
    case 0xcd:
      i.immLo = d.next();
      set(i, 'int', 'Ib', C.softInt);
      i.endsBlock = true;
      return;
    case 0xce:
      if (inval64) return;
      i.immLo = 4;
      set(i, 'into', '', C.softInt);
      i.endsBlock = true;
      return;
    case 0xcf:
      i.size = d.mode === 64 && (d.rex & 8) ? 8 : d.opsize;
      set(i, i.size === 2 ? 'iret' : i.size === 4 ? 'iretd' : 'iretq', '', C.iret);
      i.endsBlock = true;
      return;
    case 0xd4: case 0xd5:
      if (inval64) return;
      i.immLo = d.next();
      set(i, b === 0xd4 ? 'aam' : 'aad', 'Ib', b === 0xd4 ? B.aam : B.aad);
      return;
    case 0xd7:
      set(i, 'xlat', 'BX', T.xlat);
      return;
    case 0xe0: case 0xe1: case 0xe2: case 0xe3:
      i.size = vsize(d, true);
      i.cc = b - 0xe0;
      i.relative = d.imm8s();
      set(i, ['loopne', 'loope', 'loop', d.asize === 8 ? 'jrcxz' : d.asize === 4 ? 'jecxz' : 'jcxz'][i.cc], 'J', C.loop);
      i.endsBlock = true;
      return;
    case 0xe4: case 0xe5: case 0xec: case 0xed:
      i.size = b & 1 ? (d.opsize === 2 ? 2 : 4) : 1;
      i.immLo = b < 0xe8 ? d.next() : -1;
      set(i, 'in', b < 0xe8 ? 'AL,Ib' : 'AL,DX', Y.inPort);
      return;
    case 0xe6: case 0xe7: case 0xee: case 0xef:
      i.size = b & 1 ? (d.opsize === 2 ? 2 : 4) : 1;
      i.immLo = b < 0xe8 ? d.next() : -1;
      set(i, 'out', b < 0xe8 ? 'Ib,AL' : 'DX,AL', Y.outPort);
      return;
    case 0xe8:
      i.size = vsize(d, true);
      i.relative = i.size === 2 ? (d.imm16() << 16) >> 16 : d.imm32();
      set(i, 'call', 'J', C.callRel);
      i.endsBlock = true;
      return;
    case 0xe9: case 0xeb:
      i.size = vsize(d, true);
      i.relative = b === 0xeb ? d.imm8s() : i.size === 2 ? (d.imm16() << 16) >> 16 : d.imm32();
      set(i, 'jmp', 'J', C.jmpRel);
      i.endsBlock = true;
      return;
    case 0xea:
      if (inval64) return;
      i.size = d.opsize;
      i.immLo = d.opsize === 2 ? d.imm16() : d.imm32();
      i.imm2 = d.imm16();
      set(i, 'jmp', 'Ap', C.jmpFar);
      i.endsBlock = true;
      return;
    case 0xf1:
      set(i, 'int1', '', Y.int1);
      i.endsBlock = true;
      return;
    case 0xf4:
      set(i, 'hlt', '', C.hlt);
      i.endsBlock = true;
      return;
    case 0xf5: set(i, 'cmc', '', D.cmc); return;
    case 0xf6: case 0xf7:
      i.size = b === 0xf6 ? 1 : vsize(d);
      modrm(d, i, b === 0xf6);
      if (i.cc <= 1) {
        if (b === 0xf6) imm8(d, i); else immZ(d, i, i.size);
        set(i, 'test', b === 0xf6 ? 'Eb,Ib' : 'Ev,Iz', A.testRmImm);
      } else if (i.cc === 2) set(i, 'not', 'Ev', A.notRm);
      else if (i.cc === 3) set(i, 'neg', 'Ev', A.negRm);
      else set(i, ['mul', 'imul', 'div', 'idiv'][i.cc - 4], 'Ev', A.mulDiv);
      return;
    case 0xf8: set(i, 'clc', '', D.clc); return;
    case 0xf9: set(i, 'stc', '', D.stc); return;
    case 0xfa: set(i, 'cli', '', C.cli); return;
    case 0xfb: set(i, 'sti', '', C.sti); return; // ends its block through stopBlock
    case 0xfc: set(i, 'cld', '', D.cld); return;
    case 0xfd: set(i, 'std', '', D.std); return;
    case 0xfe:
      i.size = 1;
      modrm(d, i, true);
      if (i.cc > 1) return;
      set(i, i.cc ? 'dec' : 'inc', 'Eb', A.incDec);
      return;
    case 0xff: {
      // group 5: peek at reg to pick the operand size rule
      const m = d.src.byte(d.k);
      const r = (m >> 3) & 7;
      if (r === 2 || r === 4 || r === 6) {
        i.size = vsize(d, true);
      } else if (r === 3 || r === 5) {
        i.size = d.mode === 64 && (d.rex & 8) ? 8 : d.opsize;
      } else i.size = vsize(d);
      modrm(d, i, false);
      switch (i.cc) {
        case 0: set(i, 'inc', 'Ev', A.incDec); return;
        case 1: set(i, 'dec', 'Ev', A.incDec); return;
        case 2: set(i, 'call', 'Ev', C.callRm); i.endsBlock = true; return;
        // a far pointer must be in memory: FF /3 and FF /5 with mod = 3 are #UD (SDM Vol. 2A, CALL/JMP)
        case 3: if (i.rm >= 0) return; set(i, 'call', 'Mp', C.callFar); i.opcode = 0xff03; i.endsBlock = true; return;
        case 4: set(i, 'jmp', 'Ev', C.jmpRm); i.endsBlock = true; return;
        case 5: if (i.rm >= 0) return; set(i, 'jmp', 'Mp', C.jmpFar); i.opcode = 0xff05; i.endsBlock = true; return;
        case 6: set(i, 'push', 'Ev', D.pushRm); return;
        default: return;
      }
    }
    default:
      return; // undefined: #UD when executed
  }
}

function decodeTwoByte(d: Decoder, i: Insn): void {
  const b = d.next();
  i.opcode = 0x0f00 | b;
  if (b >= 0x80 && b <= 0x8f) {
    i.size = vsize(d, true);
    i.cc = b & 0xf;
    i.relative = i.size === 2 ? (d.imm16() << 16) >> 16 : d.imm32();
    set(i, 'j' + CC_NAMES[i.cc], 'J', i.cc === 5 ? C.jnz : C.jcc);
    i.endsBlock = true;
    return;
  }
  if (b >= 0x40 && b <= 0x4f) {
    i.size = vsize(d);
    modrm(d, i, false);
    i.cc = b & 0xf;
    set(i, 'cmov' + CC_NAMES[i.cc], 'Gv,Ev', D.cmov);
    return;
  }
  if (b >= 0x90 && b <= 0x9f) {
    i.size = 1;
    const cc = b & 0xf;
    modrm(d, i, true);
    i.cc = cc;
    set(i, 'set' + CC_NAMES[cc], 'Eb', D.setcc);
    return;
  }
  if (b >= 0xc8 && b <= 0xcf) {
    i.size = vsize(d);
    i.reg = (b & 7) | ((d.rex & 1) << 3);
    set(i, 'bswap', 'Zv', D.bswap);
    return;
  }
  switch (b) {
    case 0x00: case 0x01:
      Y.decodeSystemGroup(d, i, b, (bo) => modrm(d, i, bo), vsize(d));
      return;
    case 0x02: case 0x03:
      i.size = vsize(d);
      modrm(d, i, false);
      set(i, b === 0x02 ? 'lar' : 'lsl', 'Gv,Ewv', V.larLsl);
      i.imm2 = b & 1;
      return;
    case 0x05:
      set(i, 'syscall', '', Y.syscall);
      i.endsBlock = true;
      return;
    case 0x06: set(i, 'clts', '', Y.clts); return;
    case 0x07:
      i.size = d.rex & 8 ? 8 : 4;
      set(i, i.size === 8 ? 'sysretq' : 'sysret', '', Y.sysret);
      i.endsBlock = true;
      return;
    case 0x08: set(i, 'invd', '', Y.invd); return;
    case 0x09: set(i, 'wbinvd', '', Y.wbinvd); return;
    case 0x0b: set(i, 'ud2', '', ud); return;
    case 0x0d: i.size = vsize(d); modrm(d, i, false); set(i, i.cc === 1 ? 'prefetchw' : i.cc === 2 ? 'prefetchwt1' : 'prefetch', 'M', Y.nop); return;
    case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
      // F3 0F 1E FA/FB: ENDBR64/ENDBR32, NOPs without CET (SDM Vol. 2A, ENDBR64)
      if (b === 0x1e && d.rep === 0xf3 && (d.src.byte(d.k) & 0xfe) === 0xfa) {
        set(i, d.next() === 0xfa ? 'endbr64' : 'endbr32', '', Y.nop);
        return;
      }
      i.size = vsize(d);
      modrm(d, i, false);
      // 0F 18 /0-/3 with a memory operand: the PREFETCHh cache hints, executed as NOPs
      if (b === 0x18 && i.rm < 0 && i.cc < 4) { set(i, ['prefetchnta', 'prefetcht0', 'prefetcht1', 'prefetcht2'][i.cc], 'M', Y.nop); return; }
      set(i, 'nop', 'Ev', Y.nop);
      return;
    case 0x20: case 0x21: case 0x22: case 0x23: {
      // MOV to/from CR/DR: always register operands, 64-bit in 64-bit mode, else 32
      const m = d.next();
      i.rm = (m & 7) | ((d.rex & 1) << 3);
      i.reg = ((m >> 3) & 7) | ((d.rex & 4) << 1);
      if (d.lock && b === 0x20 || d.lock && b === 0x22) { i.reg |= 8; d.lock = false; i.lock = false; } // LOCK MOV CR0 = CR8 (AMD alt encoding)
      i.size = d.mode === 64 ? 8 : 4;
      i.cc = b & 3;
      set(i, 'mov', b === 0x20 ? 'Rd,Cd' : b === 0x21 ? 'Rd,Dd' : b === 0x22 ? 'Cd,Rd' : 'Dd,Rd', b & 1 ? Y.movDr : Y.movCr);
      i.endsBlock = b === 0x22 || b === 0x23;
      return;
    }
    case 0x30: set(i, 'wrmsr', '', Y.wrmsr); i.endsBlock = true; return;
    case 0x31: set(i, 'rdtsc', '', Y.rdtsc); return;
    case 0x32: set(i, 'rdmsr', '', Y.rdmsr); return;
    case 0x33: set(i, 'rdpmc', '', Y.rdpmc); return;
    case 0x34: case 0x35: set(i, b === 0x34 ? 'sysenter' : 'sysexit', '', ud); return;
    case 0x38: decodeThreeByte38(d, i); return;
    case 0xa0: case 0xa8:
      i.size = vsize(d, true);
      i.reg = b === 0xa0 ? Seg.FS : Seg.GS;
      set(i, 'push', 'S', Y.pushSeg);
      return;
    case 0xa1: case 0xa9:
      i.size = vsize(d, true);
      i.reg = b === 0xa1 ? Seg.FS : Seg.GS;
      set(i, 'pop', 'S', Y.popSeg);
      return;
    case 0xa2: set(i, 'cpuid', '', Y.cpuid); return;
    case 0xa3: case 0xab: case 0xb3: case 0xbb:
      i.size = vsize(d);
      modrm(d, i, false);
      i.cc = [4, 5, 6, 7][(b >> 3) & 3];
      set(i, ['bt', 'bts', 'btr', 'btc'][(b >> 3) & 3], 'Ev,Gv', S.btRmReg);
      return;
    case 0xa4: case 0xa5: case 0xac: case 0xad:
      i.size = vsize(d);
      modrm(d, i, false);
      i.cc = b >= 0xac ? 1 : 0;
      if (b & 1) i.imm2 = 1; else { i.immLo = d.next(); i.imm2 = 0; }
      set(i, i.cc ? 'shrd' : 'shld', b & 1 ? 'Ev,Gv,CL' : 'Ev,Gv,Ib', S.shiftDouble);
      return;
    case 0xaf:
      i.size = vsize(d);
      modrm(d, i, false);
      set(i, 'imul', 'Gv,Ev', A.imulRegRm);
      return;
    case 0xb0: case 0xb1:
      i.size = b === 0xb0 ? 1 : vsize(d);
      modrm(d, i, b === 0xb0);
      set(i, 'cmpxchg', b === 0xb0 ? 'Eb,Gb' : 'Ev,Gv', D.cmpxchg);
      return;
    case 0xb2: case 0xb4: case 0xb5:
      i.size = vsize(d);
      modrm(d, i, false);
      if (i.rm >= 0) return;
      i.cc = b === 0xb2 ? Seg.SS : b === 0xb4 ? Seg.FS : Seg.GS;
      set(i, ['lss', '', 'lfs', 'lgs'][b - 0xb2], 'Gv,Mp', Y.loadFarPointer);
      return;
    case 0xb6: case 0xb7: case 0xbe: case 0xbf:
      i.size = vsize(d);
      modrm(d, i, (b & 1) === 0);
      i.imm2 = b & 1 ? 2 : 1;
      set(i, b < 0xbe ? 'movzx' : 'movsx', b & 1 ? 'Gv,Ew' : 'Gv,Eb', b < 0xbe ? D.movzx : D.movsx);
      // the destination register of a byte-source form is never AH..BH
      if (i.reg >= HIGH_BYTE_BASE) i.reg = i.reg - HIGH_BYTE_BASE + 4;
      return;
    case 0xb8:
      if (d.rep !== 0xf3) return;
      i.size = vsize(d);
      modrm(d, i, false);
      i.cc = 4;
      set(i, 'popcnt', 'Gv,Ev', S.bitScan);
      return;
    case 0xba:
      i.size = vsize(d);
      modrm(d, i, false);
      if (i.cc < 4) return;
      i.immLo = d.next();
      set(i, ['bt', 'bts', 'btr', 'btc'][i.cc - 4], 'Ev,Ib', S.btRmImm);
      return;
    case 0xbc: case 0xbd:
      i.size = vsize(d);
      modrm(d, i, false);
      i.cc = (b & 1) + (d.rep === 0xf3 ? 2 : 0);
      set(i, ['bsf', 'bsr', 'tzcnt', 'lzcnt'][i.cc], 'Gv,Ev', S.bitScan);
      return;
    case 0xc0: case 0xc1:
      i.size = b === 0xc0 ? 1 : vsize(d);
      modrm(d, i, b === 0xc0);
      set(i, 'xadd', b === 0xc0 ? 'Eb,Gb' : 'Ev,Gv', D.xadd);
      return;
    case 0xc7: {
      i.size = d.rex & 8 ? 8 : 4;
      modrm(d, i, false);
      if (i.cc === 1 && i.rm < 0) { set(i, i.size === 8 ? 'cmpxchg16b' : 'cmpxchg8b', 'M', D.cmpxchg8b); return; }
      if ((i.cc === 6 || i.cc === 7) && i.rm >= 0) {
        i.size = vsize(d);
        set(i, i.cc === 6 ? 'rdrand' : 'rdseed', 'Rv', Y.rdrand);
        return;
      }
      Y.decodeVmxGroup9(i, d.has66);
      return;
    }
    default:
      // 0F 78/79 without a prefix are VMREAD/VMWRITE (decoded below), not SSE
      const vmreadWrite = (b === 0x78 || b === 0x79) && !d.has66 && d.rep === 0;
      if ((b >= 0x10 && b <= 0x17) || (b >= 0x28 && b <= 0x2f) || (b >= 0x50 && b <= 0x7f && !vmreadWrite) || (b >= 0xc2 && b <= 0xc6) || b >= 0xd0 || b === 0xae || b === 0x77) {
        skipSseOperands(d, i, 1, b);
        set(i, '(sse)', '', fpu);
        return;
      }
      if (b === 0x3a) { d.next(); skipSseOperands(d, i, 3, 0); set(i, '(sse)', '', fpu); return; }
      Y.decodeTwoByteSystem(d, i, b, () => modrm(d, i, false), vsize(d));
  }
}

function decodeThreeByte38(d: Decoder, i: Insn): void {
  const b = d.next();
  i.opcode = 0x0f3800 | b;
  if ((b === 0xf0 || b === 0xf1) && d.rep !== 0xf2) {
    i.size = vsize(d);
    modrm(d, i, false);
    if (i.rm >= 0) return;
    i.cc = b & 1;
    set(i, 'movbe', b === 0xf0 ? 'Gv,M' : 'M,Gv', Y.movbe);
    return;
  }
  if (b === 0xf6 && (d.has66 || d.rep === 0xf3)) {
    i.size = d.mode === 64 && (d.rex & 8) ? 8 : 4;
    modrm(d, i, false);
    i.cc = d.rep === 0xf3 ? 1 : 0;
    set(i, i.cc ? 'adox' : 'adcx', 'Gy,Ey', Y.adcxAdox);
    return;
  }
  if ((b === 0x80 || b === 0x81) && d.has66) {
    // INVEPT / INVVPID r64, m128 (64-bit mode: the register operand is always 64-bit)
    i.size = d.mode === 64 ? 8 : 4;
    modrm(d, i, false);
    if (i.rm >= 0) return;
    set(i, b === 0x80 ? 'invept' : 'invvpid', 'Gy,M', Y.vmxInstruction);
    return;
  }
  skipSseOperands(d, i, 2, b);
  set(i, '(sse)', '', fpu);
}

/**
 * Reads past the ModRM, SIB, displacement and imm8 of an SSE/AVX instruction the CPU does not
 * execute, so that its length (what a disassembly listing steps by) is right. `map` is 1 for
 * 0F, 2 for 0F 38, 3 for 0F 3A (SDM Vol. 2D, A.3 opcode maps).
 */
function skipSseOperands(d: Decoder, i: Insn, map: number, b: number): void {
  if (map === 1 && b === 0x77) return; // EMMS, VZEROUPPER: no ModRM
  modrm(d, i, false);
  if (map === 3 || (map === 1 && ((b >= 0x70 && b <= 0x73) || b === 0xc2 || (b >= 0xc4 && b <= 0xc6)))) d.next();
}

/** VEX (C4: three bytes, C5: two) in 64-bit mode: skipped to the opcode, then its operands. */
function skipVex(d: Decoder, i: Insn, b: number): void {
  const map = b === 0xc5 ? 1 : d.next() & 0x1f;
  d.next();
  skipSseOperands(d, i, map, d.next());
}

/** A ByteSource over the CPU's instruction fetch at CS:RIP. */
class FetchSource implements ByteSource {
  constructor(readonly cpu: Cpu, readonly lo: number, readonly hi: number) {}
  byte(k: number): number {
    const a = (this.lo + k) | 0;
    return this.cpu.fetch8(a, (a >>> 0) < (this.lo >>> 0) ? (this.hi + 1) | 0 : this.hi);
  }
}

/** A ByteSource over bytes in hand (disassembling a buffer). */
export class BufferSource implements ByteSource {
  constructor(readonly bytes: Uint8Array, readonly offset = 0) {}
  byte(k: number): number {
    const j = this.offset + k;
    if (j >= this.bytes.length) throw new CpuFault(Vector.PF, 0, 'instruction runs past the end of the buffer');
    return this.bytes[j];
  }
}

/** JMP rel8/rel16/rel32 and CALL rel16/rel32: the target is in the instruction (immLo/immHi). */
function isDirectJump(i: Insn): boolean {
  return i.opcode === 0xe8 || i.opcode === 0xe9 || i.opcode === 0xeb;
}

/**
 * Decodes a run of instructions starting at RIP, ending after a block-ending instruction,
 * at a page boundary, before a breakpoint address, or after MAX_BLOCK instructions. A direct
 * JMP or CALL to the same page does not end it: decoding follows the branch; nor does a Jcc,
 * which stops the block at run time when taken: decoding follows the fall-through path.
 */
export function decodeBlock(cpu: Cpu, ripLo: number, ripHi: number, mode: DecodeMode, breakpoints: Set<number> | undefined): Insn[] {
  const out: Insn[] = [];
  let lo = ripLo, hi = ripHi;
  const csLo = mode === 64 ? 0 : cpu.segBase[2 * Seg.CS];
  const firstPage = ((lo + csLo) | 0) >>> 12;
  for (;;) {
    const linLo = (lo + csLo) | 0;
    let insn: Insn;
    try {
      // fetching past the first instruction is speculative: a fault there just ends the block
      cpu.speculativeFetch = out.length > 0;
      insn = decodeInsn(new FetchSource(cpu, linLo, mode === 64 ? hi : 0), mode, lo, hi);
    } catch (e) {
      // a fault while fetching a later instruction ends the block before it
      if (out.length > 0) break;
      throw e;
    }
    out.push(insn);
    if (out.length >= MAX_BLOCK) break;
    if (!insn.endsBlock) {
      lo = insn.nextLo;
      hi = insn.nextHi;
    } else if (((linLo + insn.len - 1) >>> 12) !== firstPage) {
      break;
    } else if (isDirectJump(insn)) {
      // a direct JMP/CALL sets RIP itself and its target is known: the block goes on there
      // when the target is in this page too (checked below), so the page's watch covers it
      lo = insn.immLo;
      hi = insn.immHi;
    } else if (leavesBlockOnlyWhenTaken(insn.exec)) {
      // a Jcc ends the block only when taken (it sets stopBlock): go on along the fall-through
      lo = insn.nextLo;
      hi = insn.nextHi;
    } else break;
    const nextLin = (lo + csLo) | 0;
    if ((nextLin >>> 12) !== firstPage) break;
    if (breakpoints !== undefined && breakpoints.has((hi >>> 0) * 4294967296 + (lo >>> 0))) break;
  }
  cpu.speculativeFetch = false;
  return out;
}
