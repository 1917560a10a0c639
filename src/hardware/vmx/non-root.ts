// VMX non-root operation (SDM Vol. 3C, chapter 26): which instructions and events cause VM
// exits under the current VMCS, with the exit qualification and instruction information of
// chapter 28. The CPU calls these hooks at its VM-exit points (cpu.ts `Intercept`); a hook
// that decides to exit records the exit and stops the run, and `takeStop` performs it with
// RIP where the SDM wants it.

import type { Cpu, CpuHooks, RunOutcome } from '../cpu';
import { CpuFault, Intercept, Vector } from '../cpu';
import { Flag, Seg } from '../cpu-state';
import { getOF } from '../flags';
import { Insn } from '../insn';
import { effectiveAddress, readReg } from '../operands';
import { VmxExitReason as R } from '../../vmx/definitions';
import { eptCapabilitiesOf, EXIT, PIN, PROC, PROC2, secondaryControls } from './entry-checks';
import { PREEMPTION_TIMER_RATE } from './capabilities';
import { F } from './vmcs';
import { ExitInfo, performExit } from './vm-exit';
import type { VmxUnit } from './vmx-unit';

/** Exit reasons of VMX instructions in non-root operation (26.1.2). */
const VMX_INSTRUCTION_EXITS: Readonly<Record<string, number>> = {
  vmcall: R.VMCALL.number, vmclear: R.VMCLEAR.number, vmlaunch: R.VMLAUNCH.number, vmptrld: R.VMPTRLD.number,
  vmptrst: R.VMPTRST.number, vmread: R.VMREAD.number, vmresume: R.VMRESUME.number, vmwrite: R.VMWRITE.number,
  vmxoff: R.VMOFF.number, vmxon: R.VMON.number, invept: R.INVEPT.number, invvpid: R.INVVPID.number, vmfunc: R.VMFUNC.number,
};

const RCX = 1;
/** At least the decoder's longest block (decoder.ts MAX_BLOCK). */
const LONGEST_BLOCK = 64;

export class NonRoot implements CpuHooks {
  private pending: ExitInfo | undefined;
  private savedHooks: CpuHooks | undefined;
  private savedTscOffset = 0n;
  private entryIcount = 0;
  private proc = 0;
  /** The EPTP the walker is configured with (configure only when it changes). */
  private eptpLo = 0;
  private eptpHi = 0;
  private proc2 = 0;
  private pin = 0;
  /** The STI/MOV-SS shadow over the instruction that exited: the run loop drops it before takeStop. */
  private shadowAtStop = -1;
  /** An MTF exit is due at the next boundary even though no instruction retired (event delivered, 26.7.2). */
  private mtfAfterDelivery = false;

  constructor(private readonly unit: VmxUnit) {}

  private get c(): Cpu { return this.unit.cpu; }

  /** What `derive` computed from the control fields, and the controlVersion it did so for (-1: nothing yet). */
  private derivedFor = -1;
  private mask = 0;
  private cr0Mask = 0;
  private cr4Mask = 0;
  private cr0Shadow = 0;
  private cr4Shadow = 0;
  private eventWatch = false;

