// VMX instructions in VMX root operation and their failures (SDM Vol. 3C, 31.2 conventions,
// 31.3 instruction pages, 31.4 Table 31-1 VM-instruction error numbers): #UD / #GP, VMfailInvalid
// (CF = 1) and VMfailValid(n) (ZF = 1, error n in the VM-instruction error field). Each case by
// the hardware API that src/vmx's wrappers use, and a few by x86 code executed on the emulated CPU.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Cpu, CpuFault } from '../../src/hardware/cpu';
import { PhysicalMemory } from '../../src/hardware/memory';
import { getRflags } from '../../src/hardware/flags';
import { VmxUnit } from '../../src/hardware/vmx/vmx-unit';
import { defaultVmxCapabilities } from '../../src/hardware/vmx/capabilities';
import { enterLongMode } from '../../src/vmm/long-mode-setup';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { GUEST_CODE, HOST_STACK, prepareGuest, VMCS_REGION, vmxHost, VmxHost, VMXON_REGION } from '../support/vmx-host';
import { gate64 } from '../support/guest-machine';

const skip = !nativeOracleAvailable() && 'needs GNU as';

const CF = 0x1, ZF = 0x40;
const STATUS = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x800;
const status = (h: VmxHost | Cpu) => getRflags('cpu' in h ? h.cpu : h) & STATUS;
const VM_INSTRUCTION_ERROR = 0x4400;
const GUEST_RIP = 0x681e, VM_EXIT_REASON = 0x4402;
const REVISION = () => Number(vmxHost().cpu.msrs.rdmsr(0x480) & 0x7fffffffn);

function succeeded(h: VmxHost): void {
  assert.equal(status(h), 0, 'VMsucceed: CF = PF = AF = ZF = SF = OF = 0');
}
function failedInvalid(h: VmxHost): void {
  assert.equal(status(h), CF, 'VMfailInvalid: CF = 1, the other status flags 0');
}
/** VMfailValid(n): ZF = 1 and the error number readable from the current VMCS. */
function failedValid(h: VmxHost, n: number): void {
  assert.equal(status(h), ZF, `VMfailValid(${n}): ZF = 1`);
  assert.equal(h.vmx.vmread(VM_INSTRUCTION_ERROR), BigInt(n));
}

function throwsFault(f: () => void, vector: number, errorCode?: number): void {
  assert.throws(f, (e: unknown) => e instanceof CpuFault && e.vector === vector && (errorCode === undefined || e.errorCode === errorCode));
}

/** A host with the VMCS current (VMXON, VMCLEAR, VMPTRLD done). */
function current(): VmxHost {
  const h = vmxHost();
  h.vmx.vmxon(VMXON_REGION);
  h.vmx.vmclear(VMCS_REGION);
  h.vmx.vmptrld(VMCS_REGION);
  succeeded(h);
  return h;
}

// ---- VMXON ---------------------------------------------------------------------------

test('VMXON: #UD with CR4.VMXE clear', () => {
  const h = vmxHost();
  h.cpu.cr4 &= ~0x2000;
  throwsFault(() => h.vmx.vmxon(VMXON_REGION), 6);
  assert.equal(h.vmx.inVmxOperation, false);
});

/** A CPU in 64-bit mode with CR4.VMXE and IA32_FEATURE_CONTROL set to `fc` (not via vmxHost, which locks it). */
function bareHost(fc: bigint): VmxHost {
  const mem = new PhysicalMemory(2 ** 32);
  const cpu = new Cpu(mem);
  enterLongMode(cpu);
  const vmx = new VmxUnit(cpu);
  cpu.cr4 |= 0x2000;
  cpu.msrs.wrmsr(0x3a, fc);
  mem.write(VMXON_REGION, 4, REVISION());
  return { cpu, mem, vmx, write: () => undefined, read: () => 0n };
}

test('VMXON: #GP(0) unless IA32_FEATURE_CONTROL is locked (bit 0) with VMX outside SMX enabled (bit 2)', () => {
  throwsFault(() => bareHost(0n).vmx.vmxon(VMXON_REGION), 13, 0);
  throwsFault(() => bareHost(4n).vmx.vmxon(VMXON_REGION), 13, 0);
  throwsFault(() => bareHost(1n).vmx.vmxon(VMXON_REGION), 13, 0);
  const ok = bareHost(5n);
  ok.vmx.vmxon(VMXON_REGION);
  assert.equal(ok.vmx.inVmxOperation, true);
});

