// The processor's MSRs as RDMSR/WRMSR see them: those that alias architectural state (EFER,
// FS/GS base, the SYSCALL and SYSENTER MSRs, the TSC) read and write that state; the others
// are stored; an address this processor does not implement, or a reserved bit set, is #GP.

import type { Cpu } from './cpu';
import { Seg } from './cpu-state';
import { Msr, MsrAccessError, MsrStore, msrByAddress } from '../msr';

const M64 = 0xffffffffffffffffn;

/** EFER bits software may write: SCE, LME, NXE (LMA is set by the processor). */
const EFER_WRITABLE = 0x901n;

function canonical(v: bigint): boolean {
  const top = v >> 47n;
  return top === 0n || top === (M64 >> 47n);
}

export class CpuMsrFile implements MsrStore {
  private readonly values = new Map<number, bigint>();
  /** The MSRs every VM entry and exit loads (SDM Vol. 3C, 27.3.2.1, 28.5.1) in fields rather than the map. */
  private sysenterCs = 0n;
  private sysenterEsp = 0n;
  private sysenterEip = 0n;
  private pat = 0x0007040600070406n;
  /**
   * Bumped by every change of the SYSENTER MSRs or IA32_PAT (define, WRMSR, an MSR-list load):
   * a VM exit need not save them when nothing has written them since VM entry loaded them.
   */
  vmxMsrWrites = 0;
  /** MSRs whose writes the processor refuses (capability MSRs are read-only). */
  private readonly readOnly = new Set<number>();
  /**
   * Told of every write through `wrmsr` (WRMSR, SWAPGS, MSR-load lists) after it succeeded, with
   * the value before and after (a debugger's MSR data breakpoints). Unset, a write costs nothing more.
   */
  onWrite: ((address: number, old: bigint, value: bigint) => void) | undefined;

  constructor(private readonly cpu: Cpu) {
    this.values.set(Msr.IA32_APIC_BASE.address, 0xfee00900n);
    this.values.set(Msr.IA32_MTRR_DEF_TYPE.address, 0xc06n);
    this.values.set(Msr.IA32_MTRRCAP.address, 0x508n);
    this.values.set(Msr.IA32_MISC_ENABLE.address, 0x1n);
    this.readOnly.add(Msr.IA32_MTRRCAP.address);
  }

  /** Sets a value the way firmware or the VMX capability model does, bypassing write rules. */
  define(address: number, value: bigint, readOnly = false): void {
    const v = value >= 0n && value <= M64 ? value : value & M64;
    if (readOnly) this.readOnly.add(address);
    if (!this.setField(address, v)) this.values.set(address, v);
  }

  /** Stores one of the MSRs kept in fields; false for the others. */
  private setField(address: number, v: bigint): boolean {
    switch (address) {
      case Msr.IA32_SYSENTER_CS.address: this.sysenterCs = v; break;
      case Msr.IA32_SYSENTER_ESP.address: this.sysenterEsp = v; break;
      case Msr.IA32_SYSENTER_EIP.address: this.sysenterEip = v; break;
      case Msr.IA32_PAT.address: this.pat = v; break;
      default: return false;
    }
    this.vmxMsrWrites++;
    return true;
  }

  /**
   * VM entry and exit load the SYSENTER MSRs (and IA32_PAT when `pat` is given) from VMCS fields
   * (SDM Vol. 3C, 27.3.2.1, 28.5.1): 64-bit field values, so without define's range checks.
   */
  loadForVmx(cs: bigint, esp: bigint, eip: bigint, pat: bigint | undefined): void {
    this.sysenterCs = cs;
    this.sysenterEsp = esp;
    this.sysenterEip = eip;
    if (pat !== undefined) this.pat = pat;
    this.vmxMsrWrites++;
  }

  get sysenterCsValue(): bigint { return this.sysenterCs; }
  get sysenterEspValue(): bigint { return this.sysenterEsp; }
  get sysenterEipValue(): bigint { return this.sysenterEip; }
  get patValue(): bigint { return this.pat; }

