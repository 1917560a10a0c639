// The 8254 through ports 0x40-0x43, with time driven by `advanceTo`. Expected counts, OUT
// levels and IRQ 0 edges follow the 8254 datasheet's mode descriptions: a count written
// between pulses t and t+1 is loaded on pulse t+1; mode 0 raises OUT N+1 pulses after the
// write; mode 2 pulses OUT low on count 1 with period N; mode 3 is high for ceil(N/2) and low
// for floor(N/2) pulses; 0 means 2^16 (binary) or 10^4 (BCD).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { IoBus } from '../../src/hardware/io-bus';
import { Pit8254, PitError } from '../../src/vmm/devices/pit8254';

const CH0 = 0x40, CH2 = 0x42, CTRL = 0x43;
// control words for counter 0: SC=00, RW=11 (LSB then MSB), mode, binary
const MODE0 = 0x30, MODE2 = 0x34, MODE3 = 0x36;
const LATCH0 = 0x00;
/** Read-back: latch status only / status and count, of counter 0. */
const READBACK_STATUS0 = 0xe2, READBACK_BOTH0 = 0xc2;

function pit(ipt = 1, clock?: () => number): { io: IoBus; pit: Pit8254; rises: number[]; level: () => boolean } {
  const io = new IoBus();
  const rises: number[] = [];
  let level = false;
  const p: Pit8254 = new Pit8254({
    instructionsPerTick: ipt,
    clock,
    irq: (l) => {
      if (l && !level) rises.push(p.ticks);
      level = l;
    },
  });
  p.attach(io);
  return { io, pit: p, rises, level: () => level };
}

function writeCount(io: IoBus, port: number, n: number): void {
  io.write(port, 1, n & 0xff);
  io.write(port, 1, n >> 8);
}

function readLatched(io: IoBus, port = CH0): number {
  io.write(CTRL, 1, (port - CH0) << 6); // counter latch command
  return io.read(port, 1) | (io.read(port, 1) << 8);
}

function statusOf(io: IoBus): number {
  io.write(CTRL, 1, READBACK_STATUS0);
  return io.read(CH0, 1);
}

const OUT = 0x80;

test('mode 2: IRQ 0 rises every N pulses; OUT is low for the pulse on which the count is 1', () => {
  const { io, pit: p, rises, level } = pit();
  io.write(CTRL, 1, MODE2);
  assert.deepEqual(rises, [0], 'the mode 2 control word sets OUT high');
  writeCount(io, CH0, 1000); // written at pulse 0, loaded on pulse 1
  assert.equal(p.nextEventAt(), 1 + 1000);
  p.advanceTo(999);
  assert.equal(level(), true);
  p.advanceTo(1000); // count reached 1
  assert.equal(level(), false);
  p.advanceTo(1001);
  assert.deepEqual(rises, [0, 1001]);
  assert.equal(p.nextEventAt(), 2001);
  p.advanceTo(1251);
  assert.equal(readLatched(io), 1000 - 250);
});

test('a run across many periods reports one rising edge and schedules the next one', () => {
  const { io, pit: p, rises } = pit();
  io.write(CTRL, 1, MODE2);
  writeCount(io, CH0, 1000);
  p.advanceTo(10_500);
  assert.deepEqual(rises, [0, 10_500]);
  assert.equal(p.nextEventAt(), 1 + 11 * 1000);
});

test('mode 0: OUT low at the write, high N+1 pulses later and stays high while the count wraps', () => {
  const { io, pit: p, rises, level } = pit();
  io.write(CTRL, 1, MODE0);
  p.advanceTo(10);
  writeCount(io, CH0, 50);
  assert.equal(level(), false);
  assert.equal(p.nextEventAt(), 10 + 50 + 1);
  p.advanceTo(20);
  assert.equal(readLatched(io), 50 - (20 - 11));
  p.advanceTo(61);
  assert.deepEqual(rises, [61]);
  p.advanceTo(70);
  assert.equal(readLatched(io), (50 - (70 - 11)) & 0xffff);
  assert.equal(statusOf(io) & OUT, OUT);
  assert.equal(p.nextEventAt(), Infinity, 'mode 0 fires once');
  // a new count: the first byte stops counting and drops OUT, the second restarts it
  io.write(CH0, 1, 100);
  assert.equal(level(), false);
  p.advanceTo(90);
  io.write(CH0, 1, 0);
  assert.equal(p.nextEventAt(), 90 + 100 + 1);
});

test('mode 3: square wave, high ceil(N/2) and low floor(N/2) pulses', () => {
  for (const n of [10, 7]) {
    const { io, pit: p } = pit();
    io.write(CTRL, 1, MODE3);
    writeCount(io, CH0, n); // loaded on pulse 1
    const high = Math.ceil(n / 2);
    for (let t = 1; t <= 2 * n + 1; t++) {
      p.advanceTo(t);
      const phase = (t - 1) % n;
      assert.equal((statusOf(io) & OUT) !== 0, phase < high, `N=${n}, pulse ${t}`);
    }
    assert.equal(p.nextEventAt(), 1 + 3 * n);
  }
});

test('a count of 0 is 65536 in binary and 10000 in BCD; BCD counts read back in BCD', () => {
  let { io, pit: p } = pit();
  io.write(CTRL, 1, MODE2);
  writeCount(io, CH0, 0);
  assert.equal(p.nextEventAt(), 1 + 65536);
  ({ io, pit: p } = pit());
  io.write(CTRL, 1, MODE2 | 1);
  writeCount(io, CH0, 0);
  assert.equal(p.nextEventAt(), 1 + 10000);
  ({ io, pit: p } = pit());
  io.write(CTRL, 1, MODE2 | 1);
  writeCount(io, CH0, 0x0100); // BCD 100
  assert.equal(p.nextEventAt(), 1 + 100);
  p.advanceTo(1 + 1);
  assert.equal(readLatched(io), 0x0099);
});

