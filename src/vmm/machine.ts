// The machine: one emulated VMX processor, guest RAM identity-mapped by EPT, the PC devices,
// and the VMM's answers to the exits x86_vcpu hands back (x86_vcpu's owner, like axvisor).
//
// Host physical memory: guest RAM at [0, ramBytes), then the host area (the host's own GDT and
// page tables, VMXON region, VMCS, bitmaps, EPT tables, the vCPU's register frame). Every I/O
// port is intercepted, so each guest IN/OUT is an I/O exit the VMM forwards to the device
// model; the devices' interrupt line is the processor's INTR pin, so a timer tick in the
// guest is an EXTERNAL_INTERRUPT exit followed by an injected interrupt.

import { Cpu } from '../hardware/cpu';
import { IoBus } from '../hardware/io-bus';
import { PhysicalMemory } from '../hardware/memory';
import { VmxUnit } from '../hardware/vmx/vmx-unit';
import type { VmxCapabilities } from '../hardware/vmx/capabilities';
import { HostFrames, VcpuExit, VmxExitInfo, VmxVcpu, GuestMode } from '../vmx/vcpu';
import { Platform } from './devices/platform';
import { GuestImage, GuestImageError } from './guest-image';
import { enterLongMode } from './long-mode-setup';
import { Hypercalls } from './hypercalls';
import { buildGuestBootTables } from './guest-boot-tables';
import { emulateStringIo } from './string-io';
import { emulateMmio, MmioBus } from './mmio';
import { Hpet, HPET_BASE, HPET_SIZE } from './devices/hpet';
import { GuestView } from './guest-view';
import { GPR_NAMES } from '../regs';
import { getRflags } from '../hardware/flags';
import { VmxExitReason } from '../vmx/definitions';
import { CpuidOverrides, withCpuidOverrides } from '../hardware/cpuid-overrides';
import { applyMsrOverrides, MsrOverride } from './msr-config';

const MiB = 1 << 20;
/**
 * The VMM's synthetic MSR (in the 40000000H range software reserves for hypervisors, outside
 * both MSR-bitmap ranges, so every access exits): a guest identification word it may write
 * and read back.
 */
export const HV_MSR_GUEST_ID = 0x40000000;
const VMX_INSTRUCTION_EXITS = new Set(['VMCALL', 'VMCLEAR', 'VMLAUNCH', 'VMPTRLD', 'VMPTRST', 'VMREAD', 'VMRESUME', 'VMWRITE', 'VMOFF', 'VMON', 'INVEPT', 'INVVPID', 'VMFUNC']);
/** Size of the host area above guest RAM. */
const HOST_AREA = 16 * MiB;

export interface MachineOptions {
  /** Guest RAM in MiB (1-4096). */
  memoryMiB?: number;
  /**
   * The processor's VMX capabilities (IA32_VMX_* MSRs); default: everything the core implements.
   * A launch configuration narrows them with `withoutControls` (src/hardware/vmx/capabilities.ts).
   */
  vmxCapabilities?: VmxCapabilities;
  /** Changes to what CPUID reports, to the processor and the guest alike (src/vmm/cpuid-config.ts). */
  cpuid?: CpuidOverrides;
  /** The guest's MSRs as it starts, written at each `start` (src/vmm/msr-config.ts). */
  msrs?: readonly MsrOverride[];
  /** Every byte the guest writes to COM1 (or through the console hypercall). */
  console?: (bytes: Uint8Array) => void;
  instructionsPerPitTick?: number;
}

/** Why a run ended. */
export type RunEnd =
  | { kind: 'shutdown'; exitCode: number; how: string }
  | { kind: 'instruction-limit' }
  | { kind: 'break'; info: VmxExitInfo }
  | { kind: 'error'; message: string; info?: VmxExitInfo }
  | { kind: 'paused'; why: 'budget' | 'breakpoint' | 'stop' | 'halt' | 'watchpoint' };

/** One exit as the run reports it. */
export interface ExitEvent {
  info: VmxExitInfo;
  /** Handled inside the vCPU (x86_vcpu's builtin handler) or by the VMM. */
  by: 'vcpu' | 'vmm';
}

