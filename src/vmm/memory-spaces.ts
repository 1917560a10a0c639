// The three address spaces a debugger can point into, and the memory references that name
// them (DAP's `memoryReference`):
//
//   0x8000        guest-linear: through the guest's paging as it is configured now (GuestView)
//   phys:0x8000   guest-physical: through EPT, as the guest's paging-structure and final
//                 accesses are translated (SDM Vol. 3C, 29.3); identity when EPT is off
//   host:0x8000   host-physical: the machine's memory itself — guest RAM, then the VMM's area
//                 (VMXON region, VMCS, I/O and MSR bitmaps, EPT tables), where VMCS pointer
//                 fields such as EPT_POINTER, MSR_BITMAP and IO_BITMAP_A point
//
// Each read or write stops at the first byte that cannot be reached (not mapped, an EPT
// violation or misconfiguration, outside memory, or a device page, which a read could change),
// so callers can say how much was readable.

import { EPT_ACCESS_READ, EPT_NO_AD, EptWalker } from '../hardware/ept';
import { eptCapabilitiesOf } from '../hardware/vmx/entry-checks';
import { controlMask, PRIMARY_PROCESSOR_CONTROLS, SECONDARY_PROCESSOR_CONTROLS } from '../vmx/controls';
import type { GuestView } from './guest-view';
import type { Machine } from './machine';

export type SpaceName = 'linear' | 'phys' | 'host';

/** A place in one of the spaces, as a memory reference names it. */
export interface MemoryPlace {
  space: SpaceName;
  address: bigint;
}

const MASK64 = (1n << 64n) - 1n;
const ACTIVATE_SECONDARY = controlMask(PRIMARY_PROCESSOR_CONTROLS, 'activate secondary controls');
const ENABLE_EPT = controlMask(SECONDARY_PROCESSOR_CONTROLS, 'enable EPT');
const PAGE = 0x1000;

/** Parses `0x…`/decimal (guest-linear), `phys:0x…` or `host:0x…`; undefined when it is none of them or above 64 bits. */
export function parseMemoryReference(text: string): MemoryPlace | undefined {
  const m = /^\s*(?:(phys|host):)?(0x[0-9a-f]+|[0-9]+)\s*$/i.exec(text);
  if (m === null) return undefined;
  const address = BigInt(m[2]);
  if (address > MASK64) return undefined;
  const space = (m[1]?.toLowerCase() ?? 'linear') as SpaceName;
  return { space, address };
}

/** The memory reference of a place: `0x…`, `phys:0x…`, `host:0x…`. */
export function memoryReference(space: SpaceName, address: bigint): string {
  const a = `0x${address.toString(16)}`;
  return space === 'linear' ? a : `${space}:${a}`;
}

/** What each space is called in messages. */
export const SPACE_WORDS: Readonly<Record<SpaceName, string>> = { linear: 'guest-linear', phys: 'guest-physical', host: 'host-physical' };

/** Reads and writes of one space; both stop at the first unreachable byte and say how far they got. */
export interface MemorySpace {
  read(address: bigint, length: number): Uint8Array;
  write(address: bigint, bytes: Uint8Array): number;
}

export function memorySpace(machine: Machine, view: GuestView, space: SpaceName): MemorySpace {
  switch (space) {
    case 'linear': return { read: (a, n) => view.readLinear(a, n), write: (a, b) => view.writeLinear(a, b) };
    case 'phys': return new GuestPhysical(machine, view);
    case 'host': return new HostPhysical(machine);
  }
}

/** Runs of host memory that `length` bytes at `address` occupy, found by `translate` page by page. */
function eachRun(address: bigint, length: number, translate: (a: bigint) => number | undefined, visit: (host: number, offset: number, n: number) => void): number {
  let done = 0;
  while (done < length) {
    const at = (address + BigInt(done)) & MASK64;
    const host = translate(at);
    if (host === undefined) break;
    const n = Math.min(length - done, PAGE - (host % PAGE));
    visit(host, done, n);
    done += n;
  }
  return done;
}

abstract class Space implements MemorySpace {
  constructor(protected readonly machine: Machine) {}

  /** The host-physical address of one byte, or undefined where the space has nothing readable. */
  protected abstract translate(address: bigint): number | undefined;

  read(address: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const mem = this.machine.mem;
    const done = eachRun(address, length, (a) => this.translate(a), (host, offset, n) => {
      for (let k = 0; k < n; k++) out[offset + k] = mem.read8(host + k);
    });
    return out.subarray(0, done);
  }

  write(address: bigint, bytes: Uint8Array): number {
    const mem = this.machine.mem;
    return eachRun(address, bytes.length, (a) => this.translate(a), (host, offset, n) => {
      for (let k = 0; k < n; k++) mem.write8(host + k, bytes[offset + k]);
    });
  }
}

/** The machine's memory as it is: every byte below its size. */
class HostPhysical extends Space {
  protected translate(address: bigint): number | undefined {
    return address < BigInt(this.machine.mem.size) ? Number(address) : undefined;
  }
}

/** Guest-physical memory through the current VMCS's EPT (a walker of its own: no A/D flags set, no cache of the processor's touched). */
class GuestPhysical extends Space {
  private walker: EptWalker | undefined;
  private readonly ept: boolean;

  constructor(machine: Machine, view: GuestView) {
    super(machine);
    const proc = Number(view.vmcs('CPU_BASED_VM_EXEC_CONTROL') ?? 0n);
    const proc2 = Number(view.vmcs('SECONDARY_VM_EXEC_CONTROL') ?? 0n);
    this.ept = (proc & ACTIVATE_SECONDARY) !== 0 && (proc2 & ENABLE_EPT) !== 0;
    if (this.ept) {
      const w = new EptWalker(machine.mem);
      const check = w.configure(view.vmcs('EPT_POINTER') ?? 0n, eptCapabilitiesOf(machine.vmx.caps));
      this.walker = check.ok ? w : undefined;
    }
  }

  protected translate(address: bigint): number | undefined {
    const size = this.machine.mem.size;
    if (!this.ept) return address < BigInt(size) ? Number(address) : undefined;
    const w = this.walker;
    if (w === undefined || address >= 1n << 52n) return undefined;
    const host = w.translate(Number(address & 0xffffffffn) | 0, Number(address >> 32n) | 0, EPT_ACCESS_READ | EPT_NO_AD);
    return host < 0 || host >= size ? undefined : host;
  }
}
