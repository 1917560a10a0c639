// VMX: Export Exit Log… — every VM exit of the vmx session so far (the adapter keeps the last
// 1,000,000: debug-adapter/exit-log.ts) written as JSON lines, one object per exit in the CLI's
// `run --json` record format plus ordinal and instruction count, to a file the user picks (or
// the Uri a caller passes). Read from the adapter a page at a time (custom request vmxExitLog).
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { EXIT_LOG_LIMIT, EXIT_LOG_REQUEST, ExitLogBody } from '../../debug-adapter/exit-log';
import { DEBUG_TYPE } from './configuration-provider';
import { messageOf } from './adapter-variables';

export const EXPORT_EXIT_LOG_COMMAND = 'vmx-debug.exportExitLog';

/** The vmx session to export: the active one, else the only vmx session there is. */
function vmxSession(): vscode.DebugSession {
  const active = vscode.debug.activeDebugSession;
  if (active?.type === DEBUG_TYPE) return active;
  throw new Error('no vmx debug session is active: start one (its exits are kept while it runs)');
}

/** Writes the log to `file`; returns how many exits were written and how many the adapter had dropped. */
export async function exportExitLog(session: vscode.DebugSession, file: string): Promise<{ written: number; dropped: number }> {
  const out = fs.createWriteStream(file, { encoding: 'utf8' });
  const done = new Promise<void>((resolve, reject) => { out.on('finish', resolve); out.on('error', reject); });
  let written = 0;
  let dropped = 0;
  try {
    let start: number | undefined;
    do {
      const page = await session.customRequest(EXIT_LOG_REQUEST, start === undefined ? {} : { start }) as ExitLogBody;
      dropped = page.first - 1;
      for (const line of page.lines) {
        if (!out.write(`${line}\n`)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      }
      written += page.lines.length;
      start = page.next;
    } while (start !== undefined);
  } finally {
    out.end();
  }
  await done;
  return { written, dropped };
}

export function registerExportExitLog(): vscode.Disposable {
  return vscode.commands.registerCommand(EXPORT_EXIT_LOG_COMMAND, async (target?: vscode.Uri) => {
    try {
      const session = vmxSession();
      const uri = target ?? await vscode.window.showSaveDialog({
        title: 'Export VM exit log', saveLabel: 'Export', filters: { 'JSON lines': ['jsonl'] },
        defaultUri: vscode.workspace.workspaceFolders?.[0] === undefined ? undefined : vscode.Uri.joinPath(vscode.workspace.workspaceFolders[0].uri, 'vm-exits.jsonl'),
      });
      if (uri === undefined) return undefined;
      if (uri.scheme !== 'file') throw new Error(`can only write to files on this machine, not ${uri.toString()}`);
      const r = await exportExitLog(session, uri.fsPath);
      const note = r.dropped > 0 ? ` (the ${r.dropped} oldest were dropped: the adapter keeps the last ${EXIT_LOG_LIMIT})` : '';
      void vscode.window.showInformationMessage(`VMX: ${r.written} VM exit${r.written === 1 ? '' : 's'} written to ${uri.fsPath}${note}`);
      return r;
    } catch (e) {
      void vscode.window.showErrorMessage(`VMX: Export Exit Log: ${messageOf(e)}`);
      if (target !== undefined) throw e;
      return undefined;
    }
  });
}
