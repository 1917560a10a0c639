// The hardware items of "Do better" in /work/shared/x86_vcpu-lessons.md, each tried against the
// emulated VMX core and shown absent: CR0/CR4 fixed bits that are really checked, I/O bitmaps
// over all 65,536 ports (see also vmx-exits.test.ts), #CP with an error code and vectors 22-31
// at injection, the CR4 read shadow hiding VMXE, and RIP advanced by the exit's instruction length
// for REX-prefixed forms. Expected values from the SDM (Vol. 3C 24.8, 25.6.6, 26.1.3, 27.2.1.3).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { CpuFault } from '../../src/hardware/cpu';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { GUEST_CODE, prepareGuest, VMXON_REGION, vmxHost } from '../support/vmx-host';
import { interruption, launch, runToExit, runToVmcall, skipAndResume } from '../support/vmx-guest';
import { gate64 } from '../support/guest-machine';

const skip = !nativeOracleAvailable() && 'needs GNU as';

test('fixed bits are checked, not assumed: VMXON with a CR4 bit outside IA32_VMX_CR4_FIXED1 is #GP', () => {
  const h = vmxHost();
  const fixed1 = Number(h.cpu.msrs.rdmsr(0x489) & 0xffffffffn);
  const outside = 1 << 22; // CR4.PKE: this processor does not implement it
  assert.equal(fixed1 & outside, 0);
  h.cpu.cr4 |= outside;
  assert.throws(() => h.vmx.vmxon(VMXON_REGION), (e: unknown) => e instanceof CpuFault && e.vector === 13);
});

test('fixed bits in the guest: clearing CR0.NE or CR4.VMXE (not masked by the VMM) raises #GP in the guest (24.8)', { skip }, () => {
  for (const lines of [['mov rax, cr0', 'and eax, 0xffffffdf', 'mov cr0, rax', 'vmcall'], ['mov rax, cr4', 'and eax, 0xffffdfff', 'mov cr4, rax', 'vmcall']]) {
    const h = launch(assembleIntel(lines), {}, (x) => x.write('EXCEPTION_BITMAP', 1 << 13));
    const e = runToExit(h, 0);
    assert.equal(e.intrInfo, interruption(13, 3, true));
    assert.equal(e.rip, BigInt(GUEST_CODE + assembleIntel(lines.slice(0, 2)).length));
  }
});

test('CR4 read shadow: a guest reads CR4 without VMXE unless the VMM\'s shadow has it', { skip }, () => {
  const lines = ['mov rax, cr4', 'vmcall'];
  const hidden = launch(assembleIntel(lines), {}, (x) => { x.write('CR4_GUEST_HOST_MASK', 0x2000); x.write('CR4_READ_SHADOW', 0); });
  runToVmcall(hidden);
  assert.equal(hidden.cpu.getReg(0) & 0x2000n, 0n);
  const shown = launch(assembleIntel(lines), {}, (x) => { x.write('CR4_GUEST_HOST_MASK', 0x2000); x.write('CR4_READ_SHADOW', 0x2000); });
  runToVmcall(shown);
  assert.equal(shown.cpu.getReg(0) & 0x2000n, 0x2000n);
});

test('#CP (vector 21) needs "deliver error code" at injection; vectors 22-31 are hardware exceptions without one', () => {
  const h = vmxHost();
  prepareGuest(h);
  h.write('VM_ENTRY_INTR_INFO_FIELD', interruption(21, 3, false));
  assert.equal(h.vmx.vmlaunch().kind, 'vmfail');
  h.write('VM_ENTRY_INTR_INFO_FIELD', interruption(25, 3, true));
  assert.equal(h.vmx.vmlaunch().kind, 'vmfail');
  h.write('VM_ENTRY_INTR_INFO_FIELD', interruption(25, 3, false));
  assert.equal(h.vmx.vmlaunch().kind, 'entered', h.vmx.lastEntryProblem);
});

test('RIP advances by the VM-exit instruction length: REX-prefixed exiting instructions are longer, and the guest runs them all', { skip }, () => {
  const exiting = ['mov r9, cr3', 'mov cr8, r10', 'mov r11, dr7', 'mov r12, cr8', 'rdrand r13', 'rex.w cpuid', 'mov rax, cr3'];
  const lines = [...exiting.flatMap((insn, k) => [insn, `mov r14, ${k + 1}`]), 'vmcall'];
  // CR3-store, CR8-load/store, MOV-DR exiting; secondary: RDRAND exiting
  const h = launch(assembleIntel(lines), { proc: (1 << 16) | (1 << 19) | (1 << 20) | (1 << 23), proc2: 1 << 11 });
  const lengths: number[] = [];
  for (;;) {
    const out = h.cpu.run(1000);
    assert.equal(out.kind, 'vm-exit');
    if (Number(h.read('VM_EXIT_REASON')) === 18) break;
    lengths.push(Number(h.read('VM_EXIT_INSTRUCTION_LEN')));
    skipAndResume(h);
  }
  assert.deepEqual(lengths, exiting.map((i) => assembleIntel([i]).length));
  assert.ok(lengths.slice(0, 6).every((n) => n >= 3), 'REX forms are at least 3 bytes');
  assert.equal(h.cpu.getReg(14), BigInt(exiting.length), 'every instruction after an exit ran');
});

test('fixed bits hold in VMX root operation too: clearing CR4.VMXE is #GP after VMXON, allowed after VMXOFF (24.8)', { skip }, () => {
  const h = vmxHost();
  const code = 0x200000;
  h.cpu.idtrBase = 0x6000n;
  h.cpu.idtrLimit = 0xfff;
  gate64(h.mem, 0x6000, 13, code + 0x100);
  h.mem.write64(0x9000, BigInt(VMXON_REGION));
  h.mem.writeBytes(code, assembleIntel([
    'vmxon [0x9000]', 'mov rax, cr4', 'and eax, 0xffffdfff', 'mov cr4, rax', 'mov r14, 1', 'hlt',
    '.org 0x100', 'add r15, 1', 'pop rbx', 'vmxoff', 'mov rax, cr4', 'and eax, 0xffffdfff', 'mov cr4, rax', 'mov r14, 2', 'hlt',
  ]));
  h.cpu.rip = BigInt(code);
  h.cpu.setReg(4, 0x20000n);
  assert.deepEqual(h.cpu.run(100), { kind: 'halt' });
  assert.equal(h.cpu.getReg(15), 1n, 'one #GP: the MOV to CR4 inside VMX operation');
  assert.equal(h.cpu.getReg(3), 0n, 'error code 0');
  assert.equal(h.cpu.getReg(14), 2n, 'after VMXOFF the same write succeeded');
  assert.equal(h.cpu.cr4 & 0x2000, 0);
});
