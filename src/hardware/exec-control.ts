// Control transfer: Jcc, JMP, CALL, RET, LOOP/JCXZ, INT n/INT3/INTO, IRET, HLT, and the
// flag instructions that affect interrupts (PUSHF/POPF, CLI/STI) (SDM Vol. 2; Vol. 3A ch. 6).

import type { Cpu } from './cpu';
import { CpuFault, Intercept, Vector } from './cpu';
import { Ar, Flag, Seg, Shadow } from './cpu-state';
import { deliverEvent, EventType } from './exceptions';
import { getOF, getRflags, getZF, setRflags, testCondition } from './flags';
import { Insn } from './insn';
import { readRm } from './operands';
import { adjustSp, peek, pop, push } from './stack';
import { descriptorAr, loadRealModeSegment, loadSegmentCache, readDescriptor } from './segments';
import { farThroughSystemDescriptor, readFarDescriptor } from './call-gates';
import { farReturn, nullOuterDataSegments } from './far-return';
import { taskReturn } from './task-switch';

/** Sets RIP to a target (lo, hi) at the operand size, checking canonical form in 64-bit mode. */
export function jumpTo(c: Cpu, lo: number, hi: number, size: number): void {
  if (size === 8) {
    if (((hi << 16) >> 16) !== hi) throw new CpuFault(Vector.GP, 0, 'non-canonical branch target');
    c.ip[0] = lo;
    c.ip[1] = hi;
    return;
  }
  const target = size === 2 ? lo & 0xffff : lo;
  if (!c.in64BitMode && (target >>> 0) > c.segLimit[Seg.CS]) throw new CpuFault(Vector.GP, 0, 'branch beyond CS limit');
  c.ip[0] = target;
  c.ip[1] = 0;
}

function fallThrough(c: Cpu, i: Insn): void {
  c.ip[0] = i.nextLo;
  c.ip[1] = i.nextHi;
}

/** Jcc rel: target precomputed by the decoder in imm */
export function jcc(c: Cpu, i: Insn): void {
  if (testCondition(c, i.cc)) jumpTo(c, i.immLo, i.immHi, i.size);
  else fallThrough(c, i);
}

/** JNZ/JNE fast path */
export function jnz(c: Cpu, i: Insn): void {
  if (!getZF(c)) jumpTo(c, i.immLo, i.immHi, i.size);
  else fallThrough(c, i);
}

export function jmpRel(c: Cpu, i: Insn): void {
  jumpTo(c, i.immLo, i.immHi, i.size);
}

export function jmpRm(c: Cpu, i: Insn): void {
  const lo = readRm(c, i, i.size);
  jumpTo(c, lo, i.size === 8 ? c.hi : 0, i.size);
}

export function callRel(c: Cpu, i: Insn): void {
  push(c, i.size, i.nextLo, i.nextHi);
  jumpTo(c, i.immLo, i.immHi, i.size);
}

export function callRm(c: Cpu, i: Insn): void {
  const lo = readRm(c, i, i.size), hi = i.size === 8 ? c.hi : 0;
  const savedLo = c.r[8], savedHi = c.r[9];
  push(c, i.size, i.nextLo, i.nextHi);
  try {
    jumpTo(c, lo, hi, i.size);
  } catch (e) {
    c.r[8] = savedLo;
    c.r[9] = savedHi;
    throw e;
  }
}

/** RET and RET imm16 */
export function ret(c: Cpu, i: Insn): void {
  const lo = peek(c, i.size, 0), hi = i.size === 8 ? c.hi : 0;
  jumpTo(c, lo, hi, i.size);
  adjustSp(c, i.size + (i.immLo & 0xffff));
}

