// What every extension-host test needs: the workspace, the sample's symbols (GNU nm), the next
// `stopped` event of a vmx session, and starting and ending a session. Runs inside VS Code's
// extension host with the real `vscode` API.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
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


/**
 * A guest for a test: Intel-syntax `lines` assembled by GNU as and linked by GNU ld at `origin`
 * (entry there) into an ELF in a fresh temporary folder; labels are symbols (nmAddress finds them).
 */
export function buildGuestElf(name: string, lines: string[], origin = 0x8000): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-host-guest-'));
  const src = path.join(dir, `${name}.s`), obj = path.join(dir, `${name}.o`), elf = path.join(dir, `${name}.elf`);
  fs.writeFileSync(src, ['.intel_syntax noprefix', '.text', ...lines].join('\n') + '\n');
  execFileSync('as', ['--64', '-o', obj, src]);
  execFileSync('ld', ['-m', 'elf_x86_64', '-Ttext', `0x${origin.toString(16)}`, '-e', `0x${origin.toString(16)}`, '-o', elf, obj]);
  return elf;
}

/** The Registers scope of a stopped session, by name. */
export async function registersOf(stop: Stopped): Promise<Map<string, string>> {
  const trace = await stop.session.customRequest('stackTrace', { threadId: stop.body.threadId ?? 1 }) as { stackFrames: { id: number }[] };
  const scopes = await stop.session.customRequest('scopes', { frameId: trace.stackFrames[0].id }) as { scopes: { name: string; variablesReference: number }[] };
  const regs = scopes.scopes.find((s) => s.name === 'Registers');
  assert.ok(regs, 'no Registers scope');
  const vars = await stop.session.customRequest('variables', { variablesReference: regs.variablesReference }) as { variables: { name: string; value: string }[] };
  return new Map(vars.variables.map((v) => [v.name, v.value]));
}

/**
 * Resolves when `state` is true of a session that already runs (nextStop's tracker only sees
 * sessions started after it): 'stopped' once the adapter answers stackTrace, 'running' once it
 * refuses it because the guest runs. Polls; bounded by STOP_TIMEOUT_MS.
 */
export async function waitUntil(session: vscode.DebugSession, state: 'stopped' | 'running'): Promise<Stopped> {
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  for (;;) {
    let stopped: boolean;
    try {
      await session.customRequest('stackTrace', { threadId: 1 });
      stopped = true;
    } catch (e) {
      if (!/running/.test(e instanceof Error ? e.message : String(e))) throw e;
      stopped = false;
    }
    if (stopped === (state === 'stopped')) return { session, body: { reason: state, threadId: 1 } };
    if (Date.now() > deadline) throw new Error(`the guest was not ${state} within ${STOP_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One instruction step of a session that is stopped; resolves at the stop it ends with. */
export async function stepInstruction(session: vscode.DebugSession): Promise<Stopped> {
  await session.customRequest('next', { threadId: 1, granularity: 'instruction' });
  return waitUntil(session, 'stopped');
}
