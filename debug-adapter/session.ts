// One debug session: DAP requests in, events out, over the engine's debugging API
// (src/vmm/debug-target.ts). It translates and keeps the session's bookkeeping (breakpoints,
// exit filters, variable references); every question about the guest goes to the engine.
// A `continue` runs the guest in slices and yields to the event loop between them, so `pause`
// and every other request are answered while the guest runs.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Breakpoint, BreakpointEvent, DebugSession, ExitedEvent, InitializedEvent, InvalidatedEvent, OutputEvent, Source, StackFrame, StoppedEvent, TerminatedEvent, Thread,
} from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { hex } from '../src/format';
import { msrByName } from '../src/msr';
import { RFLAGS_FIELDS } from '../src/rflags';
import { DebugStop, DebugTarget } from '../src/vmm/debug-target';
import { evaluate, ExpressionError } from '../src/vmm/expression';
import { walkFrames } from '../src/vmm/frame-chain';
import { disassembleGuest } from '../src/vmm/guest-disassembly';
import { ControlRegisterName, GuestEditor } from '../src/vmm/guest-edit';
import { GuestExpressionEnvironment } from '../src/vmm/guest-expression';
import { GuestImage, loadGuestImage, looksLikeElf } from '../src/vmm/guest-image';
import { GuestViewError } from '../src/vmm/guest-view';
import { StopCondition, StopConditionError, Verdict } from '../src/vmm/stop-condition';
import { Machine } from '../src/vmm/machine';
import { PRODUCIBLE_EXIT_REASONS } from '../src/vmm/producible-exits';
import { exitReasonByName } from '../src/vmx/definitions';
import { describeExitQualification } from '../src/vmx/exit-qualification';
import type { VmxExitInfo } from '../src/vmx/vcpu';
import { BreakpointBook } from './breakpoints';
import { ANY_EXIT_FILTER, ExitBreakChoices, ExitBreakError } from './exit-breaks';
import { EXIT_STATS, ExitStatsReporter, SET_EXIT_BREAK } from './exit-stats';
import { SliceBudget } from './slice-budget';
import { LaunchConfig, LaunchError, parseLaunchArguments } from './launch-config';
import { SCOPE_MSRS, SCOPE_REGISTERS, SCOPE_SEGMENTS, SCOPE_VMCS, VariableStore } from './variables';

/** What the Breakpoints view shows as the hint for an exit filter's condition. */
const EXIT_CONDITION_HINT = 'e.g. port == 0x3f8 && !in, ecx == 0xc0000080, gpa >= 0xfed00000';
/** The exception-filter id that stops at every VM exit. */
export { ANY_EXIT_FILTER };
/** A step by source line gives up after this many instructions on one line (a tight loop). */
const MAX_LINE_STEPS = 100_000;
/** Instructions per slice of a step out (each is a single step, so fewer than a continue's). */
const STEP_OUT_SLICE = 20_000;
const THREAD_ID = 1;
const CONTROL_REGISTERS: readonly string[] = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8'];

/** A request that makes no sense now or names something that does not exist. */
class RequestError extends Error {}


export class VmxDebugSession extends DebugSession {
  private config: LaunchConfig | undefined;
  private image: GuestImage | undefined;
  private target: DebugTarget | undefined;
  private configured = false;
  private running = false;
  private pauseRequested = false;
  private timer: NodeJS.Immediate | undefined;
  private consoleText = '';
  private readonly variables = new VariableStore();
  /** Exit reasons to stop at: from setExceptionBreakpoints and launch's breakOnExits. */
  private filterExits = new Set<string>();
  /** Conditions of the exit filters that have one, by exit reason (several filters can cover one reason). */
  private exitConditions = new Map<string, StopCondition[]>();
  private readonly breakpoints = new BreakpointBook();
  /** The client understands `invalidated` events (it refreshes what a change affects). */
  private clientInvalidates = false;
  /** Why the guest stopped last, for exceptionInfo. */
  private lastStop: DebugStop | undefined;
  /** Exit reasons ticked or cleared in the VM exits view (vmxSetExitBreak), over the Breakpoints view's filters. */
  private readonly exitChoices = new ExitBreakChoices();
  /** Instructions per slice of a `continue`, sized to a few milliseconds of emulation. */
  private readonly sliceBudget = new SliceBudget();
  /** The VM exits view's counts and last exit (vmxExitStats). */
  private readonly exitStats = new ExitStatsReporter({
    target: () => this.target, running: () => this.running, breakOn: () => this.filterExits, chosenInView: () => this.exitChoices.choices(),
  }, (e) => this.sendEvent(e));

  constructor(linesAndColumnsStartAt1?: boolean, isServer?: boolean) {
    super(linesAndColumnsStartAt1, isServer);
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
  }

