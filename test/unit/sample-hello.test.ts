// samples/hello: the committed binaries must equal a fresh build (so they never go stale),
// and the flat image must boot on the emulated CPU from real mode at 0000:entry, as
// x86_vcpu starts a guest, reach 64-bit mode, print its line on COM1 and power off through
// port 0x604. The boot path and the serial code are the shared samples/common/boot.inc and
// serial.inc; hello.S holds only main.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu } from '../../src/hardware/cpu';
import { Ar, Seg } from '../../src/hardware/cpu-state';
import { IoBus } from '../../src/hardware/io-bus';
import { Platform } from '../../src/vmm/devices/platform';
import { ShutdownEvent } from '../../src/vmm/devices/power';

const ROOT = path.resolve(__dirname, '../../..');
const SAMPLE = path.join(ROOT, 'samples', 'hello');
const COMMON = path.join(ROOT, 'samples', 'common');
const EXPECTED_LINE = 'Hello from 64-bit long mode on vmx-debug!\n';
const BUDGET = 100_000;

function has(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}
const binutils = has('as') && has('ld') && has('objcopy') && has('nm');

/** The load address the linker script gives (the image's first byte and its entry point). */
function loadAddress(): number {
  assert.ok(!fs.existsSync(path.join(SAMPLE, 'hello.ld')), 'hello has no linker script of its own: the build uses common/guest.ld');
  const m = /LOAD_ADDRESS\s*=\s*(0x[0-9a-fA-F]+)\s*;/.exec(fs.readFileSync(path.join(COMMON, 'guest.ld'), 'utf8'));
  assert.ok(m, 'guest.ld defines LOAD_ADDRESS');
  return Number(m[1]);
}

test('the committed hello.elf and hello.bin are what the build script produces now', { skip: !binutils && 'needs GNU binutils' }, () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-hello-'));
  try {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'samples', 'build.mjs'), '--out', out, 'hello'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['hello.elf', 'hello.bin']) {
      const fresh = fs.readFileSync(path.join(out, 'hello', f));
      const committed = fs.readFileSync(path.join(SAMPLE, f));
      assert.ok(fresh.equals(committed), `samples/hello/${f} is stale: run npm run samples and commit it`);
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('nm agrees that _start is the linker script\'s load address, below 64 KiB', { skip: !binutils && 'needs GNU binutils' }, () => {
  const r = spawnSync('nm', [path.join(SAMPLE, 'hello.elf')], { encoding: 'utf8' });
  const m = /^([0-9a-f]+) T _start$/m.exec(r.stdout);
  assert.ok(m, 'hello.elf has a global _start');
  assert.equal(parseInt(m[1], 16), loadAddress());
  assert.ok(loadAddress() < 0x10000, 'real mode starts at CS=0, so the entry must fit in IP');
});

test('hello.elf carries DWARF line info: readelf maps _start, the power-off OUT and main to their source lines', { skip: !binutils && 'needs GNU binutils' }, () => {
  const r = spawnSync('readelf', ['--debug-dump=decodedline', path.join(SAMPLE, 'hello.elf')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const rows = new Map<number, { file: string; line: number }>(); // address -> source position
  for (const m of r.stdout.matchAll(/^(\S+\.(?:S|inc))\s+(\d+)\s+0x([0-9a-f]+)/gm)) rows.set(parseInt(m[3], 16), { file: m[1], line: Number(m[2]) });
  const lineIn = (file: string, re: RegExp) => {
    const source = fs.readFileSync(file, 'utf8').split('\n');
    return { file: path.basename(file), line: source.findIndex((l) => re.test(l)) + 1 };
  };
  const boot = path.join(COMMON, 'boot.inc');
  assert.deepEqual(rows.get(loadAddress()), lineIn(boot, /^\s+cli\b/), 'the entry is the CLI after _start: in boot.inc');
  const sym = spawnSync('nm', [path.join(SAMPLE, 'hello.elf')], { encoding: 'utf8' }).stdout;
  const address = (name: string, kind: string) => parseInt(new RegExp(`^([0-9a-f]+) ${kind} ${name}$`, 'm').exec(sym)?.[1] ?? 'NaN', 16);
  const halt = address('halt', 't');
  assert.deepEqual(rows.get(halt), lineIn(boot, /^\s+hlt\b/), 'halt: is the HLT line');
  const outLines = [...rows.entries()].filter(([a]) => a < halt).sort((x, y) => x[0] - y[0]);
  assert.deepEqual(outLines[outLines.length - 1][1], lineIn(boot, /^\s+out dx, ax\b/), 'the instruction before halt is the power-off OUT');
  assert.deepEqual(rows.get(address('main', 't')), lineIn(path.join(SAMPLE, 'hello.S'), /^\s+call serial_init\b/), 'main is hello.S\'s own code');
  assert.deepEqual(rows.get(address('serial_putc', 't')), lineIn(path.join(COMMON, 'serial.inc'), /^\s+mov ah, al\b/), 'serial_putc comes from serial.inc');
});

test('hello.bin boots from real mode to 64-bit mode, prints on COM1 and powers off via port 0x604', () => {
  const entry = loadAddress();
  const image = fs.readFileSync(path.join(SAMPLE, 'hello.bin'));
  const io = new IoBus();
  const mem = new PhysicalMemory(2 * 1024 * 1024);
  const cpu = new Cpu(mem, io);
  let text = '';
  const shutdowns: Array<ShutdownEvent & { dx: number; ax: number; mode: number }> = [];
  const platform = new Platform(io, {
    com1Output: (b) => { text += String.fromCharCode(b); },
    onShutdown: (e) => {
      // the OUT that ended the machine: its port is in DX, its value in AX
      shutdowns.push({ ...e, dx: Number(cpu.getReg(2) & 0xffffn), ax: Number(cpu.getReg(0) & 0xffffn), mode: cpu.decodeMode() });
      cpu.requestStop();
    },
    clock: () => cpu.icount,
    onReschedule: () => cpu.requestStop(),
  });
  mem.writeBytes(entry, image);
  assert.equal(cpu.segSel[Seg.CS], 0);
  assert.equal(cpu.decodeMode(), 16, 'reset state: real mode');
  cpu.rip = BigInt(entry);

  // the machine's run loop in miniature: slice to the next device event
  while (shutdowns.length === 0 && cpu.icount < BUDGET) {
    const slice = Math.max(1, Math.min(platform.nextEventAt() - cpu.icount, BUDGET - cpu.icount));
    const outcome = cpu.run(slice);
    platform.advanceTo(cpu.icount);
    if (shutdowns.length > 0) break; // the HLT after the OUT may end the slice first
    if (outcome.kind !== 'budget' && outcome.kind !== 'stop') assert.fail(`the guest stopped early: ${JSON.stringify(outcome)} at RIP 0x${cpu.rip.toString(16)}`);
  }

  assert.equal(text, EXPECTED_LINE);
  assert.deepEqual(shutdowns, [{ reason: 'poweroff', exitCode: 0, dx: 0x604, ax: 0x2000, mode: 64 }]);
  assert.equal(cpu.efer & 0x400, 0x400, 'EFER.LMA: IA-32e mode is active');
  assert.equal(cpu.segAr[Seg.CS] & Ar.L, Ar.L, 'CS.L: 64-bit code segment');
  assert.equal(platform.com1.divisor, 1, 'the guest set 115200 baud');
  assert.equal(platform.com1.lcr, 0x03, 'and 8N1 with DLAB off');
  assert.ok(cpu.icount < BUDGET, `within ${BUDGET} instructions (took ${cpu.icount})`);
});
