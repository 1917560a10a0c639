// The PC's two 8259A programmable interrupt controllers: the master at ports 0x20/0x21 takes
// IRQ 0-7, the slave at 0xA0/0xA1 takes IRQ 8-15 and signals the master on its IR2 input.
// Register semantics follow the Intel 8259A datasheet (order no. 231468): the ICW1-ICW4
// initialisation sequence, OCW1 (mask), OCW2 (EOI, rotation) and OCW3 (read IRR/ISR, poll,
// special mask mode).
//
// One deliberate difference from the datasheet: an edge-triggered request stays latched in
// the IRR until it is acknowledged even if the line falls again first (the datasheet asks the
// line to stay high until INTA). QEMU behaves the same way; it keeps a timer tick from being
// lost when the machine happens to observe the PIT's pulse as a whole.

import type { IoBus } from '../../hardware/io-bus';
import { byteWide, ByteRegisters } from './byte-wide';

/** I/O ports of the pair on a PC. */
export const PIC_MASTER_PORT = 0x20;
export const PIC_SLAVE_PORT = 0xa0;
/** The master input that the slave's INT output drives. */
export const PIC_CASCADE_IRQ = 2;
/** The level reported for a request that vanished before INTA (datasheet: "default IR7"). */
const SPURIOUS_LEVEL = 7;

/** Command-word bits (datasheet, "Initialization Command Words" and "Operation Command Words"). */
const ICW1 = 0x10, ICW1_IC4 = 0x01, ICW1_SNGL = 0x02, ICW1_LTIM = 0x08;
const ICW4_AEOI = 0x02, ICW4_SFNM = 0x10;
const OCW3 = 0x08, OCW3_RIS = 0x01, OCW3_RR = 0x02, OCW3_P = 0x04, OCW3_SMM = 0x20, OCW3_ESMM = 0x40;
/** OCW2 R/SL/EOI field (bits 7:5). */
const enum Ocw2 {
  ClearRotateAeoi = 0, NonSpecificEoi = 1, Nop = 2, SpecificEoi = 3,
  SetRotateAeoi = 4, RotateNonSpecificEoi = 5, SetPriority = 6, RotateSpecificEoi = 7,
}

/** Which initialisation word the chip expects next on its odd port. */
const enum Init { Ready, Icw2, Icw3, Icw4 }

/** Bad use of the controller by the machine (not by the guest, whose writes are all accepted). */
export class PicError extends Error {}

/** One 8259A. */
export class Pic8259Chip implements ByteRegisters {
  /** Interrupt request, in-service and mask registers. */
  irr = 0;
  isr = 0;
  imr = 0;
  /** ICW2: the vector of IR0 (bits 7:3). */
  vectorBase = 0;
  /** ICW3: on the master, which inputs have slaves; on a slave, its identity. */
  icw3 = 0;
  levelTriggered = false;
  autoEoi = false;
  specialFullyNested = false;
  specialMask = false;
  rotateOnAutoEoi = false;
  /** The input with the lowest priority; IR(lowest+1) has the highest. Fixed priority: 7. */
  lowestPriority = 7;
  /** Current levels of the IR inputs (for edge detection). */
  private lines = 0;
  private init = Init.Ready;
  private single = false;
  private needIcw4 = false;
  private readIsr = false;
  private pollNext = false;

  constructor(readonly isMaster: boolean, private readonly changed: () => void) {}

  /** Priority rank of an input: 0 is the highest. */
  private rank(irq: number): number {
    return (irq - this.lowestPriority - 1) & 7;
  }

  /** The highest-priority input whose bit is set in `bits`, or -1. */
  private highest(bits: number): number {
    if (bits === 0) return -1; // the usual answer, asked at every instruction boundary of a VMX guest
    for (let k = 0; k < 8; k++) {
      const irq = (this.lowestPriority + 1 + k) & 7;
      if ((bits & (1 << irq)) !== 0) return irq;
    }
    return -1;
  }

