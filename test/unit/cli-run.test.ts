// `vmx-debug run` as a user runs it: the built bin as a child process on the committed hello
// sample. The oracle for its exits is the same guest run on the bare emulated CPU (no VMX) with
// the same devices: every port access there must be exactly one IO_INSTRUCTION exit here, in the
// same order, and the guest must end in the same state.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu, Intercept } from '../../src/hardware/cpu';
import { IoBus } from '../../src/hardware/io-bus';
import { Platform } from '../../src/vmm/devices/platform';
import { loadGuestImage } from '../../src/vmm/guest-image';

const ROOT = path.resolve(__dirname, '../../..');
const MAIN = path.join(ROOT, 'out/src/cli/main.js');
const HELLO = path.join(ROOT, 'samples/hello/hello.elf');

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface PortAccess { port: number; size: number; write: boolean; value: number; rip: bigint }

/** The hello guest on the bare CPU: its port accesses (with RIP) and the state at power-off. */
function bareMetalRun(): { accesses: PortAccess[]; console: string; regs: bigint[]; instructions: number } {
  const image = loadGuestImage(new Uint8Array(fs.readFileSync(HELLO)));
  const mem = new PhysicalMemory(16 << 20);
  const devices = new IoBus();
  let off = false;
  let text = '';
  new Platform(devices, { com1Output: (b) => { text += String.fromCharCode(b); }, onShutdown: () => { off = true; } });
  const accesses: PortAccess[] = [];
  // a bus that records every access and forwards it to the devices; the I/O hook point gives
  // the instruction's address (the same place VMX non-root operation exits)
  const io = new IoBus();
  const cpu = new Cpu(mem, io);
  let rip = 0n;
  cpu.interceptMask = Intercept.IO;
  cpu.hooks = { intercept: (_c, _what, insn) => { rip = (BigInt(insn.ripHi >>> 0) << 32n) | BigInt(insn.ripLo >>> 0); return false; } };
  io.read = (port: number, size: number) => {
    const value = devices.read(port, size);
    accesses.push({ port, size, write: false, value, rip });
    return value;
  };
  io.write = (port: number, size: number, value: number) => {
    accesses.push({ port, size, write: true, value, rip });
    devices.write(port, size, value);
    if (off) cpu.requestStop();
  };
  image.loadInto(mem);
  cpu.rip = image.entryPhysical;
  for (let guard = 0; !off && guard < 1000; guard++) cpu.run(1_000_000);
  assert.ok(off, 'the bare-metal run powered off');
  return { accesses, console: text, regs: Array.from({ length: 16 }, (_, k) => cpu.getReg(k)), instructions: cpu.icount };
}

test('run: every port access of the hello guest is one IO_INSTRUCTION exit, in order, with the decoded qualification', () => {
  const bare = bareMetalRun();
  const r = cli('run', HELLO, '--json');
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0, 'power-off is an orderly shutdown');
  const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const exits = lines.filter((l) => l.type === 'exit');
  assert.equal(exits.length, bare.accesses.length, 'one exit per port access');
  exits.forEach((e, k) => {
    const a = bare.accesses[k];
    assert.equal(e.reason, 'IO_INSTRUCTION');
    assert.equal(e.number, 30);
    const q = BigInt(e.qualification as string);
    // SDM Table 28-5: size - 1 in bits 2:0, bit 3 = IN, port in bits 31:16
    assert.equal(Number(q >> 16n), a.port, `exit ${k}: port`);
    assert.equal(Number(q & 7n) + 1, a.size, `exit ${k}: size`);
    assert.equal((q & 8n) !== 0n, !a.write, `exit ${k}: direction`);
    assert.equal(BigInt(e.rip as string), a.rip, `exit ${k}: RIP at the instruction`);
  });
  const consoleText = lines.filter((l) => l.type === 'console').map((l) => `${l.text as string}\n`).join('');
  assert.equal(consoleText, bare.console, 'the same text reached COM1');
  const end = lines[lines.length - 1];
  assert.equal(end.type, 'end');
  assert.equal(end.reason, 'shutdown');
  assert.deepEqual(end.exits, { IO_INSTRUCTION: bare.accesses.length });
  const regs = end.registers as Record<string, string>;
  for (const [k, name] of ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi'].entries()) {
    assert.equal(BigInt(regs[name]), bare.regs[k], `${name} as on bare metal`);
    assert.match(regs[name], /^0x[0-9a-f]+$/, '64-bit values are 0x strings');
  }
  assert.equal(BigInt(regs.efer) & 0x400n, 0x400n, 'the guest ended in IA-32e mode');
  // instructions that exit are carried out by the VMM, not retired by the guest
  assert.ok((end.instructions as number) < bare.instructions, 'fewer guest instructions than on bare metal');
});

