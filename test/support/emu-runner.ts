// Runs the oracle's test cases on the emulated CPU under the same conditions as natively:
// 64-bit mode (or compatibility mode for a case with mode 32) at CPL 3, code at
// NATIVE_CODE_ADDRESS, the data area at NATIVE_DATA_ADDRESS, the same registers and flags,
// DS/ES flat or (dataSegment) an LDT data segment over the data area as the oracle installs
// it, FS/GS null, and the run ends where the native run jumps back.

import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu, Intercept } from '../../src/hardware/cpu';
import { Seg } from '../../src/hardware/cpu-state';
import { getRflags, setRflags } from '../../src/hardware/flags';
import { Descriptor, loadNullSegment, loadSegmentCache, readDescriptor } from '../../src/hardware/segments';
import { enterLongMode, setCodeSize, GDT_SELECTORS } from '../../src/vmm/long-mode-setup';
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

/**
 * The oracle's LDT (one entry, selector 0x7: LDT index 0, RPL 3): read/write data, DPL 3,
 * 32-bit, byte-granular, base NATIVE_DATA_ADDRESS, limit the data area's last byte. The
 * emulated machine gets the same LDT, named by a 16-byte LDT descriptor after the GDT entries
 * enterLongMode writes, so a case may reload DS/ES from it.
 */
const DATA_AREA_SELECTOR = 0x7;
const LDT_ADDRESS = 0x6000;
const LDT_SELECTOR = 0x40;
const DATA_AREA_DESCRIPTOR: Descriptor = (() => {
  const base = NATIVE_DATA_ADDRESS, limit = NATIVE_DATA_SIZE - 1;
  return {
    lo: ((base & 0xffff) << 16) | (limit & 0xffff),
    hi: (base & 0xff000000) | 0x40f300 | ((limit >>> 16) << 16) | ((base >>> 16) & 0xff),
  };
})();

/** Writes the LDT and its GDT descriptor (SDM Vol. 3A, 8.2.3: 16 bytes in IA-32e mode) and loads LDTR. */
function installLdt(cpu: Cpu, mem: PhysicalMemory): void {
  mem.write(LDT_ADDRESS, 4, DATA_AREA_DESCRIPTOR.lo >>> 0);
  mem.write(LDT_ADDRESS + 4, 4, DATA_AREA_DESCRIPTOR.hi >>> 0);
  const at = Number(cpu.gdtrBase) + LDT_SELECTOR;
  const ldt: Descriptor = { lo: ((LDT_ADDRESS & 0xffff) << 16) | 7, hi: (LDT_ADDRESS & 0xff000000) | 0x8200 | ((LDT_ADDRESS >>> 16) & 0xff) };
  mem.write(at, 4, ldt.lo >>> 0);
  mem.write(at + 4, 4, ldt.hi >>> 0);
  mem.write(at + 8, 4, 0);
  mem.write(at + 12, 4, 0);
  cpu.gdtrLimit = Math.max(cpu.gdtrLimit, LDT_SELECTOR + 15);
  loadSegmentCache(cpu, Seg.LDTR, LDT_SELECTOR, ldt);
}

export class EmuRunner {
  readonly mem = new PhysicalMemory(2 ** 31);
  readonly cpu = new Cpu(this.mem);
  private bits: 64 | 32 = 64;

  constructor() {
    enterLongMode(this.cpu, { gdt: 0x1000, pml4: 0x2000, cpl: 3, gib: 2 });
    const cpu = this.cpu;
    installLdt(cpu, this.mem);
    // FS and GS hold null selectors, as in a Linux process (whose FS base is its TLS, which
    // no case uses): in compatibility mode an access through them is #GP
    loadNullSegment(cpu, Seg.FS, 0);
    loadNullSegment(cpu, Seg.GS, 0);
    cpu.interceptMask = Intercept.EXCEPTION;
    cpu.hooks = { intercept: () => false, exception: () => true };
  }

  private loadDataSegments(dataSegment: boolean): void {
    const sel = dataSegment ? DATA_AREA_SELECTOR : GDT_SELECTORS.userData;
    const d = readDescriptor(this.cpu, sel);
    loadSegmentCache(this.cpu, Seg.DS, sel, d);
    loadSegmentCache(this.cpu, Seg.ES, sel, d);
  }

  run(c: NativeCase, budget = 100000): EmuResult {
    const cpu = this.cpu;
    const bits = c.mode ?? 64;
    if (bits !== this.bits) {
      setCodeSize(cpu, bits);
      this.bits = bits;
    }
    // a case may have loaded DS/ES itself: always start from the selectors the case asks for
    this.loadDataSegments(c.dataSegment === true);
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
