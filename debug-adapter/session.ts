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
import { hex, integer } from '../src/format';
import { extractField } from '../src/bitfields';
import { msrByAddress, msrByName, MsrInfo } from '../src/msr';
import { DebugStop, DebugTarget } from '../src/vmm/debug-target';
import { evaluate, ExpressionError } from '../src/vmm/expression';
import { GuestFrame, walkFrames } from '../src/vmm/frame-chain';
import { disassembleGuest } from '../src/vmm/guest-disassembly';
import { ControlRegisterName, GuestEditor, replaceField } from '../src/vmm/guest-edit';
import { GuestExpressionEnvironment } from '../src/vmm/guest-expression';
import { GuestImage, loadGuestImage, looksLikeElf } from '../src/vmm/guest-image';
import { GuestViewError, msrVmcsField } from '../src/vmm/guest-view';
import { memorySpace, parseMemoryReference, MemoryPlace, SPACE_WORDS } from '../src/vmm/memory-spaces';
import { WatchedState } from '../src/vmm/state-watch';
import { vmcsFieldByName } from '../src/vmx/vmcs-fields';
import { StopCondition, StopConditionError, Verdict } from '../src/vmm/stop-condition';
import { ExitEvent, Machine } from '../src/vmm/machine';
import { PRODUCIBLE_EXIT_REASONS } from '../src/vmm/producible-exits';
import { exitReasonByName } from '../src/vmx/definitions';
import { describeExitQualification } from '../src/vmx/exit-qualification';
import type { VmxExitInfo } from '../src/vmx/vcpu';
import { BreakpointBook } from './breakpoints';
import { DisplayFormat, DisplayFormatError, SET_DISPLAY_FORMAT_REQUEST } from './display-format';
import { DATA_ACCESS_TYPES, DataBreakpointBook, DataBreakpointSpec, dataIdOf, describeAccess, parseDataId } from './data-breakpoints';
import { DisassemblySourceError, DisassemblySources } from './disassembly-source';
import { EXIT_LOG_REQUEST, ExitLog, ExitLogArguments, ExitLogError } from './exit-log';
import { ANY_EXIT_FILTER, ExitBreakChoices, ExitBreakError } from './exit-breaks';
import { EXIT_STATS, ExitStatsReporter, SET_EXIT_BREAK } from './exit-stats';
import { SerialError, SerialSink } from './serial-output';
import { SliceBudget } from './slice-budget';
import { LaunchConfig, LaunchError, parseLaunchArguments } from './launch-config';
import { MachineConfigError } from '../src/vmm/config-error';
import { integerArg, referenceArg, RequestError, stringArg, threadArg } from './request-args';
import { REGISTER_ORDER, SCOPE_MSRS, SCOPE_REGISTERS, SCOPE_SEGMENTS, SCOPE_VMCS, VariableStore } from './variables';

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



