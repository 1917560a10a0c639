// The EPT walker: guest-physical → host-physical translation as Intel SDM Vol. 3C, 29.3 defines
// it — the 4- and 5-level walk (29.3.2), misconfigurations and violations (29.3.3), accessed and
// dirty flags (29.3.5), the leaf memory type (29.3.7) — and the EPT-violation exit
// qualification (28.2.1, Table 28-7). It is pure silicon over PhysicalMemory: the VMX core calls
// it for every guest-physical access while "enable EPT" is 1 and turns a fault into a VM exit.
//
// Hot-path contract (as PageWalker's): `translate(lo, hi, access)` allocates nothing, uses no
// BigInt and never throws for a guest condition. It returns the host-physical address (≥ 0),
// EPT_VIOLATION or EPT_MISCONFIG; the details are in the walker's reusable `result`. Reading an
// EPT entry at a host address with no RAM behind it lets PhysicalAccessError propagate.
//
// Entries are 64 bits, read as two 32-bit words. Accessed/dirty updates rewrite only the low word
// with one 4-byte write. Translations are cached (ept-cache.ts) until `invalidate` (INVEPT).
//
// Where the SDM leaves a choice, this model takes one and keeps to it: a walk that faults sets
// no accessed flag; a cached translation whose rights do not allow an access is walked again
// (so raising rights needs no INVEPT here, where hardware may report a spurious violation);
// violations and misconfigurations drop the cached mapping of that page (29.4.3.1).
//
// Not modelled: mode-based execute control (bit 10 is ignored), sub-page write permissions,
// #VE (bit 63 ignored), HLAT/paging-write/verify bits, supervisor shadow-stack (bit 60).

import { BitField, flag } from '../bitfields';
import { hex } from '../format';
import { PhysicalMemory } from './memory';
import { EptCapabilities } from './ept-capabilities';
import { EptCache, EC_ACCESSED, EC_DIRTY, EC_IPAT, EC_MEMTYPE, EC_RWX, EC_SIZE_SHIFT } from './ept-cache';
import { EptpCheck, checkEptp, checkMaxPhysAddr } from './eptp';

// ---- EPT paging-structure entry bits (SDM 29.3.2, Tables 29-1 to 29-7) -----------------------

export const EPTE_READ = 0x1;
export const EPTE_WRITE = 0x2;
export const EPTE_EXEC = 0x4;
/** Bits 5:3 of a leaf: EPT memory type. */
export const EPTE_MEMTYPE_SHIFT = 3;
/** Bit 6 of a leaf: ignore PAT memory type. */
export const EPTE_IPAT = 0x40;
/** Bit 7 of a PDPTE or PDE: the entry maps a 1-GByte or 2-MByte page. */
export const EPTE_LARGE = 0x80;
/** Bit 8: accessed (when EPTP bit 6 = 1). */
export const EPTE_ACCESSED = 0x100;
/** Bit 9 of a leaf: dirty (when EPTP bit 6 = 1). */
export const EPTE_DIRTY = 0x200;

// ---- what `translate` is asked to do ------------------------------------------------------
// Kinds and linear-address flags sit at their exit-qualification positions (Table 28-7), so the
// qualification is mostly a mask of the access word.

/** A data read (qualification bit 0). Reads of guest paging structures are reads too. */
export const EPT_ACCESS_READ = 0x1;
/** A data write (bit 1). A read-modify-write passes READ | WRITE. */
export const EPT_ACCESS_WRITE = 0x2;
/** An instruction fetch (bit 2). */
export const EPT_ACCESS_FETCH = 0x4;
/** Bit 7: the guest linear-address field is valid (all accesses but loads of PAE PDPTEs at MOV CR). */
export const EPT_LINEAR_VALID = 0x80;
/** Bit 8, with bit 7: the access is the translation of a linear address (clear: a guest paging-structure access). */
export const EPT_LINEAR_FINAL = 0x100;
/** Bits 9-11, with bits 7 and 8 and advanced exit information: the guest's own view of the linear address. */
export const EPT_LINEAR_USER = 0x200;
export const EPT_LINEAR_WRITABLE = 0x400;
export const EPT_LINEAR_XD = 0x800;
/**
 * With READ (an entry read) or WRITE (an A/D update): the access is to a guest paging-structure
 * entry while translating a linear address. With EPT A/D on, such accesses are writes for EPT
 * (29.3.3.2, 29.3.5): W is required, the qualification reports bits 0 and 1, and the leaf's dirty
 * flag is set; with A/D off the kinds are as given. Loads of the PAE PDPTEs by MOV to CR are not
 * such accesses: pass them as a plain READ without EPT_LINEAR_VALID.
 */
