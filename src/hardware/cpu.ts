// The emulated x86-64 processor: state, linear-memory access through a TLB, the decoded-block
// cache, and the run loop. Instruction semantics live in exec-*.ts, decoding in decoder.ts.

import { Ar, CpuState, Seg } from './cpu-state';
import { IoBus } from './io-bus';
import { Insn } from './insn';
import { PhysicalMemory, PAGE_SIZE, CHUNK_MASK } from './memory';
import { decodeBlock, DecodeMode } from './decoder';
import { Tlb, TLB_MASK, Perm } from './tlb';
import { TlbTags } from './tlb-tags';
import { deliverEvent } from './exceptions';
import { eventsMayBePending, InterruptController, takePendingEvent } from './events';
import { CpuMsrFile } from './msr-file';
import { CpuidTable, defaultCpuid } from './cpuid';
import { COMPILE_THRESHOLD, CompiledBlock, compileBlock } from './block-compiler';
import { DataWatch, WatchAccess, WatchHit, WatchRange } from './data-watch';
import {
  ACCESS_FETCH, ACCESS_USER, ACCESS_WRITE, PAGE_FAULT, PageWalker, loadPdptes,
} from './paging';

/** An exception raised while executing an instruction (SDM Vol. 3A, 6.3.1 vectors). */
export class CpuFault {
  constructor(readonly vector: number, readonly errorCode: number = -1, readonly detail = '') {}
}

export const enum Vector {
  DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8, TS = 10, NP = 11, SS = 12, GP = 13, PF = 14,
  MF = 16, AC = 17, MC = 18, XM = 19, VE = 20, CP = 21,
}

/**
 * A fault raised after an instruction or event has already switched context (a task switch
 * whose checks fail in the new task, SDM Vol. 3A 8.3): it is delivered with RIP and the rest of
 * the state as the new context has them, not rolled back to the instruction.
 */
export class CommittedFault extends CpuFault {}

/** Places where VMX non-root operation may exit (SDM Vol. 3C, 26.1-26.2); the VMX layer hooks them. */
export const enum Intercept {
  CPUID = 1 << 0, HLT = 1 << 1, IO = 1 << 2, MSR_READ = 1 << 3, MSR_WRITE = 1 << 4, CR_READ = 1 << 5,
  CR_WRITE = 1 << 6, INVLPG = 1 << 7, RDTSC = 1 << 8, DR_ACCESS = 1 << 9, PAUSE = 1 << 10, XSETBV = 1 << 11,
  INVD = 1 << 12, WBINVD = 1 << 13, RDPMC = 1 << 14, MONITOR_MWAIT = 1 << 15, DESCRIPTOR_TABLE = 1 << 16,
  EXCEPTION = 1 << 17, RDRAND = 1 << 18, VMX_INSTRUCTION = 1 << 19, GETSEC = 1 << 20, INTERRUPT = 1 << 21,
  TASK_SWITCH = 1 << 22,
  /** An NMI about to be delivered; and an instruction boundary while `eventWatch` is set (window exiting). */
  NMI = 1 << 23, EVENT_WINDOW = 1 << 24,
}

/** Why `run` returned. */
export type RunOutcome =
  | { kind: 'budget' }
  | { kind: 'halt' }
  | { kind: 'breakpoint' }
  | { kind: 'intercept'; intercept: Intercept }
  | { kind: 'triple-fault'; vector: number }
  | { kind: 'exception'; vector: number; errorCode: number; detail: string }
  | { kind: 'stop' }
  /** A data access touched a watchpoint; the instruction that made it has completed (a trap). */
  | { kind: 'watchpoint'; address: number; size: number; access: WatchAccess }
  /** A VM exit returned control to a host that is not x86 code on this CPU (the VMM in TypeScript). */
  | { kind: 'vm-exit'; reason: number };

export interface CpuHooks {
  /** Asked before an intercepted instruction executes; true stops the run before it. */
  intercept(cpu: Cpu, what: Intercept, insn: Insn): boolean;
  /**
   * Asked when an instruction raises an exception, before delivery (RIP at the instruction);
   * true stops the run instead of delivering it (the VMX exception bitmap, test harnesses).
   */
  exception?(cpu: Cpu, vector: number, errorCode: number): boolean;
  /**
   * Asked at an instruction boundary before an NMI or external interrupt is taken (when its
   * bit is in `interceptMask`), and at every boundary while `eventWatch` is set
   * (Intercept.EVENT_WINDOW); true stops the run instead.
   */
  event?(cpu: Cpu, what: Intercept): boolean;
  /**
   * Told of every stop a hook asked for (and of a triple fault) with RIP where the SDM puts it,
   * before `run` returns: the VMX core performs the VM exit here. Returns the outcome to report,
   * or undefined to keep running (the exit loaded a host that runs as x86 code on this CPU).
   */
  takeStop?(cpu: Cpu, outcome: RunOutcome): RunOutcome | undefined;
}

/**
 * A second translation stage after paging: EPT while a guest runs with it (the VMX core sets
 * it). `translate` maps a guest-physical address for an access kind (Perm) at a linear address
 * and leaves in `permMask` the Perm kinds a TLB entry may serve; on an EPT violation or
 * misconfiguration it throws (the VM exit), so the instruction has no effect.
 */
export interface SecondStage {
  translate(gpa: number, kind: number, linLo: number, linHi: number): number;
  permMask: number;
}

/** VMX operation, when the processor has it (src/hardware/vmx/vmx-unit.ts). */
export interface VmxPort {
  /** Executes a VMX instruction (VMXON … VMFUNC, INVEPT, INVVPID). */
  execute(cpu: Cpu, insn: Insn): void;
}