/** LOOP/LOOPE/LOOPNE/JCXZ — i.cc 0 LOOPNE, 1 LOOPE, 2 LOOP, 3 JrCXZ; count register by address size */
export function loop(c: Cpu, i: Insn): void {
  const r = c.r;
  const asz = i.asize;
  let zero: boolean;
  if (i.cc === 3) {
    zero = asz === 8 ? (r[2] | r[3]) === 0 : asz === 4 ? r[2] === 0 : (r[2] & 0xffff) === 0;
    if (zero) jumpTo(c, i.immLo, i.immHi, i.size); else fallThrough(c, i);
    return;
  }
  if (asz === 8) {
    const lo = (r[2] - 1) | 0;
    if (lo === -1) r[3] = (r[3] - 1) | 0;
    r[2] = lo;
    zero = (r[2] | r[3]) === 0;
  } else if (asz === 4) {
    r[2] = (r[2] - 1) | 0;
    r[3] = 0;
    zero = r[2] === 0;
  } else {
    r[2] = (r[2] & ~0xffff) | ((r[2] - 1) & 0xffff);
    zero = (r[2] & 0xffff) === 0;
  }
  let take = !zero;
  if (i.cc === 0) take = take && !getZF(c);
  else if (i.cc === 1) take = take && getZF(c);
  if (take) jumpTo(c, i.immLo, i.immHi, i.size); else fallThrough(c, i);
}

/** INT n (CD), INT3 (CC: cc = 3), INTO (CE: cc = 4) — traps: the pushed RIP is the next instruction */
export function softInt(c: Cpu, i: Insn): void {
  const vector = i.immLo & 0xff;
  if (i.opcode === 0xce) {
    if (c.in64BitMode) throw new CpuFault(Vector.UD, -1, 'INTO in 64-bit mode');
    if (!getOF(c)) { fallThrough(c, i); return; }
  }
  // INT3 and INTO are exceptions: the VMX exception bitmap may turn them into VM exits
  if (i.opcode !== 0xcd && c.interceptHere(Intercept.EXCEPTION, i)) return;
  fallThrough(c, i);
  // INT3 and INTO, like INT n, check the gate's DPL and set no EXT bit (SDM Vol. 3A, 6.12.1.1, 6.13)
  if (deliverEvent(c, vector, -1, true, i, i.opcode === 0xcd ? EventType.SOFTWARE_INTERRUPT : EventType.SOFTWARE_EXCEPTION) === 'triple-fault') {
    throw new CpuFault(Vector.DF, 0, 'triple fault in software interrupt');
  }
}

/** IRET/IRETD/IRETQ — real mode and same-privilege protected/long mode returns */
export function iret(c: Cpu, i: Insn): void {
  const size = i.size;
  const savedRsp = c.getReg(4);
  if ((c.cr0 & 1) === 0) {
    const ip = pop(c, size);
    const cs = pop(c, size) & 0xffff;
    const fl = pop(c, size);
    loadRealModeSegment(c, Seg.CS, cs);
    c.ip[0] = size === 2 ? ip & 0xffff : ip;
    c.ip[1] = 0;
    const old = getRflags(c);
    setRflags(c, size === 2 ? (old & 0xffff0000) | (fl & 0xffff) : (fl & 0x257fd5) | (old & 0x1a0000));
    c.nmiBlocked = false;
    return;
  }
  if ((c.flagsOther & Flag.NT) !== 0 && (c.flagsOther & Flag.VM) === 0) {
    // NT: return to the task in the back link (SDM Vol. 3A, 8.4); IA-32e mode has no tasks
    if (c.longModeActive) throw new CpuFault(Vector.GP, 0, 'IRET with NT set in IA-32e mode');
    taskReturn(c, i);
    return;
  }
  try {
    const ipLo = pop(c, size), ipHi = size === 8 ? c.hi : 0;
    const cs = pop(c, size) & 0xffff;
    const fl = pop(c, size);
    const newCpl = cs & 3;
    if (newCpl < c.cpl) throw new CpuFault(Vector.GP, cs & 0xfffc, 'IRET to a more privileged level');
    const d = readDescriptor(c, cs);
    const ar = descriptorAr(d);
    if ((ar & Ar.S) === 0 || (ar & 8) === 0) throw new CpuFault(Vector.GP, cs & 0xfffc, 'IRET to a non-code segment');
    if ((ar & Ar.P) === 0) throw new CpuFault(Vector.NP, cs & 0xfffc, 'IRET to a segment not present');
    let spLo = 0, spHi = 0, ss = 0;
    const toOuter = newCpl > c.cpl;
    if (c.longModeActive || toOuter) {
      spLo = pop(c, size); spHi = size === 8 ? c.hi : 0;
      ss = pop(c, size) & 0xffff;
    }
    const cplBefore = c.cpl;
    // flags: IOPL only at CPL 0, IF only when CPL <= IOPL (SDM, IRET operation)
    const old = getRflags(c);
    let mask = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.DF | Flag.OF | Flag.NT | Flag.RF | Flag.AC | Flag.ID;
    if (cplBefore === 0) mask |= Flag.IOPL | Flag.VIF | Flag.VIP;
    if (cplBefore <= ((old >> 12) & 3)) mask |= Flag.IF;
    if (size === 2) mask &= 0xffff;
    loadSegmentCache(c, Seg.CS, cs, d);
    c.cpl = newCpl;
    if (c.longModeActive || toOuter) {
      if ((ss & 0xfffc) === 0) {
        c.segSel[Seg.SS] = ss;
        c.segAr[Seg.SS] = Ar.UNUSABLE | Ar.S | 0x3 | (newCpl << Ar.DPL_SHIFT) | Ar.P | Ar.DB | Ar.G;
        c.segBase[2 * Seg.SS] = 0; c.segBase[2 * Seg.SS + 1] = 0;
      } else {
        loadSegmentCache(c, Seg.SS, ss, readDescriptor(c, ss));
      }
      if (size === 8) { c.r[8] = spLo; c.r[9] = spHi; } else if (size === 4) { c.r[8] = spLo; c.r[9] = 0; } else c.r[8] = (c.r[8] & ~0xffff) | (spLo & 0xffff);
      if (toOuter) nullOuterDataSegments(c);
    }
    setRflags(c, (old & ~mask) | (fl & mask));
    c.nmiBlocked = false; // IRET ends NMI blocking (SDM Vol. 3A, 6.7.1)
    c.ip[0] = size === 2 ? ipLo & 0xffff : ipLo;
    c.ip[1] = size === 8 && (c.segAr[Seg.CS] & Ar.L) !== 0 ? ipHi : 0;
  } catch (e) {
    c.setReg(4, savedRsp);
    throw e;
  }
}

