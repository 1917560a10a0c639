// VmxVcpu: x86_vcpu's virtual CPU over the emulated VMX processor. It owns a VMCS, I/O and
// MSR bitmaps and a host "stack" page in host memory, starts the guest as x86_vcpu does (real
// mode at 0000:entry with unrestricted guest and EPT) or in protected/long mode, runs it, handles
// the exits x86_vcpu handles itself (CPUID, CR access, XSETBV, interrupt window, preemption
// timer) and returns the others. Where x86_vcpu is wrong (see x86_vcpu-lessons.md) this is not:
// RIP advances by the exit instruction length, XSETBV accepts valid values and injects #GP
// for others, CR4 reads show the shadow (no VMXE), CPUID leaf 1 hides VMX without touching EAX,
// the I/O bitmap covers all 65536 ports, vectors 22-31 are never injected.

import type { Cpu } from '../hardware/cpu';
import { cpuidLookup } from '../hardware/cpuid';
import { cpuidKey, CpuidOverrides, editRegister } from '../hardware/cpuid-overrides';
import type { VmxUnit } from '../hardware/vmx/vmx-unit';
import { GeneralRegisters } from '../regs';
import { Msr } from '../msr';
import { controlMask, ENTRY_CONTROLS, EXIT_CONTROLS, PIN_BASED_CONTROLS, PRIMARY_PROCESSOR_CONTROLS, SECONDARY_PROCESSOR_CONTROLS } from './controls';
import { vectorHasErrorCode, VmxExitReason as R } from './definitions';
import { Vmcs } from './vmcs';
import { EXIT_RECORD_WORDS, ExitRecord, VmxExitInfo } from './exit-record';
import { invvpid, vmclear, vmlaunch, vmptrld, vmresume, vmxon } from './wrappers';
import { InvvpidType } from './instructions';

export type { VmxExitInfo } from './exit-record';

/** Host physical pages for the vCPU's structures (4 KiB, zeroed). */
export interface HostFrames {
  allocFrame(): number;
}

export type GuestMode = 'real' | 'protected' | 'long';

/** Exits the vCPU hands to its VMM (x86_vcpu's AxVCpuExitReason). */
export type VcpuExit =
  | { kind: 'hypercall'; nr: bigint; args: bigint[] }
  | { kind: 'io-read'; port: number; width: number; string: boolean }
  | { kind: 'io-write'; port: number; width: number; data: number; string: boolean }
  | { kind: 'msr-read'; msr: number }
  | { kind: 'msr-write'; msr: number; value: bigint }
  | { kind: 'external-interrupt'; vector: number }
  | { kind: 'nested-page-fault'; gpa: bigint; access: 'read' | 'write' | 'fetch'; linear: bigint | undefined }
  | { kind: 'halt' }
  | { kind: 'system-down'; why: string }
  | { kind: 'entry-failure'; detail: string }
  | { kind: 'exception'; vector: number; errorCode: number | undefined }
  | { kind: 'unhandled'; reason: number };

export type VcpuRun =
  | { kind: 'exit'; info: VmxExitInfo; exit: VcpuExit }
  | { kind: 'handled'; info: VmxExitInfo }
  /** The guest is still running: an instruction budget, a breakpoint, a stop request, or HLT without HLT exiting. */
  | { kind: 'paused'; why: 'budget' | 'breakpoint' | 'stop' | 'halt' | 'watchpoint' }
  /** An exit the caller asked to see before anything handles it; `handleDeferred` handles it later. */
  | { kind: 'deferred'; info: VmxExitInfo };

const PIN = (...n: string[]) => controlMask(PIN_BASED_CONTROLS, ...n);
const PROC = (...n: string[]) => controlMask(PRIMARY_PROCESSOR_CONTROLS, ...n);
const PROC2 = (...n: string[]) => controlMask(SECONDARY_PROCESSOR_CONTROLS, ...n);
const EXITC = (...n: string[]) => controlMask(EXIT_CONTROLS, ...n);
const ENTRYC = (...n: string[]) => controlMask(ENTRY_CONTROLS, ...n);
const INTERRUPT_WINDOW = PROC('interrupt-window exiting');
const IA32E_GUEST = ENTRYC('IA-32e mode guest');
const ENABLE_VPID = PROC2('enable VPID');

/** IA32_VMX_EPT_VPID_CAP: INVVPID, and its single-context type (SDM Vol. 3D, A.10). */
const INVVPID_SINGLE_CONTEXT = (1n << 32n) | (1n << 41n);
/** The next VPID to hand out (1-FFFFH; 0000H is the host's). */
let nextVpid = 1;

