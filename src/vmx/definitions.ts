// VMX numbers that need no CPU: basic exit reasons (SDM Vol. 3, Appendix C), the exit-reason
// field layout (25.9.1), interruption types and the interruption-information format
// (25.8.3 VM-entry, 25.9.2 VM-exit), and VM-instruction error numbers (31.4).
// Ports x86_vcpu src/vmx/definitions.rs, with the exit reasons it lacks added and vector 21
// (#CP) counted as a hardware exception with an error code.
import { BitField, flag } from '../bitfields';

// ---------------------------------------------------------------------------------------------
// Basic exit reasons

/** One basic exit reason: the number in bits 15:0 of the exit-reason field. */
export interface ExitReasonInfo {
  readonly number: number;
  /** x86_vcpu's spelling (VmxRawExitReason), UPPER_SNAKE. */
  readonly name: string;
  readonly description: string;
}

// Every basic exit reason Appendix C (Table C-1) defines; 35, 38, 42, 71 and 80-83 are not
// defined there. Numbers checked against Linux arch/x86/include/uapi/asm/vmx.h where it has them.
const EXIT_REASON_ROWS = [
  { number: 0, name: 'EXCEPTION_NMI', description: 'Exception or NMI (exception bitmap or NMI exiting)' },
  { number: 1, name: 'EXTERNAL_INTERRUPT', description: 'External interrupt arrived with external-interrupt exiting set' },
  { number: 2, name: 'TRIPLE_FAULT', description: 'Triple fault in the guest' },
  { number: 3, name: 'INIT', description: 'INIT signal arrived' },
  { number: 4, name: 'SIPI', description: 'Start-up IPI arrived while in wait-for-SIPI state' },
  { number: 5, name: 'SMI', description: 'I/O system-management interrupt immediately after an I/O instruction' },
  { number: 6, name: 'OTHER_SMI', description: 'System-management interrupt not tied to an I/O instruction' },
  { number: 7, name: 'INTERRUPT_WINDOW', description: 'Guest became able to take interrupts (interrupt-window exiting)' },
  { number: 8, name: 'NMI_WINDOW', description: 'Guest became able to take NMIs (NMI-window exiting)' },
  { number: 9, name: 'TASK_SWITCH', description: 'Guest attempted a task switch' },
  { number: 10, name: 'CPUID', description: 'Guest executed CPUID' },
  { number: 11, name: 'GETSEC', description: 'Guest executed GETSEC' },
  { number: 12, name: 'HLT', description: 'Guest executed HLT with HLT exiting set' },
  { number: 13, name: 'INVD', description: 'Guest executed INVD' },
  { number: 14, name: 'INVLPG', description: 'Guest executed INVLPG with INVLPG exiting set' },
  { number: 15, name: 'RDPMC', description: 'Guest executed RDPMC with RDPMC exiting set' },
  { number: 16, name: 'RDTSC', description: 'Guest executed RDTSC with RDTSC exiting set' },
  { number: 17, name: 'RSM', description: 'Guest executed RSM in SMM' },
  { number: 18, name: 'VMCALL', description: 'Guest executed VMCALL' },
  { number: 19, name: 'VMCLEAR', description: 'Guest executed VMCLEAR' },
  { number: 20, name: 'VMLAUNCH', description: 'Guest executed VMLAUNCH' },
  { number: 21, name: 'VMPTRLD', description: 'Guest executed VMPTRLD' },
  { number: 22, name: 'VMPTRST', description: 'Guest executed VMPTRST' },
  { number: 23, name: 'VMREAD', description: 'Guest executed VMREAD' },
  { number: 24, name: 'VMRESUME', description: 'Guest executed VMRESUME' },
  { number: 25, name: 'VMWRITE', description: 'Guest executed VMWRITE' },
  { number: 26, name: 'VMOFF', description: 'Guest executed VMXOFF' },
  { number: 27, name: 'VMON', description: 'Guest executed VMXON' },
  { number: 28, name: 'CR_ACCESS', description: 'Control-register access (MOV CR, CLTS, LMSW)' },
  { number: 29, name: 'DR_ACCESS', description: 'MOV to or from a debug register with MOV-DR exiting set' },
  { number: 30, name: 'IO_INSTRUCTION', description: 'I/O instruction (IN, OUT, INS, OUTS)' },
  { number: 31, name: 'MSR_READ', description: 'Guest executed RDMSR' },
  { number: 32, name: 'MSR_WRITE', description: 'Guest executed WRMSR or WRMSRNS' },
  { number: 33, name: 'INVALID_GUEST_STATE', description: 'VM-entry failure: guest-state checks failed' },
  { number: 34, name: 'MSR_LOAD_FAIL', description: 'VM-entry failure: loading an MSR from the VM-entry MSR-load area failed' },
  { number: 36, name: 'MWAIT_INSTRUCTION', description: 'Guest executed MWAIT with MWAIT exiting set' },
  { number: 37, name: 'MONITOR_TRAP_FLAG', description: 'Monitor trap flag: one guest instruction completed' },
  { number: 39, name: 'MONITOR_INSTRUCTION', description: 'Guest executed MONITOR with MONITOR exiting set' },
  { number: 40, name: 'PAUSE_INSTRUCTION', description: 'Guest executed PAUSE (PAUSE exiting or PAUSE-loop exiting)' },
  { number: 41, name: 'MCE_DURING_VMENTRY', description: 'VM-entry failure: machine-check event during VM entry' },
  { number: 43, name: 'TPR_BELOW_THRESHOLD', description: 'Virtual TPR dropped below the TPR threshold' },
  { number: 44, name: 'APIC_ACCESS', description: 'Guest accessed the APIC-access page' },
  { number: 45, name: 'VIRTUALIZED_EOI', description: 'EOI virtualization for a vector set in the EOI-exit bitmap' },
  { number: 46, name: 'GDTR_IDTR', description: 'Guest executed LGDT, LIDT, SGDT or SIDT (descriptor-table exiting)' },
  { number: 47, name: 'LDTR_TR', description: 'Guest executed LLDT, LTR, SLDT or STR (descriptor-table exiting)' },
  { number: 48, name: 'EPT_VIOLATION', description: 'EPT violation: guest-physical access not allowed by EPT entries' },
  { number: 49, name: 'EPT_MISCONFIG', description: 'EPT misconfiguration: an EPT entry is invalid' },
  { number: 50, name: 'INVEPT', description: 'Guest executed INVEPT' },
  { number: 51, name: 'RDTSCP', description: 'Guest executed RDTSCP with RDTSC exiting set' },
  { number: 52, name: 'PREEMPTION_TIMER', description: 'VMX-preemption timer counted down to zero' },
  { number: 53, name: 'INVVPID', description: 'Guest executed INVVPID' },
  { number: 54, name: 'WBINVD', description: 'Guest executed WBINVD or WBNOINVD with WBINVD exiting set' },
  { number: 55, name: 'XSETBV', description: 'Guest executed XSETBV' },
  { number: 56, name: 'APIC_WRITE', description: 'Guest wrote a virtual-APIC register that needs emulation (trap-like)' },
  { number: 57, name: 'RDRAND', description: 'Guest executed RDRAND with RDRAND exiting set' },
  { number: 58, name: 'INVPCID', description: 'Guest executed INVPCID with INVLPG exiting set' },
  { number: 59, name: 'VMFUNC', description: 'VMFUNC failed (disabled function or invalid EPTP index)' },
  { number: 60, name: 'ENCLS', description: 'Guest executed ENCLS (ENCLS exiting)' },
  { number: 61, name: 'RDSEED', description: 'Guest executed RDSEED with RDSEED exiting set' },
  { number: 62, name: 'PML_FULL', description: 'Page-modification log is full' },
  { number: 63, name: 'XSAVES', description: 'Guest executed XSAVES (XSS-exiting bitmap)' },
  { number: 64, name: 'XRSTORS', description: 'Guest executed XRSTORS (XSS-exiting bitmap)' },
  { number: 65, name: 'PCONFIG', description: 'Guest executed PCONFIG (PCONFIG-exiting bitmap)' },
  { number: 66, name: 'SPP_EVENT', description: 'Sub-page-permission event (miss or misconfiguration)' },
  { number: 67, name: 'UMWAIT', description: 'Guest executed UMWAIT' },
  { number: 68, name: 'TPAUSE', description: 'Guest executed TPAUSE' },
  { number: 69, name: 'LOADIWKEY', description: 'Guest executed LOADIWKEY' },
  { number: 70, name: 'ENCLV', description: 'Guest executed ENCLV (ENCLV exiting)' },
  { number: 72, name: 'ENQCMD_PASID_FAIL', description: 'ENQCMD could not translate the PASID' },
  { number: 73, name: 'ENQCMDS_PASID_FAIL', description: 'ENQCMDS could not translate the PASID' },
  { number: 74, name: 'BUS_LOCK', description: 'Guest caused a bus lock (VMM bus-lock detection)' },
  { number: 75, name: 'NOTIFY', description: 'Instruction timeout: the guest made no progress for too long' },
  { number: 76, name: 'SEAMCALL', description: 'Guest executed SEAMCALL' },
  { number: 77, name: 'TDCALL', description: 'Guest executed TDCALL' },
  { number: 78, name: 'RDMSRLIST', description: 'Guest executed RDMSRLIST' },
  { number: 79, name: 'WRMSRLIST', description: 'Guest executed WRMSRLIST' },
  { number: 84, name: 'MSR_READ_IMM', description: 'Guest executed RDMSR with an immediate MSR index' },
  { number: 85, name: 'MSR_WRITE_IMM', description: 'Guest executed WRMSRNS with an immediate MSR index' },
] as const satisfies readonly ExitReasonInfo[];

