// `vmx-debug run --cpuid/--msr/--disable-controls` as a user runs them: the built bin on a guest
// assembled by GNU as that reads CPUID and MSRs and powers off; the registers in the end record
// are what it read, and must be what the options chose.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nativeOracleAvailable } from '../support/native-cpu';
import { GUEST_ORIGIN, REPORT_GUEST, writeGuest } from '../support/cpu-config-guest';

const ROOT = path.resolve(__dirname, '../../..');
const MAIN = path.join(ROOT, 'out/src/cli/main.js');
const skip = !nativeOracleAvailable() && 'needs GNU as';

function run(file: string, ...extra: string[]): { status: number | null; stderr: string; regs: Record<string, bigint> } {
  const r = spawnSync(process.execPath, [MAIN, 'run', file, '--mode', 'long', '--load-address', `0x${GUEST_ORIGIN.toString(16)}`, '--json', '--quiet', ...extra],
    { encoding: 'utf8', timeout: 60_000 });
  if (r.error !== undefined) throw r.error;
  const last = r.stdout.trimEnd().split('\n').pop() ?? '';
  const end = last === '' ? {} : JSON.parse(last) as { registers?: Record<string, string> };
  const regs = Object.fromEntries(Object.entries(end.registers ?? {}).map(([k, v]) => [k, BigInt(v)]));
  return { status: r.status, stderr: r.stderr, regs };
}

test('run --cpuid and --msr: the guest reads the chosen CPUID values and MSRs', { skip }, () => {
  const { dir, file } = writeGuest(REPORT_GUEST);
  try {
    const plain = run(file);
    assert.equal(plain.status, 0, plain.stderr);
    assert.notEqual(plain.regs.r8 & (1n << 23n), 0n, 'POPCNT is reported without --cpuid');
    const r = run(file, '--cpuid', '0x1=ecx:-0x800000,0x7.0=ebx:0x12345,0x40000000=eax:0x40000001',
      '--msr', 'IA32_TSC_AUX=0x5,0xc0000102=0xffff800000001000,IA32_PAT=0x0606060606060606');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.regs.r8, plain.regs.r8 & ~(1n << 23n), 'CPUID.1:ECX without POPCNT, the rest as before');
    assert.equal(r.regs.r10, 0x12345n);
    assert.equal(r.regs.r11, 0x40000001n);
    assert.equal(r.regs.r12, 5n, 'RDMSR IA32_TSC_AUX');
    assert.equal(r.regs.r13, 5n, 'RDTSCP returns IA32_TSC_AUX in ECX');
    assert.equal(r.regs.r14, 0xffff800000001000n);
    assert.equal(r.regs.r15, 0x0606060606060606n);
    // the JSON file form of --cpuid, shaped as the launch attribute
    const json = path.join(dir, 'cpuid.json');
    fs.writeFileSync(json, JSON.stringify({ '0x7.0': { ebx: { set: '0x1', clear: '0x80' } }, '0x40000000': { eax: 0x40000002 } }));
    const fromFile = run(file, '--cpuid', `@${json}`);
    assert.equal(fromFile.status, 0, fromFile.stderr);
    assert.equal(fromFile.regs.r10, (plain.regs.r10 & ~0x80n) | 1n);
    assert.equal(fromFile.regs.r11, 0x40000002n);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('run: a bad --cpuid, --msr or --disable-controls exits 2 with a message naming the option and the bad part', { skip }, () => {
  const { dir, file } = writeGuest(REPORT_GUEST);
  try {
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"0x1": {"ecx": "0x20"');
    const cases: Array<[string[], RegExp]> = [
      [['--cpuid', '0x7=ebx:0'], /--cpuid: leaf 0x7 has subleaves/],
      [['--cpuid', '0x1=exc:0'], /--cpuid: leaf 0x1: "exc" is not a register/],
      [['--cpuid', '0x1=ecx:0xfoo'], /--cpuid: 0x1=ecx:0xfoo: "0xfoo" is not a number/],
      [['--cpuid', '0x1=ecx:+0x20'], /--cpuid: leaf 0x1 ecx sets bit 5 \(VMX\)/],
      [['--cpuid', `@${path.join(dir, 'bad.json')}`], /--cpuid: '.*bad\.json' is not JSON/],
      [['--cpuid', `@${path.join(dir, 'none.json')}`], /--cpuid: cannot read '.*none\.json': no such file/],
      [['--msr', 'IA32_TSC_AUXX=1'], /--msr: "IA32_TSC_AUXX" is not the name of an MSR/],
      [['--msr', 'IA32_TSC_AUX=0x1z'], /--msr: IA32_TSC_AUX: "0x1z" is not a number/],
      [['--msr', 'IA32_TSC_AUX=0x100000000'], /--msr: WRMSR would raise #GP: write of IA32_TSC_AUX \(0xc0000103\) rejected: reserved bits set/],
      [['--msr', 'IA32_VMX_BASIC=0'], /--msr: IA32_VMX_BASIC is a read-only VMX capability MSR/],
      [['--disable-controls', 'RDTSC exitting'], /--disable-controls: no VMX control named 'RDTSC exitting'/],
    ];
    for (const [args, message] of cases) {
      const r = run(file, ...args);
      assert.equal(r.status, 2, `status of ${args.join(' ')}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