/** HLT: privileged; stops until an interrupt */
export function hlt(c: Cpu, i: Insn): void {
  if (c.cpl !== 0) throw new CpuFault(Vector.GP, 0, 'HLT at CPL > 0');
  if (c.interceptHere(Intercept.HLT, i)) return;
  fallThrough(c, i);
  c.halted = true;
  c.stopBlock = true;
}

/** PUSHF/PUSHFD/PUSHFQ: VM and RF read as zero */
export function pushf(c: Cpu, i: Insn): void {
  const f = getRflags(c) & ~(Flag.VM | Flag.RF);
  push(c, i.size, i.size === 2 ? f & 0xffff : f, 0);
}

/** POPF: which bits change depends on CPL and IOPL (SDM Vol. 2B, POPF) */
export function popf(c: Cpu, i: Insn): void {
  const v = pop(c, i.size);
  const old = getRflags(c);
  const iopl = (old >> 12) & 3;
  let mask = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.DF | Flag.OF | Flag.NT | Flag.AC | Flag.ID;
  if ((c.cr0 & 1) === 0 || c.cpl === 0) mask |= Flag.IOPL | Flag.IF;
  else if (c.cpl <= iopl) mask |= Flag.IF;
  if (i.size === 2) mask &= 0xffff;
  setRflags(c, (old & ~mask) | (v & mask));
  c.stopBlock = true; // TF or IF may have changed
}

export function cli(c: Cpu): void {
  if ((c.cr0 & 1) !== 0 && c.cpl > ((c.flagsOther >> 12) & 3)) throw new CpuFault(Vector.GP, 0, 'CLI with CPL > IOPL');
  c.flagsOther &= ~Flag.IF;
}

export function sti(c: Cpu): void {
  if ((c.cr0 & 1) !== 0 && c.cpl > ((c.flagsOther >> 12) & 3)) throw new CpuFault(Vector.GP, 0, 'STI with CPL > IOPL');
  if ((c.flagsOther & Flag.IF) === 0) c.interruptShadow = Shadow.STI;
  c.flagsOther |= Flag.IF;
  c.stopBlock = true;
}