export type ExitReasonName = (typeof EXIT_REASON_ROWS)[number]['name'];

/** Every basic exit reason, sorted by number. */
export const EXIT_REASONS: readonly ExitReasonInfo[] = Object.freeze(
  [...EXIT_REASON_ROWS].sort((a, b) => a.number - b.number).map((r) => Object.freeze({ ...r })),
);

/** Enum-like access by x86_vcpu name: `VmxExitReason.CPUID.number === 10`. */
export const VmxExitReason: { readonly [K in ExitReasonName]: ExitReasonInfo } = Object.freeze(
  Object.fromEntries(EXIT_REASONS.map((r) => [r.name, r])),
) as { readonly [K in ExitReasonName]: ExitReasonInfo };

/** Other spellings (Linux uapi/asm/vmx.h) accepted by exitReasonByName. */
export const EXIT_REASON_ALIASES: Readonly<Record<string, ExitReasonName>> = Object.freeze({
  INIT_SIGNAL: 'INIT',
  SIPI_SIGNAL: 'SIPI',
  IO_SMI: 'SMI',
  PENDING_INTERRUPT: 'INTERRUPT_WINDOW',
  INVALID_STATE: 'INVALID_GUEST_STATE',
  EOI_INDUCED: 'VIRTUALIZED_EOI',
  VMXOFF: 'VMOFF',
  VMXON: 'VMON',
});