test('VMXON: #GP(0) at CPL 3', () => {
  const h = vmxHost();
  h.cpu.cpl = 3;
  throwsFault(() => h.vmx.vmxon(VMXON_REGION), 13, 0);
});

test('VMXON: #GP(0) when CR0 does not meet IA32_VMX_CR0_FIXED0 (NE clear)', () => {
  const h = vmxHost();
  const fixed0 = Number(h.cpu.msrs.rdmsr(0x486) & 0xffffffffn);
  assert.ok((fixed0 & 0x20) !== 0, 'NE is a fixed-1 bit');
  h.cpu.cr0 = (h.cpu.cr0 & ~0x20) >>> 0;
  throwsFault(() => h.vmx.vmxon(VMXON_REGION), 13, 0);
});

test('VMXON: VMfailInvalid for a misaligned region, one beyond MAXPHYADDR, or a wrong revision identifier', () => {
  for (const bad of [VMXON_REGION + 8, VMXON_REGION + 0x800, 2 ** 52]) {
    const h = vmxHost();
    h.vmx.vmxon(bad);
    failedInvalid(h);
    assert.equal(h.vmx.inVmxOperation, false);
  }
  const h = vmxHost();
  h.mem.write(VMXON_REGION, 4, REVISION() ^ 1);
  h.vmx.vmxon(VMXON_REGION);
  failedInvalid(h);
  assert.equal(h.vmx.inVmxOperation, false);
});

test('VMXON in VMX root operation: VMfailValid(15) with a current VMCS, VMfailInvalid without', () => {
  const h = vmxHost();
  h.vmx.vmxon(VMXON_REGION);
  succeeded(h);
  h.vmx.vmxon(VMXON_REGION);
  failedInvalid(h);
  const c = current();
  c.vmx.vmxon(VMXON_REGION);
  failedValid(c, 15);
});

// ---- VMCLEAR / VMPTRLD / VMPTRST ---------------------------------------------------------

test('VMCLEAR: invalid address (2), the VMXON pointer (3)', () => {
  const h = current();
  h.vmx.vmclear(VMCS_REGION + 0x10);
  failedValid(h, 2);
  h.vmx.vmclear(2 ** 50);
  failedValid(h, 2);
  h.vmx.vmclear(VMXON_REGION);
  failedValid(h, 3);
});

test('VMPTRLD: invalid address (9), the VMXON pointer (10), wrong revision identifier (11)', () => {
  const h = current();
  h.vmx.vmptrld(VMCS_REGION + 4);
  failedValid(h, 9);
  h.vmx.vmptrld(VMXON_REGION);
  failedValid(h, 10);
  const other = 0x12000;
  h.mem.write(other, 4, REVISION() + 1);
  h.vmx.vmptrld(other);
  failedValid(h, 11);
  h.mem.write(other, 4, (REVISION() | 0x80000000) >>> 0);
  h.vmx.vmptrld(other);
  failedValid(h, 11); // shadow-VMCS indicator set, and this processor has no VMCS shadowing
  assert.equal(h.vmx.vmptrst(), VMCS_REGION, 'the current VMCS is unchanged by the failures');
});

test('without a current VMCS the failures are VMfailInvalid, and VMPTRST stores FFFFFFFF_FFFFFFFFH', () => {
  const h = vmxHost();
  h.vmx.vmxon(VMXON_REGION);
  assert.equal(h.vmx.vmread(GUEST_RIP), undefined);
  failedInvalid(h);
  h.vmx.vmwrite(GUEST_RIP, 1n);
  failedInvalid(h);
  h.vmx.vmlaunch();
  failedInvalid(h);
  h.vmx.vmclear(VMXON_REGION);
  failedInvalid(h);
  assert.equal(BigInt.asUintN(64, BigInt(h.vmx.vmptrst())), 0xffffffffffffffffn);
});