export const EPT_GUEST_PAGING = 0x10000;
/** Probe only (a debugger's view): use the cache but never fill it, set no accessed/dirty flag. */
export const EPT_NO_AD = 0x20000;

/** Builds an access word from named flags (for code that is not on a hot path). */
export function eptAccess(a: {
  read?: boolean; write?: boolean; fetch?: boolean; linear?: boolean; final?: boolean; guestPaging?: boolean; probe?: boolean;
}): number {
  return (a.read === true ? EPT_ACCESS_READ : 0) | (a.write === true ? EPT_ACCESS_WRITE : 0) |
    (a.fetch === true ? EPT_ACCESS_FETCH : 0) | (a.linear === true ? EPT_LINEAR_VALID : 0) |
    (a.final === true ? EPT_LINEAR_FINAL : 0) | (a.guestPaging === true ? EPT_GUEST_PAGING : 0) |
    (a.probe === true ? EPT_NO_AD : 0);
}

// ---- exit qualification of an EPT violation (SDM 28.2.1, Table 28-7) -------------------------

export const EPT_QUAL_READ = 0x1;
export const EPT_QUAL_WRITE = 0x2;
export const EPT_QUAL_FETCH = 0x4;
/** Bits 5:3: AND of bits 2:0 of the entries used (for a not-present entry, its bits: 000). */
export const EPT_QUAL_PERMS_SHIFT = 3;
export const EPT_QUAL_LINEAR_VALID = 0x80;
export const EPT_QUAL_FINAL = 0x100;
/** Bit 12: set by the caller when IRET unblocked NMIs before the access (28.2.3). */
export const EPT_QUAL_NMI_UNBLOCKING = 0x1000;

/** The EPT-violation exit qualification as data, for decodeFields and views. */
export const EPT_VIOLATION_QUALIFICATION_BITS: readonly BitField[] = Object.freeze([
  flag('read', 0, 'The access was a data read'),
  flag('write', 1, 'The access was a data write'),
  flag('fetch', 2, 'The access was an instruction fetch'),
  flag('readable', 3, 'AND of bit 0 (read) of the EPT entries used'),
  flag('writable', 4, 'AND of bit 1 (write) of the EPT entries used'),
  flag('executable', 5, 'AND of bit 2 (execute) of the EPT entries used'),
  flag('linearValid', 7, 'The guest linear-address field is valid'),
  flag('final', 8, 'The access translated a linear address (clear: a guest paging-structure access)'),
  flag('linearUser', 9, 'Advanced information: the linear address is user-mode'),
  flag('linearWritable', 10, 'Advanced information: the linear address is writable'),
  flag('linearXd', 11, 'Advanced information: the linear address is execute-disable'),
  flag('nmiUnblocking', 12, 'NMI unblocking due to IRET'),
]);

// ---- outcomes --------------------------------------------------------------------------------

/** `translate` returns this for an EPT violation (exit reason 48). */
export const EPT_VIOLATION = -1;
/** `translate` returns this for an EPT misconfiguration (exit reason 49). */
export const EPT_MISCONFIG = -2;

