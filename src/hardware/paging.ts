// Linear → physical address translation as Intel SDM Vol. 3A chapter 4 defines it: the paging
// mode chosen from CR0/CR4/IA32_EFER (4.1.1), 32-bit paging (4.3), PAE paging (4.4), 4-level
// and 5-level paging (4.5), access rights (4.6), page-fault error codes (4.7) and the accessed
// and dirty flags (4.8).
//
// Hot-path contract: `PageWalker.translate(lo, hi, access)` allocates nothing, uses no BigInt,
// and never throws for a guest condition. It returns the physical address (a number ≥ 0) or
// PAGE_FAULT (-1); either way the details are in the walker's reusable `result` object: on a
// fault `errorCode` (the #PF error code) and `faultLo`/`faultHi` (the linear address the caller
// writes to CR2); on success what a TLB entry needs (page base, page size, the combined rights
// of the whole walk, the global flag). Reading a paging-structure entry at a physical address
// with no RAM or device behind it lets PhysicalMemory's PhysicalAccessError propagate.
//
// Paging-structure entries are 64 bits wide in PAE, 4-level and 5-level paging; they are read
// as two 32-bit words. Accessed/dirty updates rewrite only the low word, with one 4-byte write.

import { PhysicalMemory } from './memory';

/** The paging modes of SDM 4.1.1 (Table 4-1). */
export enum PagingMode {
  /** CR0.PG = 0: linear addresses are physical addresses. */
  None = 0,
  /** CR0.PG = 1, CR4.PAE = 0. */
  Bit32 = 1,
  /** CR0.PG = 1, CR4.PAE = 1, IA32_EFER.LME = 0. */
  Pae = 2,
  /** CR0.PG = 1, CR4.PAE = 1, IA32_EFER.LME = 1, CR4.LA57 = 0. */
  Level4 = 3,
  /** CR0.PG = 1, CR4.PAE = 1, IA32_EFER.LME = 1, CR4.LA57 = 1. */
  Level5 = 4,
}

// ---- control-register bits this unit reads (SDM 2.5, 2.2.1) -------------------------------

export const CR0_WP = 1 << 16;
export const CR0_PG = 0x80000000;
export const CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5;
export const CR4_PGE = 1 << 7;
export const CR4_LA57 = 1 << 12;
export const CR4_SMEP = 1 << 20;
export const CR4_SMAP = 1 << 21;
export const EFER_LME = 1 << 8;
export const EFER_LMA = 1 << 10;
export const EFER_NXE = 1 << 11;

// ---- page-fault error code (SDM 4.7, Figure 4-12) ------------------------------------------

/** 0: the fault was caused by a non-present page; 1: by a protection violation or reserved bit. */
export const PF_P = 0x1;
/** The access was a write. */
export const PF_W = 0x2;
/** The access was a user-mode access. */
export const PF_U = 0x4;
/** A reserved bit was set in some paging-structure entry. */
export const PF_RSVD = 0x8;
/** The access was an instruction fetch (reported only when CR4.SMEP = 1, or PAE-family paging with EFER.NXE = 1). */
export const PF_ID = 0x10;

// ---- access description (a bit mask, so a hot path passes one number) ----------------------

/** A data read. */
export const ACCESS_READ = 0;
/** A data write (same bit as PF_W). */
export const ACCESS_WRITE = 0x2;
/** The access is made at CPL 3 (same bit as PF_U). Ignored when ACCESS_IMPLICIT is also set. */
export const ACCESS_USER = 0x4;
/** An instruction fetch (same bit as PF_ID). */
export const ACCESS_FETCH = 0x10;
/**
 * An implicit supervisor-mode access (GDT/LDT/IDT/TSS reads and the like, SDM 4.6): supervisor
 * whatever the CPL, and for SMAP treated as if RFLAGS.AC = 0.
 */
