// Far JMP and CALL through a call gate (SDM Vol. 3A, 5.8.3-5.8.6; Vol. 2A "CALL" and Vol. 2A
// "JMP" operation): 16- and 32-bit gates in legacy protected mode with the switch to an inner
// stack from the TSS and the copying of `count` parameters, 64-bit gates in IA-32e mode. Far
// transfers to a TSS or task gate are handed to task-switch.ts.

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Ar, Flag, Seg } from './cpu-state';
import { Descriptor, descriptorAr, descriptorLimit, loadSegmentCache, readDescriptor, readSystem32, readSystem64 } from './segments';
import { peek, push } from './stack';
import { CALL_GATE64, restoreSegment, saveSegment, SysType } from './system-descriptors';
import { switchTaskByDescriptor } from './task-switch';
import { Insn } from './insn';

export type FarKind = 'jmp' | 'call';

/**
 * A far JMP or CALL whose selector names a system descriptor (`d`): a call gate, a task gate
 * or a TSS. `i` is the instruction (its next RIP is the return address / saved EIP).
 */
export function farThroughSystemDescriptor(c: Cpu, kind: FarKind, sel: number, d: Descriptor, i: Insn): void {
  const ar = descriptorAr(d);
  const type = ar & 0xf;
  const err = sel & 0xfffc;
  if (c.longModeActive) {
    // IA-32e mode has no task switching and only 64-bit call gates (SDM Vol. 3A, 5.8.3.1, 8.7)
    if (type !== CALL_GATE64) throw new CpuFault(Vector.GP, err, `far ${kind} through system descriptor type ${type} in IA-32e mode`);
    callGate(c, kind, sel, d, i, 8);
    return;
  }
  switch (type) {
    case SysType.CALL_GATE16: callGate(c, kind, sel, d, i, 2); return;
    case SysType.CALL_GATE32: callGate(c, kind, sel, d, i, 4); return;
    case SysType.TASK_GATE: case SysType.TSS32_AVAILABLE: case SysType.TSS16_AVAILABLE:
      switchTaskByDescriptor(c, kind, sel, d, i);
      return;
    default:
      throw new CpuFault(Vector.GP, err, `far ${kind} to system descriptor type ${type}`);
  }
}

