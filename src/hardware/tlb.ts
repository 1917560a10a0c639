// A direct-mapped translation cache from linear page to physical page with the access kinds
// the last page walk allowed. Flushed where the architecture says (MOV CR3, INVLPG, paging-mode
// changes; SDM Vol. 3A, 4.10.4), so stale translations behave as on hardware.

export const TLB_SIZE = 4096;
export const TLB_MASK = TLB_SIZE - 1;

/** Access kinds; supervisor bits, and the same shifted by 3 for user (CPL 3) accesses. */
export const enum Perm {
  R = 1, W = 2, X = 4, UR = 8, UW = 16, UX = 32,
  ALL = 63,
}

const EMPTY_VIEW = new DataView(new ArrayBuffer(8));

/**
 * Epochs come from one counter for every Tlb, so an epoch names one set of contents across
 * them all: a decoded block stamped under one VPID's translations is never taken for current
 * under another's (tlb-tags.ts).
 */
let lastEpoch = 0;

export class Tlb {
  /** Linear page number bits 31:0 and 47:32 of each entry's tag. */
  readonly tagLo = new Int32Array(TLB_SIZE);
  readonly tagHi = new Int32Array(TLB_SIZE);
  /** Physical page number. */
  readonly ppn = new Float64Array(TLB_SIZE);
  /** Allowed access kinds (Perm bits); 0 = invalid. */
  readonly perm = new Int32Array(TLB_SIZE);
  /** Whether the entry came from a global page (survives MOV CR3 when CR4.PGE=1). */
  readonly global = new Uint8Array(TLB_SIZE);
  /** Backing bytes of the physical page and its offset in that chunk. */
  readonly view: DataView[] = new Array<DataView>(TLB_SIZE).fill(EMPTY_VIEW);
  readonly off = new Int32Array(TLB_SIZE);
  /** Changes with every flush: a decoded block found under one value keeps its translation until it changes. */
  epoch = ++lastEpoch;
  /** Whether an entry may have come from a large page (INVLPG must then drop more than one entry). */
  largePages = false;
  /**
   * Slots filled since the last full flush (a superset of the valid ones), so that a flush
   * clears only those: VM entry and exit flush a TLB that holds a handful of entries, and
   * clearing all 4096 every time was most of the cost of an exit. Past TLB_SIZE fills the
   * list stops and a flush clears everything.
   */
  private readonly filled = new Int32Array(TLB_SIZE);
  private filledCount = 0;

  /** Records that slot `idx` may now hold a valid entry (called by every fill). */
  noteFill(idx: number): void {
    const n = this.filledCount;
    if (n < TLB_SIZE) this.filled[n] = idx;
    if (n <= TLB_SIZE) this.filledCount = n + 1;
  }

  flushAll(): void {
    this.epoch = ++lastEpoch;
    this.largePages = false;
    const n = this.filledCount;
    if (n > TLB_SIZE) this.perm.fill(0);
    else for (let k = 0; k < n; k++) this.perm[this.filled[k]] = 0;
    this.filledCount = 0;
  }

  /** MOV CR3 with CR4.PGE=1 keeps global entries. */
  flushNonGlobal(): void {
    this.epoch = ++lastEpoch;
    for (let i = 0; i < TLB_SIZE; i++) if (this.global[i] === 0) this.perm[i] = 0;
  }

  /** INVLPG: drops the entry of one linear page (every size it may be cached at). */
  flushPage(lo: number, hi: number): void {
    const vpn = (lo >>> 12) | (hi << 20);
    const idx = vpn & TLB_MASK;
    this.epoch = ++lastEpoch;
    if (this.tagLo[idx] === vpn && this.tagHi[idx] === (hi >>> 12)) this.perm[idx] = 0;
  }

  /** Removes write permission from every entry that maps physical page `ppn`. */
  dropWrite(ppn: number): void {
    for (let i = 0; i < TLB_SIZE; i++) {
      if (this.perm[i] !== 0 && this.ppn[i] === ppn) this.perm[i] &= ~(Perm.W | Perm.UW);
    }
  }
}
