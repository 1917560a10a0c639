// VMX operation of the emulated processor (SDM Vol. 3C, chapters 24 and 31): VMXON/VMXOFF,
// the current-VMCS pointer, VMCLEAR/VMPTRLD/VMPTRST, VMREAD/VMWRITE, VMLAUNCH/VMRESUME,
// INVEPT/INVVPID and VMCALL, each with the #UD/#GP conditions and VMsucceed / VMfailInvalid /
// VMfailValid(n) outcomes of its instruction reference page.
//
// One implementation, reached two ways: `execute` runs the instruction for x86 code on this
// CPU (a bare-metal hypervisor), and the methods vmxon(), vmread() … are what src/vmx's
// wrappers call, the way x86_vcpu's inline assembly reaches silicon. Either way the status
// is in RFLAGS and the error number in the VM-instruction error field.

import type { Cpu, RunOutcome } from '../cpu';
import { CpuFault, Intercept, Vector } from '../cpu';
import { Ar, Flag, Seg } from '../cpu-state';
import { setStatusFlags } from '../flags';
import { Insn } from '../insn';
import { effectiveAddress, readReg, readRm, writeRm } from '../operands';
import { Msr } from '../../msr';
import { VmInstructionErrorNumber as E } from '../../vmx/definitions';
import { capabilityMsrValues, defaultVmxCapabilities, meetsFixedBits, VMCS_REVISION_ID, VmxCapabilities } from './capabilities';
import { clearRegionLaunchState, F, LAUNCH_STATE_CLEAR, LAUNCH_STATE_LAUNCHED, slotCodeOfEncoding, slotIsReadOnly, VmcsData } from './vmcs';
import { enterGuest, EntryResult } from './vm-entry';
import { NonRoot } from './non-root';
import { EptStage } from './ept-stage';
import { EptWalker } from '../ept';

const NO_POINTER = -1;
/** MAXPHYADDR of this processor (CPUID 80000008H). */
const MAX_PHYS_BITS = 46;

export class VmxUnit {
  /** In VMX operation (after VMXON, until VMXOFF). */
  inVmxOperation = false;
  /** In VMX non-root operation: a guest is running. */
  nonRoot = false;
  vmxonPointer = NO_POINTER;
  /** Physical address of the current VMCS, or -1 (SDM: FFFFFFFF_FFFFFFFFH). */
  currentVmcs = NO_POINTER;
  readonly vmcs = new VmcsData();
  /** A launched VMCS stays launched across VMXOFF only in its region (SDM 31.3, error 6 is for dual-monitor). */
  readonly caps: VmxCapabilities;
  /**
   * When the host is not x86 code on this CPU (the VMM written in TypeScript), a VM exit ends
   * `cpu.run` with a `vm-exit` outcome instead of continuing at HOST_RIP.
   */
  hostIsExternal = true;
  readonly nonRootOps: NonRoot;
  /** The EPT walker and its translation cache, used as the CPU's second stage in non-root operation. */
  readonly eptStage: EptStage;
  /** controlVersion (and mode) of the current VMCS's control and host fields that last passed 27.2; -1: none. */
  checkedControls = -1;
  /** controlVersion and guestVersion * 2 + RFLAGS.VM of the current VMCS when its guest state last passed 27.3.1; -1: none. */
  checkedGuestControls = -1;
  checkedGuestState = -1;
  /** The SYSENTER MSRs' write count and the VMCS's guestVersion right after VM entry loaded guest state. */
  private msrWritesAtEntry = -1;
  private guestVersionAtEntry = -1;
  /** Why the last VM entry failed, in the words of the rule (for the debugger and the CLI). */
  lastEntryProblem = '';
  /** Set by a VMX abort (28.7): the processor is in the shutdown state. */
  aborted = 0;

  /**
   * Told of every successful VMWRITE (by x86 code or by src/vmx's wrappers) with the field's
   * slot and its whole value before and after (a debugger's VMCS data breakpoints). The
   * processor's own stores at VM exit do not come here. Unset, VMWRITE costs nothing more.
   */
  onFieldWrite: ((slot: number, old: bigint, value: bigint) => void) | undefined;

  /** IA32_VMX_MISC bit 29: VMWRITE may write the VM-exit information fields. */
  private readonly writableExitInfo: boolean;