/** CALL/JMP through a call gate of `gateSize` bytes (2, 4 or 8 in IA-32e mode). */
function callGate(c: Cpu, kind: FarKind, gateSel: number, gate: Descriptor, i: Insn, gateSize: number): void {
  const gateAr = descriptorAr(gate);
  const gateDpl = (gateAr >> 5) & 3;
  const gateErr = gateSel & 0xfffc;
  if (gateDpl < c.cpl || gateDpl < (gateSel & 3)) throw new CpuFault(Vector.GP, gateErr, 'call gate DPL below CPL or RPL');
  if ((gateAr & Ar.P) === 0) throw new CpuFault(Vector.NP, gateErr, 'call gate not present');
  let offLo = gateSize === 2 ? gate.lo & 0xffff : ((gate.lo & 0xffff) | (gate.hi & 0xffff0000)) | 0;
  let offHi = 0;
  if (gateSize === 8) {
    // the upper half of a 16-byte gate: offset 63:32 and a type field that must be zero
    const tableLimit = (gateSel & 4) !== 0 ? c.segLimit[Seg.LDTR] : c.gdtrLimit;
    if ((gateSel & 0xfff8) + 15 > tableLimit) throw new CpuFault(Vector.GP, gateErr, '64-bit call gate extends beyond the table limit');
    const addr = descriptorAddress(c, gateSel) + 8n;
    const upper = readSystem64(c, addr);
    if (((upper >> 40n) & 0x1fn) !== 0n) throw new CpuFault(Vector.GP, gateErr, '64-bit call gate upper type not zero');
    offHi = Number(upper & 0xffffffffn) | 0;
    offLo = ((gate.lo & 0xffff) | (gate.hi & 0xffff0000)) | 0;
  }
  const codeSel = gate.lo >>> 16;
  const codeErr = codeSel & 0xfffc;
  if (codeErr === 0) throw new CpuFault(Vector.GP, 0, 'call gate names a null code selector');
  const cd = readDescriptor(c, codeSel);
  const car = descriptorAr(cd);
  const cdpl = (car >> 5) & 3;
  const conforming = (car & 4) !== 0;
  if ((car & Ar.S) === 0 || (car & 8) === 0) throw new CpuFault(Vector.GP, codeErr, 'call gate target is not a code segment');
  if (kind === 'call' ? cdpl > c.cpl : conforming ? cdpl > c.cpl : cdpl !== c.cpl) throw new CpuFault(Vector.GP, codeErr, 'call gate target privilege');
  if ((car & Ar.P) === 0) throw new CpuFault(Vector.NP, codeErr, 'call gate target not present');
  if (gateSize === 8 && ((car & Ar.L) === 0 || (car & Ar.DB) !== 0)) throw new CpuFault(Vector.GP, codeErr, '64-bit call gate target is not a 64-bit code segment');
  if (gateSize !== 8 && (offLo >>> 0) > descriptorLimit(cd)) throw new CpuFault(Vector.GP, 0, 'call gate offset beyond the target segment limit');
  if (gateSize === 8 && ((offHi << 16) >> 16) !== offHi) throw new CpuFault(Vector.GP, 0, 'call gate offset not canonical');

  const oldCs = c.segSel[Seg.CS];
  const oldCpl = c.cpl;
  const savedCs = saveSegment(c, Seg.CS);
  const savedSs = saveSegment(c, Seg.SS);
  const savedRsp = c.getReg(4);
  const inner = kind === 'call' && !conforming && cdpl < c.cpl;
  // CS first: in IA-32e mode the pushes use the 64-bit stack of the target's mode
  loadSegmentCache(c, Seg.CS, (codeSel & 0xfffc) | (inner ? cdpl : oldCpl), cd);
  try {
    if (inner) {
      enterInnerStack(c, cdpl, gate.hi & 0x1f, gateSize, oldCs, i.nextLo, i.nextHi);
    } else if (kind === 'call') {
      push(c, gateSize, oldCs, 0);
      push(c, gateSize, i.nextLo, i.nextHi);
    }
  } catch (e) {
    c.cpl = oldCpl;
    restoreSegment(c, Seg.CS, savedCs);
    restoreSegment(c, Seg.SS, savedSs);
    c.setReg(4, savedRsp);
    throw e;
  }
  c.cpl = inner ? cdpl : oldCpl;
  c.ip[0] = offLo;
  c.ip[1] = offHi;
}

/**
 * CALL to a more privileged level: new SS:ESP from the TSS for the target DPL, push the old
 * SS:ESP, copy `count` parameters from the old stack, push the return CS:EIP (SDM Vol. 3A,
 * 5.8.5 and Figure 5-13). In IA-32e mode SS becomes a null selector with RPL = new CPL and
 * nothing is copied (5.8.5.1).
 */
