// BOUND r16, m16&16 / r32, m32&32 (SDM Vol. 2A, BOUND): the signed index in the register must
// lie within the pair of signed bounds in memory (lower first), else #BR. Not in 64-bit mode,
// where 0x62 is the EVEX prefix; the decoder sends it here only in 16- and 32-bit modes.

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Insn } from './insn';
import { effectiveAddress, readAt, readReg } from './operands';

function signed(v: number, size: number): number {
  return size === 2 ? (v << 16) >> 16 : v | 0;
}

export function bound(c: Cpu, i: Insn): void {
  const size = i.size;
  effectiveAddress(c, i, 2 * size);
  const lower = signed(readAt(c, 0, size), size);
  const upper = signed(readAt(c, size, size), size);
  const index = signed(readReg(c, i.reg, size), size);
  if (index < lower || index > upper) throw new CpuFault(Vector.BR, -1, 'BOUND: index outside the bounds');
}