interface Block {
  insns: Insn[];
  phys: number;
  ripLo: number;
  ripHi: number;
  mode: number;
  valid: boolean;
  /** Chaining (see followChain): the last two successors, and the context the block was last found in. */
  next: Block | undefined;
  alt: Block | undefined;
  gen: number;
  tlbEpoch: number;
  cpl: number;
  csBase: number;
  /** Executions through the run loop so far, and the block as one function once it is hot. */
  runs: number;
  compiled: CompiledBlock | undefined;
}

const BLOCK_CACHE_SIZE = 1 << 16;

export class Cpu extends CpuState {
  readonly mem: PhysicalMemory;
  readonly io: IoBus;
  /** The cached translations in use: the host's, or with VMX "enable VPID" the guest's (tlb-tags.ts). */
  tlb = new Tlb();
  private readonly tlbTags = new TlbTags(this.tlb);
  /** Scratch results: the high word of a 64-bit read, computed addresses. */
  hi = 0;
  eaLo = 0;
  eaHi = 0;
  /** Segment of the last computed address when it needs limit/type checks (else -1), and its offset. */
  eaSeg = -1;
  eaOff = 0;
  /** Instructions retired since reset. */
  icount = 0;
  /** Bits of Intercept that the hooks want to see; zero costs nothing per instruction. */
  interceptMask = 0;
  hooks: CpuHooks | undefined;
  /** What drives INTR (see events.ts); undefined: no interrupt controller attached. */
  interruptController: InterruptController | undefined;
  /** Guest-physical → host-physical (EPT); undefined: physical addresses are host addresses. */
  secondStage: SecondStage | undefined;
  /** True while the decoder fetches beyond a block's first instruction (see decodeBlock). */
  speculativeFetch = false;
  /** The linear address being translated (for EPT's guest-linear-address reporting). */
  walkLo = 0;
  walkHi = 0;
  /** VMX operation; undefined: VMX instructions are #UD. */
  vmx: VmxPort | undefined;
  /** Execute one instruction per block (monitor trap flag), so boundaries can be watched. */
  singleStep = false;
  /** icount at which `hooks.event` is asked (Intercept.EVENT_WINDOW), e.g. the VMX-preemption timer. */
  eventDeadline = Infinity;
  /** CR0/CR4 bits that must be 1 and may be 1 (VMX operation narrows them; SDM Vol. 3C, 24.8). */
  cr0Fixed0 = 0;
  cr0Fixed1 = 0xffffffff;
  cr4Fixed0 = 0;
  cr4Fixed1 = 0xffffffff;
  /** Guest/host masks and read shadows: masked bits read from the shadow (SDM Vol. 3C, 25.6.6). */
  cr0Mask = 0;
  cr0Shadow = 0;
  cr4Mask = 0;
  cr4Shadow = 0;
  /** Ask `hooks.event` at every instruction boundary (VMX interrupt- and NMI-window exiting). */
  eventWatch = false;
  /** Set by an instruction that must end the current block after it completes. */
  stopBlock = false;
  /** Set by a compiled block: the index of the instruction that raised an exception. */
  faultIndex = 0;
  /** Set by `requestStop` (another thread of control, e.g. a pause request between slices). */
  private stopRequested = false;
  private lastIntercept: Intercept = Intercept.CPUID;
  private readonly blocks: Array<Block | undefined> = new Array<Block | undefined>(BLOCK_CACHE_SIZE).fill(undefined);
  private readonly blocksByPage = new Map<number, Block[]>();
  /** Bumped when every decoded block becomes stale at once (breakpoints, code-cache flush). */
  private codeGen = 0;
  /** Linear addresses (as doubles, exact below 2^53) where execution stops before the instruction. */
  private readonly breakpoints = new Set<number>();
  /** Time stamp counter: derived from the instruction count (deterministic). */
  tscOffset = 0n;
  readonly msrs: CpuMsrFile;
  cpuidTable: CpuidTable = defaultCpuid();
  readonly walker: PageWalker;
  /** PAE page-directory-pointer entries, loaded when CR3 is written in PAE mode (SDM 4.4.1). */
  pdptes: bigint[] = [0n, 0n, 0n, 0n];

  constructor(mem: PhysicalMemory, io: IoBus = new IoBus()) {
    super();
    this.mem = mem;
    this.io = io;
    mem.onWatchedWrite = (page) => this.invalidateCodePage(page);
    this.watch = new DataWatch(mem);
    this.msrs = new CpuMsrFile(this);
    this.walker = new PageWalker(mem);
    this.resetToRealMode();
  }

  /** Power-on state with CS:IP = 0000:0000 (the VMM sets the entry point; SDM Vol. 3A, 10.1.1). */
  resetToRealMode(): void {
    this.r.fill(0);
    this.ip.fill(0);
    this.flagsOther = 2;
    this.lf.fill(0);
    for (let s = 0; s < 6; s++) {
      this.segSel[s] = 0;
      this.segBase[2 * s] = 0;
      this.segBase[2 * s + 1] = 0;
      this.segLimit[s] = 0xffff;
      this.segAr[s] = Ar.P | Ar.S | (s === Seg.CS ? 0xb : 0x3);
    }
    this.segLimit[Seg.LDTR] = 0xffff;
    this.segAr[Seg.LDTR] = Ar.P | 0x2;
    this.segLimit[Seg.TR] = 0xffff;
    this.segAr[Seg.TR] = Ar.P | 0xb;
    this.cr0 = 0x60000010;
    this.cr3 = 0n;
    this.cr4 = 0;
    this.efer = 0;
    this.cpl = 0;
    this.halted = false;
    this.flushTlb();
  }

  // ---- mode ---------------------------------------------------------------------------

