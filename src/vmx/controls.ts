// Named bits of the VMX control fields (SDM Vol. 3: 25.6.1 pin-based, 25.6.2 processor-based,
// 25.7.1 VM-exit, 25.8.1 VM-entry controls) and the capability-MSR rule that says which
// settings a processor allows (Appendix A.2-A.5).
import { BitField, flag } from '../bitfields';

/** Pin-based VM-execution controls (Table 25-5), VMCS field PIN_BASED_VM_EXEC_CONTROL. */
export const PIN_BASED_CONTROLS: readonly BitField[] = Object.freeze([
  flag('external-interrupt exiting', 0, 'External interrupts cause VM exits'),
  flag('NMI exiting', 3, 'NMIs cause VM exits'),
  flag('virtual NMIs', 5, 'NMI blocking is tracked for virtual NMIs'),
  flag('activate VMX-preemption timer', 6, 'The VMX-preemption timer counts down in VMX non-root operation'),
  flag('process posted interrupts', 7, 'Interrupts with the posted-interrupt notification vector are posted'),
]);

/** Primary processor-based VM-execution controls (Table 25-6), CPU_BASED_VM_EXEC_CONTROL. */
export const PRIMARY_PROCESSOR_CONTROLS: readonly BitField[] = Object.freeze([
  flag('interrupt-window exiting', 2, 'VM exit as soon as the guest can take interrupts'),
  flag('use TSC offsetting', 3, 'RDTSC, RDTSCP and IA32_TIME_STAMP_COUNTER reads add the TSC offset'),
  flag('HLT exiting', 7, 'HLT causes VM exits'),
  flag('INVLPG exiting', 9, 'INVLPG causes VM exits'),
  flag('MWAIT exiting', 10, 'MWAIT causes VM exits'),
  flag('RDPMC exiting', 11, 'RDPMC causes VM exits'),
  flag('RDTSC exiting', 12, 'RDTSC and RDTSCP cause VM exits'),
  flag('CR3-load exiting', 15, 'MOV to CR3 causes VM exits unless the value is a CR3 target'),
  flag('CR3-store exiting', 16, 'MOV from CR3 causes VM exits'),
  flag('activate tertiary controls', 17, 'The tertiary processor-based controls are used'),
  flag('CR8-load exiting', 19, 'MOV to CR8 causes VM exits'),
  flag('CR8-store exiting', 20, 'MOV from CR8 causes VM exits'),
  flag('use TPR shadow', 21, 'TPR virtualization through the virtual-APIC page'),
  flag('NMI-window exiting', 22, 'VM exit as soon as there is no virtual-NMI blocking'),
  flag('MOV-DR exiting', 23, 'MOV to or from a debug register causes VM exits'),
  flag('unconditional I/O exiting', 24, 'Every I/O instruction causes a VM exit'),
  flag('use I/O bitmaps', 25, 'The I/O bitmaps decide which ports cause VM exits'),
  flag('monitor trap flag', 27, 'VM exit after every guest instruction'),
  flag('use MSR bitmaps', 28, 'The MSR bitmaps decide which RDMSR/WRMSR cause VM exits'),
  flag('MONITOR exiting', 29, 'MONITOR causes VM exits'),
  flag('PAUSE exiting', 30, 'PAUSE causes VM exits'),
  flag('activate secondary controls', 31, 'The secondary processor-based controls are used'),
]);

