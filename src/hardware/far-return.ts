// RET far (CB, CA imm16) in protected mode: to the same privilege level, or to an outer one
// with SS:ESP popped from the called procedure's stack and the data segment registers the
// outer level may not use made null (SDM Vol. 2B "RET" operation; Vol. 3A, 5.8.6).

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Ar, Seg } from './cpu-state';
import { Insn } from './insn';
import { descriptorAr, descriptorLimit, loadNullSegment, loadSegmentCache, readDescriptor } from './segments';
import { adjustSp, pop } from './stack';

export function farReturn(c: Cpu, i: Insn): void {
  const size = i.size;
  const imm = i.immLo & 0xffff;
  const offLo = pop(c, size), offHi = size === 8 ? c.hi : 0;
  const sel = pop(c, size) & 0xffff;
  const err = sel & 0xfffc;
  if (err === 0) throw new CpuFault(Vector.GP, 0, 'far return to a null selector');
  const rpl = sel & 3;
  if (rpl < c.cpl) throw new CpuFault(Vector.GP, err, 'far return to a more privileged level');
  const d = readDescriptor(c, sel);
  const ar = descriptorAr(d);
  const dpl = (ar >> 5) & 3;
  if ((ar & Ar.S) === 0 || (ar & 8) === 0) throw new CpuFault(Vector.GP, err, 'far return to a non-code segment');
  if ((ar & 4) !== 0 ? dpl > rpl : dpl !== rpl) throw new CpuFault(Vector.GP, err, 'far return: code segment DPL does not match the selector RPL');
  if ((ar & Ar.P) === 0) throw new CpuFault(Vector.NP, err, 'far return to a segment not present');
  const to64 = c.longModeActive && (ar & Ar.L) !== 0;
  if (!to64 && (offLo >>> 0) > descriptorLimit(d)) throw new CpuFault(Vector.GP, 0, 'far return beyond the CS limit');
  if (to64 && size === 8 && ((offHi << 16) >> 16) !== offHi) throw new CpuFault(Vector.GP, 0, 'far return to a non-canonical RIP');

  if (rpl === c.cpl) {
    loadSegmentCache(c, Seg.CS, sel, d);
    adjustSp(c, imm);
  } else {
    adjustSp(c, imm); // release the parameters on the called procedure's stack
    const spLo = pop(c, size), spHi = size === 8 ? c.hi : 0;
    const ss = pop(c, size) & 0xffff;
    const ssErr = ss & 0xfffc;
    let sd;
    if (ssErr === 0) {
      // only IA-32e mode returning to 64-bit code at CPL < 3 may have a null SS (SDM RET)
      if (!(to64 && rpl !== 3)) throw new CpuFault(Vector.GP, 0, 'far return with a null SS');
    } else {
      sd = readDescriptor(c, ss);
      const sar = descriptorAr(sd);
      if ((ss & 3) !== rpl || (sar & Ar.S) === 0 || (sar & 0xa) !== 0x2 || ((sar >> 5) & 3) !== rpl) {
        throw new CpuFault(Vector.GP, ssErr, 'far return: stack segment not writable data at the return privilege');
      }
      if ((sar & Ar.P) === 0) throw new CpuFault(Vector.SS, ssErr, 'far return: stack segment not present');
    }
    c.cpl = rpl;
    loadSegmentCache(c, Seg.CS, sel, d);
    if (sd === undefined) {
      c.segSel[Seg.SS] = ss;
      c.segBase[2 * Seg.SS] = 0; c.segBase[2 * Seg.SS + 1] = 0;
      c.segLimit[Seg.SS] = 0xffffffff;
      c.segAr[Seg.SS] = Ar.UNUSABLE | Ar.S | 0x3 | (rpl << Ar.DPL_SHIFT) | Ar.P | Ar.DB | Ar.G;
    } else {
      loadSegmentCache(c, Seg.SS, ss, sd);
    }
    if (size === 8) { c.r[8] = spLo; c.r[9] = spHi; } else if ((c.segAr[Seg.SS] & Ar.DB) !== 0 || c.longModeActive) { c.r[8] = spLo; c.r[9] = 0; } else c.r[8] = (c.r[8] & ~0xffff) | (spLo & 0xffff);
    adjustSp(c, imm); // and on the caller's stack
    nullOuterDataSegments(c);
  }
  c.ip[0] = size === 2 ? offLo & 0xffff : offLo;
  c.ip[1] = to64 && size === 8 ? offHi : 0;
}

/**
 * After a return to an outer level: ES, DS, FS and GS that hold data or non-conforming code
 * segments more privileged than the new CPL become null, so the outer procedure cannot use
 * them (SDM Vol. 2B "RET", "IRET": the segment registers are made invalid).
 */
export function nullOuterDataSegments(c: Cpu): void {
  for (const seg of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) {
    const ar = c.segAr[seg];
    if ((ar & Ar.UNUSABLE) !== 0) continue;
    const conformingCode = (ar & 0xc) === 0xc;
    if (!conformingCode && ((ar >> 5) & 3) < c.cpl) loadNullSegment(c, seg, 0);
  }
}