  constructor(readonly cpu: Cpu, caps: VmxCapabilities = defaultVmxCapabilities()) {
    this.caps = caps;
    this.writableExitInfo = (caps.misc & (1n << 29n)) !== 0n;
    for (const [address, value] of capabilityMsrValues(caps)) cpu.msrs.define(address, value, true);
    cpu.msrs.define(Msr.IA32_FEATURE_CONTROL.address, 0n);
    cpu.vmx = this;
    this.nonRootOps = new NonRoot(this);
    this.eptStage = new EptStage(this, new EptWalker(cpu.mem));
  }

  // ---- status ---------------------------------------------------------------------

  // the outcomes touch only the six status flags (CF, PF, AF, ZF, SF, OF), the rest of RFLAGS stays

  private succeed(): void {
    setStatusFlags(this.cpu, 0);
  }

  private failInvalid(): void {
    setStatusFlags(this.cpu, Flag.CF);
  }

  /** VMfail(n): VMfailValid with the error number when there is a current VMCS, else VMfailInvalid. */
  private fail(error: E): void {
    if (this.currentVmcs === NO_POINTER) { this.failInvalid(); return; }
    setStatusFlags(this.cpu, Flag.ZF);
    this.vmcs.set(F.VM_INSTRUCTION_ERROR, error);
  }

  /** The #UD and #GP conditions every VMX instruction but VMXON shares (checked before non-root exits). */
  private checkOperation(name: string): void {
    if (!this.inVmxOperation) throw new CpuFault(Vector.UD, -1, `${name} outside VMX operation`);
    this.checkMode(name);
  }

  private checkMode(name: string): void {
    const c = this.cpu;
    if ((c.cr0 & 1) === 0 || (c.flagsOther & Flag.VM) !== 0) throw new CpuFault(Vector.UD, -1, `${name} in real-address or virtual-8086 mode`);
    if (c.longModeActive && (c.segAr[Seg.CS] & Ar.L) === 0) throw new CpuFault(Vector.UD, -1, `${name} in compatibility mode`);
  }

  private requireCpl0(name: string): void {
    if (this.cpu.cpl !== 0) throw new CpuFault(Vector.GP, 0, `${name} at CPL ${this.cpu.cpl}`);
  }

  private validPhysical(pa: number): boolean {
    return pa % 4096 === 0 && pa >= 0 && pa < 2 ** MAX_PHYS_BITS;
  }

  // ---- VMXON / VMXOFF ---------------------------------------------------------------

  vmxon(pa: number): void {
    const c = this.cpu;
    if ((c.cr4 & 0x2000) === 0) throw new CpuFault(Vector.UD, -1, 'VMXON with CR4.VMXE clear');
    this.checkMode('VMXON');
    if (this.inVmxOperation) {
      this.requireCpl0('VMXON');
      this.fail(E.VMXON_IN_VMX_ROOT);
      return;
    }
    this.requireCpl0('VMXON');
    const caps = this.caps;
    if (!meetsFixedBits(c.cr0, caps.cr0Fixed0, caps.cr0Fixed1)) throw new CpuFault(Vector.GP, 0, 'VMXON: CR0 does not meet IA32_VMX_CR0_FIXED0/1');
    if (!meetsFixedBits(c.cr4, caps.cr4Fixed0, caps.cr4Fixed1)) throw new CpuFault(Vector.GP, 0, 'VMXON: CR4 does not meet IA32_VMX_CR4_FIXED0/1');
    const fc = c.msrs.rdmsr(Msr.IA32_FEATURE_CONTROL.address);
    if ((fc & 1n) === 0n) throw new CpuFault(Vector.GP, 0, 'VMXON: IA32_FEATURE_CONTROL is not locked');
    if ((fc & 4n) === 0n) throw new CpuFault(Vector.GP, 0, 'VMXON: VMX outside SMX is not enabled in IA32_FEATURE_CONTROL');
    if (!this.validPhysical(pa) || (c.mem.read(pa, 4) >>> 0) !== VMCS_REVISION_ID) {
      this.failInvalid();
      return;
    }
    this.inVmxOperation = true;
    this.vmxonPointer = pa;
    this.currentVmcs = NO_POINTER;
    // in VMX operation CR0/CR4 bits are fixed (SDM 24.8)
    c.cr0Fixed0 = caps.cr0Fixed0; c.cr0Fixed1 = caps.cr0Fixed1;
    c.cr4Fixed0 = caps.cr4Fixed0; c.cr4Fixed1 = caps.cr4Fixed1;
    this.succeed();
  }

