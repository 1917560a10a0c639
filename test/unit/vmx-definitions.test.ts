// VMX definitions checked against the SDM: basic exit reasons (Vol. 3 Appendix C), the
// exit-reason field (25.9.1), interruption types and information (25.8.3, 25.9.2, 6.15),
// VM-instruction errors (31.4), and the VMX control bits with the capability-MSR rule
// (25.6.1, 25.6.2, 25.7.1, 25.8.1, Appendix A.2-A.5).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { decodeFields } from '../../src/bitfields';
import {
  EXIT_REASONS, EXIT_REASON_ALIASES, EXIT_REASON_FIELD_BITS, INTERRUPTION_INFO_BITS, VM_INSTRUCTION_ERRORS,
  VmInstructionErrorNumber, VmxExitReason, VmxInstructionError, VmxInterruptionType,
  decodeExitReasonField, decodeInterruptionInfo, describeExitReason, encodeInterruptionInfo,
  exitReasonByName, exitReasonByNumber, interruptionTypeFromVector, isSoftInterruptionType, vectorHasErrorCode,
} from '../../src/vmx/definitions';
import {
  CONTROLS_BY_CAPABILITY_MSR, CONTROLS_BY_VMCS_FIELD, CONTROL_SETS, DEFAULT_ONE_BITS, ENTRY_CONTROLS, EXIT_CONTROLS,
  PIN_BASED_CONTROLS, PRIMARY_PROCESSOR_CONTROLS, SECONDARY_PROCESSOR_CONTROLS,
  adjustControls, controlMask, splitCapabilityMsr,
} from '../../src/vmx/controls';
import { vmcsFieldByName } from '../../src/vmx/vmcs-fields';

// SDM Vol. 3, Appendix C, Table C-1 "Basic Exit Reasons", in x86_vcpu's spelling.
const SDM_EXIT_REASONS: Array<[number, string]> = [
  [0, 'EXCEPTION_NMI'], [1, 'EXTERNAL_INTERRUPT'], [2, 'TRIPLE_FAULT'], [3, 'INIT'], [4, 'SIPI'],
  [5, 'SMI'], [6, 'OTHER_SMI'], [7, 'INTERRUPT_WINDOW'], [8, 'NMI_WINDOW'], [9, 'TASK_SWITCH'],
  [10, 'CPUID'], [11, 'GETSEC'], [12, 'HLT'], [13, 'INVD'], [14, 'INVLPG'], [15, 'RDPMC'],
  [16, 'RDTSC'], [17, 'RSM'], [18, 'VMCALL'], [19, 'VMCLEAR'], [20, 'VMLAUNCH'], [21, 'VMPTRLD'],
  [22, 'VMPTRST'], [23, 'VMREAD'], [24, 'VMRESUME'], [25, 'VMWRITE'], [26, 'VMOFF'], [27, 'VMON'],
  [28, 'CR_ACCESS'], [29, 'DR_ACCESS'], [30, 'IO_INSTRUCTION'], [31, 'MSR_READ'], [32, 'MSR_WRITE'],
  [33, 'INVALID_GUEST_STATE'], [34, 'MSR_LOAD_FAIL'], [36, 'MWAIT_INSTRUCTION'], [37, 'MONITOR_TRAP_FLAG'],
  [39, 'MONITOR_INSTRUCTION'], [40, 'PAUSE_INSTRUCTION'], [41, 'MCE_DURING_VMENTRY'],
  [43, 'TPR_BELOW_THRESHOLD'], [44, 'APIC_ACCESS'], [45, 'VIRTUALIZED_EOI'], [46, 'GDTR_IDTR'],
  [47, 'LDTR_TR'], [48, 'EPT_VIOLATION'], [49, 'EPT_MISCONFIG'], [50, 'INVEPT'], [51, 'RDTSCP'],
  [52, 'PREEMPTION_TIMER'], [53, 'INVVPID'], [54, 'WBINVD'], [55, 'XSETBV'], [56, 'APIC_WRITE'],
  [57, 'RDRAND'], [58, 'INVPCID'], [59, 'VMFUNC'], [60, 'ENCLS'], [61, 'RDSEED'], [62, 'PML_FULL'],
  [63, 'XSAVES'], [64, 'XRSTORS'], [65, 'PCONFIG'], [66, 'SPP_EVENT'], [67, 'UMWAIT'], [68, 'TPAUSE'],
  [69, 'LOADIWKEY'], [70, 'ENCLV'], [72, 'ENQCMD_PASID_FAIL'], [73, 'ENQCMDS_PASID_FAIL'],
  [74, 'BUS_LOCK'], [75, 'NOTIFY'], [76, 'SEAMCALL'], [77, 'TDCALL'], [78, 'RDMSRLIST'],
  [79, 'WRMSRLIST'], [84, 'MSR_READ_IMM'], [85, 'MSR_WRITE_IMM'],
];

