// Sources for frames the line table does not cover (flat binaries, code outside the DWARF
// lines): a DAP `sourceReference` whose text is the disassembly of guest memory around the
// frame's address, one objdump-like line per instruction (`    8000:\t31 c0\txor eax,eax`,
// `<symbol>:` headings), and the frame's line pointing at its instruction. VS Code focuses the
// top frame and shows its variables at a stop only when the frame has a source, so every frame
// gets one.
//
// A reference names a window, not a stop: the disassembly of WINDOW_BYTES from an anchor (a
// symbol's start, or the image segment's start, or else the frame's address, rounded down by
// whole windows) in one decode mode. The same code therefore keeps the same reference, and
// stepping through it moves the line in one document instead of opening a new one per step.
// The window is swept linearly, as objdump does; when the sweep does not land on the frame's
// instruction (data in the code, or a window that starts mid-instruction) the window starts at
// the instruction instead.
//
// No presentationHint 'deemphasize': VS Code (1.100, getTopStackFrame) skips deemphasized
// frames when it picks the frame to focus at entry, pause and exception stops — the VM-exit
// stops this debugger is for — and would show no frame at all.

import type { DebugProtocol } from '@vscode/debugprotocol';
import type { DecodeMode } from '../src/hardware/decoder';
import { disassemble, DisassembledInsn } from '../src/hardware/disasm';
import { hex } from '../src/format';
import type { GuestImage } from '../src/vmm/guest-image';
import type { GuestView } from '../src/vmm/guest-view';

/** Bytes of guest memory one disassembly document covers (some 1000 instructions). */
export const WINDOW_BYTES = 0x1000;
/** What the Source's `origin` says, so a client can tell these from files. */
export const DISASSEMBLY_ORIGIN = 'disassembly of guest memory';

interface Window {
  readonly anchor: bigint;
  readonly mode: DecodeMode;
}

/** A refused `source` request (an unknown reference). */
export class DisassemblySourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DisassemblySourceError';
  }
}

export class DisassemblySources {
  private readonly refs = new Map<string, number>();
  private readonly windows: Window[] = [];

  /**
   * The source and 1-based line for a frame at `pc`: `where` is the address whose instruction
   * the frame is at (pc itself for the top frame, pc - 1 for a caller: the call).
   */
  frameSource(view: GuestView, image: GuestImage | undefined, pc: bigint, where: bigint): { source: DebugProtocol.Source; line: number } {
    const mode = view.decodeMode();
    let anchor = firstAnchor(image, where);
    // the top frame's instruction starts at pc; a caller's call only has to hold pc - 1
    const exact = where === pc;
    let line = lineOf(listing(view, image, { anchor, mode }), where, exact);
    if (line === undefined) {
      anchor = pc;
      line = lineOf(listing(view, image, { anchor, mode }), where, exact) ?? 1;
    }
    const key = `${mode}:${anchor}`;
    let ref = this.refs.get(key);
    if (ref === undefined) {
      this.windows.push({ anchor, mode });
      ref = this.windows.length;
      this.refs.set(key, ref);
    }
    const label = image?.symbols.at(anchor)?.offset === 0n ? image.symbols.at(anchor)?.symbol.name ?? hex(anchor) : hex(anchor);
    return { source: { name: `${label} (disassembly)`, sourceReference: ref, origin: DISASSEMBLY_ORIGIN }, line };
  }

  /** The text of a reference frameSource handed out. */
  content(ref: number, view: GuestView, image: GuestImage | undefined): string {
    const w = this.windows[ref - 1];
    if (w === undefined) throw new DisassemblySourceError(`no source with reference ${ref}`);
    return listing(view, image, w).map((l) => l.text).join('\n') + '\n';
  }
}

interface Line {
  readonly text: string;
  readonly insn?: DisassembledInsn;
}

/** Where a window for `address` starts: its symbol, else the image segment holding it, else the address's own window, each rounded down by whole windows. */
function firstAnchor(image: GuestImage | undefined, address: bigint): bigint {
  const size = BigInt(WINDOW_BYTES);
  const sym = image?.symbols.at(address);
  let base = sym === undefined ? undefined : sym.symbol.value;
  if (base === undefined) {
    const seg = image?.segments.find((s) => address >= s.virtualAddress && address < s.virtualAddress + s.memorySize);
    base = seg?.virtualAddress ?? address - (address % size);
  }
  return base + ((address - base) / size) * size;
}

/** The window's lines: a heading, then per instruction `<symbol>:` where one starts and the instruction. */
function listing(view: GuestView, image: GuestImage | undefined, w: Window): Line[] {
  const symbolize = image === undefined ? undefined : (a: bigint) => {
    const hit = image.symbols.at(a);
    return hit === undefined ? undefined : { name: hit.symbol.name, offset: hit.offset };
  };
  const insns = disassemble(view.readLinear(w.anchor, WINDOW_BYTES), w.anchor, w.mode, { symbolize });
  const lines: Line[] = [{ text: `; ${DISASSEMBLY_ORIGIN} from ${hex(w.anchor)}, ${w.mode}-bit code (no source line information here)` }];
  for (const insn of insns) {
    const sym = image?.symbols.at(insn.address);
    if (sym !== undefined && sym.offset === 0n) lines.push({ text: '' }, { text: `${insn.address.toString(16).padStart(16, '0')} <${sym.symbol.name}>:` });
    const bytes = [...insn.bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    lines.push({ text: `${insn.address.toString(16).padStart(8)}:\t${bytes.padEnd(20)}\t${insn.text}`, insn });
  }
  return lines;
}

/** The 1-based line of the instruction that starts at (`exact`) or holds `address`, if the sweep decoded one there. */
function lineOf(lines: readonly Line[], address: bigint, exact: boolean): number | undefined {
  const k = lines.findIndex((l) => l.insn !== undefined && (exact ? address === l.insn.address : address >= l.insn.address && address < l.insn.address + BigInt(l.insn.length)));
  return k < 0 ? undefined : k + 1;
}