test('VMCLEAR writes the current VMCS back to its region: a later VMPTRLD sees the values', () => {
  const h = current();
  h.vmx.vmwrite(GUEST_RIP, 0x123456789abcn);
  h.vmx.vmclear(VMCS_REGION);
  succeeded(h);
  // another VMCS in between, to be sure nothing is kept in the processor
  const other = 0x12000;
  h.mem.write(other, 4, REVISION());
  h.vmx.vmclear(other);
  h.vmx.vmptrld(other);
  h.vmx.vmwrite(GUEST_RIP, 7n);
  h.vmx.vmptrld(VMCS_REGION);
  succeeded(h);
  assert.equal(h.vmx.vmread(GUEST_RIP), 0x123456789abcn);
  h.vmx.vmptrld(other);
  assert.equal(h.vmx.vmread(GUEST_RIP), 7n, 'switching VMCS by VMPTRLD also wrote the first one back');
});

// ---- VMREAD / VMWRITE ---------------------------------------------------------------------

test('VMREAD / VMWRITE of an unsupported field: VMfailValid(12)', () => {
  const h = current();
  // bit 15 and up are reserved in an encoding; 0x6ffe would be guest-state natural-width index 511
  for (const enc of [0x8000, 0x10000681e, 0x6ffe]) {
    assert.equal(h.vmx.vmread(enc), undefined);
    failedValid(h, 12);
    h.vmx.vmwrite(enc, 0n);
    failedValid(h, 12);
  }
});

test('VMWRITE to a VM-exit information field succeeds because IA32_VMX_MISC bit 29 is set', () => {
  const h = current();
  assert.ok((h.cpu.msrs.rdmsr(0x485) & (1n << 29n)) !== 0n);
  h.vmx.vmwrite(VM_EXIT_REASON, 0x1234n);
  succeeded(h);
  assert.equal(h.vmx.vmread(VM_EXIT_REASON), 0x1234n);
});

test('VMWRITE to a read-only field fails with 13 on a processor without IA32_VMX_MISC bit 29', () => {
  const mem = new PhysicalMemory(2 ** 32);
  const cpu = new Cpu(mem);
  enterLongMode(cpu);
  const caps = defaultVmxCapabilities();
  const vmx = new VmxUnit(cpu, { ...caps, misc: caps.misc & ~(1n << 29n) });
  cpu.cr4 |= 0x2000;
  cpu.msrs.wrmsr(0x3a, 5n);
  mem.write(VMXON_REGION, 4, REVISION());
  mem.write(VMCS_REGION, 4, REVISION());
  vmx.vmxon(VMXON_REGION);
  vmx.vmptrld(VMCS_REGION);
  assert.equal(cpu.msrs.rdmsr(0x485) & (1n << 29n), 0n, 'the MSR reports what the core does');
  vmx.vmwrite(VM_EXIT_REASON, 1n);
  assert.equal(getRflags(cpu) & STATUS, ZF);
  assert.equal(vmx.vmread(VM_INSTRUCTION_ERROR), 13n);
});

test('VMWRITE to the high half of a 64-bit field changes only bits 63:32', () => {
  const h = current();
  const TSC_OFFSET = 0x2010;
  h.vmx.vmwrite(TSC_OFFSET, 0x1111111122222222n);
  h.vmx.vmwrite(TSC_OFFSET | 1, 0x33333333n);
  succeeded(h);
  assert.equal(h.vmx.vmread(TSC_OFFSET), 0x3333333322222222n);
  assert.equal(h.vmx.vmread(TSC_OFFSET | 1), 0x33333333n);
});

// ---- VMLAUNCH / VMRESUME -------------------------------------------------------------------

test('VMLAUNCH of a launched VMCS: VMfailValid(4); VMRESUME of a clear one: VMfailValid(5); VMCLEAR makes it launchable again', () => {
  const h = vmxHost();
  prepareGuest(h);
  h.vmx.vmresume();
  failedValid(h, 5);
  h.mem.writeBytes(GUEST_CODE, new Uint8Array([0x0f, 0x01, 0xc1])); // VMCALL
  assert.equal(h.vmx.vmlaunch().kind, 'entered');
  assert.equal(h.cpu.run(10).kind, 'vm-exit');
  h.vmx.vmlaunch();
  failedValid(h, 4);
  h.vmx.vmclear(VMCS_REGION);
  h.vmx.vmptrld(VMCS_REGION);
  assert.equal(h.vmx.vmlaunch().kind, 'entered');
});

