// Which vmx session is stopped, told to whoever draws the guest's state (the MSRs view, the
// VMCS document): a DebugAdapterTracker on every vmx session sees the adapter's `stopped`
// events, the requests that set the guest running, and the session's end.
import * as vscode from 'vscode';
import { DEBUG_TYPE } from './configuration-provider';

/** Requests after which the guest runs (its state is gone until the next stop). */
const RUNNING_REQUESTS = new Set(['continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue', 'goto', 'restart']);

export interface StoppedSession {
  readonly session: vscode.DebugSession;
  readonly threadId: number;
}

export class VmxStopWatcher implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when a vmx session stops, runs, changes the guest's values, or ends. */
  readonly onDidChange = this.changed.event;
  private stoppedSessions = new Map<string, StoppedSession>();
  private readonly registration: vscode.Disposable;

  constructor() {
    this.registration = vscode.debug.registerDebugAdapterTrackerFactory(DEBUG_TYPE, {
      createDebugAdapterTracker: (session) => ({
        onDidSendMessage: (m: { type?: string; event?: string; body?: { threadId?: number } }) => {
          if (m.type !== 'event') return;
          if (m.event === 'stopped') this.set(session, { session, threadId: m.body?.threadId ?? 1 });
          else if (m.event === 'continued') this.set(session, undefined);
          else if (m.event === 'invalidated') this.changed.fire();
          else if (m.event === 'terminated' || m.event === 'exited') this.set(session, undefined);
        },
        onWillReceiveMessage: (m: { type?: string; command?: string }) => {
          if (m.type === 'request' && m.command !== undefined && RUNNING_REQUESTS.has(m.command)) this.set(session, undefined);
        },
        onWillStopSession: () => this.set(session, undefined),
        onExit: () => this.set(session, undefined),
      }),
    });
  }

  /** The stopped vmx session to show: the active one if it is vmx and stopped, else the last one that stopped. */
  current(): StoppedSession | undefined {
    const active = vscode.debug.activeDebugSession;
    if (active !== undefined && this.stoppedSessions.has(active.id)) return this.stoppedSessions.get(active.id);
    return [...this.stoppedSessions.values()].pop();
  }

  /** Whether some vmx session exists at all (running or stopped), for the views' messages. */
  anySession(): boolean {
    return vscode.debug.activeDebugSession?.type === DEBUG_TYPE || this.stoppedSessions.size > 0;
  }

  private set(session: vscode.DebugSession, stopped: StoppedSession | undefined): void {
    this.stoppedSessions.delete(session.id);
    if (stopped !== undefined) this.stoppedSessions.set(session.id, stopped);
    this.changed.fire();
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
  }
}

/** The top frame's id of a stopped session (what `scopes` asks for): VS Code's focused frame when it is in that session. */
export async function focusedFrameId(stopped: StoppedSession): Promise<number> {
  const item = vscode.debug.activeStackItem;
  if (item instanceof vscode.DebugStackFrame && item.session.id === stopped.session.id) return item.frameId;
  const trace = await stopped.session.customRequest('stackTrace', { threadId: stopped.threadId, startFrame: 0, levels: 1 }) as { stackFrames: Array<{ id: number }> };
  const top = trace.stackFrames[0];
  if (top === undefined) throw new Error('the stopped guest has no stack frame');
  return top.id;
}
