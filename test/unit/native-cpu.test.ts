// The native oracle itself (test/support/native-cpu.ts, test/native/): known instruction
// results on this machine's CPU, memory and stack in the data area, faults and recovery
// from them, RFLAGS in and out, and the assembler helper.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  assembleIntel, assembleIntelMany, nativeCompatUnavailableReason, nativeOracleAvailable, NativeCase, NativeSignal, runNative,
  NATIVE_CODE_ADDRESS, NATIVE_DATA_ADDRESS, NATIVE_DATA_SIZE, NATIVE_TIMEOUT_SIGNAL,
} from '../support/native-cpu';

const skip = nativeOracleAvailable() ? false : 'needs x86-64 Linux with a C compiler and GNU as';
const DATA = BigInt(NATIVE_DATA_ADDRESS);
const CF = 1n << 0n, PF = 1n << 2n, AF = 1n << 4n, ZF = 1n << 6n, SF = 1n << 7n, DF = 1n << 10n, OF = 1n << 11n;
const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;

function makeCase(lines: string[], regs: Record<number, bigint> = {}, rflags = 0n, data = new Uint8Array(0)): NativeCase {
  const r = new Array<bigint>(16).fill(0n);
  for (const [i, v] of Object.entries(regs)) r[Number(i)] = v;
  return { regs: r, rflags, data, code: assembleIntel(lines) };
}

function u64At(data: Uint8Array, offset: number): bigint {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getBigUint64(offset, true);
}

test('add rax, rcx: sums and flags as the CPU computes them', { skip }, () => {
  const [carry, overflow, plain] = runNative([
    makeCase(['add rax, rcx'], { [RAX]: (1n << 64n) - 1n, [RCX]: 1n }),
    makeCase(['add rax, rcx'], { [RAX]: 0x7fff_ffff_ffff_ffffn, [RCX]: 1n }),
    makeCase(['add rax, rcx'], { [RAX]: 2n, [RCX]: 3n }),
  ]);
  assert.equal(carry.signal, 0);
  assert.equal(carry.regs[RAX], 0n);
  assert.equal(carry.regs[RCX], 1n);
  assert.equal(carry.rflags, CF | PF | AF | ZF);
  assert.equal(overflow.regs[RAX], 0x8000_0000_0000_0000n);
  assert.equal(overflow.rflags, SF | OF | AF | PF);
  assert.equal(plain.regs[RAX], 5n);
  assert.equal(plain.rflags, PF);
  assert.equal(plain.faultOffset, 0);
});

test('all 16 registers go in and come out unchanged by a nop', { skip }, () => {
  const regs: Record<number, bigint> = {};
  for (let i = 0; i < 16; i++) regs[i] = 0x0101_0101_0101_0101n * BigInt(i + 1) + 0x8000_0000_0000_0000n;
  regs[RSP] = DATA + 0x8000n;
  const [r] = runNative([makeCase(['nop'], regs, 0n)]);
  assert.equal(r.signal, 0);
  for (let i = 0; i < 16; i++) assert.equal(r.regs[i], regs[i], `register ${i}`);
  assert.equal(r.rflags, 0n);
  // Negative register values are taken as two's complement.
  const [neg] = runNative([makeCase(['add rax, 1'], { [RAX]: -2n })]);
  assert.equal(neg.regs[RAX], (1n << 64n) - 1n);
});

test('a memory write through a register shows in the data area; the rest keeps its image', { skip }, () => {
  const image = new Uint8Array(16).fill(0xaa);
  const [r] = runNative([makeCase(['mov [rsi], rax', 'mov byte ptr [rsi + 0x100], 0x5a'],
    { [RAX]: 0x1122_3344_5566_7788n, [RSI]: DATA + 8n }, 0n, image)]);
  assert.equal(r.signal, 0);
  assert.equal(r.data.length, NATIVE_DATA_SIZE);
  assert.deepEqual([...r.data.subarray(0, 8)], new Array(8).fill(0xaa));
  assert.equal(u64At(r.data, 8), 0x1122_3344_5566_7788n);
  assert.equal(r.data[0x108], 0x5a);
  assert.equal(r.data.reduce((n, b) => n + (b !== 0 ? 1 : 0), 0), 8 + 8 + 1);
});