test('VM entry right after MOV SS: VMfailValid(26)', () => {
  const h = vmxHost();
  prepareGuest(h);
  h.cpu.interruptShadow = 2; // blocking by MOV SS
  h.vmx.vmlaunch();
  failedValid(h, 26);
});

test('VMCALL in VMX root operation: VMfailValid(1)', () => {
  const h = current();
  h.vmx.vmcallInRoot();
  failedValid(h, 1);
});

// ---- INVEPT / INVVPID ------------------------------------------------------------------

test('INVEPT with an unsupported type, INVVPID with a bad type, VPID 0 or a non-canonical address: VMfailValid(28)', () => {
  const h = current();
  const cap = h.cpu.msrs.rdmsr(0x48c);
  for (const type of [0, 3, 4, 0xffffffff]) {
    const supported = (type === 1 && (cap & (1n << 25n)) !== 0n) || (type === 2 && (cap & (1n << 26n)) !== 0n);
    assert.equal(supported, false);
    h.vmx.invept(type, 0x1000n | 0x1en);
    failedValid(h, 28);
  }
  h.vmx.invept(2, 0n);
  succeeded(h);
  h.vmx.invvpid(4, 1, 0n);
  failedValid(h, 28);
  h.vmx.invvpid(1, 0, 0n);
  failedValid(h, 28); // single-context needs a VPID other than 0
  h.vmx.invvpid(0, 1, 0x0000800000000000n);
  failedValid(h, 28); // individual-address with a non-canonical address
  h.vmx.invvpid(0, 1, 0xffff800000000000n);
  succeeded(h);
  h.vmx.invvpid(2, 0, 0n);
  succeeded(h); // all-context ignores the VPID
});

// ---- the same instructions executed as x86 code in VMX root operation ----------------------

const HOST_CODE = 0x200000, SCRATCH = 0x9000;

function runHost(h: VmxHost, lines: string[], budget = 1000) {
  h.mem.writeBytes(HOST_CODE, assembleIntel(lines));
  h.cpu.rip = BigInt(HOST_CODE);
  h.cpu.setReg(4, BigInt(HOST_STACK));
  return h.cpu.run(budget);
}

test('x86 code: VMXON, VMXON again, VMPTRLD, VMXON again, VMREAD of the error, VMCALL — flags and errors per 31.4', { skip }, () => {
  const h = vmxHost();
  h.mem.write64(SCRATCH, BigInt(VMXON_REGION));
  h.mem.write64(SCRATCH + 8, BigInt(VMCS_REGION));
  const out = runHost(h, [
    `vmxon [${SCRATCH}]`, 'pushfq', 'pop r8',
    `vmxon [${SCRATCH}]`, 'pushfq', 'pop r9',
    `vmptrld [${SCRATCH + 8}]`, 'pushfq', 'pop r10',
    `vmxon [${SCRATCH}]`, 'pushfq', 'pop r11',
    `mov eax, ${VM_INSTRUCTION_ERROR}`, 'vmread rbx, rax', 'pushfq', 'pop r12',
    'vmcall', 'pushfq', 'pop r13', 'vmread rcx, rax',
    `vmclear [${SCRATCH}]`, 'pushfq', 'pop r14', 'vmread rdx, rax',
    'hlt',
  ]);
  assert.deepEqual(out, { kind: 'halt' });
  const f = (n: number) => Number(h.cpu.getReg(n)) & STATUS;
  assert.equal(f(8), 0, 'VMXON succeeded');
  assert.equal(f(9), CF, 'VMXON in root without a current VMCS: VMfailInvalid');
  assert.equal(f(10), 0, 'VMPTRLD succeeded');
  assert.equal(f(11), ZF, 'VMXON in root with a current VMCS: VMfailValid');
  assert.equal(f(12), 0, 'VMREAD succeeded');
  assert.equal(h.cpu.getReg(3), 15n);
  assert.equal(f(13), ZF);
  assert.equal(h.cpu.getReg(1), 1n, 'VMCALL in root: error 1');
  assert.equal(f(14), ZF);
  assert.equal(h.cpu.getReg(2), 3n, 'VMCLEAR of the VMXON pointer: error 3');
});

