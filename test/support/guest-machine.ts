// Small builders for guest-program tests: a 4 GiB machine already in 64-bit long mode with
// an IDT at 0x5000, and 64-bit interrupt gates (SDM Vol. 3A, 6.14.1).
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu } from '../../src/hardware/cpu';
import { enterLongMode } from '../../src/vmm/long-mode-setup';

export const IDT_ADDRESS = 0x5000;

/** Writes a 64-bit interrupt gate (type 0xE, DPL 0) for `vector` into the IDT at `idt`. */
export function gate64(mem: PhysicalMemory, idt: number, vector: number, target: number, selector = 0x08): void {
  const at = idt + 16 * vector;
  mem.write(at, 4, ((selector << 16) | (target & 0xffff)) >>> 0);
  mem.write(at + 4, 4, ((target & 0xffff0000) | 0x8e00) >>> 0);
  mem.write(at + 8, 4, 0);
  mem.write(at + 12, 4, 0);
}

export function longModeMachine(): { mem: PhysicalMemory; cpu: Cpu } {
  const mem = new PhysicalMemory(2 ** 32);
  const cpu = new Cpu(mem);
  enterLongMode(cpu);
  cpu.idtrBase = BigInt(IDT_ADDRESS);
  cpu.idtrLimit = 256 * 16 - 1;
  return { mem, cpu };
}

/** A 16 MiB machine in 64-bit mode running `code` at `base` with RSP = 0x80000. */
export function longModeProgram(code: Uint8Array, base: number): Cpu {
  const cpu = new Cpu(new PhysicalMemory(1 << 24));
  enterLongMode(cpu);
  cpu.mem.writeBytes(base, code);
  cpu.rip = BigInt(base);
  cpu.setReg(4, 0x80000n);
  return cpu;
}
