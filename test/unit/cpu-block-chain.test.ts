// The run loop reuses a block's remembered successor instead of looking it up again. These
// guests make that shortcut wrong in each way it could be: code rewritten under a warm chain,
// breakpoints set after the chain formed, the same linear address remapped by MOV CR3, and
// budgets that end inside a chained block. Expected values follow from the guest programs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Cpu, Intercept } from '../../src/hardware/cpu';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { longModeProgram } from '../support/guest-machine';

const skip = !nativeOracleAvailable() && 'needs GNU as';
const BASE = 0x100000;

function machine(lines: string[]): Cpu {
  return longModeProgram(assembleIntel(lines), BASE);
}

test('code rewritten while its block is chained runs as rewritten', { skip }, () => {
  // the first pass adds 1; each pass then stores the count (4, 3, 2, 1) into the immediate,
  // so the passes add 1 + 4 + 3 + 2. The patched code is on its own page, so the block that
  // jumps to it stays decoded (and chained to it).
  const cpu = machine([
    'xor eax, eax', 'mov ecx, 4',
    'again: jmp target',
    'back: mov byte ptr [rip + target + 2], cl', 'dec ecx', 'jnz again', 'hlt',
    '.org 0x1000',
    'target: add eax, 1', 'jmp back',
  ]);
  assert.equal(cpu.run(1000).kind, 'halt');
  assert.equal(cpu.getReg(0), 1n + 4n + 3n + 2n);
});

test('a breakpoint set after the loop has run stops inside the chained loop', { skip }, () => {
  const cpu = machine(['mov ecx, 100', 'top: add rax, 1', 'dec ecx', 'jnz top', 'hlt']);
  assert.equal(cpu.run(50).kind, 'budget');
  const code = assembleIntel(['mov ecx, 100', 'add rax, 1']); // offset of `dec ecx`
  const dec = BigInt(BASE + code.length);
  cpu.setBreakpoints([dec]);
  const before = cpu.getReg(0);
  const out = cpu.run(1000);
  assert.equal(out.kind, 'breakpoint');
  assert.equal(cpu.rip, dec);
  assert.ok(cpu.getReg(0) - before <= 1n, 'stopped at the first pass over the breakpoint');
  cpu.setBreakpoints([]);
  assert.equal(cpu.run(1000).kind, 'halt');
  assert.equal(cpu.getReg(0), 100n);
  assert.equal(cpu.getReg(1), 0n);
});

test('breakpoints set by a hook in the middle of a run apply to blocks already chained', { skip }, () => {
  // CPUID is intercepted; on its 10th execution the hook sets a breakpoint on the DEC just
  // after it (the running block goes on), so the run stops before DEC on the 11th pass
  const cpu = machine(['mov esi, 100', 'top: add r8, 1', 'cpuid', 'dec esi', 'jnz top', 'hlt']);
  const dec = BigInt(BASE + assembleIntel(['mov esi, 100', 'add r8, 1', 'cpuid']).length);
  let calls = 0;
  cpu.interceptMask = Intercept.CPUID;
  cpu.hooks = {
    intercept: () => {
      if (++calls === 10) cpu.setBreakpoints([dec]);
      return false;
    },
  };
  const out = cpu.run(10000);
  assert.equal(out.kind, 'breakpoint');
  assert.equal(cpu.rip, dec);
  assert.equal(cpu.getReg(8), 11n);
});

test('budgets stay exact to the instruction across chained blocks', { skip }, () => {
  // 3 instructions per pass after the first (mov); run in odd-sized slices
  const cpu = machine(['mov ecx, 50', 'top: add rax, 1', 'dec ecx', 'jnz top', 'hlt']);
  let steps = 0;
  for (;;) {
    const before = cpu.icount;
    const out = cpu.run(7);
    steps += cpu.icount - before;
    if (out.kind === 'halt') break;
    assert.equal(out.kind, 'budget');
    assert.equal(cpu.icount - before, 7);
  }
  assert.equal(steps, 1 + 50 * 3 + 1);
  assert.equal(cpu.getReg(0), 50n);
});

test('MOV CR3 remapping the called page makes the next call run the new code', { skip }, () => {
  // Two address spaces identical but for one 4 KiB page at linear 0x40000000 (second GiB):
  // in A it holds "mov eax, 1; ret", in B "mov eax, 2; ret". The loop calls it, then switches.
  const cpu = machine([
    'mov r9d, 4', 'mov edx, 0x40000000',
    'loop: call rdx',
    'add r8, rax',
    'mov cr3, rbx', 'xchg rbx, rcx',
    'dec r9d', 'jnz loop', 'hlt',
  ]);
  const mem = cpu.mem;
  const q = (at: number, v: number) => { mem.write(at, 4, v >>> 0); mem.write(at + 4, 4, 0); };
  const space = (pml4: number, page: number, eax: number) => {
    const pdpt = pml4 + 0x1000, pd = pml4 + 0x2000, pt = pml4 + 0x3000;
    q(pml4, pdpt | 3);
    q(pdpt, 0x83); // GiB 0 identity, 1 GiB page
    q(pdpt + 8, pd | 3);
    q(pd, pt | 3);
    q(pt, page | 3);
    mem.writeBytes(page, assembleIntel([`mov eax, ${eax}`, 'ret']));
  };
  space(0x20000, 0x30000, 1);
  space(0x40000, 0x50000, 2);
  cpu.writeCr(3, 0x20000n);
  cpu.setReg(3, 0x40000n); // rbx: the next CR3
  cpu.setReg(1, 0x20000n); // rcx: the one after
  assert.equal(cpu.run(1000).kind, 'halt');
  assert.equal(cpu.getReg(8), 1n + 2n + 1n + 2n);
});

