// The session's VM exits, kept so the extension can export them (VMX: Export Exit Log…). Every
// exit the machine reports is appended; the log keeps the most recent EXIT_LOG_LIMIT of them
// (older ones are dropped, and counted). Exits are kept as columns of typed arrays (40
// bytes each, grown by doubling) rather than as objects, so a long run costs little memory.
// The custom request `vmxExitLog` reads them back a page at a time as JSON lines in the
// CLI's record format (src/cli/exit-json.ts), with the exit's ordinal and instruction count.

import { exitJson, ExitFacts } from '../src/cli/exit-json';
import { toJsonLine } from '../src/cli/output';
import { exitReasonByNumber } from '../src/vmx/definitions';
import type { ExitEvent } from '../src/vmm/machine';

/** The custom DAP request that reads the log. */
export const EXIT_LOG_REQUEST = 'vmxExitLog';
/** Exits kept: the most recent million (40 MB at most). */
export const EXIT_LOG_LIMIT = 1_000_000;
/** Records one `vmxExitLog` answer holds at most (a page). */
export const EXIT_LOG_PAGE = 10_000;
const FIRST_CAPACITY = 1024;

/** Arguments of `vmxExitLog`: the first exit wanted by ordinal (1 = the session's first exit) and how many. */
export interface ExitLogArguments {
  start?: number;
  count?: number;
}

/** The answer: the records as JSON lines, and where the log stands. */
export interface ExitLogBody {
  /** Exits seen in the session. */
  total: number;
  /** Ordinal of the oldest exit still kept (older ones were dropped past the limit). */
  first: number;
  limit: number;
  /** One JSON object per exit, in order. */
  lines: string[];
  /** Ordinal to ask for next, or undefined when these lines reach the newest exit. */
  next?: number;
}

/** Arguments that do not name a page of the log. */
export class ExitLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExitLogError';
  }
}

export class ExitLog {
  private capacity = 0;
  private reason = new Uint16Array(0);
  private handledByVmm = new Uint8Array(0);
  private length = new Uint8Array(0);
  private interruption = new Int32Array(0);
  private rip = new BigUint64Array(0);
  private qualification = new BigUint64Array(0);
  private linear = new BigUint64Array(0);
  private instructions = new Float64Array(0);
  /** Exits seen; the newest is at slot (total - 1) % capacity. */
  private seen = 0;

  constructor(readonly limit = EXIT_LOG_LIMIT) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`the exit log limit must be a positive integer, not ${limit}`);
  }

  get total(): number {
    return this.seen;
  }

  /** Ordinal of the oldest exit kept. */
  get first(): number {
    return Math.max(1, this.seen - this.limit + 1);
  }

  clear(): void {
    this.seen = 0;
  }

  add(e: ExitEvent, instructionCount: number): void {
    if (this.seen >= this.capacity && this.capacity < this.limit) this.grow();
    const k = this.seen % this.capacity;
    const i = e.info;
    this.reason[k] = i.reason;
    this.handledByVmm[k] = e.by === 'vmm' ? 1 : 0;
    this.length[k] = i.instructionLength;
    this.interruption[k] = i.interruptionInfo;
    this.rip[k] = BigInt.asUintN(64, i.guestRip);
    this.qualification[k] = BigInt.asUintN(64, i.qualification);
    this.linear[k] = BigInt.asUintN(64, i.guestLinear);
    this.instructions[k] = instructionCount;
    this.seen++;
  }

  /** The page of records from ordinal `start` (default: the oldest kept), at most `count` (default and cap EXIT_LOG_PAGE). */
  read(args: ExitLogArguments = {}): ExitLogBody {
    const start = args.start ?? this.first;
    const count = args.count ?? EXIT_LOG_PAGE;
    if (!Number.isInteger(start) || start < 1) throw new ExitLogError(`start must be an exit ordinal (1 or more), not ${String(args.start)}`);
    if (!Number.isInteger(count) || count < 0 || count > EXIT_LOG_PAGE) throw new ExitLogError(`count must be 0-${EXIT_LOG_PAGE}, not ${String(args.count)}`);
    if (start < this.first) throw new ExitLogError(`exit ${start} is no longer kept: the log keeps the last ${this.limit} exits (the oldest kept is ${this.first})`);
    const end = Math.min(this.seen, start - 1 + count);
    const lines: string[] = [];
    for (let ordinal = start; ordinal <= end; ordinal++) lines.push(toJsonLine(this.record(ordinal)));
    const body: ExitLogBody = { total: this.seen, first: this.first, limit: this.limit, lines };
    if (end < this.seen) body.next = end + 1;
    return body;
  }

  private record(ordinal: number): ReturnType<typeof exitJson> {
    const k = (ordinal - 1) % this.capacity;
    const reason = this.reason[k];
    const facts: ExitFacts = {
      reason,
      name: exitReasonByNumber(reason)?.name ?? `UNKNOWN_${reason}`,
      guestRip: this.rip[k],
      qualification: this.qualification[k],
      interruptionInfo: this.interruption[k],
      guestLinear: this.linear[k],
      instructionLength: this.length[k],
    };
    return exitJson(facts, this.handledByVmm[k] === 1 ? 'vmm' : 'vcpu', { ordinal, instructions: this.instructions[k] });
  }

  /** Doubles the columns (up to the limit); only called before the ring has wrapped, so slots keep their places. */
  private grow(): void {
    const n = Math.min(this.limit, Math.max(FIRST_CAPACITY, this.capacity * 2));
    const copy = <T extends { set(a: T): void }>(old: T, make: (n: number) => T): T => { const a = make(n); a.set(old); return a; };
    this.reason = copy(this.reason, (m) => new Uint16Array(m));
    this.handledByVmm = copy(this.handledByVmm, (m) => new Uint8Array(m));
    this.length = copy(this.length, (m) => new Uint8Array(m));
    this.interruption = copy(this.interruption, (m) => new Int32Array(m));
    this.rip = copy(this.rip, (m) => new BigUint64Array(m));
    this.qualification = copy(this.qualification, (m) => new BigUint64Array(m));
    this.linear = copy(this.linear, (m) => new BigUint64Array(m));
    this.instructions = copy(this.instructions, (m) => new Float64Array(m));
    this.capacity = n;
  }
}
