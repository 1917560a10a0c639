// String instructions MOVS/CMPS/STOS/LODS/SCAS with REP/REPE/REPNE in every address size,
// string I/O INS/OUTS with REP, and XLAT (SDM Vol. 2, each instruction; Vol. 1, 7.3.9). A long REP run executes in chunks:
// RIP stays on the instruction until RCX reaches zero, so a pause can land between chunks.

import type { Cpu } from './cpu';
import { Intercept } from './cpu';
import { Flag, Seg } from './cpu-state';
import { alu, AluOp } from './exec-alu';
import { Insn } from './insn';
import { checkIoPermission } from './io-permission';
import { checkLimit, readReg, writeReg } from './operands';

/** Iterations per call of a REP instruction before it yields. */
export const CHUNK = 4096;

export const RCX = 1, RDX = 2, RSI = 6, RDI = 7;

function regAt(c: Cpu, reg: number, asize: number): number {
  return asize === 2 ? c.r[2 * reg] & 0xffff : c.r[2 * reg];
}

/**
 * Linear address of seg:reg at the address size (64-bit: the register's high word too);
 * outside 64-bit mode the segment must hold all `size` bytes.
 */
export function addr(c: Cpu, seg: number, reg: number, asize: number, size: number): void {
  if (asize === 8) {
    c.eaLo = c.r[2 * reg];
    c.eaHi = c.r[2 * reg + 1];
    if (seg >= Seg.FS) {
      const s = (c.eaLo >>> 0) + (c.segBase[2 * seg] >>> 0);
      c.eaLo = s | 0;
      c.eaHi = (c.eaHi + c.segBase[2 * seg + 1] + (s > 0xffffffff ? 1 : 0)) | 0;
    }
    return;
  }
  const off = regAt(c, reg, asize);
  if (c.in64BitMode) {
    c.eaLo = seg >= Seg.FS ? (off + c.segBase[2 * seg]) | 0 : off;
    c.eaHi = 0;
    return;
  }
  checkLimit(c, seg, off >>> 0, size);
  c.eaLo = (off + c.segBase[2 * seg]) | 0;
  c.eaHi = 0;
}

/** Adds delta to a pointer register at the address size. */
export function step(c: Cpu, reg: number, asize: number, delta: number): void {
  const r = c.r, k = 2 * reg;
  if (asize === 8) {
    const s = (r[k] >>> 0) + delta;
    r[k] = s | 0;
    if (s > 0xffffffff) r[k + 1] = (r[k + 1] + 1) | 0; else if (s < 0) r[k + 1] = (r[k + 1] - 1) | 0;
  } else if (asize === 4) {
    r[k] = (r[k] + delta) | 0;
    r[k + 1] = 0;
  } else {
    r[k] = (r[k] & ~0xffff) | ((r[k] + delta) & 0xffff);
  }
}

function countZero(c: Cpu, asize: number): boolean {
  return asize === 8 ? (c.r[2] | c.r[3]) === 0 : regAt(c, RCX, asize) === 0;
}

function readAt(c: Cpu, size: number): number {
  if (size === 8) return c.read64(c.eaLo, c.eaHi);
  c.hi = 0;
  return c.read(c.eaLo, c.eaHi, size);
}

function writeAt(c: Cpu, size: number, lo: number, hi: number): void {
  if (size === 8) c.write64(c.eaLo, c.eaHi, lo, hi);
  else c.write(c.eaLo, c.eaHi, size, lo);
}

/**
 * Runs one string element `n` times or until done. `body` returns false to stop a REPE/REPNE
 * run early. Sets RIP: back onto the instruction while iterations remain.
 */
function repeat(c: Cpu, i: Insn, body: () => boolean, conditional: boolean): void {
  const asize = i.asize;
  if (i.rep === 0) {
    body();
    c.ip[0] = i.nextLo; c.ip[1] = i.nextHi;
    return;
  }
  for (let n = 0; n < CHUNK; n++) {
    if (countZero(c, asize)) { c.ip[0] = i.nextLo; c.ip[1] = i.nextHi; return; }
    const keep = body();
    step(c, RCX, asize, -1);
    if (conditional && !keep) { c.ip[0] = i.nextLo; c.ip[1] = i.nextHi; return; }
    if (c.watch.hit !== undefined) break; // a data watchpoint traps after the iteration that hit it (SDM Vol. 3B, 18.3.1.2)
  }
  if (countZero(c, asize)) { c.ip[0] = i.nextLo; c.ip[1] = i.nextHi; return; }
  c.ip[0] = i.ripLo;
  c.ip[1] = i.ripHi;
}

export function delta(c: Cpu, size: number): number {
  return (c.flagsOther & Flag.DF) !== 0 ? -size : size;
}

export function srcSeg(i: Insn): number {
  return i.segOverride >= 0 ? i.segOverride : Seg.DS;
}

/** One MOVS element: [seg:rSI] to ES:[rDI], then both pointers step by DF. */
export function movsElement(c: Cpu, size: number, asize: number, seg: number): void {
  addr(c, seg, RSI, asize, size);
  const lo = readAt(c, size), hi = c.hi;
  addr(c, Seg.ES, RDI, asize, size);
  writeAt(c, size, lo, hi);
  const dd = delta(c, size);
  step(c, RSI, asize, dd);
  step(c, RDI, asize, dd);
}