test('an absolute address in the data area reads the image', { skip }, () => {
  const image = new Uint8Array(0x40);
  image.set([0xef, 0xbe, 0xad, 0xde], 0x30);
  const [r] = runNative([makeCase([`mov eax, dword ptr [${NATIVE_DATA_ADDRESS + 0x30}]`], {}, 0n, image)]);
  assert.equal(r.signal, 0);
  assert.equal(r.regs[RAX], 0xdead_beefn);
});

test('push and pop with RSP in the data area', { skip }, () => {
  const top = DATA + 0x1000n;
  const [r] = runNative([makeCase(['push rax', 'push rcx', 'pop rdx', 'pop rbx', 'push 0x12345678'],
    { [RAX]: 0xaaaa_bbbb_cccc_ddddn, [RCX]: 0x1111_2222_3333_4444n, [RSP]: top })]);
  assert.equal(r.signal, 0);
  assert.equal(r.regs[RDX], 0x1111_2222_3333_4444n);
  assert.equal(r.regs[RBX], 0xaaaa_bbbb_cccc_ddddn);
  assert.equal(r.regs[RSP], top - 8n);
  assert.equal(u64At(r.data, 0x1000 - 8), 0x1234_5678n);
  assert.equal(u64At(r.data, 0x1000 - 16), 0x1111_2222_3333_4444n);
});

test('div by zero reports SIGFPE at the div; ud2 reports SIGILL', { skip }, () => {
  const [prefix] = assembleIntelMany([['mov eax, 7', 'xor edx, edx']]);
  const [div, ud2] = runNative([
    makeCase(['mov eax, 7', 'xor edx, edx', 'div rcx', 'mov ebx, 1'], { [RCX]: 0n }),
    makeCase(['nop', 'ud2'], { [RBX]: 5n }),
  ]);
  assert.equal(div.signal, NativeSignal.SIGFPE);
  assert.equal(div.signal, 8);
  assert.equal(div.faultOffset, prefix.length);
  assert.equal(div.trapNumber, 0);
  assert.equal(div.regs[RAX], 7n, 'registers are those at the fault');
  assert.equal(div.regs[RBX], 0n);
  assert.equal(ud2.signal, NativeSignal.SIGILL);
  assert.equal(ud2.faultOffset, 1);
  assert.equal(ud2.trapNumber, 6);
  assert.equal(ud2.regs[RBX], 5n);
});

test('segfaults, int3 and running off into unmapped memory are reported', { skip }, () => {
  const [pf, gp, int3, fetch] = runNative([
    makeCase(['mov qword ptr [rdi], 1'], { [RDI]: DATA + BigInt(NATIVE_DATA_SIZE) }),
    makeCase(['mov rax, [rdi]'], { [RDI]: 0x8000_0000_0000_0000n }),
    makeCase(['nop', 'int3']),
    makeCase(['jmp rax'], { [RAX]: DATA }),
  ]);
  assert.equal(pf.signal, NativeSignal.SIGSEGV);
  assert.equal(pf.trapNumber, 14);
  assert.equal(pf.faultAddress, DATA + BigInt(NATIVE_DATA_SIZE), 'the guard page after the data area');
  assert.equal(pf.errorCode & 2n, 2n, 'a write');
  assert.equal(gp.signal, NativeSignal.SIGSEGV);
  assert.equal(gp.trapNumber, 13, 'a non-canonical address is #GP');
  assert.equal(int3.signal, NativeSignal.SIGTRAP);
  assert.equal(int3.faultOffset, 2, 'a trap reports the RIP after the int3');
  assert.equal(fetch.signal, NativeSignal.SIGSEGV);
  assert.equal(fetch.faultOffset, NATIVE_DATA_ADDRESS - NATIVE_CODE_ADDRESS, 'the data area is not executable');
});

