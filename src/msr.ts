// Model-specific registers: one data table every layer reads (engine, command line, debug
// adapter, extension), a tiny read/write layer over an `MsrStore` the emulated CPU owns, and
// the `MsrReadWrite` pattern of x86_vcpu's msr.rs, where a type binds one MSR and decodes it.
import { BitField, extractField, fieldsMask, flag } from './bitfields';
import { hex } from './format';

/** Group names in the order views list them. */
export const MSR_GROUPS = [
  'Processor control',
  'System call',
  'Segment base',
  'Time stamp',
  'Memory type',
  'Debug and performance',
  'Machine check',
  'VMX capability',
] as const;

export type MsrGroup = (typeof MSR_GROUPS)[number];

/** One MSR as data: where it is, what it is for and, when it has any, its bit fields. */
export interface MsrInfo {
  readonly name: string;
  /** The ECX value of RDMSR/WRMSR. */
  readonly address: number;
  readonly group: MsrGroup;
  readonly description: string;
  readonly fields?: readonly BitField[];
}

/** A field of more than one bit, written with its lowest bit and width as the SDM draws them. */
function bits(name: string, lsb: number, width: number, description: string,
  values?: Readonly<Record<number, string>>): BitField {
  return values === undefined ? { name, lsb, width, description } : { name, lsb, width, description, values };
}

/** Memory-type encodings a PAT entry can hold (SDM Vol. 3A, Table 12-10). */
export const PAT_MEMORY_TYPES: Readonly<Record<number, string>> = { 0: 'UC', 1: 'WC', 4: 'WT', 5: 'WP', 6: 'WB', 7: 'UC-' };

/** Memory-type encodings of the MTRRs: the PAT's, without UC- (SDM Vol. 3A, Table 12-8). */
export const MTRR_MEMORY_TYPES: Readonly<Record<number, string>> = { 0: 'UC', 1: 'WC', 4: 'WT', 5: 'WP', 6: 'WB' };

/** Memory types IA32_VMX_BASIC[53:50] reports for the VMCS and related structures. */
export const VMX_MEMORY_TYPES: Readonly<Record<number, string>> = { 0: 'UC', 6: 'WB' };

/** Write-back, the memory type a VMCS region normally has (IA32_VMX_BASIC[53:50] = 6). */
export const VMX_MEMORY_TYPE_WRITE_BACK = 6;

function controlCapabilityFields(): readonly BitField[] {
  return [
    bits('allowed0', 0, 32, 'Allowed 0-settings: a bit set here must be 1 in the control field'),
    bits('allowed1', 32, 32, 'Allowed 1-settings: a bit clear here must be 0 in the control field; a set bit may be 1'),
  ];
}

const PAT_FIELDS: readonly BitField[] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
  bits(`PA${i}`, 8 * i, 3, `Memory type of PAT entry ${i}`, PAT_MEMORY_TYPES));