  // ---- lifecycle ------------------------------------------------------------------------

  protected initializeRequest(response: DebugProtocol.InitializeResponse, args: DebugProtocol.InitializeRequestArguments): void {
    this.clientInvalidates = args.supportsInvalidatedEvent === true;
    response.body = {
      supportsConfigurationDoneRequest: true,
      supportsFunctionBreakpoints: true,
      supportsInstructionBreakpoints: true,
      supportsExceptionInfoRequest: true,
      supportsExceptionFilterOptions: true,
      supportsConditionalBreakpoints: true,
      supportsHitConditionalBreakpoints: true,
      supportsLogPoints: true,
      supportsWriteMemoryRequest: true,
      supportsDataBreakpoints: true,
      supportsDisassembleRequest: true,
      supportsReadMemoryRequest: true,
      supportsSteppingGranularity: true,
      supportsSetVariable: true,
      supportsEvaluateForHovers: true,
      supportsRestartRequest: true,
      supportsTerminateRequest: true,
      exceptionBreakpointFilters: [
        { filter: ANY_EXIT_FILTER, label: 'Any VM exit', description: 'Stop at every VM exit, before it is handled', default: false, supportsCondition: true, conditionDescription: EXIT_CONDITION_HINT },
        ...PRODUCIBLE_EXIT_REASONS.map((name) => {
          const r = exitReasonByName(name);
          return {
            filter: name, label: name, description: r === undefined ? name : `${r.description} (exit reason ${r.number})`, default: false,
            supportsCondition: true, conditionDescription: EXIT_CONDITION_HINT,
          };
        }),
      ],
    };
    this.sendResponse(response);
  }

  protected launchRequest(response: DebugProtocol.LaunchResponse, args: DebugProtocol.LaunchRequestArguments): void {
    this.answer(response, () => {
      if (this.target !== undefined) throw new RequestError('a guest is already launched in this session');
      const config = parseLaunchArguments(args);
      this.boot(config);
      this.sendEvent(new InitializedEvent());
    });
  }

  /** Loads the guest into a fresh machine; throws LaunchError naming the attribute at fault. */
  private boot(config: LaunchConfig): void {
    const bytes = new Uint8Array(fs.readFileSync(config.program));
    if (!looksLikeElf(bytes) && config.loadAddress === undefined) {
      throw new LaunchError('loadAddress', `'${config.program}' is not an ELF file, so it is loaded as a flat binary: give its load address`);
    }
    let image: GuestImage;
    try {
      image = loadGuestImage(bytes, config.loadAddress === undefined ? undefined : { loadAddress: config.loadAddress, entry: config.entry });
    } catch (e) {
      throw new LaunchError(config.loadAddress === undefined ? 'program' : 'loadAddress', (e as Error).message);
    }
    const machine = new Machine({ memoryMiB: config.memoryMB, console: (b) => { this.consoleText += Buffer.from(b).toString('latin1'); } });
    try {
      machine.load(image);
    } catch (e) {
      throw new LaunchError('memoryMB', (e as Error).message);
    }
    try {
      machine.start(config.entry ?? image.entryPhysical, config.mode);
    } catch (e) {
      throw new LaunchError(config.entry === undefined ? 'mode' : 'entry', (e as Error).message);
    }
    this.config = config;
    this.image = image;
    this.target = new DebugTarget(machine);
    this.exitStats.reset();
    for (const name of config.breakOnExits) this.filterExits.add(name);
    for (const bp of this.breakpoints.useImage(image, config.program)) this.sendEvent(new BreakpointEvent('changed', bp as Breakpoint));
    this.applyBreakpoints();
  }

  protected configurationDoneRequest(response: DebugProtocol.ConfigurationDoneResponse): void {
    this.sendResponse(response);
    this.configured = true;
    this.begin();
  }

  /** After configuration (or a restart): stop at the entry or run. */
  private begin(): void {
    if (this.target === undefined || !this.configured) return;
    if (this.config?.stopOnEntry === true) {
      this.lastStop = undefined;
      this.exitStats.report();
      this.sendEvent(new StoppedEvent('entry', THREAD_ID));
    } else {
      this.resume();
    }
  }

  protected restartRequest(response: DebugProtocol.RestartResponse, args: DebugProtocol.RestartArguments): void {
    this.answer(response, () => {
      const config = args.arguments !== undefined ? parseLaunchArguments(args.arguments) : this.config;
      if (config === undefined) throw new RequestError('nothing to restart: no guest was launched');
      this.halt();
      this.target = undefined;
      this.filterExits = new Set([...this.filterExits].filter((n) => !(this.config?.breakOnExits ?? []).includes(n)));
      this.boot(config);
    });
    if (response.success) this.begin();
  }