/** One STOS element: the accumulator value (lo, hi) to ES:[rDI], then rDI steps by DF. */
export function stosElement(c: Cpu, size: number, asize: number, lo: number, hi: number): void {
  addr(c, Seg.ES, RDI, asize, size);
  writeAt(c, size, lo, hi);
  step(c, RDI, asize, delta(c, size));
}

export function movs(c: Cpu, i: Insn): void {
  const size = i.size, asize = i.asize, seg = srcSeg(i);
  repeat(c, i, () => {
    movsElement(c, size, asize, seg);
    return true;
  }, false);
}

export function stos(c: Cpu, i: Insn): void {
  const size = i.size, asize = i.asize;
  const lo = readReg(c, 0, size), hi = c.hi;
  repeat(c, i, () => {
    stosElement(c, size, asize, lo, hi);
    return true;
  }, false);
}

export function lods(c: Cpu, i: Insn): void {
  const size = i.size, asize = i.asize, seg = srcSeg(i);
  repeat(c, i, () => {
    addr(c, seg, RSI, asize, size);
    const lo = readAt(c, size);
    writeReg(c, 0, size, lo, c.hi);
    step(c, RSI, asize, delta(c, size));
    return true;
  }, false);
}

/** CMPS: compares [rSI] with ES:[rDI] (source minus destination) */
export function cmps(c: Cpu, i: Insn): void {
  const size = i.size, asize = i.asize, seg = srcSeg(i);
  const wantZ = i.rep === 0xf3;
  repeat(c, i, () => {
    addr(c, seg, RSI, asize, size);
    const aLo = readAt(c, size), aHi = c.hi;
    addr(c, Seg.ES, RDI, asize, size);
    const bLo = readAt(c, size), bHi = c.hi;
    alu(c, AluOp.CMP, size, aLo, aHi, bLo, bHi);
    const dd = delta(c, size);
    step(c, RSI, asize, dd);
    step(c, RDI, asize, dd);
    return ((aLo === bLo && aHi === bHi) === wantZ);
  }, true);
}

/** SCAS: compares the accumulator with ES:[rDI] */
export function scas(c: Cpu, i: Insn): void {
  const size = i.size, asize = i.asize;
  const aLo = readReg(c, 0, size), aHi = c.hi;
  const wantZ = i.rep === 0xf3;
  repeat(c, i, () => {
    addr(c, Seg.ES, RDI, asize, size);
    const bLo = readAt(c, size), bHi = c.hi;
    alu(c, AluOp.CMP, size, aLo, aHi, bLo, bHi);
    step(c, RDI, asize, delta(c, size));
    return ((aLo === bLo && aHi === bHi) === wantZ);
  }, true);
}

/** XLAT: AL = [seg:rBX + zero-extended AL] */
export function xlat(c: Cpu, i: Insn): void {
  const asize = i.asize;
  const al = c.r[0] & 0xff;
  const seg = srcSeg(i);
  if (asize === 8) {
    const s = (c.r[6] >>> 0) + al;
    c.eaLo = s | 0;
    c.eaHi = (c.r[7] + (s > 0xffffffff ? 1 : 0)) | 0;
    if (seg >= Seg.FS) { const t = (c.eaLo >>> 0) + (c.segBase[2 * seg] >>> 0); c.eaLo = t | 0; c.eaHi = (c.eaHi + c.segBase[2 * seg + 1] + (t > 0xffffffff ? 1 : 0)) | 0; }
  } else {
    const off = asize === 2 ? (c.r[6] + al) & 0xffff : (c.r[6] + al) | 0;
    if (!c.in64BitMode) checkLimit(c, seg, off >>> 0, 1);
    c.eaLo = c.in64BitMode && seg < Seg.FS ? off : (off + c.segBase[2 * seg]) | 0;
    c.eaHi = 0;
  }
  writeReg(c, 0, 1, c.read(c.eaLo, c.eaHi, 1), 0);
}

/**
 * Runs string I/O like the other string instructions, with the I/O permission check and then
 * the VM-exit point before every element, as for IN/OUT (permission faults take priority over
 * VM exits, SDM Vol. 3C, 26.1.1). Following the REP operation in the SDM, a REP form with
 * rCX = 0 executes no element, so it neither checks permission nor exits.
 */
function repeatIo(c: Cpu, i: Insn, port: number, body: () => void): void {
  repeat(c, i, () => {
    checkIoPermission(c, port, i.size);
    c.intercept(Intercept.IO, i);
    body();
    return true;
  }, false);
}

/** INS: port DX into ES:[rDI]; the destination is checked for writing before the port is read. */
export function ins(c: Cpu, i: Insn): void {
  const size = i.size, asize = i.asize, port = c.r[2 * RDX] & 0xffff;
  repeatIo(c, i, port, () => {
    addr(c, Seg.ES, RDI, asize, size);
    c.checkWritable(c.eaLo, c.eaHi, size);
    c.write(c.eaLo, c.eaHi, size, c.io.read(port, size));
    step(c, RDI, asize, delta(c, size));
  });
}

/** OUTS: [seg:rSI] (DS unless overridden) out to port DX. */
export function outs(c: Cpu, i: Insn): void {
  const size = i.size, asize = i.asize, seg = srcSeg(i), port = c.r[2 * RDX] & 0xffff;
  repeatIo(c, i, port, () => {
    addr(c, seg, RSI, asize, size);
    const v = c.read(c.eaLo, c.eaHi, size);
    c.io.write(port, size, size === 4 ? v >>> 0 : v);
    step(c, RSI, asize, delta(c, size));
  });
}