  /** The intercepts and CPU settings the control fields call for (a pure function of them and the capabilities). */
  private derive(): void {
    const v = this.unit.vmcs;
    const pin = this.pin = v.lo(F.PIN_BASED_VM_EXEC_CONTROL);
    const proc = this.proc = v.lo(F.CPU_BASED_VM_EXEC_CONTROL);
    const proc2 = this.proc2 = secondaryControls(v);
    // these exit whatever the controls say (26.1.2), task switches included
    let mask = Intercept.CPUID | Intercept.VMX_INSTRUCTION | Intercept.INVD | Intercept.XSETBV | Intercept.MSR_READ | Intercept.MSR_WRITE | Intercept.TASK_SWITCH;
    if (proc & PROC.HLT) mask |= Intercept.HLT;
    if (proc & (PROC.UNCOND_IO | PROC.IO_BITMAPS)) mask |= Intercept.IO;
    if (proc & (PROC.CR3_STORE | PROC.CR8_STORE)) mask |= Intercept.CR_READ;
    const cr0Mask = v.lo(F.CR0_GUEST_HOST_MASK), cr4Mask = v.lo(F.CR4_GUEST_HOST_MASK);
    if ((proc & (PROC.CR3_LOAD | PROC.CR8_LOAD)) !== 0 || cr0Mask !== 0 || cr4Mask !== 0) mask |= Intercept.CR_WRITE;
    if (proc & PROC.INVLPG) mask |= Intercept.INVLPG;
    // RDTSCP is #UD unless "enable RDTSCP" (25.6.2): the hook must see it even without RDTSC exiting
    if ((proc & PROC.RDTSC) !== 0 || (proc2 & PROC2.RDTSCP) === 0) mask |= Intercept.RDTSC;
    if (proc & PROC.MOV_DR) mask |= Intercept.DR_ACCESS;
    if (proc & PROC.PAUSE) mask |= Intercept.PAUSE;
    if (proc & (PROC.MWAIT | PROC.MONITOR)) mask |= Intercept.MONITOR_MWAIT;
    if (proc & PROC.RDPMC) mask |= Intercept.RDPMC;
    if (proc2 & PROC2.WBINVD) mask |= Intercept.WBINVD;
    if (proc2 & (PROC2.RDRAND | PROC2.RDSEED)) mask |= Intercept.RDRAND;
    if (proc2 & PROC2.DESC_TABLE) mask |= Intercept.DESCRIPTOR_TABLE;
    // with MTF, exceptions delivered to the guest are watched too: the MTF exit follows their delivery
    if (v.lo(F.EXCEPTION_BITMAP) !== 0 || v.lo(F.PAGE_FAULT_ERROR_CODE_MASK) !== 0 || v.lo(F.PAGE_FAULT_ERROR_CODE_MATCH) !== 0 || (proc & PROC.MTF) !== 0) mask |= Intercept.EXCEPTION;
    if (pin & PIN.EXTINT) mask |= Intercept.INTERRUPT;
    if (pin & PIN.NMI) mask |= Intercept.NMI;
    this.mask = mask;
    this.cr0Mask = cr0Mask; this.cr0Shadow = v.lo(F.CR0_READ_SHADOW);
    this.cr4Mask = cr4Mask; this.cr4Shadow = v.lo(F.CR4_READ_SHADOW);
    // with external-interrupt exiting RFLAGS.IF does not block interrupts (26.3.1.1 note, 25.6.1),
    // so the run loop's IF-gated check is not enough: watch every boundary
    this.eventWatch = (proc & (PROC.INTR_WINDOW | PROC.NMI_WINDOW | PROC.MTF)) !== 0 || (pin & (PIN.EXTINT | PIN.PREEMPTION | PIN.VIRTUAL_NMI)) !== 0;
    this.derivedFor = v.controlVersion;
  }