const CR0_PE = 1, CR0_NE = 0x20, CR0_PG = 0x80000000, CR0_RESET = 0x60000010;
const CR4_PAE = 0x20, CR4_VMXE = 0x2000;
/** CR0 bits the VMM owns: NE is fixed to 1 in VMX operation, the guest sees its own choice. */
const CR0_OWNED = CR0_NE;
/** CR4 bits the VMM owns: VMXE, which the guest must not see (x86_vcpu-lessons.md). */
const CR4_OWNED = CR4_VMXE;

/** Exits handleExit answers itself rather than returning to the VMM. */
const BUILTIN_EXITS = new Set([R.CPUID.number, R.CR_ACCESS.number, R.XSETBV.number, R.INTERRUPT_WINDOW.number, R.PREEMPTION_TIMER.number]);

/** Fields every handled exit touches, looked up once. */
const GUEST_RIP = Vmcs.field('GUEST_RIP'), GUEST_INTERRUPTIBILITY = Vmcs.field('GUEST_INTERRUPTIBILITY_INFO');
const RIP_AND_INTERRUPTIBILITY = Vmcs.fieldList(['GUEST_RIP', 'GUEST_INTERRUPTIBILITY_INFO']);

/** The 128-byte register image the save/restore macros leave at HOST_RSP - 128 (seed: GeneralRegisters). */
const IMAGE_BYTES = 128;

export class VmxVcpu {
  readonly vmcs: Vmcs;
  /** Guest general registers: the image at HOST_RSP - 128 in host memory, as the exit path leaves it. */
  readonly regsImage: GeneralRegisters;
  private readonly vmcsRegion: number;
  private readonly ioBitmapA: number;
  private readonly ioBitmapB: number;
  private readonly msrBitmap: number;
  /** Host "stack" page: the register image sits right below HOST_RSP. */
  private readonly hostStackTop: number;
  private launched = false;
  private inGuest = false;
  private readonly pendingEvents: Array<{ vector: number; errorCode: number | undefined }> = [];
  private guestXcr0 = 1n;
  private hostXcr0 = 1n;
  private readonly cpu: Cpu;
  /** The register image's words as the processor's register file holds them (int32), for one block copy each way. */
  private readonly imageWords: Int32Array;
  /** Scratch words for VMREAD on the exit path. */
  private readonly scratch = new Int32Array(EXIT_RECORD_WORDS);
  /**
   * This vCPU's VPID: with "enable VPID" the processor keeps the guest's cached translations
   * across its exits instead of invalidating them at every entry and exit (SDM Vol. 3C, 29.4.3.1).
   */
  readonly vpid: number;
  /** Whether setup enabled VPID (the processor may lack it). */
  private usesVpid = false;
  /** What the launch configuration changes in the guest's CPUID, applied last to each answer. */
  cpuidOverrides: CpuidOverrides | undefined;

  /** VMXON on the processor if it is not in VMX operation yet (x86_vcpu's per-CPU enable). */
  static enableVmx(unit: VmxUnit, frames: HostFrames): void {
    if (unit.inVmxOperation) return;
    const c = unit.cpu;
    const fc = c.msrs.rdmsr(Msr.IA32_FEATURE_CONTROL.address);
    if ((fc & 1n) === 0n) c.msrs.wrmsr(Msr.IA32_FEATURE_CONTROL.address, fc | 1n | 4n);
    c.writeCr(4, BigInt(c.cr4 | CR4_VMXE));
    const region = frames.allocFrame();
    c.mem.write(region, 4, Number(c.msrs.rdmsr(Msr.IA32_VMX_BASIC.address) & 0x7fffffffn));
    vmxon(unit, region);
  }

  constructor(private readonly unit: VmxUnit, frames: HostFrames) {
    this.cpu = unit.cpu;
    this.vmcs = new Vmcs(unit);
    this.vpid = nextVpid;
    nextVpid = nextVpid === 0xffff ? 1 : nextVpid + 1;
    this.vmcsRegion = frames.allocFrame();
    this.cpu.mem.write(this.vmcsRegion, 4, Number(this.cpu.msrs.rdmsr(Msr.IA32_VMX_BASIC.address) & 0x7fffffffn));
    this.ioBitmapA = frames.allocFrame();
    this.ioBitmapB = frames.allocFrame();
    this.msrBitmap = frames.allocFrame();
    const stack = frames.allocFrame();
    this.hostStackTop = stack + 4096;
    const view = this.cpu.mem.chunkView(this.hostStackTop - IMAGE_BYTES);
    const at = view.byteOffset + ((this.hostStackTop - IMAGE_BYTES) & 0xffff);
    this.regsImage = new GeneralRegisters(new Uint32Array(view.buffer, at, 32));
    this.imageWords = new Int32Array(view.buffer, at, 32);
  }

