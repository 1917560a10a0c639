// Instructions with specialised handlers (exec-fast.ts) that the random differential test
// does not generate: near CALL/RET and PUSH/POP with 64-bit operands, MOV reg, imm, TEST.
// This machine's CPU is the oracle for what they do in user mode (return addresses, RET imm16,
// PUSH RSP, POP RSP, immediates' extension, flags), and the SDM's CALL pseudocode (Vol. 2A:
// the target is checked for canonical form before anything is pushed) for a call to a
// non-canonical address.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu, Intercept } from '../../src/hardware/cpu';
import { enterLongMode } from '../../src/vmm/long-mode-setup';
import { EmuRunner } from '../support/emu-runner';
import { assembleIntel, assembleIntelMany, nativeOracleAvailable, runNative, NativeCase, NATIVE_DATA_ADDRESS } from '../support/native-cpu';

const skip = !nativeOracleAvailable() && 'no C compiler or not x86-64 Linux';
const NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

const PROGRAMS: string[][] = [
  ['call 1f', 'jmp 2f', '1: mov rax, [rsp]', 'add rbx, 5', 'ret', '2: add rbx, 1'],
  ['call 1f', '1: pop rcx'],
  ['push 7', 'push 8', 'call 1f', 'jmp 2f', '1: ret 16', '2: mov rdx, rsp'],
  ['push rsp', 'pop rbx'],
  ['mov rax, rsp', 'sub rax, 64', 'push rax', 'pop rsp', 'push r9', 'pop r10'],
  ['mov ecx, 3', '3: call 1f', 'loop 3b', 'jmp 2f', '1: push rcx', 'push rcx', 'pop r8', 'add r9, r8', 'pop r8', 'ret', '2:'],
  ['mov rax, 0x8123456789abcdef', 'mov ecx, 0xfedcba98', 'mov rdx, -5', 'mov r11d, -1', 'mov r12, 0x7fffffff'],
  // TEST sets ZF/SF/PF from the AND (CF=OF=0; AF is undefined, so it is masked out of what
  // PUSHF saw and the stack slot is cleared)
  ['mov rax, 0x8000000000000000', 'test rax, rax', 'sets bl', 'setz cl', 'test eax, eax', 'setz dl', 'pushfq', 'pop r8',
    'mov qword ptr [rsp - 8], 0', 'and r8, -17'],
  ['mov r9, 0xff00ff0000000001', 'test r9, r10', 'pushfq', 'pop r11', 'test r9d, 0x80000001', 'setp r13b', 'sets r14b', 'test rcx, -2',
    'pushfq', 'pop r15', 'mov qword ptr [rsp - 8], 0', 'and r11, -17', 'and r15, -17'],
];

test('CALL/RET, PUSH/POP reg, MOV reg, imm and TEST in 64-bit mode match this machine\'s CPU', { skip }, () => {
  const codes = assembleIntelMany(PROGRAMS);
  const data = new Uint8Array(0x10000).map((_, k) => (k * 13 + 1) & 0xff);
  const cases: NativeCase[] = codes.map((code) => {
    const regs = [0x11n, 0x22n, 0x33n, 0x44n, BigInt(NATIVE_DATA_ADDRESS + 0x8000), 0x66n, 0x77n, 0x88n, 9n, 10n, 11n, 12n, 13n, 14n, 15n, 16n];
    return { regs, rflags: 0n, data, code };
  });
  const native = runNative(cases);
  const emu = new EmuRunner();
  cases.forEach((c, k) => {
    const n = native[k], e = emu.run(c);
    const what = PROGRAMS[k].join('; ');
    assert.equal(n.signal, 0, `${what}: native signal`);
    assert.equal(e.vector, -1, `${what}: emulated ${e.detail}`);
    for (let r = 0; r < 16; r++) assert.equal(e.regs[r], n.regs[r], `${what}: ${NAMES[r]}`);
    assert.deepEqual(e.data, n.data, `${what}: stack contents`);
  });
});

