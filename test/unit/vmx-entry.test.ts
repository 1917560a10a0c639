// VM-entry failures by class (SDM Vol. 3C, chapter 27): invalid control fields (VMfailValid 7,
// 27.2.1), invalid host state (VMfailValid 8, 27.2.2-27.2.4), invalid guest state (a VM exit with
// basic reason 33 and bit 31 set, host state loaded, 27.3.1 and 27.8), and MSR loading (reason 34,
// qualification = the 1-based index of the failing entry, 27.4). Each test starts from the valid
// VMCS of prepareGuest, breaks one rule, and checks the outcome the SDM gives for that class.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { getRflags } from '../../src/hardware/flags';
import { GUEST_CODE, HOST_STACK, prepareGuest, vmxHost, VmxHost } from '../support/vmx-host';
import { interruption } from '../support/vmx-guest';

const CF = 0x1, ZF = 0x40, STATUS = 0x8d5;
const HOST_RIP = 0xdead000n;
const VM_INSTRUCTION_ERROR = 0x4400;

function fresh(controls: Parameters<typeof prepareGuest>[1] = {}): VmxHost {
  const h = vmxHost();
  prepareGuest(h, controls);
  h.mem.writeBytes(GUEST_CODE, new Uint8Array([0x0f, 0x01, 0xc1])); // VMCALL
  return h;
}

/** Capability MSR as { must, may } (Appendix A: allowed-0 in bits 31:0, allowed-1 in 63:32). */
function allowed(h: VmxHost, msr: number): { must: number; may: number } {
  const v = h.cpu.msrs.rdmsr(msr);
  return { must: Number(v & 0xffffffffn), may: Number(v >> 32n) };
}
const TRUE_PIN = 0x48d, TRUE_PROC = 0x48e, TRUE_EXIT = 0x48f, TRUE_ENTRY = 0x490, PROC2 = 0x48b;
const lowestBit = (x: number) => 31 - Math.clz32(x & -x);

/** The entry is refused with VMfailValid(n): nothing loaded, the host goes on after VMLAUNCH. */
function refused(h: VmxHost, n: number, problem?: RegExp): void {
  const rip = h.cpu.rip;
  const r = h.vmx.vmlaunch();
  assert.equal(r.kind, 'vmfail', `expected VMfailValid(${n}); got ${JSON.stringify(r)}`);
  assert.equal(getRflags(h.cpu) & STATUS, ZF);
  assert.equal(h.vmx.vmread(VM_INSTRUCTION_ERROR), BigInt(n));
  assert.equal(h.vmx.nonRoot, false);
  assert.equal(h.cpu.rip, rip, 'no state was loaded');
  if (problem !== undefined) assert.match(h.vmx.lastEntryProblem, problem);
}

/** The entry fails on guest state or MSR loading: exit reason with bit 31, host state loaded (27.8). */
function entryFailed(h: VmxHost, reason: number, qualification: bigint, problem: RegExp): void {
  const r = h.vmx.vmlaunch();
  assert.equal(r.kind, 'entry-failed', `expected a VM-entry failure; got ${JSON.stringify(r)}`);
  assert.equal(h.read('VM_EXIT_REASON'), BigInt((0x80000000 | reason) >>> 0));
  assert.equal(h.read('EXIT_QUALIFICATION'), qualification);
  assert.equal(h.vmx.nonRoot, false);
  assert.equal(h.cpu.rip, HOST_RIP, 'RIP from HOST_RIP');
  assert.equal(h.cpu.getReg(4), BigInt(HOST_STACK), 'RSP from HOST_RSP');
  assert.equal(getRflags(h.cpu), 2, 'RFLAGS cleared except bit 1 (27.8 / 28.5.3)');
  assert.match(h.vmx.lastEntryProblem, problem);
}

// ---- control fields: VMfailValid(7) ----------------------------------------------------------

test('controls: a must-be-1 pin-based bit cleared (allowed-0 setting of IA32_VMX_TRUE_PINBASED_CTLS)', () => {
  const h = fresh();
  const { must } = allowed(h, TRUE_PIN);
  assert.notEqual(must, 0);
  h.write('PIN_BASED_VM_EXEC_CONTROL', 0);
  refused(h, 7, new RegExp(`pin-based.*bit ${lowestBit(must)}`));
});

