// VmxVcpu (the x86_vcpu port) on the machine, with real guest code: the exits it handles
// itself, the ones it returns, and each "do better" item of x86_vcpu-lessons.md tried and
// found absent. Expected values come from the CPU model and the SDM, not from the vCPU.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { Machine, RunEnd } from '../../src/vmm/machine';
import { loadFlatBinary } from '../../src/vmm/guest-image';
import { cpuidLookup, defaultCpuid } from '../../src/hardware/cpuid';

const skip = !nativeOracleAvailable() && 'needs GNU as';
const CODE = 0x100000;
/** Where test guests store results: [0x8000 + 8 * k]. */
const OUT = 0x8000;

/** A 64-bit guest (the machine's boot tables) that ends with the SHUTDOWN hypercall, code 0. */
function machine(body: string[]): { m: Machine; run: () => RunEnd; out: (k: number) => bigint; console: () => string } {
  let text = '';
  const m = new Machine({ memoryMiB: 16, console: (b) => { text += Buffer.from(b).toString('latin1'); } });
  const code = assembleIntel([...body, 'mov eax, 2', 'xor edi, edi', 'vmcall', 'hlt']);
  m.load(loadFlatBinary(code, CODE));
  m.start(BigInt(CODE), 'long');
  return { m, run: () => m.run(1_000_000), out: (k) => m.mem.read64(OUT + 8 * k), console: () => text };
}

test('CPUID is answered by the vCPU: the model\'s values, VMX hidden and the hypervisor bit set in leaf 1, EAX untouched', { skip }, () => {
  const g = machine(['mov eax, 1', 'cpuid', `mov [${OUT}], eax`, `mov [${OUT + 8}], ebx`, `mov [${OUT + 16}], ecx`, `mov [${OUT + 24}], edx`,
    'mov eax, 0x40000000', 'cpuid', `mov [${OUT + 32}], ebx`, `mov [${OUT + 40}], ecx`, `mov [${OUT + 48}], edx`]);
  assert.deepEqual(g.run(), { kind: 'shutdown', exitCode: 0, how: 'hypercall' });
  const [a, b, c, d] = cpuidLookup(defaultCpuid(), 1, 0);
  assert.equal(g.out(0), BigInt(a >>> 0), 'EAX (family/model/stepping) as the model says');
  assert.equal(g.out(1), BigInt(b >>> 0));
  assert.equal(g.out(2), BigInt(((c & ~(1 << 5)) | (1 << 31)) >>> 0), 'ECX: VMX (bit 5) clear, hypervisor (bit 31) set');
  assert.equal(g.out(3), BigInt(d >>> 0));
  const vendor = [g.out(4), g.out(5), g.out(6)].map((w) => Buffer.from(Uint32Array.of(Number(w)).buffer).toString('latin1')).join('');
  assert.equal(vendor, 'vmx-debug   ');
  assert.equal(g.m.exitCounts.get('CPUID'), 2);
});

test('XSETBV: a valid XCR0 is taken (XGETBV reads it back), an invalid one gets #GP(0) injected', { skip }, () => {
  // #GP handler: records the error code and skips the 3-byte XSETBV
  const g = machine([
    'lea rax, [rip + gp_handler]', 'mov word ptr [0x7000 + 13 * 16], ax', 'mov word ptr [0x7000 + 13 * 16 + 2], 0x08',
    'mov word ptr [0x7000 + 13 * 16 + 4], 0x8e00', 'shr rax, 16', 'mov word ptr [0x7000 + 13 * 16 + 6], ax',
    'mov qword ptr [0x7000 + 13 * 16 + 8], 0', 'mov word ptr [0x6ff0], 0xfff', 'mov qword ptr [0x6ff2], 0x7000', 'lidt [0x6ff0]',
    'mov rsp, 0x9000', 'mov rax, cr4', 'or eax, 1 << 18', 'mov cr4, rax',
    'xor ecx, ecx', 'xor edx, edx', 'mov eax, 1', 'xsetbv', 'xgetbv', `mov [${OUT}], rax`,
    'mov eax, 3', 'xsetbv', 'jmp done',
    'gp_handler:', 'pop rax', `mov [${OUT + 8}], rax`, 'add qword ptr [rsp], 3', `mov qword ptr [${OUT + 16}], 1`, 'iretq',
    'done:',
  ]);
  assert.equal(g.run().kind, 'shutdown');
  assert.equal(g.out(0), 1n, 'XCR0 = 1 accepted (x87 only is what CPUID leaf 0DH reports)');
  assert.equal(g.out(2), 1n, 'the #GP handler ran for XCR0 = 3');
  assert.equal(g.out(1), 0n, 'error code 0');
  assert.equal(g.m.exitCounts.get('XSETBV'), 2);
});