/** Secondary processor-based VM-execution controls (Table 25-7), SECONDARY_VM_EXEC_CONTROL. */
export const SECONDARY_PROCESSOR_CONTROLS: readonly BitField[] = Object.freeze([
  flag('virtualize APIC accesses', 0, 'Accesses to the APIC-access page are virtualized'),
  flag('enable EPT', 1, 'Extended page tables translate guest-physical addresses'),
  flag('descriptor-table exiting', 2, 'LGDT, LIDT, LLDT, LTR, SGDT, SIDT, SLDT and STR cause VM exits'),
  flag('enable RDTSCP', 3, 'RDTSCP is available to the guest'),
  flag('virtualize x2APIC mode', 4, 'x2APIC MSR accesses to the TPR are virtualized'),
  flag('enable VPID', 5, 'Cached translations are tagged with the VPID'),
  flag('WBINVD exiting', 6, 'WBINVD and WBNOINVD cause VM exits'),
  flag('unrestricted guest', 7, 'The guest may run unpaged or in real-address mode'),
  flag('APIC-register virtualization', 8, 'APIC register reads are served from the virtual-APIC page'),
  flag('virtual-interrupt delivery', 9, 'Pending virtual interrupts are evaluated and delivered'),
  flag('PAUSE-loop exiting', 10, 'A long PAUSE loop at CPL 0 causes a VM exit'),
  flag('RDRAND exiting', 11, 'RDRAND causes VM exits'),
  flag('enable INVPCID', 12, 'INVPCID is available to the guest'),
  flag('enable VM functions', 13, 'VMFUNC is available to the guest'),
  flag('VMCS shadowing', 14, 'Guest VMREAD/VMWRITE may reach a shadow VMCS'),
  flag('enable ENCLS exiting', 15, 'The ENCLS-exiting bitmap decides which ENCLS leaves exit'),
  flag('RDSEED exiting', 16, 'RDSEED causes VM exits'),
  flag('enable PML', 17, 'Guest-physical writes are logged in the page-modification log'),
  flag('EPT-violation #VE', 18, 'Some EPT violations become virtualization exceptions'),
  flag('conceal VMX from PT', 19, 'Intel PT suppresses VMX-related packets in non-root operation'),
  flag('enable XSAVES/XRSTORS', 20, 'XSAVES and XRSTORS are available to the guest'),
  flag('PASID translation', 21, 'ENQCMD and ENQCMDS translate PASIDs'),
  flag('mode-based execute control for EPT', 22, 'EPT has separate execute permissions for user and supervisor'),
  flag('sub-page write permissions for EPT', 23, 'EPT write permission at 128-byte granularity'),
  flag('Intel PT uses guest physical addresses', 24, 'Intel PT output addresses are guest-physical'),
  flag('use TSC scaling', 25, 'RDTSC, RDTSCP and TSC MSR reads are multiplied by the TSC multiplier'),
  flag('enable user wait and pause', 26, 'TPAUSE, UMONITOR and UMWAIT are available to the guest'),
  flag('enable PCONFIG', 27, 'PCONFIG is available to the guest'),
  flag('enable ENCLV exiting', 28, 'The ENCLV-exiting bitmap decides which ENCLV leaves exit'),
  flag('VMM bus-lock detection', 30, 'A bus lock in the guest causes a VM exit'),
  flag('instruction timeout', 31, 'A VM exit when the guest makes no progress within the timeout'),
]);

/** Primary VM-exit controls (Table 25-14), VM_EXIT_CONTROLS. */
export const EXIT_CONTROLS: readonly BitField[] = Object.freeze([
  flag('save debug controls', 2, 'DR7 and IA32_DEBUGCTL are saved on VM exit'),
  flag('host address-space size', 9, 'The host runs in 64-bit mode after VM exit'),
  flag('load IA32_PERF_GLOBAL_CTRL', 12, 'IA32_PERF_GLOBAL_CTRL is loaded on VM exit'),
  flag('acknowledge interrupt on exit', 15, 'The interrupt controller is acknowledged on an external-interrupt exit'),
  flag('save IA32_PAT', 18, 'IA32_PAT is saved on VM exit'),
  flag('load IA32_PAT', 19, 'IA32_PAT is loaded on VM exit'),
  flag('save IA32_EFER', 20, 'IA32_EFER is saved on VM exit'),
  flag('load IA32_EFER', 21, 'IA32_EFER is loaded on VM exit'),
  flag('save VMX-preemption timer value', 22, 'The preemption timer value is saved on VM exit'),
  flag('clear IA32_BNDCFGS', 23, 'IA32_BNDCFGS is cleared on VM exit'),
  flag('conceal VMX from PT', 24, 'Intel PT emits no PIP/VMCS packet for the VM exit'),
  flag('clear IA32_RTIT_CTL', 25, 'IA32_RTIT_CTL is cleared on VM exit'),
  flag('clear IA32_LBR_CTL', 26, 'IA32_LBR_CTL is cleared on VM exit'),
  flag('clear UINV', 27, 'UINV is cleared on VM exit'),
  flag('load CET state', 28, 'CET state is loaded on VM exit'),
  flag('load PKRS', 29, 'IA32_PKRS is loaded on VM exit'),
  flag('save IA32_PERF_GLOBAL_CTL', 30, 'IA32_PERF_GLOBAL_CTL is saved on VM exit'),
  flag('activate secondary controls', 31, 'The secondary VM-exit controls are used'),
]);

