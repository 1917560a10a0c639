// The PC's legacy devices (UART, PIT, PIC) have 8-bit data buses. A 16- or 32-bit IN/OUT to
// them is split by the ISA bridge into byte cycles on consecutive ports, low byte first; this
// adapter does the same, so wider accesses behave as on a PC instead of being refused.

import type { IoDevice } from '../../hardware/io-bus';

/** A bank of byte registers at offsets 0..count-1 from a base port. */
export interface ByteRegisters {
  readByte(offset: number): number;
  writeByte(offset: number, value: number): void;
}

/**
 * An IoDevice for `count` ports from `base`. Byte lanes that fall beyond the bank read as
 * 0xFF and their writes are dropped (nothing answers on the bus there).
 */
export function byteWide(base: number, count: number, regs: ByteRegisters): IoDevice {
  return {
    read(port: number, size: number): number {
      let value = 0;
      for (let k = 0; k < size; k++) {
        const offset = port - base + k;
        const byte = offset < count ? regs.readByte(offset) & 0xff : 0xff;
        value |= byte << (8 * k);
      }
      return value >>> 0;
    },
    write(port: number, size: number, value: number): void {
      for (let k = 0; k < size; k++) {
        const offset = port - base + k;
        if (offset < count) regs.writeByte(offset, (value >>> (8 * k)) & 0xff);
      }
    },
  };
}
