// Disassembly of guest memory for a debugger: `count` instructions starting `instructionOffset`
// instructions away from an address, backwards too. x86 cannot be decoded backwards, so the
// walk starts at a known instruction boundary before the address — a symbol or a line-table
// row of the guest image — and decodes forward until it lands on the address. Where memory
// cannot be read, or no boundary leads there, the places are filled with `undefined` so the
// caller always gets exactly `count` entries.

import type { DecodeMode } from '../hardware/decoder';
import { disassemble, DisassembledInsn } from '../hardware/disasm';
import type { GuestImage } from './guest-image';

/** Memory to decode from: the guest view's linear memory, or any other space read the same way. */
export interface CodeMemory {
  readLinear(address: bigint, length: number): Uint8Array;
}

/** The longest x86 instruction (SDM Vol. 2A, 2.3.11). */
const MAX_INSN = 15;
/** How far back a boundary is looked for. */
const MAX_BACKWARDS = 0x1000;

export function disassembleGuest(view: CodeMemory, image: GuestImage | undefined, address: bigint, instructionOffset: number, count: number, mode: DecodeMode): Array<DisassembledInsn | undefined> {
  const symbolize = image === undefined ? undefined : (a: bigint) => {
    const hit = image.symbols.at(a);
    return hit === undefined ? undefined : { name: hit.symbol.name, offset: hit.offset };
  };
  const decodeFrom = (start: bigint, bytes: number): DisassembledInsn[] =>
    disassemble(view.readLinear(start, bytes), start, mode, { symbolize });

  const out: Array<DisassembledInsn | undefined> = [];
  let first = address;
  if (instructionOffset < 0) {
    const before = instructionsBefore(image, address, -instructionOffset, decodeFrom);
    for (let k = before.length; k < -instructionOffset; k++) out.push(undefined);
    out.push(...before);
  } else {
    // skip forward
    const skipped = decodeFrom(address, instructionOffset * MAX_INSN + MAX_INSN).slice(0, instructionOffset);
    if (skipped.length > 0) first = skipped[skipped.length - 1].address + BigInt(skipped[skipped.length - 1].length);
  }
  const still = count - out.length;
  if (still > 0) {
    const after = decodeFrom(first, still * MAX_INSN).slice(0, still);
    out.push(...after);
  }
  while (out.length < count) out.push(undefined);
  return out.slice(0, count);
}

/** Up to `n` instructions that end exactly at `address`, found from the nearest boundaries that reach it. */
function instructionsBefore(image: GuestImage | undefined, address: bigint, n: number,
  decodeFrom: (start: bigint, bytes: number) => DisassembledInsn[]): DisassembledInsn[] {
  let best: DisassembledInsn[] = [];
  for (const start of boundariesBefore(image, address)) {
    const insns = decodeFrom(start, Number(address - start));
    const last = insns[insns.length - 1];
    if (last === undefined || last.address + BigInt(last.length) !== address) continue;
    if (insns.length > best.length) best = insns;
    if (best.length >= n) break;
  }
  return best.slice(Math.max(0, best.length - n));
}

/** Known instruction starts below `address` (symbols, line rows), nearest first. */
function boundariesBefore(image: GuestImage | undefined, address: bigint): bigint[] {
  if (image === undefined) return [];
  const low = address > BigInt(MAX_BACKWARDS) ? address - BigInt(MAX_BACKWARDS) : 0n;
  const set = new Set<bigint>();
  for (const s of image.symbols.all) {
    if (s.located && (s.type === 'FUNC' || s.type === 'NOTYPE') && s.value < address && s.value >= low) set.add(s.value);
  }
  for (const r of image.lines.rows) {
    if (!r.endSequence && r.address < address && r.address >= low) set.add(r.address);
  }
  return [...set].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
}
