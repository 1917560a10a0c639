// Starting a guest directly in 64-bit long mode, the way a boot loader hands over: a flat GDT,
// identity-mapped 4-level paging with 1-GiB pages, CR0.PE|PG, CR4.PAE, EFER.LME|LMA, and
// CS/SS loaded as 64-bit code and data (SDM Vol. 3A, 10.8.5 "Initializing IA-32e Mode").
// The GDT also holds 32-bit code segments, so that code can run in compatibility mode
// (IA-32e mode with CS.L=0, CS.D=1; SDM Vol. 3A, 5.2.1) as a far transfer would load them.

import { Cpu } from '../hardware/cpu';
import { Ar, Seg } from '../hardware/cpu-state';
import { setRflags } from '../hardware/flags';
import { loadSegmentCache, readDescriptor } from '../hardware/segments';

export interface LongModeLayout {
  /** Physical address of the GDT (7 entries); 4 KiB aligned. */
  gdt: number;
  /** Physical address of the PML4; the PDPT follows at +4 KiB. */
  pml4: number;
  /** Privilege level to start at: 0 (kernel) or 3 (user, pages marked user). */
  cpl: 0 | 3;
  /** How many GiB to identity-map (1-512). */
  gib: number;
}

export const DEFAULT_LONG_MODE_LAYOUT: LongModeLayout = { gdt: 0x1000, pml4: 0x2000, cpl: 0, gib: 4 };

/** GDT selectors the setup creates; the *32 code segments are for compatibility mode. */
export const GDT_SELECTORS = {
  kernelCode: 0x08, kernelData: 0x10, userData: 0x1b, userCode: 0x23, userCode32: 0x2b, kernelCode32: 0x30,
} as const;

/**
 * Puts the CPU into 64-bit mode at the given privilege level with identity paging. Returns the
 * physical range the tables occupy, so a loader can keep guest images clear of it.
 */
export function enterLongMode(cpu: Cpu, layout: LongModeLayout = DEFAULT_LONG_MODE_LAYOUT): { start: number; end: number } {
  const mem = cpu.mem;
  const { gdt, pml4, cpl, gib } = layout;
  if (gib < 1 || gib > 512) throw new RangeError('identity map size must be 1-512 GiB');
  // GDT: null, kernel code (L=1), kernel data, user data, user code (L=1), then flat 4-GiB
  // 32-bit code (L=0, D=1) for user and kernel
  const descriptors: Array<[number, number]> = [
    [0, 0],
    [0x0000ffff, 0x00af9b00],
    [0x0000ffff, 0x00cf9300],
    [0x0000ffff, 0x00cff300],
    [0x0000ffff, 0x00affb00],
    [0x0000ffff, 0x00cffb00],
    [0x0000ffff, 0x00cf9b00],
  ];
  descriptors.forEach(([lo, hi], k) => {
    mem.write(gdt + 8 * k, 4, lo >>> 0);
    mem.write(gdt + 8 * k + 4, 4, hi >>> 0);
  });
  const pdpt = pml4 + 0x1000;
  const user = cpl === 3 ? 4 : 0;
  // PML4[0] -> PDPT; PDPT[n] = n GiB, present, writable, (user), PS
  mem.write(pml4, 4, (pdpt | 0x3 | user) >>> 0);
  mem.write(pml4 + 4, 4, 0);
  for (let n = 0; n < gib; n++) {
    const base = n * 2 ** 30;
    mem.write(pdpt + 8 * n, 4, ((base % 2 ** 32) | 0x83 | user) >>> 0);
    mem.write(pdpt + 8 * n + 4, 4, Math.floor(base / 2 ** 32));
  }
  cpu.gdtrBase = BigInt(gdt);
  cpu.gdtrLimit = 8 * descriptors.length - 1;
  cpu.cr3 = BigInt(pml4);
  cpu.cr4 = 0x20; // PAE
  cpu.efer = 0x500; // LME | LMA
  cpu.cr0 = (0x80000001 | 0x10 | 0x20 | (1 << 16)) >>> 0; // PG, PE, ET, NE, WP
  const code = cpl === 3 ? GDT_SELECTORS.userCode : GDT_SELECTORS.kernelCode;
  const data = cpl === 3 ? GDT_SELECTORS.userData : GDT_SELECTORS.kernelData;
  for (let s = 0; s < 6; s++) {
    cpu.segSel[s] = s === Seg.CS ? code : data;
    cpu.segBase[2 * s] = 0;
    cpu.segBase[2 * s + 1] = 0;
    cpu.segLimit[s] = 0xffffffff;
    cpu.segAr[s] = s === Seg.CS
      ? 0xb | Ar.S | (cpl << Ar.DPL_SHIFT) | Ar.P | Ar.L | Ar.G
      : 0x3 | Ar.S | (cpl << Ar.DPL_SHIFT) | Ar.P | Ar.DB | Ar.G;
  }
  cpu.cpl = cpl;
  setRflags(cpu, 0x2);
  cpu.reconfigurePaging();
  cpu.flushCodeCache();
  return { start: Math.min(gdt, pml4), end: Math.max(gdt + 0x1000, pdpt + 0x1000) };
}

/**
 * Loads CS with the setup's 64-bit or 32-bit code segment for the current privilege level:
 * 64 runs in 64-bit mode, 32 in compatibility mode (the CPU must be in IA-32e mode, as
 * enterLongMode leaves it). Stack and data segments stay as they are: flat, with D/B set,
 * so compatibility-mode stack accesses use ESP.
 */
export function setCodeSize(cpu: Cpu, bits: 64 | 32): void {
  if (!cpu.longModeActive) throw new Error('setCodeSize: the CPU is not in IA-32e mode (call enterLongMode first)');
  if (bits !== 64 && bits !== 32) throw new RangeError(`setCodeSize: bits must be 64 or 32, not ${String(bits)}`);
  const user = cpu.cpl === 3;
  const selector = bits === 64
    ? (user ? GDT_SELECTORS.userCode : GDT_SELECTORS.kernelCode)
    : (user ? GDT_SELECTORS.userCode32 : GDT_SELECTORS.kernelCode32);
  loadSegmentCache(cpu, Seg.CS, selector, readDescriptor(cpu, selector));
  cpu.flushCodeCache();
}
