// Runs the oracle's test cases on the emulated CPU under the same conditions as natively:
// 64-bit mode (or compatibility mode for a case with mode 32) at CPL 3, code at
// NATIVE_CODE_ADDRESS, the data area at NATIVE_DATA_ADDRESS, the same registers and flags,
// and the run ends where the native run jumps back.

import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu, Intercept } from '../../src/hardware/cpu';
import { getRflags, setRflags } from '../../src/hardware/flags';
import { enterLongMode, setCodeSize } from '../../src/vmm/long-mode-setup';
import { NativeCase, NATIVE_CODE_ADDRESS, NATIVE_DATA_ADDRESS, NATIVE_DATA_SIZE } from './native-cpu';

export interface EmuResult {
  /** -1 when the code ran to its end, else the exception vector. */
  vector: number;
  faultOffset: number;
  regs: bigint[];
  rflags: bigint;
  data: Uint8Array;
  detail: string;
}

export class EmuRunner {
  readonly mem = new PhysicalMemory(2 ** 31);
  readonly cpu = new Cpu(this.mem);
  private bits: 64 | 32 = 64;

  constructor() {
    enterLongMode(this.cpu, { gdt: 0x1000, pml4: 0x2000, cpl: 3, gib: 2 });
    this.cpu.interceptMask = Intercept.EXCEPTION;
    this.cpu.hooks = { intercept: () => false, exception: () => true };
  }

  run(c: NativeCase, budget = 100000): EmuResult {
    const cpu = this.cpu;
    const bits = c.mode ?? 64;
    if (bits !== this.bits) {
      setCodeSize(cpu, bits);
      this.bits = bits;
    }
    const data = this.mem.chunkFor(NATIVE_DATA_ADDRESS);
    data.fill(0);
    data.set(c.data);
    this.mem.writeBytes(NATIVE_CODE_ADDRESS, c.code);
    const end = BigInt(NATIVE_CODE_ADDRESS + c.code.length);
    cpu.setBreakpoints([end]);
    for (let r = 0; r < 16; r++) cpu.setReg(r, BigInt.asUintN(64, c.regs[r]));
    setRflags(cpu, Number(c.rflags & 0xcd5n) | 0x202);
    cpu.rip = BigInt(NATIVE_CODE_ADDRESS);
    const out = cpu.run(budget);
    const regs: bigint[] = [];
    for (let r = 0; r < 16; r++) regs.push(cpu.getReg(r));
    let vector = -1, detail = '';
    if (out.kind === 'exception') {
      vector = out.vector;
      detail = out.detail;
    } else if (out.kind !== 'breakpoint') {
      vector = 1000;
      detail = `run ended with ${out.kind}`;
    }
    return {
      vector,
      detail,
      faultOffset: vector >= 0 ? Number(cpu.rip - BigInt(NATIVE_CODE_ADDRESS)) : 0,
      regs,
      rflags: BigInt(getRflags(cpu) & 0xcd5),
      data: data.slice(0, NATIVE_DATA_SIZE),
    };
  }
}
