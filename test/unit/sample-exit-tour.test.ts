// samples/exit-tour as a user runs it: `vmx-debug run samples/exit-tour/exit-tour.elf --json`,
// the built bin as a child process. What the run must show is derived from the guest itself:
// the exit counts from the instructions in its source (exit-tour.S states the rules that make
// that possible: each exiting instruction of main runs once), the I/O count from the source
// and the bytes it printed, each exit's instruction and length from objdump's listing of the
// same ELF, and the qualifications from the SDM's layouts (Tables 28-3 and 28-5, 28.2.1)
// applied to the operands the source chose.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GPR_NAMES } from '../../src/regs';
import { body, countIn, exitTourCountsAt, instructionsBetween, ioIn, mnemonic, sourceLines } from '../support/exit-tour-source';

const ROOT = path.resolve(__dirname, '../../..');
const MAIN = path.join(ROOT, 'out/src/cli/main.js');
const SAMPLE = path.join(ROOT, 'samples', 'exit-tour');
const COMMON = path.join(ROOT, 'samples', 'common');
const ELF = path.join(SAMPLE, 'exit-tour.elf');

function has(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}
const binutils = has('as') && has('ld') && has('objcopy') && has('nm') && has('objdump');

type Rec = Record<string, unknown>;

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function records(stdout: string): Rec[] {
  return stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Rec);
}

// ---- the source ------------------------------------------------------------------------

const TOUR = sourceLines(path.join(SAMPLE, 'exit-tour.S'));

const MAIN_CODE = instructionsBetween(TOUR, /^main:/, /^# ---- helpers/);

/** The text main hands to the CONSOLE_WRITE hypercall (`hypercall_text: .ascii "..."`). */
function hypercallText(): string {
  const k = TOUR.findIndex((l) => /^hypercall_text:/.test(l));
  const m = /\.ascii\s+"([^"]*)"/.exec(TOUR[k + 1] ?? '');
  assert.ok(k >= 0 && m !== null && m[1] !== '', 'hypercall_text: .ascii "..." in the source');
  return m[1];
}
/** `.set NAME, VALUE` from the sources (sums and ORs of numbers and other names). */
function constant(name: string): number {
  for (const file of [path.join(SAMPLE, 'exit-tour.S'), path.join(COMMON, 'boot.inc'), path.join(COMMON, 'serial.inc')]) {
    for (const l of sourceLines(file)) {
      const m = new RegExp(`^\\s*\\.set\\s+${name},\\s*([^#]+)`).exec(l);
      if (m === null) continue;
      return m[1].trim().split(/\s*([+|])\s*/).reduce<{ v: number; op: string }>((acc, part) => {
        if (part === '+' || part === '|') return { ...acc, op: part };
        const n = /^(0x[0-9a-f]+|\d+)$/i.test(part) ? Number(part) : constant(part);
        return { v: acc.op === '+' ? acc.v + n : acc.v | n, op: '' };
      }, { v: 0, op: '+' }).v;
    }
  }
  throw new Error(`no .set ${name} in the sources`);
}

/** Addresses of the ELF's symbols (nm). */
function symbols(): Map<string, bigint> {
  const out = spawnSync('nm', [ELF], { encoding: 'utf8' }).stdout;
  return new Map([...out.matchAll(/^([0-9a-f]+) \w (\S+)$/gm)].map((m) => [m[2], BigInt(`0x${m[1]}`)]));
}

