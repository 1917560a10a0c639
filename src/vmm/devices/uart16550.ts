// A 16550A UART (National Semiconductor PC16550D datasheet): the serial port a guest prints
// on. Transmission takes no time: a byte written to THR reaches the output callback at once,
// so THR and the transmitter are always empty (LSR.THRE and LSR.TEMT read 1) and the baud
// rate only matters to the guest. Bytes for the guest queue on the host side and enter the
// receiver as it has room (1 byte, or 16 with the FIFOs on), as if the sender respected flow
// control; so received data is never overrun. Overrun can only happen in loopback mode, where
// the guest's own bytes arrive and may find the receiver full.
//
// Since no serial time passes, the FIFO character timeout (4 character times without a new
// byte) is taken to have expired as soon as the FIFO holds bytes below its trigger level.
//
// The interrupt output follows IER and the IIR priorities of the datasheet (Table 4). The PC's
// OUT2 gate between the UART and the PIC is not modelled (QEMU does not model it either), so
// guests written for QEMU behave the same here.

import type { IoBus } from '../../hardware/io-bus';
import { byteWide, ByteRegisters } from './byte-wide';

/** COM1 on a PC. */
export const COM1_PORT = 0x3f8;
export const COM1_IRQ = 4;
export const UART_PORT_COUNT = 8;

/** Register offsets from the base port (datasheet Table 2; DLAB = LCR bit 7). */
export const enum UartReg {
  /** RBR (read) / THR (write); DLL when DLAB = 1. */
  Data = 0,
  /** IER; DLM when DLAB = 1. */
  Ier = 1,
  /** IIR (read) / FCR (write). */
  IirFcr = 2,
  Lcr = 3,
  Mcr = 4,
  Lsr = 5,
  Msr = 6,
  Scr = 7,
}

export const IER_RDA = 0x01, IER_THRE = 0x02, IER_RLS = 0x04, IER_MS = 0x08;
export const LCR_DLAB = 0x80;
export const MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
export const LSR_DR = 0x01, LSR_OE = 0x02, LSR_THRE = 0x20, LSR_TEMT = 0x40;
export const MSR_DCTS = 0x01, MSR_DDSR = 0x02, MSR_TERI = 0x04, MSR_DDCD = 0x08;
export const MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;
export const FCR_ENABLE = 0x01, FCR_CLEAR_RX = 0x02, FCR_CLEAR_TX = 0x04;

/** IIR values by priority (datasheet Table 4); bit 0 set means "no interrupt pending". */
export const enum Iir {
  None = 0x01,
  LineStatus = 0x06,
  ReceivedData = 0x04,
  CharacterTimeout = 0x0c,
  ThrEmpty = 0x02,
  ModemStatus = 0x00,
}
/** IIR bits 7:6 read 11 when the FIFOs are enabled. */
export const IIR_FIFO_ENABLED = 0xc0;
/** Receiver FIFO trigger levels selected by FCR bits 7:6. */
const RX_TRIGGER = [1, 4, 8, 14] as const;
const FIFO_SIZE = 16;
/** Modem inputs when not in loopback: the host end is always there (CTS, DSR, DCD). */
const MSR_CONNECTED = MSR_CTS | MSR_DSR | MSR_DCD;

export interface UartOptions {
  /** Receives every byte the guest transmits (not in loopback mode). */
  output?: (byte: number) => void;
  /** The interrupt output; called when its level changes. */
  irq?: (level: boolean) => void;
}

export class Uart16550 implements ByteRegisters {
  ier = 0;
  lcr = 0;
  mcr = 0;
  scr = 0;
  dll = 0;
  dlm = 0;
  fifoEnabled = false;
  private rxTrigger = 1;
  /** Receiver buffer (RBR or the receiver FIFO) as a ring. */
  private readonly rx = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  /** Bytes the host has queued that have not entered the receiver yet. */
  private readonly hostInput: number[] = [];
  private overrun = false;
  private thrInterrupt = false;
  /** MSR: modem inputs (bits 7:4) and their change bits (3:0). */
  private msr = MSR_CONNECTED;
  private irqLevel = false;
  private readonly output: (byte: number) => void;
  private readonly irq: (level: boolean) => void;

  constructor(options: UartOptions = {}) {
    this.output = options.output ?? (() => undefined);
    this.irq = options.irq ?? (() => undefined);
  }

  attach(io: IoBus, base = COM1_PORT, name = 'COM1 (16550A)'): void {
    io.register(base, UART_PORT_COUNT, name, byteWide(base, UART_PORT_COUNT, this));
  }

  /** Divisor latch value (baud = 115200 / divisor). */
  get divisor(): number {
    return (this.dlm << 8) | this.dll;
  }

  /** Queues bytes for the guest to receive (a console typing into the serial port). */
  queueInput(bytes: Iterable<number>): void {
    for (const b of bytes) this.hostInput.push(b & 0xff);
    this.refill();
    this.updateIrq();
  }

  /** Bytes queued by the host that the guest has not received yet (not counting the receiver). */
  get pendingInput(): number {
    return this.hostInput.length;
  }

