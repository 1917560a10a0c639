// VM entry (SDM Vol. 3C, chapter 27): checks on controls and host state (VMfailValid 7 and 8),
// checks on guest state (VM-entry failure, exit reason 33), loading guest state, the VM-entry
// MSR-load list (failure: exit reason 34), and event injection (27.6).

import { deliverEvent, EventType } from '../exceptions';
import { STOP_BEFORE } from '../cpu';
import { VmInstructionErrorNumber as E } from '../../vmx/definitions';
import { checkControls, checkEventInjection, checkGuestState, checkHostState, checkVolatileGuestState } from './entry-checks';
import { enterGuestAddressSpace, loadGuestState } from './state-transfer';
import { F } from './vmcs';
import type { VmxUnit } from './vmx-unit';
import { loadMsrList } from './msr-lists';
import { entryFailure } from './vm-exit';

export type EntryResult =
  /** VMfailValid with `error`, or VMfailInvalid (no current VMCS) when `error` is undefined. */
  | { kind: 'vmfail'; error: E | undefined; detail: string }
  | { kind: 'entry-failed'; reason: number; qualification: number; detail: string }
  | { kind: 'entered' };

/** The one result of every successful entry, shared rather than made each time. */
const ENTERED: EntryResult = Object.freeze({ kind: 'entered' });

/** Exit reasons of VM-entry failures (Appendix C), bit 31 set on the exit-reason field. */
const INVALID_GUEST_STATE = 33, MSR_LOADING = 34;
const RFLAGS_VM = 0x20000;

export function enterGuest(unit: VmxUnit, launch: boolean): EntryResult {
  const c = unit.cpu, v = unit.vmcs, caps = unit.caps;
  // 27.2 depends only on control and host-state fields (and the mode VM entry starts in), but
  // for event injection's GUEST_CR0.PE: an unchanged set that passed before passes again
  const key = v.controlVersion * 2 + (c.longModeActive ? 1 : 0);
  if (unit.checkedControls !== key) {
    const controls = checkControls(v, caps);
    if (controls !== undefined) return unit.noteEntryProblem({ kind: 'vmfail', error: E.ENTRY_INVALID_CONTROL_FIELDS, detail: controls });
    const host = checkHostState(v, caps, c.longModeActive);
    if (host !== undefined) return unit.noteEntryProblem({ kind: 'vmfail', error: E.ENTRY_INVALID_HOST_STATE_FIELDS, detail: host });
    unit.checkedControls = key;
  } else if (v.lo(F.VM_ENTRY_INTR_INFO_FIELD) < 0) {
    // the injection check reads GUEST_CR0.PE too, which the control version does not count
    const injection = checkEventInjection(v);
    if (injection !== undefined) return unit.noteEntryProblem({ kind: 'vmfail', error: E.ENTRY_INVALID_CONTROL_FIELDS, detail: injection });
  }
  // 27.3.1: the checks outside checkVolatileGuestState read only fields counted by the two
  // versions, and RFLAGS.VM: with those as they were at the last pass, they pass again
  const guestKey = v.guestVersion * 2 + ((v.lo(F.GUEST_RFLAGS) & RFLAGS_VM) !== 0 ? 1 : 0);
  const stable = unit.checkedGuestControls === v.controlVersion && unit.checkedGuestState === guestKey;
  const guest = stable ? checkVolatileGuestState(v, caps) : checkGuestState(v, caps);
  if (guest === undefined) {
    unit.checkedGuestControls = v.controlVersion;
    unit.checkedGuestState = guestKey;
  } else {
    entryFailure(unit, INVALID_GUEST_STATE, guest.qualification);
    return unit.noteEntryProblem({ kind: 'entry-failed', reason: INVALID_GUEST_STATE, qualification: guest.qualification, detail: guest.detail });
  }
  if (launch) unit.markLaunched();
  loadGuestState(c, v);
  unit.noteGuestStateLoaded();
  const count = v.lo(F.VM_ENTRY_MSR_LOAD_COUNT) >>> 0;
  const bad = count === 0 ? undefined : loadMsrList(c, v.get(F.VM_ENTRY_MSR_LOAD_ADDR), count);
  if (bad !== undefined) {
    entryFailure(unit, MSR_LOADING, bad.index + 1);
    return unit.noteEntryProblem({ kind: 'entry-failed', reason: MSR_LOADING, qualification: bad.index + 1, detail: bad.detail });
  }
  unit.nonRootOps.begin();
  enterGuestAddressSpace(c, v);
  injectEvent(unit);
  return ENTERED;
}

/** 27.6: delivers the event in the VM-entry interruption-information field through the guest's IDT. */
function injectEvent(unit: VmxUnit): void {
  const c = unit.cpu, v = unit.vmcs;
  const info = v.lo(F.VM_ENTRY_INTR_INFO_FIELD);
  if ((info & 0x80000000) === 0) return;
  const type = (info >>> 8) & 7, vector = info & 0xff;
  const error = (info & 0x800) !== 0 ? v.lo(F.VM_ENTRY_EXCEPTION_ERROR_CODE) & 0xffff : -1;
  // types 4-6 push RIP + instruction length; the gate-DPL check is for types 4 and 6 only (INT1 skips it)
  const software = type === 4 || type === 6;
  const ripLo = c.ip[0], ripHi = c.ip[1];
  if (software || type === 5) {
    // the return address pushed is RIP plus the VM-entry instruction length
    const len = v.lo(F.VM_ENTRY_INSTRUCTION_LEN) >>> 0;
    const s = (c.ip[0] >>> 0) + len;
    c.ip[0] = s | 0;
    if (s > 0xffffffff) c.ip[1] = (c.ip[1] + 1) | 0;
  }
  if (type === 2) c.nmiBlocked = true;
  // an injected #PF does not write CR2: the VMM sets the guest's CR2 (27.6.1)
  if (vector === 14) c.pfAddress = c.cr2;
  c.halted = false;
  try {
    if (deliverEvent(c, vector, error, software, undefined, type as EventType) === 'triple-fault') unit.nonRootOps.tripleFaultOnEntry();
  } catch (e) {
    if (e !== STOP_BEFORE) throw e;
    // delivery caused a VM exit (exception bitmap, EPT): it happens at the first boundary, with
    // the injected event as IDT-vectoring information and RIP as VM entry left it (27.6.1.2)
    c.ip[0] = ripLo; c.ip[1] = ripHi;
    unit.nonRootOps.exitAtFirstBoundary();
  }
}
