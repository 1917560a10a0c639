// REP MOVS and REP STOS: this machine's CPU is the oracle for user-mode copies and fills
// (overlapping ranges in both directions, every element size, runs across page boundaries);
// faults part-way, copies onto code, device windows and the chunked retirement are checked
// against the SDM's rules (Vol. 2B, MOVS/STOS/REP: registers advance per element, RIP stays on
// the instruction while RCX is not zero) with values computed here from the inputs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu, Intercept } from '../../src/hardware/cpu';
import { enterLongMode } from '../../src/vmm/long-mode-setup';
import { setRflags } from '../../src/hardware/flags';
import { EmuRunner } from '../support/emu-runner';
import { assembleIntel, assembleIntelMany, nativeOracleAvailable, runNative, NativeCase, NATIVE_DATA_ADDRESS } from '../support/native-cpu';

const skip = !nativeOracleAvailable() && 'no C compiler or not x86-64 Linux';
const DF = 0x400n;
const NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

/** A pseudo-random data image, so a dropped, repeated or reordered byte shows. */
function pattern(seed: number): Uint8Array {
  const out = new Uint8Array(0x10000);
  let x = seed >>> 0 || 1;
  for (let k = 0; k < out.length; k++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[k] = x & 0xff;
  }
  return out;
}

interface StringCase { text: string; rcx: number; rsi: number; rdi: number; down: boolean; rax: bigint }

function cases(): StringCase[] {
  const out: StringCase[] = [];
  const sizes: Array<[string, string, number]> = [['movsb', 'stosb', 1], ['movsw', 'stosw', 2], ['movsd', 'stosd', 4], ['movsq', 'stosq', 8]];
  // sources near a page end (0x...ff9) and page-aligned; destinations around them
  const deltas = [-4097, -4096, -1000, -9, -8, -7, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 7, 8, 9, 1000, 4095, 4096, 0x2345];
  const counts = [0, 1, 3, 517, 2100];
  for (const [movs, stos, size] of sizes) {
    for (const down of [false, true]) {
      for (const start of [0x8ff9, 0x9000]) {
        for (const d of deltas) {
          for (const n of counts) out.push({ text: `rep ${movs}`, rcx: n, rsi: start, rdi: start + d, down, rax: 0n });
        }
        for (const n of counts) {
          out.push({ text: `rep ${stos}`, rcx: n, rsi: 0, rdi: start + 3, down, rax: 0x8877665544332211n });
        }
      }
      // 4096 elements exactly, so the run ends on a chunk boundary; and one more
      out.push({ text: `rep ${movs}`, rcx: 4097 / size | 0, rsi: 0x8000, rdi: 0x8000 + 3 * size, down, rax: 0n });
    }
  }
  return out;
}

