// Hot blocks run as compiled functions (block-compiler.ts). Each guest here runs a loop long
// enough for its blocks to be compiled and then hits what the run loop must still get right:
// an exception part-way through, code rewritten inside the running block, an intercept, and
// budgets that end inside a block. Expected values follow from the programs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Cpu, Intercept } from '../../src/hardware/cpu';
import { COMPILE_THRESHOLD } from '../../src/hardware/block-compiler';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { longModeProgram } from '../support/guest-machine';

const skip = !nativeOracleAvailable() && 'needs GNU as';
const BASE = 0x100000;
const DATA = 0x200000;

function machine(lines: string[]): Cpu {
  return longModeProgram(assembleIntel(lines), BASE);
}

function at(lines: string[]): bigint {
  return BigInt(BASE + assembleIntel(lines).length);
}

test('a fault inside a hot block: RIP on the faulting instruction, icount and registers as of it', { skip }, () => {
  // rbx walks up by 8 per pass; on pass 1000 it is made non-canonical, so the load faults there
  const n = 1000;
  assert.ok(n > 4 * COMPILE_THRESHOLD);
  const lines = ['top: add rax, 1', 'cmp rax, r9', 'cmovz rbx, r10', 'mov rdx, qword ptr [rbx]', 'add rbx, 8', 'dec r12', 'jnz top'];
  const cpu = machine(lines);
  cpu.setReg(12, 1n << 40n);
  cpu.setReg(3, BigInt(DATA));
  cpu.setReg(9, BigInt(n));
  cpu.setReg(10, 0x8000000000000000n);
  cpu.interceptMask = Intercept.EXCEPTION;
  cpu.hooks = { intercept: () => false, exception: () => true };
  const out = cpu.run(1_000_000);
  assert.deepEqual(out.kind === 'exception' ? out.vector : out.kind, 13);
  assert.equal(cpu.rip, at(['top: add rax, 1', 'cmp rax, r9', 'cmovz rbx, r10']));
  assert.equal(cpu.icount, (n - 1) * 7 + 3, 'passes before, then add, cmp, cmovz');
  assert.equal(cpu.getReg(0), BigInt(n));
  assert.equal(cpu.getReg(3), 0x8000000000000000n);
});

test('code rewritten inside the running hot block takes effect at the next instruction', { skip }, () => {
  // the store goes to a data word until ECX reaches K; from then on CMOVZ has pointed it at
  // the immediate of the ADD right after it, in the same (by then compiled) block
  const n = 200, k = 50;
  assert.ok(n - k > COMPILE_THRESHOLD);
  const cpu = machine(['mov ecx, ' + n, 'lea r10, [rip + patch + 2]', 'mov ebx, ' + DATA,
    'top: cmp ecx, ' + k, 'cmovz rbx, r10', 'mov byte ptr [rbx], 5', 'patch: add eax, 1', 'dec ecx', 'jnz top', 'hlt']);
  assert.equal(cpu.run(100_000).kind, 'halt');
  assert.equal(cpu.getReg(0), BigInt((n - k) * 1 + k * 5));
  assert.equal(cpu.icount, 3 + 6 * n + 1);
});

test('an intercept inside a hot block stops before the instruction, which then runs on resume', { skip }, () => {
  const cpu = machine(['mov esi, 500', 'top: add r8, 1', 'cpuid', 'dec esi', 'jnz top', 'hlt']);
  let calls = 0;
  cpu.interceptMask = Intercept.CPUID;
  cpu.hooks = { intercept: () => ++calls === 300 };
  const out = cpu.run(100_000);
  assert.deepEqual(out, { kind: 'intercept', intercept: Intercept.CPUID });
  assert.equal(cpu.rip, at(['mov esi, 500', 'top: add r8, 1']));
  assert.equal(cpu.getReg(8), 300n);
  assert.equal(cpu.icount, 1 + 299 * 4 + 1);
  assert.equal(cpu.run(100_000).kind, 'halt');
  assert.equal(cpu.getReg(8), 500n);
  assert.equal(cpu.getReg(6), 0n);
});

test('budgets that end inside hot blocks stay exact', { skip }, () => {
  const n = 2000;
  const cpu = machine(['mov ecx, ' + n, 'top: add rax, 1', 'xor rdx, rax', 'dec ecx', 'jnz top', 'hlt']);
  for (;;) {
    const before = cpu.icount;
    const out = cpu.run(7);
    if (out.kind === 'halt') break;
    assert.equal(out.kind, 'budget');
    assert.equal(cpu.icount - before, 7);
  }
  assert.equal(cpu.icount, 1 + 4 * n + 1);
  assert.equal(cpu.getReg(0), BigInt(n));
  // rdx ^= 1 ^ 2 ^ ... ^ n
  let x = 0n;
  for (let k = 1n; k <= BigInt(n); k++) x ^= k;
  assert.equal(cpu.getReg(2), x);
});

test('where the host forbids code generation, hot blocks keep running uncompiled', () => {
  // the bench's loop guest, checked against its model, in a node that refuses new Function
  const script = `const { runCpuLoop } = require(${JSON.stringify(path.join(__dirname, '../../bench/cpu-loop'))});
    const r = runCpuLoop(1000); process.stdout.write(String(r.instructions));`;
  const r = spawnSync(process.execPath, ['--disallow-code-generation-from-strings', '-e', script], { encoding: 'utf8' });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.stdout, String(1000 * 10 + 1));
});
