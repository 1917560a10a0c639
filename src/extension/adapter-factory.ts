// How VS Code reaches the debug adapter: inside the extension host (no process to start, the
// default) or as a separate Node process, which is what one wants when debugging the adapter
// itself. The setting `vmx-debug.adapter` chooses; it is read for every new session.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { createVmxDebugSession } from '../../debug-adapter/session';

export const ADAPTER_SETTING = 'vmx-debug.adapter';
export type AdapterKind = 'inline' | 'process';

export function adapterKind(): AdapterKind {
  const v = vscode.workspace.getConfiguration().get<string>(ADAPTER_SETTING, 'inline');
  return v === 'process' ? 'process' : 'inline';
}

export class VmxAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  /** `adapterScript`: the adapter's stdio entry (the bundled dist/adapter.js in a package). */
  constructor(private readonly adapterScript: string) {}

  createDebugAdapterDescriptor(): vscode.DebugAdapterDescriptor {
    if (adapterKind() === 'process') {
      // The extension host's own runtime: plain Node in a server, Electron acting as Node on the desktop.
      return new vscode.DebugAdapterExecutable(process.execPath, [this.adapterScript], {
        cwd: path.dirname(this.adapterScript),
        env: { ELECTRON_RUN_AS_NODE: '1' },
      });
    }
    // The session speaks DAP through handleMessage/onDidSendMessage, the shape VS Code expects.
    return new vscode.DebugAdapterInlineImplementation(createVmxDebugSession() as unknown as vscode.DebugAdapter);
  }
}