  /** Makes this vCPU's VMCS current on the processor (VMPTRLD). */
  bindToCurrentProcessor(): void {
    vmptrld(this.unit, this.vmcsRegion);
  }

  /** VMCLEAR: writes the VMCS back to its region; it must be launched again after binding. */
  unbindFromCurrentProcessor(): void {
    vmclear(this.unit, this.vmcsRegion);
    this.launched = false;
  }

  /**
   * Fills the VMCS: controls, host state, guest state for `mode` starting at `entry`, EPT at
   * `eptRoot` (an EPTP with WB and a 4-level walk is built from it).
   */
  setup(entry: bigint, eptRoot: number, mode: GuestMode = 'real', options: { longModePml4?: number; gdt?: number; stack?: bigint } = {}): void {
    vmclear(this.unit, this.vmcsRegion);
    vmptrld(this.unit, this.vmcsRegion);
    this.launched = false;
    const v = this.vmcs;
    v.setControls('PIN_BASED_VM_EXEC_CONTROL', PIN('external-interrupt exiting', 'NMI exiting', 'virtual NMIs'));
    v.setControls('CPU_BASED_VM_EXEC_CONTROL', PROC('HLT exiting', 'use I/O bitmaps', 'use MSR bitmaps', 'activate secondary controls'),
      PROC('CR3-load exiting', 'CR3-store exiting'));
    // VPID where the processor offers it with single-context INVVPID (IA32_VMX_PROCBASED_CTLS2
    // allowed-1, IA32_VMX_EPT_VPID_CAP bits 32 and 41); a guest runs without it otherwise
    const msrs = this.cpu.msrs;
    const vpid = (Number(msrs.rdmsr(Msr.IA32_VMX_PROCBASED_CTLS2.address) >> 32n) & ENABLE_VPID) !== 0 &&
      (msrs.rdmsr(Msr.IA32_VMX_EPT_VPID_CAP.address) & INVVPID_SINGLE_CONTEXT) === INVVPID_SINGLE_CONTEXT;
    v.setControls('SECONDARY_VM_EXEC_CONTROL', PROC2('enable EPT', 'unrestricted guest', 'enable RDTSCP') | (vpid ? ENABLE_VPID : 0));
    this.usesVpid = vpid;
    if (vpid) {
      v.write('VIRTUAL_PROCESSOR_ID', this.vpid);
      // a new guest: nothing cached for this VPID may survive from an earlier one
      invvpid(this.unit, InvvpidType.SingleContext, this.vpid);
    }
    v.setControls('VM_EXIT_CONTROLS', EXITC('host address-space size', 'acknowledge interrupt on exit', 'save IA32_EFER', 'load IA32_EFER', 'save IA32_PAT', 'load IA32_PAT'));
    v.setControls('VM_ENTRY_CONTROLS', ENTRYC('load IA32_EFER', 'load IA32_PAT') | (mode === 'long' ? IA32E_GUEST : 0));
    v.write('IO_BITMAP_A', this.ioBitmapA);
    v.write('IO_BITMAP_B', this.ioBitmapB);
    v.write('MSR_BITMAP', this.msrBitmap);
    v.write('EPT_POINTER', BigInt(eptRoot) | 6n | (3n << 3n));
    v.write('VMCS_LINK_POINTER', 0xffffffffffffffffn);
    v.write('EXCEPTION_BITMAP', 0);
    v.write('CR0_GUEST_HOST_MASK', CR0_OWNED);
    v.write('CR4_GUEST_HOST_MASK', CR4_OWNED);
    this.setupHost();
    this.setupGuest(entry, mode, options);
  }

  /** Host state: the processor's current (root) state, continuing nowhere: the host is this TypeScript code. */
  private setupHost(): void {
    const c = this.cpu, v = this.vmcs;
    v.write('HOST_CR0', c.cr0);
    v.write('HOST_CR3', c.cr3);
    v.write('HOST_CR4', c.cr4);
    v.write('HOST_CS_SELECTOR', c.segSel[1] & 0xfff8);
    v.write('HOST_SS_SELECTOR', c.segSel[2] & 0xfff8);
    v.write('HOST_DS_SELECTOR', c.segSel[3] & 0xfff8);
    v.write('HOST_ES_SELECTOR', c.segSel[0] & 0xfff8);
    v.write('HOST_TR_SELECTOR', (c.segSel[7] & 0xfff8) || 0x28);
    v.write('HOST_GDTR_BASE', c.gdtrBase);
    v.write('HOST_IDTR_BASE', c.idtrBase);
    v.write('HOST_IA32_EFER', c.efer);
    v.write('HOST_IA32_PAT', c.msrs.rdmsr(Msr.IA32_PAT.address));
    v.write('HOST_RSP', this.hostStackTop);
    v.write('HOST_RIP', 0);
  }

