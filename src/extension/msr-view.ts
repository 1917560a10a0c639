// The MSRs view in Run and Debug: the stopped guest's named MSRs by group, each with its value
// and decoded fields, read from the adapter's MSRs scope at every stop (and after a value
// changes). Empty, with a message saying why, when no vmx session is stopped.
import * as vscode from 'vscode';
import { msrByName } from '../msr';
import { AdapterVariable, childVariables, messageOf, scopeReference } from './adapter-variables';
import type { StoppedSession, VmxStopWatcher } from './stop-watcher';

export const MSR_VIEW_ID = 'vmx-debug.msrs';
/** Not in the palette: returns what the view shows, for tests and scripts. */
export const MSR_VIEW_ITEMS_COMMAND = 'vmx-debug.msrs.items';
/** The view's refresh button. */
export const MSR_VIEW_REFRESH_COMMAND = 'vmx-debug.msrs.refresh';
const MSR_SCOPE = 'MSRs';

/** A node of the view: a group, an MSR in it, or a field of an MSR. */
export type MsrNode =
  | { readonly kind: 'group'; readonly name: string; readonly msrs: readonly MsrNode[] }
  | { readonly kind: 'msr'; readonly name: string; readonly value: string; readonly groupReference: number; readonly fields: readonly MsrNode[]; readonly stopped: StoppedSession }
  | { readonly kind: 'field'; readonly name: string; readonly value: string };

/** What MSR_VIEW_ITEMS_COMMAND returns: the tree as plain data. */
export interface MsrSnapshot {
  message?: string;
  groups: Array<{ name: string; msrs: Array<{ name: string; value: string; fields: Array<{ name: string; value: string }> }> }>;
}

export class MsrTreeProvider implements vscode.TreeDataProvider<MsrNode> {
  private readonly changed = new vscode.EventEmitter<MsrNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private groups: MsrNode[] = [];
  /** Why the view is empty (shown as the view's message); undefined when it shows MSRs. */
  message: string | undefined = 'No vmx debug session is stopped.';
  private loading: Promise<void> = Promise.resolve();
  /** A read queued behind the one in progress, not yet started. */
  private pending: Promise<void> | undefined;
  private view: vscode.TreeView<MsrNode> | undefined;

  constructor(private readonly stops: VmxStopWatcher) {}

  attach(view: vscode.TreeView<MsrNode>): void {
    this.view = view;
    view.message = this.message;
  }

  /** Reads the MSRs again after any read in progress (stops in a row share one); resolves when the view has them. */
  refresh(): Promise<void> {
    this.pending ??= this.loading.then(() => {
      this.pending = undefined;
      return this.load();
    });
    this.loading = this.pending;
    return this.pending;
  }

  /** The MSR named `name` among the ones shown now. */
  find(name: string): Extract<MsrNode, { kind: 'msr' }> | undefined {
    for (const g of this.groups) {
      if (g.kind !== 'group') continue;
      for (const m of g.msrs) if (m.kind === 'msr' && m.name.toLowerCase() === name.toLowerCase()) return m;
    }
    return undefined;
  }

  allMsrs(): Array<Extract<MsrNode, { kind: 'msr' }>> {
    return this.groups.flatMap((g) => (g.kind === 'group' ? g.msrs : [])).filter((m): m is Extract<MsrNode, { kind: 'msr' }> => m.kind === 'msr');
  }

  getChildren(node?: MsrNode): MsrNode[] {
    if (node === undefined) return this.groups;
    if (node.kind === 'group') return [...node.msrs];
    if (node.kind === 'msr') return [...node.fields];
    return [];
  }

