// The devices wired as on a PC: COM1 on IRQ 4 and the PIT on IRQ 0 of the 8259A pair, all on
// the CPU's I/O bus; and a real-mode guest (GNU as) that counts PIT ticks by polling the PIC
// and reports through isa-debug-exit, run on the emulated CPU with the machine's time slicing.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu } from '../../src/hardware/cpu';
import { IoBus } from '../../src/hardware/io-bus';
import { Platform } from '../../src/vmm/devices/platform';
import { ShutdownEvent } from '../../src/vmm/devices/power';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';

const VECTOR_BASE = 0x20;

function initPic(io: IoBus): void {
  io.write(0x20, 1, 0x11);
  io.write(0x21, 1, VECTOR_BASE);
  io.write(0x21, 1, 0x04);
  io.write(0x21, 1, 0x01);
  io.write(0xa0, 1, 0x11);
  io.write(0xa1, 1, VECTOR_BASE + 8);
  io.write(0xa1, 1, 0x02);
  io.write(0xa1, 1, 0x01);
}

test('the platform claims the PC ports', () => {
  const io = new IoBus();
  new Platform(io);
  const expected: Array<[number, string]> = [
    [0x20, 'PIC master (8259A)'], [0xa1, 'PIC slave (8259A)'], [0x43, 'PIT (8254)'],
    [0x3f8, 'COM1 (16550A)'], [0x3ff, 'COM1 (16550A)'], [0x604, 'ACPI PM1a control'], [0xf4, 'isa-debug-exit'],
  ];
  for (const [port, name] of expected) assert.equal(io.deviceAt(port), name, `port 0x${port.toString(16)}`);
  assert.equal(io.deviceAt(0x400), undefined);
});

test('COM1 interrupts arrive as IRQ 4 and the PIT as IRQ 0, in PIC priority order', () => {
  const io = new IoBus();
  const ipt = 84;
  const p = new Platform(io, { instructionsPerPitTick: ipt });
  initPic(io);
  io.write(0x3f9, 1, 0x01); // COM1: received-data interrupt
  p.com1.queueInput([0x0d]);
  assert.equal(p.pic.pendingVector(), VECTOR_BASE + 4);
  io.write(0x43, 1, 0x34); // PIT counter 0, mode 2: OUT rises now
  io.write(0x40, 1, 100);
  io.write(0x40, 1, 0);
  assert.equal(p.pic.pendingVector(), VECTOR_BASE + 0, 'IRQ 0 outranks IRQ 4');
  assert.equal(p.pic.acknowledge(), VECTOR_BASE + 0);
  assert.equal(p.pic.pendingVector(), -1, 'IRQ 4 waits for the EOI of IRQ 0');
  io.write(0x20, 1, 0x20);
  assert.equal(p.pic.acknowledge(), VECTOR_BASE + 4);
  io.write(0x20, 1, 0x20);
  io.read(0x3f8, 1); // the guest reads the byte: COM1's line falls
  assert.equal(p.pic.pendingVector(), -1);
  assert.equal(p.nextEventAt(), (1 + 100) * ipt);
  p.advanceTo(p.nextEventAt());
  assert.equal(p.pic.pendingVector(), VECTOR_BASE + 0);
});

const skip = !nativeOracleAvailable() && 'needs GNU as';

/** A real-mode guest: PIC and PIT set up, three IRQ 0 requests taken by poll, then exit 3. */
function tickCounter(count: number): Uint8Array {
  return assembleIntel([
    '.code16',
    'mov al, 0x11', 'out 0x20, al', 'mov al, 0x20', 'out 0x21, al', 'mov al, 0x04', 'out 0x21, al', 'mov al, 0x01', 'out 0x21, al',
    'mov al, 0x34', 'out 0x43, al',
    `mov al, ${count & 0xff}`, 'out 0x40, al', `mov al, ${count >> 8}`, 'out 0x40, al',
    'xor cx, cx',
    'poll: mov al, 0x0c', 'out 0x20, al', 'in al, 0x20', 'test al, 0x80', 'jz poll',
    'and al, 7', 'jnz wrong',
    'mov al, 0x20', 'out 0x20, al',
    'inc cx', 'cmp cx, 3', 'jne poll',
    'mov al, cl', 'out 0xf4, al', 'hlt',
    'wrong: mov al, 0x7f', 'out 0xf4, al', 'hlt',
  ]);
}

function runGuest(code: Uint8Array, ipt: number, budget: number): { event: ShutdownEvent | undefined; icount: number } {
  const io = new IoBus();
  const cpu = new Cpu(new PhysicalMemory(1 << 20), io);
  let event: ShutdownEvent | undefined;
  const platform = new Platform(io, {
    instructionsPerPitTick: ipt,
    clock: () => cpu.icount,
    onReschedule: () => cpu.requestStop(),
    onShutdown: (e) => { event = e; cpu.requestStop(); },
  });
  cpu.mem.writeBytes(0x7c00, code);
  cpu.rip = 0x7c00n;
  while (event === undefined && cpu.icount < budget) {
    const outcome = cpu.run(Math.max(1, Math.min(platform.nextEventAt() - cpu.icount, budget - cpu.icount)));
    platform.advanceTo(cpu.icount);
    if (event === undefined && outcome.kind !== 'budget' && outcome.kind !== 'stop') assert.fail(`guest stopped: ${JSON.stringify(outcome)}`);
  }
  return { event, icount: cpu.icount };
}

test('a guest polling the PIC sees PIT ticks N pulses apart, the same way on every run', { skip }, () => {
  const n = 200, ipt = 10;
  const code = tickCounter(n);
  const first = runGuest(code, ipt, 100_000);
  // ticks: the mode 2 control word (OUT rises), then the load pulse + N and + 2N
  assert.deepEqual(first.event, { reason: 'debug-exit', exitCode: (3 << 1) | 1 });
  assert.ok(first.icount >= 2 * n * ipt, `the third tick cannot come before 2N pulses (${first.icount})`);
  assert.ok(first.icount <= (2 * n + 10) * ipt, `nor much after (${first.icount})`);
  const again = runGuest(code, ipt, 100_000);
  assert.equal(again.icount, first.icount, 'deterministic: the same instruction count');
});