test('run: --break-on stops at the first exit of that reason, before the VMM answers it', () => {
  const bare = bareMetalRun();
  const r = cli('run', HELLO, '--json', '--break-on', 'cpuid,IO_INSTRUCTION');
  assert.equal(r.status, 0);
  const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const end = lines[lines.length - 1];
  assert.equal(end.reason, 'break');
  assert.deepEqual(end.exits, { IO_INSTRUCTION: 1 });
  assert.equal(BigInt((end.registers as Record<string, string>).rip), bare.accesses[0].rip, 'RIP still at the I/O instruction');
});

test('run: text output names each exit, prints the guest console and a summary', () => {
  const r = cli('run', HELLO);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^exit IO_INSTRUCTION \(30\) {2}rip=0x[0-9a-f]+ {2}OUT port 0x3f9, 1 byte, DX operand {2}\[vmm\]$/m);
  assert.match(r.stdout, /^guest \| Hello from 64-bit long mode on vmx-debug!$/m);
  assert.match(r.stdout, /^end: the guest shut down \(poweroff\) with exit code 0$/m);
  assert.match(r.stdout, /^ {2}IO_INSTRUCTION +\d+$/m);
  for (const reg of ['rax', 'r15', 'rip', 'rflags', 'cr0', 'cr3', 'cr4', 'efer']) assert.match(r.stdout, new RegExp(`\\b${reg}=0x[0-9a-f]{16}\\b`));
});

test('run: bad input is one clear line and exit status 2', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-run-'));
  const truncated = path.join(dir, 'truncated.elf');
  fs.writeFileSync(truncated, fs.readFileSync(HELLO).subarray(0, 100));
  const flat = path.join(dir, 'flat.bin');
  fs.writeFileSync(flat, Buffer.from([0xf4]));
  const cases: Array<[string[], RegExp]> = [
    [['run', path.join(dir, 'missing.elf')], /cannot read .*no such file/],
    [['run', HELLO, '--break-on', 'NOT_A_REASON'], /unknown exit reason 'NOT_A_REASON'/],
    [['run', HELLO, '--mode', 'weird'], /unknown mode 'weird'/],
    [['run', HELLO, '--memory', '0'], /--memory must be 1-4096/],
    [['run', truncated], /ELF: .*beyond the end of the file/],
    [['run', flat], /not an ELF file: give the flat binary's --load-address/],
    [['run', flat, '--load-address', '0x20000'], /real-mode entry must be below 64 KiB/],
    [['run', flat, '--load-address', '0x7ffffff0', '--memory', '16'], /beyond the guest's 16 MiB/],
    [['run', HELLO, '--disable-controls', 'unrestricted guest'], /cannot set 'unrestricted guest' \(bit 7\): IA32_VMX_PROCBASED_CTLS2 allows it to be 0 only/],
    [['run', HELLO, '--disable-controls', 'load IA32_PAT'], /names a control in several fields: write exit:load ia32_pat or entry:load ia32_pat/],
    [['run', HELLO, '--disable-controls', 'warp drive'], /no VMX control named 'warp drive'/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    assert.equal(r.status, 2, `status of ${args.join(' ')}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('run: a flat binary that executes HLT with no timer ends with a clear guest error (status 1)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-run-'));
  const flat = path.join(dir, 'hlt.bin');
  fs.writeFileSync(flat, Buffer.from([0xfa, 0xf4])); // cli; hlt
  const r = cli('run', flat, '--load-address', '0x7c00', '--json');
  assert.equal(r.status, 1);
  const end = JSON.parse(r.stdout.trimEnd().split('\n').pop() as string) as Record<string, unknown>;
  assert.equal(end.reason, 'error');
  assert.match(end.detail as string, /halted with no interrupt/);
  assert.deepEqual(end.exits, { HLT: 1 });
  fs.rmSync(dir, { recursive: true, force: true });
});

test('run: --disable-controls narrows the processor; a guest that needs none of them runs as before', () => {
  const r = cli('run', HELLO, '--json', '--quiet', '--disable-controls', 'RDTSC exiting,secondary:WBINVD exiting,exit:load IA32_PAT');
  // VmxVcpu asks for "load IA32_PAT" on exit, so that one is refused; the others are not used
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cannot set 'load IA32_PAT' \(bit 19\): IA32_VMX_TRUE_EXIT_CTLS allows it to be 0 only/);
  const ok = cli('run', HELLO, '--json', '--quiet', '--disable-controls', 'RDTSC exiting,secondary:WBINVD exiting,MONITOR exiting');
  assert.equal(ok.status, 0, ok.stderr);
  const end = JSON.parse(ok.stdout.trimEnd().split('\n').pop() as string) as Record<string, unknown>;
  assert.equal(end.reason, 'shutdown');
});