/** VM-entry controls (Table 25-16), VM_ENTRY_CONTROLS. */
export const ENTRY_CONTROLS: readonly BitField[] = Object.freeze([
  flag('load debug controls', 2, 'DR7 and IA32_DEBUGCTL are loaded on VM entry'),
  flag('IA-32e mode guest', 9, 'The guest runs in IA-32e mode after VM entry'),
  flag('entry to SMM', 10, 'VM entry is into SMM (dual-monitor treatment)'),
  flag('deactivate dual-monitor treatment', 11, 'The dual-monitor treatment ends after VM entry'),
  flag('load IA32_PERF_GLOBAL_CTRL', 13, 'IA32_PERF_GLOBAL_CTRL is loaded on VM entry'),
  flag('load IA32_PAT', 14, 'IA32_PAT is loaded on VM entry'),
  flag('load IA32_EFER', 15, 'IA32_EFER is loaded on VM entry'),
  flag('load IA32_BNDCFGS', 16, 'IA32_BNDCFGS is loaded on VM entry'),
  flag('conceal VMX from PT', 17, 'Intel PT emits no PIP/VMCS packet for the VM entry'),
  flag('load IA32_RTIT_CTL', 18, 'IA32_RTIT_CTL is loaded on VM entry'),
  flag('load UINV', 19, 'UINV is loaded on VM entry'),
  flag('load CET state', 20, 'CET state is loaded on VM entry'),
  flag('load IA32_LBR_CTL', 21, 'IA32_LBR_CTL is loaded on VM entry'),
  flag('load PKRS', 22, 'IA32_PKRS is loaded on VM entry'),
]);

/**
 * The default1 class of each control field (SDM A.2): bits that are reserved and must be 1
 * when the processor has no TRUE capability MSRs (IA32_VMX_BASIC bit 55 = 0).
 */
export const DEFAULT_ONE_BITS = Object.freeze({
  /** Pin-based: bits 1, 2, 4. */
  PIN_BASED: 0x0000_0016,
  /** Primary processor-based: bits 1, 4-6, 8, 13-16, 26. */
  PRIMARY_PROCESSOR: 0x0401_e172,
  /** VM-exit: bits 0-8, 10, 11, 13, 14, 16, 17. */
  EXIT: 0x0003_6dff,
  /** VM-entry: bits 0-8, 12. */
  ENTRY: 0x0000_11ff,
});

/** One VMX control field with the MSRs that report its allowed settings. */
export interface ControlSet {
  readonly title: string;
  readonly vmcsField: string;
  /** The capability MSR every VMX processor has. */
  readonly capabilityMsr: string;
  /** The TRUE capability MSR (present when IA32_VMX_BASIC bit 55 is 1), if the field has one. */
  readonly trueCapabilityMsr?: string;
  readonly bits: readonly BitField[];
  /** SDM A.2 default1 class; 0 for a field that has none. */
  readonly defaultOne: number;
}

export const CONTROL_SETS: readonly ControlSet[] = Object.freeze([
  {
    title: 'pin-based VM-execution controls', vmcsField: 'PIN_BASED_VM_EXEC_CONTROL',
    capabilityMsr: 'IA32_VMX_PINBASED_CTLS', trueCapabilityMsr: 'IA32_VMX_TRUE_PINBASED_CTLS',
    bits: PIN_BASED_CONTROLS, defaultOne: DEFAULT_ONE_BITS.PIN_BASED,
  },
  {
    title: 'primary processor-based VM-execution controls', vmcsField: 'CPU_BASED_VM_EXEC_CONTROL',
    capabilityMsr: 'IA32_VMX_PROCBASED_CTLS', trueCapabilityMsr: 'IA32_VMX_TRUE_PROCBASED_CTLS',
    bits: PRIMARY_PROCESSOR_CONTROLS, defaultOne: DEFAULT_ONE_BITS.PRIMARY_PROCESSOR,
  },
  {
    title: 'secondary processor-based VM-execution controls', vmcsField: 'SECONDARY_VM_EXEC_CONTROL',
    capabilityMsr: 'IA32_VMX_PROCBASED_CTLS2',
    bits: SECONDARY_PROCESSOR_CONTROLS, defaultOne: 0,
  },
  {
    title: 'primary VM-exit controls', vmcsField: 'VM_EXIT_CONTROLS',
    capabilityMsr: 'IA32_VMX_EXIT_CTLS', trueCapabilityMsr: 'IA32_VMX_TRUE_EXIT_CTLS',
    bits: EXIT_CONTROLS, defaultOne: DEFAULT_ONE_BITS.EXIT,
  },
  {
    title: 'VM-entry controls', vmcsField: 'VM_ENTRY_CONTROLS',
    capabilityMsr: 'IA32_VMX_ENTRY_CTLS', trueCapabilityMsr: 'IA32_VMX_TRUE_ENTRY_CTLS',
    bits: ENTRY_CONTROLS, defaultOne: DEFAULT_ONE_BITS.ENTRY,
  },
].map((s) => Object.freeze(s)));