/** Why an entry is a misconfiguration (SDM 29.3.3.1). */
export enum EptMisconfig {
  None = 0,
  /** Bits 2:0 = 010b (write-only) or 110b (write and execute without read). */
  WriteWithoutRead = 1,
  /** Bits 2:0 = 100b and the processor does not support execute-only translations. */
  ExecuteOnly = 2,
  /** A reserved bit is set (bits 7:3 of a non-leaf, 29:12 or 20:12 of a large page, 51:MAXPHYADDR). */
  ReservedBit = 3,
  /** Bit 7 set where no page may be mapped: a PML5E or PML4E, or a size the processor lacks. */
  LargePage = 4,
  /** A leaf's memory type (bits 5:3) is 2, 3 or 7. */
  MemoryType = 5,
}

const MISCONFIG_TEXT: Readonly<Record<number, string>> = {
  [EptMisconfig.WriteWithoutRead]: 'writable but not readable (bits 2:0 = 010b or 110b)',
  [EptMisconfig.ExecuteOnly]: 'execute-only (bits 2:0 = 100b), which IA32_VMX_EPT_VPID_CAP bit 0 does not allow',
  [EptMisconfig.ReservedBit]: 'a reserved bit is set',
  [EptMisconfig.LargePage]: 'bit 7 (page size) is set where no page of that size may be mapped',
  [EptMisconfig.MemoryType]: 'its memory type (bits 5:3) is reserved (2, 3 or 7)',
};

const LEVEL_NAMES = ['', 'PTE', 'PDE', 'PDPTE', 'PML4E', 'PML5E'];

export const EPT_PAGE_4K = 0x1000;
export const EPT_PAGE_2M = 0x200000;
export const EPT_PAGE_1G = 0x40000000;
const SIZES = [EPT_PAGE_4K, EPT_PAGE_2M, EPT_PAGE_1G];

/** The outcome of the last `translate`; one instance per walker, overwritten by every call. */
export class EptResult {
  /** Host-physical address of the access. */
  physAddr = 0;
  /** Host-physical base of the page (aligned to pageSize). */
  pageBase = 0;
  /** EPT_PAGE_4K, _2M or _1G. */
  pageSize = EPT_PAGE_4K;
  /** AND of bits 2:0 (R, W, X) of the entries used. */
  perms = 0;
  /** The leaf's EPT memory type (bits 5:3): 0 UC, 1 WC, 4 WT, 5 WP, 6 WB. */
  memType = 0;
  /** The leaf's ignore-PAT bit (bit 6). */
  ignorePat = false;
  /** Host-physical address of the leaf entry. */
  leafEntryAddr = -1;
  /** Whether the translation came from the cache (no walk). */
  cached = false;
  /** After EPT_VIOLATION: the exit qualification (bit 12 is the caller's). Else 0. */
  qualification = 0;
  /** After EPT_MISCONFIG: why (EptMisconfig). Else None. */
  misconfig = EptMisconfig.None;
  /** After a fault found at an entry: its level (1 PTE … 5 PML5E), its host address and value. 0 for a permission violation. */
  faultLevel = 0;
  faultEntryAddr = -1;
  faultEntryLo = 0;
  faultEntryHi = 0;

  /** A sentence for the debugger about the last misconfiguration (allocates). */
  describeMisconfig(): string {
    if (this.misconfig === EptMisconfig.None) return 'no EPT misconfiguration';
    const e = (BigInt(this.faultEntryHi >>> 0) << 32n) | BigInt(this.faultEntryLo >>> 0);
    return `EPT ${LEVEL_NAMES[this.faultLevel]} at ${hex(this.faultEntryAddr)} (${hex(e)}): ${MISCONFIG_TEXT[this.misconfig]}`;
  }
}

/** `translate` before a valid EPTP was configured: a bug in the caller, not a guest condition. */
export class EptNotConfiguredError extends Error {
  constructor(why: string) {
    super(`EPT walker has no valid EPTP: ${why}`);
    this.name = 'EptNotConfiguredError';
  }
}

export interface EptWalkerOptions {
  /** MAXPHYADDR (CPUID 80000008H:EAX[7:0]), 32 to 52; default 46. */
  readonly maxPhysAddr?: number;
}

const TWO32 = 4294967296;