  /** Arms the CPU's hooks for the controls of the current VMCS (after guest state is loaded). */
  begin(): void {
    const c = this.c, v = this.unit.vmcs, caps = this.unit.caps;
    this.unit.nonRoot = true;
    this.pending = undefined;
    if (this.derivedFor !== v.controlVersion) this.derive();
    const pin = this.pin, proc = this.proc, proc2 = this.proc2;
    c.interceptMask = this.mask;
    this.savedHooks = c.hooks;
    c.hooks = this;
    c.cr0Mask = this.cr0Mask; c.cr0Shadow = this.cr0Shadow;
    c.cr4Mask = this.cr4Mask; c.cr4Shadow = this.cr4Shadow;
    // an unrestricted guest may clear CR0.PE and CR0.PG (26.3 / 27.3.1.1)
    c.cr0Fixed0 = (proc2 & PROC2.UNRESTRICTED) !== 0 ? caps.cr0Fixed0 & ~0x80000001 : caps.cr0Fixed0;
    c.eventWatch = this.eventWatch;
    c.singleStep = (proc & PROC.MTF) !== 0;
    c.eventDeadline = (pin & PIN.PREEMPTION) !== 0 ? c.icount + (v.lo(F.VMX_PREEMPTION_TIMER_VALUE) >>> 0) * 2 ** PREEMPTION_TIMER_RATE : Infinity;
    if ((proc2 & PROC2.EPT) !== 0) {
      // the entry checks validated the EPTP against these same capabilities
      const lo = v.lo(F.EPT_POINTER), hi = v.hi(F.EPT_POINTER);
      if (lo !== this.eptpLo || hi !== this.eptpHi) {
        this.unit.eptStage.walker.configure(v.get(F.EPT_POINTER), eptCapabilitiesOf(caps));
        this.eptpLo = lo; this.eptpHi = hi;
      }
      c.secondStage = this.unit.eptStage;
      c.walker.tableAddress = this.unit.eptStage.tableAddress;
    }
    this.savedTscOffset = c.tscOffset;
    if (proc & PROC.TSC_OFFSET) c.tscOffset += v.get(F.TSC_OFFSET);
    this.entryIcount = c.icount;
    this.shadowAtStop = -1;
    // an event injected by this entry with MTF set: the MTF exit comes before the handler's first instruction
    this.mtfAfterDelivery = (proc & PROC.MTF) !== 0 && (v.lo(F.VM_ENTRY_INTR_INFO_FIELD) & 0x80000000) !== 0;
  }

  /** Back to root operation: the host's view of the CPU. */
  end(): void {
    const c = this.c, v = this.unit.vmcs, caps = this.unit.caps;
    if ((v.lo(F.VM_EXIT_CONTROLS) & EXIT.SAVE_PREEMPTION) !== 0 && c.eventDeadline !== Infinity) {
      v.set(F.VMX_PREEMPTION_TIMER_VALUE, Math.max(0, Math.ceil((c.eventDeadline - c.icount) / 2 ** PREEMPTION_TIMER_RATE)));
    }
    this.unit.nonRoot = false;
    c.interceptMask = 0;
    c.hooks = this.savedHooks;
    c.cr0Mask = 0; c.cr0Shadow = 0; c.cr4Mask = 0; c.cr4Shadow = 0;
    c.cr0Fixed0 = caps.cr0Fixed0;
    c.eventWatch = false;
    c.singleStep = false;
    c.eventDeadline = Infinity;
    c.tscOffset = this.savedTscOffset;
    c.secondStage = undefined;
    c.walker.tableAddress = undefined;
  }

  // ---- instructions -----------------------------------------------------------------

  intercept(c: Cpu, what: Intercept, i: Insn): boolean {
    const exit = this.instructionExit(c, what, i);
    if (exit === undefined) return false;
    this.pending = exit;
    this.shadowAtStop = c.interruptShadow;
    return true;
  }