  /** The decode mode: 16, 32 or 64 from CS.L/CS.D and EFER.LMA. */
  decodeMode(): DecodeMode {
    const ar = this.segAr[Seg.CS];
    if ((this.efer & 0x400) !== 0 && (ar & Ar.L) !== 0) return 64;
    return (ar & Ar.DB) !== 0 && (this.cr0 & 1) !== 0 ? 32 : 16;
  }

  // ---- linear memory ------------------------------------------------------------------

  flushTlb(): void {
    this.tlb.flushAll();
  }

  /** Empties the cached translations of every VPID and EPTP (INVEPT, INVVPID, and the emulator's own reasons). */
  flushEveryTlb(): void {
    this.tlbTags.each((t) => t.flushAll());
  }

  /** Makes the translations tagged with `vpid` and EPTP current (a VM entry with "enable VPID"); see tlb-tags.ts. */
  useGuestTlb(vpid: number, eptLo: number, eptHi: number): void {
    this.tlb = this.tlbTags.select(vpid, eptLo, eptHi);
  }

  /** Makes the host's (VPID 0000H) translations current; false if they were already. */
  useHostTlb(): boolean {
    if (this.tlb === this.tlbTags.host) return false;
    this.tlb = this.tlbTags.host;
    return true;
  }

  /** Access kinds for the current privilege level. */
  private permFor(kind: number): number {
    return this.cpl === 3 ? kind << 3 : kind;
  }

  /** Translates a linear address to physical for an access, filling the TLB. Throws #PF. */
  translate(lo: number, hi: number, kind: number): number {
    const perm = this.permFor(kind);
    const idx = ((lo >>> 12) | (hi << 20)) & TLB_MASK;
    const t = this.tlb;
    if (t.tagLo[idx] === ((lo >>> 12) | (hi << 20)) && t.tagHi[idx] === (hi >>> 12) && (t.perm[idx] & perm) !== 0) {
      return t.ppn[idx] * PAGE_SIZE + (lo & 0xfff);
    }
    return this.tlbMiss(lo, hi, kind, idx);
  }

  private tlbMiss(lo: number, hi: number, kind: number, idx: number): number {
    // a non-canonical address never hits the TLB (its tag differs), so the check costs nothing
    // on the fast path (SDM Vol. 3A, 3.3.7.1; stack references should be #SS, not told apart yet)
    if ((this.efer & 0x400) !== 0 && ((hi << 16) >> 16) !== hi) throw new CpuFault(Vector.GP, 0, 'non-canonical address');
    if ((this.cr0 & 0x80000000) === 0) {
      // paging off: linear is physical (32 bits outside IA-32e mode)
      let phys = (lo >>> 0) + (this.longModeActive ? (hi >>> 0) * 4294967296 : 0);
      let perms: number = Perm.ALL;
      const stage = this.secondStage;
      if (stage !== undefined) {
        phys = stage.translate(phys, kind, lo, hi);
        perms = stage.permMask;
      }
      this.fillTlb(idx, lo, hi, Math.floor(phys / PAGE_SIZE), perms);
      return phys;
    }
    return this.walk(lo, hi, kind, idx);
  }

  /** Page walk through the guest's paging structures; fills the TLB or raises #PF with CR2. */
  private walk(lo: number, hi: number, kind: number, idx: number): number {
    let access = kind === Perm.W ? ACCESS_WRITE : kind === Perm.X ? ACCESS_FETCH : 0;
    if (this.cpl === 3) access |= ACCESS_USER;
    access |= this.flagsOther & 0x40000; // RFLAGS.AC for SMAP
    this.walkLo = lo;
    this.walkHi = hi;
    if (this.walkerStale) {
      this.walkerStale = false;
      this.walker.configure(this); // the processor's own fields are the control state (no object per VM entry/exit)
    }
    let phys = this.walker.translate(lo, hi, access);
    const r = this.walker.result;
    if (phys === PAGE_FAULT) {
      // CR2 is written when the #PF is delivered: a #PF that causes a VM exit leaves it alone
      this.pfAddress = (BigInt(r.faultHi >>> 0) << 32n) | BigInt(r.faultLo >>> 0);
      throw new CpuFault(Vector.PF, r.errorCode, 'page fault');
    }
    let perms = this.walker.allowedKinds(r.perms);
    const stage = this.secondStage;
    if (stage !== undefined) {
      phys = stage.translate(phys, kind, lo, hi);
      perms &= stage.permMask;
    }
    this.fillTlb(idx, lo, hi, Math.floor(phys / PAGE_SIZE), perms);
    if (r.global) this.tlb.global[idx] = 1; else this.tlb.global[idx] = 0;
    if (r.pageSize > PAGE_SIZE) this.tlb.largePages = true;
    return phys;
  }

  /** An event whose delivery a VM exit interrupted (IDT-vectoring information layout), 0 when none. */
  vectoringInfo = 0;
  vectoringError = 0;
  /** Target selector (bits 15:0) and source (bits 31:30) of the task switch being attempted (VMX exit qualification). */
  taskSwitchExit = 0;
  /** Linear address of the last page fault, for CR2 or the VM-exit qualification. */
  pfAddress = 0n;

  /** CR0 as MOV from CR0 and SMSW read it: bits the VMX guest/host mask owns come from the read shadow. */
  readCr0(): number {
    return ((this.cr0 & ~this.cr0Mask) | (this.cr0Shadow & this.cr0Mask)) >>> 0;
  }

  readCr4(): number {
    return ((this.cr4 & ~this.cr4Mask) | (this.cr4Shadow & this.cr4Mask)) >>> 0;
  }

  /** Points the page walker at the current paging control registers. */
  reconfigurePaging(): void {
    this.repointPaging();
    this.tlb.flushAll();
  }