  private setupGuest(entry: bigint, mode: GuestMode, options: { longModePml4?: number; gdt?: number; stack?: bigint }): void {
    const v = this.vmcs;
    const seg = (name: string, sel: number, base: bigint, limit: number, ar: number) => {
      v.write(`GUEST_${name}_SELECTOR`, sel);
      v.write(`GUEST_${name}_BASE`, base);
      v.write(`GUEST_${name}_LIMIT`, limit);
      v.write(`GUEST_${name}_AR_BYTES`, ar);
    };
    const data = ['ES', 'SS', 'DS', 'FS', 'GS'];
    if (mode === 'real') {
      // x86_vcpu starts the guest at 0000:entry in real-address mode (unrestricted guest)
      seg('CS', 0, 0n, 0xffff, 0x9b);
      for (const s of data) seg(s, 0, 0n, 0xffff, 0x93);
      // the power-on CR0 (CD, NW, ET; SDM Vol. 3A, 10.1.1), with NE held at 1 underneath
      v.write('GUEST_CR0', CR0_RESET | CR0_NE);
      v.write('CR0_READ_SHADOW', CR0_RESET);
      v.write('GUEST_CR4', CR4_VMXE);
      v.write('GUEST_IA32_EFER', 0);
      v.write('GUEST_RIP', entry);
    } else if (mode === 'protected') {
      // selector 0x18: the 32-bit code descriptor of guest-boot-tables.ts
      seg('CS', 0x18, 0n, 0xffffffff, 0xc09b);
      for (const s of data) seg(s, 0x10, 0n, 0xffffffff, 0xc093);
      v.write('GUEST_CR0', CR0_PE | CR0_NE | 0x10);
      v.write('CR0_READ_SHADOW', CR0_PE | 0x10);
      v.write('GUEST_CR4', CR4_VMXE);
      v.write('GUEST_IA32_EFER', 0);
      v.write('GUEST_RIP', entry);
    } else {
      seg('CS', 0x08, 0n, 0xffffffff, 0xa09b);
      for (const s of data) seg(s, 0x10, 0n, 0xffffffff, 0xc093);
      v.write('GUEST_CR0', (CR0_PE | CR0_NE | CR0_PG | 0x10 | 0x10000) >>> 0);
      v.write('CR0_READ_SHADOW', (CR0_PE | CR0_PG | 0x10 | 0x10000) >>> 0);
      v.write('GUEST_CR3', options.longModePml4 ?? 0);
      v.write('GUEST_CR4', CR4_VMXE | CR4_PAE);
      v.write('GUEST_IA32_EFER', 0x500);
      v.write('GUEST_RIP', entry);
    }
    v.write('CR4_READ_SHADOW', mode === 'long' ? CR4_PAE : 0);
    v.write('GUEST_GDTR_BASE', options.gdt ?? 0);
    v.write('GUEST_GDTR_LIMIT', options.gdt !== undefined ? 0x1f : 0xffff);
    v.write('GUEST_IDTR_BASE', 0);
    v.write('GUEST_IDTR_LIMIT', 0xffff);
    v.write('GUEST_LDTR_AR_BYTES', 0x10000);
    v.write('GUEST_TR_AR_BYTES', 0x8b);
    v.write('GUEST_TR_LIMIT', 0xffff);
    v.write('GUEST_RFLAGS', 2);
    v.write('GUEST_RSP', options.stack ?? 0n);
    v.write('GUEST_IA32_PAT', 0x0007040600070406n);
    v.write('GUEST_ACTIVITY_STATE', 0);
    v.write('GUEST_INTERRUPTIBILITY_INFO', 0);
    v.write('GUEST_DR7', 0x400);
    for (let k = 0; k < 16; k++) if (k !== 4) this.regsImage.setRegOfIndex(k, 0n);
  }

  // ---- bitmaps ----------------------------------------------------------------------

  /** Sets or clears interception of `count` ports from `base` (all 65536 ports reachable: bitmap A and B). */
  setIoInterceptOfRange(base: number, count: number, intercept: boolean): void {
    if (!Number.isInteger(base) || !Number.isInteger(count) || base < 0 || count < 0 || base + count > 0x10000) {
      throw new RangeError(`I/O port range ${base}+${count} is outside 0-FFFF`);
    }
    const mem = this.cpu.mem;
    for (let p = base; p < base + count; p++) {
      const page = p < 0x8000 ? this.ioBitmapA : this.ioBitmapB;
      const at = page + ((p & 0x7fff) >>> 3);
      const b = mem.read8(at);
      mem.write8(at, intercept ? b | (1 << (p & 7)) : b & ~(1 << (p & 7)));
    }
  }

