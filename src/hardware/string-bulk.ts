// REP MOVS and REP STOS with 64-bit addressing, a page-bounded run at a time: when the next
// elements' source and destination lie in plain RAM (no device, no decoded code to invalidate),
// they are copied or filled in the backing bytes directly instead of by one translated access
// per element. What the element-at-a-time path (exec-string.ts) does is kept exactly:
// - the same number of elements per call (CHUNK), so icount and the points where a pause can
//   land are unchanged;
// - each run starts with the accesses its first element would make (translate source for read,
//   then destination for write), so faults, A/D bits and TLB fills are the same, and RCX, RSI
//   and RDI are updated after every run, so a fault leaves them at the faulting element;
// - anything else (a device or code page, an element straddling pages) takes one element the
//   ordinary way;
// - DF=1 runs downwards, and overlapping copies give the byte-exact result of copying one
//   element after another (SDM Vol. 2B, MOVS), which a memmove does not when the destination
//   lies ahead of the source in the direction of the copy.

import type { Cpu } from './cpu';
import { Flag, Seg } from './cpu-state';
import { Insn } from './insn';
import { CHUNK_MASK, PAGE_SIZE } from './memory';
import { Perm } from './tlb';
import { CHUNK, RCX, RDI, RSI, addr, movsElement, srcSeg, step, stosElement } from './exec-string';
import { readReg } from './operands';

/** Whether a physical address is RAM that can be touched directly (for a write: holds no decoded code). */
function plainRam(c: Cpu, phys: number, write: boolean): boolean {
  const mem = c.mem;
  const page = Math.floor(phys / PAGE_SIZE);
  return phys < mem.size && mem.mmioPages[page] === 0 &&
    (write ? mem.watchedPages[page] === 0 && mem.dataWatchPages[page] === 0 : c.watch.readPages[page] === 0);
}

/** Elements left in RCX, as a number that is only ever compared with CHUNK. */
function countLeft(c: Cpu): number {
  return c.r[2 * RCX + 1] !== 0 ? CHUNK : c.r[2 * RCX] >>> 0;
}

/** How many elements from page offset `off` stay inside the page, going up or down. */
function fitInPage(off: number, size: number, down: boolean): number {
  if (!down) return ((PAGE_SIZE - off) / size) | 0;
  return off + size > PAGE_SIZE ? 0 : ((off / size) | 0) + 1;
}

/** RIP after a call: past the instruction once RCX is zero, else on it again (SDM Vol. 2B, REP). */
function finish(c: Cpu, i: Insn): void {
  const done = (c.r[2 * RCX] | c.r[2 * RCX + 1]) === 0;
  c.ip[0] = done ? i.nextLo : i.ripLo;
  c.ip[1] = done ? i.nextHi : i.ripHi;
}

/** Copies one element inside a byte array, reading all of it before writing any of it. */
function copyElement(a: Uint8Array, from: number, to: number, size: number): void {
  let lo = 0, hi = 0;
  for (let k = size - 1; k >= 4; k--) hi = (hi << 8) | a[from + k];
  for (let k = (size < 4 ? size : 4) - 1; k >= 0; k--) lo = (lo << 8) | a[from + k];
  for (let k = 0; k < size; k++) a[to + k] = k >= 4 ? hi >>> (8 * (k - 4)) : lo >>> (8 * k);
}

