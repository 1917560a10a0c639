// The 8259A pair through its I/O ports, programmed as a PC BIOS or Linux does; expected
// vectors and register contents follow the 8259A datasheet's rules (vector = ICW2 base | IR
// level, fully nested priority, EOI, cascade on IR2, default IR7 on a vanished request).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { IoBus } from '../../src/hardware/io-bus';
import { Pic8259, PicError } from '../../src/vmm/devices/pic8259';

const MASTER_BASE = 0x20, SLAVE_BASE = 0x28;
const NON_SPECIFIC_EOI = 0x20, READ_IRR = 0x0a, READ_ISR = 0x0b;

/** Initialises both chips: edge triggered, cascade on IR2, 8086 mode (ICW4 given). */
function pc(icw4 = 0x01): { io: IoBus; pic: Pic8259 } {
  const io = new IoBus();
  const pic = new Pic8259();
  pic.attach(io);
  for (const [cmd, data, base, icw3] of [[0x20, 0x21, MASTER_BASE, 0x04], [0xa0, 0xa1, SLAVE_BASE, 0x02]]) {
    io.write(cmd, 1, 0x11); // ICW1: edge, cascade, ICW4 follows
    io.write(data, 1, base); // ICW2
    io.write(data, 1, icw3); // ICW3
    io.write(data, 1, icw4); // ICW4
  }
  return { io, pic };
}

function isr(io: IoBus, port = 0x20): number {
  io.write(port, 1, READ_ISR);
  return io.read(port, 1);
}

function irr(io: IoBus, port = 0x20): number {
  io.write(port, 1, READ_IRR);
  return io.read(port, 1);
}

test('ICW1 clears the mask; OCW1 sets it and reads back on the odd port', () => {
  const { io } = pc();
  assert.equal(io.read(0x21, 1), 0, 'IMR is cleared by ICW1');
  io.write(0x21, 1, 0xb8);
  io.write(0xa1, 1, 0x8e);
  assert.equal(io.read(0x21, 1), 0xb8);
  assert.equal(io.read(0xa1, 1), 0x8e);
  io.write(0x21, 1, 0x11); // re-initialising clears it again
  io.write(0x20, 1, 0x11);
  assert.equal(io.read(0x21, 1), 0);
});

test('fully nested priority: lower IR levels win, in-service levels hold back lower ones', () => {
  const { io, pic } = pc();
  assert.equal(pic.pendingVector(), -1, 'nothing requested');
  pic.raiseIrq(4);
  pic.raiseIrq(1);
  assert.equal(irr(io), (1 << 1) | (1 << 4));
  assert.equal(pic.pendingVector(), MASTER_BASE | 1);
  assert.equal(pic.acknowledge(), MASTER_BASE | 1);
  assert.equal(isr(io), 1 << 1, 'INTA moved IR1 to the ISR');
  assert.equal(irr(io), 1 << 4, 'and out of the IRR');
  assert.equal(pic.pendingVector(), -1, 'IR4 waits while IR1 is in service');
  pic.raiseIrq(0);
  assert.equal(pic.pendingVector(), MASTER_BASE | 0, 'a higher level nests');
  assert.equal(pic.acknowledge(), MASTER_BASE | 0);
  assert.equal(isr(io), (1 << 0) | (1 << 1));
  io.write(0x20, 1, NON_SPECIFIC_EOI);
  assert.equal(isr(io), 1 << 1, 'non-specific EOI clears the highest in-service level (IR0)');
  assert.equal(pic.pendingVector(), -1);
  io.write(0x20, 1, 0x60 | 1); // specific EOI for IR1
  assert.equal(isr(io), 0);
  assert.equal(pic.pendingVector(), MASTER_BASE | 4);
});

test('a masked request stays in the IRR and is not offered until unmasked', () => {
  const { io, pic } = pc();
  io.write(0x21, 1, 1 << 3);
  pic.raiseIrq(3);
  assert.equal(irr(io), 1 << 3);
  assert.equal(pic.pendingVector(), -1);
  io.write(0x21, 1, 0);
  assert.equal(pic.pendingVector(), MASTER_BASE | 3);
});

test('edge triggered: a line held high requests once; it must fall and rise again', () => {
  const { pic } = pc();
  pic.raiseIrq(5);
  assert.equal(pic.acknowledge(), MASTER_BASE | 5);
  pic.raiseIrq(5); // still high, no new edge
  assert.equal(pic.master.irr, 0);
  pic.lowerIrq(5);
  pic.raiseIrq(5);
  assert.equal(pic.master.irr, 1 << 5);
});

test('level triggered (ICW1.LTIM): the IRR follows the line', () => {
  const io = new IoBus();
  const pic = new Pic8259();
  pic.attach(io);
  io.write(0x20, 1, 0x19); // ICW1 with LTIM
  io.write(0x21, 1, MASTER_BASE);
  io.write(0x21, 1, 0x04);
  io.write(0x21, 1, 0x01);
  pic.raiseIrq(6);
  assert.equal(pic.acknowledge(), MASTER_BASE | 6);
  assert.equal(pic.master.irr, 1 << 6, 'still high: still requested');
  pic.lowerIrq(6);
  assert.equal(pic.master.irr, 0);
});