export class Machine {
  readonly mem: PhysicalMemory;
  readonly cpu: Cpu;
  readonly vmx: VmxUnit;
  readonly vcpu: VmxVcpu;
  readonly devices: Platform;
  readonly ramBytes: number;
  readonly hypercalls: Hypercalls;
  /** Memory-mapped devices in the guest-physical holes EPT leaves unmapped (the HPET). */
  readonly mmio = new MmioBus();
  private readonly guestView: GuestView;
  private readonly deviceBus = new IoBus();
  private nextFrame: number;
  private readonly eptRoot: number;
  private shutdown: { exitCode: number; how: string } | undefined;
  private guestHalted = false;
  private breakpointCount = 0;
  /** Set by requestPause: the run ends at its next check (see there). */
  private pauseRequested = false;
  /**
   * An exit the run stopped at (--break-on) that nobody has answered yet; without `exit` the
   * vCPU has not looked at it either (its builtin handlers run when the run resumes).
   */
  private heldExit: { info: VmxExitInfo; exit?: VcpuExit } | undefined;
  image: GuestImage | undefined;
  private readonly hypervisorMsrs = { guestId: 0n };
  private readonly initialMsrs: readonly MsrOverride[];
  /** Exits by basic reason number since the machine was made, and each reason's name in the order first seen. */
  private readonly exitsByReason = new Float64Array(0x10000);
  private readonly exitNames: Array<[number, string]> = [];

  /** Counts of exits by reason name, since the machine was made (in the order each reason first happened). */
  get exitCounts(): ReadonlyMap<string, number> {
    return new Map(this.exitNames.map(([reason, name]) => [name, this.exitsByReason[reason]]));
  }

  constructor(options: MachineOptions = {}) {
    const mib = options.memoryMiB ?? 64;
    if (!Number.isInteger(mib) || mib < 1 || mib > 4096) throw new RangeError(`guest memory must be 1-4096 MiB, not ${mib}`);
    this.ramBytes = mib * MiB;
    this.mem = new PhysicalMemory(this.ramBytes + HOST_AREA);
    const io = new IoBus();
    this.cpu = new Cpu(this.mem, io);
    // the host: 64-bit mode with its own tables in the host area, as a hypervisor kernel runs
    const hostBase = this.ramBytes;
    enterLongMode(this.cpu, { gdt: hostBase, pml4: hostBase + 0x1000, cpl: 0, gib: Math.ceil((this.ramBytes + HOST_AREA) / 2 ** 30) });
    this.nextFrame = hostBase + 0x4000;
    this.vmx = new VmxUnit(this.cpu, options.vmxCapabilities);
    const frames: HostFrames = { allocFrame: () => this.allocFrame() };
    VmxVcpu.enableVmx(this.vmx, frames);
    this.vcpu = new VmxVcpu(this.vmx, frames);
    this.vcpu.bindToCurrentProcessor();
    if (options.cpuid !== undefined) {
      this.cpu.cpuidTable = withCpuidOverrides(this.cpu.cpuidTable, options.cpuid);
      this.vcpu.cpuidOverrides = options.cpuid;
    }
    this.initialMsrs = options.msrs ?? [];
    this.eptRoot = this.buildEpt();
    const out = options.console ?? (() => undefined);
    this.devices = new Platform(this.deviceBus, {
      com1Output: (b) => out(Uint8Array.of(b)),
      onShutdown: (e) => { this.shutdown = { exitCode: e.exitCode, how: e.reason }; },
      instructionsPerPitTick: options.instructionsPerPitTick,
      clock: () => this.cpu.icount,
    });
    const pic = this.devices.pic;
    this.cpu.interruptController = { hasInterrupt: () => pic.pendingVector() >= 0, acknowledge: () => pic.acknowledge() };
    this.hypercalls = new Hypercalls(this, out);
    // the HPET sits in the hole below 4 GiB; a guest with RAM up to there has none
    if (this.ramBytes <= HPET_BASE) this.mmio.map(HPET_BASE, HPET_SIZE, new Hpet(() => this.cpu.icount));
    this.guestView = new GuestView(this);
  }

  private allocFrame(): number {
    const f = this.nextFrame;
    if (f + 0x1000 > this.ramBytes + HOST_AREA) throw new Error('the host area is full');
    this.nextFrame += 0x1000;
    for (let k = 0; k < 0x1000; k += 4) this.mem.write(f + k, 4, 0);
    return f;
  }

