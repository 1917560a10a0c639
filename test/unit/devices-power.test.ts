// The power-off ports through the I/O bus: ACPI PM1a_CNT at 0x604 (SLP_EN = bit 13 powers
// off, exit code 0) and QEMU's isa-debug-exit at 0xF4 (a write of v exits with (v << 1) | 1).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { IoBus } from '../../src/hardware/io-bus';
import { AcpiPm1Control, DebugExit, ShutdownEvent } from '../../src/vmm/devices/power';

function machine(): { io: IoBus; events: ShutdownEvent[] } {
  const io = new IoBus();
  const events: ShutdownEvent[] = [];
  new AcpiPm1Control((e) => events.push(e)).attach(io);
  new DebugExit((e) => events.push(e)).attach(io);
  return { io, events };
}

test('a 16-bit write of SLP_EN (0x2000) to port 0x604 powers off with exit code 0', () => {
  const { io, events } = machine();
  io.write(0x604, 2, 0x2000);
  assert.deepEqual(events, [{ reason: 'poweroff', exitCode: 0 }]);
  assert.equal(io.read(0x604, 2) & 0x2000, 0, 'SLP_EN is write-only and reads as 0');
});

test('PM1a_CNT without SLP_EN is a plain register; byte writes never sleep', () => {
  const { io, events } = machine();
  io.write(0x604, 2, 0x0001); // SCI_EN
  assert.equal(io.read(0x604, 2), 0x0001);
  io.write(0x605, 1, 0x20); // SLP_EN's byte alone
  io.write(0x604, 1, 0x00);
  assert.deepEqual(events, []);
  assert.equal(io.read(0x605, 1), 0);
  io.write(0x604, 2, 0x1c01); // SLP_TYP = 7, SCI_EN: stored, no sleep without SLP_EN
  assert.equal(io.read(0x604, 2), 0x1c01);
  assert.equal(io.read(0x605, 1), 0x1c);
  assert.deepEqual(events, []);
});

test('isa-debug-exit: a write of v ends with (v << 1) | 1 for 8-, 16- and 32-bit writes', () => {
  for (const [size, v] of [[1, 0x00], [1, 0x10], [1, 0xff], [2, 0x1234], [4, 0x7fffffff], [4, 0xffffffff]]) {
    const { io, events } = machine();
    io.write(0xf4, size, v);
    assert.deepEqual(events, [{ reason: 'debug-exit', exitCode: Number((BigInt(v) << 1n) | 1n) }], `size ${size}, value ${v}`);
  }
  const { io } = machine();
  assert.equal(io.read(0xf4, 1), 0);
});