export class VmxDebugSession extends DebugSession {
  private config: LaunchConfig | undefined;
  private image: GuestImage | undefined;
  private target: DebugTarget | undefined;
  private configured = false;
  private running = false;
  private pauseRequested = false;
  private timer: NodeJS.Immediate | undefined;
  private consoleText = '';
  /** Where COM1's bytes go (launch attribute `serial`). */
  private serial: SerialSink | undefined;
  private readonly variables = new VariableStore();
  /** Exit reasons to stop at: from setExceptionBreakpoints and launch's breakOnExits. */
  private filterExits = new Set<string>();
  /** The exception filters last asked for (kept for a restart). */
  private exceptionFilters: DebugProtocol.ExceptionFilterOptions[] = [];
  /** Conditions of the exit filters that have one, by exit reason (several filters can cover one reason). */
  private exitConditions = new Map<string, StopCondition[]>();
  private readonly breakpoints = new BreakpointBook();
  /** The client understands `invalidated` events (it refreshes what a change affects). */
  private clientInvalidates = false;
  /** Why the guest stopped last, for exceptionInfo. */
  private lastStop: DebugStop | undefined;
  /** Every VM exit of the guest since launch (or restart), for the custom request vmxExitLog. */
  private readonly exitLog = new ExitLog();
  /** Disassembly documents for frames without a source line (debug-adapter/disassembly-source.ts). */
  private readonly disassemblySources = new DisassemblySources();
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
      supportsLoadedSourcesRequest: true,
      supportsDataBreakpoints: true,
      supportsValueFormattingOptions: true,
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
      this.display.hex = config.hexDisplay; // at launch only: a restart keeps what the user chose since
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
    let serial: SerialSink;
    try {
      serial = new SerialSink(config.serial, (b) => { this.consoleText += Buffer.from(b).toString('latin1'); });
    } catch (e) {
      if (e instanceof SerialError) throw new LaunchError('serial', e.message);
      throw e;
    }
    const machine = new Machine({
      memoryMiB: config.memoryMB, cpuid: config.cpuid, msrs: config.msrs, vmxCapabilities: config.vmxCapabilities,
      console: (b) => serial.write(b),
    });
    try {
      machine.load(image);
    } catch (e) {
      throw new LaunchError('memoryMB', (e as Error).message);
    }
    try {
      machine.start(config.entry ?? image.entryPhysical, config.mode);
    } catch (e) {
      if (e instanceof MachineConfigError) throw new LaunchError('msrs', e.message);
      // VmxVcpu asked the processor for a control it does not offer
      if (config.vmxCapabilities !== undefined && /cannot (set|clear) '/.test((e as Error).message)) {
        throw new LaunchError('disableControls', `this processor cannot run the guest as x86_vcpu sets it up: ${(e as Error).message}`);
      }
      throw new LaunchError(config.entry === undefined ? 'mode' : 'entry', (e as Error).message);
    }
    this.config = config;
    this.image = image;
    this.target = new DebugTarget(machine);
    this.serial?.close();
    this.serial = serial;
    this.exitLog.clear();
    this.consoleText = '';
    this.lastStop = undefined;
    // a new run: every breakpoint kind is placed in the new guest, hit counts from zero
    this.applyExceptionFilters();
    this.exitStats.reset();
    for (const bp of this.breakpoints.useImage(image, config.program)) this.sendEvent(new BreakpointEvent('changed', bp as Breakpoint));
    this.applyBreakpoints();
    // data breakpoints (those that still make sense in the new guest) keep their ids
    for (const bp of this.applyDataBreakpoints(this.target, this.dataBreakpointRequests)) if (bp.id !== undefined) this.sendEvent(new BreakpointEvent('changed', bp as Breakpoint));
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
      const config = args?.arguments !== undefined ? parseLaunchArguments(args.arguments) : this.config;
      if (config === undefined) throw new RequestError('nothing to restart: no guest was launched');
      this.halt();
      this.target = undefined;
      this.variables.reset();
      // the program file is read again: a rebuilt guest is what runs now
      this.boot(config);
    });
    if (response.success) this.begin();
  }

  protected terminateRequest(response: DebugProtocol.TerminateResponse): void {
    this.halt();
    this.serial?.close();
    this.target = undefined;
    this.sendResponse(response);
    this.sendEvent(new TerminatedEvent());
  }

  protected disconnectRequest(response: DebugProtocol.DisconnectResponse, args: DebugProtocol.DisconnectArguments, request?: DebugProtocol.Request): void {
    this.halt();
    this.serial?.close();
    this.target = undefined;
    super.disconnectRequest(response, args, request);
  }

  /** Stops a running slice loop (and, when the session ends, the serial file with it). */
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

  protected continueRequest(response: DebugProtocol.ContinueResponse, args: DebugProtocol.ContinueArguments): void {
    this.answer(response, () => {
      threadArg(args, THREAD_ID);
      this.stoppedTarget();
      response.body = { allThreadsContinued: true };
    });
    if (response.success) this.resume();
  }

  protected pauseRequest(response: DebugProtocol.PauseResponse, args: DebugProtocol.PauseArguments): void {
    this.answer(response, () => {
      threadArg(args, THREAD_ID);
      if (!this.running) throw new RequestError('the guest is not running');
      this.pauseRequested = true;
    });
  }

  protected nextRequest(response: DebugProtocol.NextResponse, args: DebugProtocol.NextArguments): void {
    if (!this.threadChecked(response, args)) return;
    if (args.granularity === 'instruction' || !this.hasLineAtIp()) this.stepOne(response);
    else this.stepLine(response, true);
  }

  protected stepInRequest(response: DebugProtocol.StepInResponse, args: DebugProtocol.StepInArguments): void {
    if (!this.threadChecked(response, args)) return;
    if (args.granularity === 'instruction' || !this.hasLineAtIp()) this.stepOne(response);
    else this.stepLine(response, false);
  }

  /** Runs until the code the guest is in returns (a RET that pops above the current stack), in slices. */
  protected stepOutRequest(response: DebugProtocol.StepOutResponse, args: DebugProtocol.StepOutArguments): void {
    let frameRsp = 0n;
    this.answer(response, () => {
      threadArg(args, THREAD_ID);
      frameRsp = this.stoppedTarget().view.register('rsp');
    });
    if (!response.success) return;
    this.runSlices((target) => {
      const stop = target.stepOut(frameRsp, STEP_OUT_SLICE, this.filterExits, this.exitLogger());
      return stop.kind !== 'budget' && !this.stops(stop, target) ? { kind: 'budget' } : stop;
    });
  }

  /** A request about the thread with a threadId other than vCPU 0's is answered with an error (false). */
  private threadChecked(response: DebugProtocol.Response, args: DebugProtocol.NextArguments | undefined): boolean {
    let ok = false;
    this.answer(response, () => { threadArg(args, THREAD_ID); ok = true; }, false);
    return ok;
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

  private exitLogger(): (e: ExitEvent) => void {
    const log = this.exitLog;
    const cpu = this.target?.machine.cpu;
    if (this.config?.logExits !== true) return (e) => log.add(e, cpu?.icount ?? 0);
    return (e) => {
      log.add(e, cpu?.icount ?? 0);
      const { info, by } = e;
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
        const hit = stop.hit;
        const caught = hit === undefined ? undefined : this.memoryWatches.match(hit);
        if (hit !== undefined && caught !== undefined) {
          event.body.hitBreakpointIds = [caught.id];
          event.body.description = `${describeAccess(hit.access, hit.size)} at ${hex(caught.address)} by ${this.instructionText(hit.rip)}`;
        }
        this.sendEvent(event);
        return;
      }
      case 'state-write': {
        // the text names the MSR or field, old and new value and the writer
        const event: DebugProtocol.StoppedEvent = new StoppedEvent('data breakpoint', THREAD_ID, stop.descriptions[0]);
        event.body.description = stop.descriptions.join('; ');
        event.body.hitBreakpointIds = [...new Set(stop.writes.flatMap((w) => this.stateBreakpointIds.get(w.name) ?? []))];
        this.sendEvent(new OutputEvent(`${stop.descriptions.join('\n')}\n`, 'console'));
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

  protected exceptionInfoRequest(response: DebugProtocol.ExceptionInfoResponse, args: DebugProtocol.ExceptionInfoArguments): void {
    this.answer(response, () => {
      threadArg(args, THREAD_ID);
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
    this.answer(response, () => {
      const filters = args?.filters;
      if (!Array.isArray(filters) || filters.some((f) => typeof f !== 'string')) throw new RequestError('argument \'filters\' must be an array of filter ids');
      const options = args.filterOptions ?? [];
      if (!Array.isArray(options) || options.some((o) => typeof o?.filterId !== 'string' || (o.condition !== undefined && typeof o.condition !== 'string'))) {
        throw new RequestError('argument \'filterOptions\' must be an array of filter options, each with a string \'filterId\' (and a string \'condition\' if any)');
      }
      this.exceptionFilters = [...filters.map((filterId) => ({ filterId })), ...options];
      response.body = { breakpoints: this.applyExceptionFilters() };
    });
    if (response.success) this.exitStats.report();
  }

  /**
   * The exit reasons to stop at, from the launch's breakOnExits and the exception filters last
   * asked for, each condition compiled afresh (a launch or restart counts hits from zero).
   */
  private applyExceptionFilters(): DebugProtocol.Breakpoint[] {
    const names = new Set<string>(this.config?.breakOnExits ?? []);
    const unconditional = new Set(names);
    const conditional = new Map<string, StopCondition[]>();
    const breakpoints: DebugProtocol.Breakpoint[] = [];
    for (const { filterId, condition } of this.exceptionFilters) {
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
    return breakpoints;
  }

  /** vmxExitStats: the VM exits view's counts and last exit (its body: exit-stats.ts). */
  private exitStatsRequest(response: DebugProtocol.Response): void {
    this.answer(response, () => { response.body = this.exitStats.body(); });
  }

  /** vmxSetExitBreak { reason, enabled }: a tick in the VM exits view, over the Breakpoints view's filters. */
  private setExitBreak(response: DebugProtocol.Response, args: unknown): void {
    this.answer(response, () => {
      const a = (typeof args === 'object' && args !== null ? args : {}) as { reason?: unknown; enabled?: unknown };
      const chosen = this.exitChoices.exitsView({ names: new Set(this.filterExits), conditions: this.exitConditions }, a.reason, a.enabled);
      this.filterExits = chosen.names;
      this.exitConditions = chosen.conditions;
      response.body = this.exitStats.body();
    });
    if (response.success) this.exitStats.report();
  }

  protected setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    this.answer(response, () => {
      const file = args?.source?.path;
      if (file === undefined) throw new RequestError('a source breakpoint needs the source\'s path');
      const requested = args.breakpoints ?? [];
      if (!Array.isArray(requested) || requested.some((b) => !Number.isInteger(b?.line))) throw new RequestError('argument \'breakpoints\' must be an array of source breakpoints, each with an integer \'line\'');
      response.body = { breakpoints: this.breakpoints.setSource(file, requested) };
      this.applyBreakpoints();
    });
  }

  protected setFunctionBreakPointsRequest(response: DebugProtocol.SetFunctionBreakpointsResponse, args: DebugProtocol.SetFunctionBreakpointsArguments): void {
    this.answer(response, () => {
      const requested = args?.breakpoints;
      if (!Array.isArray(requested) || requested.some((b) => typeof b?.name !== 'string')) throw new RequestError('argument \'breakpoints\' must be an array of function breakpoints, each with a string \'name\'');
      response.body = { breakpoints: this.breakpoints.setFunctions(requested) };
      this.applyBreakpoints();
    });
  }

  protected setInstructionBreakpointsRequest(response: DebugProtocol.SetInstructionBreakpointsResponse, args: DebugProtocol.SetInstructionBreakpointsArguments): void {
    this.answer(response, () => {
      const requested = args?.breakpoints;
      if (!Array.isArray(requested) || requested.some((b) => typeof b?.instructionReference !== 'string' || (b.offset !== undefined && !Number.isInteger(b.offset)))) {
        throw new RequestError('argument \'breakpoints\' must be an array of instruction breakpoints, each with a string \'instructionReference\' (and an integer \'offset\' if any)');
      }
      response.body = { breakpoints: this.breakpoints.setInstructions(requested, parseAddress) };
      this.applyBreakpoints();
    });
  }

  private applyBreakpoints(): void {
    this.target?.setBreakpoints(this.breakpoints.addresses());
  }

  // ---- looking --------------------------------------------------------------------------

  protected stackTraceRequest(response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments): void {
    this.answer(response, () => {
      threadArg(args, THREAD_ID);
      const startFrame = integerArg(args, 'startFrame', 0);
      const levelsArg = integerArg(args, 'levels', 0);
      const target = this.stoppedTarget();
      const image = this.image;
      const frames = this.frames(target).map((f, k) => {
        // a caller's line is the line of its call: the byte before the return address
        const where = f.returnAddress ? f.pc - 1n : f.pc;
        const name = image?.symbols.describe(where) ?? hex(f.pc);
        const at = this.sourceAt(where);
        // no line: the disassembly around the address is the frame's source
        const dis = at === undefined ? this.disassemblySources.frameSource(target.view, image, f.pc, where) : undefined;
        const frame = at !== undefined ? new StackFrame(k + 1, name, at.source, at.line, at.column) : new StackFrame(k + 1, name, dis?.source as Source, dis?.line, 1);
        (frame as DebugProtocol.StackFrame).instructionPointerReference = hex(f.pc);
        return frame;
      });
      const start = Math.max(0, startFrame);
      const levels = levelsArg <= 0 ? frames.length : levelsArg;
      response.body = { stackFrames: frames.slice(start, start + levels), totalFrames: frames.length };
    });
  }

  /** The text of a frame's disassembly source (sourceReference from stackTrace). */
  protected sourceRequest(response: DebugProtocol.SourceResponse, args: DebugProtocol.SourceArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const ref = args.source?.sourceReference ?? args.sourceReference;
      try {
        response.body = { content: this.disassemblySources.content(ref, target.view, this.image), mimeType: 'text/x-asm' };
      } catch (e) {
        if (e instanceof DisassemblySourceError) throw new RequestError(e.message);
        throw e;
      }
    });
  }

  /** Frame 1 (the top) has every scope; a caller frame its own Registers and the processor-wide ones. */
  protected scopesRequest(response: DebugProtocol.ScopesResponse, args: DebugProtocol.ScopesArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const index = integerArg(args, 'frameId', 1, 1) - 1;
      if (index === 0) {
        response.body = { scopes: this.variables.scopes(target) };
        return;
      }
      if (index >= this.frames(target).length) throw new RequestError(`no frame with id ${index + 1} (the stack has ${this.frames(target).length})`);
      response.body = { scopes: this.variables.callerScopes(target, { index, walk: () => this.frames(target) }) };
    });
  }

  protected variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): void {
    this.answer(response, () => {
      const ref = referenceArg(args, 'variablesReference');
      this.stoppedTarget();
      const vars = this.variables.variables(ref, this.display.inHex(args.format));
      if (vars === undefined) throw new RequestError(`no variables with reference ${ref} (they are forgotten when the guest runs)`);
      response.body = { variables: vars };
    });
  }

  protected setVariableRequest(response: DebugProtocol.SetVariableResponse, args: DebugProtocol.SetVariableArguments): void {
    let areas: DebugProtocol.InvalidatedAreas[] = ['variables'];
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const ref = referenceArg(args, 'variablesReference');
      const name = stringArg(args, 'name');
      const text = stringArg(args, 'value');
      const scope = this.variables.scopeOf(ref);
      if (scope === undefined) throw new RequestError(`no variables with reference ${ref} (they are forgotten when the guest runs)`);
      const value = this.valueOf(text, target);
      const owner = this.variables.fieldOwner(ref);
      const frame = this.variables.callerFrameOf(ref);
      let shown: bigint;
      if (owner !== undefined) {
        // a bit field: its owner is written whole with the field replaced, by the owner's rules
        const field = owner.fields.find((f) => f.name === name);
        if (field === undefined) throw new RequestError(`${owner.name} has no field named '${name}'`);
        const whole = this.currentValue(target, owner.scope, owner.name);
        const r = this.setWhole(target, owner.scope, owner.name, replaceField(whole, field, value));
        shown = extractField(r.shown, field);
        areas = r.areas;
      } else if (frame !== undefined) {
        shown = this.setCallerRegister(target, frame, name, value);
        areas = ['stacks', 'variables'];
      } else {
        const r = this.setWhole(target, scope, name, value);
        shown = r.shown;
        areas = r.areas;
      }
      this.variables.refresh();
      response.body = { value: integer(shown, this.display.inHex(args.format)) };
    });
    if (response.success && this.clientInvalidates) this.sendEvent(new InvalidatedEvent(areas));
  }

  /** The value a named variable of a scope has now (the owner of a field about to be changed). */
  private currentValue(target: DebugTarget, scope: string, name: string): bigint {
    const view = target.view;
    if (scope === SCOPE_REGISTERS) return view.register(name);
    if (scope === SCOPE_SEGMENTS) return view.controlRegisters()[name as ControlRegisterName | 'efer'];
    if (scope === SCOPE_MSRS) return view.msr(msrByName(name) as MsrInfo) ?? 0n;
    return view.vmcs(name) ?? 0n;
  }

  /**
   * Writes a whole register, control register, MSR or VMCS field by the rules the hardware
   * applies (src/vmm/guest-edit.ts); returns what it reads back and what the client must refetch.
   */
  private setWhole(target: DebugTarget, scope: string, name: string, value: bigint): { shown: bigint; areas: DebugProtocol.InvalidatedAreas[] } {
    const view = target.view;
    const editor = new GuestEditor(target.machine, view);
    const variables: DebugProtocol.InvalidatedAreas[] = ['variables'];
    const stacks: DebugProtocol.InvalidatedAreas[] = ['stacks', 'variables'];
    if (scope === SCOPE_REGISTERS && REGISTER_ORDER.includes(name)) {
      view.setRegister(name, value);
      // a new RIP moves the frame (and with it the frame chain)
      return { shown: view.register(name), areas: name === 'rip' || name === 'rsp' || name === 'rbp' ? stacks : variables };
    }
    if (scope === SCOPE_SEGMENTS && CONTROL_REGISTERS.includes(name)) {
      editor.setControlRegister(name as ControlRegisterName, value);
      return { shown: view.controlRegisters()[name as ControlRegisterName], areas: name === 'cr0' || name === 'cr3' || name === 'cr4' ? stacks : variables };
    }
    if ((scope === SCOPE_SEGMENTS && name === 'efer') || (scope === SCOPE_MSRS && msrByName(name) !== undefined)) {
      const info = msrByName(name === 'efer' ? 'IA32_EFER' : name) as MsrInfo;
      editor.setMsr(info, value);
      return { shown: view.msr(info) ?? 0n, areas: variables };
    }
    if (scope === SCOPE_VMCS && view.vmcs(name) !== undefined) {
      editor.setVmcsField(name, value);
      return { shown: view.vmcs(name) ?? 0n, areas: name === 'GUEST_RIP' || name === 'GUEST_RSP' ? stacks : variables };
    }
    throw new RequestError(`'${name}' in ${scope} cannot be changed: registers, flags, control registers and their bits, EFER, MSRs and their fields, VMCS fields and control bits can`);
  }

  /**
   * A caller frame's rip or rbp lives in guest memory (the return address and the saved RBP
   * its callee's frame holds): the change is written there, so the guest returns (or restores
   * RBP) to the new value. Its rsp is where the callee's frame ends, nothing that can be written.
   */
  private setCallerRegister(target: DebugTarget, index: number, name: string, value: bigint): bigint {
    const frame = this.frames(target)[index];
    const r = frame?.caller;
    if (r === undefined) throw new RequestError('this frame is no longer on the frame-pointer chain');
    if (name !== 'rip' && name !== 'rbp') {
      throw new RequestError(`'${name}' of a caller frame cannot be changed: only rip (the return address at ${hex(r.returnSlot)}) and rbp (saved at ${hex(r.rbpSlot)}) are kept in memory; rsp follows from the callee's rbp`);
    }
    if (value < 0n || value >= 1n << 64n) throw new RequestError(`${name}: ${value} does not fit in 64 bits`);
    const slot = name === 'rip' ? r.returnSlot : r.rbpSlot;
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, value, true);
    if (target.view.writeLinear(slot, bytes) !== 8) throw new RequestError(`cannot write the slot at ${hex(slot)}: not mapped by the guest's paging or not RAM`);
    return value;
  }

  /** The frame chain of the stopped guest (frame ids are index + 1). */
  private frames(target: DebugTarget): GuestFrame[] {
    const image = this.image;
    // a return address is believed when the line table knows the call before it, or a symbol holds it
    const isCode = (a: bigint): boolean => image !== undefined && (image.lines.lookup(a - 1n) !== undefined || image.symbols.at(a) !== undefined);
    return walkFrames(target.view, isCode);
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
      const expression = stringArg(args, 'expression');
      const target = this.stoppedTarget();
      let value: bigint;
      try {
        value = evaluate(expression, this.environment(target, target.lastExit));
      } catch (e) {
        if (e instanceof ExpressionError) throw new RequestError(`cannot evaluate '${args.expression}': ${e.message}`);
        throw e;
      }
      response.body = { result: integer(value, this.display.inHex(args.format)), variablesReference: 0, memoryReference: hex(value) };
    });
  }

  /**
   * Memory of the reference's space (guest-linear through the guest's paging, `phys:` through
   * EPT, `host:` as it is); the whole range must be writable unless allowPartial.
   */
  protected writeMemoryRequest(response: DebugProtocol.WriteMemoryResponse, args: DebugProtocol.WriteMemoryArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const place = this.memoryPlace(stringArg(args, 'memoryReference'), integerArg(args, 'offset', 0));
      const space = memorySpace(target.machine, target.view, place.space);
      const data = Buffer.from(stringArg(args, 'data'), 'base64');
      const address = place.address;
      const reachable = space.read(address, data.length).length;
      if (reachable < data.length && args.allowPartial !== true) {
        const why = place.space === 'linear' ? 'is not mapped by the guest\'s paging or not RAM' : place.space === 'phys' ? 'is not mapped by EPT to RAM' : 'is beyond the machine\'s memory';
        const where = place.space === 'linear' ? hex(address) : `${SPACE_WORDS[place.space]} ${hex(address)}`;
        throw new RequestError(`cannot write ${data.length} bytes at ${where}: ${hex(address + BigInt(reachable))} ${why} (nothing was written)`);
      }
      const written = space.write(address, new Uint8Array(data.buffer, data.byteOffset, reachable));
      this.variables.refresh();
      response.body = { bytesWritten: written };
    });
    if (response.success && this.clientInvalidates) this.sendEvent(new InvalidatedEvent(['variables']));
  }

  protected readMemoryRequest(response: DebugProtocol.ReadMemoryResponse, args: DebugProtocol.ReadMemoryArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const place = this.memoryPlace(stringArg(args, 'memoryReference'), integerArg(args, 'offset', 0));
      if (!Number.isInteger(args.count) || args.count < 0 || args.count > 1 << 20) throw new RequestError(`count must be 0-1048576, not ${String(args.count)}`);
      const address = place.address;
      // bytes past the first one the space cannot reach are unreadable (DAP: unreadableBytes, never an error)
      const bytes = memorySpace(target.machine, target.view, place.space).read(address, args.count);
      response.body = { address: hex(address), data: Buffer.from(bytes).toString('base64'), unreadableBytes: args.count - bytes.length };
    });
  }

  protected disassembleRequest(response: DebugProtocol.DisassembleResponse, args: DebugProtocol.DisassembleArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const place = this.memoryPlace(stringArg(args, 'memoryReference'), integerArg(args, 'offset', 0));
      const count = args.instructionCount;
      if (!Number.isInteger(count) || count < 0 || count > 10000) throw new RequestError(`instructionCount must be 0-10000, not ${count}`);
      const address = place.address;
      // the image's symbols and lines are guest-linear: they name instructions of that space only
      const linear = place.space === 'linear';
      const space = memorySpace(target.machine, target.view, place.space);
      const insns = disassembleGuest({ readLinear: (a, n) => space.read(a, n) }, linear ? this.image : undefined, address,
        integerArg(args, 'instructionOffset', 0, -10000, 10000), count, target.view.decodeMode());
      response.body = {
        instructions: insns.map((i): DebugProtocol.DisassembledInstruction => {
          // a place before readable memory or a known instruction boundary
          if (i === undefined) return { address: hex(address), instruction: '(unknown)', presentationHint: 'invalid' };
          const out: DebugProtocol.DisassembledInstruction = {
            address: hex(i.address),
            instructionBytes: [...i.bytes].map((b) => b.toString(16).padStart(2, '0')).join(' '),
            instruction: i.text,
          };
          const sym = linear ? this.image?.symbols.at(i.address) : undefined;
          if (sym !== undefined) out.symbol = sym.symbol.name;
          const at = linear ? this.sourceAt(i.address) : undefined;
          if (at !== undefined) {
            out.location = at.source;
            out.line = at.line;
          }
          return out;
        }),
      };
    });
  }

  /**
   * The adapter's own requests: vmxSetDisplayFormat (display-format.ts), vmxExitLog (exit-log.ts),
   * and the VM exits view's vmxExitStats and vmxSetExitBreak (exit-stats.ts, exit-breaks.ts).
   */
  protected customRequest(command: string, response: DebugProtocol.Response, args: unknown): void {
    switch (command) {
      case SET_DISPLAY_FORMAT_REQUEST: this.setDisplayFormat(response, args); return;
      case EXIT_LOG_REQUEST: this.readExitLog(response, args); return;
      case EXIT_STATS: this.exitStatsRequest(response); return;
      case SET_EXIT_BREAK: this.setExitBreak(response, args); return;
      default: super.customRequest(command, response, args);
    }
  }

  /** vmxExitLog: a page of the session's VM exits as JSON lines. */
  private readExitLog(response: DebugProtocol.Response, args: unknown): void {
    this.answer(response, () => {
      try {
        response.body = this.exitLog.read((args ?? {}) as ExitLogArguments);
      } catch (e) {
        if (e instanceof ExitLogError) throw new RequestError(e.message);
        throw e;
      }
    });
  }

  // ---- helpers --------------------------------------------------------------------------

  /** A request's memory reference plus offset: `0x…` guest-linear, `phys:0x…` guest-physical, `host:0x…` host-physical. */
  private memoryPlace(reference: string, offset: number | undefined): MemoryPlace {
    const place = parseMemoryReference(reference);
    if (place === undefined) throw new RequestError(`'${reference}' is not an address (0x…, phys:0x… or host:0x…)`);
    if (offset !== undefined && !Number.isInteger(offset)) throw new RequestError(`offset must be an integer, not ${offset}`);
    return { space: place.space, address: (place.address + BigInt(offset ?? 0)) & ((1n << 64n) - 1n) };
  }

  /** The guest's source files the DWARF line table names, found as stackTrace finds them. */
  protected loadedSourcesRequest(response: DebugProtocol.LoadedSourcesResponse): void {
    this.answer(response, () => {
      const files = this.image?.lines.files ?? [];
      response.body = { sources: [...new Set(files.map((f) => this.sourcePath(f)))].map((file) => new Source(path.basename(file), file)) };
    });
  }

  private sourcePath(tableName: string): string {
    return path.resolve(path.dirname(path.resolve(this.config?.program ?? '.')), tableName);
  }

  /** The source line of an address, its file found relative to the program (as the line table's paths are). */
  private sourceAt(address: bigint): { source: Source; line: number; column: number } | undefined {
    const row = this.image?.lines.lookup(address);
    if (row === undefined || this.config === undefined) return undefined;
    const file = this.sourcePath(row.file);
    return { source: new Source(path.basename(file), file), line: row.line, column: row.column || 1 };
  }

  // ---- data breakpoints: reads and writes of guest memory, writes of MSRs and VMCS fields ----

  /**
   * A data breakpoint on guest memory, an MSR or a VMCS field. With `variablesReference` of the
   * MSRs scope (or a group under it) and an MSR's name, or of the VMCS scope and a field's name,
   * or with `msr(NAME)` / `vmcs.NAME` as the name (their evaluateName): the MSR or field
   * (`msr:0xc0000080`, `vmcs:GUEST_RIP`). Otherwise `name` is an address expression (`0x9000`,
   * `rsp + 8`, a symbol); the watched bytes are 8 (or `bytes`), by guest-linear address.
   */
  protected dataBreakpointInfoRequest(response: DebugProtocol.DataBreakpointInfoResponse, args: DebugProtocol.DataBreakpointInfoArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      const state = this.stateDataBreakpointInfo(target, args);
      if (state !== undefined) {
        response.body = state;
        return;
      }
      const bytes = args?.bytes ?? 8;
      if (!Number.isInteger(bytes) || bytes < 1 || bytes > 0x10000) throw new RequestError(`bytes must be 1-65536, not ${String(args.bytes)}`);
      const address = evaluate(stringArg(args, 'name'), this.environment(target, target.lastExit));
      target.view.physicalRanges(address, bytes); // refused now if it is not mapped
      response.body = {
        dataId: dataIdOf(address, bytes),
        description: `${bytes} byte${bytes > 1 ? 's' : ''} at ${hex(address)}`,
        accessTypes: DATA_ACCESS_TYPES,
        canPersist: false,
      };
    });
  }

  /** dataBreakpointInfo for an MSR or a VMCS field; undefined when the request is about memory. */
  private stateDataBreakpointInfo(target: DebugTarget, args: DebugProtocol.DataBreakpointInfoArguments): DebugProtocol.DataBreakpointInfoResponse['body'] | undefined {
    const name = stringArg(args, 'name').trim();
    let kind: 'msr' | 'vmcs' | undefined;
    let key = name;
    const scope = args.variablesReference === undefined ? undefined : this.variables.scopeOf(args.variablesReference);
    if (scope === SCOPE_MSRS) kind = 'msr';
    else if (scope === SCOPE_VMCS) kind = 'vmcs';
    else if (scope === SCOPE_SEGMENTS && name === 'efer') { kind = 'msr'; key = 'IA32_EFER'; }
    else if (scope === undefined) {
      const m = /^msr\(\s*([^)]*?)\s*\)$/.exec(name) ?? undefined;
      const v = /^vmcs\.(\w+)$/.exec(name) ?? undefined;
      if (m !== undefined) { kind = 'msr'; key = m[1]; } else if (v !== undefined) { kind = 'vmcs'; key = v[1]; }
    }
    if (kind === undefined) return undefined;
    const unavailable = (why: string) => ({ dataId: null, description: why });
    if (kind === 'msr') {
      const address = parseValue(key);
      const info = address === undefined ? msrByName(key) : msrByAddress(Number(address));
      if (info === undefined) return unavailable(`'${name}' is not an MSR: a whole MSR can be watched, not a group or a bit field`);
      if (target.view.msr(info) === undefined) return unavailable(`${info.name} is not implemented by this processor`);
      const field = msrVmcsField(target.view, info);
      return {
        dataId: `msr:0x${info.address.toString(16)}`,
        description: `${info.name} written (WRMSR${field === undefined ? '' : `, or VMWRITE of ${field}`})`,
        accessTypes: ['write'],
        canPersist: true,
      };
    }
    const f = vmcsFieldByName(key);
    if (f === undefined || target.view.vmcs(f.name) === undefined) return unavailable(`'${name}' is not a VMCS field: a field can be watched, not a group or a control bit`);
    return { dataId: `vmcs:${f.name}`, description: `${f.name} written (VMWRITE)`, accessTypes: ['write'], canPersist: true };
  }

  protected setDataBreakpointsRequest(response: DebugProtocol.SetDataBreakpointsResponse, args: DebugProtocol.SetDataBreakpointsArguments): void {
    this.answer(response, () => {
      const target = this.stoppedTarget();
      if (!Array.isArray(args?.breakpoints)) throw new RequestError('argument \'breakpoints\' must be an array');
      response.body = { breakpoints: this.applyDataBreakpoints(target, args.breakpoints) };
      this.dataBreakpointRequests = args.breakpoints;
    });
  }

  /** Sets the data breakpoints on the target: memory ranges as watchpoints, MSRs and VMCS fields as state watches. */
  private applyDataBreakpoints(target: DebugTarget, breakpoints: readonly DebugProtocol.DataBreakpoint[]): DebugProtocol.Breakpoint[] {
    const memory: DataBreakpointSpec[] = [];
    const watched: WatchedState[] = [];
    const stateIds = new Map<string, number[]>();
    const results = breakpoints.map((bp): DebugProtocol.Breakpoint => {
      const access = bp.accessType ?? 'write';
      if (!DATA_ACCESS_TYPES.includes(access)) return { verified: false, message: `accessType must be 'read', 'write' or 'readWrite', not '${String(access)}'` };
      const where = parseDataId(bp.dataId);
      if (where !== undefined) {
        try {
          const id = this.dataBreakpointId(`${bp.dataId}/${access}`);
          memory.push({ ...where, id, access, physical: target.view.physicalRanges(where.address, where.bytes) });
          return { id, verified: true };
        } catch (e) {
          if (e instanceof GuestViewError) return { verified: false, message: e.message };
          throw e;
        }
      }
      const msr = /^msr:(0x[0-9a-f]+)$/.exec(bp.dataId);
      const field = /^vmcs:(\w+)$/.exec(bp.dataId);
      if (msr === null && field === null) return { verified: false, message: `unknown data breakpoint id '${bp.dataId}'` };
      if (access !== 'write') return { verified: false, message: 'an MSR or a VMCS field can be watched for writes only' };
      let watchedName: string;
      if (msr !== null) {
        const info = msrByAddress(Number(BigInt(msr[1]) & 0xffffffffn));
        if (info === undefined || BigInt(msr[1]) > 0xffffffffn) return { verified: false, message: `no MSR ${msr[1]} in the MSR table` };
        if (target.view.msr(info) === undefined) return { verified: false, message: `${info.name} is not implemented by this processor` };
        watched.push({ kind: 'msr', msr: info, alsoField: msrVmcsField(target.view, info) });
        watchedName = info.name;
      } else {
        const f = vmcsFieldByName(field![1]);
        if (f === undefined || target.view.vmcs(f.name) === undefined) return { verified: false, message: `no VMCS field '${field![1]}' that this processor stores` };
        watched.push({ kind: 'vmcs', field: f.name });
        watchedName = f.name;
      }
      const id = this.dataBreakpointId(bp.dataId);
      stateIds.set(watchedName, [...(stateIds.get(watchedName) ?? []), id]);
      return { id, verified: true };
    });
    this.memoryWatches.replace(memory);
    target.setWatchpoints(this.memoryWatches.ranges());
    target.setStateWatches(watched);
    this.stateBreakpointIds = stateIds;
    return results;
  }

  /** What expressions mean now: the guest's registers, memory and exit, and the image's symbols. */
  private environment(target: DebugTarget, exit: VmxExitInfo | undefined): GuestExpressionEnvironment {
    const symbols = this.image?.symbols;
    return new GuestExpressionEnvironment(target.view, exit, symbols === undefined ? undefined : (name) => symbols.addressOf(name));
  }

  /** Ids of the MSR and VMCS data breakpoints by the watched name (a stop names those written). */
  private stateBreakpointIds = new Map<string, number[]>();
  /** The last setDataBreakpoints, set again on the machine a restart makes. */
  private dataBreakpointRequests: readonly DebugProtocol.DataBreakpoint[] = [];
  private nextDataBreakpointId = 1_000_000;
  /** Breakpoint ids by dataId: the same data keeps its id (across setDataBreakpoints and restarts). */
  private readonly dataBreakpointIdsByDataId = new Map<string, number>();

  private dataBreakpointId(dataId: string): number {
    let id = this.dataBreakpointIdsByDataId.get(dataId);
    if (id === undefined) {
      id = this.nextDataBreakpointId++;
      this.dataBreakpointIdsByDataId.set(dataId, id);
    }
    return id;
  }

  /** The memory data breakpoints: guest-linear ranges, what they map to, and which access each watches. */
  private readonly memoryWatches = new DataBreakpointBook();
  /** Hex or decimal for integers when a request gives no format. */
  private readonly display = new DisplayFormat();

  /** vmxSetDisplayFormat { hex }: the session default; the client refetches what it shows. */
  private setDisplayFormat(response: DebugProtocol.Response, args: unknown): void {
    this.answer(response, () => {
      this.display.set(args);
      response.body = { hex: this.display.hex };
    });
    if (response.success && this.clientInvalidates) this.sendEvent(new InvalidatedEvent(['variables']));
  }

  /** The instruction at `rip` as the Disassembly view shows it, for stop descriptions. */
  private instructionText(rip: bigint): string {
    const target = this.target;
    if (target === undefined) return hex(rip);
    try {
      const insn = disassembleGuest(target.view, this.image, rip, 0, 1, target.view.decodeMode())[0];
      return insn === undefined ? `the instruction at ${hex(rip)}` : insn.text;
    } catch (e) {
      if (e instanceof GuestViewError) return `the instruction at ${hex(rip)}`;
      throw e;
    }
  }

  /** The target, when the guest is launched and stopped. */
  private stoppedTarget(): DebugTarget {
    if (this.target === undefined) throw new RequestError('no guest is running (launch one first)');
    if (this.running) throw new RequestError('the guest is running: pause it first');
    return this.target;
  }

  /** Runs a request's work and answers it; a bad request becomes an error response, never a crash. */
  private answer(response: DebugProtocol.Response, work: () => void, respond = true): void {
    try {
      work();
      if (respond) this.sendResponse(response);
    } catch (e) {
      const known = e instanceof RequestError || e instanceof LaunchError || e instanceof GuestViewError || e instanceof DisplayFormatError || e instanceof ExpressionError || e instanceof ExitBreakError;
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