export const ACCESS_IMPLICIT = 0x100;
/** Probe only: check and translate but set no accessed or dirty flag (for a debugger's view). */
export const ACCESS_NO_AD = 0x200;
/** RFLAGS.AC, at its RFLAGS position (bit 18), so `access | (rflags & ACCESS_AC)` works. */
export const ACCESS_AC = 0x40000;

/** Builds an access mask from named flags (for code that is not on a hot path). */
export function accessFlags(a: {
  write?: boolean; user?: boolean; fetch?: boolean; implicit?: boolean; ac?: boolean; noAccessedDirty?: boolean;
}): number {
  return (a.write === true ? ACCESS_WRITE : 0) | (a.user === true ? ACCESS_USER : 0) |
    (a.fetch === true ? ACCESS_FETCH : 0) | (a.implicit === true ? ACCESS_IMPLICIT : 0) |
    (a.ac === true ? ACCESS_AC : 0) | (a.noAccessedDirty === true ? ACCESS_NO_AD : 0);
}

// ---- rights of a whole walk (TranslationResult.perms) -------------------------------------
// R/W, U/S, D and G sit at their paging-structure-entry positions so a walk can mask them out.

/** Instruction fetches allowed: XD = 0 at every level, or execute-disable not enabled. */
export const PERM_EXEC = 0x1;
/** R/W = 1 at every level. */
export const PERM_WRITE = 0x2;
/** U/S = 1 at every level: a user-mode address. */
export const PERM_USER = 0x4;
/** The dirty flag of the final entry is set (a write hit needs no walk to set it). */
export const PERM_DIRTY = 0x40;
/** The final entry has G = 1 and CR4.PGE = 1 (SDM 4.10.2.4). */
export const PERM_GLOBAL = 0x100;

// ---- access kinds a TLB entry may serve without a walk (PageWalker.allowedKinds) ---------
// Same layout as the CPU's TLB: supervisor read/write/fetch, then the same shifted by 3 for CPL 3.

export const KIND_R = 1;
export const KIND_W = 2;
export const KIND_X = 4;
export const KIND_UR = 8;
export const KIND_UW = 16;
export const KIND_UX = 32;

/** `translate` returns this on a page fault. */
export const PAGE_FAULT = -1;

export const PAGE_SIZE_4K = 0x1000;
export const PAGE_SIZE_2M = 0x200000;
export const PAGE_SIZE_4M = 0x400000;
export const PAGE_SIZE_1G = 0x40000000;

const TWO32 = 4294967296;

/** A control-register value: a number (exact integer) or a bigint. */
export type ControlValue = number | bigint;

/** The control state paging depends on. Only the low 32 bits of CR0, CR4 and EFER are used. */
export interface PagingControl {
  readonly cr0: ControlValue;
  /** Up to 52 bits are used (bits 63:52, e.g. the PCID no-flush bit, are ignored). */
  readonly cr3: ControlValue;
  readonly cr4: ControlValue;
  readonly efer: ControlValue;
  /**
   * PAE paging only: the four PDPTEs the processor loaded (SDM 4.4.1) — from `loadPdptes` at
   * MOV CR3 (or MOV CR0/CR4 that enters PAE paging), or from the VMCS guest-PDPTE fields.
   * They are not re-checked for reserved bits here.
   */
  readonly pdptes?: ReadonlyArray<ControlValue>;
}

/** Processor properties the walk depends on. */
export interface PagingOptions {
  /** MAXPHYADDR (CPUID 80000008H:EAX[7:0]), 32 to 52; default 46. */
  readonly maxPhysAddr?: number;
  /** 1-GByte pages supported (CPUID 80000001H:EDX[26]); default true. */
  readonly gbPages?: boolean;
}