  /** Sets or clears read and write interception of one MSR (low range 0-1FFF, high C0000000-C0001FFF). */
  setMsrIntercept(msr: number, intercept: boolean, which: 'read' | 'write' | 'both' = 'both'): void {
    let offset: number;
    if (msr >= 0 && msr <= 0x1fff) offset = 0;
    else if (msr >= 0xc0000000 && msr <= 0xc0001fff) offset = 0x400;
    else throw new RangeError(`MSR ${msr.toString(16)} is outside the ranges the MSR bitmap covers (every access to it exits)`);
    const bit = msr & 0x1fff;
    const mem = this.cpu.mem;
    for (const [kind, add] of [['read', 0], ['write', 0x800]] as const) {
      if (which !== 'both' && which !== kind) continue;
      const at = this.msrBitmap + offset + add + (bit >>> 3);
      const b = mem.read8(at);
      mem.write8(at, intercept ? b | (1 << (bit & 7)) : b & ~(1 << (bit & 7)));
    }
  }

  // ---- events -------------------------------------------------------------------------

  /** Queues an interrupt or exception for injection at a later VM entry (x86_vcpu's queue_event). */
  queueEvent(vector: number, errorCode?: number): void {
    if (!Number.isInteger(vector) || vector < 0 || vector > 255) throw new RangeError(`vector ${vector} is outside 0-255`);
    if (vector >= 22 && vector <= 31) throw new RangeError(`vector ${vector} is reserved (22-31) and cannot be injected`);
    if (vector < 32 && vectorHasErrorCode(vector) && errorCode === undefined) throw new RangeError(`vector ${vector} needs an error code`);
    this.pendingEvents.push({ vector, errorCode });
  }

  private injectPendingEvents(): void {
    const ev = this.pendingEvents[0];
    if (ev === undefined) return;
    const v = this.vmcs;
    if (ev.vector >= 32) {
      const rflags = v.read('GUEST_RFLAGS'), intr = v.read('GUEST_INTERRUPTIBILITY_INFO');
      if ((rflags & 0x200n) === 0n || (intr & 3n) !== 0n) {
        // not interruptible now: ask for an exit as soon as it is
        v.write('CPU_BASED_VM_EXEC_CONTROL', v.read('CPU_BASED_VM_EXEC_CONTROL') | BigInt(INTERRUPT_WINDOW));
        return;
      }
    }
    this.pendingEvents.shift();
    const type = ev.vector === 2 ? 2 : ev.vector < 32 ? 3 : 0;
    const deliver = type === 3 && vectorHasErrorCode(ev.vector) && (v.read('GUEST_CR0') & 1n) !== 0n;
    v.write('VM_ENTRY_INTR_INFO_FIELD', (0x80000000 | type << 8 | ev.vector | (deliver ? 0x800 : 0)) >>> 0);
    if (deliver) v.write('VM_ENTRY_EXCEPTION_ERROR_CODE', ev.errorCode ?? 0);
    if (v.read('GUEST_ACTIVITY_STATE') === 1n) v.write('GUEST_ACTIVITY_STATE', 0);
  }

  /**
   * After host code changed guest memory that may hold paging structures: INVVPID (single
   * context) for this vCPU, so that the guest's cached translations, which survive its exits
   * with VPID, do not hide the change. Without VPID every VM entry invalidates them anyway.
   */
  invalidateTranslations(): void {
    if (this.usesVpid && !this.inGuest) invvpid(this.unit, InvvpidType.SingleContext, this.vpid);
  }

  // ---- running --------------------------------------------------------------------------

  /**
   * Runs the guest for at most `budget` instructions: enters it (VMLAUNCH the first time, then
   * VMRESUME) unless it is still running from a paused call, and returns at the first VM exit
   * (handled here or not), or paused. An exit whose reason is in `defer` is returned untouched,
   * not even by the builtin handlers, so a debugger can stop before it is handled.
   */
  run(budget: number, defer?: ReadonlySet<string>): VcpuRun {
    const c = this.cpu;
    if (!this.inGuest) {
      const entered = this.enter();
      if (entered !== undefined) return entered;
    }
    const out = c.run(budget);
    if (out.kind !== 'vm-exit') {
      if (out.kind === 'budget' || out.kind === 'breakpoint' || out.kind === 'stop' || out.kind === 'halt' || out.kind === 'watchpoint') return { kind: 'paused', why: out.kind };
      throw new Error(`unexpected outcome '${out.kind}' of a guest run`);
    }
    this.leave();
    const info = this.exitInfo();
    if (defer !== undefined && defer.has(info.name)) return { kind: 'deferred', info };
    return this.handleExit(info);
  }

