// Runs inside VS Code's extension host (extensionTestsPath): the real `vscode` API starts `vmx`
// sessions through the extension under development, as a user's F5 does, and reads what the
// Variables view would show. Expected addresses come from the ELF itself (nm), not from the
// emulator. A small sequential runner: the host only needs run() to resolve or reject.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as vscode from 'vscode';

const EXTENSION_ID = 'vmx-debug.vmx-debug';
const STOP_TIMEOUT_MS = 20_000;

function workspaceRoot(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the test workspace has no folder');
  return folder.uri.fsPath;
}

/** Command lines of the running processes that run the extension's bundled adapter. */
function adapterProcesses(): string[] {
  const adapter = path.join(vscode.extensions.getExtension(EXTENSION_ID)?.extensionPath ?? '?', 'dist', 'adapter.js');
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(adapter));
}

/** A symbol's address as GNU nm prints it for the ELF. */
function nmAddress(elf: string, symbol: string): bigint {
  const line = execFileSync('nm', [elf], { encoding: 'utf8' }).split('\n').find((l) => l.endsWith(` ${symbol}`));
  assert.ok(line, `nm finds no ${symbol} in ${elf}`);
  return BigInt(`0x${line.split(' ')[0]}`);
}

interface Stopped { session: vscode.DebugSession; body: { reason: string; threadId?: number } }

/** Resolves with the next `stopped` event any vmx session sends; bounded by STOP_TIMEOUT_MS. */
function nextStop(): Promise<Stopped> {
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
async function launchAndStop(config: vscode.DebugConfiguration): Promise<{ stop: Stopped; registers: Map<string, string> }> {
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

async function endSession(session: vscode.DebugSession): Promise<void> {
  const ended = new Promise<void>((resolve) => {
    const reg = vscode.debug.onDidTerminateDebugSession((s) => { if (s.id === session.id) { reg.dispose(); resolve(); } });
  });
  await vscode.debug.stopDebugging(session);
  await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 5000))]);
}

const cases: [string, () => Promise<void>][] = [
  ['the extension is installed under its id', async () => {
    assert.ok(vscode.extensions.getExtension(EXTENSION_ID), `${EXTENSION_ID} is not among the extensions`);
  }],
  ['hello.elf with stopOnEntry stops at the ELF entry: Registers shows rip = _start', async () => {
    const elf = path.join(workspaceRoot(), 'samples/hello/hello.elf');
    const { stop, registers } = await launchAndStop({
      type: 'vmx', request: 'launch', name: 'hello (workspace-relative)', program: '${workspaceFolder}/samples/hello/hello.elf', stopOnEntry: true,
    });
    assert.equal(stop.body.reason, 'entry');
    assert.equal(BigInt(registers.get('rip') ?? 'NaN'), nmAddress(elf, '_start'));
    assert.equal(nmAddress(elf, '_start'), 0x8000n, 'the sample links _start at 0x8000 (samples/common/guest.ld)');
    await endSession(stop.session);
  }],
  ['a relative program path is taken from the workspace folder', async () => {
    const { stop, registers } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'hello (relative)', program: 'samples/hello/hello.elf', stopOnEntry: true });
    assert.equal(registers.get('rip'), '0x8000');
    assert.deepEqual(adapterProcesses(), [], 'inline by default: no adapter process');
    await endSession(stop.session);
  }],
  ['without a program the provider debugs the sample', async () => {
    const { stop, registers } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'no program', stopOnEntry: true });
    assert.equal(registers.get('rip'), '0x8000');
    await endSession(stop.session);
  }],
  ['with vmx-debug.adapter = "process" the adapter runs as its own process and works the same', async () => {
    const settings = vscode.workspace.getConfiguration();
    await settings.update('vmx-debug.adapter', 'process', vscode.ConfigurationTarget.Workspace);
    try {
      const { stop, registers } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'hello (process)', program: 'samples/hello/hello.elf', stopOnEntry: true });
      assert.equal(registers.get('rip'), '0x8000');
      assert.equal(adapterProcesses().length, 1, 'one adapter process runs dist/adapter.js');
      await endSession(stop.session);
    } finally {
      await settings.update('vmx-debug.adapter', undefined, vscode.ConfigurationTarget.Workspace);
    }
  }],
  ['a source breakpoint in hello.S stops at main (address from nm)', async () => {
    const root = workspaceRoot();
    const source = vscode.Uri.file(path.join(root, 'samples/hello/hello.S'));
    const doc = await vscode.workspace.openTextDocument(source);
    assert.equal(doc.languageId, 'x86-asm', 'hello.S opens as x86-asm');
    const line = doc.getText().split('\n').findIndex((l) => l.trim().startsWith('call serial_init'));
    assert.ok(line >= 0, 'hello.S has no "call serial_init" line');
    const bp = new vscode.SourceBreakpoint(new vscode.Location(source, new vscode.Position(line, 0)));
    vscode.debug.addBreakpoints([bp]);
    try {
      const { stop, registers } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'hello (breakpoint)', program: 'samples/hello/hello.elf' });
      assert.equal(stop.body.reason, 'breakpoint');
      assert.equal(BigInt(registers.get('rip') ?? 'NaN'), nmAddress(path.join(root, 'samples/hello/hello.elf'), 'main'));
      await endSession(stop.session);
    } finally {
      vscode.debug.removeBreakpoints([bp]);
    }
  }],
];

export async function run(): Promise<void> {
  let failed = 0;
  for (const [name, body] of cases) {
    try {
      await body();
      console.log(`  ok   ${name}`);
    } catch (e) {
      failed++;
      console.log(`  FAIL ${name}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    }
  }
  console.log(`${cases.length - failed} passed, ${failed} failed`);
  if (failed > 0) throw new Error(`${failed} of ${cases.length} extension-host tests failed`);
}
