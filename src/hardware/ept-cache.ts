// Cached guest-physical mappings (Intel SDM Vol. 3C, 29.4): a direct-mapped cache from a
// guest-physical 4-KByte page to its host page and the rights of the walk that found it, tagged
// by the EP4TA (the EPTP's table address, bits 51:12) as the SDM tags them (29.4.1). The slot
// mixes in the context so that two hierarchies' mappings of one page do not evict each other;
// a mapping may still be displaced by another page's, which hardware is free to do as well.
//
// Only INVEPT empties it (29.4.3.1): single-context for one EP4TA, all-context for every one.
// MOV to CR3, INVLPG and INVVPID act on linear and combined mappings only, so a guest that
// rewrites its own page tables never flushes what is cached here; a hypervisor that changes EPT
// entries and does not execute INVEPT keeps seeing the old translation, as on hardware.
//
// Hot-path contract: `lookup` allocates nothing and uses no BigInt.

export const EPT_CACHE_SIZE = 1024;
const MASK = EPT_CACHE_SIZE - 1;

// ---- `attr` word of an entry ---------------------------------------------------------------
/** Bits 2:0: AND of the R/W/X bits of every entry of the walk (same positions as in an entry). */
export const EC_RWX = 0x7;
/** Bits 5:3 memory type and bit 6 ignore-PAT of the leaf entry, at their entry positions. */
export const EC_MEMTYPE = 0x38;
export const EC_IPAT = 0x40;
/** The walk set the accessed flags (EPT A/D was on when it was cached). */
export const EC_ACCESSED = 0x100;
/** The leaf's dirty flag is known to be set: a write needs no walk. */
export const EC_DIRTY = 0x200;
/** Bits 13:12: leaf size, 0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB. */
export const EC_SIZE_SHIFT = 12;
/** Set in every valid entry, so 0 means empty. */
export const EC_VALID = 0x10000;

export class EptCache {
  /** Guest-physical page number bits 43:12 and 56:44 of each entry. */
  readonly tagLo = new Int32Array(EPT_CACHE_SIZE);
  readonly tagHi = new Int32Array(EPT_CACHE_SIZE);
  /** The context (see `contextOf`) the entry was cached under. */
  readonly ctx = new Int32Array(EPT_CACHE_SIZE);
  /** Host-physical address of the 4-KByte frame. */
  readonly frame = new Float64Array(EPT_CACHE_SIZE);
  /** Host-physical address of the leaf EPT entry (for the debugger and A/D updates). */
  readonly leaf = new Float64Array(EPT_CACHE_SIZE);
  /** EC_* bits; 0 = empty. */
  readonly attr = new Int32Array(EPT_CACHE_SIZE);

  /** EP4TA → small context number, so a tag compare is one integer compare. */
  private readonly contexts = new Map<number, number>();

  /** The context number of an EP4TA (assigned on first use; not a hot path). */
  contextOf(ep4ta: number): number {
    let id = this.contexts.get(ep4ta);
    if (id === undefined) {
      id = this.contexts.size + 1;
      this.contexts.set(ep4ta, id);
    }
    return id;
  }

  /** Index of the entry for guest-physical page (lo, hi), or -1 when it is not cached for `ctx`. */
  lookup(lo: number, hi: number, ctx: number): number {
    const i = ((lo >>> 12) ^ (ctx * 97)) & MASK;
    if (this.attr[i] !== 0 && this.ctx[i] === ctx && this.tagLo[i] === ((lo >>> 12) | (hi << 20)) &&
      this.tagHi[i] === (hi >>> 12)) return i;
    return -1;
  }

  /** Caches a translation of guest-physical page (lo, hi). */
  fill(lo: number, hi: number, ctx: number, frame: number, leaf: number, attr: number): void {
    const i = ((lo >>> 12) ^ (ctx * 97)) & MASK;
    this.tagLo[i] = (lo >>> 12) | (hi << 20);
    this.tagHi[i] = hi >>> 12;
    this.ctx[i] = ctx;
    this.frame[i] = frame;
    this.leaf[i] = leaf;
    this.attr[i] = attr | EC_VALID;
  }

  /** Drops the entry of one guest-physical page (what an EPT violation or misconfiguration does, 29.4.3.1). */
  drop(lo: number, hi: number, ctx: number): void {
    const i = this.lookup(lo, hi, ctx);
    if (i >= 0) this.attr[i] = 0;
  }

  /**
   * INVEPT. With an EP4TA: single-context, only mappings tagged with it go. Without: all-context.
   */
  invalidate(ep4ta?: number): void {
    if (ep4ta === undefined) {
      this.attr.fill(0);
      return;
    }
    const id = this.contexts.get(ep4ta);
    if (id === undefined) return;
    for (let i = 0; i < EPT_CACHE_SIZE; i++) if (this.ctx[i] === id) this.attr[i] = 0;
  }
}