  /**
   * Points the page walker at the current paging control registers, keeping cached translations.
   * Done at the next page walk: a VM entry or exit whose translations all hit the TLB walks nothing.
   */
  repointPaging(): void {
    this.walkerStale = true;
  }

  /** The paging registers changed since the walker was configured (see repointPaging). */
  private walkerStale = false;

  /** INVLPG: every TLB entry for the page (all of them if large pages are cached). */
  invalidatePage(lo: number, hi: number): void {
    if (this.tlb.largePages) this.tlb.flushAll(); else this.tlb.flushPage(lo, hi);
  }

  /** The time-stamp counter: instructions retired plus the offset software wrote. */
  tsc(): bigint {
    return BigInt(this.icount) + this.tscOffset;
  }

  /**
   * MOV to CR0/CR2/CR3/CR4/CR8 with the checks and side effects of SDM Vol. 3A 2.5 and
   * Vol. 2B "MOV—Move to/from Control Registers": reserved bits #GP, mode transitions
   * (EFER.LMA), PDPTE loads in PAE mode, TLB flushes.
   */
  writeCr(n: number, v: bigint): void {
    const gp = (why: string) => { throw new CpuFault(Vector.GP, 0, why); };
    switch (n) {
      case 0: {
        if (v >> 32n !== 0n) gp('reserved CR0 bits 63:32 set');
        // bits the VMX guest/host mask owns keep their value (SDM Vol. 3C, 26.3)
        const nv = ((Number(v) & ~this.cr0Mask) | (this.cr0 & this.cr0Mask) | 0x10) >>> 0; // ET is hardwired to 1
        if (((nv & this.cr0Fixed0) >>> 0) !== this.cr0Fixed0 >>> 0 || (nv & ~this.cr0Fixed1) !== 0) gp('CR0 bit fixed in VMX operation');
        const pg = (nv & 0x80000000) !== 0, pe = (nv & 1) !== 0;
        if (pg && !pe) gp('CR0.PG without CR0.PE');
        if ((nv & 0x20000000) !== 0 && (nv & 0x40000000) === 0) gp('CR0.NW without CR0.CD');
        const wasPg = (this.cr0 & 0x80000000) !== 0;
        if (pg && !wasPg && (this.efer & 0x100) !== 0) {
          if ((this.cr4 & 0x20) === 0) gp('enabling IA-32e paging without CR4.PAE');
          if ((this.segAr[Seg.CS] & Ar.L) !== 0) gp('enabling IA-32e mode with CS.L set');
          this.efer |= 0x400;
        } else if (pg && !wasPg && (this.cr4 & 0x20) !== 0) {
          this.loadPdptesOrFault();
        }
        if (!pg && wasPg) {
          if (this.in64BitMode) gp('disabling paging in 64-bit mode');
          this.efer &= ~0x400;
        }
        this.cr0 = nv >>> 0;
        this.reconfigurePaging();
        this.stopBlock = true;
        return;
      }
      case 2: this.cr2 = v; return;
      case 3: {
        if (this.longModeActive && (v >> 52n) !== 0n) gp('reserved CR3 bits set');
        this.cr3 = this.longModeActive ? v : v & 0xffffffffn;
        if ((this.cr0 & 0x80000000) !== 0 && (this.cr4 & 0x20) !== 0 && !this.longModeActive) this.loadPdptesOrFault();
        this.walker.configure({ cr0: this.cr0, cr3: this.cr3, cr4: this.cr4, efer: this.efer, pdptes: this.pdptes });
        if ((this.cr4 & 0x80) !== 0) this.tlb.flushNonGlobal(); else this.tlb.flushAll();
        return;
      }
      case 4: {
        const nv = ((Number(v & 0xffffffffn) & ~this.cr4Mask) | (this.cr4 & this.cr4Mask)) >>> 0;
        if (v >> 32n !== 0n || (nv & ~CR4_WRITABLE) !== 0) gp('reserved or unsupported CR4 bit set');
        if (((nv & this.cr4Fixed0) >>> 0) !== this.cr4Fixed0 >>> 0 || (nv & ~this.cr4Fixed1) !== 0) gp('CR4 bit fixed in VMX operation');
        if (this.longModeActive && (nv & 0x20) === 0) gp('clearing CR4.PAE in IA-32e mode');
        const pagingOn = (this.cr0 & 0x80000000) !== 0;
        if (pagingOn && !this.longModeActive && (nv & 0x20) !== 0 && ((this.cr4 ^ nv) & 0x30) !== 0) {
          this.cr4 = nv;
          this.loadPdptesOrFault();
        }
        this.cr4 = nv;
        this.reconfigurePaging();
        this.stopBlock = true;
        return;
      }
      case 8:
        if (v >> 4n !== 0n) gp('reserved CR8 bits set');
        this.cr8 = Number(v);
        return;
      default:
        throw new CpuFault(Vector.UD, -1, `CR${n} does not exist`);
    }
  }

  private loadPdptesOrFault(): void {
    const r = loadPdptes(this.mem, this.cr3);
    if (!r.ok) throw new CpuFault(Vector.GP, 0, `invalid PDPTE ${r.index}: ${r.reason}`);
    this.pdptes = [...r.pdptes];
  }

  fillTlb(idx: number, lo: number, hi: number, ppn: number, perm: number): void {
    const t = this.tlb;
    let p = perm;
    if (this.mem.mmioPages[ppn] === 1 || ppn >= this.mem.mmioPages.length) {
      p = 0; // devices and holes always take the slow path
    } else {
      if (this.mem.watchedPages[ppn] === 1 || this.mem.dataWatchPages[ppn] === 1) p &= ~(Perm.W | Perm.UW);
      if (this.watch.readPages[ppn] === 1) p &= ~(Perm.R | Perm.UR);
    }
    t.tagLo[idx] = (lo >>> 12) | (hi << 20);
    t.tagHi[idx] = hi >>> 12;
    t.ppn[idx] = ppn;
    t.perm[idx] = p;
    t.noteFill(idx);
    if (p !== 0) {
      t.view[idx] = this.mem.chunkView(ppn * PAGE_SIZE);
      t.off[idx] = (ppn * PAGE_SIZE) & CHUNK_MASK;
    }
  }

