// Task switching with 32-bit TSSs (SDM Vol. 3A, chapter 8): JMP or CALL to a TSS descriptor or
// a task gate, IRET with EFLAGS.NT set (return to the task in the back link), and interrupts or
// exceptions through a task gate in the IDT. Busy flags, NT and the back link, CR0.TS, the
// saved and loaded state (CR3 and LDTR included) and the #TS checks follow 8.3 and Table 8-1.
// IA-32e mode has no task switching: its callers raise #GP before getting here.
//
// VMX: a task switch is a VM-exit point (SDM Vol. 3C, 26.2, exit reason TASK_SWITCH). An
// instruction-caused switch asks `cpu.intercept(Intercept.TASK_SWITCH, insn)` once the target
// is known to be a TSS or task gate, before any state changes; an event-caused one (task gate in
// the IDT) asks the same hook from the delivery path, with the faulting or interrupting
// instruction when there is one (`EVENT_INSN` otherwise), also before any state changes.

import type { Cpu } from './cpu';
import { CommittedFault, CpuFault, Intercept, Vector } from './cpu';
import { Ar, Flag, Seg } from './cpu-state';
import { getRflags, setRflags } from './flags';
import { Insn } from './insn';
import {
  Descriptor, descriptorAr, descriptorLimit, loadNullSegment, loadRealModeSegment, loadSegmentCache, readDescriptor, readSystem32,
  writeSystem32,
} from './segments';
import { push } from './stack';
import { SysType, TSS_BUSY_BIT } from './system-descriptors';

/** Byte offsets of the 32-bit TSS (SDM Vol. 3A, 8.2.1, Figure 8-2). */
export const TSS32 = {
  LINK: 0x00, ESP0: 0x04, SS0: 0x08, CR3: 0x1c, EIP: 0x20, EFLAGS: 0x24,
  /** EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI at GPR + 4n (register number n). */
  GPR: 0x28,
  /** ES, CS, SS, DS, FS, GS at SEG + 4n (segment register number n). */
  SEG: 0x48,
  LDT: 0x60, TRAP: 0x64,
} as const;
/** A 32-bit TSS descriptor's limit must cover at least 0x67 bytes (SDM Vol. 3A, 8.2.2). */
export const TSS32_MIN_LIMIT = 0x67;

/** What caused a task switch: it decides busy flags, NT and the back link (SDM Vol. 3A, Table 8-2). */
export const enum TaskSource { JMP, CALL, IRET, EVENT }

/** Stands for "no instruction" when an event-caused task switch asks the intercept hook. */
export const EVENT_INSN = new Insn(() => { /* never executed */ });
EVENT_INSN.mnemonic = '(event)';

/** JMP/CALL to a TSS descriptor or through a task gate (SDM Vol. 2A "JMP", "CALL": TASK-GATE and TASK-STATE-SEGMENT). */
export function switchTaskByDescriptor(c: Cpu, kind: 'jmp' | 'call', sel: number, d: Descriptor, i: Insn): void {
  const ar = descriptorAr(d);
  const dpl = (ar >> 5) & 3;
  const err = sel & 0xfffc;
  c.taskSwitchExit = (sel & 0xffff) | (kind === 'jmp' ? 2 : 0) << 30; // VM-exit qualification (Table 28-2)
  c.intercept(Intercept.TASK_SWITCH, i);
  if (dpl < c.cpl || dpl < (sel & 3)) throw new CpuFault(Vector.GP, err, 'TSS or task gate DPL below CPL or RPL');
  if ((ar & Ar.P) === 0) throw new CpuFault(Vector.NP, err, 'TSS or task gate not present');
  let tssSel = sel, tss = d;
  if ((ar & 0xf) === SysType.TASK_GATE) {
    tssSel = d.lo >>> 16;
    tss = readGdtTss(c, tssSel, Vector.GP);
    const tar = descriptorAr(tss);
    if ((tar & 0xf) !== SysType.TSS32_AVAILABLE && (tar & 0xf) !== SysType.TSS16_AVAILABLE) throw new CpuFault(Vector.GP, tssSel & 0xfffc, 'task gate names a busy TSS or no TSS');
    if ((tar & Ar.P) === 0) throw new CpuFault(Vector.NP, tssSel & 0xfffc, 'TSS not present');
  }
  taskSwitch(c, tssSel, tss, kind === 'jmp' ? TaskSource.JMP : TaskSource.CALL, i.nextLo, -1, 0);
}