  vmxoff(): void {
    this.checkOperation('VMXOFF');
    this.requireCpl0('VMXOFF');
    if (this.currentVmcs !== NO_POINTER) this.vmcs.store(this.cpu.mem, this.currentVmcs);
    this.inVmxOperation = false;
    this.vmxonPointer = NO_POINTER;
    this.currentVmcs = NO_POINTER;
    const c = this.cpu;
    c.cr0Fixed0 = 0; c.cr0Fixed1 = 0xffffffff; c.cr4Fixed0 = 0; c.cr4Fixed1 = 0xffffffff;
    this.succeed();
  }

  // ---- VMCS pointer -----------------------------------------------------------------

  vmclear(pa: number): void {
    this.checkOperation('VMCLEAR');
    this.requireCpl0('VMCLEAR');
    if (!this.validPhysical(pa)) { this.fail(E.VMCLEAR_INVALID_ADDRESS); return; }
    if (pa === this.vmxonPointer) { this.fail(E.VMCLEAR_VMXON_POINTER); return; }
    if (pa === this.currentVmcs) {
      this.vmcs.launchState = LAUNCH_STATE_CLEAR;
      this.vmcs.store(this.cpu.mem, pa);
      this.currentVmcs = NO_POINTER;
    } else {
      clearRegionLaunchState(this.cpu.mem, pa);
    }
    this.succeed();
  }

  vmptrld(pa: number): void {
    this.checkOperation('VMPTRLD');
    this.requireCpl0('VMPTRLD');
    if (!this.validPhysical(pa)) { this.fail(E.VMPTRLD_INVALID_ADDRESS); return; }
    if (pa === this.vmxonPointer) { this.fail(E.VMPTRLD_VMXON_POINTER); return; }
    // bit 31 (shadow VMCS) must be 0: this processor has no VMCS shadowing
    if ((this.cpu.mem.read(pa, 4) >>> 0) !== VMCS_REVISION_ID) { this.fail(E.VMPTRLD_INCORRECT_REVISION_ID); return; }
    if (pa !== this.currentVmcs) {
      if (this.currentVmcs !== NO_POINTER) this.vmcs.store(this.cpu.mem, this.currentVmcs);
      this.vmcs.load(this.cpu.mem, pa);
      this.currentVmcs = pa;
      this.checkedControls = -1;
      this.checkedGuestControls = -1;
      this.checkedGuestState = -1;
    }
    this.succeed();
  }

  vmptrst(): number {
    this.checkOperation('VMPTRST');
    this.requireCpl0('VMPTRST');
    this.succeed();
    return this.currentVmcs;
  }

  // ---- VMREAD / VMWRITE -------------------------------------------------------------

  /** Returns the field's value, or undefined when the instruction failed (status in RFLAGS). */
  vmread(encoding: number): bigint | undefined {
    const code = this.readableSlot(encoding);
    if (code < 0) return undefined;
    return (code & 1) !== 0 ? BigInt(this.vmcs.hi(code >> 1) >>> 0) : this.vmcs.get(code >> 1);
  }

  /**
   * VMREAD as the same instruction, into a pair of 32-bit words (`out[0]` low, `out[1]` high)
   * instead of a BigInt: what the VMM's exit path uses. False when the instruction failed.
   */
  vmreadWords(encoding: number, out: Int32Array): boolean {
    const code = this.readableSlot(encoding);
    if (code < 0) return false;
    const slot = code >> 1;
    if ((code & 1) !== 0) { out[0] = this.vmcs.hi(slot); out[1] = 0; } else { out[0] = this.vmcs.lo(slot); out[1] = this.vmcs.hi(slot); }
    return true;
  }

