// Shared plumbing for the emulated benchmarks: a guest program is written as assembly text
// next to its hand-encoded bytes, so the emulated figures need no assembler on the host
// (GNU as is only needed for the native comparison), while the text stays the readable
// source of truth and is what the native build assembles.
import { Cpu } from '../src/hardware/cpu';
import { PhysicalMemory } from '../src/hardware/memory';
import { enterLongMode } from '../src/vmm/long-mode-setup';

/** One instruction or label: `bytes` is empty for a label line. */
export interface AsmLine {
  asm: string;
  bytes: number[];
}

/** Thrown when a run ends wrongly; main prints it and exits non-zero. */
export class BenchError extends Error {}

/** Guest-physical layout, kept above the paging structures enterLongMode puts below 0x10000. */
export const CODE_ADDRESS = 0x10_0000;
export const DATA_ADDRESS = 0x20_0000;
export const STACK_TOP = 0x80_0000;
const MEMORY_SIZE = 16 << 20;

export const Reg = {
  rax: 0, rcx: 1, rdx: 2, rbx: 3, rsp: 4, rbp: 5, rsi: 6, rdi: 7,
  r8: 8, r9: 9, r10: 10, r11: 11, r12: 12, r13: 13, r14: 14, r15: 15,
} as const;

export function encode(lines: AsmLine[]): Uint8Array {
  return Uint8Array.from(lines.flatMap((l) => l.bytes));
}

/** A fresh CPU in 64-bit mode (paging on) with the program at CODE_ADDRESS and RIP on it. */
export function bootGuest(program: AsmLine[]): Cpu {
  const cpu = new Cpu(new PhysicalMemory(MEMORY_SIZE));
  enterLongMode(cpu);
  cpu.mem.writeBytes(CODE_ADDRESS, encode(program));
  cpu.rip = BigInt(CODE_ADDRESS);
  cpu.setReg(Reg.rsp, BigInt(STACK_TOP));
  return cpu;
}

export interface TimedRun {
  /** Instructions retired during the run (a REP string instruction counts once per chunk). */
  instructions: number;
  seconds: number;
}

/**
 * Runs until HLT and times it. Runs in slices so a guest that never halts (a broken
 * emulator) ends with an error after `maxInstructions` instead of hanging the bench.
 */
export function runToHalt(cpu: Cpu, maxInstructions: number, what: string): TimedRun {
  const slice = 50_000_000;
  const start = cpu.icount;
  const t0 = process.hrtime.bigint();
  for (;;) {
    const left = maxInstructions - (cpu.icount - start);
    if (left <= 0) throw new BenchError(`${what}: no HLT within ${maxInstructions} instructions (RIP ${hex(cpu.rip)})`);
    const outcome = cpu.run(Math.min(slice, left));
    if (outcome.kind === 'halt') break;
    if (outcome.kind !== 'budget') {
      throw new BenchError(`${what}: run ended with ${JSON.stringify(outcome)} at RIP ${hex(cpu.rip)}, expected HLT`);
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { instructions: cpu.icount - start, seconds };
}

/** Throws a BenchError unless register `reg` holds `expected`. */
export function expectReg(cpu: Cpu, reg: number, expected: bigint, what: string): void {
  const name = Object.keys(Reg).find((k) => Reg[k as keyof typeof Reg] === reg) ?? `r${reg}`;
  const actual = cpu.getReg(reg);
  if (actual !== expected) throw new BenchError(`${what}: ${name} is ${hex(actual)}, expected ${hex(expected)}`);
}

export function expectEqual(actual: bigint | number, expected: bigint | number, what: string): void {
  if (actual !== expected) throw new BenchError(`${what} is ${actual}, expected ${expected}`);
}

export function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