test('LSB-only and MSB-only access use a single byte for writes and reads', () => {
  let { io, pit: p } = pit();
  io.write(CTRL, 1, 0x14); // counter 0, LSB only, mode 2
  io.write(CH0, 1, 100);
  assert.equal(p.nextEventAt(), 1 + 100);
  p.advanceTo(11);
  assert.equal(io.read(CH0, 1), 100 - 10);
  assert.equal(io.read(CH0, 1), 100 - 10, 'every read is the LSB');
  ({ io, pit: p } = pit());
  io.write(CTRL, 1, 0x24); // MSB only
  io.write(CH0, 1, 2);
  assert.equal(p.nextEventAt(), 1 + 0x200);
  p.advanceTo(1 + 0x100);
  assert.equal(io.read(CH0, 1), 1, 'the MSB of 0x100');
});

test('latch command: the value at the latch is read later; a second latch is ignored until read', () => {
  const { io, pit: p } = pit();
  io.write(CTRL, 1, MODE2);
  writeCount(io, CH0, 1000);
  p.advanceTo(101);
  io.write(CTRL, 1, LATCH0);
  p.advanceTo(501);
  io.write(CTRL, 1, LATCH0);
  assert.equal(io.read(CH0, 1) | (io.read(CH0, 1) << 8), 1000 - 100);
  assert.equal(io.read(CH0, 1) | (io.read(CH0, 1) << 8), 1000 - 500, 'unlatched reads follow the count');
});

test('read-back: status byte (OUT, NULL COUNT, RW, mode, BCD) and status before count', () => {
  const { io, pit: p } = pit();
  io.write(CTRL, 1, MODE2);
  // OUT=1, NULL COUNT=1 (no count yet), RW=11, mode 010, binary
  assert.equal(statusOf(io), 0x80 | 0x40 | (3 << 4) | (2 << 1));
  writeCount(io, CH0, 300);
  assert.equal(statusOf(io) & 0x40, 0x40, 'written but not loaded until the next pulse');
  p.advanceTo(1);
  assert.equal(statusOf(io), 0x80 | (3 << 4) | (2 << 1));
  p.advanceTo(51);
  io.write(CTRL, 1, READBACK_BOTH0);
  assert.equal(io.read(CH0, 1), 0x80 | (3 << 4) | (2 << 1), 'status comes first');
  assert.equal(io.read(CH0, 1) | (io.read(CH0, 1) << 8), 300 - 50);
});

test('mode 2: a new count waits for the end of the current period', () => {
  const { io, pit: p, rises } = pit();
  io.write(CTRL, 1, MODE2);
  writeCount(io, CH0, 1000);
  p.advanceTo(500);
  writeCount(io, CH0, 100);
  assert.equal(p.nextEventAt(), 1001);
  p.advanceTo(1001);
  assert.equal(p.nextEventAt(), 1101);
  p.advanceTo(1101);
  assert.deepEqual(rises, [0, 1001, 1101]);
});

test('mode 3: a new count takes over at the end of the current half-cycle', () => {
  const { io, pit: p } = pit();
  io.write(CTRL, 1, MODE3);
  writeCount(io, CH0, 10); // high on pulses 1-5, low from 6
  p.advanceTo(2);
  writeCount(io, CH0, 20); // loaded on pulse 6 for a low half of 10
  assert.equal(p.nextEventAt(), 6 + 10);
  p.advanceTo(6);
  assert.equal(statusOf(io) & OUT, 0);
});

test('time: CLK advances one pulse every instructionsPerTick instructions', () => {
  const ipt = 84;
  const { io, pit: p, rises } = pit(ipt);
  io.write(CTRL, 1, MODE2);
  writeCount(io, CH0, 11932); // 100 Hz at 1.193182 MHz
  const at = (1 + 11932) * ipt;
  assert.equal(p.nextEventAt(), at);
  p.advanceTo(at - 1);
  assert.deepEqual(rises, [0]);
  p.advanceTo(at);
  assert.deepEqual(rises, [0, 1 + 11932]);
  assert.throws(() => new Pit8254({ instructionsPerTick: 0 }), PitError);
  assert.throws(() => new Pit8254({ instructionsPerTick: 1.5 }), /positive integer/);
});

test('with a clock, port reads see the current instruction count between advanceTo calls', () => {
  let now = 0;
  const { io } = pit(2, () => now);
  io.write(CTRL, 1, MODE2);
  writeCount(io, CH0, 1000);
  now = 600; // pulse 300
  assert.equal(readLatched(io), 1000 - (300 - 1));
});

test('counter 2 counts on its own and does not touch IRQ 0', () => {
  const { io, pit: p, rises } = pit();
  io.write(CTRL, 1, 0xb0); // counter 2, LSB/MSB, mode 0
  writeCount(io, CH2, 40);
  p.advanceTo(100);
  assert.deepEqual(rises, []);
  assert.equal(readLatched(io, CH2), (40 - 99) & 0xffff);
  assert.equal(io.read(CTRL, 1), 0xff, 'the control register cannot be read');
});

test('reprogramming counter 0 asks the run loop to re-slice; other counters do not', () => {
  let calls = 0;
  const io = new IoBus();
  new Pit8254({ onReschedule: () => calls++ }).attach(io);
  io.write(CTRL, 1, 0xb0); // counter 2
  io.write(CH2, 1, 1);
  io.write(CH2, 1, 0);
  assert.equal(calls, 0);
  io.write(CTRL, 1, MODE2);
  writeCount(io, CH0, 5);
  assert.equal(calls, 3, 'the control word and both count bytes');
});
