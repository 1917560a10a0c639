// The checks VM entry makes before it loads anything (SDM Vol. 3C, chapter 27): on the
// VM-execution, VM-exit and VM-entry control fields (27.2.1, error 7), on the host-state area
// (27.2.2-27.2.4, error 8) and on the guest-state area (27.3.1, a VM-entry failure with exit
// reason 33). Each check returns a sentence naming the rule that failed, which the debugger
// shows as is; undefined means the area passed.

import { controlMask, ENTRY_CONTROLS, EXIT_CONTROLS, PIN_BASED_CONTROLS, PRIMARY_PROCESSOR_CONTROLS, SECONDARY_PROCESSOR_CONTROLS } from '../../vmx/controls';
import { vectorHasErrorCode } from '../../vmx/definitions';
import { Allowed, CR3_TARGET_COUNT, meetsFixedBits, VmxCapabilities } from './capabilities';
import { F, VmcsData } from './vmcs';
import { checkEptp } from '../eptp';
import { decodeEptCapabilities, EptCapabilities } from '../ept-capabilities';

const MAX_PHYS_BITS = 46;

export const PIN = {
  EXTINT: controlMask(PIN_BASED_CONTROLS, 'external-interrupt exiting'),
  NMI: controlMask(PIN_BASED_CONTROLS, 'NMI exiting'),
  VIRTUAL_NMI: controlMask(PIN_BASED_CONTROLS, 'virtual NMIs'),
  PREEMPTION: controlMask(PIN_BASED_CONTROLS, 'activate VMX-preemption timer'),
};
export const PROC = {
  INTR_WINDOW: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'interrupt-window exiting'),
  TSC_OFFSET: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'use TSC offsetting'),
  HLT: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'HLT exiting'),
  INVLPG: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'INVLPG exiting'),
  MWAIT: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'MWAIT exiting'),
  RDPMC: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'RDPMC exiting'),
  RDTSC: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'RDTSC exiting'),
  CR3_LOAD: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'CR3-load exiting'),
  CR3_STORE: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'CR3-store exiting'),
  CR8_LOAD: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'CR8-load exiting'),
  CR8_STORE: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'CR8-store exiting'),
  TPR_SHADOW: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'use TPR shadow'),
  NMI_WINDOW: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'NMI-window exiting'),
  MOV_DR: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'MOV-DR exiting'),
  UNCOND_IO: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'unconditional I/O exiting'),
  IO_BITMAPS: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'use I/O bitmaps'),
  MTF: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'monitor trap flag'),
  MSR_BITMAPS: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'use MSR bitmaps'),
  MONITOR: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'MONITOR exiting'),
  PAUSE: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'PAUSE exiting'),
  SECONDARY: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'activate secondary controls'),
};
export const PROC2 = {
  EPT: controlMask(SECONDARY_PROCESSOR_CONTROLS, 'enable EPT'),
  DESC_TABLE: controlMask(SECONDARY_PROCESSOR_CONTROLS, 'descriptor-table exiting'),
  RDTSCP: controlMask(SECONDARY_PROCESSOR_CONTROLS, 'enable RDTSCP'),
  VPID: controlMask(SECONDARY_PROCESSOR_CONTROLS, 'enable VPID'),
  WBINVD: controlMask(SECONDARY_PROCESSOR_CONTROLS, 'WBINVD exiting'),
  UNRESTRICTED: controlMask(SECONDARY_PROCESSOR_CONTROLS, 'unrestricted guest'),
  RDRAND: controlMask(SECONDARY_PROCESSOR_CONTROLS, 'RDRAND exiting'),
  RDSEED: controlMask(SECONDARY_PROCESSOR_CONTROLS, 'RDSEED exiting'),
};
export const EXIT = {
  HOST_64: controlMask(EXIT_CONTROLS, 'host address-space size'),
  ACK_INTERRUPT: controlMask(EXIT_CONTROLS, 'acknowledge interrupt on exit'),
  LOAD_PAT: controlMask(EXIT_CONTROLS, 'load IA32_PAT'),
  LOAD_EFER: controlMask(EXIT_CONTROLS, 'load IA32_EFER'),
  SAVE_PREEMPTION: controlMask(EXIT_CONTROLS, 'save VMX-preemption timer value'),
};
export const ENTRY = {
  IA32E: controlMask(ENTRY_CONTROLS, 'IA-32e mode guest'),
  LOAD_DEBUG: controlMask(ENTRY_CONTROLS, 'load debug controls'),
  LOAD_PAT: controlMask(ENTRY_CONTROLS, 'load IA32_PAT'),
  LOAD_EFER: controlMask(ENTRY_CONTROLS, 'load IA32_EFER'),
};

