// Segment descriptors (SDM Vol. 3A, 3.4.5) and loading them into the hidden part of a
// segment register. Access rights are kept in the VMCS layout (SDM Vol. 3C, 25.4.1).

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Ar, Seg } from './cpu-state';

/** A descriptor's two 32-bit words, as read from the GDT or LDT. */
export interface Descriptor { lo: number; hi: number }

export function descriptorBase(d: Descriptor): number {
  return ((d.lo >>> 16) | ((d.hi & 0xff) << 16) | (d.hi & 0xff000000)) >>> 0;
}

export function descriptorLimit(d: Descriptor): number {
  const raw = (d.lo & 0xffff) | (d.hi & 0xf0000);
  return (d.hi & 0x800000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
}

/** Access rights in the VMCS layout: type, S, DPL, P, AVL, L, D/B, G. */
export function descriptorAr(d: Descriptor): number {
  return (d.hi >>> 8) & 0xf0ff;
}

/** Reads 1, 2 or 4 bytes of a system table as a supervisor (implicit) access. */
function readSystem(cpu: Cpu, lo: number, hi: number, size: number): number {
  const saved = cpu.cpl;
  cpu.cpl = 0;
  cpu.systemAccess = true; // not a data read of the instruction: data watchpoints ignore it
  try {
    return cpu.read(lo, hi, size);
  } finally {
    cpu.cpl = saved;
    cpu.systemAccess = false;
  }
}

export function readSystem32(cpu: Cpu, lo: number, hi: number): number {
  return readSystem(cpu, lo, hi, 4);
}

/** A 16-bit system read (the TSS I/O map base and bitmap). */
export function readSystem16(cpu: Cpu, lo: number, hi: number): number {
  return readSystem(cpu, lo, hi, 2);
}

export function writeSystem32(cpu: Cpu, lo: number, hi: number, value: number): void {
  const saved = cpu.cpl;
  cpu.cpl = 0;
  try {
    cpu.write(lo, hi, 4, value);
  } finally {
    cpu.cpl = saved;
  }
}

/**
 * Reads the descriptor a selector names from the GDT or LDT. Throws `fault` (#GP by default)
 * with the selector as error code when it lies beyond the table limit.
 */
export function readDescriptor(cpu: Cpu, selector: number, fault: number = Vector.GP): Descriptor {
  const ldt = (selector & 4) !== 0;
  const index = selector & 0xfff8;
  let base: bigint, limit: number;
  if (ldt) {
    if ((cpu.segAr[Seg.LDTR] & Ar.UNUSABLE) !== 0 || (cpu.segSel[Seg.LDTR] & 0xfffc) === 0) throw new CpuFault(fault, selector & 0xfffc, 'LDT not loaded');
    base = cpu.segmentBase(Seg.LDTR);
    limit = cpu.segLimit[Seg.LDTR];
  } else {
    base = cpu.gdtrBase;
    limit = cpu.gdtrLimit;
  }
  if (index + 7 > limit) throw new CpuFault(fault, selector & 0xfffc, `selector 0x${selector.toString(16)} beyond table limit`);
  const addr = base + BigInt(index);
  const lo = Number(addr & 0xffffffffn) | 0;
  const hi = Number((addr >> 32n) & 0xffffffffn) | 0;
  const l2 = (lo + 4) | 0;
  return { lo: readSystem32(cpu, lo, hi), hi: readSystem32(cpu, l2, (l2 >>> 0) < (lo >>> 0) ? hi + 1 : hi) };
}

/** Sets the accessed bit of a descriptor in memory, as loading a segment does. */
export function markAccessed(cpu: Cpu, selector: number, d: Descriptor): void {
  if ((d.hi & 0x100) !== 0) return;
  d.hi |= 0x100;
  const base = (selector & 4) !== 0 ? cpu.segmentBase(Seg.LDTR) : cpu.gdtrBase;
  const addr = base + BigInt((selector & 0xfff8) + 4);
  writeSystem32(cpu, Number(addr & 0xffffffffn) | 0, Number((addr >> 32n) & 0xffffffffn) | 0, d.hi);
}

/** Loads the visible and hidden parts of a segment register from a descriptor. */
export function loadSegmentCache(cpu: Cpu, seg: number, selector: number, d: Descriptor, upperBase = 0): void {
  // loading a code or data segment sets its accessed bit, in the descriptor and the cache (SDM 3.4.5.1)
  if ((d.hi & 0x1000) !== 0 && seg < 6) markAccessed(cpu, selector, d);
  cpu.segSel[seg] = selector;
  cpu.segBase[2 * seg] = descriptorBase(d) | 0;
  cpu.segBase[2 * seg + 1] = upperBase;
  cpu.segLimit[seg] = descriptorLimit(d);
  cpu.segAr[seg] = descriptorAr(d);
}

/** Real-mode and virtual-8086 segment load: base = selector * 16, nothing else changes. */
export function loadRealModeSegment(cpu: Cpu, seg: number, selector: number): void {
  cpu.segSel[seg] = selector & 0xffff;
  cpu.segBase[2 * seg] = (selector & 0xffff) << 4;
  cpu.segBase[2 * seg + 1] = 0;
  if (seg === Seg.CS) cpu.segAr[seg] = (cpu.segAr[seg] & ~Ar.UNUSABLE) | Ar.P | Ar.S | 0xb;
}

/** A null selector loaded into a data segment register (protected mode): unusable. */
export function loadNullSegment(cpu: Cpu, seg: number, selector: number): void {
  cpu.segSel[seg] = selector;
  cpu.segBase[2 * seg] = 0;
  cpu.segBase[2 * seg + 1] = 0;
  cpu.segLimit[seg] = 0;
  cpu.segAr[seg] = Ar.UNUSABLE;
}

/**
 * MOV/POP to a data or stack segment register in protected mode, with the checks of
 * SDM Vol. 2B "MOV—Move" (protected-mode operation).
 */
export function loadDataSegment(cpu: Cpu, seg: number, selector: number): void {
  const rpl = selector & 3;
  if ((selector & 0xfffc) === 0) {
    if (seg === Seg.SS && !(cpu.in64BitMode && cpu.cpl !== 3 && rpl === cpu.cpl)) throw new CpuFault(Vector.GP, 0, 'null SS');
    loadNullSegment(cpu, seg, selector);
    return;
  }
  const d = readDescriptor(cpu, selector);
  const ar = descriptorAr(d);
  const dpl = (ar >> 5) & 3;
  const type = ar & 0xf;
  const err = selector & 0xfffc;
  if ((ar & Ar.S) === 0) throw new CpuFault(Vector.GP, err, 'system descriptor');
  if (seg === Seg.SS) {
    if (rpl !== cpu.cpl || dpl !== cpu.cpl || (type & 0xa) !== 0x2) throw new CpuFault(Vector.GP, err, 'bad stack segment');
    if ((ar & Ar.P) === 0) throw new CpuFault(Vector.SS, err, 'stack segment not present');
  } else {
    const code = (type & 8) !== 0;
    if (code && (type & 2) === 0) throw new CpuFault(Vector.GP, err, 'execute-only code segment');
    const conforming = code && (type & 4) !== 0;
    if (!conforming && (rpl > dpl || cpu.cpl > dpl)) throw new CpuFault(Vector.GP, err, 'privilege');
    if ((ar & Ar.P) === 0) throw new CpuFault(Vector.NP, err, 'segment not present');
  }
  markAccessed(cpu, selector, d);
  loadSegmentCache(cpu, seg, selector, d);
}

/** Reads a 64-bit value from a linear address given as bigint, as a supervisor access. */
export function readSystem64(cpu: Cpu, addr: bigint): bigint {
  const lo = Number(addr & 0xffffffffn) | 0;
  const hi = Number((addr >> 32n) & 0xffffffffn) | 0;
  const saved = cpu.cpl;
  cpu.cpl = 0;
  cpu.systemAccess = true;
  try {
    const l = cpu.read64(lo, hi);
    return (BigInt(cpu.hi >>> 0) << 32n) | BigInt(l >>> 0);
  } finally {
    cpu.cpl = saved;
    cpu.systemAccess = false;
  }
}

