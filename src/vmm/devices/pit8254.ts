// The 8254 programmable interval timer (Intel 8254 datasheet, order no. 231164) at ports
// 0x40-0x43, with counter 0's OUT driving IRQ 0.
//
// Time is deterministic: the PIT's CLK input advances one pulse every `instructionsPerTick`
// retired instructions, never with the host's clock. The real CLK is 1.193182 MHz; the
// default of 84 instructions per pulse is what a CPU retiring about 100 million instructions
// per second would see (1.193182e6 * 84 ≈ 100.2e6), so a 100 Hz tick (divisor 11932) comes
// every ~1 M instructions. The machine calls `advanceTo(icount)` between runs, and
// `nextEventAt()` says how far it may run before counter 0's output next rises; when the
// guest reprograms counter 0 during a run, `onReschedule` tells the machine to end the run
// early, so no tick is ever seen late.
//
// Counting follows the datasheet's mode descriptions for modes 0, 2, 3 and 4; modes 1 and 5
// wait for a rising GATE edge, and the GATE inputs are tied high here (port 0x61, which gates
// counter 2 on a PC, is not modelled), so in those modes the counter never starts. Reads see
// the time of the last `advanceTo`, or the `clock` option's answer when one is given.

import type { IoBus } from '../../hardware/io-bus';
import { byteWide, ByteRegisters } from './byte-wide';

export const PIT_PORT = 0x40;
export const PIT_IRQ = 0;
/** The 8254's input clock on a PC, in Hz. */
export const PIT_CLOCK_HZ = 1193182;
export const DEFAULT_INSTRUCTIONS_PER_TICK = 84;

/** Control word fields (datasheet, "Control Word Format"). */
const SC_READ_BACK = 3;
const RW_LATCH = 0, RW_LSB = 1, RW_MSB = 2, RW_LSB_MSB = 3;
/** Read-back command bits: COUNT and STATUS are active low. */
const RB_NO_COUNT = 0x20, RB_NO_STATUS = 0x10;
/** Status byte (read-back): OUTPUT and NULL COUNT above the control word's low six bits. */
const STATUS_OUT = 0x80, STATUS_NULL_COUNT = 0x40;

export class PitError extends Error {}

/** The counting schedule after a count was loaded at pulse `load`. */
interface Schedule {
  /** Pulse on which the count entered the counting element. */
  load: number;
  /** Initial count, 1..65536 (binary) or 1..10000 (BCD); a written 0 means the maximum. */
  count: number;
  /** Mode 3 only: pulses already elapsed in the square wave at `load` (0 or the high half). */
  phase: number;
}

/** One counter of the 8254. */
export class PitCounter {
  mode = 0;
  rw = RW_LSB_MSB;
  bcd = false;
  /** Whether the counter has a count and is counting. */
  private counting = false;
  private s: Schedule = { load: 0, count: 0x10000, phase: 0 };
  /** A count written while counting in mode 2 or 3: it takes over at its `load` pulse. */
  private next: Schedule | undefined;
  /** Value of the counting element while stopped (before the first load, mode 0's first byte). */
  private frozen = 0;
  private lowByte = 0;
  private writeHigh = false;
  private readHigh = false;
  private latched: number[] = [];
  private statusLatched = -1;