  /**
   * VMREAD of several fields in a row, each into two words of `out` (field k at 2k, 2k + 1): the
   * same as that many VMREADs, whose checks and VMsucceed are the same for each; the VMM's exit
   * path reads the exit-information fields this way. Stops at a field that fails (recorded as
   * VMREAD records it) and returns how many were read.
   */
  vmreadWordsMany(encodings: readonly number[], out: Int32Array): number {
    for (let k = 0; k < encodings.length; k++) {
      const e = encodings[k];
      const code = k === 0 ? this.readableSlot(e) : e >>> 0 === e ? slotCodeOfEncoding(e) : -1;
      if (code < 0) {
        if (k > 0) this.fail(E.VMREAD_VMWRITE_UNSUPPORTED_COMPONENT);
        return k;
      }
      const slot = code >> 1;
      if ((code & 1) !== 0) { out[2 * k] = this.vmcs.hi(slot); out[2 * k + 1] = 0; } else { out[2 * k] = this.vmcs.lo(slot); out[2 * k + 1] = this.vmcs.hi(slot); }
    }
    return encodings.length;
  }

  vmwrite(encoding: number, value: bigint): void {
    const code = this.writableSlot(encoding);
    if (code < 0) return;
    const old = this.onFieldWrite === undefined ? 0n : this.vmcs.get(code >> 1);
    if ((code & 1) !== 0) this.vmcs.set(code >> 1, this.vmcs.lo(code >> 1), Number(value & 0xffffffffn) | 0);
    else this.vmcs.setBig(code >> 1, value);
    this.succeed();
    this.onFieldWrite?.(code >> 1, old, this.vmcs.get(code >> 1));
  }

  /** VMWRITE of the 64-bit value hi:lo (two 32-bit words): the same instruction without a BigInt. */
  vmwriteWords(encoding: number, lo: number, hi: number): void {
    const code = this.writableSlot(encoding);
    if (code < 0) return;
    const old = this.onFieldWrite === undefined ? 0n : this.vmcs.get(code >> 1);
    if ((code & 1) !== 0) this.vmcs.set(code >> 1, this.vmcs.lo(code >> 1), lo);
    else this.vmcs.set(code >> 1, lo, hi);
    this.succeed();
    this.onFieldWrite?.(code >> 1, old, this.vmcs.get(code >> 1));
  }

  /** VMREAD's checks; the field's slot code (slot * 2, + 1 for a high half) and VMsucceed, or -1 with the failure recorded. */
  private readableSlot(encoding: number): number {
    this.checkOperation('VMREAD');
    this.requireCpl0('VMREAD');
    if (this.currentVmcs === NO_POINTER) { this.failInvalid(); return -1; }
    const code = encoding >>> 0 === encoding ? slotCodeOfEncoding(encoding) : -1;
    if (code < 0) { this.fail(E.VMREAD_VMWRITE_UNSUPPORTED_COMPONENT); return -1; }
    this.succeed();
    return code;
  }

  /** VMWRITE's checks; the slot code, or -1 with the failure recorded (the caller writes, then succeeds). */
  private writableSlot(encoding: number): number {
    this.checkOperation('VMWRITE');
    this.requireCpl0('VMWRITE');
    if (this.currentVmcs === NO_POINTER) { this.failInvalid(); return -1; }
    const code = encoding >>> 0 === encoding ? slotCodeOfEncoding(encoding) : -1;
    if (code < 0) { this.fail(E.VMREAD_VMWRITE_UNSUPPORTED_COMPONENT); return -1; }
    // IA32_VMX_MISC bit 29: software may write the VM-exit information fields
    if (slotIsReadOnly(code >> 1) && !this.writableExitInfo) { this.fail(E.VMWRITE_READ_ONLY_COMPONENT); return -1; }
    return code;
  }

  // ---- VM entry -----------------------------------------------------------------------

  vmlaunch(): EntryResult { return this.vmEntry(true); }
  vmresume(): EntryResult { return this.vmEntry(false); }

  private vmEntry(launch: boolean): EntryResult {
    const name = launch ? 'VMLAUNCH' : 'VMRESUME';
    this.checkOperation(name);
    this.requireCpl0(name);
    if (this.currentVmcs === NO_POINTER) {
      this.failInvalid();
      return this.noteEntryProblem({ kind: 'vmfail', error: undefined, detail: `${name} without a current VMCS (VMfailInvalid)` });
    }
    if ((this.cpu.interruptShadow & 2) !== 0) return this.refuse(E.ENTRY_EVENTS_BLOCKED_BY_MOV_SS, `${name} right after MOV SS`);
    if (launch && this.vmcs.launchState !== LAUNCH_STATE_CLEAR) return this.refuse(E.VMLAUNCH_NON_CLEAR_VMCS, 'VMLAUNCH with a VMCS that is not clear (use VMRESUME, or VMCLEAR first)');
    if (!launch && this.vmcs.launchState !== LAUNCH_STATE_LAUNCHED) return this.refuse(E.VMRESUME_NON_LAUNCHED_VMCS, 'VMRESUME with a VMCS that was never launched');
    const r = enterGuest(this, launch);
    // on success RFLAGS are the guest's; after a VM-entry failure they are the host's (2)
    if (r.kind === 'vmfail' && r.error !== undefined) this.fail(r.error);
    return r;
  }

