// Delivery of exceptions and interrupts (SDM Vol. 3A, chapter 6): through the IVT in real
// mode, through 32-bit gates in protected mode and 64-bit gates in IA-32e mode, with stack
// switching on a privilege change (and IST), #DF on a fault during delivery (Table 6-5), and
// triple fault when #DF delivery itself faults.

import type { Cpu } from './cpu';
import { CommittedFault, CpuFault, Intercept, STOP_BEFORE, Vector } from './cpu';
import { Ar, Flag, Seg } from './cpu-state';
import { getRflags, setRflags } from './flags';
import { Insn } from './insn';
import { descriptorAr, loadRealModeSegment, loadSegmentCache, readDescriptor, readSystem32, readSystem64 } from './segments';
import { push } from './stack';
import { switchTaskForEvent } from './task-switch';
import { SysType } from './system-descriptors';

const CONTRIBUTORY = new Set([Vector.DE, Vector.TS, Vector.NP, Vector.SS, Vector.GP]);

export type DeliveryResult = 'ok' | 'triple-fault';

/**
 * Delivers an event. For faults the caller has set RIP to the faulting instruction; for
 * software interrupts and traps, to the next one. `errorCode` < 0 means none is pushed.
 */
export function deliverEvent(cpu: Cpu, vector: number, errorCode: number, software: boolean, insn?: Insn,
  type: EventType = software ? EventType.SOFTWARE_INTERRUPT : EventType.HARDWARE_EXCEPTION): DeliveryResult {
  let v = vector, e = errorCode, soft = software, t = type;
  for (;;) {
    try {
      deliverOnce(cpu, v, e, soft, insn);
      cpu.halted = false;
      return 'ok';
    } catch (f) {
      if (f === STOP_BEFORE) {
        // a VM exit during delivery (EPT): it records the event being delivered (SDM Vol. 3C, 28.2.4)
        noteVectoring(cpu, v, e, t);
        throw f;
      }
      if (!(f instanceof CpuFault)) throw f;
      if (f instanceof CommittedFault) {
        // a task gate switched tasks, then a check in the new task failed: deliver it there
        v = f.vector; e = f.errorCode; soft = false; t = EventType.HARDWARE_EXCEPTION;
        continue;
      }
      // in VMX non-root operation the exception bitmap sees a fault during delivery too
      if ((cpu.interceptMask & Intercept.EXCEPTION) !== 0 && cpu.hooks?.exception?.(cpu, f.vector, f.errorCode) === true) {
        noteVectoring(cpu, v, e, t);
        throw STOP_BEFORE;
      }
      if (v === Vector.DF) return 'triple-fault';
      const first = v, second = f.vector;
      const firstContrib = CONTRIBUTORY.has(first), secondContrib = CONTRIBUTORY.has(second);
      if ((firstContrib && secondContrib) || (first === Vector.PF && (secondContrib || second === Vector.PF))) {
        v = Vector.DF;
        e = 0;
      } else {
        v = second;
        e = f.errorCode;
      }
      soft = false;
      t = EventType.HARDWARE_EXCEPTION;
    }
  }
}

/** Kinds of event, numbered as the VMX interruption types (SDM Vol. 3C, Table 25-17). */
export const enum EventType {
  EXTERNAL_INTERRUPT = 0, NMI = 2, HARDWARE_EXCEPTION = 3, SOFTWARE_INTERRUPT = 4,
  PRIVILEGED_SOFTWARE_EXCEPTION = 5, SOFTWARE_EXCEPTION = 6,
}

/** The event whose delivery a VM exit interrupted, in the IDT-vectoring information layout. */
function noteVectoring(cpu: Cpu, vector: number, errorCode: number, type: EventType): void {
  cpu.vectoringInfo = (0x80000000 | type << 8 | vector | (errorCode >= 0 ? 0x800 : 0)) | 0;
  cpu.vectoringError = errorCode >= 0 ? errorCode : 0;
}

function deliverOnce(cpu: Cpu, vector: number, errorCode: number, software: boolean, insn: Insn | undefined): void {
  if (vector === Vector.PF && !software) cpu.cr2 = cpu.pfAddress;
  if ((cpu.cr0 & 1) === 0) {
    deliverReal(cpu, vector);
  } else if (cpu.longModeActive) {
    deliverLong(cpu, vector, errorCode, software);
  } else {
    deliverProtected(cpu, vector, errorCode, software, insn);
  }
}

/** Real mode: IVT entry at IDTR.base + 4 * vector; push FLAGS, CS, IP (SDM Vol. 3A, 21.1.4). */
function deliverReal(cpu: Cpu, vector: number): void {
  const off = vector * 4;
  if (off + 3 > cpu.idtrLimit) throw new CpuFault(Vector.GP, 0, 'IVT entry beyond IDTR limit');
  const addr = Number(cpu.idtrBase & 0xffffffffn) + off;
  const entry = readSystem32(cpu, addr | 0, 0);
  const flags = getRflags(cpu);
  push(cpu, 2, flags & 0xffff, 0);
  push(cpu, 2, cpu.segSel[Seg.CS], 0);
  push(cpu, 2, cpu.ip[0] & 0xffff, 0);
  setRflags(cpu, flags & ~(Flag.IF | Flag.TF | Flag.AC));
  loadRealModeSegment(cpu, Seg.CS, entry >>> 16);
  cpu.ip[0] = entry & 0xffff;
  cpu.ip[1] = 0;
}

