// Read and read/write data watchpoints: an instruction's data read of a watched byte ends the
// run right after that instruction (a trap, as a debug register's R/W=11 watch does), whatever
// path the read takes: the TLB fast path, a compiled hot block, a REP MOVS bulk copy, LODS,
// a stack pop. Instruction fetches and the processor's own descriptor-table reads do not count.
// Guests are assembled with GNU as; expected addresses and register values follow from them.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Cpu, RunOutcome } from '../../src/hardware/cpu';
import { Seg } from '../../src/hardware/cpu-state';
import { COMPILE_THRESHOLD } from '../../src/hardware/block-compiler';
import { WatchAccess } from '../../src/hardware/data-watch';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { longModeProgram } from '../support/guest-machine';
import { PhysicalMemory } from '../../src/hardware/memory';
import { enterLongMode } from '../../src/vmm/long-mode-setup';

const skip = !nativeOracleAvailable() && 'needs GNU as';
const BASE = 0x100000;
/** The watched variable: 4 bytes in the middle of a page, so neighbours share its page. */
const VAR = 0x300800;

function machine(lines: string[]): Cpu {
  return longModeProgram(assembleIntel(lines), BASE);
}

/** Address of the instruction after `lines` (the program's first lines). */
function after(lines: string[]): bigint {
  return BigInt(BASE + assembleIntel(lines).length);
}

function watchHit(out: RunOutcome): { address: number; size: number; access: WatchAccess } {
  assert.equal(out.kind, 'watchpoint', `stopped by ${out.kind}`);
  const w = out as { address: number; size: number; access: WatchAccess };
  return { address: w.address, size: w.size, access: w.access };
}

const setup = [`mov rbx, ${VAR}`, `mov rsi, ${VAR}`];

/** Each way of reading the variable, with the access the CPU makes (address and size). */
const readers: Array<{ name: string; insn: string; address: number; size: number }> = [
  { name: 'mov eax, [rbx]', insn: 'mov eax, dword ptr [rbx]', address: VAR, size: 4 },
  { name: 'add rax, [rbx - 4]', insn: 'add rax, qword ptr [rbx - 4]', address: VAR - 4, size: 8 },
  { name: 'cmp dword ptr [rbx], 5', insn: 'cmp dword ptr [rbx], 5', address: VAR, size: 4 },
  { name: 'movzx ecx, byte ptr [rbx + 3]', insn: 'movzx ecx, byte ptr [rbx + 3]', address: VAR + 3, size: 1 },
  { name: 'push qword ptr [rbx]', insn: 'push qword ptr [rbx]', address: VAR, size: 8 },
  { name: 'lodsb', insn: 'lodsb', address: VAR, size: 1 },
  { name: 'mov eax, [absolute]', insn: `mov eax, dword ptr [${VAR + 2}]`, address: VAR + 2, size: 4 },
];

for (const r of readers) {
  test(`a read watch stops right after \`${r.name}\` reads the variable`, { skip }, () => {
    const cpu = machine([...setup, r.insn, 'mov r15, 1', 'hlt']);
    cpu.mem.write(VAR, 4, 0x11223344);
    cpu.setWatchpoints([{ start: VAR, length: 4, access: 'read' }]);
    const hit = watchHit(cpu.run(100));
    assert.deepEqual(hit, { address: r.address, size: r.size, access: 'read' });
    assert.equal(cpu.rip, after([...setup, r.insn]), 'RIP after the reading instruction');
    assert.equal(cpu.lastWatchHit?.rip, after(setup), 'the hit names the reading instruction');
    assert.equal(cpu.getReg(15), 0n, 'the next instruction has not run');
    assert.equal(cpu.run(100).kind, 'halt', 'resuming runs on');
    assert.equal(cpu.getReg(15), 1n);
  });
}

test('reads of the bytes either side of a read watch do not stop; one overlapping its edge does', { skip }, () => {
  const lines = [`mov rbx, ${VAR}`, 'mov eax, dword ptr [rbx - 4]', 'mov ecx, dword ptr [rbx + 4]', 'mov dl, byte ptr [rbx - 1]',
    'mov r8, qword ptr [rbx + 4]', 'mov r9w, word ptr [rbx + 3]', 'mov r15, 1', 'hlt'];
  const cpu = machine(lines);
  cpu.setWatchpoints([{ start: VAR, length: 4, access: 'read' }]);
  assert.deepEqual(watchHit(cpu.run(100)), { address: VAR + 3, size: 2, access: 'read' });
  assert.equal(cpu.rip, after(lines.slice(0, 6)));
  assert.equal(cpu.run(100).kind, 'halt');
});