test('CR4 reads come from the read shadow: the guest never sees VMXE unless it set it; setting it exits and is handled', { skip }, () => {
  const g = machine(['mov rax, cr4', `mov [${OUT}], rax`, 'or eax, 0x2000', 'mov cr4, rax', 'mov rbx, cr4', `mov [${OUT + 8}], rbx`,
    'mov rax, cr0', `mov [${OUT + 16}], rax`]);
  assert.equal(g.run().kind, 'shutdown');
  assert.equal(g.out(0) & 0x2000n, 0n, 'VMXE hidden');
  assert.equal(g.out(0) & 0x20n, 0x20n, 'PAE (set by the boot state) visible');
  assert.equal(g.out(1) & 0x2000n, 0x2000n, 'after the guest set VMXE it reads it back');
  assert.equal(g.m.exitCounts.get('CR_ACCESS'), 1, 'only the write that changed an owned bit exited');
  assert.equal(g.out(2) & 0x20n, 0n, 'CR0.NE is the guest\'s (0 in the shadow) although VMX holds it at 1');
});

test('a CR4 write that sets VMXE together with a bit the processor does not implement gets #GP(0), CR4 unchanged', { skip }, () => {
  // bit 31 is outside the processor's CR4_FIXED1 (checked first): the MOV faults; the handler skips it
  const fixed1 = g0().m.cpu.cr4Fixed1 >>> 0;
  assert.equal(fixed1 & 0x80000000, 0, 'bit 31 is reserved on this processor model');
  const g = machine([
    'lea rax, [rip + gp_handler]', 'mov word ptr [0x7000 + 13 * 16], ax', 'mov word ptr [0x7000 + 13 * 16 + 2], 0x08',
    'mov word ptr [0x7000 + 13 * 16 + 4], 0x8e00', 'shr rax, 16', 'mov word ptr [0x7000 + 13 * 16 + 6], ax',
    'mov qword ptr [0x7000 + 13 * 16 + 8], 0', 'mov word ptr [0x6ff0], 0xfff', 'mov qword ptr [0x6ff2], 0x7000', 'lidt [0x6ff0]',
    'mov rsp, 0x9000', 'mov rax, cr4', `mov [${OUT}], rax`, 'or eax, 0x80002000', 'mov cr4, rax', 'mov rbx, cr4', `mov [${OUT + 8}], rbx`, 'jmp done',
    'gp_handler:', 'pop rax', `mov [${OUT + 16}], rax`, 'add qword ptr [rsp], 3', `mov qword ptr [${OUT + 24}], 1`, 'iretq',
    'done:',
  ]);
  assert.equal(g.run().kind, 'shutdown');
  assert.equal(g.out(3), 1n, 'the #GP handler ran');
  assert.equal(g.out(2), 0n, 'error code 0');
  assert.equal(g.out(1), g.out(0), 'CR4 as the guest read it before');
  assert.equal(g.m.exitCounts.get('CR_ACCESS'), 1);
});

function g0(): { m: Machine } {
  const m = new Machine({ memoryMiB: 16 });
  m.load(loadFlatBinary(assembleIntel(['hlt']), CODE));
  m.start(BigInt(CODE), 'long');
  return { m };
}

test('RIP advances by the exit instruction length: REX- and 66-prefixed CPUID and OUT continue at the next instruction', { skip }, () => {
  const g = machine(['.byte 0x48, 0x0f, 0xa2', 'mov qword ptr [0x8000], 7', '.byte 0x66, 0x40, 0xe6, 0x80', 'mov qword ptr [0x8008], 9']);
  assert.equal(g.run().kind, 'shutdown');
  assert.equal(g.out(0), 7n);
  assert.equal(g.out(1), 9n);
});

