// System-segment and gate descriptor types (SDM Vol. 3A, 3.5 Table 3-2), and the state of a
// segment register saved so that a multi-step transfer can be undone when it faults midway.

import type { Cpu } from './cpu';

/** Type field of a system descriptor (S = 0), legacy protected mode. */
export const enum SysType {
  TSS16_AVAILABLE = 0x1, LDT = 0x2, TSS16_BUSY = 0x3, CALL_GATE16 = 0x4, TASK_GATE = 0x5,
  INTERRUPT_GATE16 = 0x6, TRAP_GATE16 = 0x7, TSS32_AVAILABLE = 0x9, TSS32_BUSY = 0xb,
  CALL_GATE32 = 0xc, INTERRUPT_GATE32 = 0xe, TRAP_GATE32 = 0xf,
}
/** In IA-32e mode type 0xC is the 64-bit call gate and 0x9/0xB the 64-bit TSS (Table 3-2). */
export const CALL_GATE64 = SysType.CALL_GATE32;
/** The TSS busy flag: bit 1 of the type (SDM Vol. 3A, 8.2.2). */
export const TSS_BUSY_BIT = 0x2;

/** A segment register's visible and hidden parts, copied out. */
export interface SavedSegment { sel: number; baseLo: number; baseHi: number; limit: number; ar: number }

export function saveSegment(c: Cpu, seg: number): SavedSegment {
  return { sel: c.segSel[seg], baseLo: c.segBase[2 * seg], baseHi: c.segBase[2 * seg + 1], limit: c.segLimit[seg], ar: c.segAr[seg] };
}

export function restoreSegment(c: Cpu, seg: number, s: SavedSegment): void {
  c.segSel[seg] = s.sel;
  c.segBase[2 * seg] = s.baseLo;
  c.segBase[2 * seg + 1] = s.baseHi;
  c.segLimit[seg] = s.limit;
  c.segAr[seg] = s.ar;
}