  /** EPT identity map of guest RAM with 2-MiB pages (the last partial one with 4-KiB pages). */
  private buildEpt(): number {
    const root = this.allocFrame();
    const tables = new Map<string, number>();
    const table = (key: string, parent: number, index: number): number => {
      let t = tables.get(key);
      if (t === undefined) {
        t = this.allocFrame();
        tables.set(key, t);
        this.mem.write(parent + 8 * index, 4, (t | 7) >>> 0);
        this.mem.write(parent + 8 * index + 4, 4, Math.floor(t / 2 ** 32));
      }
      return t;
    };
    for (let gpa = 0; gpa < this.ramBytes; gpa += 2 * MiB) {
      const pdpt = table(`pdpt${Math.floor(gpa / 2 ** 39)}`, root, Math.floor(gpa / 2 ** 39) & 511);
      const pd = table(`pd${Math.floor(gpa / 2 ** 30)}`, pdpt, Math.floor(gpa / 2 ** 30) & 511);
      const at = pd + 8 * (Math.floor(gpa / (2 * MiB)) & 511);
      if (gpa + 2 * MiB <= this.ramBytes) {
        this.mem.write(at, 4, (gpa % 2 ** 32 | 0x80 | 6 << 3 | 7) >>> 0);
        this.mem.write(at + 4, 4, Math.floor(gpa / 2 ** 32));
      } else {
        const pt = table(`pt${gpa}`, pd, Math.floor(gpa / (2 * MiB)) & 511);
        for (let p = gpa; p < this.ramBytes; p += 0x1000) this.mem.write(pt + 8 * ((p / 0x1000) & 511), 4, (p | 6 << 3 | 7) >>> 0);
      }
    }
    return root;
  }

  /** Loads a guest image into guest RAM; every segment must lie inside it. */
  load(image: GuestImage): void {
    image.segments.forEach((s, i) => {
      if (s.physicalAddress + s.memorySize > BigInt(this.ramBytes)) {
        throw new GuestImageError(`segment ${i} (physical 0x${s.physicalAddress.toString(16)}-0x${(s.physicalAddress + s.memorySize).toString(16)}) lies beyond the guest's ${this.ramBytes / MiB} MiB of RAM`);
      }
    });
    image.loadInto(this.mem);
    this.image = image;
  }

  /**
   * Prepares the vCPU to start at `entry` in `mode`: real mode at 0000:entry (entry below
   * 64 KiB, as x86_vcpu starts guests), or protected/long mode with the tables of
   * guest-boot-tables.ts placed at the top of guest RAM. Then the configured MSR values are
   * written (a MachineConfigError names the one refused).
   */
  start(entry: bigint, mode: GuestMode): void {
    for (let p = 0; p < 0x10000; p++) this.vcpu.setIoInterceptOfRange(p, 1, true);
    if (mode === 'real') {
      if (entry > 0xffffn) throw new RangeError(`a real-mode entry must be below 64 KiB (0000:entry), not 0x${entry.toString(16)}; use --mode protected or long`);
      this.vcpu.setup(entry, this.eptRoot, 'real');
    } else {
      const boot = buildGuestBootTables(this.mem, this.ramBytes);
      this.vcpu.setup(entry, this.eptRoot, mode, { longModePml4: boot.pml4, gdt: boot.gdt, stack: BigInt(boot.stackTop) });
    }
    // the launch configuration's MSR values, on the guest state the setup just made
    applyMsrOverrides(this, this.initialMsrs);
  }