  /** Handles an exit `run` deferred, with the guest state as it is now (a debugger may have changed it). */
  handleDeferred(info: VmxExitInfo): VcpuRun {
    return this.handleExit(info);
  }

  /** Whether the vCPU answers exits of this reason itself (x86_vcpu's builtin handlers). */
  handlesItself(reason: number): boolean {
    return BUILTIN_EXITS.has(reason);
  }

  /** Whether the guest is running (between an entry and its exit). */
  get running(): boolean {
    return this.inGuest;
  }

  private enter(): VcpuRun | undefined {
    const c = this.cpu;
    this.injectPendingEvents();
    // restore macro: guest registers from the image, RSP from the VMCS (the image's slot 4 is a
    // gap: copied whole in one block, then the processor's RSP put back)
    const gpr = c.r, rspLo = gpr[8], rspHi = gpr[9];
    gpr.set(this.imageWords);
    gpr[8] = rspLo; gpr[9] = rspHi;
    this.hostXcr0 = c.xcr0;
    c.xcr0 = this.guestXcr0;
    const r = this.launched ? vmresume(this.unit) : vmlaunch(this.unit);
    this.launched = true;
    if (r.kind === 'entry-failed') {
      c.xcr0 = this.hostXcr0;
      const info = this.exitInfo();
      return { kind: 'exit', info, exit: { kind: 'entry-failure', detail: r.detail } };
    }
    this.inGuest = true;
    return undefined;
  }

  private leave(): void {
    const c = this.cpu;
    this.inGuest = false;
    // save macro: the 128-byte image at HOST_RSP - 128 (slot 4, RSP, is the gap: kept as it was)
    const img = this.imageWords, gapLo = img[8], gapHi = img[9];
    img.set(c.r);
    img[8] = gapLo; img[9] = gapHi;
    this.guestXcr0 = c.xcr0;
    c.xcr0 = this.hostXcr0;
  }

  exitInfo(): VmxExitInfo {
    return new ExitRecord(this.vmcs, this.scratch);
  }

  /** The guest's mode, read from the guest state (EFER.LMA, CS.L, CR0.PE), never from the host's. */
  cpuMode(): 'real' | 'protected' | 'compatibility' | 'long' {
    const v = this.vmcs;
    const lma = this.inGuest ? this.cpu.longModeActive : (v.read('GUEST_IA32_EFER') & 0x400n) !== 0n;
    const csL = this.inGuest ? (this.cpu.segAr[1] & 0x2000) !== 0 : (v.read('GUEST_CS_AR_BYTES') & 0x2000n) !== 0n;
    const pe = this.inGuest ? (this.cpu.cr0 & 1) !== 0 : (v.read('GUEST_CR0') & 1n) !== 0n;
    if (lma) return csL ? 'long' : 'compatibility';
    return pe ? 'protected' : 'real';
  }

  /** Advances guest RIP by the length of the instruction that exited (never by a constant). */
  advanceRip(length: number): void {
    const v = this.vmcs, w = this.scratch;
    v.readWordsMany(RIP_AND_INTERRUPTIBILITY, w);
    const lo = (w[0] >>> 0) + length;
    v.writeWords(GUEST_RIP, lo | 0, lo > 0xffffffff ? w[1] + 1 : w[1]);
    // the instruction is complete: blocking by STI or MOV SS that it ran under ends with it (Table 25-3)
    const intr = w[2] >>> 0;
    if ((intr & 3) !== 0) v.writeNumber(GUEST_INTERRUPTIBILITY, (intr & ~3) >>> 0);
  }

  /** Completes an I/O-read or MSR-read exit: the value lands in AL/AX/EAX or EDX:EAX, RIP advances. */
  completeIoRead(info: VmxExitInfo, width: number, value: number): void {
    const cur = this.regsImage.getRegOfIndex(0);
    const mask = width === 1 ? 0xffn : width === 2 ? 0xffffn : 0xffffffffn;
    // a 32-bit result zero-extends into RAX; 8/16-bit ones keep the rest (SDM: IN)
    const next = width === 4 ? BigInt(value >>> 0) : (cur & ~mask) | (BigInt(value >>> 0) & mask);
    this.regsImage.setRegOfIndex(0, next);
    this.advanceRip(info.instructionLength);
  }

  completeMsrRead(info: VmxExitInfo, value: bigint): void {
    this.regsImage.setRegOfIndex(0, value & 0xffffffffn);
    this.regsImage.setRegOfIndex(2, (value >> 32n) & 0xffffffffn);
    this.advanceRip(info.instructionLength);
  }

  // ---- exits ------------------------------------------------------------------------------