test('controls: a primary, secondary, exit or entry bit set that its allowed-1 setting forbids', () => {
  for (const [field, msr] of [['CPU_BASED_VM_EXEC_CONTROL', TRUE_PROC], ['SECONDARY_VM_EXEC_CONTROL', PROC2], ['VM_EXIT_CONTROLS', TRUE_EXIT], ['VM_ENTRY_CONTROLS', TRUE_ENTRY]] as const) {
    const h = fresh({ proc2: 0 });
    const { may } = allowed(h, msr);
    const forbidden = ~may >>> 0;
    assert.notEqual(forbidden, 0, `${field} has a bit the processor does not support`);
    h.write(field, h.read(field) | BigInt(1 << lowestBit(forbidden) >>> 0));
    refused(h, 7, new RegExp(`bit ${lowestBit(forbidden)} must be 0`));
  }
});

test('controls: CR3-target count above IA32_VMX_MISC[24:16]', () => {
  const h = fresh();
  const n = Number((h.cpu.msrs.rdmsr(0x485) >> 16n) & 0x1ffn);
  h.write('CR3_TARGET_COUNT', n);
  assert.equal(h.vmx.vmlaunch().kind, 'entered');
  const h2 = fresh();
  h2.write('CR3_TARGET_COUNT', n + 1);
  refused(h2, 7, /CR3-target count/);
});

test('controls: I/O-bitmap and MSR-bitmap addresses must be 4-KByte aligned', () => {
  const h = fresh({ proc: 1 << 25 });
  h.write('IO_BITMAP_A', 0x30000);
  h.write('IO_BITMAP_B', 0x31800);
  refused(h, 7, /I\/O bitmap/);
  const h2 = fresh({ proc: 1 << 28 });
  h2.write('MSR_BITMAP', 0x32010);
  refused(h2, 7, /MSR-bitmap/);
});

test('controls: virtual NMIs need NMI exiting; NMI-window exiting needs virtual NMIs', () => {
  refused(fresh({ pin: 1 << 5 }), 7, /virtual NMIs/);
  refused(fresh({ pin: 1 << 3, proc: 1 << 22 }), 7, /NMI-window/);
});

test('controls: unrestricted guest needs EPT; enable VPID needs a VPID other than 0', () => {
  refused(fresh({ proc2: 1 << 7 }), 7, /unrestricted guest/);
  refused(fresh({ proc2: 1 << 5 }), 7, /VPID/);
});

test('controls: "save VMX-preemption timer value" needs "activate VMX-preemption timer"', () => {
  refused(fresh({ exit: 1 << 22 }), 7, /preemption/);
});

test('controls: the VM-entry MSR-load address must be 16-byte aligned when the count is not 0', () => {
  const h = fresh();
  h.write('VM_ENTRY_MSR_LOAD_ADDR', 0x33008);
  h.write('VM_ENTRY_MSR_LOAD_COUNT', 1);
  refused(h, 7, /MSR-load/);
});

// 27.2.1.3: the VM-entry interruption-information field
for (const [what, info, extra, pattern] of [
  ['type 1 is reserved', interruption(0x20, 1, false), {}, /reserved/],
  ['an NMI must use vector 2', interruption(3, 2, false), {}, /vector 2/],
  ['a hardware exception must have a vector below 32', interruption(32, 3, false), {}, /below 32/],
  ['#UD pushes no error code', interruption(6, 3, true), {}, /error code/],
  ['#GP needs "deliver error code"', interruption(13, 3, false), {}, /error code/],
  ['#CP (vector 21) needs "deliver error code"', interruption(21, 3, false), {}, /error code/],
  ['a reserved vector 22-31 pushes no error code', interruption(22, 3, true), {}, /error code/],
  ['bits 30:12 are reserved', (interruption(0x20, 0, false) | (1 << 12)) >>> 0, {}, /reserved/],
  ['error-code bits 31:16 must be 0', interruption(13, 3, true), { error: 0x10000 }, /31:16/],
  ['a software interrupt needs a length of 1-15 (IA32_VMX_MISC[30] = 0 forbids 0)', interruption(0x80, 4, false), { len: 0 }, /length/],
  ['a software exception needs a length of at most 15', interruption(3, 6, false), { len: 16 }, /length/],
] as const) {
  test(`event injection: ${what}: VMfailValid(7)`, () => {
    const h = fresh();
    h.write('GUEST_RFLAGS', 0x202);
    h.write('VM_ENTRY_INTR_INFO_FIELD', info);
    if ('error' in extra) h.write('VM_ENTRY_EXCEPTION_ERROR_CODE', extra.error);
    if ('len' in extra) h.write('VM_ENTRY_INSTRUCTION_LEN', extra.len);
    refused(h, 7, pattern);
  });
}

