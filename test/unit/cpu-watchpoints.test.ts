// Data watchpoints on physical memory: a write into a watched range ends the run right after
// the writing instruction (a trap, like a debug register's write watch), wherever the write
// comes from in the block; writes elsewhere, and writes made while the CPU is not running, do not.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { longModeProgram } from '../support/guest-machine';

const skip = !nativeOracleAvailable() && 'needs GNU as';
const BASE = 0x100000;

test('a write into a watched range stops after the writing instruction; one beside it does not', { skip }, () => {
  const code = assembleIntel(['mov rbx, 0x300000', 'mov qword ptr [rbx + 8], 1', 'mov qword ptr [rbx + 16], 2', 'mov r15, 3', 'hlt']);
  const cpu = longModeProgram(code, BASE);
  cpu.setWatchpoints([{ start: 0x300010, length: 4 }]);
  cpu.mem.write(0x300010, 4, 7); // not running: does not count
  const out = cpu.run(100);
  assert.equal(out.kind, 'watchpoint');
  // the memory reports the (first) store that landed in the range: a 64-bit store may arrive as two 32-bit halves
  assert.equal((out as { address: number }).address, 0x300010);
  const third = assembleIntel(['mov rbx, 0x300000', 'mov qword ptr [rbx + 8], 1', 'mov qword ptr [rbx + 16], 2']).length;
  assert.equal(cpu.rip, BigInt(BASE + third), 'RIP after the MOV that wrote');
  assert.equal(cpu.mem.read64(0x300010), 2n, 'the write happened');
  assert.equal(cpu.getReg(15), 0n, 'the next instruction has not run');
  assert.equal(cpu.run(100).kind, 'halt', 'resuming runs on');
  assert.equal(cpu.getReg(15), 3n);
  cpu.setWatchpoints([]);
});

test('REP STOS over a watched range stops after the chunk that wrote it, with RCX showing how far it got', { skip }, () => {
  const code = assembleIntel(['mov rdi, 0x300000', 'mov rcx, 8192', 'xor eax, eax', 'rep stosb', 'mov r15, 1', 'hlt']);
  const cpu = longModeProgram(code, BASE);
  cpu.setWatchpoints([{ start: 0x300100, length: 1 }]);
  const out = cpu.run(1000);
  assert.equal(out.kind, 'watchpoint');
  assert.ok(cpu.getReg(1) < 8192n, 'some iterations done');
  assert.equal(cpu.getReg(15), 0n);
  assert.equal(cpu.run(100000).kind, 'halt');
  assert.equal(cpu.getReg(1), 0n);
});