/** The secondary controls in effect: zero unless the primary controls activate them (25.6.2). */
export function secondaryControls(v: VmcsData): number {
  return (v.lo(F.CPU_BASED_VM_EXEC_CONTROL) & PROC.SECONDARY) !== 0 ? v.lo(F.SECONDARY_VM_EXEC_CONTROL) : 0;
}

function bitsAllowed(value: number, a: Allowed, what: string): string | undefined {
  const v = value >>> 0;
  const missing = (a.must & ~v) >>> 0;
  if (missing !== 0) return `${what}: bit ${31 - Math.clz32(missing & -missing)} must be 1 (allowed-0 setting of the capability MSR)`;
  const extra = (v & ~a.may) >>> 0;
  if (extra !== 0) return `${what}: bit ${31 - Math.clz32(extra & -extra)} must be 0 (allowed-1 setting of the capability MSR)`;
  return undefined;
}

function physOk(v: VmcsData, slot: number, align: number): boolean {
  const lo = v.lo(slot) >>> 0, hi = v.hi(slot) >>> 0;
  return lo % align === 0 && hi < 2 ** (MAX_PHYS_BITS - 32);
}

function canonical(v: VmcsData, slot: number): boolean {
  const hi = v.hi(slot);
  return (hi << 16) >> 16 === hi;
}

/** EPTP checks (27.2.1.1), by the EPT unit's own rules. */
function eptpProblem(eptp: bigint, caps: VmxCapabilities): string | undefined {
  const r = checkEptp(eptp, eptCapabilitiesOf(caps), MAX_PHYS_BITS);
  return r.ok ? undefined : r.reason;
}

const EPT_CAPS = new WeakMap<VmxCapabilities, EptCapabilities>();

/** IA32_VMX_EPT_VPID_CAP of a capability set, decoded once. */
export function eptCapabilitiesOf(caps: VmxCapabilities): EptCapabilities {
  let e = EPT_CAPS.get(caps);
  if (e === undefined) {
    e = decodeEptCapabilities(caps.eptVpidCap);
    EPT_CAPS.set(caps, e);
  }
  return e;
}

/** 27.2.1: VM-execution, VM-exit and VM-entry control fields. */
export function checkControls(v: VmcsData, caps: VmxCapabilities): string | undefined {
  const pin = v.lo(F.PIN_BASED_VM_EXEC_CONTROL), proc = v.lo(F.CPU_BASED_VM_EXEC_CONTROL), proc2 = secondaryControls(v);
  const exit = v.lo(F.VM_EXIT_CONTROLS), entry = v.lo(F.VM_ENTRY_CONTROLS);
  return bitsAllowed(pin, caps.truePin, 'pin-based VM-execution controls') ??
    bitsAllowed(proc, caps.truePrimary, 'primary processor-based VM-execution controls') ??
    bitsAllowed(proc2, caps.secondary, 'secondary processor-based VM-execution controls') ??
    ((v.lo(F.CR3_TARGET_COUNT) >>> 0) > CR3_TARGET_COUNT ? `CR3-target count is greater than ${CR3_TARGET_COUNT}` : undefined) ??
    ((proc & PROC.IO_BITMAPS) !== 0 && !(physOk(v, F.IO_BITMAP_A, 4096) && physOk(v, F.IO_BITMAP_B, 4096)) ? 'I/O bitmap addresses must be 4-KByte aligned and within MAXPHYADDR' : undefined) ??
    ((proc & PROC.MSR_BITMAPS) !== 0 && !physOk(v, F.MSR_BITMAP, 4096) ? 'the MSR-bitmap address must be 4-KByte aligned and within MAXPHYADDR' : undefined) ??
    ((pin & PIN.NMI) === 0 && (pin & PIN.VIRTUAL_NMI) !== 0 ? '"virtual NMIs" requires "NMI exiting"' : undefined) ??
    ((pin & PIN.VIRTUAL_NMI) === 0 && (proc & PROC.NMI_WINDOW) !== 0 ? '"NMI-window exiting" requires "virtual NMIs"' : undefined) ??
    ((proc2 & PROC2.UNRESTRICTED) !== 0 && (proc2 & PROC2.EPT) === 0 ? '"unrestricted guest" requires "enable EPT"' : undefined) ??
    ((proc2 & PROC2.EPT) !== 0 ? eptpProblem(v.get(F.EPT_POINTER), caps) : undefined) ??
    ((proc2 & PROC2.VPID) !== 0 && (v.lo(F.VIRTUAL_PROCESSOR_ID) & 0xffff) === 0 ? '"enable VPID" requires a VPID other than 0000H' : undefined) ??
    bitsAllowed(exit, caps.trueExit, 'VM-exit controls') ??
    ((pin & PIN.PREEMPTION) === 0 && (exit & EXIT.SAVE_PREEMPTION) !== 0 ? '"save VMX-preemption timer value" requires "activate VMX-preemption timer"' : undefined) ??
    ((v.lo(F.VM_EXIT_MSR_STORE_COUNT) !== 0 && !physOk(v, F.VM_EXIT_MSR_STORE_ADDR, 16)) || (v.lo(F.VM_EXIT_MSR_LOAD_COUNT) !== 0 && !physOk(v, F.VM_EXIT_MSR_LOAD_ADDR, 16))
      ? 'VM-exit MSR-store and MSR-load addresses must be 16-byte aligned' : undefined) ??
    bitsAllowed(entry, caps.trueEntry, 'VM-entry controls') ??
    (v.lo(F.VM_ENTRY_MSR_LOAD_COUNT) !== 0 && !physOk(v, F.VM_ENTRY_MSR_LOAD_ADDR, 16) ? 'the VM-entry MSR-load address must be 16-byte aligned' : undefined) ??
    injectionProblem(v, proc2);
}

