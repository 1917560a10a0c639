// What a debugger sees of the guest, read without side effects: no VMREAD (it would change
// RFLAGS, and is not allowed at all while the guest is on the processor), no accessed/dirty
// bits set by a page walk. While the guest is running (stopped between two of its
// instructions at a breakpoint or a pause) its state is on the processor; after a VM exit it
// is in the VMCS guest-state area and the vCPU's register image. Writes go to the same place.

import { Cpu } from '../hardware/cpu';
import { SEGMENT_NAMES } from '../hardware/cpu-state';
import type { DecodeMode } from '../hardware/decoder';
import { getRflags, setRflags } from '../hardware/flags';
import { ACCESS_IMPLICIT, ACCESS_NO_AD, PAGE_FAULT, PageWalker } from '../hardware/paging';
import { slotOfEncoding } from '../hardware/vmx/vmcs';
import { GeneralRegisters, GPR_NAMES, RSP_INDEX, STACK_IMAGE_SIZE } from '../regs';
import { RFLAGS_FIXED1, RFLAGS_WRITABLE } from '../rflags';
import { VMCS_FIELDS, VmcsFieldInfo, vmcsFieldByName } from '../vmx/vmcs-fields';
import { controlMask, ENTRY_CONTROLS } from '../vmx/controls';
import { ALL_MSRS, MsrInfo } from '../msr';
import type { Machine } from './machine';

/** A name or value the debugger cannot apply to the guest. */
export class GuestViewError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestViewError';
  }
}

export interface SegmentView {
  readonly name: string;
  readonly selector: number;
  readonly base: bigint;
  readonly limit: number;
  /** Access rights in the VMCS layout (SDM Vol. 3C, 25.4.1, Table 25-2). */
  readonly attributes: number;
}

/** Registers by the names the debugger shows: rax … r15, rip, rflags. */
export const REGISTER_NAMES: readonly string[] = [...GPR_NAMES, 'rip', 'rflags'];

const MASK64 = (1n << 64n) - 1n;

/**
 * MSRs whose guest value lives in the VMCS guest-state area between a VM exit and the next
 * entry (SDM Vol. 3C, 25.4.1, 27.3.2.1, 28.3.1): the SYSENTER MSRs and the FS/GS bases always,
 * EFER and PAT when the VM-entry control says entry loads them. The others stay on the
 * processor across exits (this VMM's host, TypeScript, does not use them).
 */
const MSRS_IN_VMCS: Readonly<Record<string, { field: string; entryControl?: number }>> = {
  IA32_SYSENTER_CS: { field: 'GUEST_SYSENTER_CS' },
  IA32_SYSENTER_ESP: { field: 'GUEST_SYSENTER_ESP' },
  IA32_SYSENTER_EIP: { field: 'GUEST_SYSENTER_EIP' },
  IA32_FS_BASE: { field: 'GUEST_FS_BASE' },
  IA32_GS_BASE: { field: 'GUEST_GS_BASE' },
  IA32_EFER: { field: 'GUEST_IA32_EFER', entryControl: controlMask(ENTRY_CONTROLS, 'load IA32_EFER') },
  IA32_PAT: { field: 'GUEST_IA32_PAT', entryControl: controlMask(ENTRY_CONTROLS, 'load IA32_PAT') },
};
/** The VMCS guest-state field that holds an MSR's guest value after a VM exit, or undefined when the processor holds it. */
export function msrVmcsField(view: GuestView, info: MsrInfo): string | undefined {
  const inVmcs = MSRS_IN_VMCS[info.name];
  if (inVmcs === undefined) return undefined;
  const controls = Number(view.vmcs('VM_ENTRY_CONTROLS') ?? 0n);
  return inVmcs.entryControl === undefined || (controls & inVmcs.entryControl) !== 0 ? inVmcs.field : undefined;
}

const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

export class GuestView {
  constructor(private readonly machine: Machine) {}

  private get cpu(): Cpu {
    return this.machine.cpu;
  }