// Linux arch/x86/include/uapi/asm/vmx.h EXIT_REASON_* names that differ from x86_vcpu's.
const LINUX_SPELLINGS: Array<[string, number]> = [
  ['INIT_SIGNAL', 3], ['SIPI_SIGNAL', 4], ['IO_SMI', 5], ['PENDING_INTERRUPT', 7], ['INVALID_STATE', 33],
  ['EOI_INDUCED', 45], ['VMXOFF', 26], ['VMXON', 27],
];

test('Appendix C: every basic exit reason has the SDM number, in number order', () => {
  assert.deepEqual(EXIT_REASONS.map((r) => [r.number, r.name]), SDM_EXIT_REASONS);
  for (const [n, name] of SDM_EXIT_REASONS) {
    assert.equal(exitReasonByNumber(n)?.name, name);
    assert.equal(VmxExitReason[name as keyof typeof VmxExitReason].number, n);
    assert.equal(describeExitReason(n), `${name}(${n})`);
  }
  assert.equal(VmxExitReason.CPUID.number, 10);
  assert.equal(VmxExitReason.EPT_VIOLATION.number, 48);
  assert.deepEqual(Object.keys(VmxExitReason), SDM_EXIT_REASONS.map(([, name]) => name));
});

test('exit reason names and numbers are unique; every entry has a one-line description', () => {
  assert.equal(new Set(EXIT_REASONS.map((r) => r.name)).size, EXIT_REASONS.length);
  assert.equal(new Set(EXIT_REASONS.map((r) => r.number)).size, EXIT_REASONS.length);
  for (const r of EXIT_REASONS) {
    assert.ok(r.description.length > 0 && !r.description.includes('\n'), r.name);
    assert.match(r.name, /^[A-Z][A-Z0-9_]*$/);
  }
  assert.ok(Object.isFrozen(EXIT_REASONS) && Object.isFrozen(EXIT_REASONS[0]));
});

test('numbers the SDM leaves undefined print as UNKNOWN(n) and never throw', () => {
  for (const n of [35, 38, 42, 71, 80, 81, 82, 83, 86, 90, 0xffff, -1, 2 ** 40, 1.5, NaN, Infinity]) {
    assert.equal(exitReasonByNumber(n), undefined, String(n));
    assert.doesNotThrow(() => describeExitReason(n));
    assert.equal(describeExitReason(n), `UNKNOWN(${String(n)})`);
  }
  assert.equal(describeExitReason(90), 'UNKNOWN(90)');
  assert.equal(describeExitReason(-1), 'UNKNOWN(-1)');
  assert.equal(describeExitReason(1.5), 'UNKNOWN(1.5)');
  assert.equal(describeExitReason(2 ** 40), 'UNKNOWN(1099511627776)');
});

test('Linux spellings are aliases of the same entries; lookups ignore case', () => {
  for (const [alias, n] of LINUX_SPELLINGS) {
    assert.equal(exitReasonByName(alias), exitReasonByNumber(n), alias);
    assert.ok(alias in EXIT_REASON_ALIASES);
  }
  assert.equal(Object.keys(EXIT_REASON_ALIASES).length, LINUX_SPELLINGS.length);
  assert.equal(exitReasonByName('cpuid'), VmxExitReason.CPUID);
  assert.equal(exitReasonByName('Ept_Violation'), VmxExitReason.EPT_VIOLATION);
  assert.equal(exitReasonByName('init_signal'), VmxExitReason.INIT);
  assert.equal(exitReasonByName('NO_SUCH_REASON'), undefined);
  // an alias never shadows a real name
  for (const alias of Object.keys(EXIT_REASON_ALIASES)) assert.ok(!(alias in VmxExitReason), alias);
});