const EXIT_BY_NUMBER = new Map<number, ExitReasonInfo>(EXIT_REASONS.map((r) => [r.number, r]));
const EXIT_BY_NAME = new Map<string, ExitReasonInfo>([
  ...EXIT_REASONS.map((r): [string, ExitReasonInfo] => [r.name, r]),
  ...Object.entries(EXIT_REASON_ALIASES).map(([alias, name]): [string, ExitReasonInfo] => [alias, VmxExitReason[name]]),
]);

/** The exit reason with basic number `n`, or undefined when the SDM defines none. */
export function exitReasonByNumber(n: number): ExitReasonInfo | undefined {
  return EXIT_BY_NUMBER.get(n);
}

/** Looks an exit reason up by name or alias, case-insensitively; undefined when unknown. */
export function exitReasonByName(name: string): ExitReasonInfo | undefined {
  return EXIT_BY_NAME.get(name.toUpperCase());
}

/** `CPUID(10)` for a known reason, `UNKNOWN(90)` for anything else; never throws. */
export function describeExitReason(n: number): string {
  const r = typeof n === 'number' ? EXIT_BY_NUMBER.get(n) : undefined;
  return r === undefined ? `UNKNOWN(${String(n)})` : `${r.name}(${r.number})`;
}

// ---------------------------------------------------------------------------------------------
// The 32-bit exit-reason field (VM_EXIT_REASON, SDM 25.9.1 Table 25-18)