  /** True while the guest's state is on the processor rather than in the VMCS. */
  get onProcessor(): boolean {
    return this.machine.vcpu.running;
  }

  /** A VMCS field of the current VMCS as the processor holds it, or undefined if it has no storage. */
  vmcs(name: string): bigint | undefined {
    const f = vmcsFieldByName(name);
    return f === undefined ? undefined : this.vmcsField(f);
  }

  vmcsField(f: VmcsFieldInfo): bigint | undefined {
    const at = slotOfEncoding(f.encoding);
    return at === undefined ? undefined : this.machine.vmx.vmcs.get(at.slot);
  }

  /** Every VMCS field this processor stores, with its value, in Appendix B order. */
  vmcsFields(): Array<{ field: VmcsFieldInfo; value: bigint }> {
    const out: Array<{ field: VmcsFieldInfo; value: bigint }> = [];
    for (const field of VMCS_FIELDS) {
      const value = this.vmcsField(field);
      if (value !== undefined) out.push({ field, value });
    }
    return out;
  }

  private vmcsOrZero(name: string): bigint {
    return this.vmcs(name) ?? 0n;
  }

  /** rax … r15, rip, rflags. */
  register(name: string): bigint {
    const k = (GPR_NAMES as readonly string[]).indexOf(name);
    const c = this.cpu;
    if (this.onProcessor) {
      if (k >= 0) return u64(c.r[2 * k], c.r[2 * k + 1]);
      if (name === 'rip') return u64(c.ip[0], c.ip[1]);
      if (name === 'rflags') return BigInt(getRflags(c) >>> 0);
    } else {
      if (k === RSP_INDEX) return this.vmcsOrZero('GUEST_RSP');
      if (k >= 0) return this.machine.vcpu.regsImage.getRegOfIndex(k);
      if (name === 'rip') return this.vmcsOrZero('GUEST_RIP');
      if (name === 'rflags') return this.vmcsOrZero('GUEST_RFLAGS');
    }
    throw new GuestViewError(`no register named '${name}' (registers: ${REGISTER_NAMES.join(', ')})`);
  }

  /**
   * Writes a register where the guest will next read it. RFLAGS keeps its fixed bit 1 set and
   * its reserved bits clear, as POPF would leave them.
   */
  setRegister(name: string, value: bigint): void {
    if (value < 0n || value > MASK64) throw new GuestViewError(`${name}: ${value} does not fit in 64 bits`);
    const k = (GPR_NAMES as readonly string[]).indexOf(name);
    if (k < 0 && name !== 'rip' && name !== 'rflags') throw new GuestViewError(`no register named '${name}' (registers: ${REGISTER_NAMES.join(', ')})`);
    const flags = (value & RFLAGS_WRITABLE) | RFLAGS_FIXED1;
    const c = this.cpu;
    if (this.onProcessor) {
      const lo = Number(value & 0xffffffffn) | 0, hi = Number(value >> 32n) | 0;
      if (k >= 0) { c.r[2 * k] = lo; c.r[2 * k + 1] = hi; } else if (name === 'rip') { c.ip[0] = lo; c.ip[1] = hi; } else setRflags(c, Number(flags));
      return;
    }
    const v = this.machine.vcpu.vmcs;
    if (k === RSP_INDEX) v.write('GUEST_RSP', value);
    else if (k >= 0) this.machine.vcpu.regsImage.setRegOfIndex(k, value);
    else if (name === 'rip') v.write('GUEST_RIP', value);
    else v.write('GUEST_RFLAGS', flags);
  }

  /** The guest's value of an MSR, or undefined when this processor does not implement it. */
  msr(info: MsrInfo): bigint | undefined {
    const field = this.onProcessor ? undefined : msrVmcsField(this, info);
    if (field !== undefined) return this.vmcsOrZero(field);
    try {
      return this.cpu.msrs.rdmsr(info.address);
    } catch {
      return undefined;
    }
  }

