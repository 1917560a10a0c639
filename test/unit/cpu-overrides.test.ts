// CPUID and MSR overrides in the engine: what guest code running on the emulated processor sees
// with them (real code assembled by GNU as), where the hardware model follows them, and the
// error that names each bad part of the configuration.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { longModeMachine } from '../support/guest-machine';
import { assembleGuest } from '../support/guest-asm';
import { GUEST_ORIGIN, REPORT_GUEST, XSETBV_GUEST } from '../support/cpu-config-guest';
import { withCpuidOverrides } from '../../src/hardware/cpuid-overrides';
import { parseCpuidOption, parseCpuidOverrides } from '../../src/vmm/cpuid-config';
import { parseMsrOption, parseMsrOverrides } from '../../src/vmm/msr-config';
import { parseDisabledControls } from '../../src/vmm/controls-config';
import { MachineConfigError } from '../../src/vmm/config-error';
import { Machine, MachineOptions, RunEnd } from '../../src/vmm/machine';
import { loadGuestImage } from '../../src/vmm/guest-image';

const skip = !nativeOracleAvailable() && 'needs GNU as';

const ROOT_CPUID = ['mov eax, 1', 'cpuid', 'mov r8d, ecx', 'mov eax, 7', 'xor ecx, ecx', 'cpuid', 'mov r10d, ebx',
  'mov eax, 0x40000000', 'cpuid', 'mov r11d, eax', 'hlt'];

/** CPUID executed in root mode (no VMM) on a processor whose model is `edit`ed. */
function rootCpuid(edit?: (cpu: ReturnType<typeof longModeMachine>['cpu']) => void): { r8: bigint; r10: bigint; r11: bigint } {
  const { mem, cpu } = longModeMachine();
  edit?.(cpu);
  mem.writeBytes(0x100000, assembleIntel(ROOT_CPUID));
  cpu.rip = 0x100000n;
  assert.equal(cpu.run(1000).kind, 'halt');
  return { r8: cpu.getReg(8), r10: cpu.getReg(10), r11: cpu.getReg(11) };
}

const POPCNT = 1n << 23n, MONITOR = 1n << 3n;

test('root mode: CPUID on a processor model with overrides returns them (exact values, bits cleared and set)', { skip }, () => {
  const before = rootCpuid();
  assert.notEqual(before.r8 & POPCNT, 0n, 'the model reports POPCNT, so clearing it shows');
  assert.equal(before.r8 & MONITOR, 0n, 'the model does not report MONITOR, so setting it shows');
  const overrides = parseCpuidOverrides({ '0x1': { ecx: { clear: '0x800000', set: 8 } }, '0x7.0': { ebx: '0x12345' }, '0x40000000': { eax: 0x40000001 } });
  const after = rootCpuid((cpu) => { cpu.cpuidTable = withCpuidOverrides(cpu.cpuidTable, overrides); });
  assert.equal(after.r8, (before.r8 & ~POPCNT) | MONITOR);
  assert.equal(after.r10, 0x12345n);
  assert.equal(after.r11, 0x40000001n);
});

/** The report guest (or another) on a Machine in long mode; the registers at its end. */
function runGuest(lines: string[], options: MachineOptions): { end: RunEnd; regs: Record<string, bigint> } {
  const m = new Machine(options);
  m.load(loadGuestImage(assembleGuest(lines, GUEST_ORIGIN), { loadAddress: BigInt(GUEST_ORIGIN) }));
  m.start(BigInt(GUEST_ORIGIN), 'long');
  const end = m.run(100_000);
  return { end, regs: m.guestRegisters() };
}

test('VMX guest: the vCPU\'s answer to CPUID exits carries the overrides, applied after its own edits of leaf 1', { skip }, () => {
  const plain = runGuest(REPORT_GUEST, {});
  assert.equal(plain.end.kind, 'shutdown');
  assert.notEqual(plain.regs.r8 & (1n << 31n), 0n, 'the vCPU reports a hypervisor (CPUID.1:ECX[31])');
  // an exact value wins over the vCPU's edits: no hypervisor bit unless the user gives it
  const exact = runGuest(REPORT_GUEST, { cpuid: parseCpuidOption('0x1=ecx:0x1,0x40000000=eax:0x40000005') });
  assert.equal(exact.regs.r8, 1n);
  assert.equal(exact.regs.r11, 0x40000005n);
  // bits cleared and set compose in order on the command-line form
  const masked = runGuest(REPORT_GUEST, { cpuid: parseCpuidOption('0x1=ecx:-0x800000,0x1=ecx:+0x8,0x7.0=ebx:-0x80000') });
  assert.equal(masked.regs.r8, (plain.regs.r8 & ~POPCNT) | MONITOR);
  assert.notEqual(plain.regs.r10 & 0x80000n, 0n, 'ADX (7.0:EBX[19]) is reported without overrides');
  assert.equal(masked.regs.r10, plain.regs.r10 & ~0x80000n);
});

test('VMX guest: XSETBV accepts exactly the XCR0 states CPUID.(0DH,0):EAX reports, overrides included', { skip }, () => {
  const refused = runGuest(XSETBV_GUEST, {});
  assert.equal(refused.end.kind, 'error', 'x87 only is reported: XCR0 = 3 is #GP (no IDT: a triple fault)');
  const accepted = runGuest(XSETBV_GUEST, { cpuid: parseCpuidOverrides({ '0xd.0': { eax: 3 } }) });
  assert.deepEqual(accepted.end, { kind: 'shutdown', exitCode: 7, how: 'hypercall' });
});