function gateFault(vector: number, software: boolean): number {
  return vector * 8 + 2 + (software ? 0 : 1);
}

/** Reads the target code segment of a gate and checks it (SDM Vol. 3A, 6.12.1). */
function gateTarget(cpu: Cpu, selector: number, vector: number, software: boolean) {
  const ext = software ? 0 : 1;
  if ((selector & 0xfffc) === 0) throw new CpuFault(Vector.GP, ext, 'null code selector in gate');
  const d = readDescriptor(cpu, selector);
  const ar = descriptorAr(d);
  if ((ar & Ar.S) === 0 || (ar & 8) === 0) throw new CpuFault(Vector.GP, (selector & 0xfffc) | ext, 'gate target is not code');
  const dpl = (ar >> 5) & 3;
  if (dpl > cpu.cpl) throw new CpuFault(Vector.GP, (selector & 0xfffc) | ext, 'gate target DPL above CPL');
  if ((ar & Ar.P) === 0) throw new CpuFault(Vector.NP, (selector & 0xfffc) | ext, 'gate target not present');
  void vector;
  const conforming = (ar & 4) !== 0;
  return { d, newCpl: conforming ? cpu.cpl : dpl };
}

/** IA-32e mode: 16-byte gates, 64-bit pushes, RSP from the TSS or IST (SDM Vol. 3A, 6.14). */
function deliverLong(cpu: Cpu, vector: number, errorCode: number, software: boolean): void {
  const off = vector * 16;
  if (off + 15 > cpu.idtrLimit) throw new CpuFault(Vector.GP, gateFault(vector, software), 'IDT entry beyond limit');
  const base = cpu.idtrBase + BigInt(off);
  const w0 = readSystem64(cpu, base);
  const w1 = readSystem64(cpu, base + 8n);
  const type = Number((w0 >> 40n) & 0xfn);
  const dpl = Number((w0 >> 45n) & 3n);
  const present = ((w0 >> 47n) & 1n) !== 0n;
  if (type !== 0xe && type !== 0xf) throw new CpuFault(Vector.GP, gateFault(vector, software), 'not a 64-bit interrupt or trap gate');
  if (software && dpl < cpu.cpl) throw new CpuFault(Vector.GP, gateFault(vector, software), 'gate DPL below CPL');
  if (!present) throw new CpuFault(Vector.NP, gateFault(vector, software), 'gate not present');
  const selector = Number((w0 >> 16n) & 0xffffn);
  const ist = Number((w0 >> 32n) & 7n);
  const target = (w0 & 0xffffn) | (((w0 >> 48n) & 0xffffn) << 16n) | ((w1 & 0xffffffffn) << 32n);
  const { d, newCpl } = gateTarget(cpu, selector, vector, software);
  if ((descriptorAr(d) & Ar.L) === 0 || (descriptorAr(d) & Ar.DB) !== 0) throw new CpuFault(Vector.GP, (selector & 0xfffc) | (software ? 0 : 1), 'gate target is not a 64-bit code segment');

  const oldSs = cpu.segSel[Seg.SS];
  const oldRsp = cpu.getReg(4);
  const oldCs = cpu.segSel[Seg.CS];
  const oldRip = cpu.rip;
  const oldFlags = getRflags(cpu);
  let rsp = oldRsp;
  const switching = newCpl < cpu.cpl;
  if (switching || ist !== 0) {
    const tss = cpu.segmentBase(Seg.TR);
    const slot = ist !== 0 ? 36 + 8 * (ist - 1) : 4 + 8 * newCpl;
    if (slot + 7 > cpu.segLimit[Seg.TR]) throw new CpuFault(Vector.TS, cpu.segSel[Seg.TR] & 0xfffc, 'TSS too small');
    rsp = readSystem64(cpu, tss + BigInt(slot));
  }
  rsp &= ~0xfn;
  const savedCpl = cpu.cpl;
  cpu.cpl = newCpl;
  try {
    // 64-bit pushes even when the interrupted code ran in compatibility mode
    let sp = rsp;
    const pushq = (value: bigint) => {
      sp = (sp - 8n) & 0xffffffffffffffffn;
      cpu.write64(Number(sp & 0xffffffffn) | 0, Number(sp >> 32n) | 0, Number(value & 0xffffffffn) | 0, Number((value >> 32n) & 0xffffffffn) | 0);
    };
    pushq(BigInt(oldSs));
    pushq(oldRsp);
    pushq(BigInt(oldFlags));
    pushq(BigInt(oldCs));
    pushq(oldRip);
    if (errorCode >= 0) pushq(BigInt(errorCode));
    cpu.setReg(4, sp);
  } catch (f) {
    cpu.cpl = savedCpl;
    cpu.setReg(4, oldRsp);
    throw f;
  }
  if (switching) {
    cpu.segSel[Seg.SS] = newCpl;
    cpu.segBase[2 * Seg.SS] = 0;
    cpu.segBase[2 * Seg.SS + 1] = 0;
    cpu.segLimit[Seg.SS] = 0xffffffff;
    cpu.segAr[Seg.SS] = Ar.UNUSABLE | Ar.S | 0x3 | (newCpl << Ar.DPL_SHIFT) | Ar.P | Ar.DB | Ar.G;
  }
  loadSegmentCache(cpu, Seg.CS, (selector & 0xfffc) | newCpl, d);
  cpu.rip = target;
  let flags = oldFlags & ~(Flag.TF | Flag.NT | Flag.RF | Flag.VM);
  if (type === 0xe) flags &= ~Flag.IF;
  setRflags(cpu, flags);
}