test('25.9.1: the exit-reason field splits into basic reason and flag bits', () => {
  const entryFail = decodeExitReasonField(0x8000_0021);
  assert.equal(entryFail.basic, 33);
  assert.equal(entryFail.info, VmxExitReason.INVALID_GUEST_STATE);
  assert.equal(entryFail.entryFailure, true);
  assert.deepEqual(decodeExitReasonField(-0x7fff_ffdf), entryFail, 'a negative int32 is its unsigned bits');

  const d = decodeExitReasonField((1 << 27) | (1 << 28) | (1 << 29) | (1 << 26) | 6);
  assert.deepEqual(
    [d.basic, d.busLockDetected, d.enclaveMode, d.pendingMtf, d.fromVmxRoot, d.entryFailure],
    [6, true, true, true, true, false],
  );
  const plain = decodeExitReasonField(10);
  assert.deepEqual([plain.enclaveMode, plain.pendingMtf, plain.fromVmxRoot, plain.entryFailure], [false, false, false, false]);
  assert.equal(decodeExitReasonField(90).info, undefined);

  const fields = decodeFields(0x8000_0022n, EXIT_REASON_FIELD_BITS);
  assert.equal(fields.find((f) => f.field.name === 'basic exit reason')?.value, 34n);
  assert.equal(fields.find((f) => f.field.name === 'VM-entry failure')?.value, 1n);

  for (const bad of [2 ** 32, -(2 ** 31) - 1, 1.5, NaN]) assert.throws(() => decodeExitReasonField(bad), RangeError);
});

test('6.15: exactly #DF, #TS, #NP, #SS, #GP, #PF, #AC and #CP push an error code', () => {
  const withCode: number[] = [];
  for (let v = 0; v < 256; v++) if (vectorHasErrorCode(v)) withCode.push(v);
  assert.deepEqual(withCode, [8, 10, 11, 12, 13, 14, 17, 21]);
  for (const bad of [-1, 256, 1.5]) assert.throws(() => vectorHasErrorCode(bad), RangeError);
});

test('25.8.3: interruption type for every vector 0-255; 22-31 are not injectable', () => {
  const T = VmxInterruptionType;
  for (let v = 0; v < 256; v++) {
    let expected: VmxInterruptionType | undefined;
    if (v === 1) expected = T.PrivSoftException;
    else if (v === 2) expected = T.NMI;
    else if (v === 3 || v === 4) expected = T.SoftException;
    else if (v <= 21) expected = T.HardException;
    else if (v <= 31) expected = undefined;
    else expected = T.External;
    assert.equal(interruptionTypeFromVector(v), expected, `vector ${v}`);
  }
  assert.equal(interruptionTypeFromVector(21), T.HardException, '#CP is an exception');
  for (const bad of [-1, 256, 1.5, NaN]) assert.throws(() => interruptionTypeFromVector(bad), RangeError);
});

test('interruption type numbers, and which need the VM-entry instruction length', () => {
  const T = VmxInterruptionType;
  assert.deepEqual(
    [T.External, T.Reserved, T.NMI, T.HardException, T.SoftIntr, T.PrivSoftException, T.SoftException, T.Other],
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].filter((t) => isSoftInterruptionType(t)), [4, 5, 6]);
});