test('the case after a fault starts clean: registers, flags, memory and code', { skip }, () => {
  const results = runNative([
    makeCase(['mov qword ptr [rsi], -1', 'std', 'xor edx, edx', 'div rdx'], { [RSI]: DATA, [RSP]: DATA + 0x100n }),
    makeCase(['mov rax, [rsi]', 'add rcx, rbx'], { [RSI]: DATA, [RCX]: 40n, [RBX]: 2n }),
    makeCase(['nop', 'nop', 'nop', 'nop', 'nop', 'nop', 'nop', 'nop', 'nop', 'nop', 'mov byte ptr [rsi], 1', 'ud2'],
      { [RSI]: DATA }),
    makeCase(['inc rax']),
  ]);
  assert.equal(results[0].signal, NativeSignal.SIGFPE);
  assert.equal(u64At(results[0].data, 0), (1n << 64n) - 1n, 'memory at the fault');
  assert.equal(results[0].rflags & DF, DF, 'RFLAGS at the fault');
  assert.equal(results[1].signal, 0);
  assert.equal(results[1].regs[RAX], 0n, 'the data area was re-zeroed');
  assert.equal(results[1].regs[RCX], 42n);
  assert.equal(results[1].rflags & DF, 0n, 'DF does not leak');
  assert.equal(results[1].regs[RSP], 0n);
  assert.equal(results[2].signal, NativeSignal.SIGILL);
  assert.equal(results[2].data[0], 1);
  assert.equal(results[3].signal, 0, 'no code of an earlier, longer case is left behind');
  assert.equal(results[3].regs[RAX], 1n);
  assert.equal(results[3].data.every((b) => b === 0), true);
});

test('RFLAGS in: CF and DF set on entry are seen by the code', { skip }, () => {
  const code = ['setc al', 'sbb rbx, rbx', 'lodsb', 'mov rdx, rsi'];
  const image = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0x77]);
  const [set, clear] = runNative([
    makeCase(code, { [RSI]: DATA + 8n }, CF | DF, image),
    makeCase(code, { [RSI]: DATA + 8n }, 0n, image),
  ]);
  assert.equal(set.regs[RAX], 0x77n);
  assert.equal(set.regs[RBX], (1n << 64n) - 1n, 'sbb saw CF = 1');
  assert.equal(set.regs[RDX], DATA + 7n, 'lodsb went down: DF = 1');
  assert.equal(set.rflags & DF, DF);
  assert.equal(clear.regs[RBX], 0n);
  assert.equal(clear.regs[RDX], DATA + 9n);
  assert.equal(clear.rflags & (CF | DF), 0n);
  // Every taken flag goes in and comes out; others (TF, IF, AC, ...) are dropped.
  const [all] = runNative([makeCase(['pushfq', 'pop rax'], { [RSP]: DATA + 0x100n }, 0xffff_ffffn)]);
  assert.equal(all.rflags, CF | PF | AF | ZF | SF | DF | OF);
  assert.equal(all.regs[RAX] & 0x4_0fffn, 0xcd5n | 0x202n);
});

