// The VM exits view in Run and Debug: one checkbox per exit reason the engine can produce
// (checked = the session stops at it), how often each occurred, and the last exit, for the
// focused vmx session. The adapter tells it everything (custom event vmxExitStats, at every
// stop and while the guest runs); a checkbox sends vmxSetExitBreak through the command
// vmx-debug.exits.toggle, which is also how other code (and the tests) tick a reason.
import * as vscode from 'vscode';
import { ANY_EXIT_FILTER } from '../../debug-adapter/exit-breaks';
import { EXIT_STATS, ExitStatsBody, SET_EXIT_BREAK } from '../../debug-adapter/exit-stats';
import { PRODUCIBLE_EXIT_REASONS } from '../vmm/producible-exits';
import { exitReasonByName } from '../vmx/definitions';
import { BreakpointsViewSync } from './breakpoints-view-sync';
import { DEBUG_TYPE } from './configuration-provider';

export const EXITS_VIEW_ID = 'vmx-debug.exits';
/** Whether a tick in the VM exits view is also made in the Breakpoints view (breakpoints-view-sync.ts). */
export const SYNC_SETTING = 'vmx-debug.exitsView.syncBreakpointsView';
export const EXITS_COMMANDS = {
  /** (reason, enabled?) → the new ExitStatsBody; enabled defaults to the opposite of now. */
  toggle: 'vmx-debug.exits.toggle',
  breakOnAll: 'vmx-debug.exits.breakOnAll',
  clear: 'vmx-debug.exits.clear',
  /** → the view's rows as shown (ExitsViewRow[]). */
  items: 'vmx-debug.exits.items',
} as const;

type Row = { kind: 'last' } | { kind: 'reason'; name: string };

/** One row of the view as the user sees it (what the items command returns). */
export interface ExitsViewRow {
  label: string;
  description: string;
  tooltip: string;
  /** Reason rows only: the checkbox. */
  checked?: boolean;
}

class ExitsProvider implements vscode.TreeDataProvider<Row> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  /** The latest stats of every vmx session, by session id. */
  private readonly stats = new Map<string, ExitStatsBody>();

  update(session: vscode.DebugSession, body: ExitStatsBody): void {
    this.stats.set(session.id, body);
    if (session.id === vmxSession()?.id) this.changed.fire();
  }

  forget(session: vscode.DebugSession): void {
    this.stats.delete(session.id);
    this.changed.fire();
  }

  refresh(): void {
    this.changed.fire();
  }

  current(): ExitStatsBody | undefined {
    const s = vmxSession();
    return s === undefined ? undefined : this.stats.get(s.id);
  }

  getChildren(parent?: Row): Row[] {
    if (parent !== undefined || vmxSession() === undefined) return [];
    const rows: Row[] = PRODUCIBLE_EXIT_REASONS.map((name) => ({ kind: 'reason', name }));
    return this.current()?.last === undefined ? rows : [{ kind: 'last' }, ...rows];
  }

  getTreeItem(row: Row): vscode.TreeItem {
    const body = this.current();
    if (row.kind === 'last') {
      const last = body?.last;
      const item = new vscode.TreeItem(`Last exit: ${last?.name ?? '?'} (${last?.reason ?? '?'})`);
      item.description = last === undefined ? '' : `rip=${last.guestRip}${last.decoded === '' ? '' : ` ${last.decoded}`}`;
      item.tooltip = last === undefined ? '' : `${last.text}\nqualification ${last.qualification}`;
      item.iconPath = new vscode.ThemeIcon('debug-stackframe');
      return item;
    }
    const count = body?.counts[row.name] ?? 0;
    const on = body?.breakOn.includes(row.name) ?? false;
    const item = new vscode.TreeItem(row.name);
    item.id = row.name;
    item.description = String(count);
    item.checkboxState = on ? vscode.TreeItemCheckboxState.Checked : vscode.TreeItemCheckboxState.Unchecked;
    item.tooltip = reasonTooltip(row.name, count, on, body?.chosenInView[row.name]);
    return item;
  }
}

function reasonTooltip(name: string, count: number, on: boolean, chosenHere: boolean | undefined): string {
  const r = exitReasonByName(name);
  const lines = [`${name} (exit reason ${r?.number ?? '?'}): ${r?.description ?? ''}`, `Occurred ${count} time${count === 1 ? '' : 's'} in this session.`];
  lines.push(on ? 'The session stops at it, before the VMM answers it.' : 'The session does not stop at it.');
  if (chosenHere !== undefined) lines.push(`${chosenHere ? 'Ticked' : 'Cleared'} here; the Breakpoints view's checkboxes do not show it (see ${SYNC_SETTING}).`);
  return lines.join('\n');
}

