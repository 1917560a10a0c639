// EPT as the CPU's second translation stage while a guest runs with "enable EPT" (SDM Vol. 3C,
// 29.3): final guest-physical addresses and the guest's paging-structure entries both go through
// the EPT walker; a violation or misconfiguration becomes the VM exit, with the instruction
// having had no effect.

import type { SecondStage } from '../cpu';
import { STOP_BEFORE } from '../cpu';
import { Perm } from '../tlb';
import {
  EPT_ACCESS_FETCH, EPT_ACCESS_READ, EPT_ACCESS_WRITE, EPT_GUEST_PAGING, EPT_LINEAR_FINAL, EPT_LINEAR_VALID,
  EPT_MISCONFIG, EptWalker,
} from '../ept';
import type { VmxUnit } from './vmx-unit';

const TWO32 = 4294967296;

export class EptStage implements SecondStage {
  permMask = 0;

  constructor(private readonly unit: VmxUnit, readonly walker: EptWalker) {}

  translate(gpa: number, kind: number, linLo: number, linHi: number): number {
    const write = (kind & (Perm.W | Perm.UW)) !== 0;
    const fetch = (kind & (Perm.X | Perm.UX)) !== 0;
    const access = (write ? EPT_ACCESS_WRITE : fetch ? EPT_ACCESS_FETCH : EPT_ACCESS_READ) | EPT_LINEAR_VALID | EPT_LINEAR_FINAL;
    const w = this.walker;
    const hpa = w.translate(gpa % TWO32 | 0, Math.floor(gpa / TWO32), access);
    if (hpa < 0) this.fault(hpa, gpa, linLo, linHi);
    const p = w.result.perms;
    // with accessed/dirty flags on, only a write may leave a writable TLB entry (the dirty flag is set then)
    this.permMask = ((p & 1) !== 0 ? Perm.R | Perm.UR : 0) | ((p & 2) !== 0 && (write || !w.accessedDirty) ? Perm.W | Perm.UW : 0) |
      ((p & 4) !== 0 ? Perm.X | Perm.UX : 0);
    return hpa;
  }

  /** Where the guest's paging-structure entry at guest-physical `gpa` is (the page walker's hook). */
  readonly tableAddress = (gpa: number): number => {
    const hpa = this.walker.translate(gpa % TWO32 | 0, Math.floor(gpa / TWO32), EPT_ACCESS_READ | EPT_GUEST_PAGING | EPT_LINEAR_VALID);
    if (hpa < 0) this.fault(hpa, gpa, this.unit.cpu.walkLo, this.unit.cpu.walkHi);
    return hpa;
  };

  private fault(kind: number, gpa: number, linLo: number, linHi: number): never {
    // a fault on a speculative fetch only ends the decoded block; the real fetch will exit
    if (!this.unit.cpu.speculativeFetch) {
      const linear = (BigInt(linHi >>> 0) << 32n) | BigInt(linLo >>> 0);
      this.unit.nonRootOps.pendEptExit(kind === EPT_MISCONFIG, BigInt(gpa), linear, this.walker.result.qualification);
    }
    throw STOP_BEFORE;
  }
}