  /**
   * The 128-byte GeneralRegisters image the VM-exit path saved at HOST_RSP - 128 in host memory
   * (x86_vcpu's save_regs_to_stack!), read from memory as it lies there (host memory, above the
   * guest's RAM); undefined before the VMCS has a HOST_RSP or when it points outside memory.
   */
  hostRegisterImage(): { address: bigint; registers: GeneralRegisters } | undefined {
    const hostRsp = this.vmcs('HOST_RSP');
    if (hostRsp === undefined || hostRsp < BigInt(STACK_IMAGE_SIZE) || hostRsp > BigInt(this.machine.mem.size)) return undefined;
    const address = hostRsp - BigInt(STACK_IMAGE_SIZE);
    const bytes = this.machine.mem.readBytes(Number(address), STACK_IMAGE_SIZE);
    return { address, registers: new GeneralRegisters(new Uint32Array(bytes.buffer, bytes.byteOffset, STACK_IMAGE_SIZE / 4)) };
  }

  /** Every MSR of the table that this processor implements, with the guest's value. */
  msrs(): Array<{ msr: MsrInfo; value: bigint }> {
    const out: Array<{ msr: MsrInfo; value: bigint }> = [];
    for (const msr of ALL_MSRS) {
      const value = this.msr(msr);
      if (value !== undefined) out.push({ msr, value });
    }
    return out;
  }

  /** CR0, CR3, CR4 and IA32_EFER as the processor uses them (guest/host-owned bits included). */
  controlRegisters(): { cr0: bigint; cr2: bigint; cr3: bigint; cr4: bigint; cr8: bigint; efer: bigint } {
    const c = this.cpu;
    // CR2 and CR8 are not part of the VMCS: the processor keeps the guest's across exits
    const cr2 = c.cr2, cr8 = BigInt(c.cr8);
    if (this.onProcessor) return { cr0: BigInt(c.cr0 >>> 0), cr2, cr3: c.cr3, cr4: BigInt(c.cr4 >>> 0), cr8, efer: BigInt(c.efer >>> 0) };
    return { cr0: this.vmcsOrZero('GUEST_CR0'), cr2, cr3: this.vmcsOrZero('GUEST_CR3'), cr4: this.vmcsOrZero('GUEST_CR4'), cr8, efer: this.vmcsOrZero('GUEST_IA32_EFER') };
  }

  /** GDTR and IDTR: base and limit. */
  descriptorTables(): { gdtr: { base: bigint; limit: number }; idtr: { base: bigint; limit: number } } {
    const c = this.cpu;
    if (this.onProcessor) return { gdtr: { base: c.gdtrBase, limit: c.gdtrLimit }, idtr: { base: c.idtrBase, limit: c.idtrLimit } };
    return {
      gdtr: { base: this.vmcsOrZero('GUEST_GDTR_BASE'), limit: Number(this.vmcsOrZero('GUEST_GDTR_LIMIT')) },
      idtr: { base: this.vmcsOrZero('GUEST_IDTR_BASE'), limit: Number(this.vmcsOrZero('GUEST_IDTR_LIMIT')) },
    };
  }

  /** ES, CS, SS, DS, FS, GS, LDTR, TR with their hidden parts. */
  segments(): SegmentView[] {
    const c = this.cpu;
    return SEGMENT_NAMES.map((name, s) => {
      if (this.onProcessor) {
        return { name, selector: c.segSel[s], base: u64(c.segBase[2 * s], c.segBase[2 * s + 1]), limit: c.segLimit[s] >>> 0, attributes: c.segAr[s] };
      }
      const f = `GUEST_${name.toUpperCase()}_`;
      return {
        name, selector: Number(this.vmcsOrZero(`${f}SELECTOR`)), base: this.vmcsOrZero(`${f}BASE`),
        limit: Number(this.vmcsOrZero(`${f}LIMIT`)), attributes: Number(this.vmcsOrZero(`${f}AR_BYTES`)),
      };
    });
  }