  /** VMLAUNCH/VMRESUME refused before VM entry starts: VMfailValid(error). */
  private refuse(error: E, detail: string): EntryResult {
    this.fail(error);
    return this.noteEntryProblem({ kind: 'vmfail', error, detail });
  }

  noteEntryProblem(r: EntryResult): EntryResult {
    this.lastEntryProblem = r.kind === 'entered' ? '' : r.detail;
    return r;
  }

  /** VMX abort (28.7): the indicator is written to the VMCS region and the processor shuts down. */
  vmxAbort(indicator: number): void {
    this.aborted = indicator;
    if (this.currentVmcs !== NO_POINTER) this.cpu.mem.write(this.currentVmcs + 4, 4, indicator);
    this.cpu.halted = true;
    this.cpu.interruptController = undefined;
  }

  /** Called by VM entry once guest state is loaded (27.3.2), before the MSR-load list. */
  noteGuestStateLoaded(): void {
    this.msrWritesAtEntry = this.cpu.msrs.vmxMsrWrites;
    this.guestVersionAtEntry = this.vmcs.guestVersion;
  }

  /** Whether the SYSENTER MSRs and the guest fields still hold what VM entry loaded (so a VM exit need not save the MSRs). */
  sysenterUnchangedSinceEntry(): boolean {
    return this.cpu.msrs.vmxMsrWrites === this.msrWritesAtEntry && this.vmcs.guestVersion === this.guestVersionAtEntry;
  }

  /** Marks the current VMCS launched (a VM entry by VMLAUNCH got past the checks, SDM 27.3). */
  markLaunched(): void {
    this.vmcs.launchState = LAUNCH_STATE_LAUNCHED;
  }

  // ---- INVEPT / INVVPID / VMCALL ------------------------------------------------------

  invept(type: number, eptp: bigint): void {
    this.checkOperation('INVEPT');
    this.requireCpl0('INVEPT');
    const single = (this.caps.eptVpidCap & (1n << 25n)) !== 0n, all = (this.caps.eptVpidCap & (1n << 26n)) !== 0n;
    if (!((type === 1 && single) || (type === 2 && all))) { this.fail(E.INVALID_INVEPT_INVVPID_OPERAND); return; }
    // the TLB holds combined (linear → host-physical) translations, which INVEPT invalidates too
    if (type === 1) this.eptStage.walker.invalidate(eptp); else this.eptStage.walker.invalidate();
    this.cpu.flushEveryTlb();
    this.succeed();
  }

  invvpid(type: number, vpid: number, linear: bigint): void {
    this.checkOperation('INVVPID');
    this.requireCpl0('INVVPID');
    const cap = this.caps.eptVpidCap;
    if (type < 0 || type > 3 || (cap & (1n << BigInt(40 + type))) === 0n) { this.fail(E.INVALID_INVEPT_INVVPID_OPERAND); return; }
    if (type !== 2 && vpid === 0) { this.fail(E.INVALID_INVEPT_INVVPID_OPERAND); return; }
    if (type === 0) {
      const top = linear >> 47n;
      if (top !== 0n && top !== 0x1ffffn) { this.fail(E.INVALID_INVEPT_INVVPID_OPERAND); return; }
    }
    // every VPID's cached translations go: more than the type asks for, which the SDM allows (29.4.3.1)
    this.cpu.flushEveryTlb();
    this.succeed();
  }

  /** VMCALL in VMX root operation (without the dual-monitor treatment) fails with error 1. */
  vmcallInRoot(): void {
    this.checkOperation('VMCALL');
    this.fail(E.VMCALL_IN_VMX_ROOT);
  }

