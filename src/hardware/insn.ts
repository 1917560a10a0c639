// One decoded instruction: everything the executor and the disassembler need, computed once
// by the decoder and kept in the block cache. Fields are plain numbers so V8 keeps the shape.

import type { Cpu } from './cpu';

export type Handler = (cpu: Cpu, insn: Insn) => void;

/** Register index meaning "RIP-relative" in `base` before the decoder folds it. */
export const REG_NONE = -1;
/** 8-bit register operands 16-19 are AH, CH, DH, BH (no REX prefix present). */
export const HIGH_BYTE_BASE = 16;

export class Insn {
  exec: Handler;
  /** Mnemonic for the disassembler (lower case, Intel syntax). */
  mnemonic = '';
  /** Operand layout for the disassembler: see disasm.ts. */
  form = '';
  len = 0;
  /** Linear address of this instruction and of the next one, as word pairs. */
  ripLo = 0;
  ripHi = 0;
  nextLo = 0;
  nextHi = 0;
  /** Operand size in bytes (1, 2, 4, 8) and address size in bytes (2, 4, 8). */
  size = 4;
  asize = 8;
  /** ModRM.reg (REX.R applied) or the register in the opcode's low bits. */
  reg = 0;
  /** Register operand of ModRM.rm when mod = 3; -1 when the operand is in memory. */
  rm = -1;
  /** Memory operand: base and index registers (-1 none), scale as a shift, displacement. */
  base = -1;
  index = -1;
  scale = 0;
  dispLo = 0;
  dispHi = 0;
  /** A SIB byte was present (the disassembler shows a SIB without index as riz/eiz). */
  sib = false;
  /** Bytes of ModRM displacement that follow mod = 1 or 2 (0 otherwise). */
  dispBytes = 0;
  /** Effective segment of the memory operand, and an explicit override (-1 none). */
  seg = 3;
  segOverride = -1;
  /** True when the memory operand is RIP-relative (disp already holds the absolute address). */
  ripRelative = false;
  /** Immediate (sign- or zero-extended per the opcode) and a second immediate (ENTER, far ptr). */
  immLo = 0;
  immHi = 0;
  imm2 = 0;
  /** Condition code, or the group sub-opcode (ModRM.reg) where the opcode has one. */
  cc = 0;
  /** For the disassembler: 66 prefixes beyond the first, and a segment prefix 64-bit mode ignores. */
  extra66 = 0;
  ignoredSeg = 0;
  /** 0, 0xf2 (REPNE) or 0xf3 (REP/REPE). */
  rep = 0;
  lock = false;
  /** Ends its block: it changes RIP, the mode, or what later instructions decode to. */
  endsBlock = false;
  /** Raw opcode (with 0x0f00 / 0x0f3800 / 0x0f3a00 map prefixes) for diagnostics. */
  opcode = 0;
  /**
   * A relative branch's displacement while decoding (undefined for other instructions).
   * Declared here, not added later, so every Insn has one shape and the run loop's loads
   * of `exec` stay monomorphic.
   */
  relative: number | undefined = undefined;

  constructor(exec: Handler) {
    this.exec = exec;
  }
}