  readByte(offset: number): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset as UartReg) {
      case UartReg.Data:
        return dlab ? this.dll : this.readRbr();
      case UartReg.Ier:
        return dlab ? this.dlm : this.ier;
      case UartReg.IirFcr:
        return this.readIir();
      case UartReg.Lcr:
        return this.lcr;
      case UartReg.Mcr:
        return this.mcr;
      case UartReg.Lsr:
        return this.readLsr();
      case UartReg.Msr: {
        const v = this.msr;
        this.msr &= 0xf0;
        this.updateIrq();
        return v;
      }
      default:
        return this.scr;
    }
  }

  writeByte(offset: number, value: number): void {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset as UartReg) {
      case UartReg.Data:
        if (dlab) this.dll = value; else this.transmit(value);
        break;
      case UartReg.Ier:
        if (dlab) {
          this.dlm = value;
        } else {
          // enabling the THRE interrupt while THR is empty (always, here) raises it at once
          if ((value & IER_THRE) !== 0 && (this.ier & IER_THRE) === 0) this.thrInterrupt = true;
          this.ier = value & 0x0f;
        }
        break;
      case UartReg.IirFcr:
        this.writeFcr(value);
        break;
      case UartReg.Lcr:
        this.lcr = value;
        break;
      case UartReg.Mcr:
        this.mcr = value & 0x1f;
        this.updateModemInputs();
        this.refill();
        break;
      case UartReg.Lsr:
      case UartReg.Msr:
        break; // read-only (factory test on some parts)
      default:
        this.scr = value;
    }
    this.updateIrq();
  }

  private get loopback(): boolean {
    return (this.mcr & MCR_LOOP) !== 0;
  }

  private get rxCapacity(): number {
    return this.fifoEnabled ? FIFO_SIZE : 1;
  }

  private transmit(value: number): void {
    // writing THR clears the THRE interrupt; the byte leaves at once and THR is empty again,
    // which raises it anew: the line drops and rises, so an edge-triggered PIC sees a new edge
    this.thrInterrupt = false;
    this.updateIrq();
    if (this.loopback) this.receive(value); else this.output(value);
    this.thrInterrupt = true;
  }

  /** A byte arrives from the receiver's serial input. */
  private receive(value: number): void {
    if (this.rxCount < this.rxCapacity) {
      this.rx[(this.rxHead + this.rxCount) % FIFO_SIZE] = value;
      this.rxCount++;
      return;
    }
    this.overrun = true;
    // without FIFOs the new character overwrites RBR; with them it is lost (datasheet, LSR1)
    if (!this.fifoEnabled) this.rx[this.rxHead] = value;
  }

  /** Moves host-queued bytes into the receiver while it has room (not in loopback). */
  private refill(): void {
    if (this.loopback) return;
    while (this.hostInput.length > 0 && this.rxCount < this.rxCapacity) this.receive(this.hostInput.shift() as number);
  }

  private readRbr(): number {
    if (this.rxCount === 0) return this.rx[this.rxHead]; // RBR keeps its last value
    const v = this.rx[this.rxHead];
    this.rxCount--;
    if (this.rxCount > 0) this.rxHead = (this.rxHead + 1) % FIFO_SIZE;
    this.refill();
    this.updateIrq();
    return v;
  }

  private readLsr(): number {
    let v = LSR_THRE | LSR_TEMT;
    if (this.rxCount > 0) v |= LSR_DR;
    if (this.overrun) v |= LSR_OE;
    this.overrun = false; // error bits clear on read
    this.updateIrq();
    return v;
  }

  private readIir(): number {
    const id = this.interruptId();
    if (id === Iir.ThrEmpty) {
      // reading IIR while it reports THRE clears that interrupt
      this.thrInterrupt = false;
      this.updateIrq();
    }
    return id | (this.fifoEnabled ? IIR_FIFO_ENABLED : 0);
  }

  private writeFcr(value: number): void {
    const enable = (value & FCR_ENABLE) !== 0;
    if (enable !== this.fifoEnabled) {
      // changing the FIFO enable clears both FIFOs
      this.fifoEnabled = enable;
      this.rxCount = 0;
    }
    if (!enable) {
      this.refill();
      return; // the other FCR bits are only written together with FCR0 = 1
    }
    if ((value & FCR_CLEAR_RX) !== 0) this.rxCount = 0;
    this.rxTrigger = RX_TRIGGER[value >> 6];
    this.refill();
  }

  /** The highest-priority enabled interrupt (datasheet Table 4), or Iir.None. */
  interruptId(): Iir {
    const ier = this.ier;
    if ((ier & IER_RLS) !== 0 && this.overrun) return Iir.LineStatus;
    if ((ier & IER_RDA) !== 0 && this.rxCount > 0) {
      if (!this.fifoEnabled || this.rxCount >= this.rxTrigger) return Iir.ReceivedData;
      return Iir.CharacterTimeout;
    }
    if ((ier & IER_THRE) !== 0 && this.thrInterrupt) return Iir.ThrEmpty;
    if ((ier & IER_MS) !== 0 && (this.msr & 0x0f) !== 0) return Iir.ModemStatus;
    return Iir.None;
  }

  /** Modem inputs: the host's constant ones, or in loopback the MCR outputs fed back. */
  private updateModemInputs(): void {
    const m = this.mcr;
    const now = this.loopback
      ? ((m & MCR_RTS) !== 0 ? MSR_CTS : 0) | ((m & MCR_DTR) !== 0 ? MSR_DSR : 0)
        | ((m & MCR_OUT1) !== 0 ? MSR_RI : 0) | ((m & MCR_OUT2) !== 0 ? MSR_DCD : 0)
      : MSR_CONNECTED;
    const was = this.msr & 0xf0;
    const changed = was ^ now;
    let delta = this.msr & 0x0f;
    if ((changed & MSR_CTS) !== 0) delta |= MSR_DCTS;
    if ((changed & MSR_DSR) !== 0) delta |= MSR_DDSR;
    if ((was & MSR_RI) !== 0 && (now & MSR_RI) === 0) delta |= MSR_TERI; // trailing edge only
    if ((changed & MSR_DCD) !== 0) delta |= MSR_DDCD;
    this.msr = now | delta;
  }

  private updateIrq(): void {
    const level = this.interruptId() !== Iir.None;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq(level);
    }
  }
}