/** Protected mode: 8-byte gates; 32- or 16-bit pushes by gate size (SDM Vol. 3A, 6.12). */
function deliverProtected(cpu: Cpu, vector: number, errorCode: number, software: boolean, insn: Insn | undefined): void {
  const off = vector * 8;
  if (off + 7 > cpu.idtrLimit) throw new CpuFault(Vector.GP, gateFault(vector, software), 'IDT entry beyond limit');
  const base = Number(cpu.idtrBase & 0xffffffffn) + off;
  const lo = readSystem32(cpu, base | 0, 0);
  const hi = readSystem32(cpu, (base + 4) | 0, 0);
  const type = (hi >>> 8) & 0x1f;
  const dpl = (hi >>> 13) & 3;
  const present = (hi & 0x8000) !== 0;
  const gateSize = type === 0xe || type === 0xf ? 4 : type === 0x6 || type === 0x7 ? 2 : 0;
  if (gateSize === 0 && type !== SysType.TASK_GATE) throw new CpuFault(Vector.GP, gateFault(vector, software), 'not an interrupt, trap or task gate');
  if (software && dpl < cpu.cpl) throw new CpuFault(Vector.GP, gateFault(vector, software), 'gate DPL below CPL');
  if (!present) throw new CpuFault(Vector.NP, gateFault(vector, software), 'gate not present');
  if (type === SysType.TASK_GATE) {
    switchTaskForEvent(cpu, lo, errorCode, software ? 0 : 1, insn);
    return;
  }
  const selector = lo >>> 16;
  const target = gateSize === 4 ? ((lo & 0xffff) | (hi & 0xffff0000)) >>> 0 : lo & 0xffff;
  const { d, newCpl } = gateTarget(cpu, selector, vector, software);

  const oldSs = cpu.segSel[Seg.SS];
  const oldEsp = cpu.r[8];
  const oldCs = cpu.segSel[Seg.CS];
  const oldEip = cpu.ip[0];
  const oldFlags = getRflags(cpu);
  const savedCpl = cpu.cpl;
  const saved = { sel: oldSs, baseLo: cpu.segBase[2 * Seg.SS], limit: cpu.segLimit[Seg.SS], ar: cpu.segAr[Seg.SS] };
  try {
    if (newCpl < cpu.cpl) {
      const tss = cpu.segmentBase(Seg.TR);
      const tssBase = Number(tss & 0xffffffffn);
      const esp = readSystem32(cpu, (tssBase + 4 + 8 * newCpl) | 0, 0);
      const ss = readSystem32(cpu, (tssBase + 8 + 8 * newCpl) | 0, 0) & 0xffff;
      const sd = readDescriptor(cpu, ss, Vector.TS);
      cpu.cpl = newCpl;
      loadSegmentCache(cpu, Seg.SS, ss, sd);
      cpu.r[8] = esp;
      push(cpu, gateSize, oldSs, 0);
      push(cpu, gateSize, oldEsp, 0);
    }
    push(cpu, gateSize, oldFlags, 0);
    push(cpu, gateSize, oldCs, 0);
    push(cpu, gateSize, oldEip, 0);
    if (errorCode >= 0) push(cpu, gateSize, errorCode, 0);
  } catch (f) {
    cpu.cpl = savedCpl;
    cpu.segSel[Seg.SS] = saved.sel;
    cpu.segBase[2 * Seg.SS] = saved.baseLo;
    cpu.segLimit[Seg.SS] = saved.limit;
    cpu.segAr[Seg.SS] = saved.ar;
    cpu.r[8] = oldEsp;
    throw f;
  }
  cpu.cpl = newCpl;
  loadSegmentCache(cpu, Seg.CS, (selector & 0xfffc) | newCpl, d);
  cpu.ip[0] = target | 0;
  cpu.ip[1] = 0;
  let flags = oldFlags & ~(Flag.TF | Flag.NT | Flag.RF | Flag.VM);
  if ((type & 1) === 0) flags &= ~Flag.IF;
  setRflags(cpu, flags);
}