  /**
   * Runs the guest until it shuts down, `maxInstructions` are retired, an exit whose reason is
   * in `breakOn` happens, or something stops it. `onExit` sees every exit as it happens.
   */
  run(maxInstructions: number, options: { breakOn?: ReadonlySet<string>; onExit?: (e: ExitEvent) => void } = {}): RunEnd {
    const limit = this.cpu.icount + maxInstructions;
    this.pauseRequested = false;
    // the caller may have changed guest memory since the last run (paging structures included):
    // the guest sees that as if every VM entry dropped its cached translations
    this.vcpu.invalidateTranslations();
    const held = this.heldExit;
    if (held !== undefined) {
      // the exit a break stopped at is answered when the run resumes
      this.heldExit = undefined;
      const r = held.exit === undefined ? this.vcpu.handleDeferred(held.info) : { kind: 'exit' as const, info: held.info, exit: held.exit };
      const problem = r.kind === 'exit' ? this.handle(r.info, r.exit) : undefined;
      if (problem !== undefined) return { kind: 'error', message: problem, info: held.info };
    }
    while (this.shutdown === undefined) {
      if (this.pauseRequested) { this.pauseRequested = false; return { kind: 'paused', why: 'stop' }; }
      if (this.cpu.icount >= limit) return { kind: 'instruction-limit' };
      this.devices.advanceTo(this.cpu.icount);
      if (this.guestHalted) {
        const woke = this.waitForInterrupt(limit);
        if (woke !== undefined) return woke;
        continue;
      }
      const next = Math.min(limit, this.devices.nextEventAt());
      const budget = Math.max(1, next - this.cpu.icount);
      const r = this.vcpu.run(budget, options.breakOn);
      if (r.kind === 'paused') {
        if (r.why === 'budget') continue;
        return { kind: 'paused', why: r.why };
      }
      this.count(r.info);
      if (options.onExit !== undefined) {
        const by = r.kind === 'handled' || (r.kind === 'deferred' && this.vcpu.handlesItself(r.info.reason)) ? 'vcpu' : 'vmm';
        options.onExit({ info: r.info, by });
        // the hook is host code too, and may have changed guest memory
        this.vcpu.invalidateTranslations();
      }
      if (r.kind === 'deferred') {
        // stopped before anyone answers it, so its state can be looked at (and changed)
        this.heldExit = { info: r.info };
        return { kind: 'break', info: r.info };
      }
      if (options.breakOn?.has(r.info.name) === true) {
        // an exit the vCPU reported without running the guest (a VM-entry failure)
        if (r.kind === 'exit') this.heldExit = { info: r.info, exit: r.exit };
        return { kind: 'break', info: r.info };
      }
      if (r.kind === 'exit') {
        const problem = this.handle(r.info, r.exit);
        if (problem !== undefined) return { kind: 'error', message: problem, info: r.info };
      }
      // the processor does not stop at a breakpoint on the first instruction after an entry
      // (it takes that for resuming from one), so one right after an exit is checked here
      if (this.breakpointCount > 0 && this.shutdown === undefined && this.cpu.icount < limit) {
        const rip = this.vcpu.vmcs.read('GUEST_RIP');
        if (this.cpu.hasBreakpointAt(Number(rip & 0xffffffffn) | 0, Number(rip >> 32n) | 0)) return { kind: 'paused', why: 'breakpoint' };
      }
    }
    return { kind: 'shutdown', exitCode: this.shutdown.exitCode, how: this.shutdown.how };
  }

  private count(info: VmxExitInfo): void {
    if (this.exitsByReason[info.reason]++ === 0) this.exitNames.push([info.reason, info.name]);
  }

  /** The guest executed HLT: time jumps to the next device event, whose interrupt wakes it. */
  private waitForInterrupt(limit: number): RunEnd | undefined {
    const pic = this.devices.pic;
    if (pic.pendingVector() >= 0) {
      this.vcpu.queueEvent(pic.acknowledge());
      this.guestHalted = false;
      return undefined;
    }
    const next = this.devices.nextEventAt();
    if (next === Infinity) return { kind: 'error', message: 'the guest halted with no interrupt that could wake it (HLT with no timer running)' };
    if (next >= limit) { this.cpu.icount = limit; return { kind: 'instruction-limit' }; }
    this.cpu.icount = Math.max(this.cpu.icount, next);
    return undefined;
  }

