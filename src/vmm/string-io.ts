// INS and OUTS that the guest aims at an emulated port: the I/O exit (SDM Vol. 3C, 28.2.1,
// Table 28-5: string and REP bits of the qualification) says only port, width and direction,
// so the VMM decodes the instruction at guest RIP for its address size and source segment and
// moves the elements itself between guest memory and the device, as KVM's string PIO does. A
// long REP is done in chunks: RIP stays on the instruction until RCX reaches zero, so the next
// entry executes it again (and exits again) with the registers as far as they got, which is
// where an interrupt or a debugger pause could land between elements on silicon too.

import { BufferSource, decodeInsn } from '../hardware/decoder';
import { IoBus } from '../hardware/io-bus';
import { GuestView } from './guest-view';

/** Elements moved per exit before the VMM lets the guest (and the debugger) run again. */
export const STRING_IO_CHUNK = 4096;

const RCX = 1, RSI = 6, RDI = 7, ES = 0, DS = 3, FS = 4;
const DF = 1n << 10n;
const MASK64 = (1n << 64n) - 1n;

/** The guest's general registers as the VMM writes them back (the GeneralRegisters image). */
export interface StringIoRegisters {
  getRegOfIndex(index: number): bigint;
  setRegOfIndex(index: number, value: bigint): void;
}

export type StringIoResult = { kind: 'done' } | { kind: 'more' } | { kind: 'error'; message: string };

/**
 * Carries out (part of) the INS/OUTS at guest RIP on `bus`: at most STRING_IO_CHUNK elements.
 * 'done' when the instruction is complete (the caller advances RIP), 'more' when a REP count
 * remains (RIP stays), or an error naming the guest address that is not RAM.
 */
export function emulateStringIo(
  view: GuestView, regs: StringIoRegisters, bus: IoBus,
  io: { input: boolean; port: number; width: number },
): StringIoResult {
  const mode = view.decodeMode();
  let insn;
  try {
    insn = decodeInsn(new BufferSource(view.readLinear(view.instructionPointer(), 15)), mode, 0, 0);
  } catch {
    return { kind: 'error', message: 'the string I/O instruction at guest RIP could not be decoded' };
  }
  const amask = insn.asize === 8 ? MASK64 : insn.asize === 4 ? 0xffffffffn : 0xffffn;
  // INS stores through ES:rDI whatever the prefixes; OUTS reads seg:rSI, DS unless overridden
  const reg = io.input ? RDI : RSI;
  const seg = io.input ? ES : insn.segOverride >= 0 ? insn.segOverride : DS;
  const base = mode === 64 && seg < FS ? 0n : view.segments()[seg].base;
  const linearMask = mode === 64 ? MASK64 : 0xffffffffn;
  const delta = (view.register('rflags') & DF) !== 0n ? -BigInt(io.width) : BigInt(io.width);
  const rep = insn.rep !== 0;
  let count = rep ? regs.getRegOfIndex(RCX) & amask : 1n;
  if (count === 0n) return { kind: 'done' };

  /** A pointer or count register changed at the address size (a 32-bit one zero-extends). */
  const update = (k: number, value: bigint): void => {
    const old = regs.getRegOfIndex(k);
    regs.setRegOfIndex(k, insn.asize === 2 ? (old & ~0xffffn) | (value & 0xffffn) : value & amask);
  };
  for (let n = 0; n < STRING_IO_CHUNK && count > 0n; n++) {
    const offset = regs.getRegOfIndex(reg) & amask;
    const linear = (base + offset) & linearMask;
    if (io.input) {
      const value = bus.read(io.port, io.width);
      const bytes = new Uint8Array(io.width);
      for (let b = 0; b < io.width; b++) bytes[b] = (value >>> (8 * b)) & 0xff;
      if (view.writeLinear(linear, bytes) < io.width) return notRam('INS destination', linear);
    } else {
      const bytes = view.readLinear(linear, io.width);
      if (bytes.length < io.width) return notRam('OUTS source', linear);
      let value = 0;
      for (let b = io.width - 1; b >= 0; b--) value = (value * 256) + bytes[b];
      bus.write(io.port, io.width, value >>> 0);
    }
    update(reg, offset + delta);
    count--;
    if (rep) update(RCX, count);
  }
  return count === 0n ? { kind: 'done' } : { kind: 'more' };
}

function notRam(what: string, linear: bigint): StringIoResult {
  return { kind: 'error', message: `${what} at guest-linear 0x${linear.toString(16)} is not mapped to guest RAM` };
}