/** The outcome of a walk; one instance per walker, overwritten by every call. */
export class TranslationResult {
  /** The translated physical address. */
  physAddr = 0;
  /** Physical base of the page frame (aligned to `pageSize`). */
  pageBase = 0;
  /** 4 KiB, 2 MiB, 4 MiB or 1 GiB (PAGE_SIZE_*). */
  pageSize = PAGE_SIZE_4K;
  /** PERM_* bits: the combined rights of every entry of the walk. */
  perms = 0;
  /** Physical address of the entry that mapped the page, -1 with paging off. */
  leafEntryAddr = -1;
  /** The #PF error code after a fault, else 0. */
  errorCode = 0;
  /** The faulting linear address (for CR2): bits 31:0 and 63:32. */
  faultLo = 0;
  faultHi = 0;

  get writable(): boolean { return (this.perms & PERM_WRITE) !== 0; }
  get user(): boolean { return (this.perms & PERM_USER) !== 0; }
  get executable(): boolean { return (this.perms & PERM_EXEC) !== 0; }
  get dirty(): boolean { return (this.perms & PERM_DIRTY) !== 0; }
  get global(): boolean { return (this.perms & PERM_GLOBAL) !== 0; }
  /** The faulting linear address as one value (allocates; not for hot paths). */
  get faultAddress(): bigint { return (BigInt(this.faultHi >>> 0) << 32n) | BigInt(this.faultLo >>> 0); }
}

const SAFE_BIG = 1n << 53n;

/** Whether `ctrl` is the control state `key` holds; PDPTEs count only in PAE mode (`pae`: the mode the key gave). */
function sameControl(key: readonly ControlValue[], pae: boolean, ctrl: PagingControl): boolean {
  if (ctrl.cr0 !== key[0] || ctrl.cr3 !== key[1] || ctrl.cr4 !== key[2] || ctrl.efer !== key[3]) return false;
  if (!pae) return true;
  const p = ctrl.pdptes;
  if (p === undefined) return key[4] !== key[4]; // NaN: the key was made without PDPTEs too
  return p[0] === key[4] && p[1] === key[5] && p[2] === key[6] && p[3] === key[7];
}

/** Low 32 bits of a control value, as an unsigned number. */
function low32(v: ControlValue): number {
  if (typeof v !== 'bigint') return v >>> 0;
  // through a double when exact: no intermediate BigInts (VM entry and exit configure with bigint CR3)
  return v >= 0n && v < SAFE_BIG ? Number(v) % TWO32 : Number(BigInt.asUintN(32, v));
}

/** Bits 63:32 of a control value, as an unsigned number. */
function high32(v: ControlValue): number {
  if (typeof v !== 'bigint') return Math.floor(v / TWO32) >>> 0;
  return v >= 0n && v < SAFE_BIG ? Math.floor(Number(v) / TWO32) : Number(BigInt.asUintN(32, v >> 32n));
}

function checkMaxPhysAddr(m: number): void {
  if (!Number.isInteger(m) || m < 32 || m > 52) {
    throw new RangeError(`MAXPHYADDR must be an integer from 32 to 52, got ${m}`);
  }
}

/** The paging mode for a control state (SDM 4.1.1). IA32_EFER.LMA (= PG & LME) is accepted for LME. */
export function pagingMode(cr0: ControlValue, cr4: ControlValue, efer: ControlValue): PagingMode {
  const c0 = low32(cr0), c4 = low32(cr4), e = low32(efer);
  if ((c0 & CR0_PG) === 0) return PagingMode.None;
  if ((c4 & CR4_PAE) === 0) return PagingMode.Bit32;
  if ((e & (EFER_LME | EFER_LMA)) === 0) return PagingMode.Pae;
  return (c4 & CR4_LA57) === 0 ? PagingMode.Level4 : PagingMode.Level5;
}

/** `loadPdptes` outcome: the four entries, or why MOV CR3 must raise #GP(0) instead. */
export type PdpteLoadResult =
  | { readonly ok: true; readonly pdptes: readonly [bigint, bigint, bigint, bigint] }
  | { readonly ok: false; readonly index: number; readonly entry: bigint; readonly reason: string };