// Field names: the SDM's mnemonic where it gives one (SCE, LME, BSP, PA0, FE …); otherwise a
// camelCase name, the same one the decoding classes below use for the property.
//
// Addresses and bit positions: Intel SDM Vol. 4, "Model-Specific Registers (MSRs)", Table 2-2
// "IA-32 Architectural MSRs"; the VMX capability MSRs 0x480-0x492 with Vol. 3D, Appendix A
// "VMX Capability Reporting Facility" (A.1 basic, A.3-A.5 controls, A.6 misc, A.7-A.8 fixed
// CR0/CR4 bits, A.9 VMCS enumeration, A.10 EPT/VPID, A.11 VM functions).
//
// Kept in address order: ALL_MSRS is this table as written.
const MSR_TABLE = [
  { name: 'IA32_TIME_STAMP_COUNTER', address: 0x10, group: 'Time stamp', description: 'Time-stamp counter, as RDTSC returns it' },
  {
    name: 'IA32_APIC_BASE', address: 0x1b, group: 'Processor control', description: 'Local APIC base address and mode',
    fields: [
      flag('BSP', 8, 'Processor is the bootstrap processor'),
      flag('EXTD', 10, 'x2APIC mode enable'),
      flag('EN', 11, 'APIC global enable'),
      bits('APIC_BASE', 12, 40, 'Physical address of the APIC registers, in 4-KByte pages (bits 51:12, up to MAXPHYADDR)'),
    ],
  },
  {
    name: 'IA32_FEATURE_CONTROL', address: 0x3a, group: 'Processor control', description: 'Control features in Intel 64 processors (VMX enable, lock)',
    fields: [
      flag('locked', 0, 'Lock bit: once set, WRMSR to this MSR faults until reset'),
      flag('vmxInsideSmx', 1, 'Enable VMX inside SMX operation'),
      flag('vmxOutsideSmx', 2, 'Enable VMX outside SMX operation'),
      bits('senterLocalEnables', 8, 7, 'SENTER local function enables'),
      flag('senterGlobalEnable', 15, 'SENTER global enable'),
      flag('sgxLaunchControl', 17, 'SGX launch control enable'),
      flag('sgxGlobalEnable', 18, 'SGX global enable'),
      flag('lmceOn', 20, 'Local machine-check exceptions on'),
    ],
  },
  { name: 'IA32_TSC_ADJUST', address: 0x3b, group: 'Time stamp', description: 'Adjustment added to the time-stamp counter' },
  {
    name: 'IA32_MTRRCAP', address: 0xfe, group: 'Memory type', description: 'MTRR capabilities (read-only)',
    fields: [
      bits('VCNT', 0, 8, 'Number of variable-range MTRRs'),
      flag('FIX', 8, 'Fixed-range MTRRs supported'),
      flag('WC', 10, 'Write-combining memory type supported'),
      flag('SMRR', 11, 'SMRR interface supported'),
      flag('PRMRR', 12, 'PRMRR supported'),
    ],
  },
  {
    name: 'IA32_SYSENTER_CS', address: 0x174, group: 'System call', description: 'SYSENTER target code-segment selector',
    fields: [bits('csSelector', 0, 16, 'CS selector loaded by SYSENTER; SS is this plus 8')],
  },
  { name: 'IA32_SYSENTER_ESP', address: 0x175, group: 'System call', description: 'SYSENTER target stack pointer' },
  { name: 'IA32_SYSENTER_EIP', address: 0x176, group: 'System call', description: 'SYSENTER target instruction pointer' },
  {
    name: 'IA32_MCG_CAP', address: 0x179, group: 'Machine check', description: 'Global machine-check capabilities (read-only)',
    fields: [
      bits('Count', 0, 8, 'Number of error-reporting banks'),
      flag('MCG_CTL_P', 8, 'IA32_MCG_CTL present'),
      flag('MCG_EXT_P', 9, 'Extended machine-check state registers present'),
      flag('MCG_CMCI_P', 10, 'Corrected machine-check interrupt supported'),
      flag('MCG_TES_P', 11, 'Threshold-based error status present'),
      bits('MCG_EXT_CNT', 16, 8, 'Number of extended machine-check state registers'),
      flag('MCG_SER_P', 24, 'Software error recovery supported'),
      flag('MCG_EMC_P', 25, 'Enhanced machine-check capability'),
      flag('MCG_ELOG_P', 26, 'Extended error logging'),
      flag('MCG_LMCE_P', 27, 'Local machine-check exceptions supported'),
    ],
  },
  {
    name: 'IA32_MCG_STATUS', address: 0x17a, group: 'Machine check', description: 'Global machine-check status',
    fields: [
      flag('RIPV', 0, 'Restart IP valid'),
      flag('EIPV', 1, 'Error IP valid'),
      flag('MCIP', 2, 'Machine check in progress'),
      flag('LMCE_S', 3, 'Local machine-check exception signaled'),
    ],
  },
  {
    name: 'IA32_MISC_ENABLE', address: 0x1a0, group: 'Processor control', description: 'Enable miscellaneous processor features',
    fields: [
      flag('fastStrings', 0, 'Fast-strings enable'),
      flag('autoThermalControl', 3, 'Automatic thermal control circuit enable'),
      flag('perfMonAvailable', 7, 'Performance monitoring available (read-only)'),
      flag('btsUnavailable', 11, 'Branch trace storage unavailable (read-only)'),
      flag('pebsUnavailable', 12, 'Processor event-based sampling unavailable (read-only)'),
      flag('eistEnable', 16, 'Enhanced Intel SpeedStep technology enable'),
      flag('monitorFsm', 18, 'MONITOR/MWAIT enable'),
      flag('limitCpuidMaxval', 22, 'Limit CPUID maximum basic leaf to 2'),
      flag('xtprMessageDisable', 23, 'xTPR message disable'),
      flag('xdDisable', 34, 'Execute-disable bit disable'),
    ],
  },
  {
    name: 'IA32_DEBUGCTL', address: 0x1d9, group: 'Debug and performance', description: 'Trace, profile and debug control',
    fields: [
      flag('LBR', 0, 'Last branch record'),
      flag('BTF', 1, 'Single-step on branches'),
      flag('BLD', 2, 'Bus-lock detection: #DB after an instruction that locks the bus'),
      flag('TR', 6, 'Trace messages enable'),
      flag('BTS', 7, 'Branch trace store'),
      flag('BTINT', 8, 'Branch trace interrupt'),
      flag('BTS_OFF_OS', 9, 'BTS off at CPL 0'),
      flag('BTS_OFF_USR', 10, 'BTS off at CPL > 0'),
      flag('FREEZE_LBRS_ON_PMI', 11, 'Freeze LBRs on PMI'),
      flag('FREEZE_PERFMON_ON_PMI', 12, 'Freeze performance counters on PMI'),
      flag('ENABLE_UNCORE_PMI', 13, 'Enable uncore PMI'),
      flag('FREEZE_WHILE_SMM', 14, 'Freeze perfmon and trace messages while in SMM'),
      flag('RTM_DEBUG', 15, 'Advanced debugging of RTM regions'),
    ],
  },
  { name: 'IA32_PAT', address: 0x277, group: 'Memory type', description: 'Page-attribute table', fields: PAT_FIELDS },
  {
    name: 'IA32_MTRR_DEF_TYPE', address: 0x2ff, group: 'Memory type', description: 'Default memory type and MTRR enables',
    fields: [
      bits('Type', 0, 8, 'Default memory type', MTRR_MEMORY_TYPES),
      flag('FE', 10, 'Fixed-range MTRRs enable'),
      flag('E', 11, 'MTRRs enable'),
    ],
  },
  {
    name: 'IA32_PERF_GLOBAL_CTRL', address: 0x38f, group: 'Debug and performance', description: 'Global performance-counter enables',
    fields: [
      bits('pmcEnables', 0, 32, 'Bit n enables IA32_PMCn'),
      flag('EN_FIXED_CTR0', 32, 'Enable IA32_FIXED_CTR0'),
      flag('EN_FIXED_CTR1', 33, 'Enable IA32_FIXED_CTR1'),
      flag('EN_FIXED_CTR2', 34, 'Enable IA32_FIXED_CTR2'),
    ],
  },
  {
    name: 'IA32_VMX_BASIC', address: 0x480, group: 'VMX capability', description: 'Basic VMX information (SDM Vol. 3D, A.1)',
    fields: [
      bits('revisionId', 0, 31, 'VMCS revision identifier'),
      bits('regionSize', 32, 13, 'Bytes to allocate for the VMXON region and any VMCS region'),
      flag('physAddrWidth32', 48, 'VMXON, VMCS and related addresses are limited to 32 bits'),
      flag('dualMonitor', 49, 'Dual-monitor treatment of SMIs and SMM supported'),
      bits('memType', 50, 4, 'Memory type for the VMCS, its data structures and the MSEG header', VMX_MEMORY_TYPES),
      flag('insOutsInfo', 54, 'VM exits for INS/OUTS report instruction information'),
      flag('trueControls', 55, 'Default1 controls may be 0: use the IA32_VMX_TRUE_*_CTLS MSRs'),
      flag('noErrorCodeRequirement', 56, 'VM entry may deliver hardware exceptions with or without an error code'),
    ],
  },
  { name: 'IA32_VMX_PINBASED_CTLS', address: 0x481, group: 'VMX capability', description: 'Allowed settings of pin-based VM-execution controls (A.3.1)', fields: controlCapabilityFields() },
  { name: 'IA32_VMX_PROCBASED_CTLS', address: 0x482, group: 'VMX capability', description: 'Allowed settings of primary processor-based VM-execution controls (A.3.2)', fields: controlCapabilityFields() },
  { name: 'IA32_VMX_EXIT_CTLS', address: 0x483, group: 'VMX capability', description: 'Allowed settings of primary VM-exit controls (A.4.1)', fields: controlCapabilityFields() },
  { name: 'IA32_VMX_ENTRY_CTLS', address: 0x484, group: 'VMX capability', description: 'Allowed settings of VM-entry controls (A.5)', fields: controlCapabilityFields() },
  {
    name: 'IA32_VMX_MISC', address: 0x485, group: 'VMX capability', description: 'Miscellaneous VMX data (A.6)',
    fields: [
      bits('preemptionTimerRate', 0, 5, 'The VMX-preemption timer counts down once per 2^n TSC ticks'),
      flag('storesEferLma', 5, 'VM exits store EFER.LMA into the "IA-32e mode guest" entry control'),
      flag('activityHlt', 6, 'HLT activity state supported'),
      flag('activityShutdown', 7, 'Shutdown activity state supported'),
      flag('activityWaitForSipi', 8, 'Wait-for-SIPI activity state supported'),
      flag('intelPtInVmx', 14, 'Intel PT may be used in VMX operation'),
      flag('rdmsrSmbaseInSmm', 15, 'RDMSR can read IA32_SMBASE in SMM'),
      bits('cr3TargetCount', 16, 9, 'Number of CR3-target values supported'),
      bits('msrListMax', 25, 3, 'Recommended maximum MSRs in each MSR list: 512 * (n + 1)'),
      flag('smmMonitorCtlBit2', 28, 'Bit 2 of IA32_SMM_MONITOR_CTL can be set (VMXOFF unblocks SMIs)'),
      flag('vmwriteAnyField', 29, 'VMWRITE can write any supported VMCS field, VM-exit information fields included'),
      flag('injectZeroLength', 30, 'VM entry can inject software interrupts and exceptions with instruction length 0'),
      bits('msegRevisionId', 32, 32, 'MSEG revision identifier'),
    ],
  },
  { name: 'IA32_VMX_CR0_FIXED0', address: 0x486, group: 'VMX capability', description: 'CR0 bits fixed to 1 in VMX operation (A.7)' },
  { name: 'IA32_VMX_CR0_FIXED1', address: 0x487, group: 'VMX capability', description: 'CR0 bits that may be 1 in VMX operation (A.7)' },
  { name: 'IA32_VMX_CR4_FIXED0', address: 0x488, group: 'VMX capability', description: 'CR4 bits fixed to 1 in VMX operation (A.8)' },
  { name: 'IA32_VMX_CR4_FIXED1', address: 0x489, group: 'VMX capability', description: 'CR4 bits that may be 1 in VMX operation (A.8)' },
  {
    name: 'IA32_VMX_VMCS_ENUM', address: 0x48a, group: 'VMX capability', description: 'VMCS field enumeration (A.9)',
    fields: [bits('highestIndex', 1, 9, 'Highest index value used in any VMCS field encoding')],
  },
  { name: 'IA32_VMX_PROCBASED_CTLS2', address: 0x48b, group: 'VMX capability', description: 'Allowed settings of secondary processor-based VM-execution controls (A.3.3)', fields: controlCapabilityFields() },
  {
    name: 'IA32_VMX_EPT_VPID_CAP', address: 0x48c, group: 'VMX capability', description: 'EPT and VPID capabilities (A.10)',
    fields: [
      flag('executeOnly', 0, 'EPT translations may be execute-only'),
      flag('pageWalkLength4', 6, 'Page-walk length of 4 supported'),
      flag('pageWalkLength5', 7, 'Page-walk length of 5 supported'),
      flag('memTypeUc', 8, 'EPT paging structures may be uncacheable'),
      flag('memTypeWb', 14, 'EPT paging structures may be write-back'),
      flag('pde2MB', 16, 'EPT PDEs may map 2-MByte pages'),
      flag('pdpte1GB', 17, 'EPT PDPTEs may map 1-GByte pages'),
      flag('invept', 20, 'INVEPT supported'),
      flag('accessedDirty', 21, 'Accessed and dirty flags for EPT supported'),
      flag('advancedExitInfo', 22, 'Advanced VM-exit information for EPT violations'),
      flag('supervisorShadowStack', 23, 'Supervisor shadow-stack control supported'),
      flag('inveptSingleContext', 25, 'Single-context INVEPT supported'),
      flag('inveptAllContext', 26, 'All-context INVEPT supported'),
      flag('invvpid', 32, 'INVVPID supported'),
      flag('invvpidIndividualAddress', 40, 'Individual-address INVVPID supported'),
      flag('invvpidSingleContext', 41, 'Single-context INVVPID supported'),
      flag('invvpidAllContext', 42, 'All-context INVVPID supported'),
      flag('invvpidSingleContextRetainingGlobals', 43, 'Single-context-retaining-globals INVVPID supported'),
      bits('hlatPrefixSize', 48, 6, 'Maximum HLAT prefix size'),
    ],
  },
  { name: 'IA32_VMX_TRUE_PINBASED_CTLS', address: 0x48d, group: 'VMX capability', description: 'Allowed settings of pin-based controls, default1 bits included (A.3.1)', fields: controlCapabilityFields() },
  { name: 'IA32_VMX_TRUE_PROCBASED_CTLS', address: 0x48e, group: 'VMX capability', description: 'Allowed settings of primary processor-based controls, default1 bits included (A.3.2)', fields: controlCapabilityFields() },
  { name: 'IA32_VMX_TRUE_EXIT_CTLS', address: 0x48f, group: 'VMX capability', description: 'Allowed settings of VM-exit controls, default1 bits included (A.4.1)', fields: controlCapabilityFields() },
  { name: 'IA32_VMX_TRUE_ENTRY_CTLS', address: 0x490, group: 'VMX capability', description: 'Allowed settings of VM-entry controls, default1 bits included (A.5)', fields: controlCapabilityFields() },
  {
    name: 'IA32_VMX_VMFUNC', address: 0x491, group: 'VMX capability', description: 'Allowed settings of the VM-function controls (A.11)',
    fields: [flag('eptpSwitching', 0, 'VM function 0, EPTP switching, supported')],
  },
  {
    name: 'IA32_VMX_PROCBASED_CTLS3', address: 0x492, group: 'VMX capability', description: 'Allowed 1-settings of tertiary processor-based VM-execution controls (A.3.4)',
    fields: [bits('allowed1', 0, 64, 'Allowed 1-settings: a bit clear here must be 0 in the control field')],
  },
  {
    name: 'IA32_BNDCFGS', address: 0xd90, group: 'Processor control', description: 'MPX configuration for CPL 0',
    fields: [
      flag('EN', 0, 'Enable Intel MPX in supervisor mode'),
      flag('BNDPRESERVE', 1, 'Preserve the bounds registers across near branches'),
      bits('Base', 12, 52, 'Base address of the bound directory'),
    ],
  },
  {
    name: 'IA32_XSS', address: 0xda0, group: 'Processor control', description: 'Supervisor state components XSAVES/XRSTORS manage',
    fields: [
      flag('PT', 8, 'Intel Processor Trace state'),
      flag('PASID', 10, 'PASID state'),
      flag('CET_U', 11, 'CET user state'),
      flag('CET_S', 12, 'CET supervisor state'),
      flag('HDC', 13, 'Hardware duty cycling state'),
      flag('UINTR', 14, 'User-interrupt state'),
      flag('LBR', 15, 'Last-branch-record state'),
      flag('HWP', 16, 'Hardware P-state state'),
    ],
  },
  {
    name: 'IA32_EFER', address: 0xc0000080, group: 'Processor control', description: 'Extended feature enables',
    fields: [
      flag('SCE', 0, 'SYSCALL enable'),
      flag('LME', 8, 'IA-32e mode enable'),
      flag('LMA', 10, 'IA-32e mode active (read-only)'),
      flag('NXE', 11, 'Execute-disable bit enable'),
    ],
  },
  {
    name: 'IA32_STAR', address: 0xc0000081, group: 'System call', description: 'SYSCALL/SYSRET segment selectors',
    fields: [
      bits('syscallCsSs', 32, 16, 'CS selector SYSCALL loads; SS is this plus 8'),
      bits('sysretCsSs', 48, 16, 'Selector base SYSRET derives CS and SS from'),
    ],
  },
  { name: 'IA32_LSTAR', address: 0xc0000082, group: 'System call', description: 'SYSCALL target RIP in 64-bit mode' },
  { name: 'IA32_CSTAR', address: 0xc0000083, group: 'System call', description: 'SYSCALL target RIP in compatibility mode (not used by Intel processors)' },
  {
    name: 'IA32_FMASK', address: 0xc0000084, group: 'System call', description: 'RFLAGS mask applied by SYSCALL',
    fields: [bits('mask', 0, 32, 'RFLAGS bits SYSCALL clears')],
  },
  { name: 'IA32_FS_BASE', address: 0xc0000100, group: 'Segment base', description: 'FS base address' },
  { name: 'IA32_GS_BASE', address: 0xc0000101, group: 'Segment base', description: 'GS base address' },
  { name: 'IA32_KERNEL_GSBASE', address: 0xc0000102, group: 'Segment base', description: 'GS base SWAPGS exchanges with IA32_GS_BASE' },
  {
    name: 'IA32_TSC_AUX', address: 0xc0000103, group: 'Time stamp', description: 'Auxiliary value RDTSCP and RDPID return',
    fields: [bits('aux', 0, 32, 'Auxiliary signature (typically the processor number)')],
  },
] as const satisfies readonly MsrInfo[];