  private instructionExit(c: Cpu, what: Intercept, i: Insn): ExitInfo | undefined {
    const len = i.len;
    switch (what) {
      case Intercept.CPUID: return simple(len, R.CPUID.number);
      case Intercept.HLT: return simple(len, R.HLT.number);
      case Intercept.INVD: return simple(len, R.INVD.number);
      case Intercept.XSETBV: return simple(len, R.XSETBV.number);
      case Intercept.PAUSE: return simple(len, R.PAUSE_INSTRUCTION.number);
      case Intercept.RDPMC: return simple(len, R.RDPMC.number);
      case Intercept.WBINVD: return simple(len, R.WBINVD.number);
      case Intercept.RDTSC:
        if (i.mnemonic === 'rdtscp' && (this.proc2 & PROC2.RDTSCP) === 0) throw new CpuFault(Vector.UD, -1, 'RDTSCP with "enable RDTSCP" = 0');
        if ((this.proc & PROC.RDTSC) === 0) return undefined;
        return simple(len, i.mnemonic === 'rdtscp' ? R.RDTSCP.number : R.RDTSC.number);
      case Intercept.RDRAND: {
        const seed = i.mnemonic === 'rdseed';
        if ((this.proc2 & (seed ? PROC2.RDSEED : PROC2.RDRAND)) === 0) return undefined;
        return { reason: seed ? R.RDSEED.number : R.RDRAND.number, instructionLength: len, instructionInfo: (i.rm & 15) << 3 | sizeCode(i.size) << 11 };
      }
      case Intercept.MONITOR_MWAIT: {
        const mwait = i.mnemonic === 'mwait';
        if ((this.proc & (mwait ? PROC.MWAIT : PROC.MONITOR)) === 0) return undefined;
        return simple(len, mwait ? R.MWAIT_INSTRUCTION.number : R.MONITOR_INSTRUCTION.number);
      }
      case Intercept.INVLPG: return { reason: R.INVLPG.number, instructionLength: len, qualification: linearOf(c, i) };
      case Intercept.VMX_INSTRUCTION: {
        const reason = VMX_INSTRUCTION_EXITS[i.mnemonic];
        return { reason, instructionLength: len, instructionInfo: i.mnemonic === 'vmcall' ? 0 : instructionInfo(i), qualification: displacement(i) };
      }
      case Intercept.DESCRIPTOR_TABLE: return this.descriptorTableExit(i);
      case Intercept.TASK_SWITCH:
        // an event-caused switch has no instruction: no length (28.2.4)
        return { reason: R.TASK_SWITCH.number, qualification: BigInt(c.taskSwitchExit >>> 0), instructionLength: i.len };
      case Intercept.IO: return this.ioExit(c, i);
      case Intercept.MSR_READ: case Intercept.MSR_WRITE: return this.msrExit(c, what === Intercept.MSR_WRITE, len);
      case Intercept.CR_READ: case Intercept.CR_WRITE: return this.crExit(c, what === Intercept.CR_WRITE, i);
      case Intercept.DR_ACCESS:
        return simple(len, R.DR_ACCESS.number, BigInt(i.reg & 7 | (i.cc === 1 ? 0x10 : 0) | (i.rm & 15) << 8));
      case Intercept.EXCEPTION: {
        // INT3 and INTO: software exceptions (type 6); INT1: a privileged software exception (type 5); with the length
        const vector = i.opcode === 0xcc ? 3 : i.opcode === 0xf1 ? 1 : 4;
        if (vector === 4 && !getOF(c)) return undefined;
        if ((this.unit.vmcs.lo(F.EXCEPTION_BITMAP) & (1 << vector)) === 0) return undefined;
        const type = vector === 1 ? 5 : 6;
        return { reason: R.EXCEPTION_NMI.number, instructionLength: len, interruptionInfo: (0x80000000 | type << 8 | vector) | 0 };
      }
      default: return undefined;
    }
  }