  private handleExit(info: VmxExitInfo): VcpuRun {
    const regs = this.regsImage;
    switch (info.reason) {
      case R.CPUID.number: this.handleCpuid(info); return handled(info);
      case R.CR_ACCESS.number: return this.handleCrAccess(info) ? handled(info) : returned(info, { kind: 'unhandled', reason: info.reason });
      case R.XSETBV.number: this.handleXsetbv(info); return handled(info);
      case R.INTERRUPT_WINDOW.number: {
        const v = this.vmcs;
        v.write('CPU_BASED_VM_EXEC_CONTROL', v.read('CPU_BASED_VM_EXEC_CONTROL') & ~BigInt(INTERRUPT_WINDOW));
        return handled(info);
      }
      case R.PREEMPTION_TIMER.number: return handled(info);
      case R.VMCALL.number:
        return returned(info, { kind: 'hypercall', nr: regs.getRegOfIndex(0), args: [7, 6, 2, 1, 8, 9].map((k) => regs.getRegOfIndex(k)) });
      case R.IO_INSTRUCTION.number: {
        const q = info.qualificationLow;
        const width = (q & 7) + 1, input = (q & 8) !== 0, string = (q & 0x10) !== 0, port = q >>> 16;
        if (input) return returned(info, { kind: 'io-read', port, width, string });
        const mask = width === 1 ? 0xff : width === 2 ? 0xffff : 0xffffffff;
        return returned(info, { kind: 'io-write', port, width, string, data: regs.words[0] & mask });
      }
      case R.MSR_READ.number: return returned(info, { kind: 'msr-read', msr: Number(regs.getRegOfIndex(1) & 0xffffffffn) });
      case R.MSR_WRITE.number:
        return returned(info, { kind: 'msr-write', msr: Number(regs.getRegOfIndex(1) & 0xffffffffn), value: ((regs.getRegOfIndex(2) & 0xffffffffn) << 32n) | (regs.getRegOfIndex(0) & 0xffffffffn) });
      case R.EXTERNAL_INTERRUPT.number: return returned(info, { kind: 'external-interrupt', vector: info.interruptionInfo & 0xff });
      case R.EPT_VIOLATION.number: {
        const q = Number(info.qualification & 0xfffn);
        return returned(info, {
          kind: 'nested-page-fault', gpa: info.guestPhysical,
          access: (q & 2) !== 0 ? 'write' : (q & 4) !== 0 ? 'fetch' : 'read',
          linear: (q & 0x80) !== 0 ? info.guestLinear : undefined,
        });
      }
      case R.EPT_MISCONFIG.number: return returned(info, { kind: 'system-down', why: `EPT misconfiguration at guest-physical ${info.guestPhysical.toString(16)}` });
      case R.HLT.number: return returned(info, { kind: 'halt' });
      case R.TRIPLE_FAULT.number: return returned(info, { kind: 'system-down', why: 'triple fault' });
      case R.EXCEPTION_NMI.number: {
        const vector = info.interruptionInfo & 0xff;
        const code = (info.interruptionInfo & 0x800) !== 0 ? Number(this.vmcs.read('VM_EXIT_INTR_ERROR_CODE')) : undefined;
        return returned(info, { kind: 'exception', vector, errorCode: code });
      }
      default: return returned(info, { kind: 'unhandled', reason: info.reason });
    }
  }

  /** CPUID: the processor's model, with VMX hidden and the hypervisor bit set in leaf 1 (EAX untouched). */
  private handleCpuid(info: VmxExitInfo): void {
    // on the register image's words: EAX/ECX in, EAX/EBX/ECX/EDX out, upper halves cleared (SDM: CPUID)
    const w = this.regsImage.words;
    const leaf = w[0], sub = w[2];
    const out = leaf === 0x40000000 ? HYPERVISOR_LEAF : cpuidLookup(this.cpu.cpuidTable, leaf, sub);
    const c0 = out[2];
    w[0] = out[0]; w[1] = 0;
    w[6] = out[1]; w[7] = 0;
    w[2] = leaf === 1 ? (c0 & ~(1 << 5)) | (1 << 31) : c0; w[3] = 0;
    w[4] = out[3]; w[5] = 0;
    const o = this.cpuidOverrides?.get(cpuidKey(leaf, sub));
    if (o !== undefined) {
      // the user's values win over the vCPU's own edits (the guest sees exactly what was asked)
      w[0] = editRegister(w[0], o.regs[0]); w[6] = editRegister(w[6], o.regs[1]);
      w[2] = editRegister(w[2], o.regs[2]); w[4] = editRegister(w[4], o.regs[3]);
    }
    this.advanceRip(info.instructionLength);
  }