  private get modulus(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  /** Applies a pending count once its time has come. */
  private settle(t: number): void {
    if (this.next !== undefined && t >= this.next.load) {
      this.s = this.next;
      this.next = undefined;
    }
  }

  /** The counting element at pulse t. */
  element(t: number): number {
    this.settle(t);
    if (!this.counting || t < this.s.load) return this.frozen;
    const { count: n, load } = this.s;
    const e = t - load;
    const m = this.modulus;
    switch (this.mode) {
      case 2:
        return (n - (e % n)) % m;
      case 3: {
        // decrements by two; odd counts load N-1 (datasheet, mode 3)
        const high = Math.ceil(n / 2);
        const p = (e + this.s.phase) % n;
        const start = n % 2 === 0 ? n : n - 1;
        const inHalf = p < high ? p : p - high;
        return Math.max(0, start - 2 * inHalf) % m;
      }
      case 0:
      case 4:
        return ((n - e) % m + m) % m;
      default:
        return this.frozen;
    }
  }

  /** The OUT pin at pulse t. */
  out(t: number): boolean {
    this.settle(t);
    if (this.mode === 0) return this.counting && t >= this.s.load + this.s.count;
    if (!this.counting || t < this.s.load) return true;
    const { count: n, load } = this.s;
    const e = t - load;
    switch (this.mode) {
      case 2: return e % n !== n - 1;
      case 3: return (e + this.s.phase) % n < Math.ceil(n / 2);
      case 4: return e !== n;
      default: return true;
    }
  }

  /** The first pulse after t at which OUT rises, or Infinity. */
  nextRise(t: number): number {
    this.settle(t);
    const r = this.riseIn(this.s, t);
    if (this.next !== undefined && r > this.next.load) return this.riseIn(this.next, Math.max(t, this.next.load));
    return r;
  }

  private riseIn(s: Schedule, t: number): number {
    if (!this.counting) return Infinity;
    const { load, count: n } = s;
    switch (this.mode) {
      case 0: return t < load + n ? load + n : Infinity;
      case 4: return t < load + n + 1 ? load + n + 1 : Infinity;
      case 2:
      case 3: {
        // OUT rises where the period restarts: pulse load + k*n - phase, k >= 1
        if (n === 1) return Infinity; // an illegal count in both modes: OUT never rises
        const base = load - s.phase;
        const k = Math.max(1, Math.floor((t - base) / n) + 1);
        let r = base + k * n;
        if (r <= load) r += n;
        return r;
      }
      default: return Infinity;
    }
  }

  /** A new count written between pulses t and t+1 (datasheet, "Write Operations" and modes). */
  private writeCount(value: number, t: number): void {
    this.settle(t);
    const count = value === 0 ? this.modulus : value;
    const loadAt = t + 1;
    if (this.counting && (this.mode === 2 || this.mode === 3) && t >= this.s.load) {
      // a new count during counting waits for the end of the period (mode 2) or of the
      // current half-cycle (mode 3)
      this.next = this.reloadAfter(t, count);
      return;
    }
    this.next = undefined;
    this.s = { load: loadAt, count, phase: 0 };
    this.counting = this.mode !== 1 && this.mode !== 5;
  }

  private reloadAfter(t: number, count: number): Schedule {
    const { load, count: n, phase } = this.s;
    if (this.mode === 2) {
      const k = Math.floor((t - load) / n) + 1;
      return { load: load + k * n, count, phase: 0 };
    }
    const high = Math.ceil(n / 2);
    const p = (t - load + phase) % n;
    if (p < high) return { load: t + (high - p), count, phase: Math.ceil(count / 2) }; // starts low
    return { load: t + (n - p), count, phase: 0 };
  }

  readByte(t: number): number {
    if (this.statusLatched >= 0) {
      const s = this.statusLatched;
      this.statusLatched = -1;
      return s;
    }
    if (this.latched.length > 0) return this.latched.shift() as number;
    const v = this.encode(this.element(t));
    switch (this.rw) {
      case RW_LSB: return v & 0xff;
      case RW_MSB: return v >> 8;
      default: {
        const high = this.readHigh;
        this.readHigh = !high;
        return high ? v >> 8 : v & 0xff;
      }
    }
  }

  writeByte(value: number, t: number): void {
    switch (this.rw) {
      case RW_LSB:
        this.writeCount(this.decode(value), t);
        return;
      case RW_MSB:
        this.writeCount(this.decode(value << 8), t);
        return;
      default:
        if (!this.writeHigh) {
          this.lowByte = value;
          this.writeHigh = true;
          if (this.mode === 0) {
            // mode 0: writing the first byte stops the count and sets OUT low
            this.frozen = this.element(t);
            this.counting = false;
            this.next = undefined;
          }
          return;
        }
        this.writeHigh = false;
        this.writeCount(this.decode(this.lowByte | (value << 8)), t);
    }
  }

  /** Control word for this counter (SC = its number). */
  control(value: number, t: number): void {
    const rw = (value >> 4) & 3;
    if (rw === RW_LATCH) {
      this.latchCount(t);
      return;
    }
    this.frozen = this.element(t);
    this.rw = rw;
    const mode = (value >> 1) & 7;
    this.mode = mode > 5 ? mode - 4 : mode; // 6 and 7 are modes 2 and 3
    this.bcd = (value & 1) !== 0;
    this.counting = false;
    this.next = undefined;
    this.writeHigh = false;
    this.readHigh = false;
    this.latched = [];
    this.statusLatched = -1;
  }

  /** Counter latch command: a second latch before the first is read is ignored. */
  latchCount(t: number): void {
    if (this.latched.length > 0) return;
    const v = this.encode(this.element(t));
    if (this.rw === RW_LSB) this.latched = [v & 0xff];
    else if (this.rw === RW_MSB) this.latched = [v >> 8];
    else this.latched = [v & 0xff, v >> 8];
  }

  latchStatus(t: number): void {
    if (this.statusLatched >= 0) return;
    this.settle(t);
    // NULL COUNT: a count was written (or a control word) that has not reached the counting element
    const nullCount = !this.counting || t < this.s.load || this.next !== undefined;
    this.statusLatched = (this.out(t) ? STATUS_OUT : 0) | (nullCount ? STATUS_NULL_COUNT : 0)
      | (this.rw << 4) | (this.mode << 1) | (this.bcd ? 1 : 0);
  }

  private encode(v: number): number {
    if (!this.bcd) return v & 0xffff;
    return ((Math.floor(v / 1000) % 10) << 12) | ((Math.floor(v / 100) % 10) << 8) | ((Math.floor(v / 10) % 10) << 4) | (v % 10);
  }

  private decode(v: number): number {
    if (!this.bcd) return v;
    // digits above 9 are not valid BCD; the part counts them as their binary weight
    return ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);
  }
}