/** objdump's listing: address → instruction length and text. */
function listing(): Map<bigint, { length: number; text: string }> {
  const out = spawnSync('objdump', ['-d', '--insn-width=16', ELF], { encoding: 'utf8' }).stdout;
  const map = new Map<bigint, { length: number; text: string }>();
  for (const m of out.matchAll(/^\s+([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t(.*)$/gm)) {
    map.set(BigInt(`0x${m[1]}`), { length: m[2].trim().split(' ').length, text: m[3].trim() });
  }
  return map;
}

/** The instruction objdump shows for each reason that an instruction causes (AT&T mnemonics). */
const CAUSE: Readonly<Record<string, RegExp>> = {
  CPUID: /^cpuid\b/, HLT: /^hlt\b/, INVD: /^invd\b/, VMCALL: /^vmcall\b/, XSETBV: /^xsetbv\b/,
  IO_INSTRUCTION: /^(in|out)\s/, EPT_VIOLATION: /^mov\s+0x\w+\(%rbx\),/, CR_ACCESS: /^mov\s+%\w+,%cr[0-8]\b/, MSR_READ: /^rdmsr\b/, MSR_WRITE: /^wrmsr\b/,
  VMON: /^vmxon\b/, VMOFF: /^vmxoff\b/, VMCLEAR: /^vmclear\b/, VMPTRLD: /^vmptrld\b/, VMPTRST: /^vmptrst\b/, VMREAD: /^vmread\b/,
  VMWRITE: /^vmwrite\b/, VMLAUNCH: /^vmlaunch\b/, VMRESUME: /^vmresume\b/, INVEPT: /^invept\b/, INVVPID: /^invvpid\b/,
};
/** Instructions whose exit qualification is their displacement (28.2.1), here all RIP-relative. */
const DISPLACEMENT_QUALIFIED = new Set(['VMON', 'VMCLEAR', 'VMPTRLD', 'VMPTRST', 'INVEPT', 'INVVPID']);

// ---- the run ---------------------------------------------------------------------------

let tourRun: { status: number | null; stderr: string; recs: Rec[] } | undefined;
function tour(): { status: number | null; stderr: string; recs: Rec[] } {
  if (tourRun === undefined) {
    const r = cli('run', ELF, '--json');
    tourRun = { status: r.status, stderr: r.stderr, recs: records(r.stdout) };
  }
  return tourRun;
}
const exitsOf = (recs: Rec[]) => recs.filter((r) => r.type === 'exit');
const consoleOf = (recs: Rec[]) => recs.filter((r) => r.type === 'console').map((r) => r.text as string);

test('the committed exit-tour.elf and exit-tour.bin are what the build script produces now', { skip: !binutils && 'needs GNU binutils' }, () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-tour-'));
  try {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'samples', 'build.mjs'), '--out', out, 'exit-tour'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['exit-tour.elf', 'exit-tour.bin']) {
      const fresh = fs.readFileSync(path.join(out, 'exit-tour', f));
      assert.ok(fresh.equals(fs.readFileSync(path.join(SAMPLE, f))), `samples/exit-tour/${f} is stale: run npm run samples and commit it`);
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('exit tour: exit status 0, one "ok" line per step of the source, in order', () => {
  const { status, stderr, recs } = tour();
  assert.equal(stderr, '');
  assert.equal(status, 0, 'all steps passed: power-off');
  const titles = TOUR.map((l) => /^\s+STEP\s+"([^"]*)"/.exec(l)?.[1]).filter((t): t is string => t !== undefined);
  assert.ok(titles.length >= 15, `the source has its steps (${titles.length})`);
  const text = consoleOf(recs);
  const steps = text.filter((l) => l.startsWith('step '));
  assert.equal(steps.length, titles.length, 'one console line per STEP');
  steps.forEach((l, k) => {
    assert.ok(l.startsWith(`step ${k + 1}: ${titles[k]} ... `), `line ${k + 1} announces its step: ${l}`);
    assert.ok(l.endsWith(' ok'), `step ${k + 1} passed: ${l}`);
  });
  // the CONSOLE_WRITE hypercall's text lands inside its step's line
  assert.ok(steps.some((l) => l.includes('VMCALL (CONSOLE_WRITE)') && l.includes(hypercallText())), 'the VMM wrote the guest\'s text');
  const ticks = countIn(MAIN_CODE, /^call\s+pit_arm\b/);
  assert.equal(text[text.length - 1], `exit tour: ${titles.length} steps, failed 0, timer ticks ${ticks}`);
  const end = recs[recs.length - 1];
  assert.equal(end.type, 'end');
  assert.equal(end.reason, 'shutdown');
  assert.equal(end.exitCode, 0);
});

test('exit tour: the count of every exit reason is what the source makes happen', () => {
  const { recs } = tour();
  const expected: Record<string, number> = {};
  const add = (reason: string, n: number) => { if (n > 0) expected[reason] = (expected[reason] ?? 0) + n; };
  const byMnemonic: Readonly<Record<string, string>> = {
    cpuid: 'CPUID', xsetbv: 'XSETBV', rdmsr: 'MSR_READ', wrmsr: 'MSR_WRITE', invd: 'INVD', vmcall: 'VMCALL', hlt: 'HLT',
    vmxon: 'VMON', vmxoff: 'VMOFF', vmclear: 'VMCLEAR', vmptrld: 'VMPTRLD', vmptrst: 'VMPTRST', vmread: 'VMREAD', vmwrite: 'VMWRITE',
    vmlaunch: 'VMLAUNCH', vmresume: 'VMRESUME', invept: 'INVEPT', invvpid: 'INVVPID',
  };
  for (const insn of MAIN_CODE) {
    const reason = byMnemonic[mnemonic(insn)];
    if (reason !== undefined) add(reason, 1);
  }
  add('CR_ACCESS', countIn(MAIN_CODE, /^mov\s+cr[04],/));
  // each access to an HPET register is an EPT violation the VMM completes (MMIO)
  add('EPT_VIOLATION', countIn(MAIN_CODE, /\[rbx \+ HPET_/));
  // each pit_arm gives one tick; a tick that wakes a HLT is taken by the VMM while the vCPU is
  // halted (no guest is running to exit), the others interrupt the running guest
  const ticks = countIn(MAIN_CODE, /^call\s+pit_arm\b/);
  const hlts = countIn(MAIN_CODE, /^hlt\b/);
  add('EXTERNAL_INTERRUPT', ticks - hlts);
  // one tick arrives while IF = 0 in the INTERRUPT_WINDOW step: its injection waits for the window
  add('INTERRUPT_WINDOW', TOUR.filter((l) => /^\s+STEP\s+"INTERRUPT_WINDOW/.test(l)).length);
  // I/O: main's own, pit_arm's per call, the timer handler's EOI per tick, serial_init, LSR
  // poll and THR write per byte sent on COM1 (the UART's THR is always empty), one power-off
  const serial = sourceLines(path.join(COMMON, 'serial.inc'));
  const com1Bytes = consoleOf(recs).reduce((n, l) => n + l.length + 1, 0) - hypercallText().length;
  assert.equal(ioIn(body(serial, 'serial_putc')), 2);
  add('IO_INSTRUCTION', ioIn(MAIN_CODE) + ticks * ioIn(body(TOUR, 'pit_arm')) + ticks * ioIn(body(TOUR, 'timer_handler')) +
    ioIn(body(serial, 'serial_init')) + 2 * com1Bytes + 1);
  for (const r of ['CPUID', 'CR_ACCESS', 'XSETBV', 'IO_INSTRUCTION', 'EPT_VIOLATION', 'MSR_READ', 'MSR_WRITE', 'VMCALL', 'VMON', 'HLT', 'EXTERNAL_INTERRUPT', 'INTERRUPT_WINDOW', 'INVD', 'INVEPT']) {
    assert.ok((expected[r] ?? 0) > 0, `the tour provokes ${r}`);
  }
  const end = recs[recs.length - 1];
  assert.deepEqual(end.exits, expected);
  assert.equal(exitsOf(recs).length, Object.values(expected).reduce((a, b) => a + b, 0), 'one exit record per counted exit');
});

test('exit tour: each instruction exit is at an instruction of its kind, with objdump\'s length', { skip: !binutils && 'needs GNU binutils' }, () => {
  const { recs } = tour();
  const insns = listing();
  for (const e of exitsOf(recs)) {
    const reason = e.reason as string, rip = BigInt(e.rip as string);
    const at = insns.get(rip);
    if (reason === 'EXTERNAL_INTERRUPT' || reason === 'INTERRUPT_WINDOW') continue; // between instructions
    assert.ok(at !== undefined, `${reason} exit at 0x${rip.toString(16)} is at an instruction boundary`);
    assert.match(at.text, CAUSE[reason], `${reason} exit at 0x${rip.toString(16)}: ${at.text}`);
    // an EPT violation is a fault: the SDM defines no instruction length for it (28.2.5); the VMM decodes the instruction
    if (reason !== 'EPT_VIOLATION') assert.equal(e.instructionLength, at.length, `${reason} at 0x${rip.toString(16)}: instruction length`);
    if (DISPLACEMENT_QUALIFIED.has(reason)) {
      const disp = /(-?)(0x[0-9a-f]+)\(%rip\)/.exec(at.text);
      assert.ok(disp !== null, `${at.text} has a RIP-relative operand`);
      const value = disp[1] === '-' ? -BigInt(disp[2]) : BigInt(disp[2]);
      assert.equal(BigInt(e.qualification as string), BigInt.asUintN(64, value), `${reason}: qualification is the displacement field`);
    }
  }
  // the interrupt window opens after the instruction that follows STI (blocking by STI, SDM Vol. 3C 25.4.1 / 26.7.5)
  const windows = exitsOf(recs).filter((e) => e.reason === 'INTERRUPT_WINDOW');
  const addresses = [...insns.keys()].sort((a, b) => (a < b ? -1 : 1));
  for (const w of windows) {
    const k = addresses.indexOf(BigInt(w.rip as string));
    assert.ok(k >= 2);
    assert.deepEqual([insns.get(addresses[k - 2])?.text, insns.get(addresses[k - 1])?.text], ['sti', 'nop'], 'window exit right after STI; NOP');
  }
});

test('exit tour: qualifications decode to what the source did (port, CR and GPR, vector)', { skip: !binutils && 'needs GNU binutils' }, () => {
  const { recs } = tour();
  const sym = symbols();
  const exits = exitsOf(recs);
  const at = (label: string) => {
    const a = sym.get(label);
    assert.ok(a !== undefined, `symbol ${label}`);
    const e = exits.find((x) => BigInt(x.rip as string) === a);
    assert.ok(e !== undefined, `an exit at ${label}`);
    return { reason: e.reason, description: e.description, q: BigInt(e.qualification as string) };
  };
  // Table 28-5: size - 1 in bits 2:0, bit 3 IN, bit 6 immediate operand, port in bits 31:16
  const scr = at('tour_out_scr');
  assert.equal(scr.reason, 'IO_INSTRUCTION');
  assert.equal(scr.q, BigInt(constant('COM1_SCR')) << 16n, 'OUT DX (0x3ff), 1 byte');
  const imm = at('tour_in_imm');
  assert.equal(imm.q, (BigInt(constant('PIC1_DATA')) << 16n) | 0x40n | 0x8n, 'IN from immediate port 0x21, 1 byte');
  // Table 28-3: CR number in bits 3:0, access type 0 (MOV to CR) in 5:4, GPR in 11:8
  const crWrites = MAIN_CODE.map((i) => /^mov\s+cr([04]),\s*(\w+)$/.exec(i)).filter((m): m is RegExpExecArray => m !== null);
  const crExits = exits.filter((e) => e.reason === 'CR_ACCESS');
  assert.equal(crExits.length, crWrites.length);
  crWrites.forEach((m, k) => {
    const gpr = (GPR_NAMES as readonly string[]).indexOf(m[2]);
    assert.ok(gpr >= 0, `${m[2]} is a 64-bit GPR`);
    assert.equal(BigInt(crExits[k].qualification as string), BigInt(Number(m[1]) | gpr << 8), `mov cr${m[1]}, ${m[2]}`);
  });
  assert.equal(at('tour_mov_cr0').description, 'MOV to CR0 from RBX');
  // external interrupts are acknowledged on exit: the vector is the PIC's base + IRQ 0
  const vector = constant('PIC_VECTOR_BASE');
  for (const e of exits.filter((x) => x.reason === 'EXTERNAL_INTERRUPT')) {
    assert.equal(e.description, `vector ${vector} (0x${vector.toString(16)}), external interrupt`);
  }
});

// (exits the vCPU handles itself, such as CR_ACCESS, are already answered when --break-on stops)
test('exit tour --break-on: at an exit the VMM answers, the registers hold the operands the source set', { skip: !binutils && 'needs GNU binutils' }, () => {
  const sym = symbols();
  const stop = (reason: string) => {
    const r = cli('run', ELF, '--json', '--break-on', reason);
    assert.equal(r.status, 0);
    const end = records(r.stdout).pop() as Rec;
    assert.equal(end.reason, 'break');
    return end.registers as Record<string, string>;
  };
  const msr = stop('MSR_READ');
  assert.equal(BigInt(msr.rcx), BigInt(constant('HV_MSR_GUEST_ID')), 'RCX: the MSR index');
  assert.equal(BigInt(msr.rip), sym.get('tour_rdmsr'));
  const call = stop('VMCALL');
  assert.equal(BigInt(call.rax), BigInt(constant('HC_VERSION')), 'RAX: the hypercall number');
  assert.equal(BigInt(call.rip), sym.get('tour_vmcall'));
});

test('exit tour --break-on: the exits made by the first CPUID and the first MOV to CR0 are what the source makes happen up to them', { skip: !binutils && 'needs GNU binutils' }, () => {
  const sym = symbols();
  for (const [reason, label] of [['CPUID', 'tour_cpuid_leaf1'], ['CR_ACCESS', 'tour_mov_cr0']]) {
    const r = cli('run', ELF, '--json', '--break-on', reason);
    assert.equal(r.status, 0);
    const end = records(r.stdout).pop() as Rec;
    assert.equal(end.reason, 'break');
    assert.equal(BigInt((end.registers as Record<string, string>).rip), sym.get(label), `${reason} stops at ${label}`);
    const expected = Object.fromEntries(Object.entries(exitTourCountsAt(path.join(ROOT, 'samples'), label)).filter(([, n]) => n > 0));
    assert.ok(expected.IO_INSTRUCTION > 0 && expected[reason] > 0);
    assert.deepEqual(end.exits, expected, `exits by the stop at ${label}`);
  }
});

test('exitTourCountsAt refuses a label past what it models, naming the instruction', () => {
  assert.throws(() => exitTourCountsAt(path.join(ROOT, 'samples'), 'tour_hlt'), /runs (xsetbv|in|out|rdmsr|wrmsr)\b.*does not model/);
  assert.throws(() => exitTourCountsAt(path.join(ROOT, 'samples'), 'no_such_label'), /has no label no_such_label in main/);
});

test('boot.inc: a main that returns 3 ends the run through isa-debug-exit with exit code 7', { skip: !binutils && 'needs GNU binutils' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-boot-'));
  try {
    fs.writeFileSync(path.join(dir, 'three.S'), '    .include "boot.inc"\n    .text\nmain:\n    mov eax, 3\n    ret\n');
    const as = spawnSync('as', ['--64', '-I', COMMON, '-o', path.join(dir, 'three.o'), path.join(dir, 'three.S')], { encoding: 'utf8' });
    assert.equal(as.status, 0, as.stderr);
    const ld = spawnSync('ld', ['-T', path.join(COMMON, 'guest.ld'), '-o', path.join(dir, 'three.elf'), path.join(dir, 'three.o')], { encoding: 'utf8' });
    assert.equal(ld.status, 0, ld.stderr);
    const r = cli('run', path.join(dir, 'three.elf'), '--json');
    assert.equal(r.status, (3 << 1) | 1);
    const end = records(r.stdout).pop() as Rec;
    assert.equal(end.reason, 'shutdown');
    assert.match(end.detail as string, /debug-exit/);
    const outs = exitsOf(records(r.stdout));
    assert.equal(outs.length, 1, 'one exit: the OUT to the debug-exit port');
    assert.equal(BigInt(outs[0].qualification as string) >> 16n, BigInt(constant('DEBUG_EXIT')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