test('event injection: an error code with bit 15 set is valid (only bits 31:16 are reserved)', () => {
  const h = fresh();
  h.write('VM_ENTRY_INTR_INFO_FIELD', interruption(13, 3, true));
  h.write('VM_ENTRY_EXCEPTION_ERROR_CODE', 0x8000);
  const r = h.vmx.vmlaunch();
  assert.equal(r.kind, 'entered', h.vmx.lastEntryProblem);
});

test('event injection: #CP with its error code and reserved vectors 22-31 without one are accepted', () => {
  const h = fresh();
  h.write('VM_ENTRY_INTR_INFO_FIELD', interruption(21, 3, true));
  h.write('VM_ENTRY_EXCEPTION_ERROR_CODE', 3);
  assert.equal(h.vmx.vmlaunch().kind, 'entered', h.vmx.lastEntryProblem);
  for (let v = 22; v <= 31; v++) {
    const g = fresh();
    g.write('VM_ENTRY_INTR_INFO_FIELD', interruption(v, 3, false));
    assert.equal(g.vmx.vmlaunch().kind, 'entered', `vector ${v}: ${g.vmx.lastEntryProblem}`);
  }
});

// ---- host state: VMfailValid(8) ----------------------------------------------------------------

for (const [what, field, value, pattern] of [
  ['HOST_CR0 without a FIXED0 bit (NE)', 'HOST_CR0', 0x80000011n, /HOST_CR0/],
  ['HOST_CR4 without VMXE', 'HOST_CR4', 0x20n, /HOST_CR4/],
  ['HOST_CR3 beyond MAXPHYADDR', 'HOST_CR3', 1n << 52n, /HOST_CR3/],
  ['a non-canonical HOST_FS_BASE', 'HOST_FS_BASE', 0x0000800000000000n, /HOST_FS_BASE/],
  ['a non-canonical HOST_GDTR_BASE', 'HOST_GDTR_BASE', 0x8000000000000000n, /HOST_GDTR_BASE/],
  ['HOST_CS_SELECTOR with RPL 3', 'HOST_CS_SELECTOR', 0x0bn, /HOST_CS_SELECTOR/],
  ['HOST_SS_SELECTOR with TI set', 'HOST_SS_SELECTOR', 0x14n, /HOST_SS_SELECTOR/],
  ['HOST_CS_SELECTOR 0000H', 'HOST_CS_SELECTOR', 0n, /CS/],
  ['HOST_TR_SELECTOR 0000H', 'HOST_TR_SELECTOR', 0n, /TR/],
  ['a non-canonical HOST_RIP for a 64-bit host', 'HOST_RIP', 0x0001000000000000n, /RIP/],
] as const) {
  test(`host state: ${what}: VMfailValid(8)`, () => {
    const h = fresh();
    h.write(field, value);
    refused(h, 8, pattern);
  });
}

test('host state: "host address-space size" 0 from a processor in IA-32e mode: VMfailValid(8)', () => {
  const h = fresh();
  h.write('VM_EXIT_CONTROLS', h.read('VM_EXIT_CONTROLS') & ~(1n << 9n));
  refused(h, 8, /address-space size/);
});

test('host state: HOST_IA32_EFER with reserved bits, or LMA differing from "host address-space size"', () => {
  const h = fresh({ exit: 1 << 21 });
  h.write('HOST_IA32_EFER', 0x500n | (1n << 12n));
  refused(h, 8, /HOST_IA32_EFER/);
  const h2 = fresh({ exit: 1 << 21 });
  h2.write('HOST_IA32_EFER', 0x100n);
  refused(h2, 8, /HOST_IA32_EFER/);
});

// ---- guest state: exit reason 33 with bit 31, host state loaded --------------------------------