test('x86 code: VMXON without CR4.VMXE raises #UD through the host IDT', { skip }, () => {
  const h = vmxHost();
  h.cpu.idtrBase = 0x6000n;
  h.cpu.idtrLimit = 0xfff;
  gate64(h.mem, 0x6000, 6, HOST_CODE + 0x100);
  gate64(h.mem, 0x6000, 13, HOST_CODE + 0x200);
  h.cpu.cr4 &= ~0x2000;
  h.mem.write64(SCRATCH, BigInt(VMXON_REGION));
  const lines = [`vmxon [${SCRATCH}]`, 'hlt', '.org 0x100', 'mov r15, 6', 'hlt', '.org 0x200', 'mov r15, 13', 'hlt'];
  assert.deepEqual(runHost(h, lines), { kind: 'halt' });
  assert.equal(h.cpu.getReg(15), 6n);
  assert.equal(h.vmx.inVmxOperation, false);
});

test('x86 code: VMLAUNCH right after MOV SS fails with 26; a full VMLAUNCH exits back to HOST_RIP code', { skip }, () => {
  const h = vmxHost();
  prepareGuest(h);
  h.vmx.hostIsExternal = false;
  h.mem.writeBytes(GUEST_CODE, assembleIntel(['mov eax, 0', 'cpuid']));
  const hostRip = HOST_CODE + 0x100;
  h.write('HOST_RIP', hostRip);
  const out = runHost(h, [
    'mov ax, ss', 'mov ss, ax', 'vmlaunch', 'pushfq', 'pop r8', `mov eax, ${VM_INSTRUCTION_ERROR}`, 'vmread r9, rax',
    'vmlaunch', 'mov r15, 0xbad', 'hlt',
    '.org 0x100', `mov eax, ${VM_EXIT_REASON}`, 'vmread r10, rax', 'pushfq', 'pop r11', 'hlt',
  ]);
  assert.deepEqual(out, { kind: 'halt' });
  assert.equal(Number(h.cpu.getReg(8)) & STATUS, ZF);
  assert.equal(h.cpu.getReg(9), 26n);
  assert.equal(h.cpu.getReg(15), 0n, 'the second VMLAUNCH did not fall through');
  assert.equal(h.cpu.getReg(10), 10n, 'the host code read exit reason CPUID');
  assert.equal(Number(h.cpu.getReg(11)) & STATUS, 0);
  assert.equal(h.cpu.rip, BigInt(hostRip + assembleIntel([`mov eax, ${VM_EXIT_REASON}`, 'vmread r10, rax', 'pushfq', 'pop r11', 'hlt']).length));
});

test('x86 code: INVEPT with type 0 fails with 28, with type 2 succeeds; INVVPID type 1 VPID 0 fails', { skip }, () => {
  const h = current();
  h.mem.write64(SCRATCH, 0x1en);
  h.mem.write64(SCRATCH + 8, 0n);
  h.mem.write64(SCRATCH + 16, 0n); // INVVPID descriptor: VPID 0
  h.mem.write64(SCRATCH + 24, 0n);
  const out = runHost(h, [
    `mov rdi, ${SCRATCH}`, 'xor eax, eax', 'invept rax, [rdi]', 'pushfq', 'pop r8', `mov ebx, ${VM_INSTRUCTION_ERROR}`, 'vmread r9, rbx',
    'mov eax, 2', 'invept rax, [rdi]', 'pushfq', 'pop r10',
    'mov eax, 1', 'lea rsi, [rdi + 16]', 'invvpid rax, [rsi]', 'pushfq', 'pop r11', 'vmread r12, rbx',
    'hlt',
  ]);
  assert.deepEqual(out, { kind: 'halt' });
  assert.equal(Number(h.cpu.getReg(8)) & STATUS, ZF);
  assert.equal(h.cpu.getReg(9), 28n);
  assert.equal(Number(h.cpu.getReg(10)) & STATUS, 0);
  assert.equal(Number(h.cpu.getReg(11)) & STATUS, ZF);
  assert.equal(h.cpu.getReg(12), 28n);
});