test('a write watch does not stop on reads, a read watch not on writes; readWrite stops on both', { skip }, () => {
  const lines = [`mov rbx, ${VAR}`, 'mov eax, dword ptr [rbx]', 'mov dword ptr [rbx], 7', 'add dword ptr [rbx], 1', 'mov r15, 1', 'hlt'];
  const reading = after(lines.slice(0, 2)), writing = after(lines.slice(0, 3)), both = after(lines.slice(0, 4));

  const writeOnly = machine(lines);
  writeOnly.setWatchpoints([{ start: VAR, length: 4, access: 'write' }]);
  assert.deepEqual(watchHit(writeOnly.run(100)), { address: VAR, size: 4, access: 'write' });
  assert.equal(writeOnly.rip, writing, 'the MOV load ran past; the store stopped');

  const readOnly = machine(lines);
  readOnly.setWatchpoints([{ start: VAR, length: 4, access: 'read' }]);
  assert.deepEqual(watchHit(readOnly.run(100)), { address: VAR, size: 4, access: 'read' });
  assert.equal(readOnly.rip, reading);
  // the store does not stop; the ADD reads (and writes) it
  assert.deepEqual(watchHit(readOnly.run(100)), { address: VAR, size: 4, access: 'read' });
  assert.equal(readOnly.rip, both);

  const rw = machine(lines);
  rw.setWatchpoints([{ start: VAR, length: 4, access: 'readWrite' }]);
  assert.deepEqual(watchHit(rw.run(100)), { address: VAR, size: 4, access: 'read' });
  assert.equal(rw.rip, reading);
  assert.deepEqual(watchHit(rw.run(100)), { address: VAR, size: 4, access: 'write' });
  assert.equal(rw.rip, writing);
  assert.deepEqual(watchHit(rw.run(100)), { address: VAR, size: 4, access: 'readWrite' }, 'ADD to memory reads and writes');
  assert.equal(rw.rip, both);
  assert.equal(rw.run(100).kind, 'halt');
  assert.equal(rw.mem.read(VAR, 4), 8);
});

test('REP MOVSB reading the variable as its source stops after the element that read it, RCX/RSI/RDI there', { skip }, () => {
  // the copy starts 16 bytes below VAR, so element 17 (index 16) reads VAR's first byte;
  // the bulk path copies whole page runs and must leave a read-watched source page alone
  const count = 64;
  const lines = [`mov rsi, ${VAR - 16}`, 'mov rdi, 0x400000', `mov rcx, ${count}`, 'rep movsb', 'mov r15, 1', 'hlt'];
  const cpu = machine(lines);
  for (let k = 0; k < count; k++) cpu.mem.write8(VAR - 16 + k, k + 1);
  cpu.setWatchpoints([{ start: VAR, length: 4, access: 'read' }]);
  assert.deepEqual(watchHit(cpu.run(100)), { address: VAR, size: 1, access: 'read' });
  assert.equal(cpu.rip, after(lines.slice(0, 3)), 'RIP stays on REP MOVSB: elements remain');
  assert.equal(cpu.getReg(1), BigInt(count - 17));
  assert.equal(cpu.getReg(6), BigInt(VAR + 1));
  assert.equal(cpu.getReg(7), BigInt(0x400000 + 17));
  assert.equal(cpu.mem.read8(0x400000 + 16), 17, 'the element that read VAR was copied');
  assert.equal(cpu.mem.read8(0x400000 + 17), 0, 'the next one not yet');
  // resuming reads VAR+1..3 (still watched) in the next element
  assert.deepEqual(watchHit(cpu.run(100)), { address: VAR + 1, size: 1, access: 'read' });
  cpu.setWatchpoints([]);
  assert.equal(cpu.run(100).kind, 'halt');
  assert.deepEqual([...cpu.mem.readBytes(0x400000, count)], Array.from({ length: count }, (_, k) => k + 1));
});

test('a REP MOVSB that only writes near a read watch and reads elsewhere does not stop', { skip }, () => {
  const lines = ['mov rsi, 0x500000', `mov rdi, ${VAR - 64}`, 'mov rcx, 128', 'rep movsb', 'mov r15, 1', 'hlt'];
  const cpu = machine(lines);
  cpu.setWatchpoints([{ start: VAR, length: 4, access: 'read' }]);
  assert.equal(cpu.run(1000).kind, 'halt');
  assert.equal(cpu.getReg(15), 1n);
});