test('CALL rel32 to a non-canonical target raises #GP(0) with RSP and RIP unchanged', { skip }, () => {
  // the code sits just below the canonical boundary: PML4[255] -> PDPT whose last entry maps
  // the GiB at 0x7fffc0000000 onto physical 0 (enterLongMode puts the PML4 at 0x2000)
  const mem = new PhysicalMemory(1 << 24);
  const cpu = new Cpu(mem);
  enterLongMode(cpu);
  mem.write(0x2000 + 255 * 8, 4, 0x6000 | 3);
  mem.write(0x6000 + 511 * 8, 4, 0x83);
  cpu.reconfigurePaging();
  const linear = 0x7fffc0100000n;
  mem.writeBytes(0x100000, assembleIntel(['.byte 0xe8', '.long 0x7ff00000', 'hlt'])); // target 0x800040000005
  cpu.rip = linear;
  cpu.setReg(4, 0x80000n);
  cpu.interceptMask = Intercept.EXCEPTION;
  cpu.hooks = { intercept: () => false, exception: () => true };
  const out = cpu.run(10);
  assert.deepEqual(out.kind === 'exception' ? [out.vector, out.errorCode] : out.kind, [13, 0]);
  assert.equal(cpu.rip, linear);
  assert.equal(cpu.getReg(4), 0x80000n);
  assert.equal(mem.read(0x80000 - 8, 4), 0, 'nothing was pushed');
});

test('Jcc after CMP/SUB at every size and condition matches this machine\'s CPU', { skip }, () => {
  const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
  const values = [0n, 1n, 2n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn,
    0x100000000n, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn, 0x12345678_9abcdef0n];
  const regs: Record<number, [string, string]> = { 1: ['cl', 'dl'], 2: ['cx', 'dx'], 4: ['ecx', 'edx'], 8: ['rcx', 'rdx'] };
  const programs: string[][] = [];
  let k = 0;
  for (const size of [1, 2, 4, 8]) {
    for (const a of values) {
      for (const b of values) {
        const cc = CC[k++ % 16]; // every condition, spread over the pairs
        const op = k % 3 === 0 ? 'sub' : 'cmp';
        const [rc, rd] = regs[size];
        programs.push([`mov rcx, ${a}`, `mov rdx, ${b}`, `${op} ${rc}, ${rd}`, `j${cc} 1f`, 'or r8, 1', '1:']);
      }
    }
  }
  const codes = assembleIntelMany(programs);
  const data = new Uint8Array(0x10000);
  const cases: NativeCase[] = codes.map((code) => {
    const regs16 = new Array<bigint>(16).fill(0n);
    regs16[4] = BigInt(NATIVE_DATA_ADDRESS + 0x8000);
    return { regs: regs16, rflags: 0n, data, code };
  });
  const native = runNative(cases);
  const emu = new EmuRunner();
  const failures: string[] = [];
  cases.forEach((c, j) => {
    const e = emu.run(c);
    if (e.vector !== -1 || e.regs[8] !== native[j].regs[8] || e.regs[1] !== native[j].regs[1]) {
      failures.push(`${programs[j].join('; ')}: native r8=${native[j].regs[8]}, emulated r8=${e.regs[8]} ${e.detail}`);
    }
  });
  assert.equal(programs.length, 4 * values.length * values.length);
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${programs.length} differ`);
});

test('IMUL r32 forms: product and CF/OF at the overflow edges match this machine\'s CPU', { skip }, () => {
  const values = [0, 1, -1, 2, -2, 3, 0x7fff, 0x8000, 0xffff, 0x10000, 0xb504, 0xb505, 46341, -46341, 0x7fffffff, -0x80000000, 0x40000000, 12345, -98765];
  const programs: string[][] = [];
  values.forEach((a, k) => {
    for (const b of values) programs.push([`mov ecx, ${a}`, `mov edx, ${b}`, 'imul ecx, edx', 'setc r8b', 'seto r9b']);
    programs.push([`mov edx, ${a}`, `imul ecx, edx, ${values[(k * 7) % values.length]}`, 'setc r8b', 'seto r9b']);
    programs.push([`mov dword ptr [rsp - 8], ${a}`, 'mov ecx, -3', 'imul ecx, dword ptr [rsp - 8]', 'setc r8b', 'seto r9b', 'mov qword ptr [rsp - 8], 0']);
  });
  const codes = assembleIntelMany(programs);
  const data = new Uint8Array(0x10000);
  const cases: NativeCase[] = codes.map((code) => {
    const regs16 = new Array<bigint>(16).fill(0n);
    regs16[4] = BigInt(NATIVE_DATA_ADDRESS + 0x8000);
    regs16[1] = 0x1111111111111111n; // the 32-bit destination must clear the upper half
    return { regs: regs16, rflags: 0n, data, code };
  });
  const native = runNative(cases);
  const emu = new EmuRunner();
  const failures: string[] = [];
  cases.forEach((c, j) => {
    const e = emu.run(c), n = native[j];
    const same = e.vector === -1 && [1, 8, 9].every((r) => e.regs[r] === n.regs[r]);
    if (!same) failures.push(`${programs[j].join('; ')}: native rcx=${n.regs[1]} cf=${n.regs[8]} of=${n.regs[9]}, emulated rcx=${e.regs[1]} cf=${e.regs[8]} of=${e.regs[9]} ${e.detail}`);
  });
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${programs.length} differ`);
});

