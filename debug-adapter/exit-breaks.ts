// Which exit reasons the session stops at when two places choose them: the Breakpoints view's
// exception filters (VS Code sends its whole list in setExceptionBreakpoints) and the VM exits
// view (`vmxSetExitBreak`, one reason at a time). VS Code offers no way to tick a filter's box from
// outside, so its next setExceptionBreakpoints still lacks a reason the exits view chose. The
// rule is "the last action on a reason wins": a choice made in the exits view holds until the
// Breakpoints view itself changes that reason (its membership in the list VS Code sends flips).

import { PRODUCIBLE_EXIT_REASONS } from '../src/vmm/producible-exits';
import type { StopCondition } from '../src/vmm/stop-condition';
import { exitReasonByName } from '../src/vmx/definitions';

/** The exception-filter id that stands for every exit reason (also accepted by vmxSetExitBreak). */
export const ANY_EXIT_FILTER = 'ANY_VM_EXIT';

/** A vmxSetExitBreak that names no exit reason, or has no boolean `enabled`. */
export class ExitBreakError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExitBreakError';
  }
}

/** The reasons the session stops at, and the conditions of those that have one. */
export interface ExitBreakSet {
  names: Set<string>;
  conditions: Map<string, StopCondition[]>;
}

export class ExitBreakChoices {
  /** The reasons of the last setExceptionBreakpoints (with launch's breakOnExits). */
  private fromBreakpointsView = new Set<string>();
  /** Choices of the exits view still in force: reason → stop at it. */
  private readonly chosen = new Map<string, boolean>();

  /** The reasons `reason` stands for (ANY_VM_EXIT: every producible one); throws ExitBreakError. */
  static covers(reason: unknown): readonly string[] {
    if (typeof reason !== 'string') throw new ExitBreakError(`vmxSetExitBreak: 'reason' must be an exit reason name, not ${JSON.stringify(reason)}`);
    if (reason === ANY_EXIT_FILTER) return PRODUCIBLE_EXIT_REASONS;
    const r = exitReasonByName(reason);
    if (r === undefined) throw new ExitBreakError(`vmxSetExitBreak: no exit reason named '${reason}'`);
    return [r.name];
  }

  /**
   * setExceptionBreakpoints arrived with `set`: the exits view's choices on reasons whose filter
   * state did not change there are laid over it; the others are forgotten.
   */
  breakpointsView(set: ExitBreakSet): ExitBreakSet {
    const before = this.fromBreakpointsView;
    this.fromBreakpointsView = new Set(set.names);
    for (const name of [...this.chosen.keys()]) {
      if (before.has(name) !== set.names.has(name)) this.chosen.delete(name);
    }
    return this.overlay(set);
  }

  /** vmxSetExitBreak: the exits view ticked (or cleared) `reason` in `current`. */
  exitsView(current: ExitBreakSet, reason: unknown, enabled: unknown): ExitBreakSet {
    const names = ExitBreakChoices.covers(reason);
    if (typeof enabled !== 'boolean') throw new ExitBreakError(`vmxSetExitBreak: 'enabled' must be true or false, not ${JSON.stringify(enabled)}`);
    for (const name of names) this.chosen.set(name, enabled);
    return this.overlay(current);
  }

  /** Reasons whose state the exits view decided (for its tooltips). */
  choices(): ReadonlyMap<string, boolean> {
    return this.chosen;
  }

  private overlay(set: ExitBreakSet): ExitBreakSet {
    const names = new Set(set.names);
    const conditions = new Map(set.conditions);
    for (const [name, on] of this.chosen) {
      // a reason ticked in the exits view stops every time: it has no condition of its own
      conditions.delete(name);
      if (on) names.add(name);
      else names.delete(name);
    }
    return { names, conditions };
  }
}