  /** Whether this chip treats input `irq` as a cascade from a slave. */
  hasSlaveOn(irq: number): boolean {
    return this.isMaster && !this.single && (this.icw3 & (1 << irq)) !== 0;
  }

  /** The input the chip would interrupt for now: unmasked, above everything in service. */
  request(): number {
    const top = this.highest(this.irr & ~this.imr);
    if (top < 0) return -1;
    // special mask mode: in-service levels no longer hold back others (only masks do)
    let blocking = this.specialMask ? 0 : this.isr;
    // special fully nested mode: a slave's higher-priority request may interrupt its own level
    if (this.specialFullyNested && this.hasSlaveOn(top)) blocking &= ~(1 << top);
    const current = this.highest(blocking);
    return current >= 0 && this.rank(current) <= this.rank(top) ? -1 : top;
  }

  /** INTA: moves the request to in-service. Returns the input, or -1 (spurious). */
  acknowledge(): number {
    const irq = this.request();
    if (irq < 0) return -1;
    const bit = 1 << irq;
    if (!this.levelTriggered || (this.lines & bit) === 0) this.irr &= ~bit;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.lowestPriority = irq;
    } else {
      this.isr |= bit;
    }
    return irq;
  }

  setLine(irq: number, level: boolean): void {
    const bit = 1 << irq;
    if (level) {
      if ((this.lines & bit) === 0 || this.levelTriggered) this.irr |= bit;
      this.lines |= bit;
    } else {
      this.lines &= ~bit;
      if (this.levelTriggered) this.irr &= ~bit;
    }
  }

  readByte(offset: number): number {
    if (offset === 1) return this.imr;
    if (this.pollNext) {
      // poll command: the read is the acknowledge (datasheet, "The Poll Command")
      this.pollNext = false;
      const irq = this.acknowledge();
      this.changed();
      return irq < 0 ? 0 : 0x80 | irq;
    }
    return this.readIsr ? this.isr : this.irr;
  }

  writeByte(offset: number, value: number): void {
    if (offset === 0) {
      if ((value & ICW1) !== 0) this.icw1(value);
      else if ((value & OCW3) !== 0) this.ocw3(value);
      else this.ocw2(value);
    } else {
      switch (this.init) {
        case Init.Icw2:
          this.vectorBase = value & 0xf8;
          this.init = this.single ? (this.needIcw4 ? Init.Icw4 : Init.Ready) : Init.Icw3;
          break;
        case Init.Icw3:
          this.icw3 = value;
          this.init = this.needIcw4 ? Init.Icw4 : Init.Ready;
          break;
        case Init.Icw4:
          this.autoEoi = (value & ICW4_AEOI) !== 0;
          this.specialFullyNested = (value & ICW4_SFNM) !== 0;
          this.init = Init.Ready;
          break;
        default:
          this.imr = value; // OCW1
      }
    }
    this.changed();
  }

  private icw1(value: number): void {
    // datasheet: edge sense reset (a high input must fall and rise again), IMR cleared, IR7
    // lowest priority, special mask mode off, reads return the IRR, ICW4 functions zero
    this.init = Init.Icw2;
    this.needIcw4 = (value & ICW1_IC4) !== 0;
    this.single = (value & ICW1_SNGL) !== 0;
    this.levelTriggered = (value & ICW1_LTIM) !== 0;
    this.irr = this.levelTriggered ? this.lines : 0;
    this.isr = 0;
    this.imr = 0;
    this.lowestPriority = 7;
    this.specialMask = false;
    this.readIsr = false;
    this.pollNext = false;
    this.autoEoi = false;
    this.specialFullyNested = false;
    this.rotateOnAutoEoi = false;
  }

  private ocw2(value: number): void {
    const level = value & 7;
    switch ((value >> 5) as Ocw2) {
      case Ocw2.NonSpecificEoi:
      case Ocw2.RotateNonSpecificEoi: {
        const irq = this.highest(this.isr);
        if (irq < 0) return;
        this.isr &= ~(1 << irq);
        if ((value >> 5) === Ocw2.RotateNonSpecificEoi) this.lowestPriority = irq;
        return;
      }
      case Ocw2.SpecificEoi:
        this.isr &= ~(1 << level);
        return;
      case Ocw2.RotateSpecificEoi:
        this.isr &= ~(1 << level);
        this.lowestPriority = level;
        return;
      case Ocw2.SetPriority:
        this.lowestPriority = level;
        return;
      case Ocw2.SetRotateAeoi:
        this.rotateOnAutoEoi = true;
        return;
      case Ocw2.ClearRotateAeoi:
        this.rotateOnAutoEoi = false;
        return;
      default:
        return; // no operation
    }
  }

  private ocw3(value: number): void {
    if ((value & OCW3_ESMM) !== 0) this.specialMask = (value & OCW3_SMM) !== 0;
    if ((value & OCW3_RR) !== 0) this.readIsr = (value & OCW3_RIS) !== 0;
    this.pollNext = (value & OCW3_P) !== 0;
  }
}