  // ---- x86 code executing VMX instructions ---------------------------------------------

  execute(c: Cpu, i: Insn): void {
    const m = i.mnemonic;
    if (m === 'vmfunc') throw new CpuFault(Vector.UD, -1, 'VMFUNC: VM functions are not enabled');
    if (this.nonRoot) {
      // every VMX instruction exits unconditionally in non-root operation (SDM 26.1.2)
      if (m !== 'vmxon' || (c.cr4 & 0x2000) !== 0) {
        if (m !== 'vmxon') this.checkMode(m.toUpperCase());
        if (c.interceptHere(Intercept.VMX_INSTRUCTION, i)) return;
      }
    }
    switch (m) {
      case 'vmxon': this.vmxon(this.readPointer(c, i)); return;
      case 'vmxoff': this.vmxoff(); break;
      case 'vmclear': this.vmclear(this.readPointer(c, i)); return;
      case 'vmptrld': this.vmptrld(this.readPointer(c, i)); return;
      case 'vmptrst': {
        effectiveAddress(c, i);
        const lo = c.eaLo, hi = c.eaHi;
        const p = this.vmptrst();
        const v = BigInt.asUintN(64, BigInt(p));
        c.write64(lo, hi, Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0);
        return;
      }
      case 'vmread': {
        const size = c.in64BitMode ? 8 : 4;
        const enc = readReg(c, i.reg, size) >>> 0;
        const v = this.vmread(enc);
        if (v !== undefined) writeRm(c, i, size, Number(v & 0xffffffffn) | 0, Number((v >> 32n) & 0xffffffffn) | 0);
        return;
      }
      case 'vmwrite': {
        const size = c.in64BitMode ? 8 : 4;
        const lo = readRm(c, i, size), hi = size === 8 ? c.hi : 0;
        const enc = readReg(c, i.reg, size) >>> 0;
        this.vmwrite(enc, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
        return;
      }
      case 'vmlaunch': case 'vmresume': {
        c.ip[0] = i.nextLo; c.ip[1] = i.nextHi;
        try {
          const r = m === 'vmlaunch' ? this.vmlaunch() : this.vmresume();
          if (r.kind === 'entered' || r.kind === 'entry-failed') return;
        } catch (e) {
          c.ip[0] = i.ripLo; c.ip[1] = i.ripHi;
          throw e;
        }
        return;
      }
      case 'vmcall': this.vmcallInRoot(); break;
      case 'invept': case 'invvpid': {
        const size = c.in64BitMode ? 8 : 4;
        const type = readReg(c, i.reg, size) >>> 0;
        effectiveAddress(c, i);
        const lo0 = c.read64(c.eaLo, c.eaHi), hi0 = c.hi;
        const a1 = (c.eaLo + 8) | 0;
        const lo1 = c.read64(a1, (a1 >>> 0) < (c.eaLo >>> 0) ? (c.eaHi + 1) | 0 : c.eaHi), hi1 = c.hi;
        const q0 = (BigInt(hi0 >>> 0) << 32n) | BigInt(lo0 >>> 0);
        const q1 = (BigInt(hi1 >>> 0) << 32n) | BigInt(lo1 >>> 0);
        if (m === 'invept') this.invept(type, q0);
        else if ((q0 >> 16n) !== 0n) { this.checkOperation('INVVPID'); this.requireCpl0('INVVPID'); this.fail(E.INVALID_INVEPT_INVVPID_OPERAND); }
        else this.invvpid(type, Number(q0 & 0xffffn), q1);
        return;
      }
      default: throw new CpuFault(Vector.UD, -1, `${m} is not a VMX instruction`);
    }
    // instructions that end their block advance RIP themselves
    if (i.endsBlock) { c.ip[0] = i.nextLo; c.ip[1] = i.nextHi; }
  }

  private readPointer(c: Cpu, i: Insn): number {
    effectiveAddress(c, i);
    const lo = c.read64(c.eaLo, c.eaHi), hi = c.hi;
    return (hi >>> 0) * 4294967296 + (lo >>> 0);
  }

  /** Called by the CPU's run loop (hooks.takeStop) when non-root operation stopped. */
  takeStop(outcome: RunOutcome): RunOutcome | undefined {
    return this.nonRootOps.takeStop(this.cpu, outcome);
  }
}

