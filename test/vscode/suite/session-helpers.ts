// What every extension-host test needs: the workspace, the sample's symbols (GNU nm), the next
// `stopped` event of a vmx session, and starting and ending a session. Runs inside VS Code's
// extension host with the real `vscode` API.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as vscode from 'vscode';

/** One extension-host test: a name and its body. Each *.suite.ts file exports `tests: HostTest[]`. */
export type HostTest = [string, () => Promise<void>];

export const EXTENSION_ID = 'vmx-debug.vmx-debug';
export const STOP_TIMEOUT_MS = 20_000;

export function workspaceRoot(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the test workspace has no folder');
  return folder.uri.fsPath;
}

/** Command lines of the running processes that run the extension's bundled adapter. */
export function adapterProcesses(): string[] {
  const adapter = path.join(vscode.extensions.getExtension(EXTENSION_ID)?.extensionPath ?? '?', 'dist', 'adapter.js');
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(adapter));
}

/** A symbol's address as GNU nm prints it for the ELF. */
export function nmAddress(elf: string, symbol: string): bigint {
  const line = execFileSync('nm', [elf], { encoding: 'utf8' }).split('\n').find((l) => l.endsWith(` ${symbol}`));
  assert.ok(line, `nm finds no ${symbol} in ${elf}`);
  return BigInt(`0x${line.split(' ')[0]}`);
}

export interface Stopped { session: vscode.DebugSession; body: { reason: string; threadId?: number } }

/** Resolves with the next `stopped` event any vmx session sends; bounded by STOP_TIMEOUT_MS. */
export function nextStop(): Promise<Stopped> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reg.dispose(); reject(new Error(`no stopped event within ${STOP_TIMEOUT_MS} ms`)); }, STOP_TIMEOUT_MS);
    const reg = vscode.debug.registerDebugAdapterTrackerFactory('vmx', {
      createDebugAdapterTracker(session) {
        return {
          onDidSendMessage(m: { type?: string; event?: string; body?: Stopped['body'] }) {
            if (m.type === 'event' && m.event === 'stopped' && m.body !== undefined) {
              clearTimeout(timer);
              reg.dispose();
              resolve({ session, body: m.body });
            }
          },
        };
      },
    });
  });
}

/** Starts a session with `config`, waits for its first stop, returns the registers by name. */
export async function launchAndStop(config: vscode.DebugConfiguration): Promise<{ stop: Stopped; registers: Map<string, string> }> {
  const stopped = nextStop();
  const ok = await vscode.debug.startDebugging(vscode.workspace.workspaceFolders?.[0], config);
  assert.ok(ok, `startDebugging refused ${JSON.stringify(config)}`);
  const stop = await stopped;
  const trace = await stop.session.customRequest('stackTrace', { threadId: stop.body.threadId ?? 1 }) as { stackFrames: { id: number }[] };
  const scopes = await stop.session.customRequest('scopes', { frameId: trace.stackFrames[0].id }) as { scopes: { name: string; variablesReference: number }[] };
  const regs = scopes.scopes.find((s) => s.name === 'Registers');
  assert.ok(regs, `no Registers scope among ${scopes.scopes.map((s) => s.name).join(', ')}`);
  const vars = await stop.session.customRequest('variables', { variablesReference: regs.variablesReference }) as { variables: { name: string; value: string }[] };
  return { stop, registers: new Map(vars.variables.map((v) => [v.name, v.value])) };
}

export async function endSession(session: vscode.DebugSession): Promise<void> {
  const ended = new Promise<void>((resolve) => {
    const reg = vscode.debug.onDidTerminateDebugSession((s) => { if (s.id === session.id) { reg.dispose(); resolve(); } });
  });
  await vscode.debug.stopDebugging(session);
  await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 5000))]);
}