test('VMX guest: MSR overrides are what RDMSR and RDTSCP read, whether the processor or the VMCS holds the MSR', { skip }, () => {
  const msrs = parseMsrOverrides({ IA32_TSC_AUX: '0x5', '0xc0000102': '0xffff800000001000', ia32_pat: '0x0606060606060606', IA32_FS_BASE: 4096 });
  const r = runGuest(REPORT_GUEST, { msrs });
  assert.equal(r.end.kind, 'shutdown');
  assert.equal(r.regs.r12, 5n);
  assert.equal(r.regs.r13, 5n);
  assert.equal(r.regs.r14, 0xffff800000001000n);
  assert.equal(r.regs.r15, 0x0606060606060606n);
  assert.equal(r.regs.rsi, 4096n);
});

test('VMX guest: an MSR value WRMSR or VM entry would refuse is refused at start, naming the MSR and the rule', { skip }, () => {
  const cases: Array<[string, RegExp]> = [
    ['IA32_TSC_AUX=0x100000000', /IA32_TSC_AUX \(0xc0000103\) rejected: reserved bits set/],
    ['IA32_PAT=0x0202', /IA32_PAT = 0x202 is refused: PA0 holds 0x2/],
    ['IA32_KERNEL_GSBASE=0x8000000000000000', /IA32_KERNEL_GSBASE \(0xc0000102\) rejected: non-canonical address/],
    ['IA32_EFER=0x100', /IA32_EFER = 0x100 is refused: EFER.LMA must equal "IA-32e mode guest" \(1\)/],
    ['IA32_FEATURE_CONTROL=5', /IA32_FEATURE_CONTROL is locked/],
    // 27.3.1.1: with CR0.PG = 1, EFER.LME must equal "IA-32e mode guest" (1 in long mode)
    ['IA32_EFER=0x400', /IA32_EFER = 0x400 is refused: EFER.LME must equal "IA-32e mode guest" \(1\) while the guest's CR0.PG is 1/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => runGuest(REPORT_GUEST, { msrs: parseMsrOption(text) }), (e: Error) => e instanceof MachineConfigError && message.test(e.message), text);
  }
});

test('configuration errors name the bad part', () => {
  const cases: Array<[() => unknown, RegExp]> = [
    [() => parseCpuidOverrides([1]), /expected an object keyed by leaf/],
    [() => parseCpuidOverrides({ '0x1z': { ecx: 0 } }), /leaf "0x1z" is not a leaf number/],
    [() => parseCpuidOverrides({ '0x7': { ebx: 0 } }), /leaf 0x7 has subleaves \(ECX selects one\): write "0x7.0"/],
    [() => parseCpuidOverrides({ '0x80000001.1': { ecx: 0 } }), /leaf 0x80000001 has no subleaves/],
    [() => parseCpuidOverrides({ '0x1': 5 }), /leaf 0x1: expected an object of registers/],
    [() => parseCpuidOverrides({ '0x1': { rax: 0 } }), /leaf 0x1: "rax" is not a register/],
    [() => parseCpuidOverrides({ '0x1': { ecx: 'lots' } }), /leaf 0x1 ecx: "lots" is not a number/],
    [() => parseCpuidOverrides({ '0x1': { ecx: -1 } }), /leaf 0x1 ecx: -1 is not a number/],
    [() => parseCpuidOverrides({ '0x1': { ecx: 0x100000000 } }), /leaf 0x1 ecx: 4294967296 does not fit in 32 bits/],
    [() => parseCpuidOverrides({ '0x1': { ecx: { flip: 1 } } }), /leaf 0x1 ecx: "flip" is not "set" or "clear"/],
    [() => parseCpuidOverrides({ '0x1': { ecx: { set: 3, clear: 2 } } }), /"set" and "clear" both name bits 0x2/],
    [() => parseCpuidOverrides({ '0x1': { ecx: 0 }, 1: { edx: 0 } }), /leaf 0x1 is given twice/],
    [() => parseCpuidOverrides({ '0x1': { ecx: '0x20' } }), /leaf 0x1 ecx sets bit 5 \(VMX\)/],
    [() => parseCpuidOption('0x1=ecx:+0x20'), /leaf 0x1 ecx sets bit 5 \(VMX\)/],
    [() => parseCpuidOption('0x1:ecx=1'), /"0x1:ecx=1" is not LEAF=REG:VALUE/],
    [() => parseMsrOverrides('IA32_EFER'), /expected an object of MSR name or number/],
    [() => parseMsrOverrides({ IA32_NOPE: 1 }), /"IA32_NOPE" is not the name of an MSR in the MSR table/],
    [() => parseMsrOverrides({ '0x12345': 1 }), /MSR 0x12345 is not in the MSR table/],
    [() => parseMsrOverrides({ IA32_TSC_AUX: 'five' }), /IA32_TSC_AUX: "five" is not a number/],
    [() => parseMsrOverrides({ IA32_TSC_AUX: '0x10000000000000000' }), /IA32_TSC_AUX: "0x10000000000000000" does not fit in 64 bits/],
    [() => parseMsrOverrides({ IA32_TSC_AUX: 1, '0xc0000103': 2 }), /IA32_TSC_AUX is given twice/],
    [() => parseMsrOverrides({ IA32_VMX_PROCBASED_CTLS: 0 }), /IA32_VMX_PROCBASED_CTLS is a read-only VMX capability MSR: narrow .* disableControls/],
    [() => parseMsrOption('IA32_TSC_AUX'), /"IA32_TSC_AUX" is not NAME=VALUE/],
    [() => parseDisabledControls('RDTSC exiting'), /expected a list of VMX control names/],
    [() => parseDisabledControls(['warp drive']), /no VMX control named 'warp drive'/],
  ];
  for (const [parse, message] of cases) {
    assert.throws(parse, (e: Error) => e instanceof MachineConfigError && message.test(e.message), message.source);
  }
});