export type MsrName = (typeof MSR_TABLE)[number]['name'];

/** Every MSR the project knows, in address order. */
export const ALL_MSRS: readonly MsrInfo[] = Object.freeze(MSR_TABLE);

for (const entry of ALL_MSRS) {
  Object.freeze(entry.fields);
  Object.freeze(entry);
}

/** The table keyed by name, to use like an enum: `Msr.IA32_EFER.address === 0xc0000080`. */
export const Msr: { readonly [K in MsrName]: MsrInfo } = Object.freeze(
  Object.fromEntries(MSR_TABLE.map((m) => [m.name, m])) as { [K in MsrName]: MsrInfo },
);

const BY_NAME: ReadonlyMap<string, MsrInfo> = new Map(ALL_MSRS.map((m) => [m.name.toLowerCase(), m]));
const BY_ADDRESS: ReadonlyMap<number, MsrInfo> = new Map(ALL_MSRS.map((m) => [m.address, m]));

/** Looks an MSR up by name, case-insensitively; undefined when the name is not in the table. */
export function msrByName(name: string): MsrInfo | undefined {
  return BY_NAME.get(name.toLowerCase());
}

/** Looks an MSR up by address; undefined when the address is not in the table. */
export function msrByAddress(address: number): MsrInfo | undefined {
  return BY_ADDRESS.get(address);
}

