// Protected-mode I/O permission (SDM Vol. 1, 19.5 "Protected-Mode I/O"; Vol. 3A, 9.7 and
// 8.2.1 for the TSS layout): when CPL > IOPL, or in virtual-8086 mode, IN/OUT/INS/OUTS are
// allowed only if every byte port of the access has a clear bit in the I/O permission bit map
// of the TSS that TR points at. The port/size arithmetic is exported on its own because the
// VMX I/O bitmaps A and B index ports the same way (one bit per byte port).

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Ar, Flag, Seg } from './cpu-state';
import { readSystem16 } from './segments';

/** Offset in a 32-bit or 64-bit TSS of the 16-bit I/O map base (SDM Vol. 3A, Figures 8-2 and 8-11). */
export const TSS_IO_MAP_BASE_OFFSET = 0x66;

/** Byte of an I/O bitmap that holds the bit of `port`. */
export function ioBitmapByte(port: number): number {
  return (port & 0xffff) >>> 3;
}

/**
 * Mask of the bits of the `size` byte ports from `port` up, within the 16-bit little-endian
 * word read at ioBitmapByte(port): a 4-byte access can reach into the next bitmap byte.
 */
export function ioBitmapMask(port: number, size: number): number {
  return ((1 << size) - 1) << (port & 7);
}

/** True when an I/O instruction must consult the TSS bitmap: protected mode with CPL > IOPL, or V86. */
export function ioNeedsBitmap(c: Cpu): boolean {
  if ((c.cr0 & 1) === 0) return false;
  return (c.flagsOther & Flag.VM) !== 0 || c.cpl > ((c.flagsOther >> 12) & 3);
}

/** Raises #GP(0) unless the current privilege may access `size` bytes of ports from `port`. */
export function checkIoPermission(c: Cpu, port: number, size: number): void {
  if (ioNeedsBitmap(c)) checkTssIoBitmap(c, port, size);
}

/**
 * The bitmap lookup itself. Only a 32-bit or 64-bit TSS (type 9 or 11) has a map; the map
 * base is read from offset 0x66 and the processor always reads two bitmap bytes, so both must
 * lie within TR's limit. Any read outside the TSS, or any set bit, is #GP(0).
 */
export function checkTssIoBitmap(c: Cpu, port: number, size: number): void {
  const ar = c.segAr[Seg.TR];
  const type = ar & Ar.TYPE;
  if ((ar & Ar.UNUSABLE) !== 0 || (ar & Ar.S) !== 0 || (type !== 9 && type !== 11)) {
    throw new CpuFault(Vector.GP, 0, `I/O to port 0x${port.toString(16)} needs the I/O bitmap, but TR holds no 32/64-bit TSS`);
  }
  const limit = c.segLimit[Seg.TR];
  if (TSS_IO_MAP_BASE_OFFSET + 1 > limit) {
    throw new CpuFault(Vector.GP, 0, `TSS limit 0x${limit.toString(16)} does not reach the I/O map base`);
  }
  const mapBase = readTss16(c, TSS_IO_MAP_BASE_OFFSET);
  const at = mapBase + ioBitmapByte(port);
  if (at + 1 > limit) {
    throw new CpuFault(Vector.GP, 0, `I/O bitmap byte for port 0x${port.toString(16)} lies beyond the TSS limit`);
  }
  if ((readTss16(c, at) & ioBitmapMask(port, size)) !== 0) {
    throw new CpuFault(Vector.GP, 0, `I/O to port 0x${port.toString(16)} (${size} bytes) denied by the TSS I/O bitmap`);
  }
}

/** A 16-bit read at TR.base + offset: linear addresses wrap at 32 bits outside IA-32e mode. */
function readTss16(c: Cpu, offset: number): number {
  const baseLo = c.segBase[2 * Seg.TR] >>> 0;
  const s = baseLo + offset;
  const hi = c.longModeActive ? (c.segBase[2 * Seg.TR + 1] + (s > 0xffffffff ? 1 : 0)) | 0 : 0;
  return readSystem16(c, s | 0, hi);
}
