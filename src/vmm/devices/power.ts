// Ways for a guest to end the machine, compatible with what guests written for QEMU and for
// x86_vcpu-based hypervisors already do:
//
// - ACPI PM1a control register at port 0x604 (QEMU's ICH9/q35 PM base 0x600 + 4, which
//   x86_vcpu-based hypervisors also treat as shutdown): a 16-bit write with SLP_EN (bit 13,
//   value 0x2000) powers the machine off with exit code 0. No sleep states are modelled, so
//   every SLP_TYP means soft off (S5). SLP_EN is write-only and reads as 0 (ACPI spec,
//   "PM1 Control Registers"); the other bits read back as written.
// - isa-debug-exit at port 0xF4: a write of value v ends the machine with exit code
//   (v << 1) | 1, exactly as QEMU's `-device isa-debug-exit` does, so a guest's test harness
//   can tell its own exit codes (always odd) from QEMU's or ours (0). Like QEMU, the value is
//   what the access carried (8, 16 or 32 bits). A process exit status only keeps the low 8
//   bits of that, as with QEMU.

import type { IoBus } from '../../hardware/io-bus';

export const PM1A_CNT_PORT = 0x604;
export const PM1_CNT_SLP_EN = 0x2000;
export const DEBUG_EXIT_PORT = 0xf4;

export interface ShutdownEvent {
  reason: 'poweroff' | 'debug-exit';
  exitCode: number;
}

export type ShutdownHandler = (event: ShutdownEvent) => void;

/** The ACPI PM1a control register (16 bits at 0x604-0x605). */
export class AcpiPm1Control {
  value = 0;

  constructor(private readonly onShutdown: ShutdownHandler) {}

  attach(io: IoBus, port = PM1A_CNT_PORT): void {
    io.register(port, 2, 'ACPI PM1a control', {
      read: (p, size) => {
        // byte reads see their half of the register; wider reads see it whole
        const v = this.value & ~PM1_CNT_SLP_EN;
        return p === port + 1 ? v >> 8 : size === 1 ? v & 0xff : v;
      },
      write: (p, size, v) => this.write(p - port, size, v),
    });
  }

  private write(offset: number, size: number, v: number): void {
    // the register is 16 bits wide (ACPI PM1_CNT_LEN = 2); byte writes update their half only,
    if (size === 1) {
      // and never power off: the sleep command is a 16-bit write
      this.value = offset === 0 ? (this.value & 0xff00) | (v & 0xff) : (this.value & 0xff) | ((v & 0xff) << 8);
      this.value &= ~PM1_CNT_SLP_EN;
      return;
    }
    if (offset !== 0) return;
    this.value = v & 0xffff & ~PM1_CNT_SLP_EN;
    if ((v & PM1_CNT_SLP_EN) !== 0) this.onShutdown({ reason: 'poweroff', exitCode: 0 });
  }
}

/** QEMU's isa-debug-exit device (one port, 0xF4 by default). */
export class DebugExit {
  constructor(private readonly onShutdown: ShutdownHandler) {}

  attach(io: IoBus, port = DEBUG_EXIT_PORT): void {
    io.register(port, 1, 'isa-debug-exit', {
      read: () => 0, // QEMU's device reads as 0 as well
      write: (_p, size, v) => {
        const value = size === 4 ? v >>> 0 : v & ((1 << (8 * size)) - 1);
        // (v << 1) | 1 exceeds 32 bits for large 32-bit values: computed without bit operators
        this.onShutdown({ reason: 'debug-exit', exitCode: value * 2 + 1 });
      },
    });
  }
}