/**
 * The EPT unit of one logical processor. `configure` with the VMCS EPTP at VM entry (and on
 * EPTP switching); `translate` each guest-physical access; `invalidate` for INVEPT.
 */
export class EptWalker {
  readonly result = new EptResult();
  readonly maxPhysAddr: number;
  readonly cache = new EptCache();

  /** 0 until a valid EPTP is configured, then 4 or 5. */
  private levels = 0;
  private notConfigured = 'configure() has not been called';
  private root = 0;
  private ctx = 0;
  private ad = false;
  private execOnly = false;
  private pages2M = false;
  private pages1G = false;
  /** Bits 11:9 of the access word pass into the qualification when advanced information is on. */
  private advancedMask = 0;
  /** Bits 51:MAXPHYADDR of an entry's high word (reserved). */
  private readonly rsvdHi: number;
  /** Bits MAXPHYADDR-1:32 of an entry's high word (address). */
  private readonly addrHi: number;
  /** Host addresses and low words of the entries of the current walk, by level. */
  private readonly walkAddr = new Float64Array(6);
  private readonly walkLo = new Int32Array(6);

  constructor(readonly mem: PhysicalMemory, options: EptWalkerOptions = {}) {
    const m = options.maxPhysAddr ?? 46;
    checkMaxPhysAddr(m);
    this.maxPhysAddr = m;
    this.addrHi = (1 << (m - 32)) - 1;
    this.rsvdHi = 0xfffff & ~this.addrHi;
  }

  /** Levels of the configured walk (4 or 5), 0 when not configured. */
  get walkLength(): number {
    return this.levels;
  }

  /** Whether the configured EPTP enables accessed and dirty flags. */
  get accessedDirty(): boolean {
    return this.ad;
  }

  /**
   * Takes a new EPTP with the capabilities the processor reports. An invalid EPTP (see
   * checkEptp) leaves the walker unconfigured and returns the reason; nothing is thrown.
   * Cached translations are kept: they are tagged by EP4TA and only INVEPT removes them.
   */
  configure(eptp: bigint, caps: EptCapabilities): EptpCheck {
    const check = checkEptp(eptp, caps, this.maxPhysAddr);
    if (!check.ok) {
      this.levels = 0;
      this.notConfigured = check.reason;
      return check;
    }
    this.levels = check.levels;
    this.root = check.root;
    this.ctx = this.cache.contextOf(check.root);
    this.ad = check.accessedDirty;
    this.execOnly = caps.executeOnly;
    this.pages2M = caps.pde2MB;
    this.pages1G = caps.pdpte1GB;
    this.advancedMask = caps.advancedExitInfo ? EPT_LINEAR_USER | EPT_LINEAR_WRITABLE | EPT_LINEAR_XD : 0;
    return check;
  }

  /**
   * INVEPT: with an EPTP, single-context (mappings of its EP4TA); without, all-context. The
   * INVEPT instruction's own checks (type supported, descriptor valid) are the caller's.
   */
  invalidate(eptp?: bigint): void {
    this.cache.invalidate(eptp === undefined ? undefined : Number(BigInt.asUintN(52, eptp) & ~0xfffn));
  }

