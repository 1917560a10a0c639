// The VMX core through its instruction interface: VMXON .. VMLAUNCH/VMRESUME, VM-instruction
// errors of SDM 31.4, and VM exits of real guest code with the SDM's exit information.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { GUEST_CODE, identityEpt, prepareGuest, prepareRealModeGuest, vmxHost } from '../support/vmx-host';
import { getRflags } from '../../src/hardware/flags';
import { VmxExitReason } from '../../src/vmx/definitions';

const skip = !nativeOracleAvailable() && 'needs GNU as';

test('a 64-bit guest executing CPUID exits with reason 10, RIP at the instruction and its length', { skip }, () => {
  const h = vmxHost();
  prepareGuest(h);
  h.mem.writeBytes(GUEST_CODE, assembleIntel(['mov eax, 1', 'cpuid', 'hlt']));
  const r = h.vmx.vmlaunch();
  assert.equal(r.kind, 'entered', h.vmx.lastEntryProblem);
  const out = h.cpu.run(100);
  assert.deepEqual(out, { kind: 'vm-exit', reason: VmxExitReason.CPUID.number });
  assert.equal(h.read('VM_EXIT_REASON'), 10n);
  assert.equal(h.read('GUEST_RIP'), BigInt(GUEST_CODE + 5));
  assert.equal(h.read('VM_EXIT_INSTRUCTION_LEN'), 2n);
  assert.equal(h.cpu.rip, 0xdead000n, 'host state loaded');
  assert.equal(getRflags(h.cpu), 2);
});

test('an unrestricted real-mode guest under EPT: I/O exits, then a read of an unmapped page is an EPT violation', { skip }, () => {
  const h = vmxHost();
  const eptp = identityEpt(h.mem, 0x400000, 0x100000, [0x9000]);
  prepareRealModeGuest(h, 0x7c00, eptp, { proc: 1 << 24 /* unconditional I/O exiting */ });
  h.mem.writeBytes(0x7c00, assembleIntel(['.code16', 'mov al, 0x41', 'out 0xe9, al', 'mov bx, word ptr [0x9002]', 'hlt']));
  assert.equal(h.vmx.vmlaunch().kind, 'entered', h.vmx.lastEntryProblem);
  assert.deepEqual(h.cpu.run(100), { kind: 'vm-exit', reason: VmxExitReason.IO_INSTRUCTION.number });
  // Table 28-5: size 1 → 0, OUT → bit 3 clear, immediate operand → bit 6, port in bits 31:16
  assert.equal(h.read('EXIT_QUALIFICATION'), (0xe9n << 16n) | 0x40n);
  assert.equal(h.read('VM_EXIT_INSTRUCTION_LEN'), 2n);
  h.write('GUEST_RIP', h.read('GUEST_RIP') + h.read('VM_EXIT_INSTRUCTION_LEN'));
  assert.equal(h.vmx.vmresume().kind, 'entered', h.vmx.lastEntryProblem);
  assert.deepEqual(h.cpu.run(100), { kind: 'vm-exit', reason: VmxExitReason.EPT_VIOLATION.number });
  assert.equal(h.read('GUEST_PHYSICAL_ADDRESS'), 0x9002n);
  assert.equal(h.read('GUEST_LINEAR_ADDRESS'), 0x9002n);
  // Table 28-7: data read (bit 0), entry not present (bits 5:3 = 0), linear address valid (7), final translation (8)
  assert.equal(h.read('EXIT_QUALIFICATION'), 0x181n);
  assert.equal(h.read('GUEST_RIP'), 0x7c04n, 'RIP at the faulting MOV');
});

test('an EPT violation while an injected interrupt is delivered: the exit records the interrupt as IDT-vectoring information', { skip }, () => {
  const h = vmxHost();
  // the guest stack page (SS:SP = 0:7000, first push at 0x6ffe) is missing from EPT
  const eptp = identityEpt(h.mem, 0x400000, 0x100000, [0x6000]);
  prepareRealModeGuest(h, 0x7c00, eptp);
  h.mem.writeBytes(0x7c00, assembleIntel(['.code16', 'hlt']));
  h.mem.write(0x20 * 4, 4, 0x7d00); // IVT entry of vector 0x20: 0000:7D00
  h.write('GUEST_RFLAGS', 0x202);
  h.write('VM_ENTRY_INTR_INFO_FIELD', 0x80000020); // valid, external interrupt, vector 0x20
  assert.equal(h.vmx.vmlaunch().kind, 'entered', h.vmx.lastEntryProblem);
  assert.deepEqual(h.cpu.run(10), { kind: 'vm-exit', reason: VmxExitReason.EPT_VIOLATION.number });
  assert.equal(h.read('GUEST_PHYSICAL_ADDRESS'), 0x6ffen, 'the first push of the interrupt frame (FLAGS)');
  assert.equal(h.read('EXIT_QUALIFICATION') & 7n, 2n, 'a data write');
  assert.equal(h.read('IDT_VECTORING_INFO_FIELD'), 0x80000020n, 'the interrupt being delivered: valid, type 0, vector 0x20');
  assert.equal(h.read('GUEST_RIP'), 0x7c00n, 'RIP as VM entry left it');
  assert.equal(h.read('GUEST_RSP'), 0x7000n, 'nothing was pushed');
});