  getTreeItem(node: MsrNode): vscode.TreeItem {
    const S = vscode.TreeItemCollapsibleState;
    if (node.kind === 'group') {
      const item = new vscode.TreeItem(node.name, S.Expanded);
      item.description = `${node.msrs.length} MSR${node.msrs.length === 1 ? '' : 's'}`;
      return item;
    }
    if (node.kind === 'field') {
      const item = new vscode.TreeItem(node.name, S.None);
      item.description = node.value;
      return item;
    }
    const item = new vscode.TreeItem(node.name, node.fields.length > 0 ? S.Collapsed : S.None);
    item.description = node.value;
    item.contextValue = 'msr';
    item.id = `msr:${node.name}`;
    const info = msrByName(node.name);
    if (info !== undefined) item.tooltip = `${info.name} (MSR 0x${info.address.toString(16)}): ${info.description}\n${node.value}`;
    return item;
  }

  snapshot(): MsrSnapshot {
    const snap: MsrSnapshot = { groups: [] };
    if (this.message !== undefined) snap.message = this.message;
    for (const g of this.getChildren()) {
      if (g.kind !== 'group') continue;
      snap.groups.push({
        name: g.name,
        msrs: this.getChildren(g).map((m) => ({
          name: m.name,
          value: m.kind === 'field' || m.kind === 'msr' ? m.value : '',
          fields: this.getChildren(m).map((f) => ({ name: f.name, value: f.kind === 'field' ? f.value : '' })),
        })),
      });
    }
    return snap;
  }

  private async load(): Promise<void> {
    const stopped = this.stops.current();
    let groups: MsrNode[] = [];
    let message: string | undefined;
    if (stopped === undefined) {
      message = this.stops.anySession()
        ? 'The guest is running: its MSRs are shown when it stops (pause, a breakpoint or an exit filter).'
        : 'No vmx debug session is stopped. Start one (F5) and stop the guest to see its MSRs.';
    } else {
      try {
        groups = await readMsrGroups(stopped);
        if (groups.length === 0) message = 'The guest has no named MSRs to show.';
      } catch (e) {
        message = `The MSRs cannot be read now: ${messageOf(e)}`;
      }
    }
    this.groups = groups;
    this.message = message;
    if (this.view !== undefined) this.view.message = message;
    this.changed.fire(undefined);
  }
}

async function readMsrGroups(stopped: StoppedSession): Promise<MsrNode[]> {
  const session = stopped.session;
  const scope = await scopeReference(stopped, MSR_SCOPE);
  const groups: MsrNode[] = [];
  for (const g of await childVariables(session, scope)) {
    if (g.variablesReference === 0) continue;
    const msrs = await Promise.all((await childVariables(session, g.variablesReference)).map(async (m: AdapterVariable): Promise<MsrNode> => {
      const fields = m.variablesReference === 0 ? [] : (await childVariables(session, m.variablesReference))
        .map((f): MsrNode => ({ kind: 'field', name: f.name, value: f.value }));
      return { kind: 'msr', name: m.name, value: m.value, groupReference: g.variablesReference, fields, stopped };
    }));
    groups.push({ kind: 'group', name: g.name, msrs });
  }
  return groups;
}

/** The view, its refresh on every stop (while it is visible), and the commands that refresh it and read it back. */
export function registerMsrView(stops: VmxStopWatcher, provider: MsrTreeProvider): vscode.Disposable {
  const view = vscode.window.createTreeView(MSR_VIEW_ID, { treeDataProvider: provider, showCollapseAll: true });
  provider.attach(view);
  void provider.refresh();
  // a hidden view is read when it is shown again, not at every step
  let stale = false;
  const changed = (): void => {
    if (view.visible) void provider.refresh();
    else stale = true;
  };
  return vscode.Disposable.from(
    view,
    stops.onDidChange(changed),
    vscode.debug.onDidChangeActiveDebugSession(changed),
    view.onDidChangeVisibility((e) => {
      if (!e.visible || !stale) return;
      stale = false;
      void provider.refresh();
    }),
    vscode.commands.registerCommand(MSR_VIEW_REFRESH_COMMAND, () => provider.refresh()),
    vscode.commands.registerCommand(MSR_VIEW_ITEMS_COMMAND, async (): Promise<MsrSnapshot> => {
      await provider.refresh();
      return provider.snapshot();
    }),
  );
}
