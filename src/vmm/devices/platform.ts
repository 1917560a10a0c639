// The PC devices of the machine, attached to the CPU's I/O bus and wired together as on a
// PC: COM1 (16550A at 0x3F8) on IRQ 4 and the PIT (8254 at 0x40) on IRQ 0 of the 8259A
// pair, plus the power-off ports (ACPI PM1a control at 0x604, isa-debug-exit at 0xF4).
//
// The run loop of the machine owns time: it runs the CPU at most up to `nextEventAt()`
// (ending the run early when `onReschedule` fires), then calls `advanceTo(cpu.icount)`, and
// asks the PIC for `pendingVector()` when the CPU can take an interrupt.

import type { IoBus } from '../../hardware/io-bus';
import { Pic8259 } from './pic8259';
import { Pit8254, PIT_IRQ } from './pit8254';
import { AcpiPm1Control, DebugExit, ShutdownHandler } from './power';
import { COM1_IRQ, COM1_PORT, Uart16550 } from './uart16550';

export interface PlatformOptions {
  /** Every byte the guest sends on COM1. */
  com1Output?: (byte: number) => void;
  /** The guest asked to end the machine (power-off or isa-debug-exit). */
  onShutdown?: ShutdownHandler;
  /** Retired instructions per PIT clock pulse (see pit8254.ts). */
  instructionsPerPitTick?: number;
  /**
   * The current instruction count, so that PIT reads between `advanceTo` calls see time pass.
   * `() => cpu.icount` will do: the Cpu counts at block ends, so a read sees the count at the
   * start of its decoded block (deterministic, at most a block early).
   */
  clock?: () => number;
  /** `nextEventAt()` may have moved (the guest reprogrammed the PIT): end the current slice. */
  onReschedule?: () => void;
}

export class Platform {
  readonly pic = new Pic8259();
  readonly pit: Pit8254;
  readonly com1: Uart16550;
  readonly pm1Control: AcpiPm1Control;
  readonly debugExit: DebugExit;

  constructor(io: IoBus, options: PlatformOptions = {}) {
    const shutdown: ShutdownHandler = options.onShutdown ?? (() => undefined);
    this.pit = new Pit8254({
      instructionsPerTick: options.instructionsPerPitTick,
      clock: options.clock,
      onReschedule: options.onReschedule,
      irq: (level) => this.pic.setIrq(PIT_IRQ, level),
    });
    this.com1 = new Uart16550({ output: options.com1Output, irq: (level) => this.pic.setIrq(COM1_IRQ, level) });
    this.pm1Control = new AcpiPm1Control(shutdown);
    this.debugExit = new DebugExit(shutdown);
    this.pic.attach(io);
    this.pit.attach(io);
    this.com1.attach(io, COM1_PORT);
    this.pm1Control.attach(io);
    this.debugExit.attach(io);
  }

  /** Brings the devices' time up to `icount` retired instructions. */
  advanceTo(icount: number): void {
    this.pit.advanceTo(icount);
  }

  /** The instruction count of the next device event (Infinity if none is scheduled). */
  nextEventAt(): number {
    return this.pit.nextEventAt();
  }
}
