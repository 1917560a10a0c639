// The debugger's expression language. Arithmetic, precedence and logic are checked against
// GCC: the same expressions compiled as C on uint64_t (every literal suffixed ULL) and run on
// this machine. Names are checked on the committed hello guest stopped at a real VM exit:
// registers and exit fields against what the guest's instructions must have left (constants
// from nm), memory reads against the ELF's bytes (objdump -s).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DebugTarget } from '../../src/vmm/debug-target';
import { evaluate, ExpressionEnvironment, ExpressionError, parseExpression } from '../../src/vmm/expression';
import { GuestExpressionEnvironment } from '../../src/vmm/guest-expression';
import { loadGuestImage } from '../../src/vmm/guest-image';
import { Machine } from '../../src/vmm/machine';
import { gnuToolsAvailable, run, workDir } from '../support/gnu-tools';
import { elfBytes, findInstruction, HELLO, symbol } from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';

/** No names: arithmetic only. */
const NO_NAMES: ExpressionEnvironment = {
  name: (n) => { throw new ExpressionError(`unknown name '${n}'`); },
  memory: () => { throw new ExpressionError('no memory'); },
  msr: () => { throw new ExpressionError('no MSRs'); },
};

const C_EXPRESSIONS = [
  '1 + 2 * 3', '(1 + 2) * 3', '10 - 4 - 3', '100 / 7 / 2', '100 % 7', '1 << 4 + 1', '0x80 >> 3 >> 1',
  '1 | 2 ^ 3 & 6', '(1 | 2) ^ (3 & 6)', '5 & 3 == 3', '1 < 2 == 1', '3 > 2 > 1', '2 <= 2', '3 >= 4', '1 != 2',
  '0 || 0 && 1', '1 || 0 && 0', '!0 + !5', '~0', '~0x0f & 0xff', '-1', '-1 >> 60', '0 - 1 + 2', '0xffffffffffffffff + 2',
  '0x1234567890abcdef * 0x10', '0x8000000000000000 / 3', '7 * -1', '!(1 < 2) || 6 / 4 * 4 == 4', '0b1011 << 60 >> 61',
  '0xc0000080 == 3221225600', '(0x3f8 == 0x3f8) && !(0 != 0)', '12 % 5 * 3 - -2', '1 + ~1 + 1', '255 & ~0x0f | 1 << 8',
];

test('arithmetic, precedence and logic agree with GCC on uint64_t', { skip }, () => {
  const dir = workDir();
  const c = path.join(dir, 'expr.c'), exe = path.join(dir, 'expr');
  const asC = (e: string) => e.replace(/\b(0x[0-9a-f]+|0b[01]+|[0-9]+)\b/gi, '$1ULL');
  const body = C_EXPRESSIONS.map((e) => `  printf("%llu\\n", (unsigned long long)(uint64_t)(${asC(e)}));`).join('\n');
  fs.writeFileSync(c, `#include <stdio.h>\n#include <stdint.h>\nint main(void) {\n${body}\n  return 0;\n}\n`);
  run('gcc', ['-w', '-O0', '-o', exe, c]);
  const expected = run(exe, []).trim().split('\n').map((s) => BigInt(s));
  assert.equal(expected.length, C_EXPRESSIONS.length);
  C_EXPRESSIONS.forEach((e, k) => assert.equal(evaluate(e, NO_NAMES), expected[k], e));
});

test('shifts by 64 or more give 0 (defined here, unlike C); division by zero is an error at the operator', () => {
  assert.equal(evaluate('1 << 64', NO_NAMES), 0n);
  assert.equal(evaluate('~0 >> 70', NO_NAMES), 0n);
  assert.throws(() => evaluate('8 / (2 - 2)', NO_NAMES), (e: ExpressionError) => e.column === 3 && /division by zero/.test(e.message));
  assert.throws(() => evaluate('1 % 0', NO_NAMES), /column 3: division by zero/);
});

test('syntax errors say what is wrong and in which column', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['rax +', 6, /ends where a value is expected/],
    ['(1 + 2', 7, /expected '\)' to close the '\(' at column 1/],
    ['1 $ 2', 3, /unexpected character '\$'/],
    ['[rsp + 8', 9, /expected '\]' to close the memory reference at column 1/],
    ['dword rsp', 7, /expected '\[' after 'dword'/],
    ['0x12g', 1, /'0x12g' is not a number/],
    ['1 2', 3, /unexpected '2' after a complete expression/],
    ['* 3', 1, /expected a value, found '\*'/],
    ['0x10000000000000000', 1, /does not fit in 64 bits/],
    ['msr(IA32_EFER', 14, /expected '\)' to close msr\( at column 4/],
  ];
  for (const [source, column, message] of cases) {
    assert.throws(() => parseExpression(source), (e: unknown) => {
      assert.ok(e instanceof ExpressionError, source);
      assert.equal(e.column, column, `${source}: ${e.message}`);
      assert.match(e.message, message, source);
      return true;
    });
  }
  // a name the environment does not know is reported at the name
  assert.throws(() => evaluate('1 + bogus', NO_NAMES), /column 5: unknown name 'bogus'/);
  // && and || skip what they do not need (as C does): no error from the unevaluated side
  assert.equal(evaluate('0 && bogus', NO_NAMES), 0n);
  assert.equal(evaluate('1 || 1 / 0', NO_NAMES), 1n);
});