test('25.8.3/25.9.2: interruption information encodes and decodes', () => {
  // #GP(0) as a hardware exception with an error code: valid | ev | type 3 | vector 13
  const gp = encodeInterruptionInfo({ vector: 13, type: VmxInterruptionType.HardException, errorCodeValid: true });
  assert.equal(gp, 0x8000_0b0d);
  assert.deepEqual(decodeInterruptionInfo(gp), {
    vector: 13, type: 3, typeName: 'HardException', errorCodeValid: true,
    nmiUnblockingDueToIret: false, valid: true, reserved: 0,
  });
  assert.equal(encodeInterruptionInfo({ vector: 0x30, type: VmxInterruptionType.External }), 0x8000_0030);
  assert.equal(encodeInterruptionInfo({ vector: 3, type: VmxInterruptionType.SoftException, valid: false }), 0x0000_0603);
  const nmi = decodeInterruptionInfo(0x8000_1202);
  assert.deepEqual([nmi.vector, nmi.typeName, nmi.nmiUnblockingDueToIret], [2, 'NMI', true]);
  assert.equal(decodeInterruptionInfo(0x8000_2000).reserved, 1, 'bit 13 is reserved');
  assert.equal(decodeInterruptionInfo(-0x7fff_f4f3).vector, 13, 'negative int32 accepted');
  const fields = decodeFields(BigInt(gp), INTERRUPTION_INFO_BITS);
  assert.equal(fields.find((f) => f.field.name === 'interruption type')?.meaning, 'HardException');
  assert.throws(() => encodeInterruptionInfo({ vector: 256, type: VmxInterruptionType.External }), RangeError);
  assert.throws(() => encodeInterruptionInfo({ vector: 0, type: 8 as VmxInterruptionType }), RangeError);
  assert.throws(() => decodeInterruptionInfo(2 ** 32), RangeError);
});

// SDM Vol. 3, 31.4, Table 31-1 "VM-Instruction Error Numbers".
const SDM_INSTRUCTION_ERRORS: Array<[number, string]> = [
  [1, 'VMCALL executed in VMX root operation'],
  [2, 'VMCLEAR with invalid physical address'],
  [3, 'VMCLEAR with VMXON pointer'],
  [4, 'VMLAUNCH with non-clear VMCS'],
  [5, 'VMRESUME with non-launched VMCS'],
  [6, 'VMRESUME after VMXOFF'],
  [7, 'VM entry with invalid control field(s)'],
  [8, 'VM entry with invalid host-state field(s)'],
  [9, 'VMPTRLD with invalid physical address'],
  [10, 'VMPTRLD with VMXON pointer'],
  [11, 'VMPTRLD with incorrect VMCS revision identifier'],
  [12, 'VMREAD/VMWRITE from/to unsupported VMCS component'],
  [13, 'VMWRITE to read-only VMCS component'],
  [15, 'VMXON executed in VMX root operation'],
  [16, 'VM entry with invalid executive-VMCS pointer'],
  [17, 'VM entry with non-launched executive VMCS'],
  [18, 'VM entry with executive-VMCS pointer not VMXON pointer'],
  [19, 'VMCALL with non-clear VMCS'],
  [20, 'VMCALL with invalid VM-exit control fields'],
  [22, 'VMCALL with incorrect MSEG revision identifier'],
  [23, 'VMXOFF under dual-monitor treatment of SMIs and SMM'],
  [24, 'VMCALL with invalid SMM-monitor features'],
  [25, 'VM entry with invalid VM-execution control fields in executive VMCS'],
  [26, 'VM entry with events blocked by MOV SS'],
  [28, 'Invalid operand to INVEPT/INVVPID'],
];

test('31.4: every VM-instruction error number with its text', () => {
  assert.deepEqual(VM_INSTRUCTION_ERRORS.map((e) => [e.number, e.text]), SDM_INSTRUCTION_ERRORS);
  for (const [n, text] of SDM_INSTRUCTION_ERRORS) {
    const e = new VmxInstructionError(n);
    assert.equal(e.number, n);
    assert.equal(e.text, text);
    assert.equal(e.known, true);
    assert.equal(e.toString(), `VmxInstructionError(${n}: ${text})`);
  }
  assert.equal(String(new VmxInstructionError(12)), 'VmxInstructionError(12: VMREAD/VMWRITE from/to unsupported VMCS component)');
  assert.match(new VmxInstructionError(6).detail ?? '', /VMXOFF and VMXON/);
});