/** IRET with NT = 1: return to the task whose selector is in the current TSS's back link (SDM Vol. 3A, 8.4). */
export function taskReturn(c: Cpu, i: Insn): void {
  const link = readSystem32(c, Number(c.segmentBase(Seg.TR) & 0xffffffffn) | 0, 0) & 0xffff;
  c.taskSwitchExit = link | 1 << 30;
  c.intercept(Intercept.TASK_SWITCH, i);
  const d = readGdtTss(c, link, Vector.TS);
  const ar = descriptorAr(d);
  if ((ar & 0xf) !== SysType.TSS32_BUSY && (ar & 0xf) !== SysType.TSS16_BUSY) throw new CpuFault(Vector.TS, link & 0xfffc, 'IRET back link is not a busy TSS');
  if ((ar & Ar.P) === 0) throw new CpuFault(Vector.NP, link & 0xfffc, 'IRET back-link TSS not present');
  taskSwitch(c, link, d, TaskSource.IRET, i.nextLo, -1, 0);
}

/**
 * An interrupt or exception through a task gate in the IDT (SDM Vol. 3A, 6.12.2): the TSS the
 * gate names must be an available TSS in the GDT; an error code goes on the new task's stack.
 * `ext` is the EXT bit for error codes of faults this raises (1 unless INT n caused it).
 */
export function switchTaskForEvent(c: Cpu, gateLo: number, errorCode: number, ext: number, insn: Insn | undefined): void {
  const tssSel = gateLo >>> 16;
  c.taskSwitchExit = (tssSel | 3 << 30) >>> 0;
  if ((c.interceptMask & Intercept.TASK_SWITCH) !== 0) c.intercept(Intercept.TASK_SWITCH, insn ?? EVENT_INSN);
  const d = readGdtTss(c, tssSel, Vector.TS, ext);
  const ar = descriptorAr(d);
  if ((ar & 0xf) !== SysType.TSS32_AVAILABLE && (ar & 0xf) !== SysType.TSS16_AVAILABLE) throw new CpuFault(Vector.TS, (tssSel & 0xfffc) | ext, 'task gate names a busy TSS or no TSS');
  if ((ar & Ar.P) === 0) throw new CpuFault(Vector.NP, (tssSel & 0xfffc) | ext, 'TSS not present');
  taskSwitch(c, tssSel, d, TaskSource.EVENT, c.ip[0], errorCode, ext);
}

/** A TSS selector must name the GDT (TI = 0) within its limit. */
function readGdtTss(c: Cpu, sel: number, vector: number, ext = 0): Descriptor {
  if ((sel & 4) !== 0 || (sel & 0xfffc) === 0) throw new CpuFault(vector, (sel & 0xfffc) | ext, 'TSS selector is null or in the LDT');
  return readDescriptor(c, sel, vector);
}

function linearOf(base: number, off: number): number {
  return (base + off) | 0;
}

/** Sets or clears the busy flag of a TSS descriptor in the GDT. */
function setBusy(c: Cpu, sel: number, busy: boolean): void {
  const at = (Number(c.gdtrBase & 0xffffffffn) + (sel & 0xfff8) + 4) | 0;
  const hi = readSystem32(c, at, 0);
  writeSystem32(c, at, 0, busy ? hi | (TSS_BUSY_BIT << 8) : hi & ~(TSS_BUSY_BIT << 8));
}

/**
 * The task switch proper (SDM Vol. 3A, 8.3 steps 3-13). Checks that can fail in the old
 * task's context come first; once the old state is saved and TR points to the new task, a
 * failing check raises a CommittedFault, delivered in the new task's context.
 */
