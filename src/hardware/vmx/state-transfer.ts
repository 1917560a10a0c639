// Moving processor state between the CPU and the current VMCS: loading guest state on VM entry
// (SDM Vol. 3C, 27.3.2), saving it on VM exit (28.3) and loading host state (28.5).

import type { Cpu } from '../cpu';
import { Ar, Seg, Shadow } from '../cpu-state';
import { getRflags, setRflags } from '../flags';
import { controlMask, ENTRY_CONTROLS, EXIT_CONTROLS, PRIMARY_PROCESSOR_CONTROLS, SECONDARY_PROCESSOR_CONTROLS } from '../../vmx/controls';
import { NO_EPT } from '../tlb-tags';
import { F, VmcsData } from './vmcs';

export const ENTRY_IA32E_GUEST = controlMask(ENTRY_CONTROLS, 'IA-32e mode guest');
const ENTRY_LOAD_DEBUG = controlMask(ENTRY_CONTROLS, 'load debug controls');
const ENTRY_LOAD_PAT = controlMask(ENTRY_CONTROLS, 'load IA32_PAT');
const ENTRY_LOAD_EFER = controlMask(ENTRY_CONTROLS, 'load IA32_EFER');
const EXIT_SAVE_DEBUG = controlMask(EXIT_CONTROLS, 'save debug controls');
export const EXIT_HOST_64 = controlMask(EXIT_CONTROLS, 'host address-space size');
const EXIT_SAVE_PAT = controlMask(EXIT_CONTROLS, 'save IA32_PAT');
const EXIT_LOAD_PAT = controlMask(EXIT_CONTROLS, 'load IA32_PAT');
const EXIT_SAVE_EFER = controlMask(EXIT_CONTROLS, 'save IA32_EFER');
const EXIT_LOAD_EFER = controlMask(EXIT_CONTROLS, 'load IA32_EFER');
const PROC_SECONDARY = controlMask(PRIMARY_PROCESSOR_CONTROLS, 'activate secondary controls');
const PROC2_EPT = controlMask(SECONDARY_PROCESSOR_CONTROLS, 'enable EPT');
const PROC2_VPID = controlMask(SECONDARY_PROCESSOR_CONTROLS, 'enable VPID');

/** Guest interruptibility state bits (25.4.2, Table 25-3). */
export const enum Interruptibility { STI = 1, MOV_SS = 2, SMI = 4, NMI = 8 }
/** Guest activity states (25.4.2, Table 25-4). */
export const enum Activity { ACTIVE = 0, HLT = 1, SHUTDOWN = 2, WAIT_FOR_SIPI = 3 }

