// Keeps the Breakpoints view's exit-reason checkboxes (DAP exception filters) in step with the
// VM exits view. VS Code 1.100 gives extensions no call to read or set exception filters, and
// reads an adapter's filters only from its initialize response (a later `capabilities` event
// is merged into the session's capabilities but the Breakpoints view is not rebuilt from it).
// So this module:
//  - reads: a debug adapter tracker sees the initialize response (the filters, in the order
//    the Breakpoints view lists them) and every setExceptionBreakpoints VS Code sends (which
//    filters are ticked there);
//  - writes: does what a keyboard user does: focuses the Breakpoints view, moves the list focus
//    to the filter's row (exception filters come first, in that order) and runs VS Code's
//    `debug.toggleBreakpoint` (Space in that list). The next setExceptionBreakpoints tells
//    whether the intended filter flipped; if another one did, it is flipped back.
// The price: keyboard focus passes through the Breakpoints view (it is opened if collapsed),
// and focus returns to the VM exits view afterwards.
import * as vscode from 'vscode';
import { DEBUG_TYPE } from './configuration-provider';

/** How long to wait for VS Code's setExceptionBreakpoints after a toggle. */
const ANSWER_MS = 3000;

interface SessionFilters {
  /** Filter ids as the initialize response declared them. */
  declared: string[];
  /** Filter ids ticked in the Breakpoints view (the last setExceptionBreakpoints). */
  ticked: Set<string>;
  /** Called at the next setExceptionBreakpoints. */
  waiters: Array<() => void>;
}

export class BreakpointsViewSync {
  private readonly sessions = new Map<string, SessionFilters>();
  /** One toggle at a time: each moves the list focus. */
  private queue: Promise<unknown> = Promise.resolve();

  /** The tracker factory to register for the vmx debug type. */
  readonly trackerFactory: vscode.DebugAdapterTrackerFactory = {
    createDebugAdapterTracker: (session) => {
      const state: SessionFilters = { declared: [], ticked: new Set(), waiters: [] };
      this.sessions.set(session.id, state);
      return {
        onWillReceiveMessage: (m: { command?: string; arguments?: { filters?: string[]; filterOptions?: Array<{ filterId: string }> } }) => {
          if (m.command !== 'setExceptionBreakpoints') return;
          state.ticked = new Set([...(m.arguments?.filters ?? []), ...(m.arguments?.filterOptions ?? []).map((o) => o.filterId)]);
          for (const w of state.waiters.splice(0)) w();
        },
        onDidSendMessage: (m: { type?: string; command?: string; body?: { exceptionBreakpointFilters?: Array<{ filter: string }> } }) => {
          if (m.type === 'response' && m.command === 'initialize') state.declared = (m.body?.exceptionBreakpointFilters ?? []).map((f) => f.filter);
        },
        onExit: () => { this.sessions.delete(session.id); },
      };
    },
  };

  /** Filters ticked in the Breakpoints view for `session` (undefined before VS Code sent any). */
  ticked(session: vscode.DebugSession): ReadonlySet<string> | undefined {
    return this.sessions.get(session.id)?.ticked;
  }

  /**
   * Makes the Breakpoints view show `filter` ticked (or not). Resolves true when VS Code's
   * next setExceptionBreakpoints shows it so, false when that could not be done.
   */
  set(session: vscode.DebugSession, filter: string, ticked: boolean): Promise<boolean> {
    const run = this.queue.then(() => this.flip(session, filter, ticked));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async flip(session: vscode.DebugSession, filter: string, ticked: boolean): Promise<boolean> {
    const state = this.sessions.get(session.id);
    if (session.type !== DEBUG_TYPE || state === undefined) return false;
    if (state.ticked.has(filter) === ticked) return true;
    const row = state.declared.indexOf(filter);
    if (row < 0 || vscode.debug.activeDebugSession?.id !== session.id) return false;
    const before = new Set(state.ticked);
    if (!await this.toggleRow(state, row)) return false;
    const flipped = [...new Set([...before, ...state.ticked])].filter((f) => before.has(f) !== state.ticked.has(f));
    if (flipped.length === 1 && flipped[0] === filter) return true;
    // the Breakpoints view lists the filters in another order than declared: undo
    if (flipped.length > 0) await this.toggleRow(state, row);
    return false;
  }

  /** Space on row `row` of the Breakpoints view; true when VS Code then sent setExceptionBreakpoints. */
  private async toggleRow(state: SessionFilters, row: number): Promise<boolean> {
    const answered = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ANSWER_MS);
      state.waiters.push(() => { clearTimeout(timer); resolve(true); });
    });
    try {
      await vscode.commands.executeCommand('workbench.debug.action.focusBreakpointsView');
      await vscode.commands.executeCommand('list.focusFirst');
      for (let k = 0; k < row; k++) await vscode.commands.executeCommand('list.focusDown');
      await vscode.commands.executeCommand('debug.toggleBreakpoint');
    } catch {
      return false;
    }
    return answered;
  }
}