function taskSwitch(c: Cpu, newSel: number, newDesc: Descriptor, source: TaskSource, savedEip: number, errorCode: number, ext: number): void {
  if ((c.longModeActive)) throw new CpuFault(Vector.GP, 0, 'task switch in IA-32e mode');
  const newAr = descriptorAr(newDesc);
  const err = (newSel & 0xfffc) | ext;
  if ((newAr & 0x8) === 0) throw new CpuFault(Vector.TS, err, '16-bit TSSs are not modelled');
  if (descriptorLimit(newDesc) < TSS32_MIN_LIMIT) throw new CpuFault(Vector.TS, err, 'new TSS limit below 0x67');
  const oldSel = c.segSel[Seg.TR];
  const oldBase = Number(c.segmentBase(Seg.TR) & 0xffffffffn);
  if (c.segLimit[Seg.TR] < TSS32_MIN_LIMIT) throw new CpuFault(Vector.TS, (oldSel & 0xfffc) | ext, 'current TSS limit below 0x67');
  const newBase = ((newDesc.lo >>> 16) | ((newDesc.hi & 0xff) << 16) | (newDesc.hi & 0xff000000)) >>> 0;

  // read the whole new TSS first: a page fault here leaves the old task untouched
  const t = new Int32Array((TSS32_MIN_LIMIT + 1) / 4);
  for (let k = 0; k < t.length; k++) t[k] = readSystem32(c, linearOf(newBase, 4 * k), 0);
  const field = (off: number) => t[off >> 2];

  // save the old task's dynamic state (CR3 and LDT are static fields and are not written)
  let flags = getRflags(c);
  if (source === TaskSource.IRET) flags &= ~Flag.NT;
  writeSystem32(c, linearOf(oldBase, TSS32.EIP), 0, savedEip);
  writeSystem32(c, linearOf(oldBase, TSS32.EFLAGS), 0, flags);
  for (let n = 0; n < 8; n++) writeSystem32(c, linearOf(oldBase, TSS32.GPR + 4 * n), 0, c.r[2 * n]);
  for (let s = 0; s < 6; s++) writeSystem32(c, linearOf(oldBase, TSS32.SEG + 4 * s), 0, c.segSel[s]);
  if (source === TaskSource.JMP || source === TaskSource.IRET) setBusy(c, oldSel, false);
  if (source === TaskSource.CALL || source === TaskSource.EVENT) writeSystem32(c, linearOf(newBase, TSS32.LINK), 0, oldSel);
  if (source !== TaskSource.IRET) setBusy(c, newSel, true);

  // TR now names the new task; CR0.TS tells the OS the FPU state belongs to the old one
  loadSegmentCache(c, Seg.TR, newSel, { lo: newDesc.lo, hi: newDesc.hi | (TSS_BUSY_BIT << 8) });
  c.cr0 |= 0x8;

  // load the new task's state: registers first, then CR3, then descriptors with their checks
  let newFlags = field(TSS32.EFLAGS) | 0x2;
  if (source === TaskSource.CALL || source === TaskSource.EVENT) newFlags |= Flag.NT;
  c.ip[0] = field(TSS32.EIP);
  c.ip[1] = 0;
  setRflags(c, newFlags);
  for (let n = 0; n < 8; n++) { c.r[2 * n] = field(TSS32.GPR + 4 * n); c.r[2 * n + 1] = 0; }
  if ((c.cr0 & 0x80000000) !== 0) {
    try {
      c.writeCr(3, BigInt(field(TSS32.CR3) >>> 0));
    } catch (e) {
      if (e instanceof CpuFault) throw new CommittedFault(Vector.TS, err, `new task CR3: ${e.detail}`);
      throw e;
    }
  } else {
    c.cr3 = BigInt(field(TSS32.CR3) >>> 0);
  }
  const sels = [0, 1, 2, 3, 4, 5].map((s) => field(TSS32.SEG + 4 * s) & 0xffff);
  for (let s = 0; s < 6; s++) c.segSel[s] = sels[s];
  c.segSel[Seg.LDTR] = field(TSS32.LDT) & 0xffff;
  c.stopBlock = true;

  loadTaskSegments(c, sels, field(TSS32.LDT) & 0xffff, (newFlags & Flag.VM) !== 0, ext);
  if (errorCode >= 0) {
    try {
      push(c, 4, errorCode, 0);
    } catch (e) {
      if (e instanceof CpuFault && !(e instanceof CommittedFault)) throw new CommittedFault(e.vector, e.errorCode, e.detail);
      throw e;
    }
  }
  if ((newFlags & Flag.VM) === 0 && (c.ip[0] >>> 0) > c.segLimit[Seg.CS]) throw new CommittedFault(Vector.GP, 0, 'new task EIP beyond its CS limit');
  if ((field(TSS32.TRAP) & 1) !== 0) {
    // the debug trap flag: #DB once the switch is complete, before the new task's first
    // instruction, with DR6.BT saying why (SDM Vol. 3A, 8.2.1 and 18.3.1.5)
    c.dr[6] |= 0x8000n;
    throw new CommittedFault(Vector.DB, -1, 'TSS debug trap flag');
  }
}

