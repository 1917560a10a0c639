// The data breakpoints the client set: guest-linear byte ranges watched for reads, writes or
// both. The engine watches guest-physical memory, so each breakpoint keeps the physical runs its
// bytes mapped to when it was set, and a hit (a physical access) is mapped back through them to
// the breakpoint that caught it and the guest-linear address the instruction used.

import type { DebugProtocol } from '@vscode/debugprotocol';
import type { WatchAccess, WatchHit, WatchRange } from '../src/hardware/data-watch';

/** The access types offered in dataBreakpointInfo, in the order the DAP lists them. */
export const DATA_ACCESS_TYPES: DebugProtocol.DataBreakpointAccessType[] = ['read', 'write', 'readWrite'];

interface Entry {
  id: number;
  /** Guest-linear address of the first watched byte, and how many. */
  address: bigint;
  bytes: number;
  access: WatchAccess;
  /** Where the bytes lie in guest-physical memory; `offset` is from `address`. */
  runs: Array<{ start: number; length: number; offset: number }>;
}

/** The id dataBreakpointInfo hands out and setDataBreakpoints takes back. */
export function dataIdOf(address: bigint, bytes: number): string {
  return `mem:0x${address.toString(16)}:${bytes}`;
}

export function parseDataId(dataId: string): { address: bigint; bytes: number } | undefined {
  const m = /^mem:0x([0-9a-f]+):(\d+)$/.exec(dataId);
  return m === null ? undefined : { address: BigInt(`0x${m[1]}`), bytes: Number(m[2]) };
}

/** 'read of 4 bytes', 'write of 1 byte', 'read and write of 8 bytes'. */
export function describeAccess(access: WatchAccess, size: number): string {
  const what = access === 'readWrite' ? 'read and write' : access;
  return `${what} of ${size} byte${size === 1 ? '' : 's'}`;
}

/** A data breakpoint as the client set it, with the guest-physical runs its bytes map to now. */
export interface DataBreakpointSpec {
  /** The id the client knows it by. */
  id: number;
  address: bigint;
  bytes: number;
  access: WatchAccess;
  physical: ReadonlyArray<{ start: number; length: number }>;
}

export class DataBreakpointBook {
  private entries: Entry[] = [];

  /** Replaces every data breakpoint; `accessType` is checked by the caller. */
  replace(list: readonly DataBreakpointSpec[]): void {
    this.entries = list.map((b) => {
      let offset = 0;
      const runs = b.physical.map((r) => {
        const run = { start: r.start, length: r.length, offset };
        offset += r.length;
        return run;
      });
      return { id: b.id, address: b.address, bytes: b.bytes, access: b.access, runs };
    });
  }

  /** What the engine watches. */
  ranges(): WatchRange[] {
    return this.entries.flatMap((e) => e.runs.map((r) => ({ start: r.start, length: r.length, access: e.access })));
  }

  /**
   * The breakpoint a hit belongs to (the first that watches this kind of access on those bytes)
   * and the guest-linear address of the access; undefined if none (the breakpoints changed).
   */
  match(hit: WatchHit): { id: number; address: bigint } | undefined {
    for (const e of this.entries) {
      const kinds = e.access === 'readWrite' || hit.access === 'readWrite' || e.access === hit.access;
      if (!kinds) continue;
      for (const r of e.runs) {
        if (hit.address < r.start + r.length && r.start < hit.address + hit.size) {
          // the access lies in the same page as the run's bytes it touches: linear and physical differ by a constant there
          return { id: e.id, address: e.address + BigInt(r.offset) + BigInt(hit.address - r.start) };
        }
      }
    }
    return undefined;
  }
}
