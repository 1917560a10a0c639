// VM exit (SDM Vol. 3C, chapter 28): record the exit information (28.2), save guest state
// (28.3) and MSRs (28.4), load host state (28.5) and MSRs (28.6). A failure while loading host
// MSRs is a VMX abort (28.7): the abort indicator is written and the processor shuts down.

import { F } from './vmcs';
import { exitGuestAddressSpace, loadHostState, saveGuestState, switchAddressSpace } from './state-transfer';
import { loadMsrList, storeMsrList } from './msr-lists';
import type { VmxUnit } from './vmx-unit';

/** What an exit records besides the guest state; absent fields are written as 0. */
export interface ExitInfo {
  reason: number;
  /** A number holds bits 31:0 (bits 63:32 zero): the qualifications of I/O and CR exits, without a BigInt. */
  qualification?: bigint | number;
  instructionLength?: number;
  instructionInfo?: number;
  guestLinear?: bigint;
  guestPhysical?: bigint;
  /** VM-exit interruption information and error code (exceptions, NMIs, acknowledged interrupts). */
  interruptionInfo?: number;
  interruptionError?: number;
}

export function performExit(unit: VmxUnit, info: ExitInfo): void {
  const c = unit.cpu, v = unit.vmcs;
  // before any field is written: whether the SYSENTER fields still match the MSRs
  const sysenterUnchanged = unit.sysenterUnchangedSinceEntry();
  // the exit-information fields as words (no BigInt when there is none); a 64-bit value given
  // as a BigInt is stored after, over its zero words
  const q = info.qualification;
  v.setExitInformation(info.reason & 0xffff, typeof q === 'number' ? q | 0 : 0, (info.instructionLength ?? 0) | 0, (info.instructionInfo ?? 0) | 0,
    (info.interruptionInfo ?? 0) | 0, (info.interruptionError ?? 0) | 0, c.vectoringInfo | 0, c.vectoringError | 0);
  if (typeof q === 'bigint') v.setBig(F.EXIT_QUALIFICATION, q);
  if (info.guestLinear !== undefined) v.setBig(F.GUEST_LINEAR_ADDRESS, info.guestLinear);
  if (info.guestPhysical !== undefined) v.setBig(F.GUEST_PHYSICAL_ADDRESS, info.guestPhysical);
  c.vectoringInfo = 0;
  c.vectoringError = 0;
  // every VM exit clears the valid bit of the VM-entry interruption-information field (28.2.5)
  const injected = v.lo(F.VM_ENTRY_INTR_INFO_FIELD);
  if (injected < 0) v.set(F.VM_ENTRY_INTR_INFO_FIELD, injected & 0x7fffffff);
  saveGuestState(c, v, sysenterUnchanged);
  unit.nonRootOps.end();
  const stores = v.lo(F.VM_EXIT_MSR_STORE_COUNT) >>> 0;
  if (stores !== 0 && storeMsrList(c, v.get(F.VM_EXIT_MSR_STORE_ADDR), stores) !== undefined) { unit.vmxAbort(2); return; }
  loadHostState(c, v);
  exitGuestAddressSpace(c);
  loadHostMsrs(unit);
}

/** 28.6: the VM-exit MSR-load list; a failure is a VMX abort (28.7). */
function loadHostMsrs(unit: VmxUnit): void {
  const v = unit.vmcs, count = v.lo(F.VM_EXIT_MSR_LOAD_COUNT) >>> 0;
  if (count !== 0 && loadMsrList(unit.cpu, v.get(F.VM_EXIT_MSR_LOAD_ADDR), count) !== undefined) unit.vmxAbort(4);
}


/** A VM entry that failed after its checks on controls and host state (27.8): only host state is loaded. */
export function entryFailure(unit: VmxUnit, reason: number, qualification: number): void {
  const c = unit.cpu, v = unit.vmcs;
  v.set(F.VM_EXIT_REASON, (reason | 0x80000000) | 0);
  v.setBig(F.EXIT_QUALIFICATION, BigInt(qualification));
  loadHostState(c, v);
  switchAddressSpace(c);
  loadHostMsrs(unit);
}