/** How messages name an MSR: `IA32_EFER (0xc0000080)` when known, `MSR 0x12345` when not. */
export function msrLabel(address: number): string {
  const msr = msrByAddress(address);
  return msr === undefined ? `MSR ${hex(address)}` : `${msr.name} (${hex(address)})`;
}

// ---- MSR store -------------------------------------------------------------------------

/** The MSRs of one emulated CPU; an access it rejects throws MsrAccessError. */
export interface MsrStore {
  rdmsr(address: number): bigint;
  wrmsr(address: number, value: bigint): void;
}

export type MsrAccess = 'read' | 'write';

/** An RDMSR or WRMSR the store refused; the emulated CPU turns it into #GP(0). */
export class MsrAccessError extends Error {
  readonly address: number;
  readonly access: MsrAccess;

  constructor(address: number, access: MsrAccess, reason = 'the MSR store does not implement it') {
    super(`${access} of ${msrLabel(address)} rejected: ${reason}`);
    this.name = 'MsrAccessError';
    this.address = address;
    this.access = access;
  }
}

const U64_LIMIT = 1n << 64n;

/** Throws a RangeError naming the MSR unless `value` is a bigint in 0 .. 2^64 - 1. */
export function checkMsrValue(address: number, value: bigint): void {
  if (typeof value !== 'bigint') {
    throw new TypeError(`${msrLabel(address)}: MSR values are bigints, got ${typeof value}`);
  }
  if (value < 0n || value >= U64_LIMIT) {
    throw new RangeError(`${msrLabel(address)}: ${hex(value)} is outside 0 to 2^64-1`);
  }
}