  /** I/O instructions: unconditional I/O exiting or the I/O bitmaps (26.1.3); qualification of Table 28-5. */
  private ioExit(c: Cpu, i: Insn): ExitInfo | undefined {
    const m = i.mnemonic;
    // the decoder's I/O mnemonics: in, out, ins, outs (the operand size is in i.size)
    const input = m === 'in' || m === 'ins', string = m === 'ins' || m === 'outs';
    const port = i.immLo >= 0 && !string ? i.immLo & 0xffff : c.r[4] & 0xffff;
    const size = i.size;
    if ((this.proc & PROC.IO_BITMAPS) !== 0) {
      if (!this.ioBitmapSays(port, size)) return undefined;
    } else if ((this.proc & PROC.UNCOND_IO) === 0) {
      return undefined;
    }
    const q = (size - 1) | (input ? 8 : 0) | (string ? 0x10 : 0) | (i.rep !== 0 && string ? 0x20 : 0) | (i.immLo >= 0 && !string ? 0x40 : 0) | port << 16;
    const info: ExitInfo = { reason: R.IO_INSTRUCTION.number, instructionLength: i.len, qualification: q >>> 0 };
    if (string) {
      // IA32_VMX_BASIC[54]: address size and segment of INS/OUTS are reported (Table 28-8)
      const seg = input ? Seg.ES : i.segOverride >= 0 ? i.segOverride : Seg.DS;
      info.instructionInfo = (addressSizeCode(i.asize) << 7) | (seg << 15);
      // the guest-linear address of the memory operand: segment base + RSI/RDI at the address size (28.2.5)
      const offset = c.getReg(input ? 7 : 6) & (i.asize === 8 ? 0xffffffffffffffffn : i.asize === 4 ? 0xffffffffn : 0xffffn);
      const base = c.in64BitMode && seg !== Seg.FS && seg !== Seg.GS ? 0n : c.segmentBase(seg);
      info.guestLinear = BigInt.asUintN(c.in64BitMode ? 64 : 32, base + offset);
    }
    return info;
  }

  /** Both bitmaps together: one bit per port, A for 0000-7FFF, B for 8000-FFFF; wrapping past FFFF exits. */
  private ioBitmapSays(port: number, size: number): boolean {
    const v = this.unit.vmcs, mem = this.c.mem;
    for (let p = port; p < port + size; p++) {
      if (p > 0xffff) return true;
      const slot = p < 0x8000 ? F.IO_BITMAP_A : F.IO_BITMAP_B;
      const base = (v.hi(slot) >>> 0) * 4294967296 + (v.lo(slot) >>> 0);
      const bit = p & 0x7fff;
      if ((mem.read8(base + (bit >>> 3)) & (1 << (bit & 7))) !== 0) return true;
    }
    return false;
  }

  /** RDMSR/WRMSR: every one exits without MSR bitmaps; with them, the bit for ECX (26.1.3). */
  private msrExit(c: Cpu, write: boolean, len: number): ExitInfo | undefined {
    const reason = write ? R.MSR_WRITE.number : R.MSR_READ.number;
    if ((this.proc & PROC.MSR_BITMAPS) !== 0) {
      const index = c.r[2 * RCX] >>> 0;
      let offset: number;
      if (index <= 0x1fff) offset = 0;
      else if (index >= 0xc0000000 && index <= 0xc0001fff) offset = 0x400;
      else return { reason, instructionLength: len };
      if (write) offset += 0x800;
      const bit = index & 0x1fff;
      const base = Number(this.unit.vmcs.get(F.MSR_BITMAP));
      if ((c.mem.read8(base + offset + (bit >>> 3)) & (1 << (bit & 7))) === 0) return undefined;
    }
    return { reason, instructionLength: len };
  }