  rdmsr(address: number): bigint {
    const c = this.cpu;
    switch (address) {
      case Msr.IA32_EFER.address: return BigInt(c.efer);
      case Msr.IA32_FS_BASE.address: return c.segmentBase(Seg.FS);
      case Msr.IA32_GS_BASE.address: return c.segmentBase(Seg.GS);
      case Msr.IA32_TIME_STAMP_COUNTER.address: return c.tsc();
      case Msr.IA32_SYSENTER_CS.address: return this.sysenterCs;
      case Msr.IA32_SYSENTER_ESP.address: return this.sysenterEsp;
      case Msr.IA32_SYSENTER_EIP.address: return this.sysenterEip;
      case Msr.IA32_PAT.address: return this.pat;
      case Msr.IA32_STAR.address: case Msr.IA32_LSTAR.address: case Msr.IA32_CSTAR.address: case Msr.IA32_FMASK.address:
      case Msr.IA32_KERNEL_GSBASE.address: case Msr.IA32_TSC_AUX.address:
        return this.values.get(address) ?? 0n;
    }
    const v = this.values.get(address);
    if (v === undefined) throw new MsrAccessError(address, 'read', 'not implemented by this processor');
    return v;
  }

  wrmsr(address: number, value: bigint): void {
    const hook = this.onWrite;
    if (hook === undefined) { this.store(address, value); return; }
    const old = this.rdmsr(address);
    this.store(address, value);
    hook(address, old, this.rdmsr(address));
  }

  private store(address: number, value: bigint): void {
    const c = this.cpu;
    const v = value & M64;
    const reject = (why: string) => { throw new MsrAccessError(address, 'write', why); };
    switch (address) {
      case Msr.IA32_EFER.address: {
        if ((v & ~(EFER_WRITABLE | 0x400n)) !== 0n) reject('reserved EFER bit set');
        // LME may not change while paging is on (SDM Vol. 3A, 10.8.5)
        if ((c.cr0 & 0x80000000) !== 0 && ((v ^ BigInt(c.efer)) & 0x100n) !== 0n) reject('EFER.LME changed with paging enabled');
        c.efer = (Number(v & EFER_WRITABLE) | (c.efer & 0x400)) >>> 0;
        c.flushTlb();
        return;
      }
      case Msr.IA32_FS_BASE.address: case Msr.IA32_GS_BASE.address: case Msr.IA32_KERNEL_GSBASE.address:
      case Msr.IA32_LSTAR.address: case Msr.IA32_CSTAR.address: case Msr.IA32_SYSENTER_ESP.address: case Msr.IA32_SYSENTER_EIP.address:
        if (!canonical(v)) reject('non-canonical address');
        if (address === Msr.IA32_FS_BASE.address) c.setSegmentBase(Seg.FS, v);
        else if (address === Msr.IA32_GS_BASE.address) c.setSegmentBase(Seg.GS, v);
        else if (!this.setField(address, v)) this.values.set(address, v);
        return;
      case Msr.IA32_TIME_STAMP_COUNTER.address:
        c.tscOffset = v - c.tsc() + c.tscOffset;
        return;
      case Msr.IA32_SYSENTER_CS.address: this.sysenterCs = v; this.vmxMsrWrites++; return;
      case Msr.IA32_FMASK.address: case Msr.IA32_STAR.address:
        this.values.set(address, address === Msr.IA32_FMASK.address ? v & 0xffffffffn : v);
        return;
      case Msr.IA32_TSC_AUX.address:
        if (v >> 32n !== 0n) reject('reserved bits set');
        this.values.set(address, v);
        return;
      case Msr.IA32_FEATURE_CONTROL.address:
        if ((this.values.get(address) ?? 0n) & 1n) reject('IA32_FEATURE_CONTROL is locked');
        this.values.set(address, v);
        return;
      case Msr.IA32_PAT.address:
        for (let k = 0n; k < 64n; k += 8n) {
          const t = (v >> k) & 0xffn;
          if (t === 2n || t === 3n || t > 7n) reject('invalid PAT memory type');
        }
        this.pat = v;
        this.vmxMsrWrites++;
        return;
    }
    if (!this.values.has(address) && msrByAddress(address) === undefined) reject('not implemented by this processor');
    if (this.readOnly.has(address)) reject('read-only');
    if (!this.values.has(address)) reject('not implemented by this processor');
    this.values.set(address, v);
  }
}
