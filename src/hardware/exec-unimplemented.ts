// Instructions the decoder recognizes but the executor does not carry out yet. They raise #UD
// with a message that says so, so a guest that uses one stops with a clear reason instead of
// computing something wrong. Each is listed in the README's "not emulated yet" section.

import type { Cpu } from './cpu';
import { CpuFault, Vector } from './cpu';
import { Insn } from './insn';

export function notEmulatedYet(_c: Cpu, i: Insn): void {
  throw new CpuFault(Vector.UD, -1, `${i.mnemonic} is not emulated yet`);
}