  /** Control-register accesses (26.1.3) with the qualification of Table 28-3. */
  private crExit(c: Cpu, write: boolean, i: Insn): ExitInfo | undefined {
    const v = this.unit.vmcs;
    const m = i.mnemonic;
    const exit = (q: number, guestLinear?: bigint): ExitInfo => ({ reason: R.CR_ACCESS.number, instructionLength: i.len, qualification: BigInt(q >>> 0), guestLinear });
    if (m === 'clts') {
      const mask = v.lo(F.CR0_GUEST_HOST_MASK), shadow = v.lo(F.CR0_READ_SHADOW);
      return (mask & 8) !== 0 && (shadow & 8) !== 0 ? exit(2 << 4) : undefined;
    }
    if (m === 'lmsw') {
      const mask = v.lo(F.CR0_GUEST_HOST_MASK), shadow = v.lo(F.CR0_READ_SHADOW);
      const src = i.rm >= 0 ? readReg(c, i.rm, 2) & 0xffff : readOperand16(c, i);
      const changes = ((mask & 0xe) & (src ^ shadow)) !== 0 || ((mask & 1) !== 0 && (shadow & 1) === 0 && (src & 1) !== 0);
      if (!changes) return undefined;
      return exit(3 << 4 | (i.rm >= 0 ? 0 : 0x40) | src << 16, i.rm >= 0 ? undefined : linearOf(c, i));
    }
    if (m === 'smsw') return undefined;
    const n = i.reg, gpr = i.rm & 15;
    if (!write) {
      if (n === 3 && (this.proc & PROC.CR3_STORE) !== 0) return exit(3 | 1 << 4 | gpr << 8);
      if (n === 8 && (this.proc & PROC.CR8_STORE) !== 0) return exit(8 | 1 << 4 | gpr << 8);
      return undefined;
    }
    const lo = readReg(c, i.rm, i.size), hi = i.size === 8 ? c.hi : 0;
    const q = n | gpr << 8;
    switch (n) {
      case 0: case 4: {
        const mask = v.lo(n === 0 ? F.CR0_GUEST_HOST_MASK : F.CR4_GUEST_HOST_MASK), shadow = v.lo(n === 0 ? F.CR0_READ_SHADOW : F.CR4_READ_SHADOW);
        return ((lo ^ shadow) & mask) !== 0 ? exit(q) : undefined;
      }
      case 3: {
        if ((this.proc & PROC.CR3_LOAD) === 0) return undefined;
        const count = Math.min(v.lo(F.CR3_TARGET_COUNT) >>> 0, 4);
        for (let k = 0; k < count; k++) {
          if (v.lo(F.CR3_TARGET_VALUE0 + k) === lo && v.hi(F.CR3_TARGET_VALUE0 + k) === hi) return undefined;
        }
        return exit(q);
      }
      case 8: return (this.proc & PROC.CR8_LOAD) !== 0 ? exit(q) : undefined;
      default: return undefined;
    }
  }

  /** LGDT/LIDT/SGDT/SIDT and LLDT/LTR/SLDT/STR with descriptor-table exiting (Tables 28-10, 28-11). */
  private descriptorTableExit(i: Insn): ExitInfo {
    const ids: Readonly<Record<string, [number, number]>> = {
      sgdt: [R.GDTR_IDTR.number, 0], sidt: [R.GDTR_IDTR.number, 1], lgdt: [R.GDTR_IDTR.number, 2], lidt: [R.GDTR_IDTR.number, 3],
      sldt: [R.LDTR_TR.number, 0], str: [R.LDTR_TR.number, 1], lldt: [R.LDTR_TR.number, 2], ltr: [R.LDTR_TR.number, 3],
    };
    const [reason, identity] = ids[i.mnemonic];
    let info = instructionInfo(i, false) | identity << 28;
    if (reason === R.GDTR_IDTR.number && i.size === 4) info |= 1 << 11;
    return { reason, instructionLength: i.len, instructionInfo: info, qualification: displacement(i) };
  }

  // ---- exceptions and events ---------------------------------------------------------

  /** The exception bitmap, and for #PF the error-code mask and match (25.6.3). */
  exception(c: Cpu, vector: number, errorCode: number): boolean {
    const v = this.unit.vmcs;
    let exits = (v.lo(F.EXCEPTION_BITMAP) & (1 << vector)) !== 0;
    if (vector === 14) {
      const matches = (errorCode & v.lo(F.PAGE_FAULT_ERROR_CODE_MASK)) === v.lo(F.PAGE_FAULT_ERROR_CODE_MATCH);
      exits = matches ? exits : !exits;
    }
    if (!exits) {
      if ((this.proc & PROC.MTF) !== 0) this.mtfAfterDelivery = true;
      return false;
    }
    this.shadowAtStop = c.interruptShadow;
    const info = 0x80000000 | 3 << 8 | vector | (errorCode >= 0 ? 0x800 : 0);
    this.pending = {
      reason: R.EXCEPTION_NMI.number, interruptionInfo: info | 0, interruptionError: errorCode >= 0 ? errorCode : 0,
      qualification: vector === 14 ? c.pfAddress : 0n,
    };
    return true;
  }