  /** The instruction width the guest decodes in now: CS.L with EFER.LMA, else CS.D with CR0.PE. */
  decodeMode(): DecodeMode {
    if (this.onProcessor) return this.cpu.decodeMode();
    const cs = this.segments()[1].attributes;
    const { cr0, efer } = this.controlRegisters();
    if ((efer & 0x400n) !== 0n && (cs & (1 << 13)) !== 0) return 64;
    return (cs & (1 << 14)) !== 0 && (cr0 & 1n) !== 0n ? 32 : 16;
  }

  /** The linear address of the next instruction: CS.base + RIP outside 64-bit mode. */
  instructionPointer(): bigint {
    const rip = this.register('rip');
    return this.decodeMode() === 64 ? rip : (this.segments()[1].base + rip) & 0xffffffffn;
  }

  /**
   * Up to `length` bytes of guest-linear memory at `address`, through the guest's paging as it
   * is configured now (no accessed/dirty bits set). Stops at the first byte that no page maps
   * or that lies outside guest RAM (EPT maps RAM one to one; device pages are not read, since a
   * read could change a device), so the result may be shorter.
   */
  readLinear(address: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const done = this.eachPhysical(address, length, (phys, offset, n) => {
      for (let k = 0; k < n; k++) out[offset + k] = this.machine.mem.read8(phys + k);
    });
    return out.subarray(0, done);
  }

  /**
   * Writes bytes to guest-linear memory as a debugger does (whatever the page's write
   * permission), through the same translation as readLinear; returns how many bytes were
   * written, stopping at the first unmapped or non-RAM byte. Cached decodings of the written
   * code are dropped by the memory's write notification.
   */
  writeLinear(address: bigint, bytes: Uint8Array): number {
    return this.eachPhysical(address, bytes.length, (phys, offset, n) => {
      for (let k = 0; k < n; k++) this.machine.mem.write8(phys + k, bytes[offset + k]);
    });
  }

  /** The VMXON region and the current VMCS (host-physical), each undefined when there is none. */
  vmxPointers(): { vmxon: bigint | undefined; vmcs: bigint | undefined } {
    const vmx = this.machine.vmx;
    return { vmxon: vmx.vmxonPointer < 0 ? undefined : BigInt(vmx.vmxonPointer), vmcs: vmx.currentVmcs < 0 ? undefined : BigInt(vmx.currentVmcs) };
  }

  /** The guest-physical ranges `length` bytes of guest-linear memory at `address` occupy (RAM only). */
  physicalRanges(address: bigint, length: number): Array<{ start: number; length: number }> {
    const out: Array<{ start: number; length: number }> = [];
    const covered = this.eachPhysical(address, length, (phys, _offset, n) => out.push({ start: phys, length: n }));
    if (covered < length) throw new GuestViewError(`guest-linear 0x${(address + BigInt(covered)).toString(16)} is not mapped to guest RAM`);
    return out;
  }

  /** Calls `visit` for each run of RAM that `length` bytes at `address` map to; returns the bytes covered. */
  private eachPhysical(address: bigint, length: number, visit: (phys: number, offset: number, n: number) => void): number {
    const { cr0, cr3, cr4, efer } = this.controlRegisters();
    const pdptes = this.onProcessor ? this.cpu.pdptes : [0, 1, 2, 3].map((n) => this.vmcsOrZero(`GUEST_PDPTR${n}`));
    const walker = new PageWalker(this.machine.mem);
    walker.configure({ cr0, cr3, cr4, efer, pdptes });
    const ram = this.machine.ramBytes;
    let done = 0;
    while (done < length) {
      const at = (address + BigInt(done)) & MASK64;
      const phys = walker.translate(Number(at & 0xffffffffn) | 0, Number(at >> 32n) | 0, ACCESS_NO_AD | ACCESS_IMPLICIT);
      if (phys === PAGE_FAULT) break;
      const n = Math.min(length - done, 0x1000 - (phys & 0xfff));
      if (phys + n > ram) break;
      visit(phys, done, n);
      done += n;
    }
    return done;
  }
}