/**
 * 27.2.1.3 alone, for an entry whose other control checks are known to pass: whether an
 * exception pushes an error code depends on GUEST_CR0.PE (unrestricted guest), a guest-state
 * field, so a passed check of the same control fields does not carry over.
 */
export function checkEventInjection(v: VmcsData): string | undefined {
  return injectionProblem(v, secondaryControls(v));
}

/** 27.2.1.3: the VM-entry interruption-information field. */
function injectionProblem(v: VmcsData, proc2: number): string | undefined {
  const info = v.lo(F.VM_ENTRY_INTR_INFO_FIELD);
  if ((info & 0x80000000) === 0) return undefined;
  const type = (info >>> 8) & 7, vector = info & 0xff, deliver = (info & 0x800) !== 0;
  if (type === 1) return 'event injection: interruption type 1 is reserved';
  if (type === 7) return 'event injection: type 7 (other event) needs monitor-trap-flag support for pending MTF';
  if (type === 2 && vector !== 2) return 'event injection: an NMI must have vector 2';
  if (type === 3 && vector > 31) return 'event injection: a hardware exception must have a vector below 32';
  const pe = (v.lo(F.GUEST_CR0) & 1) !== 0 || (proc2 & PROC2.UNRESTRICTED) === 0;
  const needsCode = type === 3 && pe && vectorHasErrorCode(vector);
  if (deliver !== needsCode) return deliver ? `event injection: vector ${vector} of type ${type} does not push an error code` : `event injection: vector ${vector} requires "deliver error code"`;
  if ((info & 0x7ffff000) !== 0) return 'event injection: bits 30:12 of the interruption-information field are reserved';
  if (deliver && (v.lo(F.VM_ENTRY_EXCEPTION_ERROR_CODE) & 0xffff0000) !== 0) return 'event injection: error code bits 31:16 must be 0';
  if (type === 4 || type === 5 || type === 6) {
    const len = v.lo(F.VM_ENTRY_INSTRUCTION_LEN) >>> 0;
    if (len < 1 || len > 15) return `event injection: instruction length ${len} is not in 1-15 for a software event`;
  }
  return undefined;
}

