// Lazy status flags (SDM Vol. 1, 3.4.3.1 and Appendix A): arithmetic records its operands and
// result, and CF/PF/AF/ZF/SF/OF are computed only when something reads them. Results are kept
// truncated to the operation size (for 8/16-bit ops in RES_LO with RES_HI 0).

import { CpuState, Flag, LazyOp, Lf, STATUS_FLAGS } from './cpu-state';

const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let bits = 0;
  for (let b = i; b !== 0; b >>= 1) bits += b & 1;
  PARITY[i] = (bits & 1) === 0 ? Flag.PF : 0;
}

/** Sign bit of the recorded value at the recorded size: word pair (lo, hi). */
function signOf(size: number, lo: number, hi: number): number {
  switch (size) {
    case 1: return (lo >>> 7) & 1;
    case 2: return (lo >>> 15) & 1;
    case 4: return lo >>> 31;
    default: return hi >>> 31;
  }
}

/** Unsigned a < b for two word pairs. */
function below(aLo: number, aHi: number, bLo: number, bHi: number): boolean {
  const ah = aHi >>> 0, bh = bHi >>> 0;
  return ah < bh || (ah === bh && (aLo >>> 0) < (bLo >>> 0));
}

export function getCF(s: CpuState): boolean {
  const lf = s.lf;
  switch (lf[Lf.OP]) {
    case LazyOp.ADD: return below(lf[Lf.RES_LO], lf[Lf.RES_HI], lf[Lf.A_LO], lf[Lf.A_HI]);
    case LazyOp.ADC: {
      const lt = below(lf[Lf.RES_LO], lf[Lf.RES_HI], lf[Lf.A_LO], lf[Lf.A_HI]);
      return lt || (lf[Lf.AUX] !== 0 && lf[Lf.RES_LO] === lf[Lf.A_LO] && lf[Lf.RES_HI] === lf[Lf.A_HI]);
    }
    case LazyOp.SUB: return below(lf[Lf.A_LO], lf[Lf.A_HI], lf[Lf.B_LO], lf[Lf.B_HI]);
    case LazyOp.SBB: {
      const lt = below(lf[Lf.A_LO], lf[Lf.A_HI], lf[Lf.B_LO], lf[Lf.B_HI]);
      return lt || (lf[Lf.AUX] !== 0 && lf[Lf.A_LO] === lf[Lf.B_LO] && lf[Lf.A_HI] === lf[Lf.B_HI]);
    }
    case LazyOp.LOGIC: return false;
    case LazyOp.INC: case LazyOp.DEC: return lf[Lf.AUX] !== 0;
    default: return (lf[Lf.AUX] & Flag.CF) !== 0;
  }
}

export function getZF(s: CpuState): boolean {
  const lf = s.lf;
  if (lf[Lf.OP] === LazyOp.EAGER) return (lf[Lf.AUX] & Flag.ZF) !== 0;
  return (lf[Lf.RES_LO] | lf[Lf.RES_HI]) === 0;
}

export function getSF(s: CpuState): boolean {
  const lf = s.lf;
  if (lf[Lf.OP] === LazyOp.EAGER) return (lf[Lf.AUX] & Flag.SF) !== 0;
  return signOf(lf[Lf.SIZE], lf[Lf.RES_LO], lf[Lf.RES_HI]) !== 0;
}

export function getPF(s: CpuState): boolean {
  const lf = s.lf;
  if (lf[Lf.OP] === LazyOp.EAGER) return (lf[Lf.AUX] & Flag.PF) !== 0;
  return PARITY[lf[Lf.RES_LO] & 0xff] !== 0;
}

export function getAF(s: CpuState): boolean {
  const lf = s.lf;
  switch (lf[Lf.OP]) {
    case LazyOp.EAGER: return (lf[Lf.AUX] & Flag.AF) !== 0;
    case LazyOp.LOGIC: return false;
    case LazyOp.INC: return (lf[Lf.RES_LO] & 0xf) === 0;
    case LazyOp.DEC: return (lf[Lf.RES_LO] & 0xf) === 0xf;
    default: return ((lf[Lf.A_LO] ^ lf[Lf.B_LO] ^ lf[Lf.RES_LO]) & 0x10) !== 0;
  }
}

export function getOF(s: CpuState): boolean {
  const lf = s.lf;
  const size = lf[Lf.SIZE];
  switch (lf[Lf.OP]) {
    case LazyOp.ADD: case LazyOp.ADC: {
      const r = signOf(size, lf[Lf.RES_LO], lf[Lf.RES_HI]);
      return signOf(size, lf[Lf.A_LO], lf[Lf.A_HI]) !== r && signOf(size, lf[Lf.B_LO], lf[Lf.B_HI]) !== r;
    }
    case LazyOp.SUB: case LazyOp.SBB: {
      const a = signOf(size, lf[Lf.A_LO], lf[Lf.A_HI]);
      return a !== signOf(size, lf[Lf.B_LO], lf[Lf.B_HI]) && a !== signOf(size, lf[Lf.RES_LO], lf[Lf.RES_HI]);
    }
    case LazyOp.LOGIC: return false;
    case LazyOp.INC: {
      // overflow exactly when the result is the most negative value
      const r = signOf(size, lf[Lf.RES_LO], lf[Lf.RES_HI]);
      return r !== 0 && isOnlySign(size, lf[Lf.RES_LO], lf[Lf.RES_HI]);
    }
    case LazyOp.DEC: {
      // overflow exactly when the result is the most positive value
      return isOnlySign(size, ~lf[Lf.RES_LO], ~lf[Lf.RES_HI]);
    }
    default: return (lf[Lf.AUX] & Flag.OF) !== 0;
  }
}