/** Bit layout of the exit-reason field, for decodeFields. */
export const EXIT_REASON_FIELD_BITS: readonly BitField[] = Object.freeze([
  { name: 'basic exit reason', lsb: 0, width: 16, description: 'Basic exit reason (Appendix C)' },
  flag('bus lock detected', 26, 'A bus lock was asserted during the instruction or event that exited'),
  flag('enclave mode', 27, 'The VM exit happened while the guest was in enclave mode'),
  flag('pending MTF VM exit', 28, 'SMM VM exit: an MTF VM exit was pending'),
  flag('VM exit from VMX root operation', 29, 'SMM VM exit taken from VMX root operation'),
  flag('VM-entry failure', 31, 'VM entry failed (exit reasons 33, 34, 41)'),
]);

export interface DecodedExitReason {
  /** The field as an unsigned 32-bit number. */
  readonly raw: number;
  /** Bits 15:0. */
  readonly basic: number;
  /** The table entry for `basic`, undefined when the SDM defines none. */
  readonly info: ExitReasonInfo | undefined;
  /** Bit 26. */
  readonly busLockDetected: boolean;
  /** Bit 27. */
  readonly enclaveMode: boolean;
  /** Bit 28. */
  readonly pendingMtf: boolean;
  /** Bit 29. */
  readonly fromVmxRoot: boolean;
  /** Bit 31. */
  readonly entryFailure: boolean;
}

function toU32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < -0x8000_0000 || value > 0xffff_ffff) {
    throw new RangeError(`${what}: ${value} is not a 32-bit integer`);
  }
  return value >>> 0;
}

/** Splits the 32-bit exit-reason field; a negative int32 is taken as its unsigned bits. */
export function decodeExitReasonField(raw32: number): DecodedExitReason {
  const raw = toU32(raw32, 'exit-reason field');
  const basic = raw & 0xffff;
  return {
    raw,
    basic,
    info: EXIT_BY_NUMBER.get(basic),
    busLockDetected: ((raw >>> 26) & 1) === 1,
    enclaveMode: ((raw >>> 27) & 1) === 1,
    pendingMtf: ((raw >>> 28) & 1) === 1,
    fromVmxRoot: ((raw >>> 29) & 1) === 1,
    entryFailure: ((raw >>> 31) & 1) === 1,
  };
}

// ---------------------------------------------------------------------------------------------
// Interruption types and the interruption-information format (SDM 25.8.3, 25.9.2)

/** Bits 10:8 of the VM-entry / VM-exit interruption-information fields. */
export enum VmxInterruptionType {
  /** External interrupt. */
  External = 0,
  Reserved = 1,
  /** Non-maskable interrupt. */
  NMI = 2,
  /** Hardware exception (#PF, #GP …). */
  HardException = 3,
  /** Software interrupt (INT n). */
  SoftIntr = 4,
  /** Privileged software exception (INT1). */
  PrivSoftException = 5,
  /** Software exception (INT3, INTO). */
  SoftException = 6,
  /** Other event (MTF injection). */
  Other = 7,
}

function checkVector(vector: number): void {
  if (!Number.isInteger(vector) || vector < 0 || vector > 255) {
    throw new RangeError(`interrupt vector ${vector} is outside 0-255`);
  }
}

/**
 * Whether the exception with this vector pushes an error code: #DF 8, #TS 10, #NP 11, #SS 12,
 * #GP 13, #PF 14, #AC 17, #CP 21 (SDM Vol. 3, 6.15). RangeError outside 0-255.
 */