/** 27.2.2-27.2.4: host control registers, MSRs, segment and descriptor-table registers, address-space size. */
export function checkHostState(v: VmcsData, caps: VmxCapabilities, inIa32eMode: boolean): string | undefined {
  const cr0 = v.lo(F.HOST_CR0) >>> 0, cr4 = v.lo(F.HOST_CR4) >>> 0;
  const exit = v.lo(F.VM_EXIT_CONTROLS), entry = v.lo(F.VM_ENTRY_CONTROLS);
  const host64 = (exit & EXIT.HOST_64) !== 0;
  if (!meetsFixedBits(cr0, caps.cr0Fixed0, caps.cr0Fixed1) || v.hi(F.HOST_CR0) !== 0) return 'HOST_CR0 does not meet IA32_VMX_CR0_FIXED0/FIXED1';
  if (!meetsFixedBits(cr4, caps.cr4Fixed0, caps.cr4Fixed1) || v.hi(F.HOST_CR4) !== 0) return 'HOST_CR4 does not meet IA32_VMX_CR4_FIXED0/FIXED1';
  if ((v.hi(F.HOST_CR3) >>> 0) >= 2 ** (MAX_PHYS_BITS - 32)) return 'HOST_CR3 sets bits beyond MAXPHYADDR';
  for (const [slot, name] of [[F.HOST_IA32_SYSENTER_ESP, 'HOST_IA32_SYSENTER_ESP'], [F.HOST_IA32_SYSENTER_EIP, 'HOST_IA32_SYSENTER_EIP'],
    [F.HOST_FS_BASE, 'HOST_FS_BASE'], [F.HOST_GS_BASE, 'HOST_GS_BASE'], [F.HOST_GDTR_BASE, 'HOST_GDTR_BASE'], [F.HOST_IDTR_BASE, 'HOST_IDTR_BASE'],
    [F.HOST_TR_BASE, 'HOST_TR_BASE']] as const) {
    if (!canonical(v, slot)) return `${name} is not canonical`;
  }
  if ((exit & EXIT.LOAD_PAT) !== 0 && patProblem(v, F.HOST_IA32_PAT)) return 'HOST_IA32_PAT holds an invalid memory type';
  if ((exit & EXIT.LOAD_EFER) !== 0) {
    const efer = v.lo(F.HOST_IA32_EFER);
    if ((efer & ~0xd01) !== 0 || v.hi(F.HOST_IA32_EFER) !== 0) return 'HOST_IA32_EFER sets reserved bits';
    if (((efer & 0x400) !== 0) !== host64 || ((efer & 0x100) !== 0) !== host64) return 'HOST_IA32_EFER.LMA and LME must equal "host address-space size"';
  }
  const names = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];
  for (let s = 0; s < 6; s++) {
    if ((v.lo(F.HOST_ES_SELECTOR + s) & 7) !== 0) return `HOST_${names[s]}_SELECTOR must have RPL 0 and TI 0`;
  }
  if ((v.lo(F.HOST_TR_SELECTOR) & 7) !== 0) return 'HOST_TR_SELECTOR must have RPL 0 and TI 0';
  if ((v.lo(F.HOST_CS_SELECTOR) & 0xffff) === 0) return 'HOST_CS_SELECTOR must not be 0000H';
  if ((v.lo(F.HOST_TR_SELECTOR) & 0xffff) === 0) return 'HOST_TR_SELECTOR must not be 0000H';
  if (!host64 && (v.lo(F.HOST_SS_SELECTOR) & 0xffff) === 0) return 'HOST_SS_SELECTOR must not be 0000H when the host is not 64-bit';
  if (inIa32eMode && !host64) return '"host address-space size" must be 1 when VM entry starts in IA-32e mode';
  if (!host64 && (entry & ENTRY.IA32E) !== 0) return '"IA-32e mode guest" requires "host address-space size"';
  if (host64) {
    if ((cr4 & 0x20) === 0) return 'a 64-bit host needs HOST_CR4.PAE';
    if (!canonical(v, F.HOST_RIP)) return 'HOST_RIP is not canonical';
  } else {
    if ((cr4 & 0x20000) !== 0) return 'HOST_CR4.PCIDE must be 0 for a 32-bit host';
    if (v.hi(F.HOST_RIP) !== 0) return 'HOST_RIP bits 63:32 must be 0 for a 32-bit host';
  }
  return undefined;
}

/** A PAT with a reserved memory type (2, 3, 8-255) in any of its eight entries (SDM 11.12.2). */
function patProblem(v: VmcsData, slot: number): boolean {
  for (const word of [v.lo(slot), v.hi(slot)]) {
    for (let k = 0; k < 32; k += 8) {
      const t = (word >>> k) & 0xff;
      if (t === 2 || t === 3 || t > 7) return true;
    }
  }
  return false;
}