test('MUL/IMUL/DIV/IDIV r/m32: EDX:EAX, CF/OF and #DE at the edges match this machine\'s CPU', { skip }, () => {
  const v = [0n, 1n, 2n, 3n, 7n, 0x7fffffffn, 0x80000000n, 0x80000001n, 0xfffffffen, 0xffffffffn, 0x12345678n, 0x9abcdef0n, 0x10000n, 0xffffn];
  const programs: string[][] = [];
  const starts: Array<[bigint, bigint, bigint]> = [];
  let k = 0;
  for (const op of ['mul', 'imul', 'div', 'idiv']) {
    for (const src of v) {
      for (const eax of v) {
        const edx = op.endsWith('div') ? v[k++ % v.length] & (k % 3 === 0 ? 0xffffffffn : 0x7n) : 0x5555n;
        programs.push(k % 2 === 0 ? [`${op} ecx`, 'setc r8b', 'seto r9b'] : [`${op} dword ptr [rsp]`, 'setc r8b', 'seto r9b']);
        starts.push([eax, edx, src]);
      }
    }
  }
  const codes = assembleIntelMany(programs);
  const cases: NativeCase[] = codes.map((code, j) => {
    const [eax, edx, src] = starts[j];
    const regs16 = new Array<bigint>(16).fill(0n);
    regs16[0] = eax | 0xaaaa_0000_0000_0000n; // upper halves must be cleared by the 32-bit writes
    regs16[2] = edx | 0xbbbb_0000_0000_0000n;
    regs16[1] = src;
    regs16[4] = BigInt(NATIVE_DATA_ADDRESS + 0x8000);
    const data = new Uint8Array(0x10000);
    new DataView(data.buffer).setUint32(0x8000, Number(src), true);
    return { regs: regs16, rflags: 0n, data, code };
  });
  const native = runNative(cases);
  const emu = new EmuRunner();
  const failures: string[] = [];
  cases.forEach((c, j) => {
    const e = emu.run(c), n = native[j];
    const mulOp = programs[j][0].startsWith('mul') || programs[j][0].startsWith('imul');
    const nv = n.signal === 0 ? -1 : n.trapNumber;
    const regsSame = [0, 2].every((r) => e.regs[r] === n.regs[r]) && (!mulOp || [8, 9].every((r) => e.regs[r] === n.regs[r]));
    if (nv !== e.vector || (nv === -1 && !regsSame)) {
      failures.push(`${programs[j][0]} eax=${starts[j][0]} edx=${starts[j][1]} src=${starts[j][2]}: native vector ${nv} rax=${n.regs[0]} rdx=${n.regs[2]}, emulated vector ${e.vector} rax=${e.regs[0]} rdx=${e.regs[2]}`);
    }
  });
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${programs.length} differ`);
});