/**
 * Reads the four PDPTEs of PAE paging from the 32-byte-aligned table at CR3[31:5] (SDM 4.4.1).
 * A present PDPTE with a reserved bit set — bits 2:1, 8:5 or 63:MAXPHYADDR (Table 4-8) — makes
 * the instruction that loads them fault with #GP(0); that is reported, not thrown.
 */
export function loadPdptes(mem: PhysicalMemory, cr3: ControlValue, maxPhysAddr = 46): PdpteLoadResult {
  checkMaxPhysAddr(maxPhysAddr);
  const base = (low32(cr3) & 0xffffffe0) >>> 0;
  const rsvdHi = (~((1 << (maxPhysAddr - 32)) - 1)) >>> 0; // bits 63:M of the high word
  const out: bigint[] = [];
  for (let i = 0; i < 4; i++) {
    const lo = mem.read(base + i * 8, 4);
    const hi = mem.read(base + i * 8 + 4, 4);
    const entry = (BigInt(hi) << 32n) | BigInt(lo);
    if ((lo & 1) !== 0) {
      let reason = '';
      if ((lo & 0x6) !== 0) reason = 'bits 2:1 are reserved';
      else if ((lo & 0x1e0) !== 0) reason = 'bits 8:5 are reserved';
      else if ((hi & rsvdHi) !== 0) reason = `bits 63:${maxPhysAddr} are reserved (MAXPHYADDR = ${maxPhysAddr})`;
      if (reason !== '') {
        return { ok: false, index: i, entry, reason: `PDPTE${i} (0x${entry.toString(16)}) is present and ${reason}: #GP(0)` };
      }
    }
    out.push(entry);
  }
  return { ok: true, pdptes: [out[0], out[1], out[2], out[3]] };
}

/**
 * The paging unit of one logical processor. Call `configure` whenever CR0, CR3, CR4, IA32_EFER
 * or the cached PDPTEs change; `translate` then walks with that state.
 */
export class PageWalker {
  readonly result = new TranslationResult();
  readonly maxPhysAddr: number;
  readonly gbPages: boolean;

  private modeValue = PagingMode.None;
  private wp = false;
  private smep = false;
  private smap = false;
  private pse = false;
  /** PF_ID when fetch faults report I/D (SMEP, or PAE-family paging with NXE), else 0. */
  private idBit = 0;
  /** 0x100 when CR4.PGE = 1, to pick the G flag out of the final entry. */
  private globalMask = 0;
  /** Physical address of the first paging structure (PD, PML4 or PML5 table). */
  private root = 0;
  /** Reserved bits of the high word of every 64-bit entry (above MAXPHYADDR, and XD when NXE = 0). */
  private rsvdHi = 0;
  /** Mask of physical-address bits in the high word of a 64-bit entry (bits M-1:32). */
  private readonly addrHi: number;
  /** Reserved bits of a 32-bit paging 4 MiB PDE: bits 21:(M-19), M = min(MAXPHYADDR, 40) (Table 4-4). */
  private readonly pse4mRsvd: number;
  /** Mask of PSE-36 address bits (PDE bits (M-33):13 → physical bits (M-1):32). */
  private readonly pse36Mask: number;
  /** PAE: physical address of each PDPTE's page directory, -1 where the PDPTE is not present. */
  private readonly pdBase = [-1, -1, -1, -1];

  /**
   * Where a paging-structure entry at a (guest-)physical address really is: set while EPT is on,
   * so each entry read goes through EPT (SDM Vol. 3C, 29.3.2); undefined: the address itself.
   */
  tableAddress: ((address: number) => number) | undefined;

  constructor(readonly mem: PhysicalMemory, options: PagingOptions = {}) {
    const m = options.maxPhysAddr ?? 46;
    checkMaxPhysAddr(m);
    this.maxPhysAddr = m;
    this.gbPages = options.gbPages ?? true;
    this.addrHi = (1 << (m - 32)) - 1;
    const m36 = Math.min(m, 40);
    this.pse36Mask = (1 << (m36 - 32)) - 1;
    this.pse4mRsvd = ((1 << 22) - 1) & ~((1 << (m36 - 19)) - 1);
  }

