// Segment limit and type checks for data accesses outside 64-bit mode (SDM Vol. 3A, 5.3 "Limit
// Checking" and 5.4 "Type Checking"), and the #SS that SS-relative references raise instead of
// #GP (SDM Vol. 3A, 6.15 "Interrupt 12"). The common case, a flat 4-GiB expand-up writable data
// segment, never gets here: `isFlatData` is the one test the address computation makes.

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Ar, Flag, Seg } from './cpu-state';

/** Access-rights bits that decide flatness: unusable, S, code, expand-down, writable. */
const FLAT_AR_MASK = Ar.UNUSABLE | Ar.S | 0xe;
/** ...and their values for a usable, writable, expand-up data segment. */
const FLAT_AR_VALUE = Ar.S | 0x2;

/** True when accesses through `seg` need no limit or type check: base any, limit 4 GiB - 1. */
export function isFlatData(c: Cpu, seg: number): boolean {
  return c.segLimit[seg] === 0xffffffff && (c.segAr[seg] & FLAT_AR_MASK) === FLAT_AR_VALUE;
}

function fault(seg: number, why: string): CpuFault {
  return new CpuFault(seg === Seg.SS ? Vector.SS : Vector.GP, 0, why);
}

/**
 * Checks an access of `size` bytes at `offset` (already wrapped to the address size) through
 * segment `seg`, outside 64-bit mode. Types are checked only in protected mode: real and
 * virtual-8086 mode keep whatever access rights the cache holds and check only the limit.
 */
export function checkSegmentAccess(c: Cpu, seg: number, offset: number, size: number, write: boolean): void {
  const ar = c.segAr[seg];
  const limit = c.segLimit[seg];
  if ((c.cr0 & 1) !== 0 && (c.flagsOther & Flag.VM) === 0) {
    if ((ar & Ar.UNUSABLE) !== 0) throw fault(seg, `access through a null ${SEG_NAMES[seg]} selector`);
    const code = (ar & 8) !== 0;
    if (code && (write || (ar & 2) === 0)) throw fault(seg, write ? 'write to a code segment' : 'read from an execute-only code segment');
    if (!code && write && (ar & 2) === 0) throw fault(seg, 'write to a read-only data segment');
  }
  const last = offset + size - 1;
  if (((ar & 0x1c) === 0x14)) {
    // expand-down data: valid offsets lie above the limit, up to 0xFFFF or 0xFFFFFFFF by D/B
    const upper = (ar & Ar.DB) !== 0 ? 0xffffffff : 0xffff;
    if (offset <= limit || last > upper) throw fault(seg, `offset 0x${offset.toString(16)} outside expand-down ${SEG_NAMES[seg]} segment`);
  } else if (last > limit) {
    throw fault(seg, `offset 0x${offset.toString(16)} beyond ${SEG_NAMES[seg]} limit 0x${limit.toString(16)}`);
  }
}

const SEG_NAMES = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];

/** A non-canonical SS-relative address in 64-bit mode is #SS(0), not #GP(0) (SDM Vol. 3A, 3.3.7.1). */
export function nonCanonicalStack(): CpuFault {
  return new CpuFault(Vector.SS, 0, 'non-canonical stack address');
}
