// The machine as a debugger drives it: run a slice and say why it stopped (budget used up,
// breakpoint, an exit the user asked to stop at, shutdown, failure), step one guest
// instruction — across a VM exit, which the VMM answers before the step ends — and hand out a
// side-effect-free view of the guest. The debug adapter only translates these to DAP.

import type { WatchHit, WatchRange } from '../hardware/data-watch';
import { VmxExitInfo } from '../vmx/vcpu';
import { EXIT_REASONS } from '../vmx/definitions';
import { disassembleGuest } from './guest-disassembly';
import { GuestView } from './guest-view';
import { ExitEvent, Machine, RunEnd } from './machine';
import { describeStateWrite, StateWatch, StateWrite, WatchedState } from './state-watch';

/** Why a run slice or a step came back. */
export type DebugStop =
  /** The slice's instruction budget is used up; the guest can go on. */
  | { kind: 'budget' }
  /** One instruction (or the exit it caused, answered by the VMM) is done. */
  | { kind: 'step' }
  /** RIP reached a breakpoint address; the instruction there has not run. */
  | { kind: 'breakpoint' }
  /**
   * An instruction's data access touched a watched guest-physical range; it has completed.
   * `hit`: the access (guest-physical address, size, kind) and the instruction's RIP.
   */
  | { kind: 'watchpoint'; hit?: WatchHit & { rip: bigint } }
  /** A watched MSR or VMCS field was written (src/vmm/state-watch.ts); `descriptions` say by whom, one per write. */
  | { kind: 'state-write'; writes: StateWrite[]; descriptions: string[] }
  /** An exit whose reason is in the filter, stopped before the VMM answers it. */
  | { kind: 'exit'; info: VmxExitInfo }
  | { kind: 'shutdown'; exitCode: number; how: string }
  | { kind: 'error'; message: string; info?: VmxExitInfo };

/**
 * Exits that are not caused by the instruction at RIP (an event arrived, a window opened, a
 * timer expired): the instruction still has to run for a step to be complete (SDM Vol. 3C, 26.2).
 */
const ASYNCHRONOUS_EXITS = new Set(['EXTERNAL_INTERRUPT', 'INTERRUPT_WINDOW', 'NMI_WINDOW', 'PREEMPTION_TIMER', 'MONITOR_TRAP_FLAG', 'INIT', 'SIPI', 'OTHER_SMI']);
const ALL_EXITS: ReadonlySet<string> = new Set(EXIT_REASONS.map((r) => r.name));
/** A step gives up after this many asynchronous exits in a row (a guest flooded by interrupts). */
const MAX_EXITS_PER_STEP = 64;

export class DebugTarget {
  readonly view: GuestView;
  /** The last exit seen, handled or not. */
  lastExit: VmxExitInfo | undefined;
  /** The exit the target is stopped at, not yet answered by the VMM. */
  heldExit: VmxExitInfo | undefined;
  private breakpoints: bigint[] = [];
  private readonly stateWatch: StateWatch;
  /** Who answered the last exit (for saying who wrote a watched field). */
  private lastExitBy = 'vmm';

  constructor(readonly machine: Machine) {
    this.view = new GuestView(machine);
    this.stateWatch = new StateWatch(machine);
  }

  /** Replaces the MSRs and VMCS fields whose writes stop the guest (data breakpoints on them). */
  setStateWatches(watched: readonly WatchedState[]): void {
    this.stateWatch.set(watched);
  }

  /** machine.run, with the MSR/VMCS write watch armed when anything is watched. */
  private runMachine(instructions: number, options: { breakOn?: ReadonlySet<string>; onExit?: (e: ExitEvent) => void }): RunEnd {
    const w = this.stateWatch;
    return w.watching ? w.armedFor(() => this.machine.run(instructions, options)) : this.machine.run(instructions, options);
  }

  /** Replaces the set of instruction addresses (RIP values) where execution stops. */
  setBreakpoints(addresses: Iterable<bigint>): void {
    this.breakpoints = [...new Set(addresses)];
    this.machine.setBreakpoints(this.breakpoints);
  }

  /** Replaces the guest-physical ranges where a read, write or either (`access`, default write) stops the guest. */
  setWatchpoints(ranges: ReadonlyArray<WatchRange>): void {
    this.machine.cpu.setWatchpoints(ranges);
  }

  get breakpointAddresses(): readonly bigint[] {
    return this.breakpoints;
  }

  /**
   * Runs at most `instructions` guest instructions. A breakpoint at the current RIP is not
   * taken (the debugger is resuming from it); an exit held at a stop is answered first.
   */
  run(instructions: number, breakOn: ReadonlySet<string>, onExit?: (e: ExitEvent) => void): DebugStop {
    if (this.heldExit !== undefined) {
      // answering the exit moves RIP (past an OUT, say) to where the guest has not stopped yet:
      // a breakpoint there is taken, not resumed from
      this.heldExit = undefined;
      const answered = this.translate(this.runMachine(0, { onExit: this.watch(onExit) }));
      if (answered.kind !== 'budget') return answered;
      if (this.breakpoints.includes(this.view.register('rip'))) return { kind: 'breakpoint' };
    }
    const end = this.runMachine(instructions, { breakOn, onExit: this.watch(onExit) });
    return this.translate(end);
  }