test('cascade: slave requests arrive through master IR2 with the slave\'s vector', () => {
  const { io, pic } = pc();
  pic.raiseIrq(12);
  assert.equal(irr(io), 1 << 2, 'the slave drives master IR2');
  assert.equal(irr(io, 0xa0), 1 << 4);
  assert.equal(pic.pendingVector(), SLAVE_BASE | 4);
  assert.equal(pic.acknowledge(), SLAVE_BASE | 4);
  assert.equal(isr(io), 1 << 2, 'master: IR2 in service');
  assert.equal(isr(io, 0xa0), 1 << 4, 'slave: IR4 in service');
  pic.raiseIrq(9);
  assert.equal(pic.pendingVector(), -1, 'without special fully nested mode, IR2 in service blocks the whole slave');
  io.write(0xa0, 1, NON_SPECIFIC_EOI);
  io.write(0x20, 1, NON_SPECIFIC_EOI);
  assert.equal(pic.pendingVector(), SLAVE_BASE | 1);
  // a master level above IR2 still preempts
  pic.raiseIrq(1);
  assert.equal(pic.pendingVector(), MASTER_BASE | 1);
});

test('special fully nested mode lets a higher slave level interrupt a slave handler', () => {
  const { pic } = pc(0x11); // ICW4: 8086 mode, SFNM
  pic.raiseIrq(12);
  assert.equal(pic.acknowledge(), SLAVE_BASE | 4);
  pic.raiseIrq(9);
  assert.equal(pic.pendingVector(), SLAVE_BASE | 1);
  pic.raiseIrq(14);
  assert.equal(pic.slave.request(), 1, 'IR6 on the slave is below IR4 in service and IR1');
});

test('spurious: INTA with no request gives IR7 without setting ISR; on the slave IR15 with master IR2 in service', () => {
  const { io, pic } = pc();
  assert.equal(pic.acknowledge(), MASTER_BASE | 7);
  assert.equal(isr(io), 0);
  pic.raiseIrq(10);
  io.write(0xa1, 1, 1 << 2); // the request vanishes on the slave before INTA
  assert.equal(pic.pendingVector(), SLAVE_BASE | 7);
  assert.equal(pic.acknowledge(), SLAVE_BASE | 7);
  assert.equal(isr(io, 0xa0), 0, 'the slave sets no ISR bit');
  assert.equal(isr(io), 1 << 2, 'the master acknowledged its IR2');
});

test('automatic EOI (ICW4.AEOI) leaves the ISR clear', () => {
  const { io, pic } = pc(0x03);
  pic.raiseIrq(3);
  assert.equal(pic.acknowledge(), MASTER_BASE | 3);
  assert.equal(isr(io), 0);
  pic.raiseIrq(4);
  assert.equal(pic.pendingVector(), MASTER_BASE | 4, 'nothing in service holds it back');
});

test('OCW2 set priority and rotate on EOI change which level wins', () => {
  const { io, pic } = pc();
  io.write(0x20, 1, 0xc0 | 3); // IR3 lowest: order 4 5 6 7 0 1 2 3
  pic.raiseIrq(1);
  pic.raiseIrq(5);
  assert.equal(pic.acknowledge(), MASTER_BASE | 5);
  io.write(0x20, 1, 0xa0); // rotate on non-specific EOI: IR5 becomes lowest, order 6 7 0 1 ...
  assert.equal(isr(io), 0);
  pic.raiseIrq(7);
  assert.equal(pic.pendingVector(), MASTER_BASE | 7);
});

test('special mask mode: a masked level in service no longer blocks lower levels', () => {
  const { io, pic } = pc();
  pic.raiseIrq(1);
  pic.acknowledge();
  pic.raiseIrq(3);
  assert.equal(pic.pendingVector(), -1);
  io.write(0x21, 1, 1 << 1);
  io.write(0x20, 1, 0x68); // OCW3: ESMM | SMM
  assert.equal(pic.pendingVector(), MASTER_BASE | 3);
  io.write(0x20, 1, 0x48); // reset special mask
  assert.equal(pic.pendingVector(), -1);
});

test('poll command: the next read of the even port is the acknowledge', () => {
  const { io, pic } = pc();
  pic.raiseIrq(6);
  io.write(0x20, 1, 0x0c); // OCW3 with P
  assert.equal(io.read(0x20, 1), 0x80 | 6);
  assert.equal(isr(io), 1 << 6);
  io.write(0x20, 1, 0x0c);
  assert.equal(io.read(0x20, 1) & 0x80, 0, 'no request: I bit clear');
});

test('IRQ numbers outside 0-15, and IRQ 2 (the cascade), are refused with a clear error', () => {
  const { pic } = pc();
  assert.throws(() => pic.raiseIrq(16), (e: unknown) => e instanceof PicError && /IRQ 16/.test(e.message));
  assert.throws(() => pic.lowerIrq(-1), PicError);
  assert.throws(() => pic.raiseIrq(2), /cascade/);
});