test('the named error constants are the SDM numbers, one name per number', () => {
  const E = VmInstructionErrorNumber;
  assert.equal(E.VMREAD_VMWRITE_UNSUPPORTED_COMPONENT, 12);
  assert.equal(E.VMLAUNCH_NON_CLEAR_VMCS, 4);
  assert.equal(E.VMRESUME_NON_LAUNCHED_VMCS, 5);
  assert.equal(E.ENTRY_INVALID_CONTROL_FIELDS, 7);
  assert.equal(E.ENTRY_INVALID_HOST_STATE_FIELDS, 8);
  assert.equal(E.VMWRITE_READ_ONLY_COMPONENT, 13);
  assert.equal(E.VMXON_IN_VMX_ROOT, 15);
  assert.equal(E.INVALID_INVEPT_INVVPID_OPERAND, 28);
  const numbers = Object.values(E).filter((v): v is number => typeof v === 'number');
  assert.deepEqual(numbers, SDM_INSTRUCTION_ERRORS.map(([n]) => n));
});

test('unknown VM-instruction error numbers print and never throw', () => {
  for (const n of [0, 14, 21, 27, 29, 99, -1, 1.5, 2 ** 40]) {
    assert.doesNotThrow(() => new VmxInstructionError(n).toString());
    const e = new VmxInstructionError(n);
    assert.equal(e.known, false);
    assert.equal(e.toString(), `VmxInstructionError(${n}: unknown error number)`);
  }
  assert.equal(String(new VmxInstructionError(99)), 'VmxInstructionError(99: unknown error number)');
});

// ---- control bits (SDM 25.6.1 Table 25-5, 25.6.2 Tables 25-6/25-7, 25.7.1 Table 25-14, 25.8.1 Table 25-16)

const SDM_CONTROL_BITS: Array<[string, readonly { name: string; lsb: number; width: number }[], number[]]> = [
  ['pin-based (Table 25-5)', PIN_BASED_CONTROLS, [0, 3, 5, 6, 7]],
  ['primary processor-based (Table 25-6)', PRIMARY_PROCESSOR_CONTROLS,
    [2, 3, 7, 9, 10, 11, 12, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25, 27, 28, 29, 30, 31]],
  ['secondary processor-based (Table 25-7)', SECONDARY_PROCESSOR_CONTROLS,
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 30, 31]],
  ['VM-exit (Table 25-14)', EXIT_CONTROLS, [2, 9, 12, 15, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]],
  ['VM-entry (Table 25-16)', ENTRY_CONTROLS, [2, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22]],
];

test('control bits sit where the SDM tables put them; names unique per field', () => {
  for (const [what, bits, sdm] of SDM_CONTROL_BITS) {
    assert.deepEqual(bits.map((b) => b.lsb), sdm, what);
    assert.ok(bits.every((b) => b.width === 1), what);
    assert.equal(new Set(bits.map((b) => b.name.toLowerCase())).size, bits.length, what);
  }
  const byName = (bits: readonly { name: string; lsb: number }[], name: string) => bits.find((b) => b.name === name)?.lsb;
  assert.equal(byName(PRIMARY_PROCESSOR_CONTROLS, 'HLT exiting'), 7);
  assert.equal(byName(PRIMARY_PROCESSOR_CONTROLS, 'activate secondary controls'), 31);
  assert.equal(byName(SECONDARY_PROCESSOR_CONTROLS, 'enable EPT'), 1);
  assert.equal(byName(SECONDARY_PROCESSOR_CONTROLS, 'unrestricted guest'), 7);
  assert.equal(byName(EXIT_CONTROLS, 'host address-space size'), 9);
  assert.equal(byName(EXIT_CONTROLS, 'acknowledge interrupt on exit'), 15);
  assert.equal(byName(ENTRY_CONTROLS, 'IA-32e mode guest'), 9);
  assert.equal(byName(PIN_BASED_CONTROLS, 'activate VMX-preemption timer'), 6);
});