/** Loads the guest-state area into the processor (27.3.2). EFER.LMA follows the IA-32e mode guest control. */
export function loadGuestState(c: Cpu, v: VmcsData): void {
  const entry = v.lo(F.VM_ENTRY_CONTROLS);
  c.cr0 = (v.lo(F.GUEST_CR0) | 0x10) >>> 0;
  c.cr3 = v.get(F.GUEST_CR3);
  c.cr4 = v.lo(F.GUEST_CR4) >>> 0;
  if ((entry & ENTRY_LOAD_DEBUG) !== 0) c.dr[7] = v.get(F.GUEST_DR7);
  c.msrs.loadForVmx(v.get(F.GUEST_SYSENTER_CS), v.get(F.GUEST_SYSENTER_ESP), v.get(F.GUEST_SYSENTER_EIP),
    (entry & ENTRY_LOAD_PAT) !== 0 ? v.get(F.GUEST_IA32_PAT) : undefined);
  const ia32e = (entry & ENTRY_IA32E_GUEST) !== 0;
  let efer = (entry & ENTRY_LOAD_EFER) !== 0 ? v.lo(F.GUEST_IA32_EFER) : c.efer;
  efer = ia32e ? efer | 0x500 : efer & ~0x500;
  c.efer = efer >>> 0;
  v.loadGuestSegments(c.segSel, c.segBase, c.segLimit, c.segAr, 0x1f0ff);
  c.gdtrBase = v.get(F.GUEST_GDTR_BASE);
  c.gdtrLimit = v.lo(F.GUEST_GDTR_LIMIT) & 0xffff;
  c.idtrBase = v.get(F.GUEST_IDTR_BASE);
  c.idtrLimit = v.lo(F.GUEST_IDTR_LIMIT) & 0xffff;
  c.r[8] = v.lo(F.GUEST_RSP);
  c.r[9] = v.hi(F.GUEST_RSP);
  c.ip[0] = v.lo(F.GUEST_RIP);
  c.ip[1] = v.hi(F.GUEST_RIP);
  setRflags(c, v.lo(F.GUEST_RFLAGS) | 2);
  // the CPL is SS.DPL after VM entry (27.3.2.2), 0 in real-address mode
  c.cpl = (c.cr0 & 1) === 0 ? 0 : (c.segAr[Seg.SS] >> Ar.DPL_SHIFT) & 3;
  const intr = v.lo(F.GUEST_INTERRUPTIBILITY_INFO);
  c.interruptShadow = (intr & Interruptibility.MOV_SS) !== 0 ? Shadow.MOV_SS : (intr & Interruptibility.STI) !== 0 ? Shadow.STI : Shadow.NONE;
  c.nmiBlocked = (intr & Interruptibility.NMI) !== 0;
  const activity = v.lo(F.GUEST_ACTIVITY_STATE);
  c.halted = activity === Activity.HLT;
  if (c.cr0 & 0x80000000 && c.cr4 & 0x20 && !c.longModeActive) {
    c.pdptes = [v.get(F.GUEST_PDPTR0), v.get(F.GUEST_PDPTR1), v.get(F.GUEST_PDPTR2), v.get(F.GUEST_PDPTR3)];
  }
}

/**
 * Saves the processor's state into the guest-state area (28.3) at a VM exit. `sysenterUnchanged`:
 * neither the SYSENTER MSRs nor the guest fields changed since VM entry loaded the one from the
 * other, so the fields already hold what saving would write.
 */
export function saveGuestState(c: Cpu, v: VmcsData, sysenterUnchanged = false): void {
  // every value below is already cut to its field's width (selectors 16 bits, limits and access
  // rights 32, control registers and RFLAGS with bits 63:32 zero), so stored as words it is what set would store
  const exit = v.lo(F.VM_EXIT_CONTROLS);
  let intr = v.lo(F.GUEST_INTERRUPTIBILITY_INFO) & ~(Interruptibility.STI | Interruptibility.MOV_SS | Interruptibility.NMI);
  if (c.interruptShadow === Shadow.STI) intr |= Interruptibility.STI;
  if (c.interruptShadow === Shadow.MOV_SS) intr |= Interruptibility.MOV_SS;
  if (c.nmiBlocked) intr |= Interruptibility.NMI;
  // the fields held in 32-bit words (GDTR and IDTR limits are 16 bits, read as written)
  v.saveGuestWords(c.cr0 | 0, c.cr4 | 0, c.gdtrLimit | 0, c.idtrLimit | 0, c.r[8], c.r[9], c.ip[0], c.ip[1], getRflags(c) | 0, intr,
    c.halted ? Activity.HLT : Activity.ACTIVE);
  v.saveGuestSegments(c.segSel, c.segBase, c.segLimit, c.segAr, 0x1f0ff);
  v.setBig(F.GUEST_CR3, c.cr3);
  if ((exit & EXIT_SAVE_DEBUG) !== 0) v.setBig(F.GUEST_DR7, c.dr[7]);
  v.setBig(F.GUEST_GDTR_BASE, c.gdtrBase);
  v.setBig(F.GUEST_IDTR_BASE, c.idtrBase);
  const msrs = c.msrs;
  if (!sysenterUnchanged) {
    v.setBig(F.GUEST_SYSENTER_ESP, msrs.sysenterEspValue);
    v.setBig(F.GUEST_SYSENTER_EIP, msrs.sysenterEipValue);
    v.setBig(F.GUEST_SYSENTER_CS, msrs.sysenterCsValue); // a 32-bit field: bits 31:0
  }
  if ((exit & EXIT_SAVE_PAT) !== 0) v.setBig(F.GUEST_IA32_PAT, msrs.patValue);
  if ((exit & EXIT_SAVE_EFER) !== 0) v.setWords(F.GUEST_IA32_EFER, c.efer | 0, 0);
  // IA32_VMX_MISC bit 5: the IA-32e mode guest control records EFER.LMA
  const entry = v.lo(F.VM_ENTRY_CONTROLS);
  const nextEntry = c.longModeActive ? entry | ENTRY_IA32E_GUEST : entry & ~ENTRY_IA32E_GUEST;
  if (nextEntry !== entry) v.set(F.VM_ENTRY_CONTROLS, nextEntry);
  if ((c.cr0 & 0x80000000) !== 0 && (c.cr4 & 0x20) !== 0 && !c.longModeActive) {
    v.setBig(F.GUEST_PDPTR0, c.pdptes[0]); v.setBig(F.GUEST_PDPTR1, c.pdptes[1]);
    v.setBig(F.GUEST_PDPTR2, c.pdptes[2]); v.setBig(F.GUEST_PDPTR3, c.pdptes[3]);
  }
}

