// The architectural state of one x86-64 logical processor, held in typed arrays so that the
// interpreter reads and writes it without allocating and the debugger can see all of it.
// 64-bit values are pairs of 32-bit words: low word at 2*i, high word at 2*i+1.

import { GeneralRegisters } from '../regs';

/** Segment register numbers as the ModRM sreg field encodes them (SDM Vol. 2A, 3.1.1.3). */
export const enum Seg { ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5, LDTR = 6, TR = 7 }
export const SEGMENT_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'] as const;

/** RFLAGS bits (SDM Vol. 1, 3.4.3). */
export const enum Flag {
  CF = 1 << 0, PF = 1 << 2, AF = 1 << 4, ZF = 1 << 6, SF = 1 << 7, TF = 1 << 8, IF = 1 << 9,
  DF = 1 << 10, OF = 1 << 11, IOPL = 3 << 12, NT = 1 << 14, RF = 1 << 16, VM = 1 << 17,
  AC = 1 << 18, VIF = 1 << 19, VIP = 1 << 20, ID = 1 << 21,
}
/** The six status flags that arithmetic computes lazily. */
export const STATUS_FLAGS = 0x8d5;

/** Interrupt blocking after STI or MOV SS/POP SS (SDM Vol. 3A, 6.8.3; VMX interruptibility bits 0-1). */
export const enum Shadow { NONE = 0, STI = 1, MOV_SS = 2 }

/** Lazy-flag operations: which instruction last set the status flags (see flags.ts). */
export const enum LazyOp { EAGER = 0, ADD = 1, ADC = 2, SUB = 3, SBB = 4, LOGIC = 5, INC = 6, DEC = 7 }

/** Indices into `lf`, the lazy-flag record. */
export const enum Lf { OP = 0, SIZE = 1, RES_LO = 2, RES_HI = 3, A_LO = 4, A_HI = 5, B_LO = 6, B_HI = 7, AUX = 8 }

/** Access-rights bits of a hidden segment descriptor, in the VMCS layout (SDM Vol. 3, 25.4.1). */
export const enum Ar {
  TYPE = 0xf, S = 1 << 4, DPL_SHIFT = 5, P = 1 << 7, AVL = 1 << 12, L = 1 << 13, DB = 1 << 14, G = 1 << 15, UNUSABLE = 1 << 16,
}

export class CpuState {
  /** General registers by SDM number, RSP included, as 32-bit word pairs. */
  readonly r = new Int32Array(32);
  /** RIP as a word pair. */
  readonly ip = new Int32Array(2);
  /** RFLAGS bits other than the status flags (which live in `lf` until materialized). */
  flagsOther = 0x2;
  /** Lazy-flag record: Lf indices. */
  readonly lf = new Int32Array(9);

  /** Segment registers: visible selectors and the hidden base, limit and access rights. */
  readonly segSel = new Uint16Array(8);
  readonly segBase = new Int32Array(16);
  readonly segLimit = new Uint32Array(8);
  readonly segAr = new Uint32Array(8);

  gdtrBase = 0n;
  gdtrLimit = 0xffff;
  idtrBase = 0n;
  idtrLimit = 0xffff;

  cr0 = 0x60000010;
  cr2 = 0n;
  cr3 = 0n;
  cr4 = 0;
  cr8 = 0;
  efer = 0;
  xcr0 = 1n;
  readonly dr = new BigUint64Array(8);

  /** Current privilege level (CS.RPL once protected mode is on). */
  cpl = 0;
  /**
   * Blocking by STI (1) or by MOV SS/POP SS (2) for the next instruction, bits as in the VMX
   * guest interruptibility state (SDM Vol. 3C, 25.4.2, Table 25-3).
   */
  interruptShadow = 0;
  /** An NMI has been raised and not yet delivered. */
  nmiPending = false;
  /** NMIs are blocked from the delivery of one until the next IRET (SDM Vol. 3A, 6.7.1). */
  nmiBlocked = false;
  halted = false;

  /** The fifteen general registers as x86_vcpu's GeneralRegisters sees them, sharing storage. */
  readonly generalRegisters: GeneralRegisters;

  constructor() {
    this.generalRegisters = new GeneralRegisters(new Uint32Array(this.r.buffer));
    this.dr[6] = 0xffff0ff0n;
    this.dr[7] = 0x400n;
  }

  getReg(index: number): bigint {
    return (BigInt(this.r[2 * index + 1] >>> 0) << 32n) | BigInt(this.r[2 * index] >>> 0);
  }

  setReg(index: number, value: bigint): void {
    this.r[2 * index] = Number(value & 0xffffffffn) | 0;
    this.r[2 * index + 1] = Number((value >> 32n) & 0xffffffffn) | 0;
  }

  get rip(): bigint {
    return (BigInt(this.ip[1] >>> 0) << 32n) | BigInt(this.ip[0] >>> 0);
  }

  set rip(value: bigint) {
    this.ip[0] = Number(value & 0xffffffffn) | 0;
    this.ip[1] = Number((value >> 32n) & 0xffffffffn) | 0;
  }

  segmentBase(seg: number): bigint {
    return (BigInt(this.segBase[2 * seg + 1] >>> 0) << 32n) | BigInt(this.segBase[2 * seg] >>> 0);
  }

  setSegmentBase(seg: number, value: bigint): void {
    this.segBase[2 * seg] = Number(value & 0xffffffffn) | 0;
    this.segBase[2 * seg + 1] = Number((value >> 32n) & 0xffffffffn) | 0;
  }

  /** EFER.LMA: IA-32e mode active. */
  get longModeActive(): boolean {
    return (this.efer & 0x400) !== 0;
  }

  /** 64-bit mode: IA-32e mode with CS.L set. */
  get in64BitMode(): boolean {
    return this.longModeActive && (this.segAr[Seg.CS] & Ar.L) !== 0;
  }

  get protectedMode(): boolean {
    return (this.cr0 & 1) !== 0;
  }
}