/** Bit list by VMCS field name (PIN_BASED_VM_EXEC_CONTROL …). */
export const CONTROLS_BY_VMCS_FIELD: Readonly<Record<string, readonly BitField[]>> = Object.freeze(
  Object.fromEntries(CONTROL_SETS.map((s) => [s.vmcsField, s.bits])),
);

/** Bit list by capability MSR name, TRUE MSRs included (IA32_VMX_PINBASED_CTLS …). */
export const CONTROLS_BY_CAPABILITY_MSR: Readonly<Record<string, readonly BitField[]>> = Object.freeze(
  Object.fromEntries(CONTROL_SETS.flatMap((s) => {
    const rows: Array<[string, readonly BitField[]]> = [[s.capabilityMsr, s.bits]];
    if (s.trueCapabilityMsr !== undefined) rows.push([s.trueCapabilityMsr, s.bits]);
    return rows;
  })),
);

function toU32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < -0x8000_0000 || value > 0xffff_ffff) {
    throw new RangeError(`${what}: ${value} is not a 32-bit integer`);
  }
  return value >>> 0;
}

/** The mask of the named controls (names as in the lists, case-insensitive); RangeError for an unknown name. */
export function controlMask(bits: readonly BitField[], ...names: string[]): number {
  let mask = 0;
  for (const name of names) {
    const field = bits.find((b) => b.name.toLowerCase() === name.toLowerCase());
    if (field === undefined) throw new RangeError(`no control named '${name}' in this control field`);
    mask |= ((2 ** field.width - 1) * 2 ** field.lsb);
  }
  return mask >>> 0;
}

/**
 * Splits a capability MSR value (SDM A.3): bits 31:0 are the allowed-0 settings (a 1 there
 * means the control must be 1), bits 63:32 the allowed-1 settings (a 0 there means it must be 0).
 */
export function splitCapabilityMsr(value: bigint): { allowed0: number; allowed1: number } {
  if (value < 0n || value >= 1n << 64n) throw new RangeError(`capability MSR value ${value} is not 64-bit unsigned`);
  return { allowed0: Number(value & 0xffff_ffffn), allowed1: Number(value >> 32n) };
}

function bitsOf(mask: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 32; i++) if (((mask >>> i) & 1) === 1) out.push(i);
  return out;
}

function nameBit(bit: number, bits: readonly BitField[]): string {
  const field = bits.find((b) => b.width === 1 && b.lsb === bit);
  return field === undefined ? `bit ${bit}` : `'${field.name}' (bit ${bit})`;
}

export interface AdjustControlsOptions {
  /** Bits the caller needs 0; an error if the allowed-0 settings force one of them to 1. */
  readonly mustClear?: number;
  /** The capability MSR named in errors; by default the one for `bits` (non-TRUE name). */
  readonly msrName?: string;
}

/**
 * Applies the allowed-0/allowed-1 rule of SDM A.3 to a requested control value: the result
 * is `requested | allowed0`. Throws an Error naming each bit `requested` sets that allowed1
 * leaves 0 ("cannot set 'unrestricted guest' (bit 7): IA32_VMX_PROCBASED_CTLS2 allows it to
 * be 0 only"), and, with `mustClear`, each such bit allowed0 forces to 1. Values are 32-bit
 * integers (negative int32 accepted as its bits); the result is unsigned.
 */