export function vectorHasErrorCode(vector: number): boolean {
  checkVector(vector);
  switch (vector) {
    case 8: case 10: case 11: case 12: case 13: case 14: case 17: case 21:
      return true;
    default:
      return false;
  }
}

/**
 * The interruption type to inject an event with this vector as: 1 (#DB) as INT1 →
 * PrivSoftException, 2 → NMI, 3 (#BP) and 4 (#OF) → SoftException, other vectors 0-21 →
 * HardException, 32-255 → External.
 *
 * Vectors 22-31 are reserved by the architecture and name no event to inject: the result is
 * `undefined`, and the caller must handle it (x86_vcpu answered `Other` here, which would
 * inject an MTF event instead). RangeError for anything outside 0-255.
 */
export function interruptionTypeFromVector(vector: number): VmxInterruptionType | undefined {
  checkVector(vector);
  if (vector === 1) return VmxInterruptionType.PrivSoftException;
  if (vector === 2) return VmxInterruptionType.NMI;
  if (vector === 3 || vector === 4) return VmxInterruptionType.SoftException;
  if (vector <= 21) return VmxInterruptionType.HardException;
  if (vector <= 31) return undefined;
  return VmxInterruptionType.External;
}

/** Software interrupt and (privileged) software exceptions need the VM-entry instruction length. */
export function isSoftInterruptionType(type: VmxInterruptionType): boolean {
  return type === VmxInterruptionType.SoftIntr
    || type === VmxInterruptionType.PrivSoftException
    || type === VmxInterruptionType.SoftException;
}

/** Bit layout of the interruption-information fields, for decodeFields. */
export const INTERRUPTION_INFO_BITS: readonly BitField[] = Object.freeze([
  { name: 'vector', lsb: 0, width: 8, description: 'Vector of the interrupt or exception' },
  {
    name: 'interruption type', lsb: 8, width: 3, description: 'Kind of event (VmxInterruptionType)',
    values: Object.freeze({
      0: 'External', 1: 'Reserved', 2: 'NMI', 3: 'HardException',
      4: 'SoftIntr', 5: 'PrivSoftException', 6: 'SoftException', 7: 'Other',
    }),
  },
  flag('error code valid', 11, 'An error code is delivered (entry) or was saved (exit)'),
  flag('NMI unblocking due to IRET', 12, 'VM exit only: IRET unblocked NMIs before the exit'),
  flag('valid', 31, 'The field holds an event'),
]);

export interface InterruptionInfo {
  /** Bits 7:0. */
  readonly vector: number;
  /** Bits 10:8. */
  readonly type: VmxInterruptionType;
  readonly typeName: string;
  /** Bit 11. */
  readonly errorCodeValid: boolean;
  /** Bit 12 (VM-exit and IDT-vectoring information only; reserved on entry). */
  readonly nmiUnblockingDueToIret: boolean;
  /** Bit 31. */
  readonly valid: boolean;
  /** Bits 30:13, which the SDM reserves (must be zero for VM entry). */
  readonly reserved: number;
}

/** Splits an interruption-information value (VM-entry, VM-exit or IDT-vectoring). */
export function decodeInterruptionInfo(raw32: number): InterruptionInfo {
  const raw = toU32(raw32, 'interruption information');
  const type = ((raw >>> 8) & 7) as VmxInterruptionType;
  return {
    vector: raw & 0xff,
    type,
    typeName: VmxInterruptionType[type],
    errorCodeValid: ((raw >>> 11) & 1) === 1,
    nmiUnblockingDueToIret: ((raw >>> 12) & 1) === 1,
    valid: ((raw >>> 31) & 1) === 1,
    reserved: (raw >>> 13) & 0x3ffff,
  };
}

export interface InterruptionInfoInput {
  readonly vector: number;
  readonly type: VmxInterruptionType;
  readonly errorCodeValid?: boolean;
  readonly nmiUnblockingDueToIret?: boolean;
  /** Defaults to true. */
  readonly valid?: boolean;
}

