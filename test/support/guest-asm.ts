// Guest programs for privileged tests: Intel-syntax text assembled by GNU as and linked by GNU
// ld into a flat image at a chosen address, so labels have absolute addresses (far jumps,
// descriptor tables, page tables and TSSs written as data next to the code). Mode directives
// (.code16, .code32, .code64) switch the encoding inside one image.
//
// Also: x86 descriptor encoders (SDM Vol. 3A, 3.4.5 segment descriptors, 5.8.3 call gates,
// 6.11 IDT gates, 8.2.2 TSS descriptors), used to write the tables the tests choose.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PhysicalMemory } from '../../src/hardware/memory';

/** Assembles `lines` (Intel syntax) and links them at `origin`; returns the flat image. */
export function assembleGuest(lines: string[], origin: number): Uint8Array {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-debug-guest-'));
  try {
    const s = path.join(dir, 'g.s'), o = path.join(dir, 'g.o'), bin = path.join(dir, 'g.bin');
    fs.writeFileSync(s, ['.intel_syntax noprefix', '.text', ...lines].join('\n') + '\n');
    const a = spawnSync('as', ['--64', '-o', o, s], { encoding: 'utf8' });
    if (a.status !== 0) throw new Error(`assembleGuest: as failed:\n${a.stderr}${a.error?.message ?? ''}`);
    const l = spawnSync('ld', ['-m', 'elf_x86_64', '-Ttext', `0x${origin.toString(16)}`, '-e', `0x${origin.toString(16)}`,
      '--oformat', 'binary', '-o', bin, o], { encoding: 'utf8' });
    if (l.status !== 0) throw new Error(`assembleGuest: ld failed:\n${l.stderr}${l.error?.message ?? ''}`);
    return new Uint8Array(fs.readFileSync(bin));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes a guest image into memory at its origin. */
export function loadGuest(mem: PhysicalMemory, lines: string[], origin: number): void {
  mem.writeBytes(origin, assembleGuest(lines, origin));
}

export interface SegmentBits {
  base: number;
  /** The 20-bit limit field as written in the descriptor (in pages when g). */
  limit: number;
  /** Type field (4 bits): data 0-7 (bit 1 W, bit 2 E), code 8-15 (bit 1 R, bit 2 C). */
  type: number;
  dpl?: number;
  /** S = 1 code/data (default), 0 system. */
  s?: boolean;
  present?: boolean;
  /** D/B, L, G flags. */
  db?: boolean;
  l?: boolean;
  g?: boolean;
}

/** An 8-byte segment descriptor (SDM Vol. 3A, Figure 3-8) as a 64-bit value. */
export function segmentDescriptor(d: SegmentBits): bigint {
  const lo = ((d.base & 0xffff) << 16) | (d.limit & 0xffff);
  const hi = ((d.base >>> 16) & 0xff) | (((d.type & 0xf) | ((d.s ?? true) ? 0x10 : 0) | ((d.dpl ?? 0) << 5) | ((d.present ?? true) ? 0x80 : 0)) << 8)
    | (d.limit & 0xf0000) | (d.l === true ? 1 << 21 : 0) | (d.db === true ? 1 << 22 : 0) | (d.g === true ? 1 << 23 : 0) | (d.base & 0xff000000);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Flat 4-GiB segments (G=1, limit 0xFFFFF). */
export const flatCode32 = (dpl = 0): bigint => segmentDescriptor({ base: 0, limit: 0xfffff, type: 0xb, dpl, db: true, g: true });
export const flatData32 = (dpl = 0): bigint => segmentDescriptor({ base: 0, limit: 0xfffff, type: 0x3, dpl, db: true, g: true });
export const flatCode64 = (dpl = 0): bigint => segmentDescriptor({ base: 0, limit: 0xfffff, type: 0xb, dpl, l: true, g: true });

/**
 * A call gate (SDM Vol. 3A, Figure 5-8): type 0xC (32-bit; 64-bit in IA-32e mode) or 0x4
 * (16-bit). Returns the 8-byte legacy form; `callGate64Upper` is the second half in IA-32e mode.
 */
export function callGate(selector: number, offset: number, dpl: number, params = 0, type = 0xc, present = true): bigint {
  const lo = (selector << 16) | (offset & 0xffff);
  const hi = (offset & 0xffff0000) | ((present ? 0x80 : 0) | (dpl << 5) | type) << 8 | (params & 0x1f);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** A task gate (SDM Vol. 3A, Figure 8-4): type 5, the TSS selector in bits 31:16. */
export function taskGate(tssSelector: number, dpl: number): bigint {
  return (BigInt((0x80 | (dpl << 5) | 5) << 8) << 32n) | BigInt((tssSelector << 16) >>> 0);
}

/** An interrupt (0xE) or trap (0xF) gate in the 8-byte protected-mode IDT form. */
export function interruptGate32(selector: number, offset: number, dpl = 0, type = 0xe): bigint {
  return callGate(selector, offset, dpl, 0, type);
}

/** A 32-bit TSS descriptor (type 9 available, 0xB busy) with byte-granular limit. */
export function tssDescriptor(base: number, limit = 0x67, busy = false, dpl = 0): bigint {
  return segmentDescriptor({ base, limit, type: busy ? 0xb : 0x9, s: false, dpl });
}

/** Assembler lines that emit 64-bit values (`.quad`). */
export function quads(values: bigint[]): string[] {
  return values.map((v) => `.quad 0x${v.toString(16)}`);
}

/** Fields of a 32-bit TSS to write (SDM Vol. 3A, Figure 8-2); absent ones are zero. */
export interface Tss32Fields {
  link?: number; esp0?: number; ss0?: number; esp1?: number; ss1?: number; esp2?: number; ss2?: number;
  cr3?: number; eip?: number; eflags?: number;
  eax?: number; ecx?: number; edx?: number; ebx?: number; esp?: number; ebp?: number; esi?: number; edi?: number;
  es?: number; cs?: number; ss?: number; ds?: number; fs?: number; gs?: number; ldt?: number;
  /** Bit 0: T (debug trap); bits 31:16: I/O map base. */
  trap?: number;
}

/** Offsets of the TSS fields, written here from the SDM's figure (not from the emulator). */
export const TSS32_OFFSETS: Record<keyof Tss32Fields, number> = {
  link: 0x00, esp0: 0x04, ss0: 0x08, esp1: 0x0c, ss1: 0x10, esp2: 0x14, ss2: 0x18, cr3: 0x1c, eip: 0x20, eflags: 0x24,
  eax: 0x28, ecx: 0x2c, edx: 0x30, ebx: 0x34, esp: 0x38, ebp: 0x3c, esi: 0x40, edi: 0x44,
  es: 0x48, cs: 0x4c, ss: 0x50, ds: 0x54, fs: 0x58, gs: 0x5c, ldt: 0x60, trap: 0x64,
};

export function writeTss32(mem: PhysicalMemory, base: number, f: Tss32Fields): void {
  for (let k = 0; k < 0x68; k += 4) mem.write(base + k, 4, 0);
  for (const [name, value] of Object.entries(f) as Array<[keyof Tss32Fields, number]>) mem.write(base + TSS32_OFFSETS[name], 4, value >>> 0);
}

export function readTss32(mem: PhysicalMemory, base: number, name: keyof Tss32Fields): number {
  return mem.read(base + TSS32_OFFSETS[name], 4);
}
