// The VMX capabilities of the emulated processor: the values of IA32_VMX_BASIC ..
// IA32_VMX_PROCBASED_CTLS2 and the TRUE_* MSRs (SDM Vol. 3D, Appendix A), built from named
// controls so that what the MSRs claim is exactly what the VMX core implements. A launch
// configuration may narrow them (never widen).

import {
  controlMask, DEFAULT_ONE_BITS, ENTRY_CONTROLS, EXIT_CONTROLS, PIN_BASED_CONTROLS,
  PRIMARY_PROCESSOR_CONTROLS, SECONDARY_PROCESSOR_CONTROLS,
} from '../../vmx/controls';
import { VMCS_FIELDS } from '../../vmx/vmcs-fields';
import { Msr } from '../../msr';

/** VMCS revision identifier this processor uses (IA32_VMX_BASIC[30:0]); any value is the CPU's choice. */
export const VMCS_REVISION_ID = 0x12;
/** Size of the VMXON and VMCS regions (IA32_VMX_BASIC[44:32]). */
export const VMCS_REGION_SIZE = 4096;
/** IA32_VMX_MISC[4:0]: the VMX-preemption timer counts down once every 2^5 TSC ticks. */
export const PREEMPTION_TIMER_RATE = 5;
/** IA32_VMX_MISC[24:16]: number of CR3-target values. */
export const CR3_TARGET_COUNT = 4;
/** Recommended maximum MSR-list length: 512 * (IA32_VMX_MISC[27:25] + 1). */
export const MAX_MSR_LIST = 512;

/** Controls this core implements, by the names of src/vmx/controls.ts. */
const IMPLEMENTED = {
  pin: ['external-interrupt exiting', 'NMI exiting', 'virtual NMIs', 'activate VMX-preemption timer'],
  primary: [
    'interrupt-window exiting', 'use TSC offsetting', 'HLT exiting', 'INVLPG exiting', 'MWAIT exiting',
    'RDPMC exiting', 'RDTSC exiting', 'CR3-load exiting', 'CR3-store exiting', 'CR8-load exiting',
    'CR8-store exiting', 'NMI-window exiting', 'MOV-DR exiting', 'unconditional I/O exiting',
    'use I/O bitmaps', 'monitor trap flag', 'use MSR bitmaps', 'MONITOR exiting', 'PAUSE exiting',
    'activate secondary controls',
  ],
  secondary: [
    'enable EPT', 'descriptor-table exiting', 'enable RDTSCP', 'enable VPID', 'WBINVD exiting',
    'unrestricted guest', 'RDRAND exiting', 'RDSEED exiting',
  ],
  exit: [
    'save debug controls', 'host address-space size', 'acknowledge interrupt on exit', 'save IA32_PAT',
    'load IA32_PAT', 'save IA32_EFER', 'load IA32_EFER', 'save VMX-preemption timer value',
  ],
  entry: ['load debug controls', 'IA-32e mode guest', 'load IA32_PAT', 'load IA32_EFER'],
} as const;

/** Default1 bits the TRUE MSRs let software clear (SDM A.3.2, A.4.1, A.5): CR3 exiting, debug controls. */
const TRUE_CLEARABLE = {
  primary: controlMask(PRIMARY_PROCESSOR_CONTROLS, 'CR3-load exiting', 'CR3-store exiting'),
  exit: controlMask(EXIT_CONTROLS, 'save debug controls'),
  entry: controlMask(ENTRY_CONTROLS, 'load debug controls'),
};

/** The capability values, as numbers split into allowed-0 (must be 1) and allowed-1 (may be 1). */
export interface VmxCapabilities {
  basic: bigint;
  pin: Allowed;
  primary: Allowed;
  secondary: Allowed;
  exit: Allowed;
  entry: Allowed;
  truePin: Allowed;
  truePrimary: Allowed;
  trueExit: Allowed;
  trueEntry: Allowed;
  misc: bigint;
  cr0Fixed0: number;
  cr0Fixed1: number;
  cr4Fixed0: number;
  cr4Fixed1: number;
  vmcsEnum: bigint;
  eptVpidCap: bigint;
}

