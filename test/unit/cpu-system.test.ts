// Privileged behaviour with real guest code assembled by GNU as: interrupt delivery through
// the real-mode IVT and the IA-32e IDT, page faults with CR2 and error code, and triple fault
// (SDM Vol. 3A, chapters 4, 6 and 21).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu } from '../../src/hardware/cpu';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { gate64, longModeMachine } from '../support/guest-machine';

const skip = !nativeOracleAvailable() && 'needs GNU as';

test('real mode: INT n goes through the IVT and IRET comes back (SDM 21.1.4)', { skip }, () => {
  const mem = new PhysicalMemory(1 << 20);
  const cpu = new Cpu(mem);
  const code = assembleIntel(['.code16', 'mov ax, 0x1234', 'int 0x21', 'mov bx, ax', 'hlt', '.org 0x100', 'add ax, 1', 'iret']);
  mem.writeBytes(0x7c00, code);
  mem.write(0x21 * 4, 2, 0x7d00);
  mem.write(0x21 * 4 + 2, 2, 0);
  cpu.rip = 0x7c00n;
  cpu.setReg(4, 0x7000n);
  const out = cpu.run(1000);
  assert.equal(out.kind, 'halt');
  assert.equal(cpu.getReg(3) & 0xffffn, 0x1235n, 'BX holds the handler\'s result');
  assert.equal(cpu.getReg(4), 0x7000n, 'IRET popped IP, CS and FLAGS');
});

test('IA-32e mode: #DE is delivered through a 64-bit interrupt gate and IRETQ resumes', { skip }, () => {
  const { mem, cpu } = longModeMachine();
  const base = 0x100000;
  const code = assembleIntel(['mov rsp, 0x9000', 'xor ecx, ecx', 'mov eax, 5', 'div ecx', 'mov r14, 1', 'hlt',
    '.org 0x100', 'mov r15, 0xde', 'add qword ptr [rsp], 2', 'iretq']);
  mem.writeBytes(base, code);
  gate64(mem, 0x5000, 0, base + 0x100);
  cpu.rip = BigInt(base);
  const out = cpu.run(1000);
  assert.equal(out.kind, 'halt');
  assert.equal(cpu.getReg(15), 0xden, 'the #DE handler ran');
  assert.equal(cpu.getReg(14), 1n, 'execution resumed after the DIV');
  assert.equal(cpu.getReg(4), 0x9000n, 'the frame was popped');
});

test('IA-32e mode: a not-present page raises #PF with CR2 and the error code on the stack', { skip }, () => {
  const { mem, cpu } = longModeMachine();
  // unmap the second GiB: PDPT entry 1 (PML4 at 0x2000, PDPT at 0x3000)
  mem.write(0x3000 + 8, 4, 0);
  cpu.reconfigurePaging();
  const base = 0x100000;
  const code = assembleIntel(['mov rsp, 0x9000', 'mov rcx, qword ptr [0x40000010]', 'hlt',
    '.org 0x100', 'mov rax, cr2', 'pop rbx', 'mov r15, 1', 'hlt']);
  mem.writeBytes(base, code);
  gate64(mem, 0x5000, 14, base + 0x100);
  cpu.rip = BigInt(base);
  const out = cpu.run(1000);
  assert.equal(out.kind, 'halt');
  assert.equal(cpu.getReg(15), 1n, 'the #PF handler ran');
  assert.equal(cpu.getReg(0), 0x40000010n, 'CR2 holds the faulting linear address');
  assert.equal(cpu.getReg(3), 0n, 'error code: not present, read, supervisor');
  assert.equal(cpu.cr2, 0x40000010n);
});

test('a fault while delivering a fault becomes #DF; a fault delivering #DF is a triple fault', { skip }, () => {
  const { mem, cpu } = longModeMachine();
  cpu.idtrLimit = 0; // no usable gate at all
  const base = 0x100000;
  mem.writeBytes(base, assembleIntel(['mov rsp, 0x9000', 'ud2']));
  cpu.rip = BigInt(base);
  const out = cpu.run(1000);
  assert.equal(out.kind, 'triple-fault');
});

test('#DF is delivered when #GP delivery faults and a #DF gate exists', { skip }, () => {
  const { mem, cpu } = longModeMachine();
  const base = 0x100000;
  // vector 13 (#GP) points at a null selector, so delivering it faults (#GP), giving #DF
  mem.writeBytes(base, assembleIntel(['mov rsp, 0x9000', 'mov rax, 0x8000000000000000', 'mov rbx, qword ptr [rax]', 'hlt',
    '.org 0x100', 'pop rbx', 'mov r15, 8', 'hlt']));
  gate64(mem, 0x5000, 13, base + 0x100, 0);
  gate64(mem, 0x5000, 8, base + 0x100);
  cpu.rip = BigInt(base);
  const out = cpu.run(1000);
  assert.equal(out.kind, 'halt');
  assert.equal(cpu.getReg(15), 8n, 'the #DF handler ran');
  assert.equal(cpu.getReg(3), 0n, '#DF pushes error code 0');
});