  /** Reads 1, 2 or 4 bytes at a linear address: bytes and words unsigned, dwords as int32 like the registers. */
  read(lo: number, hi: number, size: number): number {
    const t = this.tlb;
    const vpn = (lo >>> 12) | (hi << 20);
    const idx = vpn & TLB_MASK;
    const off = lo & 0xfff;
    if (t.tagLo[idx] === vpn && t.tagHi[idx] === (hi >>> 12) && (t.perm[idx] & (this.cpl === 3 ? Perm.UR : Perm.R)) !== 0 && off + size <= PAGE_SIZE) {
      const v = t.view[idx];
      const o = t.off[idx] + off;
      return size === 4 ? v.getInt32(o, true) : size === 1 ? v.getUint8(o) : v.getUint16(o, true);
    }
    return size === 4 ? this.readSlow(lo, hi, size, Perm.R) | 0 : this.readSlow(lo, hi, size, Perm.R);
  }

  /** Reads 8 bytes: returns the low word, the high word in `this.hi`. */
  read64(lo: number, hi: number): number {
    const t = this.tlb;
    const vpn = (lo >>> 12) | (hi << 20);
    const idx = vpn & TLB_MASK;
    const off = lo & 0xfff;
    if (t.tagLo[idx] === vpn && t.tagHi[idx] === (hi >>> 12) && (t.perm[idx] & (this.cpl === 3 ? Perm.UR : Perm.R)) !== 0 && off <= PAGE_SIZE - 8) {
      const v = t.view[idx];
      const o = t.off[idx] + off;
      this.hi = v.getInt32(o + 4, true);
      return v.getInt32(o, true);
    }
    if (off <= PAGE_SIZE - 8) {
      // one page: one translation, and a watchpoint sees the access whole
      const phys = this.translate(lo, hi, Perm.R);
      if (this.watch.watchesReads && !this.systemAccess) this.noteDataRead(phys, 8);
      const low = this.mem.read(phys, 4);
      this.hi = this.mem.read(phys + 4, 4) | 0;
      return low | 0;
    }
    const l = this.readSlow(lo, hi, 4, Perm.R);
    const nlo = (lo + 4) | 0;
    this.hi = this.readSlow(nlo, (nlo >>> 0) < 4 ? (hi + 1) | 0 : hi, 4, Perm.R) | 0;
    return l | 0;
  }

  /**
   * read64 straight into register `reg`. Values pass through typed arrays only: an int32 that
   * does not fit a small integer would be boxed (allocated) when returned from or passed to a
   * call that V8 has not inlined.
   */
  read64ToReg(lo: number, hi: number, reg: number): void {
    const t = this.tlb, r = this.r;
    const vpn = (lo >>> 12) | (hi << 20);
    const idx = vpn & TLB_MASK;
    const off = lo & 0xfff;
    if (t.tagLo[idx] === vpn && t.tagHi[idx] === (hi >>> 12) && (t.perm[idx] & (this.cpl === 3 ? Perm.UR : Perm.R)) !== 0 && off <= PAGE_SIZE - 8) {
      const v = t.view[idx];
      const o = t.off[idx] + off;
      r[2 * reg] = v.getInt32(o, true);
      r[2 * reg + 1] = v.getInt32(o + 4, true);
      return;
    }
    const l = this.read64(lo, hi);
    r[2 * reg] = l;
    r[2 * reg + 1] = this.hi;
  }

  /** write64 of register `reg` (see read64ToReg for why the value is not passed). */
  write64FromReg(lo: number, hi: number, reg: number): void {
    const t = this.tlb, r = this.r;
    const vpn = (lo >>> 12) | (hi << 20);
    const idx = vpn & TLB_MASK;
    const off = lo & 0xfff;
    if (t.tagLo[idx] === vpn && t.tagHi[idx] === (hi >>> 12) && (t.perm[idx] & (this.cpl === 3 ? Perm.UW : Perm.W)) !== 0 && off <= PAGE_SIZE - 8) {
      const v = t.view[idx];
      const o = t.off[idx] + off;
      v.setInt32(o, r[2 * reg], true);
      v.setInt32(o + 4, r[2 * reg + 1], true);
      return;
    }
    this.write64(lo, hi, r[2 * reg], r[2 * reg + 1]);
  }

  /** Reads an instruction byte (fetch permission). */
  fetch8(lo: number, hi: number): number {
    return this.readSlow(lo, hi, 1, Perm.X);
  }

  private readSlow(lo: number, hi: number, size: number, kind: number): number {
    const off = lo & 0xfff;
    if (off + size > PAGE_SIZE) {
      // crosses a page: both pages are checked before any byte is used
      let v = 0;
      const phys = new Array<number>(size);
      for (let k = 0; k < size; k++) {
        const a = (lo + k) | 0;
        phys[k] = this.translate(a, (a >>> 0) < (lo >>> 0) ? (hi + 1) | 0 : hi, kind);
      }
      for (let k = size - 1; k >= 0; k--) v = v * 256 + this.mem.read8(phys[k]);
      if (kind === Perm.R && this.watch.watchesReads && !this.systemAccess) for (let k = 0; k < size; k++) this.noteDataRead(phys[k], 1);
      return v;
    }
    const phys = this.translate(lo, hi, kind);
    if (kind === Perm.R && this.watch.watchesReads && !this.systemAccess) this.noteDataRead(phys, size);
    return this.mem.read(phys, size as 1 | 2 | 4);
  }

