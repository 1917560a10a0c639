// A machine for privileged guest tests: the guest starts in real mode at GUEST_ORIGIN like any
// guest, and a standard prologue (written in the guest's own assembly) loads a GDT, sets
// CR0.PE and far-jumps to 32-bit code, so every test reaches protected mode the way real
// software does. Exceptions can be stopped before delivery to read vector and error code.
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu, Intercept, RunOutcome } from '../../src/hardware/cpu';
import { flatCode32, flatData32, loadGuest, quads } from './guest-asm';

export const GUEST_ORIGIN = 0x8000;
/** GDT selectors of the prologue; the test's own descriptors follow from 0x18 on. */
export const KERNEL_CS = 0x08, KERNEL_DS = 0x10, FIRST_TEST_SELECTOR = 0x18;
/** The stack the prologue sets up (ESP), below the image. */
export const PROLOGUE_ESP = 0x7000;

/**
 * Lines of a guest that enters 32-bit protected mode (CPL 0, flat DS/ES/SS/FS/GS = 0x10,
 * ESP = PROLOGUE_ESP) and runs `body` (.code32). `gdt` lists descriptors from index 3 on; the
 * labels `gdt` and `gdtr` name the table and its pseudo-descriptor; `data` follows the table.
 */
export function protectedModeGuest(body: string[], gdt: bigint[] = [], data: string[] = []): string[] {
  return [
    '.code16',
    'cli',
    'lgdt [gdtr]',
    'mov eax, cr0',
    'or eax, 1',
    'mov cr0, eax',
    `jmp ${KERNEL_CS}:pm32`,
    '.code32',
    'pm32:',
    `mov ax, ${KERNEL_DS}`,
    'mov ds, ax', 'mov es, ax', 'mov ss, ax', 'mov fs, ax', 'mov gs, ax',
    `mov esp, ${PROLOGUE_ESP}`,
    ...body,
    '.balign 8',
    'gdt:',
    ...quads([0n, flatCode32(), flatData32(), ...gdt]),
    'gdt_end:',
    '.balign 4',
    '.word 0',
    'gdtr: .word gdt_end - gdt - 1',
    '.long gdt',
    ...data,
  ];
}

export interface Machine { mem: PhysicalMemory; cpu: Cpu }

/** A CPU with `memBytes` of RAM, the guest loaded at GUEST_ORIGIN and RIP on its first byte. */
export function machine(lines: string[], memBytes = 1 << 24): Machine {
  const mem = new PhysicalMemory(memBytes);
  const cpu = new Cpu(mem);
  loadGuest(mem, lines, GUEST_ORIGIN);
  cpu.rip = BigInt(GUEST_ORIGIN);
  return { mem, cpu };
}

/** Makes `run` return an `exception` outcome (RIP at the faulting instruction) instead of delivering. */
export function stopOnExceptions(cpu: Cpu): void {
  cpu.interceptMask |= Intercept.EXCEPTION;
  cpu.hooks = { intercept: () => false, exception: () => true };
}

/** Runs a guest that stops on its first exception; returns the outcome. */
export function runToException(lines: string[], budget = 10_000): { out: RunOutcome } & Machine {
  const m = machine(lines);
  stopOnExceptions(m.cpu);
  return { out: m.cpu.run(budget), ...m };
}

/** Where `.org AT_ORIGIN_PLUS` puts the instruction a test looks at: GUEST_ORIGIN + this. */
export const PROBE_OFFSET = 0x100;
export const PROBE_ADDRESS = GUEST_ORIGIN + PROBE_OFFSET;

/** The outcome fields a test compares: kind, and for exceptions vector and error code. */
export function summary(out: RunOutcome): string {
  return out.kind === 'exception' ? `exception ${out.vector} (${out.errorCode})` : out.kind;
}