test('the I/O bitmaps cover every port: 0xFFFF exits like 0x0000, and a port let through does not exit', { skip }, () => {
  const g = machine(['mov dx, 0xffff', 'in al, dx', 'xor edx, edx', 'in al, dx', 'out 0x80, al', 'out 0x81, al']);
  g.m.vcpu.setIoInterceptOfRange(0x80, 1, false);
  const ports: number[] = [];
  const end = g.m.run(1_000_000, { onExit: (e) => { if (e.info.name === 'IO_INSTRUCTION') ports.push(Number(e.info.qualification >> 16n)); } });
  assert.equal(end.kind, 'shutdown');
  assert.deepEqual(ports, [0xffff, 0, 0x81]);
});

test('MSR exits advance RIP: the VMM\'s MSR 0x40000000 is written, read back, and the guest goes on', { skip }, () => {
  const g = machine(['mov ecx, 0x40000000', 'mov eax, 0x1234', 'mov edx, 0x5678', 'wrmsr', 'xor eax, eax', 'xor edx, edx', 'rdmsr',
    `mov [${OUT}], eax`, `mov [${OUT + 8}], edx`]);
  assert.equal(g.run().kind, 'shutdown');
  assert.equal(g.out(0), 0x1234n);
  assert.equal(g.out(1), 0x5678n);
  assert.equal(g.m.exitCounts.get('MSR_WRITE'), 1);
  assert.equal(g.m.exitCounts.get('MSR_READ'), 1);
});

test('queueEvent refuses reserved vectors 22-31 and an exception without its error code; #CP (21) carries one', () => {
  const m = new Machine({ memoryMiB: 16 });
  for (let v = 22; v <= 31; v++) assert.throws(() => m.vcpu.queueEvent(v), /reserved/);
  assert.throws(() => m.vcpu.queueEvent(21), /needs an error code/);
  assert.throws(() => m.vcpu.queueEvent(256), RangeError);
  m.vcpu.queueEvent(21, 0);
  m.vcpu.queueEvent(0x20);
});

test('the guest\'s mode is read from the guest state as it switches from real to long mode', { skip }, () => {
  const m = new Machine({ memoryMiB: 16 });
  const code = assembleIntel(['.code16', 'mov ax, 1', 'out 0x80, al', 'hlt']);
  m.load(loadFlatBinary(code, 0x7c00));
  m.start(0x7c00n, 'real');
  assert.equal(m.vcpu.cpuMode(), 'real');
  const end = m.run(1000, { breakOn: new Set(['IO_INSTRUCTION']) });
  assert.equal(end.kind, 'break');
  assert.equal(m.vcpu.cpuMode(), 'real', 'still real mode at the exit, whatever the host runs in');
  const g = machine(['nop']);
  assert.equal(g.m.vcpu.cpuMode(), 'long');
});

test('hypercalls: VERSION returns 1, CONSOLE_WRITE prints guest memory, an unknown number returns all ones', { skip }, () => {
  const g = machine(['xor eax, eax', 'vmcall', `mov [${OUT}], rax`,
    'lea rdi, [rip + msg]', 'mov esi, 6', 'mov eax, 1', 'vmcall', `mov [${OUT + 8}], rax`,
    'mov eax, 99', 'vmcall', `mov [${OUT + 16}], rax`, 'jmp over', 'msg: .ascii "hello\\n"', 'over:']);
  assert.equal(g.run().kind, 'shutdown');
  assert.equal(g.out(0), 1n);
  assert.equal(g.out(1), 6n);
  assert.equal(g.console(), 'hello\n');
  assert.equal(g.out(2), 0xffffffffffffffffn);
});

test('--mode protected starts a flat 32-bit guest: its far jump to the boot GDT\'s 32-bit code selector keeps it in 32-bit mode', { skip }, () => {
  const m = new Machine({ memoryMiB: 16 });
  const code = assembleIntel(['.code32', 'call 1f', '1:', 'pop eax', 'add eax, 2f - 1b', 'push 0x18', 'push eax', 'retf', '2:', 'mov eax, 0x12345678', 'mov [0x8000], eax',
    'mov eax, 2', 'xor edi, edi', 'vmcall']);
  m.load(loadFlatBinary(code, CODE));
  m.start(BigInt(CODE), 'protected');
  assert.equal(m.vcpu.cpuMode(), 'protected');
  assert.deepEqual(m.run(1000), { kind: 'shutdown', exitCode: 0, how: 'hypercall' });
  assert.equal(m.mem.read(0x8000, 4), 0x12345678, 'a 32-bit MOV (a 16-bit segment would have stored 0x5678 and decoded the rest differently)');
});
