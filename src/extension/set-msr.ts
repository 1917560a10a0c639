// VMX: Set MSR… — from the MSRs view's inline action, the palette (pick an MSR, then a value),
// or a caller with arguments (`executeCommand('vmx-debug.setMsr', 'IA32_TSC_AUX', '0x2a')`).
// The value is written with the adapter's setVariable on that MSR: the adapter applies the
// processor's rules and its refusal is shown as it words it.
import * as vscode from 'vscode';
import { msrByName } from '../msr';
import { messageOf } from './adapter-variables';
import { msrValueForAdapter, msrValueProblem } from './msr-value';
import type { MsrNode, MsrTreeProvider } from './msr-view';

export const SET_MSR_COMMAND = 'vmx-debug.setMsr';

type MsrItem = Extract<MsrNode, { kind: 'msr' }>;

export function registerSetMsr(provider: MsrTreeProvider): vscode.Disposable {
  return vscode.commands.registerCommand(SET_MSR_COMMAND, async (target?: MsrItem | string, value?: string): Promise<string | undefined> => {
    const programmatic = typeof target === 'string' && value !== undefined;
    try {
      return await setMsr(provider, target, value);
    } catch (e) {
      void vscode.window.showErrorMessage(`VMX: Set MSR: ${messageOf(e)}`);
      if (programmatic) throw e;
      return undefined;
    }
  });
}

/** Returns the value the adapter shows after the write, or undefined when the user cancelled. */
async function setMsr(provider: MsrTreeProvider, target: MsrItem | string | undefined, value: string | undefined): Promise<string | undefined> {
  await provider.refresh();
  let item: MsrItem | undefined;
  if (typeof target === 'string') {
    item = provider.find(target);
    if (item === undefined) {
      throw new Error(provider.message ?? (msrByName(target) === undefined ? `no MSR named '${target}'` : `${target} is not among the guest's MSRs`));
    }
  } else if (target !== undefined && target.kind === 'msr') {
    item = provider.find(target.name);
  } else {
    const msrs = provider.allMsrs();
    if (msrs.length === 0) throw new Error(provider.message ?? 'no MSRs to set');
    const picked = await vscode.window.showQuickPick(msrs.map((m) => ({ label: m.name, description: m.value, detail: msrByName(m.name)?.description })), { placeHolder: 'MSR to set' });
    if (picked === undefined) return undefined;
    item = provider.find(picked.label);
  }
  if (item === undefined) throw new Error('that MSR is no longer shown (the guest ran)');
  let text = value;
  if (text === undefined) {
    text = await vscode.window.showInputBox({
      title: `Set ${item.name}`, prompt: `New value of ${item.name} (hex 0x…, binary 0b… or decimal)`, value: item.value,
      validateInput: (t) => msrValueProblem(t),
    });
    if (text === undefined) return undefined;
  }
  const problem = msrValueProblem(text);
  if (problem !== undefined) throw new Error(`'${text}' is not a value for ${item.name}: ${problem}`);
  const r = await item.stopped.session.customRequest('setVariable', { variablesReference: item.groupReference, name: item.name, value: msrValueForAdapter(text) }) as { value: string };
  await provider.refresh();
  return r.value;
}