for (const [what, setup, pattern, qualification] of [
  ['GUEST_CR0 without NE (IA32_VMX_CR0_FIXED0)', (h: VmxHost) => h.write('GUEST_CR0', 0x80000011n), /GUEST_CR0/, 0n],
  ['GUEST_CR4 without VMXE (IA32_VMX_CR4_FIXED0)', (h: VmxHost) => h.write('GUEST_CR4', 0x20n), /GUEST_CR4/, 0n],
  ['an IA-32e guest without CR4.PAE', (h: VmxHost) => h.write('GUEST_CR4', 0x2000n), /PAE/, 0n],
  ['GUEST_RFLAGS bit 1 clear', (h: VmxHost) => h.write('GUEST_RFLAGS', 0n), /RFLAGS/, 0n],
  ['GUEST_RFLAGS reserved bit 15 set', (h: VmxHost) => h.write('GUEST_RFLAGS', 0x8002n), /RFLAGS/, 0n],
  ['a non-canonical GUEST_RIP in 64-bit mode', (h: VmxHost) => h.write('GUEST_RIP', 0x0000800000000000n), /RIP/, 0n],
  ['SS.RPL different from CS.RPL', (h: VmxHost) => h.write('GUEST_SS_SELECTOR', 0x13n), /RPL/, 0n],
  ['a CS that is not an accessed code segment', (h: VmxHost) => h.write('GUEST_CS_AR_BYTES', 0xa09an), /CS/, 0n],
  ['an unusable TR', (h: VmxHost) => h.write('GUEST_TR_AR_BYTES', 0x10000n), /TR/, 0n],
  ['G = 1 with a limit whose bits 11:0 are not all 1', (h: VmxHost) => h.write('GUEST_DS_LIMIT', 0xfffff000n), /DS/, 0n],
  ['the wait-for-SIPI activity state (not in IA32_VMX_MISC)', (h: VmxHost) => h.write('GUEST_ACTIVITY_STATE', 3n), /activity/, 0n],
  ['blocking by STI and by MOV SS together', (h: VmxHost) => { h.write('GUEST_RFLAGS', 0x202n); h.write('GUEST_INTERRUPTIBILITY_INFO', 3n); }, /STI/, 0n],
  ['blocking by STI with RFLAGS.IF = 0', (h: VmxHost) => h.write('GUEST_INTERRUPTIBILITY_INFO', 1n), /STI/, 0n],
  ['injecting an external interrupt with RFLAGS.IF = 0', (h: VmxHost) => h.write('VM_ENTRY_INTR_INFO_FIELD', interruption(0x30, 0, false)), /IF/, 0n],
  // qualification 3 is reserved for NMI injection against blocking by STI (27.8); MOV-SS blocking is the default 0
  ['injecting an NMI with blocking by MOV SS', (h: VmxHost) => {
    h.write('GUEST_INTERRUPTIBILITY_INFO', 2n);
    h.write('VM_ENTRY_INTR_INFO_FIELD', interruption(2, 2, false));
  }, /MOV SS/, 0n],
  ['GUEST_DR7 bits 63:32 set with "load debug controls"', (h: VmxHost) => h.write('GUEST_DR7', 1n << 32n), /DR7/, 0n],
  ['GUEST_IA32_EFER.LMA clear for an IA-32e guest with "load IA32_EFER"', (h: VmxHost) => {
    h.write('VM_ENTRY_CONTROLS', h.read('VM_ENTRY_CONTROLS') | (1n << 15n));
    h.write('GUEST_IA32_EFER', 0x100n);
  }, /EFER/, 0n],
  ['a VMCS link pointer other than FFFFFFFF_FFFFFFFFH (qualification 4)', (h: VmxHost) => h.write('VMCS_LINK_POINTER', 0x40000n), /link pointer/, 4n],
] as const) {
  test(`guest state: ${what}: VM-entry failure, reason 33`, () => {
    const h = fresh({ entry: 1 << 2 });
    setup(h);
    entryFailed(h, 33, qualification, pattern);
  });
}

test('a guest-state failure does not run the guest and leaves the host able to fix and VMLAUNCH again', () => {
  const h = fresh();
  h.write('GUEST_RFLAGS', 0);
  entryFailed(h, 33, 0n, /RFLAGS/);
  h.write('GUEST_RFLAGS', 2);
  const r = h.vmx.vmlaunch();
  assert.equal(r.kind, 'entered', h.vmx.lastEntryProblem);
  assert.deepEqual(h.cpu.run(10), { kind: 'vm-exit', reason: 18 });
});

// ---- MSR loading: exit reason 34, qualification = 1-based index ----------------------------------

