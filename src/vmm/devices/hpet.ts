// The HPET (IA-PC High Precision Event Timer, Intel's specification rev. 1.0a) as an MMIO device
// at 0xFED00000: the general capabilities and ID register, the general configuration (the
// counter runs while ENABLE_CNF is set), the interrupt status, the 64-bit main counter, and
// three timers whose configuration and comparator registers hold what the guest writes. The
// timers do not raise interrupts yet (the PIT does that for this machine); guests use the
// HPET as a clock source, which is what the main counter gives.
//
// Time is deterministic, as for the PIT: one counter tick every `instructionsPerTick` retired
// guest instructions (default 7 — about 14.318 MHz at the nominal 100 MIPS the PIT assumes).

import type { MmioDevice } from '../mmio';

export const HPET_BASE = 0xfed00000;
export const HPET_SIZE = 0x400;
/** Counter period in femtoseconds (GCAP_ID[63:32]): 10^15 / 14.31818 MHz. */
export const HPET_PERIOD_FS = 69841279;
const TIMERS = 3;

const enum Reg { GCAP_ID = 0x000, GEN_CONF = 0x010, GINTR_STA = 0x020, MAIN_COUNTER = 0x0f0, TIMER0 = 0x100 }

export class Hpet implements MmioDevice {
  readonly name = 'HPET';
  private enabled = false;
  /** Counter value at `since` (instructions) while enabled; the value itself while stopped. */
  private counterAt = 0n;
  private since = 0;
  private generalConfig = 0n;
  private interruptStatus = 0n;
  private readonly timerConfig = new BigUint64Array(TIMERS);
  private readonly comparator = new BigUint64Array(TIMERS);

  constructor(private readonly clock: () => number, private readonly instructionsPerTick = 7) {
    if (!Number.isInteger(instructionsPerTick) || instructionsPerTick < 1) throw new RangeError('instructionsPerTick must be a positive integer');
    for (let t = 0; t < TIMERS; t++) this.timerConfig[t] = 1n << 5n; // Tn_SIZE_CAP: 64-bit comparators
  }

  private counter(): bigint {
    if (!this.enabled) return this.counterAt;
    return this.counterAt + BigInt(Math.floor((this.clock() - this.since) / this.instructionsPerTick));
  }

  /** The 64-bit register at an 8-aligned offset. */
  private register(offset: number): bigint {
    switch (offset) {
      case Reg.GCAP_ID:
        // period, vendor 8086, LEG_RT_CAP 0, COUNT_SIZE_CAP 1 (64-bit), NUM_TIM_CAP = timers - 1, REV_ID 1
        return (BigInt(HPET_PERIOD_FS) << 32n) | (0x8086n << 16n) | (1n << 13n) | (BigInt(TIMERS - 1) << 8n) | 1n;
      case Reg.GEN_CONF: return this.generalConfig;
      case Reg.GINTR_STA: return this.interruptStatus;
      case Reg.MAIN_COUNTER: return this.counter();
    }
    const t = (offset - Reg.TIMER0) >> 5;
    if (offset >= Reg.TIMER0 && t < TIMERS) {
      const r = (offset - Reg.TIMER0) & 0x1f;
      if (r === 0) return this.timerConfig[t];
      if (r === 8) return this.comparator[t];
    }
    return 0n; // reserved: reads as 0
  }

  read(offset: number, size: number): bigint {
    const reg = this.register(offset & ~7);
    const shift = BigInt((offset & 7) * 8);
    return (reg >> shift) & ((1n << BigInt(size * 8)) - 1n);
  }

  write(offset: number, size: number, value: bigint): void {
    const base = offset & ~7;
    const shift = BigInt((offset & 7) * 8);
    const mask = ((1n << BigInt(size * 8)) - 1n) << shift;
    const merged = (this.register(base) & ~mask) | ((value << shift) & mask);
    switch (base) {
      case Reg.GEN_CONF: {
        const enable = (merged & 1n) !== 0n;
        if (enable !== this.enabled) {
          this.counterAt = this.counter();
          this.since = this.clock();
          this.enabled = enable;
        }
        this.generalConfig = merged & 3n;
        return;
      }
      case Reg.GINTR_STA: this.interruptStatus &= ~merged; return; // write 1 to clear
      case Reg.MAIN_COUNTER:
        // writable only while halted (specification 2.3.4)
        if (!this.enabled) this.counterAt = merged;
        return;
    }
    const t = (base - Reg.TIMER0) >> 5;
    if (base >= Reg.TIMER0 && t < TIMERS) {
      const r = (base - Reg.TIMER0) & 0x1f;
      if (r === 0) this.timerConfig[t] = (merged & 0x7f4en) | (1n << 5n); // writable bits; SIZE_CAP stays
      else if (r === 8) this.comparator[t] = merged;
    }
  }
}
