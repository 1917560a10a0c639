// The call chain of 64-bit guest code built with frame pointers: each function's prologue
// (`push rbp; mov rbp, rsp`) leaves the caller's RBP at [RBP] and the return address at
// [RBP + 8] (System V AMD64 ABI, 3.3.2 and Figure 3.3), so following RBP from frame to frame
// gives the return addresses. The walk stops wherever the chain stops looking like one:
// outside 64-bit mode, RBP zero, unaligned, below RSP or not rising, unreadable memory, or
// a return address the caller does not accept as code.

import type { GuestView } from './guest-view';

export interface GuestFrame {
  /** Where this frame's code is: the instruction pointer for the top frame, a return address for the others. */
  readonly pc: bigint;
  /** True for the frames found through the chain (their pc is the instruction after a call). */
  readonly returnAddress: boolean;
  /** For a caller frame: the registers the chain recovers, and where the callee's frame keeps them. */
  readonly caller?: CallerRegisters;
}

/** What a caller frame's registers are, as far as the RBP chain tells. */
export interface CallerRegisters {
  /** The caller's RSP once the call has returned (the canonical frame address): the callee's RBP + 16. */
  readonly cfa: bigint;
  /** The caller's RBP, as the callee's prologue saved it. */
  readonly rbp: bigint;
  /** Where that RBP is saved: the callee's RBP. */
  readonly rbpSlot: bigint;
  /** Where the return address (the caller's RIP) is: the callee's RBP + 8. */
  readonly returnSlot: bigint;
}

/** Frames deeper than this are not followed (a corrupt chain that happens to rise for ever). */
export const MAX_FRAMES = 64;
/** A frame more than this far above the stack pointer is not believed to be on this stack. */
const MAX_STACK_SPAN = 1n << 20n;

function readQword(view: GuestView, address: bigint): bigint | undefined {
  const b = view.readLinear(address, 8);
  if (b.length < 8) return undefined;
  let v = 0n;
  for (let k = 7; k >= 0; k--) v = (v << 8n) | BigInt(b[k]);
  return v;
}

/** The top frame, then the callers that the RBP chain shows; `isCode` vets each return address. */
export function walkFrames(view: GuestView, isCode: (address: bigint) => boolean, maxFrames = MAX_FRAMES): GuestFrame[] {
  const frames: GuestFrame[] = [{ pc: view.instructionPointer(), returnAddress: false }];
  if (view.decodeMode() !== 64) return frames;
  const rsp = view.register('rsp');
  let rbp = view.register('rbp');
  while (frames.length < maxFrames) {
    if (rbp === 0n || (rbp & 7n) !== 0n || rbp < rsp || rbp - rsp > MAX_STACK_SPAN) break;
    const callerRbp = readQword(view, rbp);
    const ret = readQword(view, rbp + 8n);
    if (callerRbp === undefined || ret === undefined || !isCode(ret)) break;
    frames.push({ pc: ret, returnAddress: true, caller: { cfa: rbp + 16n, rbp: callerRbp, rbpSlot: rbp, returnSlot: rbp + 8n } });
    // the caller's frame lies above this one, or the chain has ended (0) or is broken
    if (callerRbp !== 0n && callerRbp <= rbp) break;
    rbp = callerRbp;
  }
  return frames;
}