/** Loads the host-state area (28.5.1-28.5.3): the processor continues at HOST_RIP in the host's mode. */
export function loadHostState(c: Cpu, v: VmcsData): void {
  const exit = v.lo(F.VM_EXIT_CONTROLS);
  const host64 = (exit & EXIT_HOST_64) !== 0;
  c.cr0 = (v.lo(F.HOST_CR0) | 0x10) >>> 0;
  c.cr3 = v.get(F.HOST_CR3);
  c.cr4 = v.lo(F.HOST_CR4) >>> 0;
  c.dr[7] = 0x400n;
  c.msrs.loadForVmx(v.get(F.HOST_IA32_SYSENTER_CS), v.get(F.HOST_IA32_SYSENTER_ESP), v.get(F.HOST_IA32_SYSENTER_EIP),
    (exit & EXIT_LOAD_PAT) !== 0 ? v.get(F.HOST_IA32_PAT) : undefined);
  let efer = (exit & EXIT_LOAD_EFER) !== 0 ? v.lo(F.HOST_IA32_EFER) : c.efer;
  efer = host64 ? efer | 0x500 : efer & ~0x500;
  c.efer = efer >>> 0;
  loadHostSegments(c, v, host64);
  c.gdtrBase = v.get(F.HOST_GDTR_BASE);
  c.gdtrLimit = 0xffff;
  c.idtrBase = v.get(F.HOST_IDTR_BASE);
  c.idtrLimit = 0xffff;
  c.r[8] = v.lo(F.HOST_RSP); c.r[9] = v.hi(F.HOST_RSP);
  c.ip[0] = v.lo(F.HOST_RIP); c.ip[1] = v.hi(F.HOST_RIP);
  setRflags(c, 2);
  c.cpl = 0;
  c.interruptShadow = Shadow.NONE;
  c.halted = false;
}

/**
 * The host segment registers (28.5.2): selectors from the host-state area, flat 4-GByte
 * segments with bases 0 but FS, GS and TR, LDTR unusable; through local array references, in
 * a function of its own (small enough that V8 compiles it whole).
 */