function checkAddress(address: number): void {
  if (!Number.isInteger(address) || address < 0 || address > 0xffffffff) {
    throw new RangeError(`MSR address ${address} is not a 32-bit unsigned integer`);
  }
}

export interface MapMsrStoreOptions {
  /** Accept addresses that are not in the table (default false: they throw MsrAccessError). */
  readonly allowUnknown?: boolean;
}

/**
 * An in-memory MSR store for tests and tools. A known MSR that was never written reads as 0.
 * Read-only MSRs (the VMX capabilities among them) are writable here, so a test can set them up.
 */
export class MapMsrStore implements MsrStore {
  readonly values = new Map<number, bigint>();
  readonly allowUnknown: boolean;

  constructor(initial?: Iterable<readonly [MsrInfo | number, bigint]>, options: MapMsrStoreOptions = {}) {
    this.allowUnknown = options.allowUnknown ?? false;
    for (const [msr, value] of initial ?? []) this.wrmsr(typeof msr === 'number' ? msr : msr.address, value);
  }

  private check(address: number, access: MsrAccess): void {
    checkAddress(address);
    if (!this.allowUnknown && !BY_ADDRESS.has(address)) {
      throw new MsrAccessError(address, access, 'not an MSR this store implements');
    }
  }

  rdmsr(address: number): bigint {
    this.check(address, 'read');
    return this.values.get(address) ?? 0n;
  }