/** Builds an interruption-information value (unsigned 32-bit); RangeError on a bad vector or type. */
export function encodeInterruptionInfo(info: InterruptionInfoInput): number {
  checkVector(info.vector);
  if (!Number.isInteger(info.type) || info.type < 0 || info.type > 7) {
    throw new RangeError(`interruption type ${info.type} is outside 0-7`);
  }
  let raw = info.vector | (info.type << 8);
  if (info.errorCodeValid === true) raw |= 1 << 11;
  if (info.nmiUnblockingDueToIret === true) raw |= 1 << 12;
  if (info.valid !== false) raw |= 1 << 31;
  return raw >>> 0;
}

// ---------------------------------------------------------------------------------------------
// VM-instruction errors (SDM 31.4, Table 31-1)

/** VM-instruction error numbers, the value of the VM_INSTRUCTION_ERROR field (0x4400). */
export enum VmInstructionErrorNumber {
  VMCALL_IN_VMX_ROOT = 1,
  VMCLEAR_INVALID_ADDRESS = 2,
  VMCLEAR_VMXON_POINTER = 3,
  VMLAUNCH_NON_CLEAR_VMCS = 4,
  VMRESUME_NON_LAUNCHED_VMCS = 5,
  VMRESUME_AFTER_VMXOFF = 6,
  ENTRY_INVALID_CONTROL_FIELDS = 7,
  ENTRY_INVALID_HOST_STATE_FIELDS = 8,
  VMPTRLD_INVALID_ADDRESS = 9,
  VMPTRLD_VMXON_POINTER = 10,
  VMPTRLD_INCORRECT_REVISION_ID = 11,
  VMREAD_VMWRITE_UNSUPPORTED_COMPONENT = 12,
  VMWRITE_READ_ONLY_COMPONENT = 13,
  VMXON_IN_VMX_ROOT = 15,
  ENTRY_INVALID_EXECUTIVE_VMCS_POINTER = 16,
  ENTRY_NON_LAUNCHED_EXECUTIVE_VMCS = 17,
  ENTRY_EXECUTIVE_VMCS_POINTER_NOT_VMXON_POINTER = 18,
  VMCALL_NON_CLEAR_VMCS = 19,
  VMCALL_INVALID_EXIT_CONTROL_FIELDS = 20,
  VMCALL_INCORRECT_MSEG_REVISION_ID = 22,
  VMXOFF_UNDER_DUAL_MONITOR = 23,
  VMCALL_INVALID_SMM_MONITOR_FEATURES = 24,
  ENTRY_INVALID_EXECUTIVE_VMCS_EXECUTION_CONTROLS = 25,
  ENTRY_EVENTS_BLOCKED_BY_MOV_SS = 26,
  INVALID_INVEPT_INVVPID_OPERAND = 28,
}

export interface VmInstructionErrorInfo {
  readonly number: VmInstructionErrorNumber;
  /** The SDM's short name of the error. */
  readonly text: string;
  /** When the error happens, where the short name leaves it out. */
  readonly detail?: string;
}

const N = VmInstructionErrorNumber;

