// Segment limit and type checks outside 64-bit mode (SDM Vol. 3A, 5.3 and 5.4) and the #SS
// that SS-relative references raise (6.15), with guest code assembled by GNU as. Each case's
// expected outcome is computed here from the SDM's rule and the descriptor the test chose.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { nativeOracleAvailable, assembleIntel, runNative, NATIVE_DATA_ADDRESS } from '../support/native-cpu';
import { segmentDescriptor, SegmentBits } from '../support/guest-asm';
import { FIRST_TEST_SELECTOR, machine, PROBE_ADDRESS, PROBE_OFFSET, protectedModeGuest, runToException, summary } from '../support/pm-machine';
import { enterLongMode } from '../../src/vmm/long-mode-setup';
import { Cpu } from '../../src/hardware/cpu';
import { PhysicalMemory } from '../../src/hardware/memory';

const skip = !nativeOracleAvailable() && 'needs GNU as';
const GP = 13, SS = 12;
const DATA_BASE = 0x200000;

/** The SDM's limit rule for an access of `size` bytes at `offset` (5.3). */
function limitViolated(d: SegmentBits, offset: number, size: number): boolean {
  const effective = d.g === true ? d.limit * 4096 + 0xfff : d.limit;
  const last = offset + size - 1;
  if ((d.type & 0xc) === 0x4) { // expand-down data
    const upper = d.db === true ? 0xffffffff : 0xffff;
    return offset <= effective || last > upper;
  }
  return last > effective;
}

const SIZE_NAME: Record<number, string> = { 1: 'byte', 2: 'word', 4: 'dword' };
const REG: Record<number, string> = { 1: 'al', 2: 'ax', 4: 'eax' };

/** Runs `mov REG, [offset]` (or the store) through DS = the chosen descriptor. */
function dataAccess(d: SegmentBits, offset: number, size: number, write: boolean, sreg = 'ds') {
  const insn = write ? `mov ${SIZE_NAME[size]} ptr ${sreg}:[0x${offset.toString(16)}], ${REG[size]}` : `mov ${REG[size]}, ${SIZE_NAME[size]} ptr ${sreg}:[0x${offset.toString(16)}]`;
  const lines = protectedModeGuest([
    `mov bx, ${FIRST_TEST_SELECTOR}`,
    `mov ${sreg}, bx`,
    'mov eax, 0x11223344',
    `jmp probe`,
    `.org ${PROBE_OFFSET}`,
    'probe:',
    insn,
    'hlt',
  ], [segmentDescriptor(d)]);
  return runToException(lines);
}

const cases: Array<{ name: string; d: SegmentBits; offsets: Array<[number, number]> }> = [
  { name: 'expand-up, byte granular, limit 0xFFF', d: { base: DATA_BASE, limit: 0xfff, type: 0x3, db: true },
    offsets: [[0xffc, 4], [0xffd, 4], [0xfff, 1], [0x1000, 1], [0xffe, 2], [0xfff, 2]] },
  { name: 'expand-up, 4-KiB granular, limit field 1 (8 KiB)', d: { base: DATA_BASE, limit: 1, type: 0x3, db: true, g: true },
    offsets: [[0x1ffc, 4], [0x1ffd, 4], [0x1fff, 1], [0x2000, 1]] },
  { name: 'expand-down, B=1, limit 0xFFF', d: { base: DATA_BASE, limit: 0xfff, type: 0x7, db: true },
    offsets: [[0x1000, 4], [0xfff, 1], [0xffc, 4], [0xfffffffc, 4], [0xfffffffd, 4]] },
  { name: 'expand-down, B=0, limit 0x7FFF (upper bound 0xFFFF)', d: { base: DATA_BASE, limit: 0x7fff, type: 0x7 },
    offsets: [[0x8000, 4], [0x7fff, 1], [0xfffc, 4], [0xfffd, 4], [0x10000, 1]] },
];

for (const c of cases) {
  for (const [offset, size] of c.offsets) {
    const bad = limitViolated(c.d, offset, size);
    test(`${c.name}: ${size}-byte read at 0x${offset.toString(16)} ${bad ? 'raises #GP(0)' : 'succeeds'}`, { skip }, () => {
      const { out, cpu } = dataAccess(c.d, offset, size, false);
      if (bad) {
        assert.equal(summary(out), `exception ${GP} (0)`);
        assert.equal(cpu.rip, BigInt(PROBE_ADDRESS), 'RIP stays on the faulting instruction');
      } else {
        assert.equal(summary(out), 'halt');
      }
    });
  }
}