test('x86 code: a small bare-metal hypervisor loop — VMLAUNCH, exits to HOST_RIP, RIP advanced by the exit length, VMRESUME', { skip }, () => {
  const h = vmxHost();
  prepareGuest(h);
  h.vmx.hostIsExternal = false;
  // the guest: three CPUIDs between counter increments, then HLT (not exiting: the run ends halted in the guest)
  h.mem.writeBytes(GUEST_CODE, assembleIntel(['xor r12, r12', 'cpuid', 'inc r12', 'cpuid', 'inc r12', 'cpuid', 'inc r12', 'hlt']));
  const handlerAt = HOST_CODE + 0x100;
  h.write('HOST_RIP', handlerAt);
  const ENC = { GUEST_RIP, LEN: 0x440c, REASON: VM_EXIT_REASON };
  const out = runHost(h, [
    'vmlaunch', 'mov r15, 0xbad', 'hlt',
    '.org 0x100',
    'inc r13', // exits seen
    `mov eax, ${ENC.REASON}`, 'vmread rbx, rax', 'cmp rbx, 10', 'jne 1f',
    `mov eax, ${ENC.GUEST_RIP}`, 'vmread rcx, rax', `mov eax, ${ENC.LEN}`, 'vmread rdx, rax', 'add rcx, rdx',
    `mov eax, ${ENC.GUEST_RIP}`, 'vmwrite rax, rcx', 'vmresume',
    '1:', 'mov r15, 0xbad', 'hlt',
  ], 10_000);
  assert.deepEqual(out, { kind: 'halt' });
  assert.equal(h.cpu.getReg(15), 0n, 'every entry succeeded');
  assert.equal(h.cpu.getReg(13), 3n, 'three CPUID exits handled by host code');
  assert.equal(h.cpu.getReg(12), 3n, 'the guest ran to its HLT');
  assert.equal(h.vmx.nonRoot, true, 'halted in the guest');
});

test('VMWRITE to 16- and 32-bit fields keeps only the field\'s width; natural-width fields keep all 64 bits', () => {
  const h = current();
  const VPID = 0x0000, CR3_TARGET_COUNT = 0x400a, GUEST_CR3 = 0x6802;
  h.vmx.vmwrite(VPID, 0x12345n);
  assert.equal(h.vmx.vmread(VPID), 0x2345n);
  h.vmx.vmwrite(CR3_TARGET_COUNT, 0x100000005n);
  assert.equal(h.vmx.vmread(CR3_TARGET_COUNT), 5n);
  h.vmx.vmwrite(GUEST_CR3, 0xfedcba9876543210n);
  assert.equal(h.vmx.vmread(GUEST_CR3), 0xfedcba9876543210n);
  succeeded(h);
});

test('launch state lives with each VMCS: two VMCSs, VMCLEAR of a non-current one, and across VMXOFF/VMXON', () => {
  const h = vmxHost();
  prepareGuest(h);
  h.mem.writeBytes(GUEST_CODE, new Uint8Array([0x0f, 0x01, 0xc1])); // VMCALL
  assert.equal(h.vmx.vmlaunch().kind, 'entered');
  assert.equal(h.cpu.run(10).kind, 'vm-exit');
  // a second VMCS region, never launched
  const second = 0x12000;
  h.mem.write(second, 4, REVISION());
  h.vmx.vmclear(VMCS_REGION); // writes the launched first VMCS back; it is clear now
  h.vmx.vmptrld(VMCS_REGION);
  h.vmx.vmlaunch();
  assert.equal(h.cpu.run(10).kind, 'vm-exit', 'relaunched after VMCLEAR');
  h.vmx.vmclear(second);
  h.vmx.vmptrld(second);
  h.vmx.vmresume();
  failedValid(h, 5); // the second one was never launched
  // VMCLEAR of the first while the second is current only marks the first clear in memory
  h.vmx.vmclear(VMCS_REGION);
  succeeded(h);
  assert.equal(h.vmx.vmptrst(), second);
  h.vmx.vmptrld(VMCS_REGION);
  h.vmx.vmresume();
  failedValid(h, 5);
  // launched, then VMXOFF and VMXON: still launched (the state is in the region)
  h.vmx.vmlaunch();
  assert.equal(h.cpu.run(10).kind, 'vm-exit');
  h.vmx.vmxoff();
  h.vmx.vmxon(VMXON_REGION);
  h.vmx.vmptrld(VMCS_REGION);
  h.vmx.vmlaunch();
  failedValid(h, 4);
  assert.equal(h.vmx.vmresume().kind, 'entered', h.vmx.lastEntryProblem);
});
