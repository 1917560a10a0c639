// VM entries after an exit (VMRESUME): VM entry skips checks whose inputs did not change since
// the last entry that passed them (vm-entry.ts), so each test here enters and exits once with a
// valid VMCS, then breaks one rule with VMWRITE and resumes. The outcome must be the one the SDM
// gives for that rule on any entry: VMfailValid(7) for a control field (27.2.1), VMfailValid(8)
// for host state (27.2.2-27.2.4), and a VM-entry failure with exit reason 33 and bit 31 set for
// guest state (27.3.1, 27.8), including when the same bad value is met twice in a row.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { getRflags } from '../../src/hardware/flags';
import { GUEST_CODE, identityEpt, prepareGuest, prepareRealModeGuest, vmxHost, VmxHost } from '../support/vmx-host';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { VmxExitReason } from '../../src/vmx/definitions';

const ZF = 0x40, STATUS = 0x8d5;
const VM_INSTRUCTION_ERROR = 0x4400;
const INVALID_GUEST_STATE = 33;
const CPUID = VmxExitReason.CPUID.number;

/** A 64-bit guest looping on CPUID (cpuid; jmp back), entered once and exited once. */
function afterOneExit(): VmxHost {
  const h = vmxHost();
  prepareGuest(h);
  h.mem.writeBytes(GUEST_CODE, new Uint8Array([0x0f, 0xa2, 0xeb, 0xfc]));
  assert.equal(h.vmx.vmlaunch().kind, 'entered', h.vmx.lastEntryProblem);
  exitOnCpuid(h);
  return h;
}

function exitOnCpuid(h: VmxHost): void {
  assert.deepEqual(h.cpu.run(100), { kind: 'vm-exit', reason: CPUID });
  h.write('GUEST_RIP', h.read('GUEST_RIP') + h.read('VM_EXIT_INSTRUCTION_LEN'));
}

function resumes(h: VmxHost): void {
  assert.equal(h.vmx.vmresume().kind, 'entered', h.vmx.lastEntryProblem);
  exitOnCpuid(h);
}

function resumeFailsOnGuestState(h: VmxHost, problem: RegExp, qualification = 0n): void {
  const r = h.vmx.vmresume();
  assert.equal(r.kind, 'entry-failed', `expected a VM-entry failure; got ${JSON.stringify(r)}`);
  assert.equal(h.read('VM_EXIT_REASON'), BigInt((0x80000000 | INVALID_GUEST_STATE) >>> 0));
  assert.equal(h.read('EXIT_QUALIFICATION'), qualification);
  assert.equal(h.vmx.nonRoot, false);
  assert.match(h.vmx.lastEntryProblem, problem);
}

function resumeRefused(h: VmxHost, error: number, problem: RegExp): void {
  const r = h.vmx.vmresume();
  assert.equal(r.kind, 'vmfail', `expected VMfailValid(${error}); got ${JSON.stringify(r)}`);
  assert.equal(getRflags(h.cpu) & STATUS, ZF);
  assert.equal(h.vmx.vmread(VM_INSTRUCTION_ERROR), BigInt(error));
  assert.equal(h.vmx.nonRoot, false);
  assert.match(h.vmx.lastEntryProblem, problem);
}

// Guest-state fields: each VMWRITE breaks one rule of 27.3.1.
const GUEST_CASES: Array<{ field: string; bad: bigint; problem: RegExp; qualification?: bigint }> = [
  { field: 'GUEST_CR0', bad: 0x80000031n & ~1n, problem: /GUEST_CR0/ }, // PG without PE (no unrestricted guest)
  { field: 'GUEST_CR4', bad: 0x20n, problem: /GUEST_CR4/ }, // VMXE, fixed to 1, cleared
  { field: 'GUEST_CR3', bad: 1n << 50n, problem: /GUEST_CR3/ },
  { field: 'GUEST_SYSENTER_ESP', bad: 0x0000_8000_0000_0000n, problem: /SYSENTER/ },
  { field: 'GUEST_CS_AR_BYTES', bad: 0xa093n, problem: /CS type 3/ },
  { field: 'GUEST_SS_AR_BYTES', bad: 0xc09bn, problem: /SS must be a read\/write data segment/ },
  { field: 'GUEST_DS_AR_BYTES', bad: 0xc092n, problem: /DS must be accessed/ },
  { field: 'GUEST_TR_AR_BYTES', bad: 0x89n, problem: /TR must be usable, a busy TSS/ },
  { field: 'GUEST_ES_LIMIT', bad: 0x100000n, problem: /ES: G = 1 requires limit bits 11:0 all set/ },
  { field: 'GUEST_GDTR_BASE', bad: 0x0000_8000_0000_0000n, problem: /GUEST_GDTR_BASE and GUEST_IDTR_BASE must be canonical/ },
  { field: 'GUEST_IDTR_LIMIT', bad: 0x10000n, problem: /GUEST_GDTR_LIMIT and GUEST_IDTR_LIMIT/ },
  { field: 'VMCS_LINK_POINTER', bad: 0n, problem: /link pointer/, qualification: 4n },
  // the fields an exit saves every time, checked on every entry
  { field: 'GUEST_RFLAGS', bad: 0x2n | 0x8n, problem: /GUEST_RFLAGS: reserved bits/ },
  { field: 'GUEST_RFLAGS', bad: 0x2n | 0x20000n, problem: /GUEST_RFLAGS.VM must be 0 in IA-32e mode/ },
  { field: 'GUEST_RIP', bad: 0x0000_8000_0000_0000n, problem: /GUEST_RIP must be canonical/ },
  { field: 'GUEST_INTERRUPTIBILITY_INFO', bad: 3n, problem: /blocking by STI and by MOV SS/ },
  { field: 'GUEST_INTERRUPTIBILITY_INFO', bad: 1n, problem: /blocking by STI requires RFLAGS.IF/ },
  { field: 'GUEST_ACTIVITY_STATE', bad: 3n, problem: /activity state 3 is not supported/ },
];

