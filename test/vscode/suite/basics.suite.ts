// The extension's basics in a real VS Code: it is installed, launches hello.elf (relative paths,
// no program, inline or as a process), and stops at a source breakpoint. Expected addresses
// come from the ELF itself (nm), not from the emulator.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { adapterProcesses, endSession, EXTENSION_ID, HostTest, launchAndStop, nmAddress, workspaceRoot } from './session-helpers';

export const tests: HostTest[] = [
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

