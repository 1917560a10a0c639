// The write hooks a debugger's MSR and VMCS data breakpoints hang on, at the hardware level:
// x86 code in VMX root operation executes WRMSR and VMWRITE on the emulated CPU; the hooks
// see each successful write with the whole value before and after, RIP at the writing
// instruction for WRMSR; a write the processor refuses (#GP, VMfail) is not reported.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { F } from '../../src/hardware/vmx/vmcs';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { HOST_STACK, VMCS_REGION, vmxHost, VmxHost, VMXON_REGION } from '../support/vmx-host';

const skip = !nativeOracleAvailable() && 'needs GNU as';
const HOST_CODE = 0x200000;
// encodings (SDM Vol. 3D, Appendix B): GUEST_RIP natural width, IO_BITMAP_A 64-bit (and its high half)
const GUEST_RIP = 0x681e, IO_BITMAP_A = 0x2000, IO_BITMAP_A_HIGH = 0x2001;
const IA32_STAR = 0xc0000081, IA32_LSTAR = 0xc0000082;

function runHost(h: VmxHost, lines: string[]) {
  h.mem.writeBytes(HOST_CODE, assembleIntel(lines));
  h.cpu.rip = BigInt(HOST_CODE);
  h.cpu.setReg(4, BigInt(HOST_STACK));
  return h.cpu.run(1000);
}

test('x86 VMWRITE in root operation reports slot, old and new value; a high-half write the whole field; a failed VMWRITE nothing', { skip }, () => {
  const h = vmxHost();
  h.vmx.vmxon(VMXON_REGION);
  h.vmx.vmclear(VMCS_REGION);
  h.vmx.vmptrld(VMCS_REGION);
  h.vmx.vmwrite(IO_BITMAP_A, 0x5000n);
  const seen: Array<[number, bigint, bigint]> = [];
  h.vmx.onFieldWrite = (slot, old, value) => seen.push([slot, old, value]);
  const out = runHost(h, [
    `mov eax, ${GUEST_RIP}`, 'mov rbx, 0x1111', 'vmwrite rax, rbx', 'mov rbx, 0x2222', 'vmwrite rax, rbx',
    `mov eax, ${IO_BITMAP_A_HIGH}`, 'mov rbx, 0x7', 'vmwrite rax, rbx',
    'mov eax, 0x7ffe', 'vmwrite rax, rbx', // no such field: VMfailValid(12), nothing written
    'hlt',
  ]);
  assert.equal(out.kind, 'halt');
  assert.deepEqual(seen, [
    [F.GUEST_RIP, 0n, 0x1111n],
    [F.GUEST_RIP, 0x1111n, 0x2222n],
    [F.IO_BITMAP_A, 0x5000n, 0x7_0000_5000n],
  ]);
  h.vmx.onFieldWrite = undefined;
  h.vmx.vmwrite(GUEST_RIP, 3n);
  assert.equal(seen.length, 3, 'unhooked again');
});

test('x86 WRMSR reports address, old and new value with RIP at the WRMSR; a #GP write is not reported', { skip }, () => {
  const h = vmxHost();
  const seen: Array<[number, bigint, bigint, bigint]> = [];
  h.cpu.msrs.onWrite = (address, old, value) => seen.push([address, old, value, h.cpu.rip]);
  const lines = [
    // the value before, as the code reads it: RDMSR into EDX:EAX, kept in R8
    `mov ecx, ${IA32_STAR}`, 'rdmsr', 'shl rdx, 32', 'or rax, rdx', 'mov r8, rax',
    'mov eax, 0x11112222', 'mov edx, 0x00230010', 'wrmsr',
    `mov ecx, ${IA32_LSTAR}`, 'mov eax, 0', 'mov edx, 0x00800000', 'wrmsr', // non-canonical: #GP(0)
    'hlt',
  ];
  runHost(h, lines);
  const at = BigInt(HOST_CODE + assembleIntel(lines.slice(0, 7)).length);
  assert.deepEqual(seen, [[IA32_STAR, h.cpu.getReg(8), 0x0023001011112222n, at]]);
});