/** The master/slave pair as wired on a PC: the slave's INT drives master IR2. */
export class Pic8259 {
  readonly master: Pic8259Chip;
  readonly slave: Pic8259Chip;
  /** Called whenever the pending request may have changed (the CPU's INTR input). */
  onChange: (() => void) | undefined;

  constructor() {
    this.master = new Pic8259Chip(true, () => this.update());
    this.slave = new Pic8259Chip(false, () => this.update());
  }

  attach(io: IoBus): void {
    io.register(PIC_MASTER_PORT, 2, 'PIC master (8259A)', byteWide(PIC_MASTER_PORT, 2, this.master));
    io.register(PIC_SLAVE_PORT, 2, 'PIC slave (8259A)', byteWide(PIC_SLAVE_PORT, 2, this.slave));
  }

  raiseIrq(n: number): void {
    this.setIrq(n, true);
  }

  lowerIrq(n: number): void {
    this.setIrq(n, false);
  }

  setIrq(n: number, level: boolean): void {
    if (!Number.isInteger(n) || n < 0 || n > 15) throw new PicError(`IRQ ${n} does not exist: the 8259A pair has IRQ 0-15`);
    if (n === PIC_CASCADE_IRQ) throw new PicError('IRQ 2 is the cascade input from the slave PIC; ISA devices wired to IRQ 2 use IRQ 9');
    if (n < 8) this.master.setLine(n, level); else this.slave.setLine(n - 8, level);
    this.update();
  }

  /** The vector INTA would return now, or -1 when the INT output is low. */
  pendingVector(): number {
    const m = this.master.request();
    if (m < 0) return -1;
    if (!this.master.hasSlaveOn(m)) return this.master.vectorBase | m;
    const s = this.slave.request();
    return this.slave.vectorBase | (s < 0 ? SPURIOUS_LEVEL : s);
  }

  /**
   * The INTA cycle: the highest request moves from IRR to ISR and its vector is returned. A
   * request that is no longer there gives IR7's vector without setting ISR (IR15's on the
   * slave, whose master input 2 is still acknowledged), as the datasheet describes.
   */
  acknowledge(): number {
    const m = this.master.acknowledge();
    let vector: number;
    if (m < 0) {
      vector = this.master.vectorBase | SPURIOUS_LEVEL;
    } else if (this.master.hasSlaveOn(m)) {
      const s = this.slave.acknowledge();
      vector = this.slave.vectorBase | (s < 0 ? SPURIOUS_LEVEL : s);
    } else {
      vector = this.master.vectorBase | m;
    }
    this.update();
    return vector;
  }

  private updating = false;

  /** Propagates the slave's INT output to master IR2, then tells the CPU side. */
  private update(): void {
    if (this.updating) return;
    this.updating = true;
    try {
      this.master.setLine(PIC_CASCADE_IRQ, this.slave.request() >= 0);
      this.onChange?.();
    } finally {
      this.updating = false;
    }
  }
}
