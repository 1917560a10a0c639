// `vmx-debug disasm`: the built bin run as a child process on a flat binary assembled by GNU
// as; its lines are checked against objdump's listing of the same file at the same address.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { normalize, objdump, objdumpAvailable } from '../support/objdump';

const MAIN = path.join(__dirname, '../../src/cli/main.js');
const skip = !(nativeOracleAvailable() && objdumpAvailable()) && 'needs GNU as and objdump';

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const LINE = /^([0-9a-f]+): ((?:[0-9a-f]{2} ?)+?) *  (\S.*)$/;

function withFile(bytes: Uint8Array, body: (file: string, dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-debug-cli-disasm-'));
  try {
    const file = path.join(dir, 'code.bin');
    fs.writeFileSync(file, bytes);
    body(file, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Parses `address: bytes  text` lines. */
function listing(stdout: string): Array<{ address: bigint; bytes: string; text: string }> {
  const lines = stdout.split('\n');
  assert.equal(lines.pop(), '', 'output ends with a newline');
  return lines.map((l) => {
    const m = LINE.exec(l);
    assert.ok(m !== null, `not an 'address: bytes  text' line: ${l}`);
    return { address: BigInt(`0x${m[1]}`), bytes: m[2].trim(), text: normalize(m[3]) };
  });
}

const BOOT_16 = [
  '.code16', 'cli', 'xor ax, ax', 'mov ds, ax', 'mov ss, ax', 'mov sp, 0x7c00', 'lgdt [0x7c20]', 'mov eax, cr0', 'or al, 1', 'mov cr0, eax',
  'jmp 0x8:0x7c40', '.word 0x17', '.long 0x7e00', 'mov ax, word ptr [bx+si+4]', 'rep movsb', 'int 0x10', 'hlt',
];

test('disasm prints what objdump prints for the same file, mode and address', { skip }, () => {
  const code = assembleIntel(BOOT_16);
  withFile(code, (file) => {
    const r = cli('disasm', file, '--mode', '16', '--address', '0x7c00');
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    const ours = listing(r.stdout);
    const theirs = objdump(code, 16, 0x7c00n);
    assert.deepEqual(ours.map((e) => [e.address, e.bytes, e.text]),
      theirs.map((e) => [e.address, e.bytes.map((b) => b.toString(16).padStart(2, '0')).join(' '), e.text]));
  });
});

test('disasm --offset and --count pick a window; --json prints one record per instruction', { skip }, () => {
  const code = assembleIntel(['nop', 'mov rax, qword ptr [rip+0x10]', 'call .+0x100', 'vmlaunch', 'vmresume', 'ret']);
  withFile(code, (file) => {
    const all = objdump(code, 64, 0x1000n);
    const r = cli('disasm', file, '--address', '0x1000', '--offset', '1', '--count', '2');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(listing(r.stdout).map((e) => [e.address, e.text]), all.slice(1, 3).map((e) => [e.address, e.text]));
    const j = cli('disasm', file, '--address=0x1000', '--json');
    assert.equal(j.status, 0, j.stderr);
    const records = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as { address: string; bytes: string; length: number; text: string });
    assert.deepEqual(records.map((x) => [x.address, x.length, normalize(x.text)]), all.map((e) => [`0x${e.address.toString(16)}`, e.bytes.length, e.text]));
    assert.equal(cli('disasm', file, '--count', '0').stdout, '');
  });
});

test('help lists disasm and describes its options', () => {
  const r = cli('--help');
  assert.match(r.stdout, /^  disasm /m);
  const h = cli('help', 'disasm');
  assert.match(h.stdout, /^Usage: vmx-debug disasm \[options\] <file>$/m);
  for (const o of ['--mode', '--address', '--offset', '--count', '--json']) assert.ok(h.stdout.includes(o), o);
});

test('disasm: a missing file or bad arguments give one clear line and exit status 2', () => {
  withFile(Uint8Array.from([0x90, 0xc3]), (file, dir) => {
    const cases: Array<[string[], string]> = [
      [['disasm'], '<file>'],
      [['disasm', path.join(dir, 'missing.bin')], 'no such file'],
      [['disasm', dir], 'is a directory'],
      [['disasm', file, '--mode', '8'], "unknown mode '8'"],
      [['disasm', file, '--mode'], "'--mode' needs a value"],
      [['disasm', file, '--address', 'zz'], "'zz'"],
      [['disasm', file, '--mode', '32', '--address', '0x1_0000_0000'], 'does not fit in 32 bits'],
      [['disasm', file, '--offset', '3'], 'past the end of the file (2 bytes)'],
      [['disasm', file, '--count', '-1'], "'-1'"],
    ];
    for (const [args, expected] of cases) {
      const r = cli(...args);
      const what = `vmx-debug ${args.join(' ')}`;
      assert.equal(r.status, 2, `${what}: exit status`);
      assert.equal(r.stdout, '', `${what}: stdout`);
      assert.ok(r.stderr.includes(expected), `${what}: expected ${expected} in ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^\s+at .+[(:]\d+/m, `${what}: no stack`);
    }
  });
});