test('system calls from the code are refused; alignment checking set by the code is contained', { skip }, () => {
  const [sys, int80, acFault, acKept, after] = runNative([
    makeCase(['mov eax, 39', 'syscall'], { [RAX]: 0n }),
    makeCase(['mov eax, 20', 'int 0x80']),
    makeCase(['push 0x40000', 'popfq', 'mov eax, [rsi + 1]'], { [RSP]: DATA + 0x100n, [RSI]: DATA }),
    makeCase(['push 0x40000', 'popfq', 'mov eax, 5'], { [RSP]: DATA + 0x100n }),
    makeCase(['mov eax, [rsi + 1]'], { [RSI]: DATA }),
  ]);
  assert.equal(sys.signal, NativeSignal.SIGSYS);
  assert.equal(sys.faultOffset, 7, 'RIP after the syscall');
  assert.equal(sys.regs[RAX], 39n);
  assert.equal(int80.signal, NativeSignal.SIGSYS);
  assert.equal(acFault.signal, NativeSignal.SIGBUS);
  assert.equal(acFault.trapNumber, 17, '#AC');
  assert.equal(acKept.signal, 0, 'the exit stub does no misaligned access');
  assert.equal(acKept.regs[RAX], 5n);
  assert.equal(after.signal, 0, 'AC does not leak into the next case');
});

test('a hung case is stopped and the batch goes on', { skip }, () => {
  const [hung, next] = runNative([makeCase(['2:', 'jmp 2b']), makeCase(['mov eax, 3'])]);
  assert.equal(hung.signal, NATIVE_TIMEOUT_SIGNAL);
  assert.equal(hung.faultOffset, 0);
  assert.equal(next.signal, 0);
  assert.equal(next.regs[RAX], 3n);
});

test('a batch of 5000 trivial cases', { skip }, () => {
  const code = assembleIntel(['add rax, rcx', 'mov [rsi], rax']);
  const cases: NativeCase[] = [];
  for (let i = 0; i < 5000; i++) {
    const regs = new Array<bigint>(16).fill(0n);
    regs[RAX] = BigInt(i) * 0x1_0000_0001n;
    regs[RCX] = BigInt(i);
    regs[RSI] = DATA + BigInt((i % 1000) * 8);
    cases.push({ regs, rflags: 0n, data: new Uint8Array(64), code });
  }
  const t0 = process.hrtime.bigint();
  const results = runNative(cases);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`native oracle: 5000 cases in ${ms.toFixed(1)} ms`);
  assert.equal(results.length, 5000);
  results.forEach((r, i) => {
    const sum = BigInt(i) * 0x1_0000_0002n;
    assert.equal(r.signal, 0);
    assert.equal(r.regs[RAX], sum);
    assert.equal(u64At(r.data, (i % 1000) * 8), sum);
  });
});

test('assembleIntelMany: one as run for many snippets, labels may repeat across snippets', { skip }, () => {
  const [a, b, c, d] = assembleIntelMany([['add rax, rcx'], ['top:', 'dec ecx', 'jnz top'], ['top:', 'jmp top'], []]);
  assert.deepEqual([...a], [0x48, 0x01, 0xc8]);
  assert.deepEqual([...b], [0xff, 0xc9, 0x75, 0xfc]);
  assert.deepEqual([...c], [0xeb, 0xfe]);
  assert.equal(d.length, 0);
  assert.throws(() => assembleIntel(['mov rax, rbx', 'bogus rax']), /snippet 0 line 2 \(bogus rax\).*no such instruction/);
  assert.throws(() => assembleIntel(['mov rax, offset here', 'here:']), /relocations/);
});

// ---- 32-bit compatibility mode ------------------------------------------------------------

const compatWhy = nativeCompatUnavailableReason();
const skip32 = compatWhy ?? false;
const LOW32 = 0xffff_ffffn;

function makeCase32(lines: string[], regs: Record<number, bigint> = {}, rflags = 0n, data = new Uint8Array(0)): NativeCase {
  const r = new Array<bigint>(16).fill(0n);
  for (const [i, v] of Object.entries(regs)) r[Number(i)] = v;
  return { regs: r, rflags, data, code: assembleIntel(lines, { bits: 32 }), mode: 32 };
}