for (const c of GUEST_CASES) {
  test(`VMRESUME after an exit: ${c.field} = 0x${c.bad.toString(16)} fails the entry (reason 33), twice in a row, and the restored value enters again`, () => {
    const h = afterOneExit();
    resumes(h); // a second passing entry: the checks' inputs are now known good
    const good = h.read(c.field);
    h.write(c.field, c.bad);
    resumeFailsOnGuestState(h, c.problem, c.qualification);
    // nothing written in between: the same bad value must fail the same way again
    resumeFailsOnGuestState(h, c.problem, c.qualification);
    h.write(c.field, good);
    h.write('GUEST_RIP', BigInt(GUEST_CODE));
    resumes(h);
  });
}

test('VMRESUME after an exit: a host-state field broken by VMWRITE fails with VMfailValid(8), and the fixed value enters again', () => {
  const h = afterOneExit();
  resumes(h);
  h.write('HOST_CS_SELECTOR', 0);
  resumeRefused(h, 8, /HOST_CS_SELECTOR must not be 0000H/);
  resumeRefused(h, 8, /HOST_CS_SELECTOR must not be 0000H/);
  h.write('HOST_CS_SELECTOR', 0x08);
  h.write('HOST_CR4', h.read('HOST_CR4') & ~0x20n);
  resumeRefused(h, 8, /HOST_CR4|PAE/);
  h.write('HOST_CR4', h.read('HOST_CR4') | 0x20n);
  resumes(h);
});

test('VMRESUME after an exit: a control field broken by VMWRITE fails with VMfailValid(7)', () => {
  const h = afterOneExit();
  resumes(h);
  const pin = h.read('PIN_BASED_VM_EXEC_CONTROL');
  const must = Number(h.cpu.msrs.rdmsr(0x48d) & 0xffffffffn);
  h.write('PIN_BASED_VM_EXEC_CONTROL', pin & ~BigInt(must & -must));
  resumeRefused(h, 7, /pin-based VM-execution controls/);
  h.write('PIN_BASED_VM_EXEC_CONTROL', pin);
  resumes(h);
});

test('VMRESUME after an exit: the guest-state checks follow a change of the entry controls they read ("IA-32e mode guest")', () => {
  const h = afterOneExit();
  resumes(h);
  h.write('VM_ENTRY_CONTROLS', h.read('VM_ENTRY_CONTROLS') & ~(1n << 9n));
  h.write('GUEST_RIP', 0x1_0000_0000n); // bits 63:32 must be 0 outside 64-bit mode
  resumeFailsOnGuestState(h, /GUEST_RIP bits 63:32 must be 0 outside 64-bit mode/);
});

test('VMRESUME after an exit: "deliver error code" of an injected exception is checked against GUEST_CR0.PE as it is at this entry (unrestricted guest)', { skip: !nativeOracleAvailable() && 'needs GNU as' }, () => {
  const h = vmxHost();
  prepareRealModeGuest(h, 0x7c00, identityEpt(h.mem, 0x400000, 0x100000));
  h.mem.writeBytes(0x7c00, assembleIntel(['.code16', '1:', 'cpuid', 'jmp 1b']));
  h.mem.write(13 * 4, 4, 0x7c00); // IVT entry of #GP: 0000:7C00
  assert.equal(h.vmx.vmlaunch().kind, 'entered', h.vmx.lastEntryProblem);
  exitOnCpuid(h);
  // #GP (vector 13, hardware exception) pushes an error code with CR0.PE = 1, and none with an
  // unrestricted guest's CR0.PE = 0: "deliver error code" must be set exactly then (27.2.1.3)
  const GP_WITH_CODE = 0x80000000 | 3 << 8 | 0x800 | 13, GP = 0x80000000 | 3 << 8 | 13;
  h.write('GUEST_CR0', 0x31);
  h.write('VM_ENTRY_INTR_INFO_FIELD', GP_WITH_CODE >>> 0);
  h.write('VM_ENTRY_EXCEPTION_ERROR_CODE', 0);
  // and a guest-state rule broken: the control checks pass, the entry fails on guest state
  h.write('GUEST_ACTIVITY_STATE', 3);
  resumeFailsOnGuestState(h, /activity state 3/);
  // back to real mode with the same injection, whose control fields did not change: now refused
  h.write('GUEST_CR0', 0x30);
  h.write('GUEST_ACTIVITY_STATE', 0);
  resumeRefused(h, 7, /vector 13 of type 3 does not push an error code/);
  resumeRefused(h, 7, /vector 13 of type 3 does not push an error code/);
  // without "deliver error code" it enters: FLAGS, CS and IP pushed (6 bytes), the handler runs
  h.write('VM_ENTRY_INTR_INFO_FIELD', GP >>> 0);
  const rsp = h.read('GUEST_RSP');
  assert.equal(h.vmx.vmresume().kind, 'entered', h.vmx.lastEntryProblem);
  assert.deepEqual(h.cpu.run(100), { kind: 'vm-exit', reason: CPUID });
  assert.equal(h.read('GUEST_RSP'), rsp - 6n);
  assert.equal(h.read('GUEST_RIP'), 0x7c00n);
});
