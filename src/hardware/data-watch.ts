// Data watchpoints on physical memory: ranges where an instruction's data read, data write, or
// either stops the run right after that instruction (a trap, as a debug register's R/W=01 and
// R/W=11 watches do, SDM Vol. 3B 18.2.4, but on physical memory and of any length).
//
// Nothing here runs on the hot path. Watched pages are marked in page maps that the TLB fill
// consults: a page with a write watch loses write permission and a page with a read watch loses
// read permission in the TLB, so only accesses to those pages reach the slow paths that call
// `noteWrite` (PhysicalMemory.noteWrite) or `noteRead` (Cpu.readSlow). Instruction fetches and
// the processor's own reads of descriptor tables, the TSS and paging structures are not data
// accesses of the instruction and are not reported.

import { PhysicalMemory, PAGE_SIZE } from './memory';

/** What a watch range reacts to (the DAP's DataBreakpointAccessType). */
export type WatchAccess = 'read' | 'write' | 'readWrite';

export interface WatchRange {
  /** Physical address of the first watched byte. */
  readonly start: number;
  readonly length: number;
  /** Default 'write'. */
  readonly access?: WatchAccess;
}

/** The access that hit a watch: the bytes it touched and how ('readWrite': it read and wrote them). */
export interface WatchHit {
  address: number;
  size: number;
  access: WatchAccess;
}

export class DataWatch {
  /** One byte per physical page: 1 where a read (or readWrite) watch lies. */
  readonly readPages: Uint8Array;
  /** Whether any range is set: the run loop looks for a hit after a block only then (a field, not a getter: it is read per block). */
  active = false;
  /** Whether any range watches reads: the slow read path asks `noteRead` only then. */
  watchesReads = false;
  private ranges: Array<{ start: number; length: number; read: boolean; write: boolean }> = [];
  /** The first watched access of the instruction now running, merged with those after it (REP loops test it to stop). */
  hit: WatchHit | undefined;

  constructor(private readonly mem: PhysicalMemory) {
    this.readPages = new Uint8Array(mem.dataWatchPages.length);
  }

  /** Replaces every range; ranges outside RAM, empty ones, and bad access kinds are refused. */
  set(ranges: ReadonlyArray<WatchRange>): void {
    const mem = this.mem;
    const kept: typeof this.ranges = [];
    for (const r of ranges) {
      const access = r.access ?? 'write';
      if (access !== 'read' && access !== 'write' && access !== 'readWrite') {
        throw new RangeError(`watch access must be 'read', 'write' or 'readWrite', not '${String(access)}'`);
      }
      if (!(r.length > 0) || !(r.start >= 0) || r.start >= mem.size) continue;
      kept.push({ start: r.start, length: r.length, read: access !== 'write', write: access !== 'read' });
    }
    mem.dataWatchPages.fill(0);
    this.readPages.fill(0);
    for (const r of kept) {
      const last = Math.min(mem.size - 1, r.start + r.length - 1);
      for (let p = Math.floor(r.start / PAGE_SIZE); p <= Math.floor(last / PAGE_SIZE); p++) {
        if (r.write) mem.dataWatchPages[p] = 1;
        if (r.read) this.readPages[p] = 1;
      }
    }
    this.ranges = kept;
    this.active = kept.length > 0;
    this.watchesReads = kept.some((r) => r.read);
    this.hit = undefined;
  }

  /** A data read of `size` bytes at physical `address`: true when it touches a read watch. */
  noteRead(address: number, size: number): boolean {
    return this.note(address, size, true);
  }

  /** A data write: true when it touches a write watch. */
  noteWrite(address: number, size: number): boolean {
    return this.note(address, size, false);
  }

  /** Takes the hit of the instruction that just completed (undefined when there was none). */
  take(): WatchHit | undefined {
    const h = this.hit;
    this.hit = undefined;
    return h;
  }

  /** Forgets a hit of an instruction that did not complete (it faulted) or of the loader. */
  clear(): void {
    this.hit = undefined;
  }

  private note(address: number, size: number, read: boolean): boolean {
    for (const r of this.ranges) {
      if ((read ? r.read : r.write) && address < r.start + r.length && r.start < address + size) {
        this.record(address, size, read ? 'read' : 'write');
        return true;
      }
    }
    return false;
  }

  /**
   * Keeps the first watched access of the instruction. A later one of the same kind that
   * continues it (the second half of an 8-byte access that crossed into the slow path as two)
   * extends it; one of the other kind (the write of a read-modify-write) makes it 'readWrite'.
   */
  private record(address: number, size: number, access: 'read' | 'write'): void {
    const h = this.hit;
    if (h === undefined) {
      this.hit = { address, size, access };
      return;
    }
    if (h.access === access && address === h.address + h.size) h.size += size;
    else if (h.access !== access) h.access = 'readWrite';
  }
}
