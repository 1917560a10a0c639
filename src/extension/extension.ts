// The VS Code side: registers how the `vmx` debug adapter is reached and which launch
// configurations are offered. The debugging itself happens in debug-adapter/.
import * as vscode from 'vscode';
import { VmxAdapterFactory } from './adapter-factory';
import { DEBUG_TYPE, VmxConfigurationProvider } from './configuration-provider';
import { registerHexDisplay } from './hex-display';
import { registerExportExitLog } from './exit-log-export';
import { MsrTreeProvider, registerMsrView } from './msr-view';
import { registerSetMsr } from './set-msr';
import { VmxStopWatcher } from './stop-watcher';
import { registerShowVmcs } from './vmcs-document';
import { registerExitsView } from './exits-view';

/** The adapter's stdio entry inside the extension, as `npm run package` bundles it. */
export const ADAPTER_ENTRY = 'dist/adapter.js';

export function activate(context: vscode.ExtensionContext): void {
  const provider = new VmxConfigurationProvider();
  context.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new VmxAdapterFactory(context.asAbsolutePath(ADAPTER_ENTRY))),
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, provider, vscode.DebugConfigurationProviderTriggerKind.Initial),
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, provider, vscode.DebugConfigurationProviderTriggerKind.Dynamic),
  );
  registerHexDisplay(context);
  // the guest's state drawn at every stop: the MSRs view (and Set MSR), the VMCS document; the exit log export
  const stops = new VmxStopWatcher();
  const msrs = new MsrTreeProvider(stops);
  context.subscriptions.push(stops, registerMsrView(stops, msrs), registerSetMsr(msrs), registerShowVmcs(stops), registerExportExitLog());
  registerExitsView(context.subscriptions);
}

export function deactivate(): void {
  // every registration is in context.subscriptions, which VS Code disposes
}