/** Every VM-instruction error number Table 31-1 defines, in number order. */
export const VM_INSTRUCTION_ERRORS: readonly VmInstructionErrorInfo[] = Object.freeze([
  { number: N.VMCALL_IN_VMX_ROOT, text: 'VMCALL executed in VMX root operation' },
  { number: N.VMCLEAR_INVALID_ADDRESS, text: 'VMCLEAR with invalid physical address' },
  { number: N.VMCLEAR_VMXON_POINTER, text: 'VMCLEAR with VMXON pointer' },
  { number: N.VMLAUNCH_NON_CLEAR_VMCS, text: 'VMLAUNCH with non-clear VMCS' },
  { number: N.VMRESUME_NON_LAUNCHED_VMCS, text: 'VMRESUME with non-launched VMCS' },
  {
    number: N.VMRESUME_AFTER_VMXOFF, text: 'VMRESUME after VMXOFF',
    detail: 'VMXOFF and VMXON were executed between the VMLAUNCH and this VMRESUME',
  },
  { number: N.ENTRY_INVALID_CONTROL_FIELDS, text: 'VM entry with invalid control field(s)' },
  { number: N.ENTRY_INVALID_HOST_STATE_FIELDS, text: 'VM entry with invalid host-state field(s)' },
  { number: N.VMPTRLD_INVALID_ADDRESS, text: 'VMPTRLD with invalid physical address' },
  { number: N.VMPTRLD_VMXON_POINTER, text: 'VMPTRLD with VMXON pointer' },
  { number: N.VMPTRLD_INCORRECT_REVISION_ID, text: 'VMPTRLD with incorrect VMCS revision identifier' },
  { number: N.VMREAD_VMWRITE_UNSUPPORTED_COMPONENT, text: 'VMREAD/VMWRITE from/to unsupported VMCS component' },
  { number: N.VMWRITE_READ_ONLY_COMPONENT, text: 'VMWRITE to read-only VMCS component' },
  { number: N.VMXON_IN_VMX_ROOT, text: 'VMXON executed in VMX root operation' },
  { number: N.ENTRY_INVALID_EXECUTIVE_VMCS_POINTER, text: 'VM entry with invalid executive-VMCS pointer' },
  { number: N.ENTRY_NON_LAUNCHED_EXECUTIVE_VMCS, text: 'VM entry with non-launched executive VMCS' },
  {
    number: N.ENTRY_EXECUTIVE_VMCS_POINTER_NOT_VMXON_POINTER,
    text: 'VM entry with executive-VMCS pointer not VMXON pointer',
    detail: 'raised by a VM entry that tries to end the dual-monitor treatment of SMIs and SMM',
  },
  {
    number: N.VMCALL_NON_CLEAR_VMCS, text: 'VMCALL with non-clear VMCS',
    detail: 'raised by a VMCALL that tries to start the dual-monitor treatment of SMIs and SMM',
  },
  { number: N.VMCALL_INVALID_EXIT_CONTROL_FIELDS, text: 'VMCALL with invalid VM-exit control fields' },
  {
    number: N.VMCALL_INCORRECT_MSEG_REVISION_ID, text: 'VMCALL with incorrect MSEG revision identifier',
    detail: 'raised by a VMCALL that tries to start the dual-monitor treatment of SMIs and SMM',
  },
  { number: N.VMXOFF_UNDER_DUAL_MONITOR, text: 'VMXOFF under dual-monitor treatment of SMIs and SMM' },
  {
    number: N.VMCALL_INVALID_SMM_MONITOR_FEATURES, text: 'VMCALL with invalid SMM-monitor features',
    detail: 'raised by a VMCALL that tries to start the dual-monitor treatment of SMIs and SMM',
  },
  {
    number: N.ENTRY_INVALID_EXECUTIVE_VMCS_EXECUTION_CONTROLS,
    text: 'VM entry with invalid VM-execution control fields in executive VMCS',
    detail: 'raised by a VM entry that returns from SMM to the executive monitor',
  },
  { number: N.ENTRY_EVENTS_BLOCKED_BY_MOV_SS, text: 'VM entry with events blocked by MOV SS' },
  { number: N.INVALID_INVEPT_INVVPID_OPERAND, text: 'Invalid operand to INVEPT/INVVPID' },
].map((e) => Object.freeze(e)));

const ERROR_BY_NUMBER = new Map<number, VmInstructionErrorInfo>(VM_INSTRUCTION_ERRORS.map((e) => [e.number, e]));

/**
 * A VM-instruction error number with its text. Built from whatever the VM_INSTRUCTION_ERROR
 * field held; never throws. An unlisted number (0 included: the field reads 0 when no error
 * was recorded) has `known === false` and prints as "unknown error number".
 */
export class VmxInstructionError {
  readonly number: number;
  readonly text: string;
  readonly detail: string | undefined;
  readonly known: boolean;

  constructor(n: number) {
    this.number = n;
    const info = ERROR_BY_NUMBER.get(n);
    this.known = info !== undefined;
    this.text = info?.text ?? 'unknown error number';
    this.detail = info?.detail;
  }

  toString(): string {
    return `VmxInstructionError(${String(this.number)}: ${this.text})`;
  }
}