  /** A data read reached memory by the slow path: it may be on a read-watched page. */
  private noteDataRead(phys: number, size: number): void {
    if (this.watch.readPages[Math.floor(phys / PAGE_SIZE)] === 1 && this.watch.noteRead(phys, size)) this.stopBlock = true;
  }

  write(lo: number, hi: number, size: number, value: number): void {
    const t = this.tlb;
    const vpn = (lo >>> 12) | (hi << 20);
    const idx = vpn & TLB_MASK;
    const off = lo & 0xfff;
    if (t.tagLo[idx] === vpn && t.tagHi[idx] === (hi >>> 12) && (t.perm[idx] & (this.cpl === 3 ? Perm.UW : Perm.W)) !== 0 && off + size <= PAGE_SIZE) {
      const v = t.view[idx];
      const o = t.off[idx] + off;
      if (size === 4) v.setInt32(o, value, true);
      else if (size === 1) v.setUint8(o, value);
      else v.setUint16(o, value, true);
      return;
    }
    this.writeSlow(lo, hi, size, value);
  }

  write64(lo: number, hi: number, vlo: number, vhi: number): void {
    const t = this.tlb;
    const vpn = (lo >>> 12) | (hi << 20);
    const idx = vpn & TLB_MASK;
    const off = lo & 0xfff;
    if (t.tagLo[idx] === vpn && t.tagHi[idx] === (hi >>> 12) && (t.perm[idx] & (this.cpl === 3 ? Perm.UW : Perm.W)) !== 0 && off <= PAGE_SIZE - 8) {
      const v = t.view[idx];
      const o = t.off[idx] + off;
      v.setInt32(o, vlo, true);
      v.setInt32(o + 4, vhi, true);
      return;
    }
    if (off > PAGE_SIZE - 8) {
      // translate both halves first so a fault leaves memory untouched
      const nlo = (lo + 4) | 0;
      const nhi = (nlo >>> 0) < 4 ? (hi + 1) | 0 : hi;
      this.checkWritable(lo, hi, 8);
      this.writeSlow(lo, hi, 4, vlo);
      this.writeSlow(nlo, nhi, 4, vhi);
      return;
    }
    const phys = this.translate(lo, hi, Perm.W);
    this.mem.write(phys, 4, vlo >>> 0);
    this.mem.write(phys + 4, 4, vhi >>> 0);
  }

  /** Checks that every byte of a write is permitted before the first byte is stored. */
  checkWritable(lo: number, hi: number, size: number): void {
    this.translate(lo, hi, Perm.W);
    const end = (lo + size - 1) | 0;
    this.translate(end, (end >>> 0) < (lo >>> 0) ? (hi + 1) | 0 : hi, Perm.W);
  }

  private writeSlow(lo: number, hi: number, size: number, value: number): void {
    const off = lo & 0xfff;
    if (off + size > PAGE_SIZE) {
      this.checkWritable(lo, hi, size);
      for (let k = 0; k < size; k++) {
        const a = (lo + k) | 0;
        const p = this.translate(a, (a >>> 0) < (lo >>> 0) ? (hi + 1) | 0 : hi, Perm.W);
        this.mem.write8(p, (value >>> (8 * k)) & 0xff);
      }
      return;
    }
    const phys = this.translate(lo, hi, Perm.W);
    this.mem.write(phys, size as 1 | 2 | 4, size === 4 ? value >>> 0 : value & ((1 << (8 * size)) - 1));
  }

  // ---- decoded-code cache -------------------------------------------------------------

  private invalidateCodePage(page: number): void {
    const list = this.blocksByPage.get(page);
    if (list !== undefined) {
      for (const b of list) {
        b.valid = false;
        const slot = b.phys & (BLOCK_CACHE_SIZE - 1);
        if (this.blocks[slot] === b) this.blocks[slot] = undefined;
      }
      this.blocksByPage.delete(page);
    }
    this.mem.watchedPages[page] = 0;
    this.stopBlock = true; // the running block may have just been overwritten
  }

  /** Drops every decoded block (breakpoints changed, or a flush the architecture defines). */
  flushCodeCache(): void {
    this.codeGen++;
    this.blocks.fill(undefined);
    for (const page of this.blocksByPage.keys()) this.mem.watchedPages[page] = 0;
    this.blocksByPage.clear();
    this.flushEveryTlb();
  }

  private watchPage(page: number, block: Block): void {
    let list = this.blocksByPage.get(page);
    if (list === undefined) {
      list = [];
      this.blocksByPage.set(page, list);
      this.mem.watchedPages[page] = 1;
      this.tlbTags.each((t) => t.dropWrite(page));
    }
    list.push(block);
  }

  private lookupBlock(): Block {
    const lo = this.ip[0], hi = this.ip[1];
    const mode = this.decodeMode();
    const csBaseLo = mode === 64 ? 0 : this.segBase[2 * Seg.CS];
    const linLo = (lo + csBaseLo) | 0;
    const linHi = mode === 64 ? hi : 0;
    const phys = this.translate(linLo, linHi, Perm.X);
    const slot = phys & (BLOCK_CACHE_SIZE - 1);
    const b = this.blocks[slot];
    if (b !== undefined && b.phys === phys && b.ripLo === lo && b.ripHi === hi && b.mode === mode) {
      this.stampBlock(b);
      return b;
    }
    const insns = decodeBlock(this, lo, hi, mode, this.breakpoints.size > 0 ? this.breakpoints : undefined);
    const block: Block = {
      insns, phys, ripLo: lo, ripHi: hi, mode, valid: true,
      next: undefined, alt: undefined, gen: this.codeGen, tlbEpoch: this.tlb.epoch, cpl: this.cpl, csBase: this.segBase[2 * Seg.CS],
      runs: 0, compiled: undefined,
    };
    this.blocks[slot] = block;
    const firstPage = Math.floor(phys / PAGE_SIZE);
    this.watchPage(firstPage, block);
    const last = insns[insns.length - 1];
    const endLin = (linLo + (last.ripLo - lo) + last.len - 1) | 0; // a block may run through a jump
    if ((endLin >>> 12) !== (linLo >>> 12)) {
      const p2 = this.translate(endLin, (endLin >>> 0) < (linLo >>> 0) ? (linHi + 1) | 0 : linHi, Perm.X);
      this.watchPage(Math.floor(p2 / PAGE_SIZE), block);
    }
    return block;
  }

