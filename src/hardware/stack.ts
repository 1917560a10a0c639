// Stack pushes and pops through SS:RSP with the stack-address size of the current mode
// (SDM Vol. 1, 6.2.3: 64 bits in 64-bit mode, else SS.B selects 32 or 16).

import type { Cpu } from './cpu';
import { Ar, Seg } from './cpu-state';
import { checkSegmentAccess, isFlatData, nonCanonicalStack } from './segment-checks';

const RSP_LO = 8, RSP_HI = 9;

/** Stack-address size in bytes. */
export function stackAddressSize(cpu: Cpu): number {
  if (cpu.in64BitMode) return 8;
  return (cpu.segAr[Seg.SS] & Ar.DB) !== 0 ? 4 : 2;
}

/**
 * Linear address of SS:offset for a stack access of `size` bytes (offset already wrapped to
 * the stack size), with the SS checks: canonical form in 64-bit mode, else limit and type.
 */
function linear(cpu: Cpu, offLo: number, offHi: number, asz: number, size: number, write: boolean): void {
  if (asz === 8) {
    if (((offHi << 16) >> 16) !== offHi) throw nonCanonicalStack();
    cpu.eaLo = offLo;
    cpu.eaHi = offHi;
    return;
  }
  if (!isFlatData(cpu, Seg.SS)) checkSegmentAccess(cpu, Seg.SS, offLo >>> 0, size, write);
  cpu.eaLo = (offLo + cpu.segBase[2 * Seg.SS]) | 0;
  cpu.eaHi = 0;
}

/** Pushes `size` bytes (2, 4 or 8); the value's high word matters only for 8. */
export function push(cpu: Cpu, size: number, lo: number, hi: number): void {
  const asz = stackAddressSize(cpu);
  const r = cpu.r;
  let spLo = r[RSP_LO], spHi = r[RSP_HI];
  if (asz === 8) {
    const n = (spLo - size) | 0;
    if ((n >>> 0) > (spLo >>> 0)) spHi = (spHi - 1) | 0;
    spLo = n;
  } else if (asz === 4) {
    spLo = (spLo - size) | 0;
  } else {
    spLo = (spLo & ~0xffff) | ((spLo - size) & 0xffff);
  }
  const offLo = asz === 2 ? spLo & 0xffff : spLo;
  linear(cpu, offLo, asz === 8 ? spHi : 0, asz, size, true);
  if (size === 8) cpu.write64(cpu.eaLo, cpu.eaHi, lo, hi);
  else cpu.write(cpu.eaLo, cpu.eaHi, size, lo);
  // RSP changes only once the write has succeeded
  r[RSP_LO] = spLo;
  if (asz === 8) r[RSP_HI] = spHi;
}

/** Reads the value at the top of the stack plus `skip` bytes: low word returned, high in cpu.hi. */
export function peek(cpu: Cpu, size: number, skip: number): number {
  const asz = stackAddressSize(cpu);
  const r = cpu.r;
  let offLo = r[RSP_LO], offHi = r[RSP_HI];
  if (skip !== 0) {
    const n = (offLo + skip) | 0;
    if (asz === 8 && (n >>> 0) < (offLo >>> 0)) offHi = (offHi + 1) | 0;
    offLo = n;
  }
  if (asz === 2) offLo &= 0xffff;
  linear(cpu, offLo, asz === 8 ? offHi : 0, asz, size, false);
  if (size === 8) return cpu.read64(cpu.eaLo, cpu.eaHi);
  cpu.hi = 0;
  return cpu.read(cpu.eaLo, cpu.eaHi, size);
}

/** Adds `bytes` to the stack pointer at the stack-address size. */
export function adjustSp(cpu: Cpu, bytes: number): void {
  const asz = stackAddressSize(cpu);
  const r = cpu.r;
  const spLo = r[RSP_LO];
  if (asz === 8) {
    const n = (spLo + bytes) | 0;
    if (bytes >= 0 ? (n >>> 0) < (spLo >>> 0) : (n >>> 0) > (spLo >>> 0)) r[RSP_HI] = (r[RSP_HI] + (bytes >= 0 ? 1 : -1)) | 0;
    r[RSP_LO] = n;
  } else if (asz === 4) {
    r[RSP_LO] = (spLo + bytes) | 0;
  } else {
    r[RSP_LO] = (spLo & ~0xffff) | ((spLo + bytes) & 0xffff);
  }
}

/** Pops `size` bytes: low word returned, high word in cpu.hi. */
export function pop(cpu: Cpu, size: number): number {
  const v = peek(cpu, size, 0);
  adjustSp(cpu, size);
  return v;
}