test('A.2: the default1 masks; only CR3-load/store and the debug-control bits are named among them', () => {
  const mask = (bits: number[]) => bits.reduce((m, b) => (m | (1 << b)) >>> 0, 0);
  const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
  assert.equal(DEFAULT_ONE_BITS.PIN_BASED, mask([1, 2, 4]));
  assert.equal(DEFAULT_ONE_BITS.PRIMARY_PROCESSOR, mask([1, 4, 5, 6, 8, 13, 14, 15, 16, 26]));
  assert.equal(DEFAULT_ONE_BITS.EXIT, mask([...range(0, 8), 10, 11, 13, 14, 16, 17]));
  assert.equal(DEFAULT_ONE_BITS.ENTRY, mask([...range(0, 8), 12]));
  const named = (bits: readonly { name: string; lsb: number }[], m: number) =>
    bits.filter((b) => ((m >>> b.lsb) & 1) === 1).map((b) => b.name);
  assert.deepEqual(named(PIN_BASED_CONTROLS, DEFAULT_ONE_BITS.PIN_BASED), []);
  assert.deepEqual(named(PRIMARY_PROCESSOR_CONTROLS, DEFAULT_ONE_BITS.PRIMARY_PROCESSOR), ['CR3-load exiting', 'CR3-store exiting']);
  assert.deepEqual(named(EXIT_CONTROLS, DEFAULT_ONE_BITS.EXIT), ['save debug controls']);
  assert.deepEqual(named(ENTRY_CONTROLS, DEFAULT_ONE_BITS.ENTRY), ['load debug controls']);
});

test('bit lists by VMCS field and by capability MSR name', () => {
  assert.equal(CONTROLS_BY_VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL, PIN_BASED_CONTROLS);
  assert.equal(CONTROLS_BY_VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, PRIMARY_PROCESSOR_CONTROLS);
  assert.equal(CONTROLS_BY_VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL, SECONDARY_PROCESSOR_CONTROLS);
  assert.equal(CONTROLS_BY_VMCS_FIELD.VM_EXIT_CONTROLS, EXIT_CONTROLS);
  assert.equal(CONTROLS_BY_VMCS_FIELD.VM_ENTRY_CONTROLS, ENTRY_CONTROLS);
  for (const name of Object.keys(CONTROLS_BY_VMCS_FIELD)) {
    const field = vmcsFieldByName(name);
    assert.ok(field !== undefined && field.width === '32' && field.type === 'control', name);
  }
  assert.deepEqual(Object.keys(CONTROLS_BY_CAPABILITY_MSR).sort(), [
    'IA32_VMX_ENTRY_CTLS', 'IA32_VMX_EXIT_CTLS', 'IA32_VMX_PINBASED_CTLS', 'IA32_VMX_PROCBASED_CTLS',
    'IA32_VMX_PROCBASED_CTLS2', 'IA32_VMX_TRUE_ENTRY_CTLS', 'IA32_VMX_TRUE_EXIT_CTLS',
    'IA32_VMX_TRUE_PINBASED_CTLS', 'IA32_VMX_TRUE_PROCBASED_CTLS',
  ]);
  assert.equal(CONTROLS_BY_CAPABILITY_MSR.IA32_VMX_TRUE_PROCBASED_CTLS, PRIMARY_PROCESSOR_CONTROLS);
  assert.equal(CONTROLS_BY_CAPABILITY_MSR.IA32_VMX_PROCBASED_CTLS2, SECONDARY_PROCESSOR_CONTROLS);
  assert.equal(CONTROL_SETS.length, 5);
});

test('controlMask and splitCapabilityMsr', () => {
  assert.equal(controlMask(PRIMARY_PROCESSOR_CONTROLS, 'HLT exiting', 'activate secondary controls'), 0x8000_0080);
  assert.equal(controlMask(SECONDARY_PROCESSOR_CONTROLS, 'ENABLE EPT', 'unrestricted guest'), 0x82);
  assert.throws(() => controlMask(PIN_BASED_CONTROLS, 'HLT exiting'), /no control named 'HLT exiting'/);
  assert.deepEqual(splitCapabilityMsr(0xfff9_fffe_0401_e172n), { allowed0: 0x0401_e172, allowed1: 0xfff9_fffe });
  assert.throws(() => splitCapabilityMsr(1n << 64n), RangeError);
});