  /** Records the context in which a full lookup found `b`, so a chain may reuse it in the same one. */
  private stampBlock(b: Block): void {
    b.tlbEpoch = this.tlb.epoch;
    b.cpl = this.cpl;
    b.csBase = this.segBase[2 * Seg.CS];
  }

  /**
   * The block at RIP after `prev` ran: one of prev's remembered successors when it is still
   * the block a full lookup would find, else a full lookup (remembered for next time).
   * A successor is reusable when it is valid and of this code generation, starts at RIP in
   * the current mode, and was last found with the same TLB contents (so the same linear-to-
   * physical translation and fetch permission), CPL and CS base: exactly what lookupBlock
   * would check, without the TLB probe and the cache-slot load.
   */
  private followChain(prev: Block): Block {
    const lo = this.ip[0], hi = this.ip[1];
    const csBase = this.segBase[2 * Seg.CS], epoch = this.tlb.epoch, gen = this.codeGen, cpl = this.cpl;
    const mode = this.decodeMode();
    let b = prev.next;
    if (b !== undefined && b.ripLo === lo && b.ripHi === hi && b.tlbEpoch === epoch && b.gen === gen && b.valid && b.cpl === cpl && b.csBase === csBase && b.mode === mode) return b;
    b = prev.alt;
    if (b !== undefined && b.ripLo === lo && b.ripHi === hi && b.tlbEpoch === epoch && b.gen === gen && b.valid && b.cpl === cpl && b.csBase === csBase && b.mode === mode) {
      prev.alt = prev.next;
      prev.next = b;
      return b;
    }
    b = this.lookupBlock();
    prev.alt = prev.next;
    prev.next = b;
    return b;
  }

  // ---- breakpoints --------------------------------------------------------------------

  static addressKey(lo: number, hi: number): number {
    return (hi >>> 0) * 4294967296 + (lo >>> 0);
  }

  setBreakpoints(addresses: Iterable<bigint>): void {
    this.breakpoints.clear();
    for (const a of addresses) this.breakpoints.add(Number(a & 0xffffffffffffffffn));
    this.codeGen++;
    this.blocks.fill(undefined);
  }

  /**
   * Physical ranges where a data read, write, or either (each range's `access`, default
   * write) stops the run after the instruction that made it (data-watch.ts).
   */
  setWatchpoints(ranges: ReadonlyArray<WatchRange>): void {
    this.watch.set(ranges);
    this.mem.onDataWrite = this.watch.active ? (address, size) => { if (this.watch.noteWrite(address, size)) this.stopBlock = true; } : undefined;
    this.flushEveryTlb(); // entries for those pages must lose their write or read permission
  }

  /** Data watchpoints; `watch.readPages` keeps read-watched pages out of the TLB's read fast path. */
  readonly watch: DataWatch;
  /** The watchpoint hit that ended the last run, with the instruction that made the access. */
  lastWatchHit: (WatchHit & { rip: bigint }) | undefined;
  /** Set while the processor reads system tables itself (segments.ts): not an instruction's data read. */
  systemAccess = false;

  hasBreakpointAt(lo: number, hi: number): boolean {
    return this.breakpoints.size > 0 && this.breakpoints.has(Cpu.addressKey(lo, hi));
  }

  // ---- intercepts ---------------------------------------------------------------------

  /**
   * A VM-exit point at the start of a handler, before it has any effect: true means the hook
   * stopped the run before this instruction and the handler must return at once. Cheaper
   * than `intercept`, which throws (for exit points deep inside an instruction).
   */
  interceptHere(what: Intercept, insn: Insn): boolean {
    if ((this.interceptMask & what) !== 0 && this.hooks !== undefined && this.hooks.intercept(this, what, insn)) {
      this.lastIntercept = what;
      this.stoppedBefore = true;
      this.stopBlock = true;
      return true;
    }
    return false;
  }

  /** Set by interceptHere: the block ended before the instruction at which it stopped. */
  private stoppedBefore = false;

  /** Called by handlers at a VM-exit point; throws StopBeforeInsn when the hook says stop. */
  intercept(what: Intercept, insn: Insn): void {
    if ((this.interceptMask & what) !== 0 && this.hooks !== undefined && this.hooks.intercept(this, what, insn)) {
      this.lastIntercept = what;
      throw STOP_BEFORE;
    }
  }

  requestStop(): void {
    this.stopRequested = true;
  }

  /** Raises the NMI pin; taken at the next boundary where NMIs are not blocked. */
  raiseNmi(): void {
    this.nmiPending = true;
  }

  // ---- run loop -----------------------------------------------------------------------

