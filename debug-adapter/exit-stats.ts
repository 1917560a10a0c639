// What the VM exits view shows, as the adapter tells it: how often each exit reason occurred
// (the machine's own counts), the last exit with its decoded qualification (as exceptionInfo and
// the exit log line word it), and the reasons the session stops at. Sent as the custom event
// `vmxExitStats` at every stop and every change of the break set, and at most every
// STATS_INTERVAL_MS while the guest runs (only when an exit happened since the last one);
// the custom request `vmxExitStats` answers the same body.

import { Event } from '@vscode/debugadapter';
import { hex } from '../src/format';
import type { DebugTarget } from '../src/vmm/debug-target';
import { exitReasonByName } from '../src/vmx/definitions';
import { describeExitQualification } from '../src/vmx/exit-qualification';
import type { VmxExitInfo } from '../src/vmx/vcpu';

/** The custom event and request that carry ExitStatsBody. */
export const EXIT_STATS = 'vmxExitStats';
/** The custom request that ticks or clears one reason ({ reason, enabled }). */
export const SET_EXIT_BREAK = 'vmxSetExitBreak';
/** While the guest runs, at most one vmxExitStats event per this many milliseconds. */
export const STATS_INTERVAL_MS = 250;

export interface LastExitBody {
  name: string;
  /** The basic exit reason number (Appendix C). */
  reason: number;
  guestRip: string;
  qualification: string;
  /** The qualification decoded (describeExitQualification); '' when the reason defines none. */
  decoded: string;
  /** One line: `VM exit CPUID (10) rip=0x8003`, then the decoding. */
  text: string;
}

export interface ExitStatsBody {
  /** True while the guest runs (the counts go on changing). */
  running: boolean;
  /** Every exit since the machine was made (launch or restart). */
  total: number;
  /** Exits by reason name; reasons that never occurred are left out. */
  counts: Record<string, number>;
  /** The reasons the session stops at, by reason number. */
  breakOn: string[];
  /** Reasons whose state the VM exits view chose (true: stop), which the Breakpoints view does not show. */
  chosenInView: Record<string, boolean>;
  last?: LastExitBody;
}

/** The session state the stats are read from. */
export interface ExitStatsSource {
  target(): DebugTarget | undefined;
  running(): boolean;
  breakOn(): ReadonlySet<string>;
  chosenInView(): ReadonlyMap<string, boolean>;
}

export function describeLastExit(e: VmxExitInfo): LastExitBody {
  const decoded = describeExitQualification(e.reason, e.qualification, e.interruptionInfo, e.guestLinear);
  const rip = hex(e.guestRip);
  return {
    name: e.name, reason: e.reason, guestRip: rip, qualification: hex(e.qualification), decoded,
    text: `VM exit ${e.name} (${e.reason}) rip=${rip}${decoded === '' ? '' : ` ${decoded}`}`,
  };
}

const byNumber = (a: string, b: string): number => (exitReasonByName(a)?.number ?? 0) - (exitReasonByName(b)?.number ?? 0);

export class ExitStatsReporter {
  private lastSentAt = 0;
  private lastSentTotal = 0;
  /** Counts of a machine that is gone (after the guest shut down), so the last stats stay readable. */
  private final: ExitStatsBody | undefined;

  constructor(private readonly source: ExitStatsSource, private readonly send: (e: Event) => void) {}

  body(): ExitStatsBody {
    const target = this.source.target();
    const breakOn = [...this.source.breakOn()].sort(byNumber);
    const chosenInView = Object.fromEntries(this.source.chosenInView());
    if (target === undefined) {
      return this.final === undefined ? { running: false, total: 0, counts: {}, breakOn, chosenInView } : { ...this.final, running: false, breakOn, chosenInView };
    }
    const counts: Record<string, number> = {};
    let total = 0;
    for (const [name, n] of [...target.machine.exitCounts].sort((a, b) => byNumber(a[0], b[0]))) {
      counts[name] = n;
      total += n;
    }
    const body: ExitStatsBody = { running: this.source.running(), total, counts, breakOn, chosenInView };
    if (target.lastExit !== undefined) body.last = describeLastExit(target.lastExit);
    return body;
  }

  /** Sends the stats now (a stop, a change of the break set). */
  report(): void {
    const body = this.body();
    this.lastSentAt = Date.now();
    this.lastSentTotal = body.total;
    this.send(new Event(EXIT_STATS, body));
  }

  /** Between slices of a run: sends when STATS_INTERVAL_MS have passed and an exit happened. */
  whileRunning(): void {
    if (Date.now() - this.lastSentAt < STATS_INTERVAL_MS) return;
    const target = this.source.target();
    if (target === undefined) return;
    let total = 0;
    for (const n of target.machine.exitCounts.values()) total += n;
    if (total !== this.lastSentTotal) this.report();
  }

  /** The machine is about to go (the guest shut down): keep its last stats for later requests. */
  keepFinal(): void {
    this.final = this.body();
  }

  /** A new machine (launch, restart): nothing is kept from the old one. */
  reset(): void {
    this.final = undefined;
    this.lastSentTotal = 0;
  }
}