  /**
   * Translates guest-physical address hi:lo (two 32-bit halves; bits 47:0, or 56:0 with a
   * 5-level walk) for an access word (EPT_ACCESS_* kinds | EPT_LINEAR_* | EPT_GUEST_PAGING |
   * EPT_NO_AD). Returns the host-physical address, EPT_VIOLATION (see result.qualification) or
   * EPT_MISCONFIG (see result.misconfig, faultLevel, faultEntry*).
   */
  translate(lo: number, hi: number, access: number): number {
    if (this.levels === 0) throw new EptNotConfiguredError(this.notConfigured);
    // With A/D on, a guest paging-structure access is checked, reported and flagged as a write.
    let kinds = access & (EPT_ACCESS_READ | EPT_ACCESS_WRITE | EPT_ACCESS_FETCH);
    if ((access & EPT_GUEST_PAGING) !== 0 && this.ad) kinds |= EPT_ACCESS_READ | EPT_ACCESS_WRITE;
    const probe = (access & EPT_NO_AD) !== 0;
    const cache = this.cache;
    const i = cache.lookup(lo, hi, this.ctx);
    if (i >= 0) {
      const attr = cache.attr[i];
      // Served from the cache when the cached rights allow it and no A/D flag would change.
      if ((kinds & ~attr & EC_RWX) === 0 && (probe || !this.ad ||
        ((attr & EC_ACCESSED) !== 0 && ((kinds & EPT_ACCESS_WRITE) === 0 || (attr & EC_DIRTY) !== 0)))) {
        const r = this.result;
        const size = SIZES[(attr >>> EC_SIZE_SHIFT) & 3];
        const pa = cache.frame[i] + (lo & 0xfff);
        r.physAddr = pa;
        r.pageBase = cache.frame[i] - ((lo & (size - 1)) - (lo & 0xfff));
        r.pageSize = size;
        r.perms = attr & EC_RWX;
        r.memType = (attr & EC_MEMTYPE) >>> EPTE_MEMTYPE_SHIFT;
        r.ignorePat = (attr & EC_IPAT) !== 0;
        r.leafEntryAddr = cache.leaf[i];
        r.cached = true;
        r.qualification = 0;
        r.misconfig = EptMisconfig.None;
        r.faultLevel = 0;
        return pa;
      }
    }
    return this.walk(lo, hi, access, kinds, probe);
  }

  private walk(lo: number, hi: number, access: number, kinds: number, probe: boolean): number {
    const mem = this.mem;
    let table = this.root;
    let level = this.levels;
    let and = 7;
    for (;;) {
      let idx: number;
      switch (level) {
        case 5: idx = (hi >>> 16) & 0x1ff; break; // bits 56:48
        case 4: idx = (hi >>> 7) & 0x1ff; break; // bits 47:39
        case 3: idx = ((hi & 0x7f) << 2) | (lo >>> 30); break; // bits 38:30
        case 2: idx = (lo >>> 21) & 0x1ff; break; // bits 29:21
        default: idx = (lo >>> 12) & 0x1ff; break; // bits 20:12
      }
      const ea = table + idx * 8;
      const elo = mem.read(ea, 4);
      const rwx = elo & 7;
      if (rwx === 0) return this.violation(lo, hi, access, kinds, 0, level, ea, elo, mem.read(ea + 4, 4));
      const ehi = mem.read(ea + 4, 4);
      // Misconfigurations of a present entry (29.3.3.1), most basic first.
      let bad = EptMisconfig.None;
      let size = 0;
      if ((rwx & EPTE_READ) === 0 && (rwx & EPTE_WRITE) !== 0) bad = EptMisconfig.WriteWithoutRead;
      else if (rwx === EPTE_EXEC && !this.execOnly) bad = EptMisconfig.ExecuteOnly;
      else if ((ehi & this.rsvdHi) !== 0) bad = EptMisconfig.ReservedBit;
      else if (level === 1) size = EPT_PAGE_4K;
      else if ((elo & EPTE_LARGE) !== 0) {
        if (level >= 4 || (level === 3 && !this.pages1G) || (level === 2 && !this.pages2M)) bad = EptMisconfig.LargePage;
        else if ((elo & (level === 3 ? 0x3ffff000 : 0x1ff000)) !== 0) bad = EptMisconfig.ReservedBit; // 29:12 / 20:12
        else size = level === 3 ? EPT_PAGE_1G : EPT_PAGE_2M;
      } else if ((elo & 0x78) !== 0) bad = EptMisconfig.ReservedBit; // bits 6:3 of a non-leaf (bit 7 is 0 here)
      if (bad === EptMisconfig.None && size !== 0) {
        const mt = (elo >>> EPTE_MEMTYPE_SHIFT) & 7;
        if (mt === 2 || mt === 3 || mt === 7) bad = EptMisconfig.MemoryType;
      }
      if (bad !== EptMisconfig.None) return this.misconfigured(lo, hi, probe, bad, level, ea, elo, ehi);
      and &= rwx;
      this.walkAddr[level] = ea;
      this.walkLo[level] = elo;
      const frameHi = (ehi & this.addrHi) * TWO32;
      if (size !== 0) {
        // A violation only once the whole walk is free of misconfigurations (29.3.3.2).
        if ((kinds & ~and) !== 0) return this.violation(lo, hi, access, kinds, and, 0, -1, 0, 0);
        const base = frameHi + ((elo & ~(size - 1)) >>> 0);
        return this.success(lo, hi, kinds, probe, and, elo, base, size, level);
      }
      table = frameHi + ((elo & 0xfffff000) >>> 0);
      level--;
    }
  }