  get mode(): PagingMode {
    return this.modeValue;
  }

  /**
   * The last two control states configured (CR0, CR3, CR4, EFER, PDPTEs) and what was derived
   * from each: VM entry and exit alternate between the guest's and the host's, so the state
   * asked for is usually one of these and is restored rather than derived again.
   */
  private readonly keys: ControlValue[][] = [new Array<ControlValue>(8).fill(NaN), new Array<ControlValue>(8).fill(NaN)];
  private readonly derived = [new Float64Array(13), new Float64Array(13)];
  /** Which of the two the walker is configured with now. */
  private current = 0;

  /** Takes a new control state (MOV to CR0/CR3/CR4, WRMSR EFER, PDPTE reload, VM entry/exit). */
  configure(ctrl: PagingControl): void {
    const cur = this.current, other = 1 - cur;
    if (sameControl(this.keys[cur], this.derived[cur][0] === PagingMode.Pae, ctrl)) return;
    this.current = other;
    if (sameControl(this.keys[other], this.derived[other][0] === PagingMode.Pae, ctrl)) {
      this.restoreDerived(this.derived[other]);
      return;
    }
    // the older of the two is replaced; not remembered until derived without error
    const key = this.keys[other];
    key[0] = NaN;
    this.derive(ctrl);
    this.saveDerived(this.derived[other]);
    key[0] = ctrl.cr0; key[1] = ctrl.cr3; key[2] = ctrl.cr4; key[3] = ctrl.efer;
    for (let i = 0; i < 4; i++) key[4 + i] = ctrl.pdptes?.[i] ?? NaN;
  }

  private saveDerived(d: Float64Array): void {
    d[0] = this.modeValue; d[1] = this.wp ? 1 : 0; d[2] = this.smep ? 1 : 0; d[3] = this.smap ? 1 : 0; d[4] = this.pse ? 1 : 0;
    d[5] = this.idBit; d[6] = this.globalMask; d[7] = this.root; d[8] = this.rsvdHi;
    for (let i = 0; i < 4; i++) d[9 + i] = this.pdBase[i];
  }

  private restoreDerived(d: Float64Array): void {
    this.modeValue = d[0]; this.wp = d[1] === 1; this.smep = d[2] === 1; this.smap = d[3] === 1; this.pse = d[4] === 1;
    this.idBit = d[5]; this.globalMask = d[6]; this.root = d[7]; this.rsvdHi = d[8];
    for (let i = 0; i < 4; i++) this.pdBase[i] = d[9 + i];
  }

  private derive(ctrl: PagingControl): void {
    const cr0 = low32(ctrl.cr0), cr4 = low32(ctrl.cr4), efer = low32(ctrl.efer);
    const mode = pagingMode(cr0, cr4, efer);
    const paging = mode !== PagingMode.None;
    const nxe = mode >= PagingMode.Pae && (efer & EFER_NXE) !== 0;
    this.wp = paging && (cr0 & CR0_WP) !== 0;
    this.smep = paging && (cr4 & CR4_SMEP) !== 0;
    this.smap = paging && (cr4 & CR4_SMAP) !== 0;
    this.pse = (cr4 & CR4_PSE) !== 0;
    this.idBit = this.smep || nxe ? PF_ID : 0;
    this.globalMask = paging && (cr4 & CR4_PGE) !== 0 ? 0x100 : 0;
    const xdRsvd = nxe ? 0 : 0x80000000;
    const cr3lo = low32(ctrl.cr3);
    switch (mode) {
      case PagingMode.Bit32:
        this.root = (cr3lo & 0xfffff000) >>> 0;
        break;
      case PagingMode.Pae: {
        if (ctrl.pdptes === undefined || ctrl.pdptes.length !== 4) {
          throw new Error('PAE paging needs the four PDPTEs loaded at MOV CR3 (see loadPdptes)');
        }
        for (let i = 0; i < 4; i++) {
          const e = ctrl.pdptes[i];
          const lo = low32(e);
          this.pdBase[i] = (lo & 1) === 0 ? -1 : (high32(e) & this.addrHi) * TWO32 + ((lo & 0xfffff000) >>> 0);
        }
        this.rsvdHi = (0x7fffffff & ~this.addrHi) | xdRsvd; // bits 62:M (Tables 4-10, 4-11)
        break;
      }
      case PagingMode.Level4:
      case PagingMode.Level5:
        this.root = (high32(ctrl.cr3) & this.addrHi) * TWO32 + ((cr3lo & 0xfffff000) >>> 0);
        this.rsvdHi = (0x000fffff & ~this.addrHi) | xdRsvd; // bits 51:M (Tables 4-15 to 4-20)
        break;
      default:
        break;
    }
    this.modeValue = mode;
  }

