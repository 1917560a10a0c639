// VMX: Show Current VMCS — a read-only document (scheme vmx-vmcs) listing the current VMCS of
// the stopped guest by area (guest state, host state, controls with their named bits, exit
// information), each field with its encoding (SDM Vol. 3D, Appendix B, from
// src/vmx/vmcs-fields.ts) and value as the adapter's VMCS scope shows it. The document is
// written again whenever the guest stops.
import * as vscode from 'vscode';
import { vmcsFieldByName } from '../vmx/vmcs-fields';
import { childVariables, messageOf, scopeReference } from './adapter-variables';
import type { StoppedSession, VmxStopWatcher } from './stop-watcher';

export const SHOW_VMCS_COMMAND = 'vmx-debug.showVmcs';
export const VMCS_SCHEME = 'vmx-vmcs';
/** The document's address (made when asked: the module loads before `vscode` is all there in a test stub). */
export function vmcsUri(): vscode.Uri {
  return vscode.Uri.from({ scheme: VMCS_SCHEME, path: '/Current VMCS.txt' });
}
const VMCS_SCOPE = 'VMCS';

export class VmcsDocumentProvider implements vscode.TextDocumentContentProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly stops: VmxStopWatcher) {}

  /** The guest stopped again (or ran, or ended): VS Code asks for the text anew. */
  update(): void {
    this.changed.fire(vmcsUri());
  }

  async provideTextDocumentContent(): Promise<string> {
    const stopped = this.stops.current();
    if (stopped === undefined) {
      return this.stops.anySession()
        ? 'The guest is running. The VMCS is shown here when it stops.\n'
        : 'No vmx debug session is stopped. Start one and stop the guest to see its VMCS.\n';
    }
    try {
      return await vmcsText(stopped);
    } catch (e) {
      return `The VMCS cannot be read now: ${messageOf(e)}\n`;
    }
  }
}

/** The listing: one section per area, `NAME  encoding  value`, a control's bits below it. */
export async function vmcsText(stopped: StoppedSession): Promise<string> {
  const session = stopped.session;
  const top = await childVariables(session, await scopeReference(stopped, VMCS_SCOPE));
  const out = [`VMCS of the guest in debug session '${session.name}' (read-only; written again at every stop)`];
  for (const area of top) {
    if (area.variablesReference === 0) {
      out.push(`${area.name}: ${area.value}`);
      continue;
    }
    const fields = await childVariables(session, area.variablesReference);
    const width = Math.max(0, ...fields.map((f) => f.name.length));
    out.push('', `== ${area.name} (${fields.length} fields) ==`);
    for (const f of fields) {
      const info = vmcsFieldByName(f.name);
      const encoding = info === undefined ? '      ' : `0x${info.encoding.toString(16).padStart(4, '0')}`;
      // a control field's value reads "0x… [BIT, BIT]": the list is repeated bit by bit below
      const value = f.variablesReference === 0 ? f.value : f.value.replace(/\s*\[.*\]$/, '');
      out.push(`  ${f.name.padEnd(width)}  ${encoding}  ${value}`);
      if (f.variablesReference !== 0) {
        const bits = await childVariables(session, f.variablesReference);
        for (const b of bits) out.push(`      ${b.value === '0x0' ? '  ' : '* '}${b.name} = ${b.value}`);
      }
    }
  }
  return `${out.join('\n')}\n`;
}

export function registerShowVmcs(stops: VmxStopWatcher): vscode.Disposable {
  const provider = new VmcsDocumentProvider(stops);
  return vscode.Disposable.from(
    vscode.workspace.registerTextDocumentContentProvider(VMCS_SCHEME, provider),
    stops.onDidChange(() => provider.update()),
    vscode.commands.registerCommand(SHOW_VMCS_COMMAND, async (): Promise<vscode.TextDocument> => {
      const doc = await vscode.workspace.openTextDocument(vmcsUri());
      await vscode.window.showTextDocument(doc, { preview: false, preserveFocus: true });
      return doc;
    }),
  );
}