export interface GuestStateFailure {
  /** Exit qualification of the VM-entry failure (28.2.1 Table 28-? : 0 default, 2 PDPTE, 3 NMI, 4 link pointer). */
  qualification: number;
  detail: string;
}

const isIa32eGuest = (v: VmcsData): boolean => (v.lo(F.VM_ENTRY_CONTROLS) & ENTRY.IA32E) !== 0;
const guestRflags = (v: VmcsData): number => v.lo(F.GUEST_RFLAGS) >>> 0;

const fail = (detail: string, qualification = 0): GuestStateFailure => ({ qualification, detail });

/**
 * 27.3.1: the guest-state area, every check in the SDM's order. The checks fall in two sets:
 * those on fields an exit saves anew each time (RIP, RFLAGS, activity and interruptibility
 * state, with the event to inject), checkVolatileGuestState; and the rest, which read only
 * fields whose changes VmcsData counts in guestVersion (and controlVersion), and RFLAGS.VM.
 */
export function checkGuestState(v: VmcsData, caps: VmxCapabilities): GuestStateFailure | undefined {
  return registersProblem(v, caps) ?? rflagsProblem(v) ?? segmentsAndTablesProblem(v) ??
    ripAndEventsProblem(v, caps) ?? linkPointerProblem(v);
}

/**
 * The checks of checkGuestState on the fields outside guestVersion, in the same order: what a
 * VM entry must still check when the rest passed with the same controlVersion, guestVersion
 * and RFLAGS.VM (the first of them that fails is then the first checkGuestState finds).
 */
export function checkVolatileGuestState(v: VmcsData, caps: VmxCapabilities): GuestStateFailure | undefined {
  return rflagsProblem(v) ?? ripAndEventsProblem(v, caps);
}

/** 27.3.1.1: control registers, debug register, MSRs. */
function registersProblem(v: VmcsData, caps: VmxCapabilities): GuestStateFailure | undefined {
  const unrestricted = (secondaryControls(v) & PROC2.UNRESTRICTED) !== 0, ia32e = isIa32eGuest(v);
  const cr0 = v.lo(F.GUEST_CR0) >>> 0;
  const entry = v.lo(F.VM_ENTRY_CONTROLS);
  const cr4 = v.lo(F.GUEST_CR4) >>> 0;
  const fixed0 = unrestricted ? caps.cr0Fixed0 & ~0x80000001 : caps.cr0Fixed0;
  if (!meetsFixedBits(cr0, fixed0, caps.cr0Fixed1) || v.hi(F.GUEST_CR0) !== 0) return fail('GUEST_CR0 does not meet IA32_VMX_CR0_FIXED0/FIXED1');
  if ((cr0 & 0x80000000) !== 0 && (cr0 & 1) === 0) return fail('GUEST_CR0.PG requires GUEST_CR0.PE');
  if (!meetsFixedBits(cr4, caps.cr4Fixed0, caps.cr4Fixed1) || v.hi(F.GUEST_CR4) !== 0) return fail('GUEST_CR4 does not meet IA32_VMX_CR4_FIXED0/FIXED1');
  if (ia32e && ((cr0 & 0x80000000) === 0 || (cr4 & 0x20) === 0)) return fail('"IA-32e mode guest" requires GUEST_CR0.PG and GUEST_CR4.PAE');
  if (!ia32e && (cr4 & 0x20000) !== 0) return fail('GUEST_CR4.PCIDE requires "IA-32e mode guest"');
  if ((v.hi(F.GUEST_CR3) >>> 0) >= 2 ** (MAX_PHYS_BITS - 32)) return fail('GUEST_CR3 sets bits beyond MAXPHYADDR');
  if ((entry & ENTRY.LOAD_DEBUG) !== 0 && v.hi(F.GUEST_DR7) !== 0) return fail('GUEST_DR7 bits 63:32 must be 0');
  if (!canonical(v, F.GUEST_SYSENTER_ESP) || !canonical(v, F.GUEST_SYSENTER_EIP)) return fail('GUEST_SYSENTER_ESP/EIP must be canonical');
  if ((entry & ENTRY.LOAD_PAT) !== 0 && patProblem(v, F.GUEST_IA32_PAT)) return fail('GUEST_IA32_PAT holds an invalid memory type');
  if ((entry & ENTRY.LOAD_EFER) !== 0) {
    const efer = v.lo(F.GUEST_IA32_EFER);
    if ((efer & ~0xd01) !== 0 || v.hi(F.GUEST_IA32_EFER) !== 0) return fail('GUEST_IA32_EFER sets reserved bits');
    if (((efer & 0x400) !== 0) !== ia32e) return fail('GUEST_IA32_EFER.LMA must equal "IA-32e mode guest"');
    if ((cr0 & 0x80000000) !== 0 && ((efer & 0x100) !== 0) !== ia32e) return fail('GUEST_IA32_EFER.LME must equal "IA-32e mode guest" when paging is on');
  }
  return undefined;
}