  event(c: Cpu, what: Intercept): boolean {
    // an exit decided during VM entry (triple fault while injecting) is taken at the first boundary
    if (this.pending !== undefined) return true;
    // events are looked at between decoded blocks: close to the preemption-timer deadline, blocks of
    // one instruction make the exit come after exactly value * 2^5 instructions
    if (c.eventDeadline - c.icount <= LONGEST_BLOCK && (this.proc & PROC.MTF) === 0) c.singleStep = true;
    if (what === Intercept.NMI) {
      c.nmiPending = false;
      this.pending = { reason: R.EXCEPTION_NMI.number, interruptionInfo: (0x80000000 | 2 << 8 | 2) | 0 };
      return true;
    }
    if (what === Intercept.INTERRUPT) return this.externalInterruptExit(c);
    // an instruction boundary, in the priority order of 25.2: MTF, preemption timer, NMI window, NMI,
    // interrupt window, external interrupt (the NMI and, with IF = 1, the interrupt are taken by the caller)
    if ((this.proc & PROC.MTF) !== 0 && (c.icount > this.entryIcount || this.mtfAfterDelivery)) {
      this.pending = { reason: R.MONITOR_TRAP_FLAG.number };
      return true;
    }
    if (c.icount >= c.eventDeadline) {
      this.pending = { reason: R.PREEMPTION_TIMER.number };
      return true;
    }
    if ((this.proc & PROC.NMI_WINDOW) !== 0 && !c.nmiBlocked && (c.interruptShadow & 2) === 0) {
      this.pending = { reason: R.NMI_WINDOW.number };
      return true;
    }
    if (c.nmiPending && !c.nmiBlocked && c.interruptShadow === 0) return false;
    // with "virtual NMIs" NMIs are never blocked: blocking by NMI is virtual-NMI blocking (Table 25-5)
    if (c.nmiPending && (this.pin & PIN.VIRTUAL_NMI) !== 0 && c.interruptShadow === 0) {
      c.nmiPending = false;
      this.pending = { reason: R.EXCEPTION_NMI.number, interruptionInfo: (0x80000000 | 2 << 8 | 2) | 0 };
      return true;
    }
    if ((this.proc & PROC.INTR_WINDOW) !== 0 && (c.flagsOther & Flag.IF) !== 0 && c.interruptShadow === 0) {
      this.pending = { reason: R.INTERRUPT_WINDOW.number };
      return true;
    }
    // an interrupt with IF = 0 (with IF = 1 it reaches Intercept.INTERRUPT)
    if ((c.interceptMask & Intercept.INTERRUPT) !== 0 && c.interruptShadow === 0 && (c.flagsOther & Flag.IF) === 0 &&
      c.interruptController?.hasInterrupt() === true) {
      return this.externalInterruptExit(c);
    }
    return false;
  }

  /** An EPT violation (48) or misconfiguration (49) found while translating for the guest (28.2.1). */
  pendEptExit(misconfig: boolean, gpa: bigint, linear: bigint, qualification: number): void {
    this.pending = misconfig
      ? { reason: R.EPT_MISCONFIG.number, guestPhysical: gpa }
      : { reason: R.EPT_VIOLATION.number, guestPhysical: gpa, qualification: BigInt(qualification >>> 0), guestLinear: (qualification & 0x80) !== 0 ? linear : 0n };
  }

  /** External-interrupt exiting; with "acknowledge interrupt on exit" the vector is taken now (28.2.2). */
  private externalInterruptExit(c: Cpu): boolean {
    let info = 0;
    if ((this.unit.vmcs.lo(F.VM_EXIT_CONTROLS) & EXIT.ACK_INTERRUPT) !== 0 && c.interruptController !== undefined) {
      info = (0x80000000 | c.interruptController.acknowledge() & 0xff) | 0;
    }
    this.pending = { reason: R.EXTERNAL_INTERRUPT.number, interruptionInfo: info };
    return true;
  }

