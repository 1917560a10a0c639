// The 16550A through its I/O ports at COM1. Expected values come from the PC16550D
// datasheet's register descriptions: DLAB banking, LSR bits, IIR identification codes and
// priorities, FIFO trigger levels, loopback wiring of MCR outputs to MSR inputs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { IoBus } from '../../src/hardware/io-bus';
import { Uart16550 } from '../../src/vmm/devices/uart16550';

const BASE = 0x3f8;
const RBR = BASE, IER = BASE + 1, IIR = BASE + 2, FCR = BASE + 2, LCR = BASE + 3, MCR = BASE + 4, LSR = BASE + 5, MSR = BASE + 6, SCR = BASE + 7;
// LSR bits
const DR = 0x01, OE = 0x02, THRE = 0x20, TEMT = 0x40;
// IIR identification (bit 0 = 1: none pending) and the FIFO-enabled bits
const NONE = 0x01, RLS = 0x06, RDA = 0x04, TIMEOUT = 0x0c, THR_EMPTY = 0x02, MODEM = 0x00, FIFOS = 0xc0;
// MSR
const DCTS = 0x01, DDSR = 0x02, DDCD = 0x08, CTS = 0x10, DSR = 0x20, RI = 0x40, DCD = 0x80;

function com1(): { io: IoBus; uart: Uart16550; sent: number[]; irq: boolean[] } {
  const io = new IoBus();
  const sent: number[] = [];
  const irq: boolean[] = [];
  const uart = new Uart16550({ output: (b) => sent.push(b), irq: (level) => irq.push(level) });
  uart.attach(io, BASE);
  return { io, uart, sent, irq };
}

const text = (bytes: number[]) => String.fromCharCode(...bytes);

test('after reset: no interrupt pending, transmitter empty, host modem lines present', () => {
  const { io } = com1();
  assert.equal(io.read(IIR, 1), NONE);
  assert.equal(io.read(LSR, 1), THRE | TEMT);
  assert.equal(io.read(MSR, 1), CTS | DSR | DCD);
  assert.equal(io.read(IER, 1), 0);
  assert.equal(io.read(LCR, 1), 0);
});

test('DLAB banks the divisor latch over RBR/THR and IER', () => {
  const { io, uart, sent } = com1();
  io.write(LCR, 1, 0x80);
  io.write(BASE, 1, 0x0c); // 9600 baud
  io.write(BASE + 1, 1, 0x00);
  assert.equal(io.read(BASE, 1), 0x0c);
  assert.equal(uart.divisor, 12);
  assert.deepEqual(sent, [], 'a divisor write is not transmitted');
  io.write(LCR, 1, 0x03); // 8N1, DLAB off
  assert.equal(io.read(LCR, 1), 0x03);
  io.write(IER, 1, 0xff);
  assert.equal(io.read(IER, 1), 0x0f, 'IER bits 7:4 read 0 on the 16550A');
  io.write(LCR, 1, 0x83);
  assert.equal(io.read(BASE + 1, 1), 0x00, 'the DLM was not touched by the IER write');
  assert.equal(io.read(BASE, 1), 0x0c);
});

test('THR writes reach the output in order and the transmitter stays ready', () => {
  const { io, sent } = com1();
  for (const ch of 'Hi!\n') {
    assert.equal(io.read(LSR, 1) & THRE, THRE);
    io.write(BASE, 1, ch.charCodeAt(0));
  }
  assert.equal(text(sent), 'Hi!\n');
  assert.equal(io.read(LSR, 1), THRE | TEMT);
});

test('scratch register holds a byte; MCR keeps bits 4:0', () => {
  const { io } = com1();
  io.write(SCR, 1, 0xa5);
  assert.equal(io.read(SCR, 1), 0xa5);
  io.write(MCR, 1, 0xeb);
  assert.equal(io.read(MCR, 1), 0xeb & 0x1f);
});

test('received bytes: LSR.DR while data waits; without FIFOs one byte at a time, none lost', () => {
  const { io, uart } = com1();
  uart.queueInput(Buffer.from('abc'));
  const got: number[] = [];
  while ((io.read(LSR, 1) & DR) !== 0) got.push(io.read(RBR, 1));
  assert.equal(text(got), 'abc');
  assert.equal(io.read(LSR, 1) & (DR | OE), 0);
});

test('FCR: FIFO enable shows in IIR bits 7:6; the receiver holds 16 and the host queue waits', () => {
  const { io, uart } = com1();
  io.write(FCR, 1, 0x07);
  assert.equal(io.read(IIR, 1), FIFOS | NONE);
  const input = Buffer.from('0123456789abcdefghij'); // 20 bytes, more than the FIFO
  uart.queueInput(input);
  assert.equal(uart.pendingInput, input.length - 16);
  const got: number[] = [];
  while ((io.read(LSR, 1) & DR) !== 0) got.push(io.read(RBR, 1));
  assert.equal(text(got), input.toString());
  io.write(FCR, 1, 0x00);
  assert.equal(io.read(IIR, 1), NONE);
});