test('a compiled hot loop reading through an array stops at the pass that reads the watched variable', { skip }, () => {
  // rbx walks up 8 bytes a pass from 10000 quadwords below VAR: pass 10001 (index 10000) reads VAR,
  // long after the loop's block was compiled; the earlier passes read unwatched pages and the
  // watched page's other bytes
  const passes = 10000;
  assert.ok(passes > 10 * COMPILE_THRESHOLD);
  const lines = [`mov rbx, ${VAR - 8 * passes}`, 'xor ecx, ecx', 'top: add rax, qword ptr [rbx]', 'add rbx, 8', 'inc ecx', 'jmp top'];
  const cpu = machine(lines);
  cpu.setWatchpoints([{ start: VAR, length: 4, access: 'read' }]);
  assert.deepEqual(watchHit(cpu.run(1_000_000)), { address: VAR, size: 8, access: 'read' });
  assert.equal(cpu.rip, after(lines.slice(0, 3)), 'RIP after the ADD that read VAR');
  assert.equal(cpu.getReg(1), BigInt(passes), 'passes completed before');
  assert.equal(cpu.getReg(3), BigInt(VAR));
  assert.equal(cpu.icount, 2 + 4 * passes + 1);
});

test('instruction fetch and the processor\'s descriptor-table reads do not trigger a read watch', { skip }, () => {
  // MOV DS reads the data descriptor from the GDT, LTR the 16-byte TSS descriptor (SDM Vol. 3A,
  // 8.2.3) added here after the GDT's entries; the code itself lies in a watched range too
  const tssSelector = 0x40;
  const lines = ['mov ax, ds', 'mov ds, ax', `mov ax, ${tssSelector}`, 'ltr ax', 'mov r15, 1', 'hlt'];
  const cpu = machine(lines);
  const gdt = Number(cpu.gdtrBase);
  const ds = cpu.segSel[3] & 0xfff8;
  assert.ok(ds !== 0, 'a data selector is loaded');
  assert.ok(cpu.gdtrLimit < tssSelector, 'the selector is past the setup\'s entries');
  const tssBase = 0x6000, tssLimit = 0x67;
  cpu.mem.write(gdt + tssSelector, 4, ((tssBase & 0xffff) << 16 | tssLimit) >>> 0);
  cpu.mem.write(gdt + tssSelector + 4, 4, (((tssBase >>> 16) & 0xff) | 0x8900) >>> 0); // P=1, type 9: available 64-bit TSS
  cpu.gdtrLimit = tssSelector + 15;
  cpu.setWatchpoints([{ start: gdt + ds, length: 8, access: 'read' }, { start: gdt + tssSelector, length: 16, access: 'read' }, { start: BASE, length: 16, access: 'read' }]);
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(cpu.getReg(15), 1n);
  assert.equal(cpu.segSel[Seg.TR], tssSelector, 'LTR loaded the TSS');
  // the same watch does stop an instruction's own read of those bytes
  const reader = machine([`mov rbx, ${gdt + tssSelector}`, 'mov eax, dword ptr [rbx + 8]', 'hlt']);
  reader.setWatchpoints([{ start: gdt + tssSelector, length: 16, access: 'read' }]);
  assert.deepEqual(watchHit(reader.run(100)), { address: gdt + tssSelector + 8, size: 4, access: 'read' });
});

test('at CPL 3 (user-mode TLB permissions) a hot loop stops at the read of the watched variable too', { skip }, () => {
  const cpu = new Cpu(new PhysicalMemory(1 << 24));
  enterLongMode(cpu, { gdt: 0x1000, pml4: 0x2000, cpl: 3, gib: 1 });
  const passes = 300;
  const lines = [`mov rbx, ${VAR - 4 * passes}`, 'xor ecx, ecx', 'top: mov edx, dword ptr [rbx]', 'add rbx, 4', 'inc ecx', 'jmp top'];
  cpu.mem.writeBytes(BASE, assembleIntel(lines));
  cpu.rip = BigInt(BASE);
  cpu.mem.write(VAR, 4, 0xcafe);
  cpu.setWatchpoints([{ start: VAR, length: 4, access: 'read' }]);
  assert.deepEqual(watchHit(cpu.run(100_000)), { address: VAR, size: 4, access: 'read' });
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.getReg(1), BigInt(passes));
  assert.equal(cpu.getReg(2), 0xcafen, 'the load completed');
  assert.equal(cpu.rip, after(lines.slice(0, 3)));
});

test('a bad watch access kind is refused with an error naming it', () => {
  const cpu = longModeProgram(new Uint8Array([0xf4]), BASE);
  assert.throws(() => cpu.setWatchpoints([{ start: VAR, length: 4, access: 'execute' as WatchAccess }]), /watch access must be 'read', 'write' or 'readWrite', not 'execute'/);
});