  /** MOV to CR0/CR3/CR4 (and CLTS, LMSW) that touched a bit the VMM owns (Table 28-3). */
  private handleCrAccess(info: VmxExitInfo): boolean {
    const q = Number(info.qualification & 0xffffffffn);
    const cr = q & 15, type = (q >>> 4) & 3, gpr = (q >>> 8) & 15;
    const v = this.vmcs;
    const value = type === 3 ? BigInt(q >>> 16) : gpr === 4 ? v.read('GUEST_RSP') : this.regsImage.getRegOfIndex(gpr);
    if (type === 0 || type === 3) {
      if (cr === 0) {
        const old = v.read('CR0_READ_SHADOW');
        const next = type === 3 ? (old & ~0xfn) | (value & 0xfn) | (old & 1n) : value & 0xffffffffn;
        this.writeGuestCr0(next);
      } else if (cr === 4) {
        // a bit this processor does not implement (CR4_FIXED1) or above bit 31 is reserved: #GP(0), as MOV to CR4 would raise
        if ((value & ~BigInt(this.cpu.cr4Fixed1 >>> 0)) !== 0n) { this.queueEvent(13, 0); return true; }
        v.write('CR4_READ_SHADOW', value & BigInt(CR4_OWNED));
        v.write('GUEST_CR4', (value | BigInt(CR4_VMXE)) & 0xffffffffn);
      } else if (cr === 3) {
        v.write('GUEST_CR3', value);
      } else {
        return false;
      }
      this.advanceRip(info.instructionLength);
      return true;
    }
    if (type === 2) {
      // CLTS with CR0.TS owned: only the shadow holds the guest's TS
      v.write('CR0_READ_SHADOW', v.read('CR0_READ_SHADOW') & ~8n);
      this.advanceRip(info.instructionLength);
      return true;
    }
    return false;
  }

  /** The guest's new CR0 as it asked; NE stays 1 underneath, and paging on/off updates IA-32e mode. */
  private writeGuestCr0(value: bigint): void {
    const v = this.vmcs;
    const old = v.read('GUEST_CR0');
    v.write('CR0_READ_SHADOW', value & BigInt(CR0_OWNED));
    const real = (value | BigInt(CR0_NE)) & 0xffffffffn;
    const efer = v.read('GUEST_IA32_EFER');
    const pgOn = (real & BigInt(CR0_PG)) !== 0n && (old & BigInt(CR0_PG)) === 0n;
    const pgOff = (real & BigInt(CR0_PG)) === 0n && (old & BigInt(CR0_PG)) !== 0n;
    if (pgOn && (efer & 0x100n) !== 0n) {
      v.write('GUEST_IA32_EFER', efer | 0x400n);
      v.write('VM_ENTRY_CONTROLS', v.read('VM_ENTRY_CONTROLS') | BigInt(IA32E_GUEST));
    } else if (pgOff) {
      v.write('GUEST_IA32_EFER', efer & ~0x400n);
      v.write('VM_ENTRY_CONTROLS', v.read('VM_ENTRY_CONTROLS') & ~BigInt(IA32E_GUEST));
    }
    v.write('GUEST_CR0', real);
  }

  /** XSETBV: XCR0 with x87 set and only the states CPUID reports; otherwise #GP(0) to the guest. */
  private handleXsetbv(info: VmxExitInfo): void {
    const regs = this.regsImage;
    const index = regs.getRegOfIndex(1) & 0xffffffffn;
    const value = ((regs.getRegOfIndex(2) & 0xffffffffn) << 32n) | (regs.getRegOfIndex(0) & 0xffffffffn);
    const [supported] = cpuidLookup(this.cpu.cpuidTable, 0xd, 0);
    if (index !== 0n || (value & 1n) === 0n || (value & ~BigInt(supported >>> 0)) !== 0n) {
      this.queueEvent(13, 0);
      return;
    }
    this.guestXcr0 = value;
    this.advanceRip(info.instructionLength);
  }
}

/** An exit the vCPU answered itself. */
function handled(info: VmxExitInfo): VcpuRun {
  return { kind: 'handled', info };
}

/** An exit handed to the VMM. */
function returned(info: VmxExitInfo, exit: VcpuExit): VcpuRun {
  return { kind: 'exit', info, exit };
}

/** CPUID 40000000H: the hypervisor's vendor leaf ("vmx-debug   " in EBX, ECX, EDX). */
function hypervisorLeaf(): readonly [number, number, number, number] {
  const id = 'vmx-debug   ';
  const word = (k: number) => id.charCodeAt(k) | id.charCodeAt(k + 1) << 8 | id.charCodeAt(k + 2) << 16 | id.charCodeAt(k + 3) << 24;
  return [0x40000000, word(0) >>> 0, word(4) >>> 0, word(8) >>> 0];
}
const HYPERVISOR_LEAF = hypervisorLeaf();