export interface Allowed {
  /** Bits that must be 1. */
  must: number;
  /** Bits that may be 1. */
  may: number;
}

function allowed(must: number, may: number): Allowed {
  return { must: must >>> 0, may: (may | must) >>> 0 };
}

/** CR4 bits the emulated processor implements (Cpu's CR4_WRITABLE). */
const CR4_SUPPORTED = 0x7ff | (1 << 13) | (1 << 18) | (1 << 20) | (1 << 21);

/** The processor's EPT/VPID capabilities (A.10). */
const EPT_VPID_CAP =
  (1n << 0n) /* execute-only translations */ | (1n << 6n) /* 4-level walk */ | (1n << 8n) /* UC */ |
  (1n << 14n) /* WB */ | (1n << 16n) /* 2-MiB pages */ | (1n << 17n) /* 1-GiB pages */ | (1n << 20n) /* INVEPT */ |
  (1n << 21n) /* accessed and dirty flags */ | (1n << 25n) /* single-context INVEPT */ | (1n << 26n) /* all-context INVEPT */ |
  (1n << 32n) /* INVVPID */ | (1n << 40n) /* individual-address */ | (1n << 41n) /* single-context */ |
  (1n << 42n) /* all-context */ | (1n << 43n) /* single-context retaining globals */;

/** The full capability set of the emulated processor. */
export function defaultVmxCapabilities(): VmxCapabilities {
  const pinMay = controlMask(PIN_BASED_CONTROLS, ...IMPLEMENTED.pin);
  const primaryMay = controlMask(PRIMARY_PROCESSOR_CONTROLS, ...IMPLEMENTED.primary);
  const secondaryMay = controlMask(SECONDARY_PROCESSOR_CONTROLS, ...IMPLEMENTED.secondary);
  const exitMay = controlMask(EXIT_CONTROLS, ...IMPLEMENTED.exit);
  const entryMay = controlMask(ENTRY_CONTROLS, ...IMPLEMENTED.entry);
  const maxIndex = Math.max(...VMCS_FIELDS.map((f) => (f.encoding >>> 1) & 0x1ff));
  return {
    basic: BigInt(VMCS_REVISION_ID) | (BigInt(VMCS_REGION_SIZE) << 32n) | (6n << 50n) /* WB */ |
      (1n << 54n) /* INS/OUTS instruction information */ | (1n << 55n) /* TRUE controls */,
    pin: allowed(DEFAULT_ONE_BITS.PIN_BASED, pinMay),
    primary: allowed(DEFAULT_ONE_BITS.PRIMARY_PROCESSOR, primaryMay),
    secondary: allowed(0, secondaryMay),
    exit: allowed(DEFAULT_ONE_BITS.EXIT, exitMay),
    entry: allowed(DEFAULT_ONE_BITS.ENTRY, entryMay),
    truePin: allowed(DEFAULT_ONE_BITS.PIN_BASED, pinMay),
    truePrimary: allowed(DEFAULT_ONE_BITS.PRIMARY_PROCESSOR & ~TRUE_CLEARABLE.primary, primaryMay),
    trueExit: allowed(DEFAULT_ONE_BITS.EXIT & ~TRUE_CLEARABLE.exit, exitMay),
    trueEntry: allowed(DEFAULT_ONE_BITS.ENTRY & ~TRUE_CLEARABLE.entry, entryMay),
    misc: BigInt(PREEMPTION_TIMER_RATE) | (1n << 5n) /* EFER.LMA saved to "IA-32e mode guest" */ |
      (1n << 6n) /* HLT activity state */ | (1n << 7n) /* shutdown activity state */ |
      (BigInt(CR3_TARGET_COUNT) << 16n) | (1n << 29n) /* VMWRITE to exit-information fields */,
    cr0Fixed0: 0x80000021, // PE, NE, PG (PE and PG may be 0 in an unrestricted guest)
    cr0Fixed1: 0xffffffff,
    cr4Fixed0: 0x2000, // VMXE
    cr4Fixed1: CR4_SUPPORTED,
    vmcsEnum: BigInt(maxIndex << 1),
    eptVpidCap: EPT_VPID_CAP,
  };
}