test('a read through a based segment returns the bytes at base + offset', { skip }, () => {
  const d: SegmentBits = { base: DATA_BASE, limit: 0xfff, type: 0x3, db: true };
  const m = machine(protectedModeGuest([`mov bx, ${FIRST_TEST_SELECTOR}`, 'mov ds, bx', 'mov eax, dword ptr [0xff0]', 'hlt'], [segmentDescriptor(d)]));
  m.mem.write(DATA_BASE + 0xff0, 4, 0xdeadbeef);
  assert.equal(summary(m.cpu.run(1000)), 'halt');
  assert.equal(m.cpu.getReg(0), 0xdeadbeefn);
});

test('read-only data segment: reads succeed, a write raises #GP(0)', { skip }, () => {
  const ro: SegmentBits = { base: DATA_BASE, limit: 0xfffff, type: 0x1, db: true, g: true };
  assert.equal(summary(dataAccess(ro, 0x10, 4, false).out), 'halt');
  const w = dataAccess(ro, 0x10, 4, true);
  assert.equal(summary(w.out), `exception ${GP} (0)`);
  assert.equal(w.cpu.rip, BigInt(PROBE_ADDRESS));
  // the same write through a writable segment goes through and lands at base + offset
  const rw = dataAccess({ ...ro, type: 0x3 }, 0x10, 4, true);
  assert.equal(summary(rw.out), 'halt');
  assert.equal(rw.mem.read(DATA_BASE + 0x10, 4), 0x11223344);
});

test('read-modify-write on a read-only segment faults before memory changes', { skip }, () => {
  const ro: SegmentBits = { base: DATA_BASE, limit: 0xfffff, type: 0x1, db: true, g: true };
  const lines = protectedModeGuest([`mov bx, ${FIRST_TEST_SELECTOR}`, 'mov es, bx', 'jmp probe', `.org ${PROBE_OFFSET}`, 'probe:', 'add dword ptr es:[0x20], 5', 'hlt'], [segmentDescriptor(ro)]);
  const r = runToException(lines);
  assert.equal(summary(r.out), `exception ${GP} (0)`);
  assert.equal(r.mem.read(DATA_BASE + 0x20, 4), 0);
});

test('code segments: a readable one can be read through CS: but not written; an execute-only one cannot be read', { skip }, () => {
  // the probe runs in a second code segment (selector 0x18) whose type the test chooses
  const run = (type: number, insn: string) => runToException(protectedModeGuest([
    `jmp ${FIRST_TEST_SELECTOR}:probe`, `.org ${PROBE_OFFSET}`, 'probe:', insn, 'hlt',
  ], [segmentDescriptor({ base: 0, limit: 0xfffff, type, db: true, g: true })]));
  assert.equal(summary(run(0xb, 'mov eax, dword ptr cs:[0x8000]').out), 'halt', 'readable code (type 0xB) read');
  assert.equal(summary(run(0x9, 'mov eax, dword ptr cs:[0x8000]').out), `exception ${GP} (0)`, 'execute-only code (type 0x9) read');
  assert.equal(summary(run(0xb, 'mov dword ptr cs:[0x9000], eax').out), `exception ${GP} (0)`, 'write to code');
  const r = run(0xb, 'mov eax, dword ptr cs:[0x8000]');
  assert.equal(r.cpu.getReg(0), BigInt(r.mem.read(0x8000, 4)), 'the read returns the code bytes');
});

test('a null selector in DS: loading it is allowed, using it raises #GP(0)', { skip }, () => {
  const lines = protectedModeGuest(['xor ebx, ebx', 'mov ds, bx', 'jmp probe', `.org ${PROBE_OFFSET}`, 'probe:', 'mov eax, dword ptr [0x100]', 'hlt']);
  const r = runToException(lines);
  assert.equal(summary(r.out), `exception ${GP} (0)`);
  assert.equal(r.cpu.rip, BigInt(PROBE_ADDRESS));
});

// ---- SS-relative accesses: #SS instead of #GP ----------------------------------------

/** A small expand-up stack segment: limit 0xFFF, base DATA_BASE. */
const smallStack: SegmentBits = { base: DATA_BASE, limit: 0xfff, type: 0x3, db: true };

function stackProbe(setup: string[], insn: string) {
  return runToException(protectedModeGuest([
    `mov bx, ${FIRST_TEST_SELECTOR}`, 'mov ss, bx', ...setup, 'jmp probe', `.org ${PROBE_OFFSET}`, 'probe:', insn, 'hlt',
  ], [segmentDescriptor(smallStack)]));
}

test('SS limit: PUSH below an expand-up stack\'s base wraps past the limit and raises #SS(0)', { skip }, () => {
  // ESP = 2: the push writes offsets 0xFFFFFFFE..1, beyond limit 0xFFF
  const r = stackProbe(['mov esp, 2'], 'push eax');
  assert.equal(summary(r.out), `exception ${SS} (0)`);
  assert.equal(r.cpu.getReg(4), 2n, 'ESP is unchanged by the faulting push');
  assert.equal(summary(stackProbe(['mov esp, 0x1000'], 'push eax').out), 'halt', 'ESP = limit + 1 leaves room for 4 bytes');
  const ok = stackProbe(['mov esp, 0x1000', 'mov eax, 0xcafe'], 'push eax');
  assert.equal(ok.mem.read(DATA_BASE + 0xffc, 4), 0xcafe, 'the push landed at SS.base + 0xFFC');
});