  protected terminateRequest(response: DebugProtocol.TerminateResponse): void {
    this.halt();
    this.target = undefined;
    this.sendResponse(response);
    this.sendEvent(new TerminatedEvent());
  }

  protected disconnectRequest(response: DebugProtocol.DisconnectResponse, args: DebugProtocol.DisconnectArguments, request?: DebugProtocol.Request): void {
    this.halt();
    this.target = undefined;
    super.disconnectRequest(response, args, request);
  }

  /** Stops a running slice loop. */
  private halt(): void {
    if (this.timer !== undefined) clearImmediate(this.timer);
    this.timer = undefined;
    this.running = false;
    this.pauseRequested = false;
  }

  // ---- running --------------------------------------------------------------------------

  protected threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    response.body = { threads: [new Thread(THREAD_ID, 'vCPU 0')] };
    this.sendResponse(response);
  }

  protected continueRequest(response: DebugProtocol.ContinueResponse): void {
    this.answer(response, () => {
      this.stoppedTarget();
      response.body = { allThreadsContinued: true };
    });
    if (response.success) this.resume();
  }

  protected pauseRequest(response: DebugProtocol.PauseResponse): void {
    this.answer(response, () => {
      if (!this.running) throw new RequestError('the guest is not running');
      this.pauseRequested = true;
    });
  }

  protected nextRequest(response: DebugProtocol.NextResponse, args: DebugProtocol.NextArguments): void {
    if (args.granularity === 'instruction' || !this.hasLineAtIp()) this.stepOne(response);
    else this.stepLine(response, true);
  }

  protected stepInRequest(response: DebugProtocol.StepInResponse, args: DebugProtocol.StepInArguments): void {
    if (args.granularity === 'instruction' || !this.hasLineAtIp()) this.stepOne(response);
    else this.stepLine(response, false);
  }

  /** Runs until the code the guest is in returns (a RET that pops above the current stack), in slices. */
  protected stepOutRequest(response: DebugProtocol.StepOutResponse): void {
    let frameRsp = 0n;
    this.answer(response, () => {
      frameRsp = this.stoppedTarget().view.register('rsp');
    });
    if (!response.success) return;
    this.runSlices((target) => {
      const stop = target.stepOut(frameRsp, STEP_OUT_SLICE, this.filterExits, this.exitLogger());
      return stop.kind !== 'budget' && !this.stops(stop, target) ? { kind: 'budget' } : stop;
    });
  }

  /** One guest instruction, then a `stopped` event. */
  private stepOne(response: DebugProtocol.Response): void {
    let stop: DebugStop | undefined;
    this.answer(response, () => {
      const target = this.stoppedTarget();
      this.variables.reset();
      stop = this.stepJudged(target);
    });
    if (stop !== undefined) this.report(stop, 'step');
  }

  /** One step; a filtered exit whose condition does not hold is answered and the step ends after it. */
  private stepJudged(target: DebugTarget): DebugStop {
    const stop = target.step(this.filterExits, this.exitLogger());
    return stop.kind === 'exit' && !this.stops(stop, target) ? target.step(this.filterExits, this.exitLogger()) : stop;
  }

  /**
   * Whether a breakpoint or filtered exit the engine came back with really stops the guest: the
   * conditions, hit counts and logpoints of what is placed there decide (any one that stops,
   * stops). Log lines and condition errors go to the Debug Console.
   */
  private stops(stop: DebugStop, target: DebugTarget): boolean {
    let verdicts: Verdict[];
    if (stop.kind === 'breakpoint') {
      const placed = this.breakpoints.at(target.view.register('rip'));
      if (placed.length === 0) return true;
      const env = this.environment(target, target.lastExit);
      verdicts = placed.map((b) => b.condition.judge(env));
    } else if (stop.kind === 'exit') {
      const conditions = this.exitConditions.get(stop.info.name);
      if (conditions === undefined) return true;
      const env = this.environment(target, stop.info);
      verdicts = conditions.map((c) => c.judge(env));
    } else {
      return true;
    }
    this.flushConsole();
    for (const v of verdicts) {
      if (!v.stop && v.log !== undefined) this.sendEvent(new OutputEvent(`${v.log}\n`, 'console'));
      if (v.stop && v.error !== undefined) this.sendEvent(new OutputEvent(`${v.error}\n`, 'stderr'));
    }
    return verdicts.some((v) => v.stop);
  }

  /** Whether the line table knows the current instruction (then steps go by source line). */
  private hasLineAtIp(): boolean {
    const t = this.target;
    return t !== undefined && !this.running && this.image?.lines.lookup(t.view.instructionPointer()) !== undefined;
  }

  /**
   * Steps instructions until the source line changes. `over`: a CALL on the way runs to its
   * return (the instruction after it, with the stack back where it was), in slices like continue.
   */
  private stepLine(response: DebugProtocol.Response, over: boolean): void {
    let stop: DebugStop | undefined;
    let untilReturn: { address: bigint; rsp: bigint } | undefined;
    this.answer(response, () => {
      const target = this.stoppedTarget();
      this.variables.reset();
      const lines = this.image?.lines;
      const start = lines?.lookup(target.view.instructionPointer());
      for (let n = 0; n < MAX_LINE_STEPS; n++) {
        const ip = target.view.instructionPointer();
        if (over) {
          const insn = disassembleGuest(target.view, this.image, ip, 0, 1, target.view.decodeMode())[0];
          if (insn !== undefined && /^call\b/.test(insn.text)) {
            untilReturn = { address: target.view.register('rip') + BigInt(insn.length), rsp: target.view.register('rsp') };
            return;
          }
        }
        stop = this.stepJudged(target);
        if (stop.kind !== 'step') return;
        const now = lines?.lookup(target.view.instructionPointer());
        if (now === undefined || start === undefined || now.line !== start.line || now.file !== start.file) return;
      }
    });
    if (untilReturn !== undefined) this.resume(untilReturn);
    else if (stop !== undefined) this.report(stop, 'step');
  }

  /** Runs in slices; with `untilReturn`, a stop at that address with the stack back at `rsp` ends a step over a call. */
  private resume(untilReturn?: { address: bigint; rsp: bigint }): void {
    const target = this.target;
    if (target === undefined) return;
    if (untilReturn !== undefined) target.setBreakpoints([...target.breakpointAddresses, untilReturn.address]);
    this.runSlices((t) => {
      const stop = t.run(this.sliceBudget.start(), this.filterExits, this.exitLogger());
      this.sliceBudget.done();
      if (stop.kind === 'breakpoint' && untilReturn !== undefined && t.view.register('rip') === untilReturn.address) {
        // the call returned; a deeper pass through the same address (recursion) runs on
        if (t.view.register('rsp') >= untilReturn.rsp) return { kind: 'step' };
        if (this.breakpoints.idsAt(untilReturn.address).length === 0) return { kind: 'budget' };
      }
      // a breakpoint or exit whose condition does not hold: on with the next slice
      return this.stops(stop, t) ? stop : { kind: 'budget' };
    }, () => { if (untilReturn !== undefined) this.applyBreakpoints(); });
  }

  /**
   * Calls `slice` from the event loop until it returns something other than 'budget' or a pause
   * is asked for, then reports the stop (`done` first). Between slices every request is answered.
   */
  private runSlices(slice: (target: DebugTarget) => DebugStop, done?: () => void): void {
    const target = this.target;
    if (target === undefined) return;
    this.running = true;
    this.pauseRequested = false;
    this.variables.reset();
    const next = (): void => {
      this.timer = undefined;
      if (this.target !== target || !this.running) return;
      if (this.pauseRequested) {
        done?.();
        this.report({ kind: 'budget' }, 'pause');
        return;
      }
      const stop = slice(target);
      if (stop.kind === 'budget') {
        this.flushConsole();
        this.exitStats.whileRunning();
        this.timer = setImmediate(next);
        return;
      }
      done?.();
      this.report(stop, 'step');
    };
    this.timer = setImmediate(next);
  }

  private exitLogger(): ((e: { info: VmxExitInfo; by: string }) => void) | undefined {
    if (this.config?.logExits !== true) return undefined;
    return ({ info, by }) => {
      this.flushConsole();
      const what = describeExitQualification(info.reason, info.qualification, info.interruptionInfo, info.guestLinear);
      this.sendEvent(new OutputEvent(`exit ${info.name} (${info.reason}) rip=${hex(info.guestRip)}${what === '' ? '' : ` ${what}`} [${by}]\n`, 'console'));
    };
  }

  private flushConsole(): void {
    if (this.consoleText === '') return;
    this.sendEvent(new OutputEvent(this.consoleText, 'stdout'));
    this.consoleText = '';
  }

  /** Turns where the engine stopped into DAP events. */
  private report(stop: DebugStop, budgetReason: 'step' | 'pause'): void {
    this.running = false;
    this.pauseRequested = false;
    this.flushConsole();
    this.lastStop = stop;
    if (stop.kind === 'shutdown') this.exitStats.keepFinal();
    this.exitStats.report();
    switch (stop.kind) {
      case 'budget': case 'step':
        this.sendEvent(new StoppedEvent(stop.kind === 'step' ? 'step' : budgetReason, THREAD_ID));
        return;
      case 'breakpoint': {
        const rip = this.target?.view.register('rip') ?? 0n;
        const event: DebugProtocol.StoppedEvent = new StoppedEvent(this.breakpoints.kindAt(rip), THREAD_ID);
        event.body.hitBreakpointIds = this.breakpoints.idsAt(rip);
        this.sendEvent(event);
        return;
      }
      case 'watchpoint': {
        const event: DebugProtocol.StoppedEvent = new StoppedEvent('data breakpoint', THREAD_ID);
        event.body.hitBreakpointIds = this.dataBreakpointIds;
        this.sendEvent(event);
        return;
      }
      case 'exit': {
        const event: DebugProtocol.StoppedEvent = new StoppedEvent('exception', THREAD_ID, `${stop.info.name} (${stop.info.reason})`);
        event.body.description = `VM exit ${stop.info.name} (${stop.info.reason})`;
        this.sendEvent(event);
        return;
      }
      case 'error': {
        const event: DebugProtocol.StoppedEvent = new StoppedEvent('exception', THREAD_ID, 'VMM error');
        event.body.description = stop.message;
        this.sendEvent(new OutputEvent(`${stop.message}\n`, 'stderr'));
        this.sendEvent(event);
        return;
      }
      case 'shutdown':
        this.sendEvent(new OutputEvent(`the guest shut down (${stop.how}) with exit code ${stop.exitCode}\n`, 'console'));
        this.sendEvent(new ExitedEvent(stop.exitCode));
        this.sendEvent(new TerminatedEvent());
        this.target = undefined;
        return;
    }
  }

  protected exceptionInfoRequest(response: DebugProtocol.ExceptionInfoResponse): void {
    this.answer(response, () => {
      const stop = this.lastStop;
      if (stop?.kind === 'exit') {
        const e = stop.info;
        const what = describeExitQualification(e.reason, e.qualification, e.interruptionInfo, e.guestLinear);
        response.body = {
          exceptionId: e.name,
          description: `VM exit ${e.name} (${e.reason})${what === '' ? '' : `: ${what}`}`,
          breakMode: 'always',
          details: { message: what === '' ? `qualification ${hex(e.qualification)}` : what, typeName: 'VM exit' },
        };
      } else if (stop?.kind === 'error') {
        response.body = { exceptionId: 'VMM_ERROR', description: stop.message, breakMode: 'always', details: { message: stop.message } };
      } else {
        throw new RequestError('the guest did not stop at a VM exit');
      }
    });
  }

  // ---- breakpoints ----------------------------------------------------------------------

  protected setExceptionBreakPointsRequest(response: DebugProtocol.SetExceptionBreakpointsResponse, args: DebugProtocol.SetExceptionBreakpointsArguments): void {
    const names = new Set<string>(this.config?.breakOnExits ?? []);
    const unconditional = new Set(names);
    const conditional = new Map<string, StopCondition[]>();
    const breakpoints: DebugProtocol.Breakpoint[] = [];
    const requested: DebugProtocol.ExceptionFilterOptions[] = [...args.filters.map((filterId) => ({ filterId })), ...(args.filterOptions ?? [])];
    for (const { filterId, condition } of requested) {
      const reason = exitReasonByName(filterId);
      const covers = filterId === ANY_EXIT_FILTER ? PRODUCIBLE_EXIT_REASONS : reason === undefined ? undefined : [reason.name];
      if (covers === undefined) {
        breakpoints.push({ verified: false, message: `no exit reason named '${filterId}'` });
        continue;
      }
      let compiled: StopCondition | undefined;
      try {
        compiled = condition === undefined || condition.trim() === '' ? undefined : StopCondition.compile({ condition });
      } catch (e) {
        if (!(e instanceof StopConditionError)) throw e;
        breakpoints.push({ verified: false, message: `${filterId}: ${e.message}` });
        continue;
      }
      for (const n of covers) {
        names.add(n);
        if (compiled === undefined) unconditional.add(n);
        else conditional.set(n, [...(conditional.get(n) ?? []), compiled]);
      }
      breakpoints.push({ verified: true });
    }
    for (const n of unconditional) conditional.delete(n);
    const chosen = this.exitChoices.breakpointsView({ names, conditions: conditional });
    this.filterExits = chosen.names;
    this.exitConditions = chosen.conditions;
    response.body = { breakpoints };
    this.sendResponse(response);
    this.exitStats.report();
  }

  /** The VM exits view: vmxExitStats (its body, see exit-stats.ts) and vmxSetExitBreak { reason, enabled }. */
  protected customRequest(command: string, response: DebugProtocol.Response, args: unknown): void {
    if (command === EXIT_STATS) {
      this.answer(response, () => { response.body = this.exitStats.body(); });
    } else if (command === SET_EXIT_BREAK) {
      this.answer(response, () => {
        const a = (typeof args === 'object' && args !== null ? args : {}) as { reason?: unknown; enabled?: unknown };
        const chosen = this.exitChoices.exitsView({ names: new Set(this.filterExits), conditions: this.exitConditions }, a.reason, a.enabled);
        this.filterExits = chosen.names;
        this.exitConditions = chosen.conditions;
        response.body = this.exitStats.body();
      });
      if (response.success) this.exitStats.report();
    } else {
      super.customRequest(command, response, args);
    }
  }

  protected setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    this.answer(response, () => {
      const file = args.source.path;
      if (file === undefined) throw new RequestError('a source breakpoint needs the source\'s path');
      response.body = { breakpoints: this.breakpoints.setSource(file, args.breakpoints ?? []) };
      this.applyBreakpoints();
    });
  }

  protected setFunctionBreakPointsRequest(response: DebugProtocol.SetFunctionBreakpointsResponse, args: DebugProtocol.SetFunctionBreakpointsArguments): void {
    this.answer(response, () => {
      response.body = { breakpoints: this.breakpoints.setFunctions(args.breakpoints) };
      this.applyBreakpoints();
    });
  }

  protected setInstructionBreakpointsRequest(response: DebugProtocol.SetInstructionBreakpointsResponse, args: DebugProtocol.SetInstructionBreakpointsArguments): void {
    this.answer(response, () => {
      response.body = { breakpoints: this.breakpoints.setInstructions(args.breakpoints, parseAddress) };
      this.applyBreakpoints();
    });
  }

  private applyBreakpoints(): void {
    this.target?.setBreakpoints(this.breakpoints.addresses());
  }

  // ---- looking --------------------------------------------------------------------------

  protected stackTraceRequest(response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const image = this.image;
      // a return address is believed when the line table knows the call before it, or a symbol holds it
      const isCode = (a: bigint): boolean => image !== undefined && (image.lines.lookup(a - 1n) !== undefined || image.symbols.at(a) !== undefined);
      const frames = walkFrames(target.view, isCode).map((f, k) => {
        // a caller's line is the line of its call: the byte before the return address
        const where = f.returnAddress ? f.pc - 1n : f.pc;
        const name = image?.symbols.describe(where) ?? hex(f.pc);
        const at = this.sourceAt(where);
        const frame = at === undefined ? new StackFrame(k + 1, name) : new StackFrame(k + 1, name, at.source, at.line, at.column);
        (frame as DebugProtocol.StackFrame).instructionPointerReference = hex(f.pc);
        return frame;
      });
      const start = Math.max(0, args.startFrame ?? 0);
      const levels = args.levels === undefined || args.levels <= 0 ? frames.length : args.levels;
      response.body = { stackFrames: frames.slice(start, start + levels), totalFrames: frames.length };
    });
  }

  protected scopesRequest(response: DebugProtocol.ScopesResponse): void {
    this.answer(response, () => {
      response.body = { scopes: this.variables.scopes(this.stoppedTarget()) };
    });
  }

  protected variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): void {
    this.answer(response, () => {
      this.stoppedTarget();
      const vars = this.variables.variables(args.variablesReference);
      if (vars === undefined) throw new RequestError(`no variables with reference ${args.variablesReference} (they are forgotten when the guest runs)`);
      response.body = { variables: vars };
    });
  }

  protected setVariableRequest(response: DebugProtocol.SetVariableResponse, args: DebugProtocol.SetVariableArguments): void {
    let areas: DebugProtocol.InvalidatedAreas[] = ['variables'];
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const view = target.view;
      const editor = new GuestEditor(target.machine, view);
      const scope = this.variables.scopeOf(args.variablesReference);
      if (scope === undefined) throw new RequestError(`no variables with reference ${args.variablesReference} (they are forgotten when the guest runs)`);
      const value = this.valueOf(args.value, target);
      const name = args.name;
      const flag = RFLAGS_FIELDS.find((f) => f.name === name);
      let shown: bigint;
      if (scope === SCOPE_REGISTERS && flag !== undefined) {
        shown = editor.setFlag(name, value);
      } else if (scope === SCOPE_REGISTERS) {
        view.setRegister(name, value);
        shown = view.register(name);
        // a new RIP moves the frame (and with it the frame chain)
        if (name === 'rip' || name === 'rsp' || name === 'rbp') areas = ['stacks', 'variables'];
      } else if (scope === SCOPE_SEGMENTS && CONTROL_REGISTERS.includes(name)) {
        editor.setControlRegister(name as ControlRegisterName, value);
        shown = view.controlRegisters()[name as ControlRegisterName];
        if (name === 'cr0' || name === 'cr3' || name === 'cr4') areas = ['stacks', 'variables'];
      } else if ((scope === SCOPE_SEGMENTS && name === 'efer') || (scope === SCOPE_MSRS && msrByName(name) !== undefined)) {
        const info = msrByName(name === 'efer' ? 'IA32_EFER' : name);
        if (info === undefined) throw new RequestError(`no MSR named '${name}'`);
        editor.setMsr(info, value);
        shown = view.msr(info) ?? 0n;
      } else if (scope === SCOPE_VMCS && view.vmcs(name) !== undefined) {
        editor.setVmcsField(name, value);
        shown = view.vmcs(name) ?? 0n;
        if (name === 'GUEST_RIP' || name === 'GUEST_RSP') areas = ['stacks', 'variables'];
      } else {
        throw new RequestError(`'${name}' in ${scope} cannot be changed: registers, flags, control registers, EFER, whole MSRs and VMCS fields can`);
      }
      this.variables.refresh();
      response.body = { value: hex(shown) };
    });
    if (response.success && this.clientInvalidates) this.sendEvent(new InvalidatedEvent(areas));
  }

  /** A value the user typed for setVariable: any expression of the language (0x10, rax + 8, 1 << 5). */
  private valueOf(text: string, target: DebugTarget): bigint {
    try {
      return evaluate(text, this.environment(target, target.lastExit));
    } catch (e) {
      if (e instanceof ExpressionError) throw new RequestError(`'${text}' is not a value: ${e.message}`);
      throw e;
    }
  }

  /** The expression language of src/vmm/expression.ts over the stopped guest and its last VM exit. */
  protected evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      let value: bigint;
      try {
        value = evaluate(args.expression, this.environment(target, target.lastExit));
      } catch (e) {
        if (e instanceof ExpressionError) throw new RequestError(`cannot evaluate '${args.expression}': ${e.message}`);
        throw e;
      }
      response.body = { result: hex(value), variablesReference: 0, memoryReference: hex(value) };
    });
  }

  /** Guest-linear memory through the guest's paging; the whole range must be writable unless allowPartial. */
  protected writeMemoryRequest(response: DebugProtocol.WriteMemoryResponse, args: DebugProtocol.WriteMemoryArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const base = parseAddress(args.memoryReference);
      if (base === undefined) throw new RequestError(`'${args.memoryReference}' is not an address`);
      const data = Buffer.from(args.data, 'base64');
      const address = (base + BigInt(args.offset ?? 0)) & ((1n << 64n) - 1n);
      const reachable = target.view.readLinear(address, data.length).length;
      if (reachable < data.length && args.allowPartial !== true) {
        throw new RequestError(`cannot write ${data.length} bytes at ${hex(address)}: ${hex(address + BigInt(reachable))} is not mapped by the guest's paging or not RAM (nothing was written)`);
      }
      const written = target.view.writeLinear(address, new Uint8Array(data.buffer, data.byteOffset, reachable));
      this.variables.refresh();
      response.body = { bytesWritten: written };
    });
    if (response.success && this.clientInvalidates) this.sendEvent(new InvalidatedEvent(['variables']));
  }

  protected readMemoryRequest(response: DebugProtocol.ReadMemoryResponse, args: DebugProtocol.ReadMemoryArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const base = parseAddress(args.memoryReference);
      if (base === undefined) throw new RequestError(`'${args.memoryReference}' is not an address`);
      if (!Number.isInteger(args.count) || args.count < 0 || args.count > 1 << 20) throw new RequestError(`count must be 0-1048576, not ${args.count}`);
      const address = base + BigInt(args.offset ?? 0);
      // guest-linear memory through the guest's paging; bytes past the first unmapped one are unreadable
      const bytes = target.view.readLinear(address, args.count);
      response.body = { address: hex(address), data: Buffer.from(bytes).toString('base64'), unreadableBytes: args.count - bytes.length };
    });
  }

  protected disassembleRequest(response: DebugProtocol.DisassembleResponse, args: DebugProtocol.DisassembleArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const base = parseAddress(args.memoryReference);
      if (base === undefined) throw new RequestError(`'${args.memoryReference}' is not an address`);
      const count = args.instructionCount;
      if (!Number.isInteger(count) || count < 0 || count > 10000) throw new RequestError(`instructionCount must be 0-10000, not ${count}`);
      const address = base + BigInt(args.offset ?? 0);
      const insns = disassembleGuest(target.view, this.image, address, args.instructionOffset ?? 0, count, target.view.decodeMode());
      response.body = {
        instructions: insns.map((i): DebugProtocol.DisassembledInstruction => {
          // a place before readable memory or a known instruction boundary
          if (i === undefined) return { address: hex(address), instruction: '(unknown)', presentationHint: 'invalid' };
          const out: DebugProtocol.DisassembledInstruction = {
            address: hex(i.address),
            instructionBytes: [...i.bytes].map((b) => b.toString(16).padStart(2, '0')).join(' '),
            instruction: i.text,
          };
          const sym = this.image?.symbols.at(i.address);
          if (sym !== undefined) out.symbol = sym.symbol.name;
          const at = this.sourceAt(i.address);
          if (at !== undefined) {
            out.location = at.source;
            out.line = at.line;
          }
          return out;
        }),
      };
    });
  }

  // ---- helpers --------------------------------------------------------------------------

  /** The source line of an address, its file found relative to the program (as the line table's paths are). */
  private sourceAt(address: bigint): { source: Source; line: number; column: number } | undefined {
    const row = this.image?.lines.lookup(address);
    if (row === undefined || this.config === undefined) return undefined;
    const file = path.resolve(path.dirname(path.resolve(this.config.program)), row.file);
    return { source: new Source(path.basename(file), file), line: row.line, column: row.column || 1 };
  }

  // ---- data breakpoints: writes to guest memory ----------------------------------------

  /**
   * A data breakpoint on guest memory: `name` is an address expression (`0x9000`, `rsp + 8`,
   * a symbol); the watched bytes are 8 (or `bytes`), by guest-linear address.
   */
  protected dataBreakpointInfoRequest(response: DebugProtocol.DataBreakpointInfoResponse, args: DebugProtocol.DataBreakpointInfoArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const bytes = args.bytes ?? 8;
      if (!Number.isInteger(bytes) || bytes < 1 || bytes > 0x10000) throw new RequestError(`bytes must be 1-65536, not ${String(args.bytes)}`);
      const address = evaluate(args.name, this.environment(target, target.lastExit));
      target.view.physicalRanges(address, bytes); // refused now if it is not mapped
      response.body = {
        dataId: `mem:0x${address.toString(16)}:${bytes}`,
        description: `${bytes} byte${bytes > 1 ? 's' : ''} at 0x${address.toString(16)} written`,
        accessTypes: ['write'],
        canPersist: false,
      };
    });
  }

  protected setDataBreakpointsRequest(response: DebugProtocol.SetDataBreakpointsResponse, args: DebugProtocol.SetDataBreakpointsArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const ranges: Array<{ start: number; length: number }> = [];
      const ids: number[] = [];
      const results: DebugProtocol.Breakpoint[] = args.breakpoints.map((bp) => {
        const m = /^mem:0x([0-9a-f]+):(\d+)$/.exec(bp.dataId);
        if (m === null) return { verified: false, message: `unknown data breakpoint id '${bp.dataId}'` };
        if (bp.accessType !== undefined && bp.accessType !== 'write') return { verified: false, message: 'only writes can be watched' };
        try {
          ranges.push(...target.view.physicalRanges(BigInt(`0x${m[1]}`), Number(m[2])));
        } catch (e) {
          if (e instanceof GuestViewError) return { verified: false, message: e.message };
          throw e;
        }
        const id = this.nextDataBreakpointId++;
        ids.push(id);
        return { id, verified: true };
      });
      target.setWatchpoints(ranges);
      this.dataBreakpointIds = ids;
      response.body = { breakpoints: results };
    });
  }

  /** What expressions mean now: the guest's registers, memory and exit, and the image's symbols. */
  private environment(target: DebugTarget, exit: VmxExitInfo | undefined): GuestExpressionEnvironment {
    const symbols = this.image?.symbols;
    return new GuestExpressionEnvironment(target.view, exit, symbols === undefined ? undefined : (name) => symbols.addressOf(name));
  }

  private dataBreakpointIds: number[] = [];
  private nextDataBreakpointId = 1_000_000;

  /** The target, when the guest is launched and stopped. */
  private stoppedTarget(): DebugTarget {
    if (this.target === undefined) throw new RequestError('no guest is running (launch one first)');
    if (this.running) throw new RequestError('the guest is running: pause it first');
    return this.target;
  }

  /** Runs a request's work and answers it; a bad request becomes an error response, never a crash. */
  private answer(response: DebugProtocol.Response, work: () => void): void {
    try {
      work();
      this.sendResponse(response);
    } catch (e) {
      const known = e instanceof RequestError || e instanceof LaunchError || e instanceof GuestViewError || e instanceof ExitBreakError;
      const message = known ? (e as Error).message : `internal error: ${(e as Error).message ?? String(e)}`;
      this.sendErrorResponse(response, { id: 1, format: message.replace(/[{}]/g, ''), showUser: true });
    }
  }
}

/** 0x-prefixed hex or decimal, as DAP memory references and users write addresses. */
function parseAddress(text: string): bigint | undefined {
  const v = parseValue(text);
  return v !== undefined && v < 1n << 64n ? v : undefined;
}

function parseValue(text: string): bigint | undefined {
  const t = text.trim();
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(t)) return undefined;
  const v = BigInt(t);
  return v < 1n << 64n ? v : undefined;
}

/** A session to run inside another program (the extension's inline adapter). */
export function createVmxDebugSession(): VmxDebugSession {
  return new VmxDebugSession();
}
