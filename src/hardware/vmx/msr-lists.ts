// The VM-entry MSR-load, VM-exit MSR-store and VM-exit MSR-load lists (SDM Vol. 3C, 25.7.2,
// 25.8.2; 27.4, 28.4, 28.6): 16-byte entries of MSR index, reserved word, and 64-bit value.

import type { Cpu } from '../cpu';
import { MsrAccessError } from '../../msr';

/** MSRs a list may not load (27.4): FS/GS base via the list is allowed, x2APIC range and SMM monitor not. */
function refused(index: number): string | undefined {
  if ((index >>> 8) === 0x8) return 'x2APIC MSRs cannot be loaded from an MSR list';
  if (index === 0x9b) return 'IA32_SMM_MONITOR_CTL cannot be loaded from an MSR list';
  return undefined;
}

function physical(address: bigint): number {
  return Number(address);
}

/** Loads `count` entries; returns the failing entry's index (0-based) and why. */
export function loadMsrList(c: Cpu, address: bigint, count: number): { index: number; detail: string } | undefined {
  const base = physical(address);
  for (let k = 0; k < count; k++) {
    const at = base + 16 * k;
    const index = c.mem.read(at, 4) >>> 0;
    if (c.mem.read(at + 4, 4) !== 0) return { index: k, detail: `MSR-load entry ${k}: bits 63:32 of the first quadword are reserved` };
    const why = refused(index);
    if (why !== undefined) return { index: k, detail: `MSR-load entry ${k}: ${why}` };
    try {
      c.msrs.wrmsr(index, c.mem.read64(at + 8));
    } catch (e) {
      if (e instanceof MsrAccessError) return { index: k, detail: `MSR-load entry ${k}: ${e.message}` };
      throw e;
    }
  }
  return undefined;
}

/** Stores the current values of the listed MSRs into the list's data fields; returns the entry that could not be read. */
export function storeMsrList(c: Cpu, address: bigint, count: number): number | undefined {
  const base = physical(address);
  for (let k = 0; k < count; k++) {
    const at = base + 16 * k;
    const index = c.mem.read(at, 4) >>> 0;
    try {
      c.mem.write64(at + 8, c.msrs.rdmsr(index));
    } catch (e) {
      if (e instanceof MsrAccessError) return k;
      throw e;
    }
  }
  return undefined;
}