  /**
   * Translates linear address hi:lo (two 32-bit halves) for an access (ACCESS_* mask).
   * Returns the physical address, or PAGE_FAULT with `result.errorCode` and `result.faultLo/Hi`
   * set. Only bits 31:0 are used outside 4/5-level paging, bits 47:0 (56:0) in 4-level (5-level)
   * paging; canonical checks are the caller's (#GP/#SS).
   */
  translate(lo: number, hi: number, access: number): number {
    switch (this.modeValue) {
      case PagingMode.None: {
        const r = this.result;
        const pa = lo >>> 0;
        r.physAddr = pa;
        r.pageBase = (pa & 0xfffff000) >>> 0;
        r.pageSize = PAGE_SIZE_4K;
        r.perms = PERM_EXEC | PERM_WRITE | PERM_USER | PERM_DIRTY;
        r.leafEntryAddr = -1;
        r.errorCode = 0;
        return pa;
      }
      case PagingMode.Bit32:
        return this.walk32(lo, access);
      case PagingMode.Pae: {
        const pd = this.pdBase[lo >>> 30];
        if (pd < 0) return this.fault(lo, 0, access, 0);
        return this.walk64(lo, 0, access, pd, 2);
      }
      case PagingMode.Level4:
        return this.walk64(lo, hi, access, this.root, 4);
      default:
        return this.walk64(lo, hi, access, this.root, 5);
    }
  }

  /** `translate` for a linear address given as one value (a number must be an exact integer). */
  translateLinear(linear: number | bigint, access: number): number {
    return this.translate(low32(linear), high32(linear), access);
  }

  /**
   * The #PF error code (with P = 1) that an access would raise against rights `perms` (PERM_*,
   * e.g. cached in a TLB) under the current control state, or 0 if it is allowed (SDM 4.6).
   * A write allowed here still needs a walk when PERM_DIRTY is clear, to set the dirty flag.
   */
  accessError(perms: number, access: number): number {
    let bad: boolean;
    if ((access & (ACCESS_USER | ACCESS_IMPLICIT)) === ACCESS_USER) {
      // User-mode access (4.6.1): user-mode addresses only; writes need R/W, fetches need XD = 0.
      bad = (perms & PERM_USER) === 0 ||
        ((access & ACCESS_WRITE) !== 0 && (perms & PERM_WRITE) === 0) ||
        ((access & ACCESS_FETCH) !== 0 && (perms & PERM_EXEC) === 0);
    } else if ((access & ACCESS_FETCH) !== 0) {
      // Supervisor fetch: XD applies; SMEP forbids user-mode addresses.
      bad = (perms & PERM_EXEC) === 0 || (this.smep && (perms & PERM_USER) !== 0);
    } else {
      // Supervisor data: SMAP forbids user-mode addresses unless explicit with AC = 1;
      // writes to read-only pages only with CR0.WP = 0.
      bad = (this.smap && (perms & PERM_USER) !== 0 && (access & (ACCESS_AC | ACCESS_IMPLICIT)) !== ACCESS_AC) ||
        ((access & ACCESS_WRITE) !== 0 && (perms & PERM_WRITE) === 0 && this.wp);
    }
    return bad ? this.errorCode(access, PF_P) : 0;
  }