  wrmsr(address: number, value: bigint): void {
    this.check(address, 'write');
    checkMsrValue(address, value);
    this.values.set(address, value);
  }
}

/** Reads one MSR from a store (x86_vcpu's `Msr::read`). */
export function readMsr(store: MsrStore, msr: MsrInfo): bigint {
  return store.rdmsr(msr.address);
}

/** Writes one MSR to a store after checking the value fits in 64 bits (x86_vcpu's `Msr::write`). */
export function writeMsr(store: MsrStore, msr: MsrInfo, value: bigint): void {
  checkMsrValue(msr.address, value);
  store.wrmsr(msr.address, value);
}

// ---- MsrReadWrite ----------------------------------------------------------------------

/** The static side of an MsrReadWrite subclass: the MSR it binds. */
interface BoundMsr {
  readonly MSR?: MsrInfo;
  readonly name: string;
}

function boundMsr(cls: BoundMsr): MsrInfo {
  if (cls.MSR === undefined) {
    throw new TypeError(`${cls.name} binds no MSR: extend MsrReadWrite and set static MSR`);
  }
  return cls.MSR;
}

/**
 * x86_vcpu's `MsrReadWrite` trait: a subclass sets `static MSR` to one table entry and gets
 * raw access to it; it adds its own decoding on top (see VmxBasic, FeatureControl).
 */
export abstract class MsrReadWrite {
  declare static readonly MSR: MsrInfo;

  static readRaw(this: BoundMsr, store: MsrStore): bigint {
    return readMsr(store, boundMsr(this));
  }

  static writeRaw(this: BoundMsr, store: MsrStore, value: bigint): void {
    writeMsr(store, boundMsr(this), value);
  }
}

/** The field of `msr` called `name` in the table above; an Error when there is none. */
export function fieldNamed(msr: MsrInfo, name: string): BitField {
  const field = msr.fields?.find((f) => f.name === name);
  if (field === undefined) throw new Error(`${msr.name} has no field '${name}'`);
  return field;
}