function loadHostSegments(c: Cpu, v: VmcsData, host64: boolean): void {
  const sel = c.segSel, ar = c.segAr, base = c.segBase, limit = c.segLimit;
  const flat = Ar.S | Ar.P | Ar.G;
  // straight stores, not a loop over the segments: on the exit path the loop cost several times as much
  const data = flat | 0x3 | Ar.DB;
  const es = v.lo(F.HOST_ES_SELECTOR) & 0xffff, ss = v.lo(F.HOST_SS_SELECTOR) & 0xffff, ds = v.lo(F.HOST_DS_SELECTOR) & 0xffff;
  const fs = v.lo(F.HOST_FS_SELECTOR) & 0xffff, gs = v.lo(F.HOST_GS_SELECTOR) & 0xffff;
  sel[Seg.ES] = es; ar[Seg.ES] = es === 0 ? data | Ar.UNUSABLE : data;
  sel[Seg.CS] = v.lo(F.HOST_CS_SELECTOR) & 0xffff; ar[Seg.CS] = flat | 0xb | (host64 ? Ar.L : Ar.DB);
  sel[Seg.SS] = ss; ar[Seg.SS] = ss === 0 ? data | Ar.UNUSABLE : data;
  sel[Seg.DS] = ds; ar[Seg.DS] = ds === 0 ? data | Ar.UNUSABLE : data;
  sel[Seg.FS] = fs; ar[Seg.FS] = fs === 0 ? data | Ar.UNUSABLE : data;
  sel[Seg.GS] = gs; ar[Seg.GS] = gs === 0 ? data | Ar.UNUSABLE : data;
  base[0] = 0; base[1] = 0; base[2] = 0; base[3] = 0; base[4] = 0; base[5] = 0; base[6] = 0; base[7] = 0;
  base[2 * Seg.FS] = v.lo(F.HOST_FS_BASE); base[2 * Seg.FS + 1] = v.hi(F.HOST_FS_BASE);
  base[2 * Seg.GS] = v.lo(F.HOST_GS_BASE); base[2 * Seg.GS + 1] = v.hi(F.HOST_GS_BASE);
  limit[Seg.ES] = 0xffffffff; limit[Seg.CS] = 0xffffffff; limit[Seg.SS] = 0xffffffff;
  limit[Seg.DS] = 0xffffffff; limit[Seg.FS] = 0xffffffff; limit[Seg.GS] = 0xffffffff;
  sel[Seg.TR] = v.lo(F.HOST_TR_SELECTOR) & 0xffff;
  base[2 * Seg.TR] = v.lo(F.HOST_TR_BASE); base[2 * Seg.TR + 1] = v.hi(F.HOST_TR_BASE);
  limit[Seg.TR] = 0x67;
  ar[Seg.TR] = Ar.P | 0xb;
  sel[Seg.LDTR] = 0;
  ar[Seg.LDTR] = Ar.UNUSABLE;
}

/** The paging registers changed wholesale: re-point the walker and drop translations. */
export function switchAddressSpace(c: Cpu): void {
  c.reconfigurePaging(); // drops every cached translation too
}

/**
 * VM entry's address space (29.4.3.1): with "enable VPID" the guest's tagged translations (VPID
 * and EPTP) become current and nothing is invalidated; without it the entry invalidates the
 * mappings of VPID 0000H, which the guest then shares with the host.
 */
export function enterGuestAddressSpace(c: Cpu, v: VmcsData): void {
  const proc2 = (v.lo(F.CPU_BASED_VM_EXEC_CONTROL) & PROC_SECONDARY) !== 0 ? v.lo(F.SECONDARY_VM_EXEC_CONTROL) : 0;
  if ((proc2 & PROC2_VPID) === 0) { switchAddressSpace(c); return; }
  const ept = (proc2 & PROC2_EPT) !== 0;
  c.useGuestTlb(v.lo(F.VIRTUAL_PROCESSOR_ID) & 0xffff, ept ? v.lo(F.EPT_POINTER) : NO_EPT, ept ? v.hi(F.EPT_POINTER) : NO_EPT);
  c.repointPaging();
}

/** VM exit's address space: back to the host's translations, kept if the guest had its own VPID (else invalidated, 29.4.3.1). */
export function exitGuestAddressSpace(c: Cpu): void {
  if (c.useHostTlb()) c.repointPaging(); else switchAddressSpace(c);
}