test('SS limit: POP beyond the limit raises #SS(0)', { skip }, () => {
  assert.equal(summary(stackProbe(['mov esp, 0xffe'], 'pop eax').out), `exception ${SS} (0)`);
  assert.equal(summary(stackProbe(['mov esp, 0xffc'], 'pop eax').out), 'halt');
});

test('EBP-based and SS:-overridden operands beyond SS limit raise #SS(0), DS-based ones #GP(0)', { skip }, () => {
  assert.equal(summary(stackProbe(['mov ebp, 0x1000'], 'mov eax, dword ptr [ebp]').out), `exception ${SS} (0)`);
  assert.equal(summary(stackProbe(['mov ebp, 0xffc'], 'mov eax, dword ptr [ebp]').out), 'halt');
  assert.equal(summary(stackProbe(['mov ebx, 0xffe'], 'mov eax, dword ptr ss:[ebx]').out), `exception ${SS} (0)`);
  assert.equal(summary(stackProbe([`mov cx, ${FIRST_TEST_SELECTOR}`, 'mov ds, cx', 'mov ebx, 0xffe'], 'mov eax, dword ptr [ebx]').out), `exception ${GP} (0)`);
});

test('real mode: a word access at offset 0xFFFF crosses the 64-KiB limit: #GP; through SS: #SS', { skip }, () => {
  const run = (insn: string) => runToException(['.code16', 'xor ax, ax', 'mov ds, ax', 'jmp probe', `.org ${PROBE_OFFSET}`, 'probe:', insn, 'hlt']);
  assert.equal(summary(run('mov ax, word ptr [0xffff]').out), `exception ${GP} (0)`);
  assert.equal(summary(run('mov al, byte ptr [0xffff]').out), 'halt');
  assert.equal(summary(run('mov ax, word ptr ss:[0xffff]').out), `exception ${SS} (0)`);
});

// ---- 64-bit mode: non-canonical SS-relative addresses --------------------------------

test('64-bit mode: non-canonical RBP-based and stack accesses raise #SS(0), others #GP(0), as the real CPU does', { skip }, () => {
  const NONCANON = 0x8000_0000_0000_0000n;
  const probes: Array<{ insn: string; reg: number }> = [
    { insn: 'mov rax, qword ptr [rbp]', reg: 5 },
    { insn: 'mov rax, qword ptr [rbx]', reg: 3 },
    { insn: 'mov rax, qword ptr [rsp + 8]', reg: 4 },
    { insn: 'mov dword ptr [rbp + 16], eax', reg: 5 },
    { insn: 'add qword ptr [rsi], 1', reg: 6 },
  ];
  const codes = probes.map((p) => assembleIntel([p.insn]));
  const regsFor = (reg: number) => {
    const regs = new Array<bigint>(16).fill(0n);
    regs[4] = BigInt(NATIVE_DATA_ADDRESS + 0x800);
    regs[reg] = NONCANON;
    return regs;
  };
  const native = runNative(probes.map((p, k) => ({ regs: regsFor(p.reg), rflags: 0n, data: new Uint8Array(0), code: codes[k] })));
  probes.forEach((p, k) => {
    const mem = new PhysicalMemory(1 << 24);
    const cpu = new Cpu(mem);
    enterLongMode(cpu);
    mem.writeBytes(0x100000, codes[k]);
    cpu.rip = 0x100000n;
    regsFor(p.reg).forEach((v, r) => cpu.setReg(r, r === 4 && p.reg !== 4 ? 0x9000n : v));
    cpu.interceptMask |= 1 << 17;
    cpu.hooks = { intercept: () => false, exception: () => true };
    const out = cpu.run(10);
    assert.ok(native[k].trapNumber === SS || native[k].trapNumber === GP, `native ${p.insn}: trap ${native[k].trapNumber}`);
    assert.equal(summary(out), `exception ${native[k].trapNumber} (0)`, p.insn);
  });
});

test('64-bit mode: PUSH with a non-canonical RSP raises #SS(0)', { skip }, () => {
  const mem = new PhysicalMemory(1 << 24);
  const cpu = new Cpu(mem);
  enterLongMode(cpu);
  mem.writeBytes(0x100000, assembleIntel(['push rax', 'hlt']));
  cpu.rip = 0x100000n;
  cpu.setReg(4, 0x8000_0000_0000_0008n); // RSP - 8 = 0x8000_0000_0000_0000 is non-canonical
  cpu.interceptMask |= 1 << 17;
  cpu.hooks = { intercept: () => false, exception: () => true };
  assert.equal(summary(cpu.run(10)), `exception ${SS} (0)`);
});
