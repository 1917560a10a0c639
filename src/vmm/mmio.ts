// Memory-mapped devices behind EPT: guest-physical windows that EPT leaves unmapped, so every
// guest access is an EPT violation; the VMM decodes the faulting instruction with the CPU's own
// decoder, carries out the access on the device and moves the guest past it (as KVM's MMIO
// emulation does). The MOV forms compilers and drivers use for device registers are emulated:
// MOV r/m,reg and reg,r/m (88, 89, 8A, 8B), MOV r/m,imm (C6, C7) and MOVZX (0F B6, 0F B7).

import { BufferSource, decodeInsn, DecodeMode } from '../hardware/decoder';
import { HIGH_BYTE_BASE } from '../hardware/insn';

export interface MmioDevice {
  readonly name: string;
  /** A read of `size` bytes (1, 2, 4, 8) at `offset` into the device's window. */
  read(offset: number, size: number): bigint;
  write(offset: number, size: number, value: bigint): void;
}

interface Window { base: number; size: number; device: MmioDevice }

export class MmioBus {
  private readonly windows: Window[] = [];

  map(base: number, size: number, device: MmioDevice): void {
    for (const w of this.windows) {
      if (base < w.base + w.size && w.base < base + size) throw new RangeError(`MMIO window 0x${base.toString(16)} overlaps ${w.device.name}`);
    }
    this.windows.push({ base, size, device });
  }

  find(address: number): Window | undefined {
    return this.windows.find((w) => address >= w.base && address < w.base + w.size);
  }

  get all(): readonly Window[] {
    return this.windows;
  }
}

/** The guest's general registers as the MMIO emulation reads and writes them (64-bit values). */
export interface GuestRegisters {
  get(index: number): bigint;
  set(index: number, value: bigint): void;
}

/**
 * Emulates the instruction in `code` (at guest RIP, in `mode`) that touched guest-physical
 * `gpa` inside `window`. Returns the instruction length, or a sentence saying why it cannot.
 */
export function emulateMmio(code: Uint8Array, mode: DecodeMode, gpa: number, window: Window, regs: GuestRegisters): number | string {
  let insn;
  try {
    insn = decodeInsn(new BufferSource(code), mode, 0, 0);
  } catch {
    return 'the instruction could not be decoded';
  }
  const offset = gpa - window.base;
  const dev = window.device;
  const op = insn.opcode;
  const size = insn.size;
  const regRead = (reg: number, bytes: number): bigint => {
    if (reg >= HIGH_BYTE_BASE) return (regs.get(reg - HIGH_BYTE_BASE) >> 8n) & 0xffn;
    return regs.get(reg) & ((1n << BigInt(8 * bytes)) - 1n);
  };
  const regWrite = (reg: number, bytes: number, value: bigint): void => {
    if (reg >= HIGH_BYTE_BASE) {
      const k = reg - HIGH_BYTE_BASE;
      regs.set(k, (regs.get(k) & ~0xff00n) | ((value & 0xffn) << 8n));
    } else if (bytes >= 4) {
      regs.set(reg, value & (bytes === 8 ? 0xffffffffffffffffn : 0xffffffffn)); // 32-bit writes zero-extend
    } else {
      const mask = (1n << BigInt(8 * bytes)) - 1n;
      regs.set(reg, (regs.get(reg) & ~mask) | (value & mask));
    }
  };
  if (insn.rm >= 0) return 'the instruction has no memory operand';
  switch (op) {
    case 0x88: case 0x89: dev.write(offset, size, regRead(insn.reg, size)); break;
    case 0x8a: case 0x8b: regWrite(insn.reg, size, dev.read(offset, size)); break;
    case 0xc6: case 0xc7: {
      const imm = (BigInt(insn.immHi >>> 0) << 32n) | BigInt(insn.immLo >>> 0);
      dev.write(offset, size, imm & ((1n << BigInt(8 * size)) - 1n));
      break;
    }
    case 0x0fb6: case 0x0fb7: regWrite(insn.reg, size, dev.read(offset, op === 0x0fb6 ? 1 : 2)); break;
    default: return `'${insn.mnemonic}' (opcode 0x${op.toString(16)}) on a device register is not emulated (MOV and MOVZX are)`;
  }
  return insn.len;
}