  /** A triple fault while injecting an event at VM entry. */
  tripleFaultOnEntry(): void {
    this.pending = { reason: R.TRIPLE_FAULT.number };
    this.exitAtFirstBoundary();
  }

  /**
   * An exit decided during VM entry (while injecting its event) is not performed inside
   * VMLAUNCH/VMRESUME: the guest has entered, and the caller's next run reports it.
   */
  exitAtFirstBoundary(): void {
    this.c.eventDeadline = this.c.icount;
  }

  /** Performs the recorded exit; reports it to a host in TypeScript, or keeps running host x86 code. */
  takeStop(c: Cpu, outcome: RunOutcome): RunOutcome | undefined {
    if (!this.unit.nonRoot) return outcome;
    let exit = this.pending;
    if (exit === undefined && outcome.kind === 'triple-fault') exit = { reason: R.TRIPLE_FAULT.number };
    if (exit === undefined) return outcome;
    this.pending = undefined;
    if (this.shadowAtStop >= 0) c.interruptShadow = this.shadowAtStop;
    this.shadowAtStop = -1;
    performExit(this.unit, exit);
    return this.unit.hostIsExternal ? vmExitOutcome(exit.reason) : undefined;
  }
}

/** An instruction's exit with no more than its length and qualification. */
function simple(len: number, reason: number, qualification?: bigint): ExitInfo {
  return { reason, instructionLength: len, qualification };
}

/** One frozen vm-exit outcome per exit reason, shared (see Cpu.run's intercept outcomes). */
const VM_EXIT_OUTCOMES: RunOutcome[] = [];

function vmExitOutcome(reason: number): RunOutcome {
  return VM_EXIT_OUTCOMES[reason] ??= Object.freeze({ kind: 'vm-exit', reason });
}

function sizeCode(size: number): number {
  return size === 2 ? 0 : size === 4 ? 1 : 2;
}

function addressSizeCode(asize: number): number {
  return asize === 2 ? 0 : asize === 4 ? 1 : 2;
}

/** The VM-exit instruction-information layout shared by VMX and descriptor-table instructions (Table 28-13). */
function instructionInfo(i: Insn, withReg2 = true): number {
  let info = addressSizeCode(i.asize) << 7;
  if (i.rm >= 0) {
    info |= 1 << 10 | (i.rm & 15) << 3;
  } else {
    info |= i.scale & 3;
    info |= i.seg << 15;
    info |= i.index >= 0 ? (i.index & 15) << 18 : 1 << 22;
    info |= i.base >= 0 && !i.ripRelative ? (i.base & 15) << 23 : 1 << 27;
  }
  if (withReg2) info |= (i.reg & 15) << 28;
  return info | 0;
}

function displacement(i: Insn): bigint {
  if (i.rm >= 0) return 0n;
  const d = BigInt.asUintN(64, (BigInt(i.dispHi) << 32n) | BigInt(i.dispLo >>> 0));
  if (!i.ripRelative) return d;
  // the decoder folded next RIP into a RIP-relative displacement; the qualification is the disp32 field itself (28.2.1)
  const next = (BigInt(i.nextHi >>> 0) << 32n) | BigInt(i.nextLo >>> 0);
  return BigInt.asUintN(64, BigInt.asIntN(32, d - next));
}

function linearOf(c: Cpu, i: Insn): bigint {
  if (i.rm >= 0) return 0n;
  effectiveAddress(c, i);
  return (BigInt(c.eaHi >>> 0) << 32n) | BigInt(c.eaLo >>> 0);
}

function readOperand16(c: Cpu, i: Insn): number {
  effectiveAddress(c, i);
  return c.read(c.eaLo, c.eaHi, 2) & 0xffff;
}