/** JMP ptr16:16/32 (EA) and JMP m16:16/32/64 (FF /5): far jump */
export function jmpFar(c: Cpu, i: Insn): void {
  let sel: number, offLo: number, offHi = 0;
  if (i.opcode === 0xea) {
    sel = i.imm2 & 0xffff;
    offLo = i.immLo;
  } else {
    if (i.rm >= 0) throw new CpuFault(Vector.UD, -1, 'far JMP with a register operand');
    offLo = readRm(c, i, i.size);
    offHi = i.size === 8 ? c.hi : 0;
    const lo = (c.eaLo + i.size) | 0;
    sel = c.read(lo, c.eaHi, 2);
  }
  const sys = readFarDescriptor(c, sel);
  if (sys !== undefined) { farThroughSystemDescriptor(c, 'jmp', sel, sys, i); return; }
  farTransfer(c, sel, offLo, offHi, i.size);
}

/** Loads CS for a far JMP/CALL to a code segment (gates and TSSs: see call-gates.ts). */
export function farTransfer(c: Cpu, sel: number, offLo: number, offHi: number, size: number): void {
  if ((c.cr0 & 1) === 0) {
    loadRealModeSegment(c, Seg.CS, sel);
    c.ip[0] = size === 2 ? offLo & 0xffff : offLo;
    c.ip[1] = 0;
    return;
  }
  if ((sel & 0xfffc) === 0) throw new CpuFault(Vector.GP, 0, 'far transfer to a null selector');
  const d = readDescriptor(c, sel);
  const ar = descriptorAr(d);
  if ((ar & Ar.S) === 0) throw new CpuFault(Vector.GP, sel & 0xfffc, 'far transfer to a system descriptor (handled by call-gates.ts before this point)');
  if ((ar & 8) === 0) throw new CpuFault(Vector.GP, sel & 0xfffc, 'far transfer to a data segment');
  const dpl = (ar >> 5) & 3;
  const conforming = (ar & 4) !== 0;
  if (conforming ? dpl > c.cpl : ((sel & 3) > c.cpl || dpl !== c.cpl)) throw new CpuFault(Vector.GP, sel & 0xfffc, 'far transfer privilege check');
  if ((ar & Ar.P) === 0) throw new CpuFault(Vector.NP, sel & 0xfffc, 'code segment not present');
  loadSegmentCache(c, Seg.CS, (sel & 0xfffc) | c.cpl, d);
  const long = c.longModeActive && (ar & Ar.L) !== 0;
  c.ip[0] = size === 2 ? offLo & 0xffff : offLo;
  c.ip[1] = long && size === 8 ? offHi : 0;
}

/** CALL far: push CS and the return offset, then transfer */
export function callFar(c: Cpu, i: Insn): void {
  let sel: number, offLo: number, offHi = 0;
  if (i.opcode === 0x9a) {
    sel = i.imm2 & 0xffff;
    offLo = i.immLo;
  } else {
    if (i.rm >= 0) throw new CpuFault(Vector.UD, -1, 'far CALL with a register operand');
    offLo = readRm(c, i, i.size);
    offHi = i.size === 8 ? c.hi : 0;
    sel = c.read((c.eaLo + i.size) | 0, c.eaHi, 2);
  }
  const sys = readFarDescriptor(c, sel);
  if (sys !== undefined) { farThroughSystemDescriptor(c, 'call', sel, sys, i); return; }
  const saved = c.getReg(4);
  try {
    push(c, i.size, c.segSel[Seg.CS], 0);
    push(c, i.size, i.nextLo, i.nextHi);
    farTransfer(c, sel, offLo, offHi, i.size);
  } catch (e) {
    c.setReg(4, saved);
    throw e;
  }
}

/** RET far (CB, CA imm16): real mode here, protected mode in far-return.ts */
export function retFar(c: Cpu, i: Insn): void {
  const saved = c.getReg(4);
  try {
    if ((c.cr0 & 1) !== 0 && (c.flagsOther & Flag.VM) === 0) { farReturn(c, i); return; }
    const offLo = pop(c, i.size), offHi = i.size === 8 ? c.hi : 0;
    const sel = pop(c, i.size) & 0xffff;
    farTransfer(c, sel, offLo, offHi, i.size);
    adjustSp(c, i.immLo & 0xffff);
  } catch (e) {
    c.setReg(4, saved);
    throw e;
  }
}