export function adjustControls(
  requested: number,
  allowed0: number,
  allowed1: number,
  bits: readonly BitField[],
  options: AdjustControlsOptions = {},
): number {
  const req = toU32(requested, 'requested controls');
  const a0 = toU32(allowed0, 'allowed-0 settings');
  const a1 = toU32(allowed1, 'allowed-1 settings');
  const clear = toU32(options.mustClear ?? 0, 'mustClear');
  const msr = options.msrName ?? CONTROL_SETS.find((s) => s.bits === bits)?.capabilityMsr ?? 'the capability MSR';

  const contradictory = (a0 & ~a1) >>> 0;
  if (contradictory !== 0) {
    throw new Error(`${msr} is inconsistent: ${bitsOf(contradictory).map((b) => nameBit(b, bits)).join(', ')} must be both 1 and 0`);
  }
  const both = (req & clear) >>> 0;
  if (both !== 0) {
    throw new Error(`${bitsOf(both).map((b) => nameBit(b, bits)).join(', ')} requested both set and clear`);
  }
  const problems: string[] = [];
  for (const b of bitsOf((req & ~a1) >>> 0)) problems.push(`cannot set ${nameBit(b, bits)}: ${msr} allows it to be 0 only`);
  for (const b of bitsOf((clear & a0) >>> 0)) problems.push(`cannot clear ${nameBit(b, bits)}: ${msr} allows it to be 1 only`);
  if (problems.length > 0) throw new Error(problems.join('; '));
  return (req | a0) >>> 0;
}

/** Which capability field each control set narrows (see withoutControls in the VMX core). */
const SET_KEYS: Readonly<Record<string, 'pin' | 'primary' | 'secondary' | 'exit' | 'entry'>> = {
  PIN_BASED_VM_EXEC_CONTROL: 'pin', CPU_BASED_VM_EXEC_CONTROL: 'primary', SECONDARY_VM_EXEC_CONTROL: 'secondary',
  VM_EXIT_CONTROLS: 'exit', VM_ENTRY_CONTROLS: 'entry',
};

/**
 * Control names (as in the lists above, case-insensitive) sorted into masks per control field.
 * A name in several fields ('activate secondary controls', 'load IA32_PAT' …) may be qualified
 * as `field:name` with field pin, primary, secondary, exit or entry; RangeError for an unknown
 * or ambiguous name.
 */
export function controlMasksByName(names: readonly string[]): Partial<Record<'pin' | 'primary' | 'secondary' | 'exit' | 'entry', number>> {
  const out: Partial<Record<'pin' | 'primary' | 'secondary' | 'exit' | 'entry', number>> = {};
  for (const raw of names) {
    const colon = raw.indexOf(':');
    const want = colon >= 0 ? raw.slice(0, colon).trim().toLowerCase() : undefined;
    const name = (colon >= 0 ? raw.slice(colon + 1) : raw).trim().toLowerCase();
    const hits = CONTROL_SETS.filter((s) => (want === undefined || SET_KEYS[s.vmcsField] === want) && s.bits.some((b) => b.name.toLowerCase() === name));
    if (hits.length === 0) throw new RangeError(`no VMX control named '${raw}' (see \`vmx-debug tables controls\`)`);
    if (hits.length > 1) throw new RangeError(`'${raw}' names a control in several fields: write ${hits.map((s) => `${SET_KEYS[s.vmcsField]}:${name}`).join(' or ')}`);
    const key = SET_KEYS[hits[0].vmcsField];
    out[key] = ((out[key] ?? 0) | controlMask(hits[0].bits, name)) >>> 0;
  }
  return out;
}

/**
 * Every control as controlMasksByName accepts it, in table case: "field:name" for each, and the
 * bare name too where only one field has it (for lists that offer the names, like package.json).
 */
export function controlNameSpellings(): Array<{ name: string; description: string }> {
  const out: Array<{ name: string; description: string }> = [];
  const count = new Map<string, number>();
  for (const s of CONTROL_SETS) for (const b of s.bits) count.set(b.name.toLowerCase(), (count.get(b.name.toLowerCase()) ?? 0) + 1);
  for (const s of CONTROL_SETS) {
    for (const b of s.bits) {
      const description = `${b.description} (${s.title}, bit ${b.lsb})`;
      if (count.get(b.name.toLowerCase()) === 1) out.push({ name: b.name, description });
      out.push({ name: `${SET_KEYS[s.vmcsField]}:${b.name}`, description });
    }
  }
  return out;
}