test('compatibility mode: 0x40-0x4f are INC/DEC, PUSH moves ESP by 4, flags come back', { skip: skip32 }, () => {
  // 0x40 is INC EAX here; in 64-bit mode it would be a REX prefix
  const code = assembleIntel(['inc eax', 'dec ecx', 'push edx', 'pop ebx', 'push eax'], { bits: 32 });
  assert.deepEqual([...code.subarray(0, 2)], [0x40, 0x49]);
  const [r] = runNative([makeCase32(['inc eax', 'dec ecx', 'push edx', 'pop ebx', 'push eax'],
    { [RAX]: 0x7fff_ffffn, [RCX]: 1n, [RDX]: 0xdead_beefn, [RSP]: DATA + 0x100n })]);
  assert.equal(r.signal, 0);
  assert.equal(r.regs[RAX] & LOW32, 0x8000_0000n);
  assert.equal(r.regs[RCX] & LOW32, 0n);
  assert.equal(r.regs[RBX] & LOW32, 0xdead_beefn);
  assert.equal(r.regs[RSP] & LOW32, DATA + 0x100n - 4n);
  assert.equal(r.data[0xfc] | (r.data[0xfd] << 8) | (r.data[0xfe] << 16), 0);
  assert.equal(r.data[0xff], 0x80, 'the pushed EAX (0x80000000) is 4 bytes below the old ESP');
  // DEC ECX to 0 leaves ZF set and PF set; PUSH/POP change no flag
  assert.equal(r.rflags & (ZF | PF | SF | OF), ZF | PF);
});

test('compatibility mode, flat DS: 16-bit LEA, AAM, and faults at the 32-bit EIP', { skip: skip32 }, () => {
  const image = new Uint8Array(0x10);
  image.set([0x34, 0x12], 4);
  const [mem16, aam, ud, div] = runNative([
    // with a flat DS, 16-bit addresses reach only the first 64 KiB (unmapped here): memory is
    // read through ESI, and the 16-bit address computation is seen through LEA
    makeCase32(['lea ax, [bx+si+3]', 'mov cx, [esi+4]'], { [RBX]: 0x1_0010n, [RSI]: DATA }, 0n, image),
    makeCase32(['aam 10'], { [RAX]: 0x3fn }),
    makeCase32(['nop', 'ud2']),
    makeCase32(['aam 0'], { [RAX]: 0x3fn }),
  ]);
  assert.equal(mem16.signal, 0);
  assert.equal(mem16.regs[RAX] & 0xffffn, 0x0013n, 'bx+si+3 wraps at 16 bits: 0x0010 + 0x0000 + 3');
  assert.equal(mem16.regs[RCX] & 0xffffn, 0x1234n);
  assert.equal(aam.regs[RAX] & 0xffffn, 0x0603n, 'AAM 10: AH = 63 / 10, AL = 63 % 10');
  assert.equal(ud.signal, NativeSignal.SIGILL);
  assert.equal(ud.faultOffset, 1);
  assert.equal(div.signal, NativeSignal.SIGFPE);
  assert.equal(div.trapNumber, 0, '#DE');
});

test('compatibility mode: 32-bit system calls are refused however they are made', { skip: skip32 }, () => {
  const [int80, sysc, sysent, after] = runNative([
    makeCase32(['mov eax, 20', 'int 0x80']),
    makeCase32(['mov eax, 20', 'syscall'], { [RSP]: DATA + 0x100n, [RBP]: DATA + 0x100n }),
    makeCase32(['mov eax, 20', 'sysenter'], { [RSP]: DATA + 0x100n, [RBP]: DATA + 0x100n }),
    makeCase32(['mov eax, 7'], { [RSP]: DATA + 0x100n }),
  ]);
  assert.equal(int80.signal, NativeSignal.SIGSYS);
  assert.equal(int80.faultOffset, 7, 'EIP after INT 0x80');
  // SYSCALL/SYSENTER from compatibility mode are a system call on some CPUs and #UD on
  // others; as a call, its reported IP is a landing pad outside the code, and only the
  // filter's architecture check refuses it
  for (const r of [sysc, sysent]) assert.ok(r.signal === NativeSignal.SIGSYS || r.signal === NativeSignal.SIGILL, `signal ${r.signal}`);
  assert.equal(after.signal, 0);
  assert.equal(after.regs[RAX] & LOW32, 7n);
});

