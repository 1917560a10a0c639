// The VMCALL interface guests use to talk to the VMM (documented in README.md "Hypercalls").
// As in x86_vcpu, RAX holds the number and RDI, RSI, RDX, RCX, R8, R9 the arguments; the
// result goes back in RAX and RIP moves past the VMCALL.
//
//   0  VERSION         → RAX = 1 (the interface version)
//   1  CONSOLE_WRITE   RDI = guest-physical address, RSI = length (≤ 64 KiB) → RAX = bytes written
//   2  SHUTDOWN        RDI = exit code → the machine stops with that code
// Any other number: RAX = -1 (all ones), and the guest continues.

import type { VmxExitInfo } from '../vmx/vcpu';
import type { Machine } from './machine';

export const HYPERCALL = { VERSION: 0n, CONSOLE_WRITE: 1n, SHUTDOWN: 2n } as const;
const ALL_ONES = 0xffffffffffffffffn;

export class Hypercalls {
  constructor(private readonly machine: Machine, private readonly console: (bytes: Uint8Array) => void) {}

  /** Handles one VMCALL; returns a problem that ends the run, if any. */
  handle(info: VmxExitInfo, nr: bigint, args: bigint[]): string | undefined {
    const m = this.machine;
    let result = ALL_ONES;
    switch (nr) {
      case HYPERCALL.VERSION: result = 1n; break;
      case HYPERCALL.CONSOLE_WRITE: {
        const address = args[0], length = args[1];
        if (length > 0x10000n || address + length > BigInt(m.ramBytes)) { result = ALL_ONES; break; }
        this.console(m.mem.readBytes(Number(address), Number(length)));
        result = length;
        break;
      }
      case HYPERCALL.SHUTDOWN:
        m.requestShutdown(Number(args[0] & 0xffn), 'hypercall');
        result = 0n;
        break;
      default: break;
    }
    m.vcpu.regsImage.setRegOfIndex(0, result);
    m.vcpu.advanceRip(info.instructionLength);
    return undefined;
  }
}