test('A.3: adjustControls sets the allowed-0 ones and refuses bits allowed1 forbids, by name', () => {
  const a0 = DEFAULT_ONE_BITS.PRIMARY_PROCESSOR;
  const a1 = 0xfff9_fffe;
  const req = controlMask(PRIMARY_PROCESSOR_CONTROLS, 'HLT exiting', 'use MSR bitmaps', 'activate secondary controls');
  assert.equal(adjustControls(req, a0, a1, PRIMARY_PROCESSOR_CONTROLS), (req | a0) >>> 0);
  assert.equal(adjustControls(0, a0, a1, PRIMARY_PROCESSOR_CONTROLS), a0);
  assert.ok(adjustControls(req, a0, a1, PRIMARY_PROCESSOR_CONTROLS) > 0x8000_0000, 'result is unsigned');

  const ctls2 = { allowed0: 0, allowed1: controlMask(SECONDARY_PROCESSOR_CONTROLS, 'enable EPT', 'enable VPID') };
  assert.throws(
    () => adjustControls(controlMask(SECONDARY_PROCESSOR_CONTROLS, 'enable EPT', 'unrestricted guest'),
      ctls2.allowed0, ctls2.allowed1, SECONDARY_PROCESSOR_CONTROLS),
    { message: "cannot set 'unrestricted guest' (bit 7): IA32_VMX_PROCBASED_CTLS2 allows it to be 0 only" },
  );
  // bit 17 (activate tertiary) and bit 18 (a reserved bit) forbidden by allowed1 = 0xfff9fffe
  assert.throws(
    () => adjustControls((1 << 17) | (1 << 18), a0, a1, PRIMARY_PROCESSOR_CONTROLS),
    { message: "cannot set 'activate tertiary controls' (bit 17): IA32_VMX_PROCBASED_CTLS allows it to be 0 only; cannot set bit 18: IA32_VMX_PROCBASED_CTLS allows it to be 0 only" },
  );
  assert.throws(
    () => adjustControls(1 << 7, 0, 0, SECONDARY_PROCESSOR_CONTROLS, { msrName: 'MY_MSR' }),
    /cannot set 'unrestricted guest' \(bit 7\): MY_MSR allows/,
  );
  assert.throws(() => adjustControls(1, 0, 0, [PIN_BASED_CONTROLS[0]]), /the capability MSR allows it to be 0 only/);
});

test('A.3 with mustClear: a bit allowed0 forces to 1 is reported; the TRUE MSR lets it go', () => {
  const cr3Exits = controlMask(PRIMARY_PROCESSOR_CONTROLS, 'CR3-load exiting', 'CR3-store exiting');
  assert.throws(
    () => adjustControls(0, DEFAULT_ONE_BITS.PRIMARY_PROCESSOR, 0xffff_ffff, PRIMARY_PROCESSOR_CONTROLS, { mustClear: cr3Exits }),
    { message: "cannot clear 'CR3-load exiting' (bit 15): IA32_VMX_PROCBASED_CTLS allows it to be 1 only; cannot clear 'CR3-store exiting' (bit 16): IA32_VMX_PROCBASED_CTLS allows it to be 1 only" },
  );
  const trueA0 = (DEFAULT_ONE_BITS.PRIMARY_PROCESSOR & ~cr3Exits) >>> 0;
  assert.equal(
    adjustControls(0, trueA0, 0xffff_ffff, PRIMARY_PROCESSOR_CONTROLS, { mustClear: cr3Exits, msrName: 'IA32_VMX_TRUE_PROCBASED_CTLS' }),
    trueA0,
  );
  assert.throws(() => adjustControls(1 << 7, 0, 0xffff_ffff, PRIMARY_PROCESSOR_CONTROLS, { mustClear: 1 << 7 }), /both set and clear/);
  assert.throws(() => adjustControls(0, 1 << 3, 0, PIN_BASED_CONTROLS), /IA32_VMX_PINBASED_CTLS is inconsistent: 'NMI exiting' \(bit 3\)/);
  assert.throws(() => adjustControls(2 ** 32, 0, 0, PIN_BASED_CONTROLS), RangeError);
  assert.equal(adjustControls(-0x8000_0000, 0, 0xffff_ffff, EXIT_CONTROLS), 0x8000_0000, 'negative int32 is its bits');
});