export interface PitOptions {
  /** Retired instructions per CLK pulse (a positive integer). */
  instructionsPerTick?: number;
  /** Counter 0's OUT, i.e. IRQ 0; called when the level changes (and low-high for a pulse). */
  irq?: (level: boolean) => void;
  /** The current instruction count, consulted on port accesses. */
  clock?: () => number;
  /**
   * Called when the guest reprogrammed counter 0, so `nextEventAt()` may have moved: a run
   * loop that sliced its run to the old value should end the slice (e.g. cpu.requestStop()).
   */
  onReschedule?: () => void;
}

export class Pit8254 implements ByteRegisters {
  readonly counters = [new PitCounter(), new PitCounter(), new PitCounter()];
  readonly instructionsPerTick: number;
  private tick = 0;
  /** Counter 0 starts in mode 0 without a count: OUT low. */
  private irqLevel = false;
  private readonly irq: (level: boolean) => void;
  private readonly clock: (() => number) | undefined;
  private readonly onReschedule: () => void;

  constructor(options: PitOptions = {}) {
    const ipt = options.instructionsPerTick ?? DEFAULT_INSTRUCTIONS_PER_TICK;
    if (!Number.isInteger(ipt) || ipt < 1) throw new PitError(`instructionsPerTick must be a positive integer, not ${ipt}`);
    this.instructionsPerTick = ipt;
    this.irq = options.irq ?? (() => undefined);
    this.clock = options.clock;
    this.onReschedule = options.onReschedule ?? (() => undefined);
  }

  attach(io: IoBus): void {
    io.register(PIT_PORT, 4, 'PIT (8254)', byteWide(PIT_PORT, 4, this));
  }

  /** CLK pulses so far. */
  get ticks(): number {
    return this.tick;
  }

  /** Moves time to `icount` retired instructions; raises IRQ 0 for a rising OUT0 on the way. */
  advanceTo(icount: number): void {
    const t = Math.floor(icount / this.instructionsPerTick);
    if (t <= this.tick) return;
    const c0 = this.counters[0];
    const rose = c0.nextRise(this.tick) <= t;
    this.tick = t;
    if (rose) {
      if (this.irqLevel) this.irq(false); // a whole pulse passed: show the PIC its edge
      this.irqLevel = true;
      this.irq(true);
    }
    this.setIrq(c0.out(t));
  }

  /** The instruction count at which counter 0's output next rises (Infinity if never). */
  nextEventAt(): number {
    const r = this.counters[0].nextRise(this.tick);
    return r === Infinity ? Infinity : r * this.instructionsPerTick;
  }

  readByte(offset: number): number {
    this.sync();
    if (offset === 3) return 0xff; // the control register is write-only
    return this.counters[offset].readByte(this.tick);
  }

  writeByte(offset: number, value: number): void {
    this.sync();
    const t = this.tick;
    if (offset < 3) {
      this.counters[offset].writeByte(value, t);
    } else if ((value >> 6) === SC_READ_BACK) {
      for (let n = 0; n < 3; n++) {
        if ((value & (2 << n)) === 0) continue;
        // status first: the datasheet returns it before the count when both are latched
        if ((value & RB_NO_STATUS) === 0) this.counters[n].latchStatus(t);
        if ((value & RB_NO_COUNT) === 0) this.counters[n].latchCount(t);
      }
    } else {
      this.counters[value >> 6].control(value, t);
    }
    this.setIrq(this.counters[0].out(t));
    if (offset === 0 || (offset === 3 && (value >> 6) === 0)) this.onReschedule();
  }

  private sync(): void {
    if (this.clock !== undefined) this.advanceTo(this.clock());
  }

  private setIrq(level: boolean): void {
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    this.irq(level);
  }
}
