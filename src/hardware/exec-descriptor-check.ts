// LAR, LSL, VERR and VERW: unprivileged questions about a segment selector, answered in ZF
// (SDM Vol. 2A "LAR", "LSL"; Vol. 2B "VERR/VERW"). None of them faults on a bad selector:
// a null selector, one beyond the GDT/LDT limit, a type the instruction does not accept or a
// descriptor the current privilege cannot see all just clear ZF and leave the destination.

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Ar, Flag, Seg } from './cpu-state';
import { getStatusFlags, setStatusFlags } from './flags';
import { Insn } from './insn';
import { readRm, writeReg } from './operands';
import { Descriptor, descriptorAr, descriptorLimit, readDescriptor, readSystem32 } from './segments';

const typeSet = (...types: number[]): number => types.reduce((m, t) => m | (1 << t), 0);

/**
 * System-descriptor types (S = 0) each instruction accepts, as bit sets over the 4-bit type.
 * Code and data segments are always accepted. SDM Vol. 2A, LAR Table "Segment and Gate Types"
 * and LSL Table "Segment and Gate Descriptor Types", protected-mode and IA-32e columns. (The
 * IA-32e column for LSL lists type 0, "upper 8 bytes of a 16-byte descriptor", as valid.)
 */
export const SYSTEM_TYPES_ACCEPTED = {
  lar: { legacy: typeSet(0x1, 0x2, 0x3, 0x4, 0x5, 0x9, 0xb, 0xc), ia32e: typeSet(0x9, 0xb, 0xc) },
  lsl: { legacy: typeSet(0x1, 0x2, 0x3, 0x9, 0xb), ia32e: typeSet(0x0, 0x2, 0x9, 0xb) },
} as const;

/** LAR's view of the descriptor's second doubleword by operand size (bits 19:16 read as 0). */
const LAR_MASK_16 = 0xff00;
const LAR_MASK_32 = 0x00f0ff00;

function requireProtectedMode(c: Cpu, i: Insn): void {
  if ((c.cr0 & 1) === 0 || (c.flagsOther & Flag.VM) !== 0) {
    throw new CpuFault(Vector.UD, -1, `${i.mnemonic.toUpperCase()} in real or virtual-8086 mode`);
  }
}

function setZf(c: Cpu, zf: boolean): void {
  const f = getStatusFlags(c) & ~Flag.ZF;
  setStatusFlags(c, zf ? f | Flag.ZF : f);
}

/** Whether `bytes` bytes of the entry a selector names lie inside its descriptor table. */
function entryInTable(c: Cpu, selector: number, bytes: number): boolean {
  const index = selector & 0xfff8;
  if ((selector & 4) !== 0) {
    if ((c.segAr[Seg.LDTR] & Ar.UNUSABLE) !== 0 || (c.segSel[Seg.LDTR] & 0xfffc) === 0) return false;
    return index + bytes - 1 <= c.segLimit[Seg.LDTR];
  }
  return index + bytes - 1 <= c.gdtrLimit;
}

/** The descriptor a non-null selector names, or undefined when it lies outside its table. */
function lookUp(c: Cpu, selector: number): Descriptor | undefined {
  if ((selector & 0xfffc) === 0 || !entryInTable(c, selector, 8)) return undefined;
  return readDescriptor(c, selector);
}

/** DPL >= CPL and DPL >= RPL, which conforming code segments need not meet. */
function visible(c: Cpu, selector: number, ar: number): boolean {
  const conformingCode = (ar & Ar.S) !== 0 && (ar & 0xc) === 0xc;
  if (conformingCode) return true;
  const dpl = (ar >> Ar.DPL_SHIFT) & 3;
  return dpl >= c.cpl && dpl >= (selector & 3);
}

/**
 * In IA-32e mode LDT, TSS and call-gate descriptors are 16 bytes: the second half must also
 * lie inside the table, and its type field must be zero (as for 64-bit call gates, SDM
 * Vol. 3A, 5.8.3.1; the AMD64 manual states the same for LAR and LSL).
 */
function wideSystemOk(c: Cpu, selector: number): boolean {
  if (!entryInTable(c, selector, 16)) return false;
  const base = (selector & 4) !== 0 ? c.segmentBase(Seg.LDTR) : c.gdtrBase;
  const at = base + BigInt((selector & 0xfff8) + 12);
  const upper = readSystem32(c, Number(at & 0xffffffffn) | 0, Number((at >> 32n) & 0xffffffffn) | 0);
  return ((upper >>> 8) & 0x1f) === 0;
}

/** The descriptor if LAR (which = 'lar') or LSL may report on it, else undefined. */
function acceptedFor(c: Cpu, selector: number, which: 'lar' | 'lsl'): Descriptor | undefined {
  const d = lookUp(c, selector);
  if (d === undefined) return undefined;
  const ar = descriptorAr(d);
  if ((ar & Ar.S) === 0) {
    const type = ar & Ar.TYPE;
    const table = SYSTEM_TYPES_ACCEPTED[which];
    if ((((c.longModeActive ? table.ia32e : table.legacy) >> type) & 1) === 0) return undefined;
    if (c.longModeActive && type !== 0 && !wideSystemOk(c, selector)) return undefined;
  }
  return visible(c, selector, ar) ? d : undefined;
}

/** LAR r, r/m16 (0F 02) and LSL r, r/m16 (0F 03): i.imm2 is 0 for LAR, 1 for LSL. */
export function larLsl(c: Cpu, i: Insn): void {
  requireProtectedMode(c, i);
  const selector = readRm(c, i, 2);
  const lsl = i.imm2 === 1;
  const d = acceptedFor(c, selector, lsl ? 'lsl' : 'lar');
  if (d === undefined) { setZf(c, false); return; }
  const value = lsl ? descriptorLimit(d) : d.hi & (i.size === 2 ? LAR_MASK_16 : LAR_MASK_32);
  writeReg(c, i.reg, i.size, i.size === 2 ? value & 0xffff : value | 0, 0);
  setZf(c, true);
}

/** VERR r/m16: ZF = 1 for a visible data segment or readable code segment. */
export function verr(c: Cpu, i: Insn): void {
  requireProtectedMode(c, i);
  const selector = readRm(c, i, 2);
  const d = lookUp(c, selector);
  const ar = d === undefined ? 0 : descriptorAr(d);
  const readable = (ar & 8) === 0 || (ar & 2) !== 0;
  setZf(c, d !== undefined && (ar & Ar.S) !== 0 && readable && visible(c, selector, ar));
}

/** VERW r/m16: ZF = 1 for a visible writable data segment (code is never writable). */
export function verw(c: Cpu, i: Insn): void {
  requireProtectedMode(c, i);
  const selector = readRm(c, i, 2);
  const d = lookUp(c, selector);
  const ar = d === undefined ? 0 : descriptorAr(d);
  const writable = (ar & 0xa) === 0x2;
  setZf(c, d !== undefined && (ar & Ar.S) !== 0 && writable && visible(c, selector, ar));
}