  /**
   * Executes one guest instruction. An exit it causes is answered by the VMM (or the vCPU)
   * before the step ends, unless its reason is in `breakOn`: then the step stops at the exit.
   * Stepping from a held exit answers that exit and ends there.
   */
  step(breakOn: ReadonlySet<string>, onExit?: (e: ExitEvent) => void): DebugStop {
    const watch = this.watch(onExit);
    if (this.heldExit !== undefined) {
      this.heldExit = undefined;
      return this.translate(this.runMachine(0, { onExit: watch }), 'step');
    }
    for (let n = 0; n < MAX_EXITS_PER_STEP; n++) {
      const end = this.runMachine(1, { breakOn: ALL_EXITS, onExit: watch });
      if (end.kind !== 'break') return this.translate(end, 'step');
      if (breakOn.has(end.info.name)) return this.translate(end);
      // not one the user stops at: let the VMM answer it (run(0) only answers the held exit)
      const after = this.translate(this.runMachine(0, { onExit: watch }), 'step');
      if (after.kind !== 'step' || !ASYNCHRONOUS_EXITS.has(end.info.name)) return after;
    }
    return { kind: 'step' };
  }

  /**
   * Steps until the code the guest is in returns: a RET (or IRET) that leaves RSP above
   * `frameRsp`, the stack pointer when stepping out began. Stops early at a breakpoint or a
   * filtered exit; after `maxInstructions` steps it comes back with 'budget' to be called again.
   */
  stepOut(frameRsp: bigint, maxInstructions: number, breakOn: ReadonlySet<string>, onExit?: (e: ExitEvent) => void): DebugStop {
    const breakpoints = new Set(this.breakpoints);
    for (let n = 0; n < maxInstructions; n++) {
      const returning = this.atReturn();
      const stop = this.step(breakOn, onExit);
      if (stop.kind !== 'step') return stop;
      if (returning && this.view.register('rsp') > frameRsp) return { kind: 'step' };
      if (breakpoints.has(this.view.register('rip'))) return { kind: 'breakpoint' };
    }
    return { kind: 'budget' };
  }

  /** The next instruction is a return: RET near/far (C3, C2 iw, CB, CA iw) or IRET (CF), maybe REX.W- or REP-prefixed (SDM Vol. 2B). */
  private atReturn(): boolean {
    const b = this.view.readLinear(this.view.instructionPointer(), 2);
    const op = (b[0] === 0xf3 || b[0] === 0xf2 || b[0] === 0x48) && b.length > 1 ? b[1] : b[0];
    return op === 0xc3 || op === 0xc2 || op === 0xcb || op === 0xca || op === 0xcf;
  }

  private watch(onExit?: (e: ExitEvent) => void): (e: ExitEvent) => void {
    return (e) => {
      this.lastExit = e.info;
      this.lastExitBy = e.by;
      onExit?.(e);
    };
  }

  /** The mnemonic of the guest instruction at `rip` (CS-relative), for saying which instruction wrote. */
  private mnemonicAt(rip: bigint | undefined): string | undefined {
    if (rip === undefined) return undefined;
    const mode = this.view.decodeMode();
    const linear = mode === 64 ? rip : (this.view.segments()[1].base + rip) & 0xffffffffn;
    return disassembleGuest(this.view, undefined, linear, 0, 1, mode)[0]?.text.split(' ')[0];
  }

  private translate(end: RunEnd, budget: 'budget' | 'step' = 'budget'): DebugStop {
    switch (end.kind) {
      case 'instruction-limit': return { kind: budget };
      case 'break':
        this.heldExit = end.info;
        return { kind: 'exit', info: end.info };
      case 'shutdown': return { kind: 'shutdown', exitCode: end.exitCode, how: end.how };
      case 'error': return end.info === undefined ? { kind: 'error', message: end.message } : { kind: 'error', message: end.message, info: end.info };
      case 'paused':
        // a stop request or HLT without HLT exiting leaves the guest where it is
        if (end.why === 'watchpoint') {
          const hit = this.machine.cpu.lastWatchHit;
          return hit === undefined ? { kind: 'watchpoint' } : { kind: 'watchpoint', hit };
        }
        if (end.why === 'stop' && this.stateWatch.writes.length > 0) {
          const writes = [...this.stateWatch.writes];
          const e = this.lastExit;
          const answering = e === undefined ? undefined : { name: e.name, rip: e.guestRip, by: this.lastExitBy };
          return { kind: 'state-write', writes, descriptions: writes.map((w) => describeStateWrite(w, answering, this.mnemonicAt(w.rip))) };
        }
        return end.why === 'breakpoint' ? { kind: 'breakpoint' } : { kind: budget };
    }
  }
}