/** Decodes a field of `msr` by its table name, so decoding classes and views agree. */
function num(msr: MsrInfo, value: bigint, name: string): number {
  return Number(extractField(value, fieldNamed(msr, name)));
}

function bit(msr: MsrInfo, value: bigint, name: string): boolean {
  return extractField(value, fieldNamed(msr, name)) !== 0n;
}

/** The non-TRUE control capability MSRs and their TRUE_ counterparts (SDM Vol. 3D, A.2). */
const TRUE_COUNTERPART: ReadonlyMap<number, MsrInfo> = new Map([
  [Msr.IA32_VMX_PINBASED_CTLS.address, Msr.IA32_VMX_TRUE_PINBASED_CTLS],
  [Msr.IA32_VMX_PROCBASED_CTLS.address, Msr.IA32_VMX_TRUE_PROCBASED_CTLS],
  [Msr.IA32_VMX_EXIT_CTLS.address, Msr.IA32_VMX_TRUE_EXIT_CTLS],
  [Msr.IA32_VMX_ENTRY_CTLS.address, Msr.IA32_VMX_TRUE_ENTRY_CTLS],
]);

/** IA32_VMX_BASIC decoded (SDM Vol. 3D, A.1). */
export class VmxBasic extends MsrReadWrite {
  static readonly MSR = Msr.IA32_VMX_BASIC;

  /** VMCS revision identifier, bits 30:0. */
  readonly revisionId: number;
  /** Bytes of a VMXON or VMCS region, bits 44:32 (at most 4096). */
  readonly regionSize: number;
  /** Bit 48: physical addresses of VMX structures are limited to 32 bits. */
  readonly physAddrWidth32: boolean;
  /** Bit 49: dual-monitor treatment of SMIs and SMM. */
  readonly dualMonitor: boolean;
  /** Bits 53:50: memory type of the VMCS and related structures (0 UC, 6 WB). */
  readonly memType: number;
  /** Bit 54: INS/OUTS VM exits report instruction information. */
  readonly insOutsInfo: boolean;
  /** Bit 55: the IA32_VMX_TRUE_*_CTLS MSRs exist and report default1 controls that may be 0. */
  readonly trueControls: boolean;
  /** Bit 56: VM entry does not require an error code to match the exception vector. */
  readonly noErrorCodeRequirement: boolean;

  constructor(readonly raw: bigint) {
    super();
    const m = VmxBasic.MSR;
    this.revisionId = num(m, raw, 'revisionId');
    this.regionSize = num(m, raw, 'regionSize');
    this.physAddrWidth32 = bit(m, raw, 'physAddrWidth32');
    this.dualMonitor = bit(m, raw, 'dualMonitor');
    this.memType = num(m, raw, 'memType');
    this.insOutsInfo = bit(m, raw, 'insOutsInfo');
    this.trueControls = bit(m, raw, 'trueControls');
    this.noErrorCodeRequirement = bit(m, raw, 'noErrorCodeRequirement');
  }

  static read(store: MsrStore): VmxBasic {
    return new VmxBasic(VmxBasic.readRaw(store));
  }

  /** The memory type's name (UC, WB), or undefined for an encoding the SDM does not use here. */
  get memTypeName(): string | undefined {
    return VMX_MEMORY_TYPES[this.memType];
  }

  /** Whether the TRUE_ capability MSRs (0x48d-0x490) should be consulted instead of 0x481-0x484. */
  get useTrueControls(): boolean {
    return this.trueControls;
  }

  /**
   * The MSR to read a control's capabilities from: the TRUE_ counterpart of `msr` when this CPU
   * has them, else `msr` itself (also for PROCBASED_CTLS2, which has no TRUE_ form).
   */
  capabilityMsrFor(msr: MsrInfo): MsrInfo {
    return this.trueControls ? TRUE_COUNTERPART.get(msr.address) ?? msr : msr;
  }
}

/** The IA32_FEATURE_CONTROL flags FeatureControl.write manages, as x86_vcpu's bitflags. */
export const FeatureControlFlags = Object.freeze({
  LOCKED: 1n << BigInt(fieldNamed(Msr.IA32_FEATURE_CONTROL, 'locked').lsb),
  VMXON_ENABLED_INSIDE_SMX: 1n << BigInt(fieldNamed(Msr.IA32_FEATURE_CONTROL, 'vmxInsideSmx').lsb),
  VMXON_ENABLED_OUTSIDE_SMX: 1n << BigInt(fieldNamed(Msr.IA32_FEATURE_CONTROL, 'vmxOutsideSmx').lsb),
});

/** Every bit FeatureControl.write owns; all others are kept as they are. */
const FEATURE_CONTROL_KNOWN = fieldsMask(
  ['locked', 'vmxInsideSmx', 'vmxOutsideSmx'].map((n) => fieldNamed(Msr.IA32_FEATURE_CONTROL, n)),
);