function isOnlySign(size: number, lo: number, hi: number): boolean {
  switch (size) {
    case 1: return (lo & 0xff) === 0x80;
    case 2: return (lo & 0xffff) === 0x8000;
    case 4: return lo === (0x80000000 | 0);
    default: return lo === 0 && hi === (0x80000000 | 0);
  }
}

/** The six status flags as RFLAGS bits. */
export function getStatusFlags(s: CpuState): number {
  const lf = s.lf;
  const op = lf[Lf.OP];
  if (op === LazyOp.EAGER) return lf[Lf.AUX] & STATUS_FLAGS;
  // the loop-closing INC/DEC and the zeroing XOR/TEST, as the six getters below give them, in one
  // pass (a VM exit saves RFLAGS, usually right after one of them)
  if (op === LazyOp.LOGIC || op === LazyOp.INC || op === LazyOp.DEC) return incDecLogicFlags(lf, op);
  return (getCF(s) ? Flag.CF : 0) | (getPF(s) ? Flag.PF : 0) | (getAF(s) ? Flag.AF : 0) |
    (getZF(s) ? Flag.ZF : 0) | (getSF(s) ? Flag.SF : 0) | (getOF(s) ? Flag.OF : 0);
}

/** getStatusFlags for LOGIC (CF = OF = AF = 0), INC and DEC (CF kept in AUX): PF, ZF, SF from the result. */
function incDecLogicFlags(lf: Int32Array, op: LazyOp): number {
  const size = lf[Lf.SIZE], lo = lf[Lf.RES_LO], hi = lf[Lf.RES_HI];
  let f = (PARITY[lo & 0xff] !== 0 ? Flag.PF : 0) | ((lo | hi) === 0 ? Flag.ZF : 0) | (signOf(size, lo, hi) !== 0 ? Flag.SF : 0);
  if (op === LazyOp.LOGIC) return f;
  if (lf[Lf.AUX] !== 0) f |= Flag.CF;
  if (op === LazyOp.INC) {
    if ((lo & 0xf) === 0) f |= Flag.AF;
    if ((f & Flag.SF) !== 0 && isOnlySign(size, lo, hi)) f |= Flag.OF;
  } else {
    if ((lo & 0xf) === 0xf) f |= Flag.AF;
    if (isOnlySign(size, ~lo, ~hi)) f |= Flag.OF;
  }
  return f;
}

/** Replaces the status flags with explicit values. */
export function setStatusFlags(s: CpuState, bits: number): void {
  s.lf[Lf.OP] = LazyOp.EAGER;
  s.lf[Lf.AUX] = bits & STATUS_FLAGS;
}

/** Full RFLAGS (low 32 bits; the upper half is reserved zero). */
export function getRflags(s: CpuState): number {
  return ((s.flagsOther & ~STATUS_FLAGS) | getStatusFlags(s) | 2) >>> 0;
}

export function setRflags(s: CpuState, value: number): void {
  s.flagsOther = ((value & ~STATUS_FLAGS) | 2) >>> 0;
  setStatusFlags(s, value);
}

/** Records an arithmetic result for the lazy flags. */
export function recordFlags(s: CpuState, op: LazyOp, size: number, resLo: number, resHi: number,
  aLo: number, aHi: number, bLo: number, bHi: number): void {
  const lf = s.lf;
  lf[Lf.OP] = op;
  lf[Lf.SIZE] = size;
  lf[Lf.RES_LO] = resLo;
  lf[Lf.RES_HI] = resHi;
  lf[Lf.A_LO] = aLo;
  lf[Lf.A_HI] = aHi;
  lf[Lf.B_LO] = bLo;
  lf[Lf.B_HI] = bHi;
}

/** Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc; SDM Vol. 1, B.1). */
export function testCondition(s: CpuState, cc: number): boolean {
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = getOF(s); break;
    case 1: r = getCF(s); break;
    case 2: r = getZF(s); break;
    case 3: r = getCF(s) || getZF(s); break;
    case 4: r = getSF(s); break;
    case 5: r = getPF(s); break;
    case 6: r = getSF(s) !== getOF(s); break;
    default: r = getZF(s) || getSF(s) !== getOF(s); break;
  }
  return (cc & 1) === 0 ? r : !r;
}