function committed(vector: number, sel: number, ext: number, why: string): CommittedFault {
  return new CommittedFault(vector, (sel & 0xfffc) | ext, why);
}

/** Loads LDTR and the six segment registers of the new task with the checks of Table 8-1. */
function loadTaskSegments(c: Cpu, sels: number[], ldt: number, v86: boolean, ext: number): void {
  // LDTR: null leaves it unusable; otherwise an LDT descriptor in the GDT
  if ((ldt & 0xfffc) === 0) {
    loadNullSegment(c, Seg.LDTR, ldt);
  } else {
    if ((ldt & 4) !== 0) throw committed(Vector.TS, ldt, ext, 'new task LDT selector is in an LDT');
    const d = readCommitted(c, ldt, ext);
    const ar = descriptorAr(d);
    if ((ar & Ar.S) !== 0 || (ar & 0xf) !== SysType.LDT || (ar & Ar.P) === 0) throw committed(Vector.TS, ldt, ext, 'new task LDT descriptor invalid or not present');
    loadSegmentCache(c, Seg.LDTR, ldt, d);
  }
  if (v86) {
    for (let s = 0; s < 6; s++) loadRealModeSegment(c, s, sels[s]);
    c.cpl = 3;
    return;
  }
  // CS decides the new CPL
  const cs = sels[Seg.CS];
  if ((cs & 0xfffc) === 0) throw committed(Vector.TS, cs, ext, 'new task CS is null');
  const cd = readCommitted(c, cs, ext);
  const car = descriptorAr(cd);
  const cdpl = (car >> 5) & 3;
  if ((car & Ar.S) === 0 || (car & 8) === 0) throw committed(Vector.TS, cs, ext, 'new task CS is not a code segment');
  if ((car & 4) !== 0 ? cdpl > (cs & 3) : cdpl !== (cs & 3)) throw committed(Vector.TS, cs, ext, 'new task CS DPL does not match its RPL');
  if ((car & Ar.P) === 0) throw committed(Vector.NP, cs, ext, 'new task CS not present');
  c.cpl = cs & 3;
  loadSegmentCache(c, Seg.CS, cs, cd);

  const ss = sels[Seg.SS];
  if ((ss & 0xfffc) === 0) throw committed(Vector.TS, ss, ext, 'new task SS is null');
  const sd = readCommitted(c, ss, ext);
  const sar = descriptorAr(sd);
  if ((sar & Ar.S) === 0 || (sar & 0xa) !== 0x2 || ((sar >> 5) & 3) !== c.cpl || (ss & 3) !== c.cpl) throw committed(Vector.TS, ss, ext, 'new task SS is not writable data at the new CPL');
  if ((sar & Ar.P) === 0) throw committed(Vector.SS, ss, ext, 'new task SS not present');
  loadSegmentCache(c, Seg.SS, ss, sd);

  for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS]) {
    const sel = sels[s];
    if ((sel & 0xfffc) === 0) { loadNullSegment(c, s, sel); continue; }
    const d = readCommitted(c, sel, ext);
    const ar = descriptorAr(d);
    const code = (ar & 8) !== 0;
    if ((ar & Ar.S) === 0 || (code && (ar & 2) === 0)) throw committed(Vector.TS, sel, ext, 'new task data segment is not data or readable code');
    const dpl = (ar >> 5) & 3;
    if (!(code && (ar & 4) !== 0) && (dpl < c.cpl || dpl < (sel & 3))) throw committed(Vector.TS, sel, ext, 'new task data segment DPL below CPL or RPL');
    if ((ar & Ar.P) === 0) throw committed(Vector.NP, sel, ext, 'new task data segment not present');
    loadSegmentCache(c, s, sel, d);
  }
}

/** readDescriptor for the new task's selectors: beyond the table limit is #TS, in the new context. */
function readCommitted(c: Cpu, sel: number, ext: number): Descriptor {
  try {
    return readDescriptor(c, sel, Vector.TS);
  } catch (e) {
    if (e instanceof CpuFault && !(e instanceof CommittedFault)) throw new CommittedFault(e.vector, e.vector === Vector.TS ? (sel & 0xfffc) | ext : e.errorCode, e.detail);
    throw e;
  }
}