/** Narrows a capability set: the named controls can no longer be set to 1. */
export function withoutControls(caps: VmxCapabilities, disabled: { pin?: number; primary?: number; secondary?: number; exit?: number; entry?: number }): VmxCapabilities {
  const cut = (a: Allowed, bits = 0): Allowed => {
    if ((a.must & bits) !== 0) throw new RangeError('a control the processor requires cannot be disabled');
    return { must: a.must, may: (a.may & ~bits) >>> 0 };
  };
  return {
    ...caps,
    pin: cut(caps.pin, disabled.pin), truePin: cut(caps.truePin, disabled.pin),
    primary: cut(caps.primary, disabled.primary), truePrimary: cut(caps.truePrimary, disabled.primary),
    secondary: cut(caps.secondary, disabled.secondary),
    exit: cut(caps.exit, disabled.exit), trueExit: cut(caps.trueExit, disabled.exit),
    entry: cut(caps.entry, disabled.entry), trueEntry: cut(caps.trueEntry, disabled.entry),
  };
}

const pack = (a: Allowed): bigint => (BigInt(a.may) << 32n) | BigInt(a.must);

/** The MSR address → value pairs, as RDMSR returns them (A.1-A.10). */
export function capabilityMsrValues(caps: VmxCapabilities): Array<[number, bigint]> {
  return [
    [Msr.IA32_VMX_BASIC.address, caps.basic],
    [Msr.IA32_VMX_PINBASED_CTLS.address, pack(caps.pin)],
    [Msr.IA32_VMX_PROCBASED_CTLS.address, pack(caps.primary)],
    [Msr.IA32_VMX_EXIT_CTLS.address, pack(caps.exit)],
    [Msr.IA32_VMX_ENTRY_CTLS.address, pack(caps.entry)],
    [Msr.IA32_VMX_MISC.address, caps.misc],
    [Msr.IA32_VMX_CR0_FIXED0.address, BigInt(caps.cr0Fixed0)],
    [Msr.IA32_VMX_CR0_FIXED1.address, BigInt(caps.cr0Fixed1)],
    [Msr.IA32_VMX_CR4_FIXED0.address, BigInt(caps.cr4Fixed0)],
    [Msr.IA32_VMX_CR4_FIXED1.address, BigInt(caps.cr4Fixed1)],
    [Msr.IA32_VMX_VMCS_ENUM.address, caps.vmcsEnum],
    [Msr.IA32_VMX_PROCBASED_CTLS2.address, pack(caps.secondary)],
    [Msr.IA32_VMX_EPT_VPID_CAP.address, caps.eptVpidCap],
    [Msr.IA32_VMX_TRUE_PINBASED_CTLS.address, pack(caps.truePin)],
    [Msr.IA32_VMX_TRUE_PROCBASED_CTLS.address, pack(caps.truePrimary)],
    [Msr.IA32_VMX_TRUE_EXIT_CTLS.address, pack(caps.trueExit)],
    [Msr.IA32_VMX_TRUE_ENTRY_CTLS.address, pack(caps.trueEntry)],
  ];
}

/** Whether a CR0/CR4 value has every FIXED0 bit set and no bit outside FIXED1 (SDM A.7, A.8). */
export function meetsFixedBits(value: number, fixed0: number, fixed1: number): boolean {
  return ((value & fixed0) >>> 0) === fixed0 >>> 0 && (value & ~fixed1) === 0;
}