// A block runs on through a direct JMP or CALL whose target is in the same page.

/** Offset of the code after `lines` (how far a label after them lies from BASE). */
function offsetAfter(lines: string[]): bigint {
  return BigInt(BASE + assembleIntel(lines).length);
}

test('through a direct jump: a fault after it leaves RIP on the faulting instruction', { skip }, () => {
  const cpu = machine(['jmp 1f', 'ud2', '1: mov rax, qword ptr [rbx]', 'hlt']);
  cpu.setReg(3, 0x8000000000000000n); // non-canonical: #GP
  cpu.interceptMask = Intercept.EXCEPTION;
  cpu.hooks = { intercept: () => false, exception: () => true };
  const out = cpu.run(100);
  assert.deepEqual(out.kind === 'exception' ? out.vector : out.kind, 13);
  assert.equal(cpu.rip, offsetAfter(['jmp 1f', 'ud2', '1:']));
  assert.equal(cpu.icount, 1, 'only the JMP retired');
});

test('through a direct call: a budget ending after the call leaves RIP at the callee', { skip }, () => {
  const lines = ['call 1f', 'hlt', '1: add rax, 1', 'add rax, 1', 'ret'];
  const cpu = machine(lines);
  assert.equal(cpu.run(1).kind, 'budget');
  assert.equal(cpu.rip, offsetAfter(['call 1f', 'hlt', '1:']));
  assert.equal(cpu.run(2).kind, 'budget');
  assert.equal(cpu.getReg(0), 2n);
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(cpu.icount, 5);
  assert.equal(cpu.getReg(4), 0x80000n);
});

test('through a direct jump: a breakpoint on its target stops there', { skip }, () => {
  const cpu = machine(['jmp 1f', 'nop', '1: add rax, 1', 'hlt']);
  const target = offsetAfter(['jmp 1f', 'nop', '1:']);
  cpu.setBreakpoints([target]);
  assert.equal(cpu.run(100).kind, 'breakpoint');
  assert.equal(cpu.rip, target);
  assert.equal(cpu.getReg(0), 0n);
});

// A block also runs on past a Jcc along its fall-through path; a taken Jcc ends it there.

test('past a Jcc not taken: a fault after it leaves RIP on the faulting instruction', { skip }, () => {
  const cpu = machine(['cmp rax, 1', 'je 1f', 'mov rax, qword ptr [rbx]', '1: hlt']);
  cpu.setReg(3, 0x8000000000000000n);
  cpu.interceptMask = Intercept.EXCEPTION;
  cpu.hooks = { intercept: () => false, exception: () => true };
  const out = cpu.run(100);
  assert.deepEqual(out.kind === 'exception' ? out.vector : out.kind, 13);
  assert.equal(cpu.rip, offsetAfter(['cmp rax, 1', 'je 1f', '1:']));
  assert.equal(cpu.icount, 2);
});

test('past a Jcc: budgets end on the right side of it, taken or not', { skip }, () => {
  const lines = ['cmp rax, 1', 'je 1f', 'add rbx, 1', '1: add rcx, 1', 'hlt'];
  const notTaken = machine(lines);
  assert.equal(notTaken.run(2).kind, 'budget');
  assert.equal(notTaken.rip, offsetAfter(['cmp rax, 1', 'je 1f', '1:']));
  const taken = machine(lines);
  taken.setReg(0, 1n);
  assert.equal(taken.run(2).kind, 'budget');
  assert.equal(taken.rip, offsetAfter(['cmp rax, 1', 'je 1f', 'add rbx, 1', '1:']));
  assert.equal(taken.run(100).kind, 'halt');
  assert.deepEqual([taken.getReg(3), taken.getReg(1), taken.icount], [0n, 1n, 4]);
});

test('past a Jcc: a breakpoint on its fall-through address stops there', { skip }, () => {
  const cpu = machine(['cmp rax, 1', 'je 1f', 'add rbx, 1', '1: hlt']);
  const after = offsetAfter(['cmp rax, 1', 'je 1f', '1:']);
  cpu.setBreakpoints([after]);
  assert.equal(cpu.run(100).kind, 'breakpoint');
  assert.equal(cpu.rip, after);
  assert.equal(cpu.getReg(3), 0n);
});

test('a hot loop whose Jcc goes both ways adds exactly the odd counts', { skip }, () => {
  const n = 1001;
  const cpu = machine(['mov ecx, ' + n, 'top: test cl, 1', 'jz 1f', 'add rax, rcx', '1: dec ecx', 'jnz top', 'hlt']);
  assert.equal(cpu.run(1_000_000).kind, 'halt');
  let sum = 0;
  for (let k = 1; k <= n; k += 2) sum += k;
  assert.equal(cpu.getReg(0), BigInt(sum));
  assert.equal(cpu.icount, 1 + n * 4 + (n + 1) / 2 + 1);
});