test('REP MOVS/STOS match this machine\'s CPU: overlap both ways, DF=0/1, all sizes, page crossings', { skip }, () => {
  const list = cases();
  const codes = assembleIntelMany(list.map((c) => [c.text]));
  const image = pattern(0x1234567);
  const base = BigInt(NATIVE_DATA_ADDRESS);
  const natives: NativeCase[] = list.map((c, k) => {
    const regs = new Array<bigint>(16).fill(0n);
    regs[0] = c.rax;
    regs[1] = BigInt(c.rcx);
    regs[4] = base + 0xfff0n;
    regs[6] = base + BigInt(c.rsi);
    regs[7] = base + BigInt(c.rdi);
    return { regs, rflags: c.down ? DF : 0n, data: image, code: codes[k] };
  });
  const results = runNative(natives);
  const emu = new EmuRunner();
  const failures: string[] = [];
  list.forEach((c, k) => {
    const n = results[k];
    const e = emu.run(natives[k]);
    const what = `${c.text} rcx=${c.rcx} rsi=+0x${c.rsi.toString(16)} rdi=+0x${c.rdi.toString(16)} DF=${c.down ? 1 : 0}`;
    if (n.signal !== 0 || e.vector !== -1) { failures.push(`${what}: native signal ${n.signal}, emulated vector ${e.vector} ${e.detail}`); return; }
    for (let r = 0; r < 16; r++) {
      if (n.regs[r] !== e.regs[r]) { failures.push(`${what}: ${NAMES[r]} native 0x${n.regs[r].toString(16)}, emulated 0x${e.regs[r].toString(16)}`); return; }
    }
    const bad = n.data.findIndex((b, j) => b !== e.data[j]);
    if (bad >= 0) failures.push(`${what}: data[0x${bad.toString(16)}] native 0x${n.data[bad].toString(16)}, emulated 0x${e.data[bad].toString(16)}`);
  });
  assert.ok(list.length > 1000);
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${list.length} cases differ`);
});

// ---- privileged and system behaviour --------------------------------------------------

const CODE = 0x100000;
const SRC = 0x200000;

/**
 * 64-bit mode at CPL 0 with RAM between two holes: linear 0x80200000-0x803fffff maps onto
 * physical 0 (a 2-MiB page) and the 2 MiB on either side are not present, so a run in either
 * direction can go from RAM into a hole. enterLongMode puts the PDPT at 0x3000.
 */
const MAPPED = 0x80200000, MAPPED_END = 0x80400000;
function machine(lines: string[]): Cpu {
  const mem = new PhysicalMemory(1 << 24);
  const cpu = new Cpu(mem);
  enterLongMode(cpu);
  const pd = 0x4000;
  mem.write(0x3000 + 16, 4, pd | 3);
  mem.write(0x3000 + 20, 4, 0);
  mem.write(pd + 8, 4, 0x83); // PD[1]: 2-MiB page at physical 0; PD[0] and PD[2] not present
  cpu.reconfigurePaging();
  mem.writeBytes(CODE, assembleIntel(lines));
  cpu.rip = BigInt(CODE);
  cpu.setReg(4, 0x80000n);
  cpu.interceptMask = Intercept.EXCEPTION;
  cpu.hooks = { intercept: () => false, exception: () => true };
  return cpu;
}

const FAULT_CASES: Array<{ insn: string; size: number; down: boolean }> = [
  { insn: 'rep movsb', size: 1, down: false }, { insn: 'rep movsq', size: 8, down: false },
  { insn: 'rep stosd', size: 4, down: false }, { insn: 'rep stosb', size: 1, down: false },
  { insn: 'rep movsb', size: 1, down: true }, { insn: 'rep movsq', size: 8, down: true },
  { insn: 'rep stosq', size: 8, down: true },
];

for (const { insn, size, down } of FAULT_CASES) {
  test(`${insn} with DF=${down ? 1 : 0} into an unmapped page: #PF at the first element there, registers at that element`, { skip }, () => {
    const cpu = machine([insn, 'hlt']);
    const before = 0x800; // bytes stored before the hole
    const total = 0x1000;
    // going up: [MAPPED_END - before, MAPPED_END) then the hole; going down: [MAPPED,
    // MAPPED + before) from the top element, then the hole below MAPPED
    const low = down ? MAPPED : MAPPED_END - before;
    const hole = down ? MAPPED - size : MAPPED_END;
    const srcFirst = SRC + (down ? before - size : 0);
    for (let k = 0; k < total; k++) cpu.mem.write8(SRC - total + k, 0xee);
    for (let k = 0; k < total; k++) cpu.mem.write8(SRC + k, (k * 7 + 3) & 0xff);
    cpu.setReg(0, 0x5an);
    cpu.setReg(1, BigInt(total / size));
    cpu.setReg(6, BigInt(srcFirst));
    cpu.setReg(7, BigInt(down ? low + before - size : low));
    setRflags(cpu, down ? 0x402 : 0x2);
    const out = cpu.run(100);
    assert.deepEqual(out.kind === 'exception' ? [out.kind, out.vector] : [out.kind], ['exception', 14]);
    const done = before / size;
    assert.equal(cpu.rip, BigInt(CODE), 'RIP stays on the string instruction');
    assert.equal(cpu.getReg(1), BigInt(total / size - done), 'RCX counts the elements not done');
    assert.equal(cpu.getReg(7), BigInt(hole), 'RDI points at the faulting element');
    if (insn.includes('movs')) assert.equal(cpu.getReg(6), BigInt(srcFirst + (down ? -before : before)), 'RSI advanced with RDI');
    assert.equal(cpu.pfAddress, BigInt(hole), 'the faulting address (CR2 is written when the #PF is delivered)');
    const got = cpu.mem.readBytes(low - MAPPED, before);
    const want = new Uint8Array(before).map((_, k) => (insn.includes('movs') ? (k * 7 + 3) & 0xff : k % size === 0 ? 0x5a : 0));
    assert.deepEqual(got, want, 'the elements before the fault were stored');
  });
}

test('REP MOVSB over code that runs next: the copied instruction is the one executed', { skip }, () => {
  // copy "mov eax, 2" over "mov eax, 1", which follows in the same page
  const lines = ['lea rsi, [rip + newcode]', 'lea rdi, [rip + patch]', 'mov ecx, 5', 'rep movsb', 'patch: mov eax, 1', 'hlt', 'newcode: mov eax, 2'];
  const cpu = machine(lines);
  const out = cpu.run(100);
  assert.equal(out.kind, 'halt');
  assert.equal(cpu.getReg(0), 2n);
});

test('REP MOVSB from a device window reads it one byte at a time, in order', { skip }, () => {
  const cpu = machine(['rep movsb', 'hlt']);
  const reads: Array<[number, number]> = [];
  const window = 0x800000;
  cpu.mem.addMmio(window, 0x1000, 'fifo', {
    read: (offset, size) => { reads.push([offset, size]); return BigInt(reads.length); },
    write: () => undefined,
  });
  cpu.reconfigurePaging();
  cpu.setReg(1, 16n);
  cpu.setReg(6, BigInt(window));
  cpu.setReg(7, BigInt(SRC));
  assert.equal(cpu.run(100).kind, 'halt');
  assert.deepEqual(reads, Array.from({ length: 16 }, (_, k) => [k, 1]));
  assert.deepEqual([...cpu.mem.readBytes(SRC, 16)], Array.from({ length: 16 }, (_, k) => k + 1));
});

test('a long REP MOVSB retires in chunks of 4096 elements: a one-instruction budget stops between them', { skip }, () => {
  const cpu = machine(['rep movsb', 'hlt']);
  const n = 10000;
  cpu.setReg(1, BigInt(n));
  cpu.setReg(6, BigInt(SRC));
  cpu.setReg(7, BigInt(SRC + 0x100000));
  assert.equal(cpu.run(1).kind, 'budget');
  assert.equal(cpu.rip, BigInt(CODE), 'RIP is still on REP MOVSB');
  assert.equal(cpu.getReg(1), BigInt(n - 4096));
  assert.equal(cpu.getReg(7), BigInt(SRC + 0x100000 + 4096));
  assert.equal(cpu.run(100).kind, 'halt');
  assert.equal(cpu.getReg(1), 0n);
  assert.equal(cpu.icount, 3 + 1, 'three chunks and the HLT');
});