/** 27.3.1.1: RFLAGS. */
function rflagsProblem(v: VmcsData): GuestStateFailure | undefined {
  const rflags = guestRflags(v);
  if (v.hi(F.GUEST_RFLAGS) !== 0 || (rflags & 0xffc08028) !== 0 || (rflags & 2) === 0) return fail('GUEST_RFLAGS: reserved bits must be 0 and bit 1 must be 1');
  if ((rflags & 0x20000) !== 0 && (isIa32eGuest(v) || (v.lo(F.GUEST_CR0) & 1) === 0)) return fail('GUEST_RFLAGS.VM must be 0 in IA-32e mode and with CR0.PE clear');
  return undefined;
}

/** 27.3.1.2-27.3.1.3: segment registers, GDTR and IDTR. */
function segmentsAndTablesProblem(v: VmcsData): GuestStateFailure | undefined {
  const unrestricted = (secondaryControls(v) & PROC2.UNRESTRICTED) !== 0;
  const segProblem = segmentProblem(v, isIa32eGuest(v), unrestricted, (guestRflags(v) & 0x20000) !== 0);
  if (segProblem !== undefined) return fail(segProblem);
  if ((v.lo(F.GUEST_GDTR_LIMIT) >>> 16) !== 0 || (v.lo(F.GUEST_IDTR_LIMIT) >>> 16) !== 0) return fail('GUEST_GDTR_LIMIT and GUEST_IDTR_LIMIT bits 31:16 must be 0');
  if (!canonical(v, F.GUEST_GDTR_BASE) || !canonical(v, F.GUEST_IDTR_BASE)) return fail('GUEST_GDTR_BASE and GUEST_IDTR_BASE must be canonical');
  return undefined;
}

/** 27.3.1.1 (RIP) and 27.3.1.5: activity and interruptibility state, and the event to inject. */
function ripAndEventsProblem(v: VmcsData, caps: VmxCapabilities): GuestStateFailure | undefined {
  const ia32e = isIa32eGuest(v), rflags = guestRflags(v);
  const csL = (v.lo(F.GUEST_CS_AR_BYTES) & 0x2000) !== 0;
  if ((!ia32e || !csL) && v.hi(F.GUEST_RIP) !== 0) return fail('GUEST_RIP bits 63:32 must be 0 outside 64-bit mode');
  if (ia32e && csL && !canonical(v, F.GUEST_RIP)) return fail('GUEST_RIP must be canonical in 64-bit mode');
  const activity = v.lo(F.GUEST_ACTIVITY_STATE) >>> 0;
  if (activity > 2 || (activity === 1 && (caps.misc & 0x40n) === 0n) || (activity === 2 && (caps.misc & 0x80n) === 0n)) return fail(`guest activity state ${activity} is not supported`);
  if (activity === 1 && ((v.lo(F.GUEST_SS_AR_BYTES) >>> 5) & 3) !== 0) return fail('the HLT activity state requires SS.DPL 0');
  const intr = v.lo(F.GUEST_INTERRUPTIBILITY_INFO) >>> 0;
  if ((intr & ~0x1f) !== 0) return fail('GUEST_INTERRUPTIBILITY_INFO bits 31:5 are reserved');
  if ((intr & 3) === 3) return fail('blocking by STI and by MOV SS cannot both be set');
  if ((rflags & 0x200) === 0 && (intr & 1) !== 0) return fail('blocking by STI requires RFLAGS.IF');
  const info = v.lo(F.VM_ENTRY_INTR_INFO_FIELD);
  if ((info & 0x80000000) !== 0) {
    const type = (info >>> 8) & 7;
    if (type === 0 && ((rflags & 0x200) === 0 || (intr & 3) !== 0)) return fail('injecting an external interrupt requires RFLAGS.IF and no STI/MOV SS blocking');
    if (type === 2 && (intr & 2) !== 0) return fail('injecting an NMI requires no blocking by MOV SS');
  }
  return undefined;
}