function enterInnerStack(c: Cpu, dpl: number, count: number, gateSize: number, oldCs: number, retLo: number, retHi: number): void {
  const oldSs = c.segSel[Seg.SS];
  const oldEspLo = c.r[8], oldEspHi = c.r[9];
  const trErr = c.segSel[Seg.TR] & 0xfffc;
  const tss = c.segmentBase(Seg.TR);
  if (gateSize === 8) {
    const slot = 4 + 8 * dpl;
    if (slot + 7 > c.segLimit[Seg.TR]) throw new CpuFault(Vector.TS, trErr, 'TSS too small for the inner stack pointer');
    const rsp = readSystem64(c, tss + BigInt(slot));
    if (((Number(rsp >> 32n) << 16) >> 16) !== (Number(rsp >> 32n) | 0)) throw new CpuFault(Vector.SS, 0, 'inner RSP not canonical');
    c.cpl = dpl;
    c.segSel[Seg.SS] = dpl;
    c.segBase[2 * Seg.SS] = 0;
    c.segBase[2 * Seg.SS + 1] = 0;
    c.segLimit[Seg.SS] = 0xffffffff;
    c.segAr[Seg.SS] = Ar.UNUSABLE | Ar.S | 0x3 | (dpl << Ar.DPL_SHIFT) | Ar.P | Ar.DB | Ar.G;
    c.setReg(4, rsp);
    push(c, 8, oldSs, 0);
    push(c, 8, oldEspLo, oldEspHi);
    push(c, 8, oldCs, 0);
    push(c, 8, retLo, retHi);
    return;
  }
  const tssBase = Number(tss & 0xffffffffn);
  const tss32 = (c.segAr[Seg.TR] & 0x8) !== 0;
  let newSs: number, newEsp: number;
  if (tss32) {
    const at = 8 * dpl + 4;
    if (at + 5 > c.segLimit[Seg.TR]) throw new CpuFault(Vector.TS, trErr, 'TSS too small for the inner stack');
    newEsp = readSystem32(c, (tssBase + at) | 0, 0);
    newSs = readSystem32(c, (tssBase + at + 4) | 0, 0) & 0xffff;
  } else {
    const at = 4 * dpl + 2;
    if (at + 3 > c.segLimit[Seg.TR]) throw new CpuFault(Vector.TS, trErr, 'TSS too small for the inner stack');
    const w = readSystem32(c, (tssBase + at) | 0, 0);
    newEsp = w & 0xffff;
    newSs = w >>> 16;
  }
  const ssErr = newSs & 0xfffc;
  if (ssErr === 0) throw new CpuFault(Vector.TS, 0, 'null inner stack selector in the TSS');
  const sd = readDescriptor(c, newSs, Vector.TS);
  const sar = descriptorAr(sd);
  if ((newSs & 3) !== dpl || ((sar >> 5) & 3) !== dpl || (sar & Ar.S) === 0 || (sar & 0xa) !== 0x2) {
    throw new CpuFault(Vector.TS, ssErr, 'inner stack segment: RPL/DPL differ from the target DPL or not writable data');
  }
  if ((sar & Ar.P) === 0) throw new CpuFault(Vector.SS, ssErr, 'inner stack segment not present');
  // parameters come from the caller's stack (with its SS checks), read before anything changes
  const params: number[] = [];
  for (let k = count - 1; k >= 0; k--) params.push(peek(c, gateSize, gateSize * k));
  c.cpl = dpl;
  loadSegmentCache(c, Seg.SS, newSs, sd);
  if ((sar & Ar.DB) !== 0) c.r[8] = newEsp; else c.r[8] = (c.r[8] & ~0xffff) | (newEsp & 0xffff);
  c.r[9] = 0;
  try {
    push(c, gateSize, oldSs, 0);
    push(c, gateSize, oldEspLo, 0);
    for (const p of params) push(c, gateSize, p, 0);
    push(c, gateSize, oldCs, 0);
    push(c, gateSize, retLo, 0);
  } catch (e) {
    // no room on the new stack is #SS with the new SS selector (SDM Vol. 2A CALL)
    if (e instanceof CpuFault && e.vector === Vector.SS) throw new CpuFault(Vector.SS, ssErr, 'inner stack has no room for the call frame');
    throw e;
  }
}

/** Linear address of the descriptor a selector names. */
export function descriptorAddress(c: Cpu, sel: number): bigint {
  const base = (sel & 4) !== 0 ? c.segmentBase(Seg.LDTR) : c.gdtrBase;
  return base + BigInt(sel & 0xfff8);
}

/** Reads the descriptor for a far transfer when it may be a system one (protected mode, non-null). */
export function readFarDescriptor(c: Cpu, sel: number): Descriptor | undefined {
  if ((c.cr0 & 1) === 0 || (c.flagsOther & Flag.VM) !== 0 || (sel & 0xfffc) === 0) return undefined;
  const d = readDescriptor(c, sel);
  return (descriptorAr(d) & Ar.S) === 0 ? d : undefined;
}