test('compatibility mode with DS/ES over the data area: 16-bit addresses reach it, its limit holds', { skip: skip32 }, () => {
  const image = new Uint8Array(0x2000);
  image.set([0x34, 0x12], 0x1010);
  image.set([0x78, 0x56], 0x1f00);
  const based = (lines: string[], regs: Record<number, bigint>) => ({ ...makeCase32(lines, regs, 0n, image), dataSegment: true });
  const [mem16, str16, limit, stack] = runNative([
    // [bx+si+disp] wraps at 16 bits: 0xf000 + 0x2000 + 0x10 = 0x1010 (mod 64 Ki)
    based(['mov ax, [bx+si+0x10]', 'mov ecx, dword ptr [0x1f00]'], { [RBX]: 0xf000n, [RSI]: 0x2000n }),
    // a 16-bit-address MOVSB copies through DS:SI to ES:DI
    based(['addr16 movsb'], { [RSI]: 0xdead_1010n, [RDI]: 0xbeef_0100n }),
    // a dword at offset 0xfffe crosses the 64 KiB limit: #GP
    based(['mov eax, dword ptr [0xfffe]'], {}),
    // SS stays flat: the stack pointer is an absolute address
    based(['push 0x11223344', 'pop edx'], { [RSP]: DATA + 0x100n }),
  ]);
  assert.equal(mem16.signal, 0);
  assert.equal(mem16.regs[RAX] & 0xffffn, 0x1234n);
  assert.equal(mem16.regs[RCX] & LOW32, 0x5678n);
  assert.equal(str16.signal, 0);
  assert.equal(str16.data[0x100], 0x34);
  assert.equal(str16.regs[RSI] & LOW32, 0xdead_1011n, 'only SI moves with 16-bit addresses');
  assert.equal(str16.regs[RDI] & LOW32, 0xbeef_0101n);
  assert.equal(limit.signal, NativeSignal.SIGSEGV);
  assert.equal(limit.trapNumber, 13, '#GP');
  assert.equal(stack.signal, 0);
  assert.equal(stack.regs[RDX] & LOW32, 0x1122_3344n);
});

test('compatibility mode: a hung case is stopped, and the next 64-bit case runs normally', { skip: skip32 }, () => {
  const [hung, next] = runNative([makeCase32(['2:', 'jmp 2b']), makeCase(['mov rax, -1'])]);
  assert.equal(hung.signal, NATIVE_TIMEOUT_SIGNAL);
  assert.equal(next.signal, 0);
  assert.equal(next.regs[RAX], (1n << 64n) - 1n, 'back in 64-bit mode: a 64-bit register write');
});

test('a batch mixing 64-bit and compatibility-mode cases', { skip: skip32 }, () => {
  const cases: NativeCase[] = [];
  for (let i = 0; i < 200; i++) {
    const regs = { [RAX]: BigInt(i), [RSP]: DATA + 0x100n };
    // 0x48 0xff 0xc0: INC RAX in 64-bit mode; DEC EAX then INC EAX in compatibility mode
    const code = new Uint8Array([0x48, 0xff, 0xc0]);
    const r = new Array<bigint>(16).fill(0n);
    for (const [k, v] of Object.entries(regs)) r[Number(k)] = v;
    cases.push({ regs: r, rflags: 0n, data: new Uint8Array(0), code, mode: i % 2 === 0 ? 64 : 32 });
  }
  runNative(cases).forEach((r, i) => {
    assert.equal(r.signal, 0);
    assert.equal(r.regs[RAX] & LOW32, i % 2 === 0 ? BigInt(i) + 1n : BigInt(i), `case ${i}`);
  });
});