/** Copies up to `want` MOVS elements that share a source page and a destination page; returns how many. */
function movsRun(c: Cpu, size: number, seg: number, down: boolean, want: number): number {
  // 64-bit addressing: no segment limits apply, the size only matters outside 64-bit mode
  addr(c, seg, RSI, 8, size);
  const sLo = c.eaLo, sHi = c.eaHi;
  addr(c, Seg.ES, RDI, 8, size);
  const dLo = c.eaLo, dHi = c.eaHi;
  let n = fitInPage(sLo & 0xfff, size, down);
  const nd = fitInPage(dLo & 0xfff, size, down);
  if (nd < n) n = nd;
  if (want < n) n = want;
  if (n === 0) return 0;
  const sp = c.translate(sLo, sHi, Perm.R);
  if (!plainRam(c, sp, false)) return 0; // a device read has effects: leave it to the element path
  const dp = c.translate(dLo, dHi, Perm.W);
  if (!plainRam(c, dp, true)) return 0;
  const bytes = n * size;
  const back = down ? (n - 1) * size : 0; // runs going down start at their highest element
  const mem = c.mem;
  const sa = mem.chunkFor(sp), da = mem.chunkFor(dp);
  const so = (sp - back) & CHUNK_MASK, dof = (dp - back) & CHUNK_MASK;
  const hazard = sa === da && (down ? dof < so && so - dof < bytes : dof > so && dof < so + bytes);
  if (!hazard) {
    if (sa === da) da.copyWithin(dof, so, so + bytes);
    else da.set(sa.subarray(so, so + bytes), dof);
  } else if (!down) {
    for (let k = 0; k < bytes; k += size) copyElement(da, so + k, dof + k, size);
  } else {
    for (let k = bytes - size; k >= 0; k -= size) copyElement(da, so + k, dof + k, size);
  }
  const moved = down ? -bytes : bytes;
  step(c, RSI, 8, moved);
  step(c, RDI, 8, moved);
  step(c, RCX, 8, -n);
  return n;
}

/** REP MOVS with 64-bit addressing (the decoder's choice for a4/a5 with REP in 64-bit mode). */
export function repMovsBulk(c: Cpu, i: Insn): void {
  const size = i.size, seg = srcSeg(i);
  const down = (c.flagsOther & Flag.DF) !== 0;
  let left = CHUNK;
  while (left > 0) {
    const count = countLeft(c);
    if (count === 0) break;
    const n = movsRun(c, size, seg, down, count < left ? count : left);
    if (n > 0) { left -= n; continue; }
    movsElement(c, size, 8, seg);
    step(c, RCX, 8, -1);
    left--;
    if (c.watch.hit !== undefined) break; // a watchpoint hit: trap after this element, as the element path does
  }
  finish(c, i);
}

/** Fills up to `want` STOS elements inside one destination page; returns how many. */
function stosRun(c: Cpu, size: number, lo: number, hi: number, down: boolean, want: number): number {
  addr(c, Seg.ES, RDI, 8, size);
  const dLo = c.eaLo, dHi = c.eaHi;
  let n = fitInPage(dLo & 0xfff, size, down);
  if (want < n) n = want;
  if (n === 0) return 0;
  const dp = c.translate(dLo, dHi, Perm.W);
  if (!plainRam(c, dp, true)) return 0;
  const bytes = n * size;
  const first = dp - (down ? (n - 1) * size : 0);
  const off = first & CHUNK_MASK;
  if (size === 1) {
    c.mem.chunkFor(first).fill(lo & 0xff, off, off + bytes);
  } else {
    const v = c.mem.chunkView(first);
    for (let k = off; k < off + bytes; k += size) {
      if (size === 2) v.setUint16(k, lo & 0xffff, true);
      else { v.setInt32(k, lo, true); if (size === 8) v.setInt32(k + 4, hi, true); }
    }
  }
  step(c, RDI, 8, down ? -bytes : bytes);
  step(c, RCX, 8, -n);
  return n;
}

/** REP STOS with 64-bit addressing. */
export function repStosBulk(c: Cpu, i: Insn): void {
  const size = i.size;
  const lo = readReg(c, 0, size), hi = c.hi;
  const down = (c.flagsOther & Flag.DF) !== 0;
  let left = CHUNK;
  while (left > 0) {
    const count = countLeft(c);
    if (count === 0) break;
    const n = stosRun(c, size, lo, hi, down, count < left ? count : left);
    if (n > 0) { left -= n; continue; }
    stosElement(c, size, 8, lo, hi);
    step(c, RCX, 8, -1);
    left--;
    if (c.watch.hit !== undefined) break;
  }
  finish(c, i);
}