  /**
   * The access kinds (KIND_*: supervisor R/W/X, then user R/W/X) that rights `perms` allow
   * with no further walk under the current control state: writes only when the dirty flag is
   * already set, and supervisor data accesses to user pages with SMAP on as for RFLAGS.AC = 0
   * (an AC = 1 access then misses and walks).
   */
  allowedKinds(perms: number): number {
    let k = 0;
    if (this.accessError(perms, ACCESS_READ) === 0) k |= KIND_R;
    if ((perms & PERM_DIRTY) !== 0 && this.accessError(perms, ACCESS_WRITE) === 0) k |= KIND_W;
    if (this.accessError(perms, ACCESS_FETCH) === 0) k |= KIND_X;
    if (this.accessError(perms, ACCESS_USER) === 0) k |= KIND_UR;
    if ((perms & PERM_DIRTY) !== 0 && this.accessError(perms, ACCESS_USER | ACCESS_WRITE) === 0) k |= KIND_UW;
    if (this.accessError(perms, ACCESS_USER | ACCESS_FETCH) === 0) k |= KIND_UX;
    return k;
  }

  // ---- walks -------------------------------------------------------------------------------

  private entryAt(address: number): number {
    const t = this.tableAddress;
    return t === undefined ? address : t(address);
  }

  private errorCode(access: number, base: number): number {
    let e = base | (access & ACCESS_WRITE);
    if ((access & (ACCESS_USER | ACCESS_IMPLICIT)) === ACCESS_USER) e |= PF_U;
    if ((access & ACCESS_FETCH) !== 0) e |= this.idBit;
    return e;
  }

  private fault(lo: number, hi: number, access: number, base: number): number {
    const r = this.result;
    r.errorCode = this.errorCode(access, base);
    r.faultLo = lo >>> 0;
    r.faultHi = hi >>> 0;
    return PAGE_FAULT;
  }

  /**
   * Finishes a walk at the entry that maps the page: checks the combined rights, then sets the
   * accessed flag, and the dirty flag for a write, in that entry (SDM 4.8) — only when allowed.
   */
  private leaf(lo: number, hi: number, access: number, perms: number, ea: number, elo: number,
    base: number, size: number): number {
    const err = this.accessError(perms, access);
    if (err !== 0) {
      const r = this.result;
      r.errorCode = err;
      r.faultLo = lo >>> 0;
      r.faultHi = hi >>> 0;
      return PAGE_FAULT;
    }
    let p = perms;
    if ((access & ACCESS_NO_AD) === 0) {
      const want = (access & ACCESS_WRITE) !== 0 ? 0x60 : 0x20;
      if ((elo & want) !== want) this.mem.write(ea, 4, (elo | want) >>> 0);
      if ((access & ACCESS_WRITE) !== 0) p |= PERM_DIRTY;
    }
    const r = this.result;
    const pa = base + (lo & (size - 1));
    r.physAddr = pa;
    r.pageBase = base;
    r.pageSize = size;
    r.perms = p;
    r.leafEntryAddr = ea;
    r.errorCode = 0;
    return pa;
  }

