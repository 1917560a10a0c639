// What a boot loader leaves for a guest started directly in protected or long mode
// (vmx-debug run --mode protected|long): a flat GDT (0x08 64-bit code, 0x10 data, 0x18 32-bit
// code) and 4-level identity page tables over the first 4 GiB with 1-GiB pages, both in the
// top 64 KiB of guest RAM, and a stack just below them. Documented in README.md.

import type { PhysicalMemory } from '../hardware/memory';

export interface GuestBootTables {
  gdt: number;
  pml4: number;
  stackTop: number;
}

export function buildGuestBootTables(mem: PhysicalMemory, ramBytes: number): GuestBootTables {
  const top = ramBytes - 0x10000;
  const gdt = top, pml4 = top + 0x1000, pdpt = top + 0x2000;
  const descriptors: Array<[number, number]> = [[0, 0], [0x0000ffff, 0x00af9b00], [0x0000ffff, 0x00cf9300], [0x0000ffff, 0x00cf9b00]];
  descriptors.forEach(([lo, hi], k) => { mem.write(gdt + 8 * k, 4, lo >>> 0); mem.write(gdt + 8 * k + 4, 4, hi >>> 0); });
  mem.write(pml4, 4, (pdpt | 3) >>> 0);
  for (let g = 0; g < 4; g++) {
    mem.write(pdpt + 8 * g, 4, ((g * 2 ** 30) % 2 ** 32 | 0x83) >>> 0);
    mem.write(pdpt + 8 * g + 4, 4, 0);
  }
  return { gdt, pml4, stackTop: top };
}
