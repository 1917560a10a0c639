// Decimal (BCD) arithmetic adjustments on AL/AH: DAA, DAS, AAA, AAS, AAM imm8, AAD imm8
// (SDM Vol. 2A, the instructions' pages). All six are #UD in 64-bit mode; the decoder sends
// them here only in 16- and 32-bit modes. The operand size (66 prefix) does not change them.
//
// Flags the SDM leaves undefined, and what this emulator leaves in them (software must not
// rely on it; the differential test masks exactly these):
//   DAA, DAS  OF                  cleared
//   AAA, AAS  OF SF ZF PF         OF cleared; SF, ZF, PF from the final AL
//   AAM, AAD  OF AF CF            cleared

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Flag, LazyOp } from './cpu-state';
import { getStatusFlags, recordFlags, setStatusFlags } from './flags';
import { Insn } from './insn';

/** SF, ZF and PF of a byte result, with CF, AF and OF clear (the lazy LOGIC record gives exactly these). */
function szpOf(c: Cpu, al: number): number {
  recordFlags(c, LazyOp.LOGIC, 1, al, 0, 0, 0, 0, 0);
  return getStatusFlags(c);
}

function writeAl(c: Cpu, al: number): void {
  c.r[0] = (c.r[0] & ~0xff) | (al & 0xff);
}

function writeAx(c: Cpu, ax: number): void {
  c.r[0] = (c.r[0] & ~0xffff) | (ax & 0xffff);
}

/** DAA: adjust AL after a packed-BCD addition. */
export function daa(c: Cpu): void {
  const f = getStatusFlags(c);
  const oldAl = c.r[0] & 0xff;
  const oldCf = (f & Flag.CF) !== 0;
  let al = oldAl;
  let flags = 0;
  if ((al & 0xf) > 9 || (f & Flag.AF) !== 0) {
    al += 6;
    // the carry out of AL + 6 only happens when oldAl > 0x99, which sets CF below anyway
    flags |= Flag.AF;
  }
  if (oldAl > 0x99 || oldCf) {
    al += 0x60;
    flags |= Flag.CF;
  }
  al &= 0xff;
  writeAl(c, al);
  setStatusFlags(c, szpOf(c, al) | flags);
}

/** DAS: adjust AL after a packed-BCD subtraction. */
export function das(c: Cpu): void {
  const f = getStatusFlags(c);
  const oldAl = c.r[0] & 0xff;
  const oldCf = (f & Flag.CF) !== 0;
  let al = oldAl;
  let flags = 0;
  if ((al & 0xf) > 9 || (f & Flag.AF) !== 0) {
    if (al < 6 || oldCf) flags |= Flag.CF; // old CF, or the borrow of AL - 6
    al -= 6;
    flags |= Flag.AF;
  }
  if (oldAl > 0x99 || oldCf) {
    al -= 0x60;
    flags |= Flag.CF;
  }
  al &= 0xff;
  writeAl(c, al);
  setStatusFlags(c, szpOf(c, al) | flags);
}

/** AAA: adjust AX after an unpacked-BCD addition (AX + 106H when adjusting, then AL &= 0FH). */
export function aaa(c: Cpu): void {
  const f = getStatusFlags(c);
  let ax = c.r[0] & 0xffff;
  let flags = 0;
  if ((ax & 0xf) > 9 || (f & Flag.AF) !== 0) {
    ax += 0x106;
    flags = Flag.AF | Flag.CF;
  }
  ax &= 0xff0f;
  writeAx(c, ax);
  setStatusFlags(c, szpOf(c, ax & 0xff) | flags);
}

/** AAS: adjust AX after an unpacked-BCD subtraction (AX - 6, AH - 1 when adjusting, then AL &= 0FH). */
export function aas(c: Cpu): void {
  const f = getStatusFlags(c);
  let ax = c.r[0] & 0xffff;
  let flags = 0;
  if ((ax & 0xf) > 9 || (f & Flag.AF) !== 0) {
    ax = ax - 6 - 0x100;
    flags = Flag.AF | Flag.CF;
  }
  ax &= 0xff0f;
  writeAx(c, ax);
  setStatusFlags(c, szpOf(c, ax & 0xff) | flags);
}

/** AAM imm8: AH = AL / imm8, AL = AL mod imm8; #DE when imm8 is 0. */
export function aam(c: Cpu, i: Insn): void {
  const base = i.immLo & 0xff;
  if (base === 0) throw new CpuFault(Vector.DE, -1, 'AAM with a zero immediate');
  const al = c.r[0] & 0xff;
  const rem = al % base;
  writeAx(c, (((al - rem) / base) << 8) | rem);
  setStatusFlags(c, szpOf(c, rem));
}

/** AAD imm8: AL = (AL + AH * imm8) & 0FFH, AH = 0. */
export function aad(c: Cpu, i: Insn): void {
  const base = i.immLo & 0xff;
  const al = ((c.r[0] & 0xff) + ((c.r[0] >>> 8) & 0xff) * base) & 0xff;
  writeAx(c, al);
  setStatusFlags(c, szpOf(c, al));
}