  /** 32-bit paging (SDM 4.3): PDE from CR3[31:12], then a 4 MiB page or a PTE. */
  private walk32(lo: number, access: number): number {
    const mem = this.mem;
    const noAd = (access & ACCESS_NO_AD) !== 0;
    const pdeAddr = this.entryAt(this.root + ((lo >>> 22) << 2));
    const pde = mem.read(pdeAddr, 4);
    if ((pde & 1) === 0) return this.fault(lo, 0, access, 0);
    if ((pde & 0x80) !== 0 && this.pse) {
      // 4 MiB page (Table 4-4): bits 31:22 and PSE-36 bits (M-33):13 → physical (M-1):32.
      if ((pde & this.pse4mRsvd) !== 0) return this.fault(lo, 0, access, PF_P | PF_RSVD);
      const base = ((pde >>> 13) & this.pse36Mask) * TWO32 + ((pde & 0xffc00000) >>> 0);
      const perms = (pde & 0x46) | (pde & this.globalMask) | PERM_EXEC;
      return this.leaf(lo, 0, access, perms, pdeAddr, pde, base, PAGE_SIZE_4M);
    }
    if ((pde & 0x20) === 0 && !noAd) mem.write(pdeAddr, 4, (pde | 0x20) >>> 0);
    const pteAddr = this.entryAt(((pde & 0xfffff000) >>> 0) + (((lo >>> 12) & 0x3ff) << 2));
    const pte = mem.read(pteAddr, 4);
    if ((pte & 1) === 0) return this.fault(lo, 0, access, 0);
    const perms = (pde & pte & 0x6) | (pte & 0x40) | (pte & this.globalMask) | PERM_EXEC;
    return this.leaf(lo, 0, access, perms, pteAddr, pte, (pte & 0xfffff000) >>> 0, PAGE_SIZE_4K);
  }

  /**
   * The walk over 64-bit entries: PAE paging from its page directory (level 2), 4-level paging
   * from the PML4 table (level 4), 5-level paging from the PML5 table (level 5).
   */
  private walk64(lo: number, hi: number, access: number, table: number, level: number): number {
    const mem = this.mem;
    const noAd = (access & ACCESS_NO_AD) !== 0;
    const rsvdHi = this.rsvdHi;
    let and = 0x6; // R/W and U/S of every entry so far
    let xd = 0; // XD of any entry so far
    for (;;) {
      let idx: number;
      switch (level) {
        case 5: idx = (hi >>> 16) & 0x1ff; break; // bits 56:48
        case 4: idx = (hi >>> 7) & 0x1ff; break; // bits 47:39
        case 3: idx = ((hi & 0x7f) << 2) | (lo >>> 30); break; // bits 38:30
        case 2: idx = (lo >>> 21) & 0x1ff; break; // bits 29:21
        default: idx = (lo >>> 12) & 0x1ff; break; // bits 20:12
      }
      const ea = this.entryAt(table + idx * 8);
      const elo = mem.read(ea, 4);
      if ((elo & 1) === 0) return this.fault(lo, hi, access, 0);
      const ehi = mem.read(ea + 4, 4);
      let rsvd = ehi & rsvdHi;
      let size = 0;
      if (level === 1) {
        size = PAGE_SIZE_4K;
      } else if ((elo & 0x80) !== 0) {
        if (level >= 4) rsvd |= 1; // PS is reserved in a PML5E or PML4E
        else if (level === 3) rsvd |= this.gbPages ? elo & 0x3fffe000 : 1; // 1 GiB: bits 29:13
        else rsvd |= elo & 0x001fe000; // 2 MiB: bits 20:13
        size = level === 3 ? PAGE_SIZE_1G : PAGE_SIZE_2M;
      }
      if (rsvd !== 0) return this.fault(lo, hi, access, PF_P | PF_RSVD);
      and &= elo;
      xd |= ehi;
      const frameHi = (ehi & this.addrHi) * TWO32;
      if (size !== 0) {
        const base = frameHi + ((elo & ~(size - 1)) >>> 0);
        const perms = and | (elo & 0x40) | (elo & this.globalMask) | (xd < 0 ? 0 : PERM_EXEC);
        return this.leaf(lo, hi, access, perms, ea, elo, base, size);
      }
      if ((elo & 0x20) === 0 && !noAd) mem.write(ea, 4, (elo | 0x20) >>> 0);
      table = frameHi + ((elo & 0xfffff000) >>> 0);
      level--;
    }
  }
}