  /** Sets the A/D flags (29.3.5), caches the translation and fills `result`. */
  private success(lo: number, hi: number, kinds: number, probe: boolean, and: number, leafLo: number,
    base: number, size: number, leafLevel: number): number {
    const leafAddr = this.walkAddr[leafLevel];
    let attr = and | (leafLo & (EC_MEMTYPE | EC_IPAT)) | ((size === EPT_PAGE_4K ? 0 : size === EPT_PAGE_2M ? 1 : 2) << EC_SIZE_SHIFT);
    if (this.ad && !probe) {
      const mem = this.mem;
      for (let l = this.levels; l >= leafLevel; l--) {
        const elo = this.walkLo[l];
        const want = l === leafLevel && (kinds & EPT_ACCESS_WRITE) !== 0 ? EPTE_ACCESSED | EPTE_DIRTY : EPTE_ACCESSED;
        if ((elo & want) !== want) mem.write(this.walkAddr[l], 4, (elo | want) >>> 0);
      }
      attr |= EC_ACCESSED;
      if ((kinds & EPT_ACCESS_WRITE) !== 0 || (leafLo & EPTE_DIRTY) !== 0) attr |= EC_DIRTY;
    }
    const pa = base + (lo & (size - 1));
    const frame = pa - (lo & 0xfff);
    if (!probe) this.cache.fill(lo, hi, this.ctx, frame, leafAddr, attr);
    const r = this.result;
    r.physAddr = pa;
    r.pageBase = base;
    r.pageSize = size;
    r.perms = and;
    r.memType = (leafLo >>> EPTE_MEMTYPE_SHIFT) & 7;
    r.ignorePat = (leafLo & EPTE_IPAT) !== 0;
    r.leafEntryAddr = leafAddr;
    r.cached = false;
    r.qualification = 0;
    r.misconfig = EptMisconfig.None;
    r.faultLevel = 0;
    return pa;
  }

  private violation(lo: number, hi: number, access: number, kinds: number, and: number,
    level: number, ea: number, elo: number, ehi: number): number {
    let q = kinds | (and << EPT_QUAL_PERMS_SHIFT);
    if ((access & EPT_LINEAR_VALID) !== 0) {
      q |= EPT_QUAL_LINEAR_VALID | (access & EPT_LINEAR_FINAL);
      if ((access & EPT_LINEAR_FINAL) !== 0) q |= access & this.advancedMask;
    }
    if ((access & EPT_NO_AD) === 0) this.cache.drop(lo, hi, this.ctx);
    const r = this.result;
    r.qualification = q;
    r.misconfig = EptMisconfig.None;
    r.perms = and;
    r.faultLevel = level;
    r.faultEntryAddr = ea;
    r.faultEntryLo = elo;
    r.faultEntryHi = ehi;
    r.cached = false;
    return EPT_VIOLATION;
  }

  private misconfigured(lo: number, hi: number, probe: boolean, why: EptMisconfig, level: number, ea: number,
    elo: number, ehi: number): number {
    if (!probe) this.cache.drop(lo, hi, this.ctx);
    const r = this.result;
    r.qualification = 0;
    r.misconfig = why;
    r.faultLevel = level;
    r.faultEntryAddr = ea;
    r.faultEntryLo = elo;
    r.faultEntryHi = ehi;
    r.cached = false;
    return EPT_MISCONFIG;
  }
}