  /**
   * Runs until an outcome: at most `budget` instructions. A breakpoint at the starting RIP is
   * not taken (the caller is resuming from it).
   */
  run(budget: number): RunOutcome {
    let remaining = budget;
    let first = true;
    /** The block that ran last and completed, whose successor links may skip the lookup. */
    let prev: Block | undefined;
    this.stopRequested = false;
    this.watch.clear(); // writes made while the CPU was not running (loader, VMM) do not count
    this.lastWatchHit = undefined;
    while (remaining > 0) {
      if (this.stopRequested) return { kind: 'stop' };
      if (eventsMayBePending(this)) {
        const r = takePendingEvent(this);
        if (r !== undefined) {
          const f = this.finishStop(r);
          if (f !== undefined) return f;
          continue;
        }
      }
      if (this.halted) return { kind: 'halt' };
      if (!first && this.breakpoints.size > 0 && this.hasBreakpointAt(this.ip[0], this.ip[1])) return { kind: 'breakpoint' };
      first = false;
      let block: Block;
      try {
        block = prev === undefined ? this.lookupBlock() : this.followChain(prev);
      } catch (e) {
        const r = this.onFault(e, undefined);
        if (r !== undefined) return r;
        continue;
      }
      const insns = block.insns;
      let n = insns.length < remaining ? insns.length : remaining;
      // an STI/MOV SS shadow covers one instruction: run it alone, then events may be taken
      const shadow = this.interruptShadow;
      if (shadow !== 0 || this.singleStep) n = 1;
      let i = 0;
      let ins = insns[0];
      this.stopBlock = false;
      // a hot block runs as one compiled function when the budget covers all of it
      const compiled = n === insns.length ? block.compiled : undefined;
      try {
        if (compiled !== undefined) {
          i = compiled(this);
          // a VM-exit point stopped the block before instruction i - 1: it did not complete
          if (this.stoppedBefore) { i--; ins = insns[i]; }
        } else {
          if (++block.runs === COMPILE_THRESHOLD) block.compiled = compileBlock(insns);
          for (; i < n; i++) {
            ins = insns[i];
            ins.exec(this, ins);
            if (this.stopBlock) {
              if (!this.stoppedBefore) i++;
              break;
            }
          }
        }
      } catch (e) {
        if (compiled !== undefined) { i = this.faultIndex; ins = insns[i]; }
        this.icount += i;
        remaining -= i;
        if (shadow !== 0) this.interruptShadow = 0;
        prev = undefined;
        this.watch.clear();
        const r = this.onFault(e, ins);
        if (r !== undefined) return r;
        continue;
      }
      this.icount += i;
      remaining -= i;
      if (this.stoppedBefore) {
        // a VM-exit point stopped the run before `ins`: RIP points at it
        this.stoppedBefore = false;
        this.ip[0] = ins.ripLo;
        this.ip[1] = ins.ripHi;
        prev = undefined;
        const r = this.finishStop(interceptOutcome(this.lastIntercept));
        if (r !== undefined) return r;
        continue;
      }
      if (shadow !== 0 && this.interruptShadow === shadow) this.interruptShadow = 0;
      prev = block;
      const hit = this.watch.active ? this.watch.take() : undefined;
      if (hit !== undefined) {
        const last = insns[i - 1];
        if (!last.endsBlock) { this.ip[0] = last.nextLo; this.ip[1] = last.nextHi; }
        this.lastWatchHit = { ...hit, rip: (BigInt(last.ripHi >>> 0) << 32n) | BigInt(last.ripLo >>> 0) };
        return { kind: 'watchpoint', address: hit.address, size: hit.size, access: hit.access };
      }
      const last = insns[i - 1];
      if (!last.endsBlock) {
        this.ip[0] = last.nextLo;
        this.ip[1] = last.nextHi;
      }
    }
    return { kind: 'budget' };
  }

  /** Exception or stop raised inside an instruction: RIP points at the instruction. */
  private onFault(e: unknown, ins: Insn | undefined): RunOutcome | undefined {
    if (ins !== undefined && !(e instanceof CommittedFault)) {
      this.ip[0] = ins.ripLo;
      this.ip[1] = ins.ripHi;
    }
    if (e === STOP_BEFORE) return this.finishStop(interceptOutcome(this.lastIntercept));
    if (e instanceof CpuFault) {
      if ((this.interceptMask & Intercept.EXCEPTION) !== 0 && this.hooks?.exception?.(this, e.vector, e.errorCode)) {
        return this.finishStop({ kind: 'exception', vector: e.vector, errorCode: e.errorCode, detail: e.detail });
      }
      let r;
      try {
        r = deliverEvent(this, e.vector, e.errorCode, false, ins);
      } catch (x) {
        // the delivery path asked the intercept hook (a task gate: TASK_SWITCH) and it said stop
        if (x === STOP_BEFORE) return this.finishStop(interceptOutcome(this.lastIntercept));
        throw x;
      }
      return r === 'triple-fault' ? this.finishStop({ kind: 'triple-fault', vector: e.vector }) : undefined;
    }
    throw e;
  }

  private finishStop(outcome: RunOutcome): RunOutcome | undefined {
    const h = this.hooks;
    return h?.takeStop === undefined ? outcome : h.takeStop(this, outcome);
  }
}

/** CR4 bits this processor implements: VME..OSXMMEXCPT, VMXE, OSXSAVE, SMEP, SMAP. */
const CR4_WRITABLE = 0x7ff | (1 << 13) | (1 << 18) | (1 << 20) | (1 << 21);

/** One frozen outcome per intercept point, shared: a VM exit stops the run this way every time. */
const INTERCEPT_OUTCOMES = new Map<Intercept, RunOutcome>();

function interceptOutcome(what: Intercept): RunOutcome {
  let o = INTERCEPT_OUTCOMES.get(what);
  if (o === undefined) {
    o = Object.freeze({ kind: 'intercept', intercept: what });
    INTERCEPT_OUTCOMES.set(what, o);
  }
  return o;
}

/** Thrown to leave an instruction before it has any effect. */
export const STOP_BEFORE = { stopBeforeInstruction: true };
