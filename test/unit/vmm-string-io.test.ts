// INS/OUTS to emulated ports through the VMM: guests assembled by GNU as send text to COM1
// with REP OUTSB (forwards, backwards, with a segment override, in real mode with 16-bit
// addresses) and fill a buffer from the UART's scratch register with REP INSB longer than one
// chunk. Expected output, memory and registers follow from the SDM's INS/OUTS/REP rules
// applied to the values the test chose.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assembleGuest } from '../support/guest-asm';
import { Machine } from '../../src/vmm/machine';
import { loadFlatBinary } from '../../src/vmm/guest-image';
import { STRING_IO_CHUNK } from '../../src/vmm/string-io';

const BASE = 0x100000;
const SHUTDOWN = ['mov eax, 2', 'xor edi, edi', 'vmcall'];

function run(lines: string[], mode: 'long' | 'real' = 'long', base = BASE): { m: Machine; text: string; ioExits: number } {
  const out: number[] = [];
  const m = new Machine({ memoryMiB: 16, console: (b) => out.push(...b) });
  m.load(loadFlatBinary(assembleGuest(lines, base), base));
  m.start(BigInt(base), mode);
  let ioExits = 0;
  const end = m.run(5_000_000, { onExit: (e) => { if (e.info.name === 'IO_INSTRUCTION') ioExits++; } });
  assert.equal(end.kind, 'shutdown', JSON.stringify(end));
  return { m, text: Buffer.from(out).toString('latin1'), ioExits };
}

const MESSAGE = 'INS and OUTS reach the UART';

test('REP OUTSB sends a string to COM1 and leaves RSI past it and RCX zero', () => {
  const { m, text } = run([
    'lea rsi, [msg]', `mov ecx, ${MESSAGE.length}`, 'mov dx, 0x3f8', 'rep outsb',
    'mov [0x9000], rsi', 'mov [0x9008], rcx', ...SHUTDOWN,
    `msg: .ascii "${MESSAGE}"`,
  ]);
  assert.equal(text, MESSAGE);
  const msg = m.mem.read64(0x9000) - BigInt(MESSAGE.length);
  assert.equal(m.mem.read8(Number(msg)), MESSAGE.charCodeAt(0), 'RSI ended one string length past the message');
  assert.equal(m.mem.read64(0x9008), 0n);
});

test('with DF=1 OUTSB walks backwards; OUTSB without REP sends one byte', () => {
  const { text } = run([
    'std', `lea rsi, [msg + ${MESSAGE.length - 1}]`, `mov ecx, ${MESSAGE.length}`, 'mov dx, 0x3f8', 'rep outsb', 'cld',
    'lea rsi, [bang]', 'mov ecx, 99', 'outsb', 'cmp ecx, 99', 'jne bad', ...SHUTDOWN,
    'bad: hlt',
    `msg: .ascii "${MESSAGE}"`, 'bang: .ascii "!"',
  ]);
  assert.equal(text, [...MESSAGE].reverse().join('') + '!');
});

test('REP OUTSB with an FS override reads through FS.base', () => {
  // FS.base points at the text (IA32_FS_BASE); RSI is the offset into it
  const { text } = run([
    'lea rax, [msg]', 'mov rdx, rax', 'shr rdx, 32', 'mov ecx, 0xc0000100', 'wrmsr',
    'mov esi, 2', 'mov ecx, 4', 'mov dx, 0x3f8', 'rep outs dx, byte ptr fs:[rsi]', ...SHUTDOWN,
    'msg: .ascii "abcdEFGH"',
  ]);
  assert.equal(text, 'cdEF');
});

test('REP INSW and INSD from a port no device claims store all ones at the element width', () => {
  // an unclaimed port reads as all ones (a PC's floating bus); the bytes around stay 0x11
  const { m } = run([
    'mov rdi, 0x20000', 'mov al, 0x11', 'mov ecx, 32', 'rep stosb',
    'mov dx, 0x2f0', 'mov rdi, 0x20001', 'mov ecx, 3', 'rep insw', 'mov ecx, 2', 'rep insd',
    'mov [0x9000], rdi', ...SHUTDOWN,
  ]);
  const bytes = [...Array(32).keys()].map((k) => m.mem.read8(0x20000 + k));
  assert.deepEqual(bytes, [0x11, ...Array(6 + 8).fill(0xff), ...Array(32 - 15).fill(0x11)]);
  assert.equal(m.mem.read64(0x9000), BigInt(0x20001 + 6 + 8));
});

test(`REP INSB of more than ${STRING_IO_CHUNK} bytes from the scratch register fills the buffer in chunks`, () => {
  const n = STRING_IO_CHUNK + 904;
  const { m, ioExits } = run([
    'mov dx, 0x3ff', 'mov al, 0x5a', 'out dx, al',
    'mov rdi, 0x20000', `mov ecx, ${n}`, 'rep insb',
    'mov [0x9000], rdi', 'mov [0x9008], rcx', ...SHUTDOWN,
  ]);
  for (const k of [0, 1, STRING_IO_CHUNK - 1, STRING_IO_CHUNK, n - 1]) assert.equal(m.mem.read8(0x20000 + k), 0x5a, `byte ${k}`);
  assert.equal(m.mem.read8(0x20000 + n), 0, 'nothing past the count');
  assert.equal(m.mem.read64(0x9000), BigInt(0x20000 + n));
  assert.equal(m.mem.read64(0x9008), 0n);
  // OUT, then the REP INSB exits once per chunk: ceil(n / CHUNK) = 2
  assert.equal(ioExits, 3);
});

test('real mode: REP OUTSB with 16-bit SI/CX from DS:SI', () => {
  const { text } = run([
    '.code16', 'mov ax, 0x800', 'mov ds, ax', `mov si, offset msg - 0x8000`, `mov cx, ${MESSAGE.length}`, 'mov dx, 0x3f8', 'rep outsb',
    'mov dx, 0x604', 'mov ax, 0x2000', 'out dx, ax', 'hlt',
    `msg: .ascii "${MESSAGE}"`,
  ], 'real', 0x8000);
  assert.equal(text, MESSAGE);
});

test('OUTS from an address outside guest RAM ends the run naming it', () => {
  const m = new Machine({ memoryMiB: 16 });
  m.load(loadFlatBinary(assembleGuest(['mov rsi, 0x7000000000', 'mov dx, 0x3f8', 'outsb', 'hlt'], BASE), BASE));
  m.start(BigInt(BASE), 'long');
  const end = m.run(10_000);
  assert.equal(end.kind, 'error');
  assert.match((end as { message: string }).message, /OUTS source at guest-linear 0x7000000000 is not mapped to guest RAM/);
});