/** 27.3.1.5: the VMCS link pointer. */
function linkPointerProblem(v: VmcsData): GuestStateFailure | undefined {
  if (v.lo(F.VMCS_LINK_POINTER) !== -1 || v.hi(F.VMCS_LINK_POINTER) !== -1) return fail('the VMCS link pointer must be FFFFFFFF_FFFFFFFFH (no VMCS shadowing)', 4);
  return undefined;
}

const SEG_NAMES = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS', 'LDTR', 'TR'];
/** Accessed code-segment types (27.3.1.2); and ES, DS, FS, GS, checked alike. */
const ACCESSED_CODE_TYPES: readonly number[] = [9, 11, 13, 15];
const DATA_SEGMENTS: readonly number[] = [0, 3, 4, 5];

const ar = (v: VmcsData, s: number): number => v.lo(F.GUEST_ES_AR_BYTES + s) >>> 0;
const sel = (v: VmcsData, s: number): number => v.lo(F.GUEST_ES_SELECTOR + s) & 0xffff;
const lim = (v: VmcsData, s: number): number => v.lo(F.GUEST_ES_LIMIT + s) >>> 0;

/** 27.3.1.2: segment registers. */
function segmentProblem(v: VmcsData, ia32e: boolean, unrestricted: boolean, v86: boolean): string | undefined {
  const tr = ar(v, 7);
  if ((sel(v, 7) & 4) !== 0) return 'GUEST_TR_SELECTOR.TI must be 0';
  const trType = tr & 0xf;
  if ((tr & 0x10000) !== 0 || (tr & 0x10) !== 0 || (tr & 0x80) === 0 || !(trType === 11 || (!ia32e && trType === 3))) {
    return 'TR must be usable, a busy TSS (type 11, or 3 outside IA-32e mode), S = 0 and present';
  }
  if ((ar(v, 6) & 0x10000) === 0 && ((sel(v, 6) & 4) !== 0 || (ar(v, 6) & 0x9f) !== 0x82)) return 'a usable LDTR must have TI 0, type 2, S = 0 and be present';
  if (v86) return undefined; // virtual-8086 guest: the limits and attributes follow from the selectors (checked by the mode itself)
  for (let s = 0; s < 8; s++) {
    const a = ar(v, s);
    if ((a & 0x10000) !== 0) continue;
    if ((a & 0xfffe0f00) !== 0) return `GUEST_${SEG_NAMES[s]}_AR_BYTES sets reserved bits`;
    const limit = lim(v, s);
    const g = (a & 0x8000) !== 0;
    if ((limit & 0xfff) !== 0xfff && g) return `${SEG_NAMES[s]}: G = 1 requires limit bits 11:0 all set`;
    if ((limit >>> 20) !== 0 && !g) return `${SEG_NAMES[s]}: a limit above 1 MiB requires G = 1`;
  }
  const cs = ar(v, 1);
  const csType = cs & 0xf;
  if (!(ACCESSED_CODE_TYPES.includes(csType) || (unrestricted && csType === 3))) return `CS type ${csType} is not an accessed code segment`;
  if ((cs & 0x10) === 0 || (cs & 0x80) === 0) return 'CS must be a present code or data segment (S = 1, P = 1)';
  if (ia32e && (cs & 0x2000) !== 0 && (cs & 0x4000) !== 0) return 'CS.L and CS.D/B cannot both be set in IA-32e mode';
  const ss = ar(v, 2);
  if ((ss & 0x10000) === 0 && (ss & 0xf) !== 3 && (ss & 0xf) !== 7) return 'SS must be a read/write data segment';
  if (!unrestricted && (sel(v, 2) & 3) !== (sel(v, 1) & 3)) return 'SS.RPL must equal CS.RPL';
  for (const s of DATA_SEGMENTS) {
    const a = ar(v, s);
    if ((a & 0x10000) !== 0) continue;
    if ((a & 1) === 0) return `${SEG_NAMES[s]} must be accessed (type bit 0)`;
    if ((a & 0x10) === 0 || (a & 0x80) === 0) return `${SEG_NAMES[s]} must have S = 1 and be present`;
    if ((a & 8) !== 0 && (a & 2) === 0) return `${SEG_NAMES[s]} is an execute-only code segment`;
  }
  return undefined;
}