test('received-data interrupt: non-FIFO at one byte; FIFO at the trigger level, timeout below it', () => {
  const { io, uart, irq } = com1();
  io.write(IER, 1, 0x01);
  assert.equal(io.read(IIR, 1), NONE);
  uart.queueInput([0x41]);
  assert.equal(io.read(IIR, 1), RDA);
  assert.deepEqual(irq, [true]);
  io.read(RBR, 1);
  assert.equal(io.read(IIR, 1), NONE);
  assert.deepEqual(irq, [true, false], 'reading RBR drops the line');

  io.write(FCR, 1, 0x41); // FIFOs on, trigger level 4 (FCR bits 7:6 = 01)
  uart.queueInput([1, 2]);
  assert.equal(io.read(IIR, 1), FIFOS | TIMEOUT, 'below the trigger: character timeout');
  uart.queueInput([3, 4, 5]);
  assert.equal(io.read(IIR, 1), FIFOS | RDA, 'at the trigger level: received data available');
  io.read(RBR, 1);
  io.read(RBR, 1);
  assert.equal(io.read(IIR, 1), FIFOS | TIMEOUT, 'three left, below four');
});

test('THRE interrupt: raised on enabling, cleared by reading IIR, raised again after each THR write', () => {
  const { io, irq, sent } = com1();
  io.write(IER, 1, 0x02);
  assert.deepEqual(irq, [true]);
  assert.equal(io.read(IIR, 1), THR_EMPTY);
  assert.deepEqual(irq, [true, false], 'reading IIR that reports THRE clears it');
  assert.equal(io.read(IIR, 1), NONE);
  io.write(BASE, 1, 0x2a);
  assert.deepEqual(sent, [0x2a]);
  assert.deepEqual(irq, [true, false, true], 'the transmitter empties again: a new rising edge');
  io.write(BASE, 1, 0x2b);
  assert.deepEqual(irq, [true, false, true, false, true], 'each byte gives the PIC a new edge');
});

test('loopback: THR feeds RBR (not the output); overrun without FIFOs; IIR priorities in order', () => {
  const { io, sent } = com1();
  io.write(MCR, 1, 0x10); // loopback, DTR/RTS/OUT1/OUT2 off
  io.write(BASE, 1, 0x78);
  io.write(BASE, 1, 0x79); // RBR still full: overrun, the new byte replaces the old
  assert.deepEqual(sent, [], 'nothing leaves the chip in loopback');
  io.write(IER, 1, 0x0f);
  // pending now: line status (OE), received data, THR empty, modem status (CTS/DSR/DCD fell)
  assert.equal(io.read(IIR, 1), RLS);
  assert.equal(io.read(LSR, 1), OE | DR | THRE | TEMT);
  assert.equal(io.read(LSR, 1) & OE, 0, 'OE clears when LSR is read');
  assert.equal(io.read(IIR, 1), RDA);
  assert.equal(io.read(RBR, 1), 0x79);
  assert.equal(io.read(IIR, 1), THR_EMPTY);
  assert.equal(io.read(IIR, 1), MODEM);
  assert.equal(io.read(MSR, 1), DCTS | DDSR | DDCD, 'inputs now low; the deltas record the change');
  assert.equal(io.read(IIR, 1), NONE);
});

test('loopback wires RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD', () => {
  const { io } = com1();
  io.write(MCR, 1, 0x10 | 0x02); // loopback + RTS
  assert.equal(io.read(MSR, 1) & 0xf0, CTS);
  io.write(MCR, 1, 0x10 | 0x01 | 0x04 | 0x08);
  assert.equal(io.read(MSR, 1) & 0xf0, DSR | RI | DCD);
  io.write(MCR, 1, 0x10 | 0x01 | 0x08); // OUT1 (RI) falls: trailing edge indicator
  assert.equal(io.read(MSR, 1) & 0x04, 0x04);
});

test('loopback with FIFOs: 16 bytes fit, the 17th is lost with OE', () => {
  const { io } = com1();
  io.write(FCR, 1, 0x01);
  io.write(MCR, 1, 0x10);
  for (let k = 0; k < 17; k++) io.write(BASE, 1, 0x30 + k);
  assert.equal(io.read(LSR, 1) & OE, OE);
  const got: number[] = [];
  while ((io.read(LSR, 1) & DR) !== 0) got.push(io.read(RBR, 1));
  assert.deepEqual(got, Array.from({ length: 16 }, (_, k) => 0x30 + k));
});

test('wider accesses become byte cycles on consecutive ports; ports beyond the UART read as all ones', () => {
  const { io } = com1();
  io.write(SCR, 1, 0x5a);
  assert.equal(io.read(LSR, 2), (THRE | TEMT) | ((CTS | DSR | DCD) << 8));
  assert.equal(io.read(MSR, 4), ((CTS | DSR | DCD) | (0x5a << 8) | 0xffff0000) >>> 0);
  io.write(SCR, 2, 0x1234); // the high byte goes nowhere
  assert.equal(io.read(SCR, 1), 0x34);
  io.write(LCR, 2, 0x0003); // LCR = 3, MCR = 0
  assert.equal(io.read(LCR, 1), 3);
});