function helloAtFirstOut(): DebugTarget {
  const image = loadGuestImage(new Uint8Array(fs.readFileSync(HELLO)));
  const machine = new Machine({ memoryMiB: 16 });
  machine.load(image);
  machine.start(image.entryPhysical, 'real');
  const t = new DebugTarget(machine);
  assert.equal(t.run(1_000_000, new Set(['IO_INSTRUCTION'])).kind, 'exit');
  return t;
}

test('names on a guest stopped at its first OUT: sub-registers, flags, exit fields, memory, MSRs, VMCS', { skip }, () => {
  const t = helloAtFirstOut();
  const env = new GuestExpressionEnvironment(t.view, t.heldExit);
  const ev = (s: string) => evaluate(s, env);
  const port = symbol('COM1') + 1n; // serial_init: mov dx, COM1 + 1; xor eax, eax (IER: all off); out dx, al
  assert.equal(ev('dx'), port);
  assert.equal(ev('dl'), port & 0xffn);
  assert.equal(ev('dh'), port >> 8n);
  assert.equal(ev('DX + 1'), port + 1n, 'names are case-insensitive');
  assert.equal(ev('edx & 0xffff'), port);
  assert.equal(ev('al'), 0n);
  // the exit fields decoded from the qualification: OUT (direction 0) of one byte to port DX
  assert.equal(ev(`port == ${port} && !in && size == 1 && !string`), 1n);
  assert.equal(ev('exit.reason'), 30n, 'IO_INSTRUCTION is basic exit reason 30 (SDM Vol. 3C, Appendix C)');
  assert.equal(ev('exit.rip == rip && vmcs.GUEST_RIP == rip'), 1n);
  const out = findInstruction(symbol('serial_init'), /^out /);
  assert.equal(ev('rip'), out.address);
  assert.equal(ev('exit.length'), BigInt(out.bytes.length));
  assert.throws(() => ev('gpa'), /column 1: 'gpa' \(guest-physical address\) is not a field of IO_INSTRUCTION exits/);
  // flags: each is its RFLAGS bit (SDM Vol. 1, 3.4.3); after xor eax, eax ZF = 1, CF = 0
  assert.equal(ev('zf'), 1n);
  assert.equal(ev('cf'), 0n);
  assert.equal(ev('zf == ((rflags >> 6) & 1) && if == ((rflags >> 9) & 1)'), 1n);
  // long mode: EFER.LME (bit 8) and LMA (bit 10) set; CR0.PG and PE; CR4.PAE
  assert.equal(ev('(msr(IA32_EFER) >> 8) & 5'), 5n);
  assert.equal(ev('msr(0xc0000080) == msr(ia32_efer) && efer == msr(IA32_EFER)'), 1n);
  assert.equal(ev('cr0 >> 31 && cr0 & 1 && (cr4 >> 5) & 1'), 1n);
  assert.throws(() => ev('msr(0x12345)'), /column 1: no MSR 0x12345 in the MSR table/);
  assert.throws(() => ev('vmcs.NO_SUCH'), /no VMCS field named 'NO_SUCH'/);
  // memory through the guest's paging: the message string and the code bytes, as objdump reads the ELF
  const message = symbol('message');
  const text = elfBytes(message, 8);
  const le = (b: number[]) => b.reduceRight((v, x) => (v << 8n) | BigInt(x), 0n);
  assert.equal(ev(`byte [${message}]`), BigInt(text[0]));
  assert.equal(ev(`word [${message} + 1]`), le(text.slice(1, 3)));
  assert.equal(ev(`dword ptr [${message} + 4]`), le(text.slice(4, 8)));
  assert.equal(ev(`[${message}]`), le(text), 'an unsized read is 64 bits');
  assert.equal(ev(`qword [rip] & 0xff`), BigInt(out.bytes[0]));
  assert.throws(() => ev('byte [0xffff800000000000]'), /column 1: cannot read 1 byte at 0xffff800000000000/);
});

test('exit fields before any exit are errors naming the field', { skip }, () => {
  const image = loadGuestImage(new Uint8Array(fs.readFileSync(HELLO)));
  const machine = new Machine({ memoryMiB: 16 });
  machine.load(image);
  machine.start(image.entryPhysical, 'real');
  const t = new DebugTarget(machine);
  const env = new GuestExpressionEnvironment(t.view, t.lastExit);
  assert.throws(() => evaluate('rax + port', env), /column 7: 'port' is a field of a VM exit, and there has been none yet/);
  assert.equal(evaluate('rip', env), image.entryPhysical);
});
