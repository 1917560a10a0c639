// What the VMM loads into a guest: one shape for ELF executables and flat binaries — the
// bytes to place at physical addresses, the entry point, and the symbols and line table the
// debugger uses to name addresses. Loading checks every segment against the guest's RAM.

import { CHUNK_MASK, CHUNK_SIZE, PAGE_SIZE, PhysicalMemory } from '../hardware/memory';
import { decodeDebugLine, LineTable } from './dwarf-line';
import { ELF_MAGIC, PF_R, PF_W, PF_X } from './elf-defs';
import { parseElf } from './elf';
import { SymbolTable } from './symbol-table';

/** An image that cannot be placed into the guest (or flat-binary arguments that make no sense). */
export class GuestImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestImageError';
  }
}

export interface GuestSegment {
  /** Where the bytes go in guest physical memory (ELF p_paddr). */
  readonly physicalAddress: bigint;
  /** Where the guest sees them once its paging maps them (ELF p_vaddr); equal for flat binaries. */
  readonly virtualAddress: bigint;
  /** Bytes from the file; the rest of memorySize is zero-filled. */
  readonly data: Uint8Array;
  readonly memorySize: bigint;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly executable: boolean;
}

export type GuestImageFormat = 'elf64' | 'elf32' | 'flat';

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

export class GuestImage {
  constructor(
    readonly format: GuestImageFormat,
    /** Entry point as the file states it (ELF e_entry: a virtual address). */
    readonly entry: bigint,
    readonly segments: readonly GuestSegment[],
    readonly symbols: SymbolTable,
    /** Empty when the image has no .debug_line. */
    readonly lines: LineTable,
    readonly notes: readonly string[] = [],
  ) {}

  /**
   * The entry point as a physical address: translated through the segment that holds it, for
   * images linked with load addresses (LMA) different from run addresses (VMA).
   */
  get entryPhysical(): bigint {
    for (const s of this.segments) {
      if (this.entry >= s.virtualAddress && this.entry < s.virtualAddress + s.memorySize) {
        return s.physicalAddress + (this.entry - s.virtualAddress);
      }
    }
    return this.entry;
  }

  /**
   * Copies every segment into guest RAM and zero-fills up to its memory size. Throws a
   * GuestImageError, before writing anything, if a segment lies beyond RAM or on a device.
   */
  loadInto(mem: PhysicalMemory): void {
    this.segments.forEach((s, i) => {
      const end = s.physicalAddress + s.memorySize;
      const where = `segment ${i} (physical ${hex(s.physicalAddress)}-${hex(end)})`;
      if (end > BigInt(mem.size)) {
        throw new GuestImageError(`${where} lies beyond the guest's memory (${hex(mem.size)} bytes)`);
      }
      const first = Number(s.physicalAddress);
      for (let p = Math.floor(first / PAGE_SIZE); p * PAGE_SIZE < Number(end); p++) {
        if (mem.mmioPages[p] !== 0) {
          throw new GuestImageError(`${where} overlaps the device region ${mem.mmioAt(p * PAGE_SIZE)?.name ?? ''} at ${hex(p * PAGE_SIZE)}`);
        }
      }
    });
    for (const s of this.segments) {
      const base = Number(s.physicalAddress);
      copyChunked(mem, base, s.data);
      zeroChunked(mem, base + s.data.length, Number(s.memorySize) - s.data.length);
    }
  }
}

/** Copies straight into RAM chunks (a loader writes megabytes; write8 per byte would crawl). */
function copyChunked(mem: PhysicalMemory, address: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    const a = address + done;
    const n = Math.min(bytes.length - done, CHUNK_SIZE - (a & CHUNK_MASK));
    mem.chunkFor(a).set(bytes.subarray(done, done + n), a & CHUNK_MASK);
    mem.noteWrite(a, n);
    done += n;
  }
}

function zeroChunked(mem: PhysicalMemory, address: number, length: number): void {
  let done = 0;
  while (done < length) {
    const a = address + done;
    const n = Math.min(length - done, CHUNK_SIZE - (a & CHUNK_MASK));
    mem.chunkFor(a).fill(0, a & CHUNK_MASK, (a & CHUNK_MASK) + n);
    mem.noteWrite(a, n);
    done += n;
  }
}

/**
 * An x86 ELF executable: PT_LOAD segments at their physical addresses, e_entry, .symtab, and
 * .debug_line if present. Throws ElfError (or DwarfError for a damaged line table).
 */
export function loadElfImage(bytes: Uint8Array): GuestImage {
  const elf = parseElf(bytes);
  const segments: GuestSegment[] = elf.loadSegments.map((p) => ({
    physicalAddress: p.paddr,
    virtualAddress: p.vaddr,
    data: p.data,
    memorySize: p.memSize,
    readable: (p.flags & PF_R) !== 0,
    writable: (p.flags & PF_W) !== 0,
    executable: (p.flags & PF_X) !== 0,
  }));
  const debugLine = elf.sectionData('.debug_line');
  const lines = debugLine === undefined
    ? LineTable.EMPTY
    : decodeDebugLine({ debugLine, debugLineStr: elf.sectionData('.debug_line_str'), debugStr: elf.sectionData('.debug_str') });
  return new GuestImage(elf.elfClass === 64 ? 'elf64' : 'elf32', elf.entry, segments, elf.symbols, lines, elf.notes);
}

/** Raw bytes loaded at `loadAddress`; execution starts at `entry` (default: the load address). */
export function loadFlatBinary(bytes: Uint8Array, loadAddress: bigint | number, entry?: bigint | number): GuestImage {
  const base = BigInt(loadAddress);
  if (base < 0n) throw new GuestImageError(`flat binary load address ${loadAddress} is negative`);
  if (bytes.length === 0) throw new GuestImageError('flat binary is empty');
  const start = entry === undefined ? base : BigInt(entry);
  const end = base + BigInt(bytes.length);
  if (start < base || start >= end) {
    throw new GuestImageError(`flat binary entry ${hex(start)} lies outside its bytes (${hex(base)}-${hex(end)})`);
  }
  const segment: GuestSegment = {
    physicalAddress: base, virtualAddress: base, data: bytes, memorySize: BigInt(bytes.length),
    readable: true, writable: true, executable: true,
  };
  return new GuestImage('flat', start, [segment], SymbolTable.EMPTY, LineTable.EMPTY);
}

/** True when `bytes` start with the ELF magic number. */
export function looksLikeElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ELF_MAGIC.every((m, i) => bytes[i] === m);
}

/** ELF when the file says so; otherwise a flat binary, which needs a load address. */
export function loadGuestImage(bytes: Uint8Array, flat?: { loadAddress: bigint | number; entry?: bigint | number }): GuestImage {
  if (looksLikeElf(bytes)) return loadElfImage(bytes);
  if (flat === undefined) throw new GuestImageError('not an ELF file; a flat binary needs a load address');
  return loadFlatBinary(bytes, flat.loadAddress, flat.entry);
}