/** IA32_FEATURE_CONTROL decoded (SDM Vol. 4, Table 2-2, 0x3a). */
export class FeatureControl extends MsrReadWrite {
  static readonly MSR = Msr.IA32_FEATURE_CONTROL;

  readonly locked: boolean;
  readonly vmxInsideSmx: boolean;
  readonly vmxOutsideSmx: boolean;
  readonly senterGlobalEnable: boolean;
  readonly sgxLaunchControl: boolean;
  readonly sgxGlobalEnable: boolean;
  readonly lmceOn: boolean;

  constructor(readonly raw: bigint) {
    super();
    const m = FeatureControl.MSR;
    this.locked = bit(m, raw, 'locked');
    this.vmxInsideSmx = bit(m, raw, 'vmxInsideSmx');
    this.vmxOutsideSmx = bit(m, raw, 'vmxOutsideSmx');
    this.senterGlobalEnable = bit(m, raw, 'senterGlobalEnable');
    this.sgxLaunchControl = bit(m, raw, 'sgxLaunchControl');
    this.sgxGlobalEnable = bit(m, raw, 'sgxGlobalEnable');
    this.lmceOn = bit(m, raw, 'lmceOn');
  }

  static read(store: MsrStore): FeatureControl {
    return new FeatureControl(FeatureControl.readRaw(store));
  }

  /** The FeatureControlFlags bits that are set. */
  get flags(): bigint {
    return this.raw & FEATURE_CONTROL_KNOWN;
  }

  /**
   * Sets the managed flags to exactly `flags` (an OR of FeatureControlFlags) and keeps every
   * other bit of the MSR as it was, reserved ones included.
   */
  static write(store: MsrStore, flags: bigint): void {
    if (typeof flags !== 'bigint' || flags < 0n || (flags & ~FEATURE_CONTROL_KNOWN) !== 0n) {
      throw new RangeError(`IA32_FEATURE_CONTROL: ${String(flags)} is not an OR of FeatureControlFlags (mask ${hex(FEATURE_CONTROL_KNOWN)})`);
    }
    const kept = FeatureControl.readRaw(store) & ~FEATURE_CONTROL_KNOWN;
    FeatureControl.writeRaw(store, kept | flags);
  }
}

/** The MSRs that report allowed 0- and 1-settings of a 32-bit VMX control field. */
export const CONTROL_CAPABILITY_MSRS: readonly MsrInfo[] = Object.freeze([
  Msr.IA32_VMX_PINBASED_CTLS, Msr.IA32_VMX_PROCBASED_CTLS, Msr.IA32_VMX_EXIT_CTLS, Msr.IA32_VMX_ENTRY_CTLS,
  Msr.IA32_VMX_PROCBASED_CTLS2, Msr.IA32_VMX_TRUE_PINBASED_CTLS, Msr.IA32_VMX_TRUE_PROCBASED_CTLS,
  Msr.IA32_VMX_TRUE_EXIT_CTLS, Msr.IA32_VMX_TRUE_ENTRY_CTLS,
]);

/** A control capability MSR decoded (SDM Vol. 3D, A.3-A.5): allowed settings of each control bit. */
export class ControlCapability {
  /** Bits 31:0, the allowed 0-settings: a bit set here must be 1 in the control. */
  readonly allowed0: number;
  /** Bits 63:32, the allowed 1-settings: a bit clear here must be 0 in the control. */
  readonly allowed1: number;

  constructor(readonly msr: MsrInfo, readonly raw: bigint) {
    ControlCapability.check(msr);
    checkMsrValue(msr.address, raw);
    this.allowed0 = num(msr, raw, 'allowed0');
    this.allowed1 = num(msr, raw, 'allowed1');
  }

  private static check(msr: MsrInfo): void {
    if (!CONTROL_CAPABILITY_MSRS.includes(msr)) {
      throw new RangeError(`${msr.name} is not a VMX control capability MSR`);
    }
  }

  /** Reads and decodes one of CONTROL_CAPABILITY_MSRS; any other MSR is a RangeError, before any read. */
  static read(store: MsrStore, msr: MsrInfo): ControlCapability {
    ControlCapability.check(msr);
    return new ControlCapability(msr, readMsr(store, msr));
  }

  /** Whether control bit `bit` (0-31) must be 1. */
  mustBeOne(bit: number): boolean {
    return ((this.allowed0 >>> bit) & 1) === 1;
  }

  /** Whether control bit `bit` (0-31) may be 1. */
  mayBeOne(bit: number): boolean {
    return ((this.allowed1 >>> bit) & 1) === 1;
  }

  /** `desired` with the must-be-1 bits set and the must-be-0 bits cleared, as a uint32. */
  adjust(desired: number): number {
    return ((desired | this.allowed0) & this.allowed1) >>> 0;
  }
}