const LIST = 0x33000;
function msrList(h: VmxHost, entries: Array<[number, bigint, number?]>, field: 'VM_ENTRY_MSR_LOAD' | 'VM_EXIT_MSR_LOAD' | 'VM_EXIT_MSR_STORE' = 'VM_ENTRY_MSR_LOAD', at = LIST): void {
  entries.forEach(([index, value, reserved], k) => {
    h.mem.write(at + 16 * k, 4, index >>> 0);
    h.mem.write(at + 16 * k + 4, 4, reserved ?? 0);
    h.mem.write64(at + 16 * k + 8, value);
  });
  h.write(`${field}_ADDR`, at);
  h.write(`${field}_COUNT`, entries.length);
}

const SYSENTER_CS = 0x174, KERNEL_GS = 0xc0000102, FS_BASE = 0xc0000100;

for (const [what, bad, pattern] of [
  ['an MSR this processor does not have', [0x12345678, 0n] as [number, bigint], /entry 2/],
  ['an x2APIC MSR (0800H-08FFH)', [0x808, 0n] as [number, bigint], /x2APIC/],
  ['a reserved word that is not 0', [SYSENTER_CS, 0n, 1] as [number, bigint, number], /reserved/],
  ['a non-canonical IA32_FS_BASE', [FS_BASE, 0x0000800000000000n] as [number, bigint], /entry 2/],
] as const) {
  test(`MSR loading: ${what} in entry 3 fails the entry with reason 34, qualification 3`, () => {
    const h = fresh();
    msrList(h, [[SYSENTER_CS, 0x10n], [KERNEL_GS, 0x7000n], bad]);
    entryFailed(h, 34, 3n, pattern);
    assert.equal(h.cpu.msrs.rdmsr(KERNEL_GS), 0x7000n, 'the entries before the failing one were loaded');
  });
}

test('MSR loading: a valid list loads every MSR before the guest runs', () => {
  const h = fresh();
  msrList(h, [[KERNEL_GS, 0x123000n], [FS_BASE, 0x456000n]]);
  h.mem.writeBytes(GUEST_CODE, new Uint8Array([0x0f, 0xa2])); // CPUID
  assert.equal(h.vmx.vmlaunch().kind, 'entered', h.vmx.lastEntryProblem);
  assert.equal(h.cpu.msrs.rdmsr(KERNEL_GS), 0x123000n);
  assert.equal(h.cpu.msrs.rdmsr(FS_BASE), 0x456000n);
});

test('VM exit: the MSR-store list receives the guest\'s values, the MSR-load list gives the host its own', () => {
  const h = fresh();
  msrList(h, [[KERNEL_GS, 0x1000n]], 'VM_ENTRY_MSR_LOAD', LIST);
  msrList(h, [[KERNEL_GS, 0n]], 'VM_EXIT_MSR_STORE', LIST + 0x100);
  msrList(h, [[KERNEL_GS, 0x2000n]], 'VM_EXIT_MSR_LOAD', LIST + 0x200);
  assert.equal(h.vmx.vmlaunch().kind, 'entered');
  assert.deepEqual(h.cpu.run(10), { kind: 'vm-exit', reason: 18 });
  assert.equal(h.mem.read64(LIST + 0x100 + 8), 0x1000n, 'stored guest value');
  assert.equal(h.cpu.msrs.rdmsr(KERNEL_GS), 0x2000n, 'host value loaded');
});

test('VM exit: failing to load a host MSR is a VMX abort with indicator 4 in the VMCS region (28.7)', () => {
  const h = fresh();
  msrList(h, [[0x12345678, 0n]], 'VM_EXIT_MSR_LOAD', LIST + 0x200);
  assert.equal(h.vmx.vmlaunch().kind, 'entered');
  h.cpu.run(10);
  assert.equal(h.mem.read(0x11000 + 4, 4), 4);
  assert.equal(h.vmx.aborted, 4);
});

test('VM-entry failure status: the host sees neither VMfail flags nor a VM-instruction error (CF = ZF = 0)', () => {
  const h = fresh();
  h.write('GUEST_RFLAGS', 0);
  h.vmx.vmlaunch();
  assert.equal(getRflags(h.cpu) & (CF | ZF), 0);
  assert.equal(h.vmx.vmread(VM_INSTRUCTION_ERROR), 0n);
});