  /** The VMM's side of an exit; returns a problem that ends the run. */
  private handle(info: VmxExitInfo, exit: VcpuExit): string | undefined {
    const vcpu = this.vcpu;
    switch (exit.kind) {
      case 'io-read': case 'io-write': {
        if (exit.string) {
          const done = emulateStringIo(this.guestView, vcpu.regsImage, this.deviceBus, { input: exit.kind === 'io-read', port: exit.port, width: exit.width });
          if (done.kind === 'error') return done.message;
          if (done.kind === 'done') vcpu.advanceRip(info.instructionLength);
          return undefined;
        }
        if (exit.kind === 'io-read') vcpu.completeIoRead(info, exit.width, this.deviceBus.read(exit.port, exit.width));
        else {
          this.deviceBus.write(exit.port, exit.width, exit.data);
          vcpu.advanceRip(info.instructionLength);
        }
        return undefined;
      }
      case 'hypercall': return this.hypercalls.handle(info, exit.nr, exit.args);
      case 'msr-read': case 'msr-write': {
        // MSRs outside the bitmaps' ranges always exit: the VMM's own are answered, others #GP
        const own = this.hypervisorMsrs;
        if (exit.msr === HV_MSR_GUEST_ID) {
          if (exit.kind === 'msr-read') vcpu.completeMsrRead(info, own.guestId);
          else { own.guestId = exit.value; vcpu.advanceRip(info.instructionLength); }
        } else {
          vcpu.queueEvent(13, 0);
        }
        return undefined;
      }
      case 'external-interrupt':
        vcpu.queueEvent(exit.vector);
        return undefined;
      case 'halt':
        vcpu.advanceRip(info.instructionLength);
        this.guestHalted = true;
        return undefined;
      case 'nested-page-fault': {
        const window = this.mmio.find(Number(exit.gpa));
        if (window === undefined) return `the guest accessed guest-physical 0x${exit.gpa.toString(16)} (${exit.access}), outside its RAM and every device`;
        // an MMIO access: decode the instruction at guest RIP and carry it out on the device
        const view = this.guestView;
        const code = view.readLinear(view.instructionPointer(), 15);
        const regs = this.vcpu.regsImage;
        const length = emulateMmio(code, view.decodeMode(), Number(exit.gpa), window, {
          get: (k) => (k === 4 ? view.register('rsp') : regs.getRegOfIndex(k)),
          set: (k, value) => { if (k === 4) view.setRegister('rsp', value); else regs.setRegOfIndex(k, value); },
        });
        if (typeof length === 'string') return `${window.device.name} at guest-physical 0x${exit.gpa.toString(16)}: ${length}`;
        vcpu.advanceRip(length);
        return undefined;
      }
      case 'system-down': return `the guest went down: ${exit.why}`;
      case 'entry-failure': return `VM entry failed: ${exit.detail}`;
      case 'exception': return `unexpected exception ${exit.vector} in the guest`;
      case 'unhandled':
        // the guest tried VMX itself: this VMM offers no nested VMX, so it is #UD as on a CPU without VMX
        if (VMX_INSTRUCTION_EXITS.has(info.name)) { vcpu.queueEvent(6); return undefined; }
        // INVD exits unconditionally; no caches are modelled, so there is nothing to discard (KVM skips it too)
        if (info.reason === VmxExitReason.INVD.number) { vcpu.advanceRip(info.instructionLength); return undefined; }
        return `exit reason ${info.name} (${info.reason}) is not handled by the VMM`;
    }
  }

  /**
   * The guest's registers as the VMCS and the register frame hold them (or the processor, while
   * the guest runs): GPRs, RIP, RFLAGS, CR0, CR3, CR4 and EFER.
   */
  guestRegisters(): Record<string, bigint> {
    const out: Record<string, bigint> = {};
    const c = this.cpu, running = this.vcpu.running, v = this.vcpu.vmcs;
    GPR_NAMES.forEach((name, k) => {
      out[name] = running ? c.getReg(k) : k === 4 ? v.read('GUEST_RSP') : this.vcpu.regsImage.getRegOfIndex(k);
    });
    out.rip = running ? c.rip : v.read('GUEST_RIP');
    out.rflags = running ? BigInt(getRflags(c) >>> 0) : v.read('GUEST_RFLAGS');
    out.cr0 = running ? BigInt(c.cr0) : v.read('GUEST_CR0');
    out.cr3 = running ? c.cr3 : v.read('GUEST_CR3');
    out.cr4 = running ? BigInt(c.cr4) : v.read('GUEST_CR4');
    out.efer = running ? BigInt(c.efer) : v.read('GUEST_IA32_EFER');
    return out;
  }

  /** Instruction addresses (RIP values) where a run stops before executing the instruction. */
  setBreakpoints(addresses: readonly bigint[]): void {
    this.cpu.setBreakpoints(addresses);
    this.breakpointCount = addresses.length;
  }

  /**
   * Ends the current run with `paused` ('stop'): after the guest instruction running now, or
   * after the exit being answered now (before the next VM entry). For observers called from
   * inside a run (a debugger's MSR and VMCS write watches).
   */
  requestPause(): void {
    this.pauseRequested = true;
    // the block ends after the running instruction, the run at the next block boundary
    this.cpu.stopBlock = true;
    this.cpu.requestStop();
  }

  /** Ends the run at the next check, as a power-off with `exitCode` (the exit hypercall). */
  requestShutdown(exitCode: number, how: string): void {
    this.shutdown = { exitCode, how };
  }
}