/** The focused debug session when it is a vmx one. */
function vmxSession(): vscode.DebugSession | undefined {
  const s = vscode.debug.activeDebugSession;
  return s?.type === DEBUG_TYPE ? s : undefined;
}

function rowOf(provider: ExitsProvider, row: Row): ExitsViewRow {
  const item = provider.getTreeItem(row);
  const out: ExitsViewRow = { label: String(item.label), description: String(item.description ?? ''), tooltip: String(item.tooltip ?? '') };
  if (item.checkboxState !== undefined) out.checked = item.checkboxState === vscode.TreeItemCheckboxState.Checked;
  return out;
}

/** Registers the view, its commands and its listeners; everything goes into `subscriptions`. */
export function registerExitsView(subscriptions: vscode.Disposable[]): void {
  const provider = new ExitsProvider();
  const sync = new BreakpointsViewSync();
  const view = vscode.window.createTreeView(EXITS_VIEW_ID, { treeDataProvider: provider });
  const describe = (): void => {
    const body = provider.current();
    view.description = body === undefined ? undefined : `${body.total} exit${body.total === 1 ? '' : 's'}${body.running ? ', running' : ''}`;
  };

  /** Ticks (or clears) `reason` in the focused vmx session; ANY_VM_EXIT stands for every reason. */
  const toggle = async (reason: string, enabled?: boolean): Promise<ExitStatsBody | undefined> => {
    const session = vmxSession();
    if (session === undefined) {
      void vscode.window.showErrorMessage('VM exits: no vmx debug session is focused');
      return undefined;
    }
    const on = enabled ?? !(provider.current()?.breakOn.includes(reason) ?? false);
    try {
      let body = await session.customRequest(SET_EXIT_BREAK, { reason, enabled: on }) as ExitStatsBody;
      provider.update(session, body);
      if (vscode.workspace.getConfiguration().get<boolean>(SYNC_SETTING, true) && await tickInBreakpointsView(session, reason, on)) {
        body = await session.customRequest(EXIT_STATS) as ExitStatsBody;
        provider.update(session, body);
      }
      return body;
    } catch (e) {
      void vscode.window.showErrorMessage(`VM exits: ${e instanceof Error ? e.message : String(e)}`);
      provider.refresh();
      return undefined;
    }
  };

  /** The same choice in the Breakpoints view; true when something was tried there. */
  const tickInBreakpointsView = async (session: vscode.DebugSession, reason: string, on: boolean): Promise<boolean> => {
    const ticked = sync.ticked(session);
    if (ticked === undefined) return false;
    // clearing every reason clears every ticked filter; ticking every reason is ANY_VM_EXIT
    const filters = reason === ANY_EXIT_FILTER && !on ? [...ticked] : [reason];
    if (filters.length === 0) return false;
    for (const f of filters) await sync.set(session, f, on);
    try {
      await vscode.commands.executeCommand(`${EXITS_VIEW_ID}.focus`);
    } catch {
      // the view is not shown: focus stays where the Breakpoints view left it
    }
    return true;
  };

  subscriptions.push(
    view,
    vscode.debug.registerDebugAdapterTrackerFactory(DEBUG_TYPE, sync.trackerFactory),
    provider.onDidChangeTreeData(describe),
    vscode.debug.onDidReceiveDebugSessionCustomEvent((e) => {
      if (e.session.type === DEBUG_TYPE && e.event === EXIT_STATS) provider.update(e.session, e.body as ExitStatsBody);
    }),
    vscode.debug.onDidChangeActiveDebugSession(() => provider.refresh()),
    vscode.debug.onDidTerminateDebugSession((s) => { if (s.type === DEBUG_TYPE) provider.forget(s); }),
    view.onDidChangeCheckboxState(async (e) => {
      for (const [row, state] of e.items) {
        if (row.kind === 'reason') await toggle(row.name, state === vscode.TreeItemCheckboxState.Checked);
      }
    }),
    vscode.commands.registerCommand(EXITS_COMMANDS.breakOnAll, () => toggle(ANY_EXIT_FILTER, true)),
    vscode.commands.registerCommand(EXITS_COMMANDS.clear, () => toggle(ANY_EXIT_FILTER, false)),
    vscode.commands.registerCommand(EXITS_COMMANDS.toggle, toggle),
    vscode.commands.registerCommand(EXITS_COMMANDS.items, (): ExitsViewRow[] => provider.getChildren().map((r) => rowOf(provider, r))),
  );
}
