// The VMX commands in a real VS Code: they are contributed and registered; VMX: Show Current
// VMCS opens a document of the VMCS by area with encodings (SDM Vol. 3D, Appendix B) and the
// values of the exit the guest stopped at, written again at the next stop; VMX: Export Exit
// Log… writes one JSON object per exit, whose reasons and RIPs are what the guest's
// instructions must cause at the addresses GNU nm gives.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { buildGuestElf, endSession, EXTENSION_ID, HostTest, launchAndStop, nmAddress, waitUntil } from './session-helpers';

/** A real-mode guest: CPUID, OUT to COM1, IN from port 0x61, HLT, each at a label. */
function exitGuest(): string {
  return buildGuestElf('exits', [
    '.code16', '_start:', 'xor eax, eax', 'at_cpuid:', 'cpuid', 'mov dx, 0x3f8', 'mov al, 0x41', 'at_out:', 'out dx, al', 'at_in:', 'in al, 0x61', 'at_hlt:', 'hlt',
  ]);
}

/** A VMCS document line: name, encoding, value. */
function fieldLine(text: string, name: string): { encoding: string; value: string } | undefined {
  const m = new RegExp(`^\\s+${name}\\s+(0x[0-9a-f]{4})\\s+(0x[0-9a-f]+)`, 'm').exec(text);
  return m === null ? undefined : { encoding: m[1], value: m[2] };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let k = 0; k < 50; k++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

export const tests: HostTest[] = [
  ['the VMX commands are contributed with their titles and registered', async () => {
    const manifest = vscode.extensions.getExtension(EXTENSION_ID)?.packageJSON as { contributes: { commands: { command: string; title: string; category: string }[] } };
    const titles = new Map(manifest.contributes.commands.map((c) => [c.command, `${c.category}: ${c.title}`]));
    assert.equal(titles.get('vmx-debug.setMsr'), 'VMX: Set MSR…');
    assert.equal(titles.get('vmx-debug.showVmcs'), 'VMX: Show Current VMCS');
    assert.equal(titles.get('vmx-debug.exportExitLog'), 'VMX: Export Exit Log…');
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const id of titles.keys()) assert.ok(registered.has(id), `${id} is registered`);
  }],
  ['VMX: Show Current VMCS lists the fields by area with encodings and the CPUID exit\'s values, and follows the next stop', async () => {
    const elf = exitGuest();
    const { stop } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'vmcs', program: elf, breakOnExits: ['CPUID', 'HLT'] });
    try {
      const doc = await vscode.commands.executeCommand<vscode.TextDocument>('vmx-debug.showVmcs');
      const text = doc.getText();
      for (const area of ['Guest state', 'Host state', 'Controls', 'Exit information']) assert.match(text, new RegExp(`^== ${area} \\(\\d+ fields\\) ==$`, 'm'), area);
      // encodings from the SDM (Vol. 3D, Appendix B); values from the exit: CPUID is basic reason 10 (Appendix C)
      assert.deepEqual(fieldLine(text, 'GUEST_RIP'), { encoding: '0x681e', value: `0x${nmAddress(elf, 'at_cpuid').toString(16)}` });
      assert.deepEqual(fieldLine(text, 'VM_EXIT_REASON'), { encoding: '0x4402', value: '0xa' });
      assert.equal(fieldLine(text, 'VM_EXIT_INSTRUCTION_LEN')?.value, '0x2', 'cpuid is 0F A2');
      assert.equal(fieldLine(text, 'CPU_BASED_VM_EXEC_CONTROL')?.encoding, '0x4002');
      assert.match(text, /^ {6}\* HLT exiting = 0x1$/m, 'the guest stops at HLT exits, so HLT exiting is set (SDM Vol. 3C, 26.1.3), listed as a named bit');
      assert.equal(doc.isUntitled, false);
      assert.equal(doc.uri.scheme, 'vmx-vmcs');
      await stop.session.customRequest('continue', { threadId: 1 });
      await waitUntil(stop.session, 'stopped');
      const hlt = `0x${nmAddress(elf, 'at_hlt').toString(16)}`;
      await until(() => fieldLine(doc.getText(), 'GUEST_RIP')?.value === hlt, `GUEST_RIP ${hlt} in the document`);
      assert.equal(fieldLine(doc.getText(), 'VM_EXIT_REASON')?.value, '0xc', 'HLT is basic reason 12');
    } finally {
      await endSession(stop.session);
    }
  }],
  ['VMX: Export Exit Log… writes one JSON object per exit: the guest\'s CPUID, OUT, IN and HLT at their addresses, in order', async () => {
    const elf = exitGuest();
    const { stop } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'exit log', program: elf, breakOnExits: ['HLT'] });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-exitlog-'));
    try {
      const file = path.join(dir, 'exits.jsonl');
      const r = await vscode.commands.executeCommand<{ written: number; dropped: number }>('vmx-debug.exportExitLog', vscode.Uri.file(file));
      assert.deepEqual(r, { written: 4, dropped: 0 });
      const text = fs.readFileSync(file, 'utf8');
      assert.ok(text.endsWith('\n'));
      const records = text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(records.map((x) => [x.reason, x.number]), [['CPUID', 10], ['IO_INSTRUCTION', 30], ['IO_INSTRUCTION', 30], ['HLT', 12]]);
      assert.deepEqual(records.map((x) => x.rip), ['at_cpuid', 'at_out', 'at_in', 'at_hlt'].map((s) => `0x${nmAddress(elf, s).toString(16)}`));
      assert.deepEqual(records.map((x) => x.ordinal), [1, 2, 3, 4]);
      // OUT DX, AL to 0x3f8 and IN AL, 0x61: port in bits 31:16, direction bit 3, immediate bit 6 (SDM Vol. 3C, Table 28-5)
      assert.deepEqual(records.slice(1, 3).map((x) => x.qualification), [`0x${(0x3f8 << 16).toString(16)}`, `0x${((0x61 << 16) | (1 << 3) | (1 << 6)).toString(16)}`]);
      for (const x of records) {
        assert.equal(typeof x.description, 'string');
        assert.equal(typeof x.instructionLength, 'number');
        assert.equal(typeof x.instructions, 'number');
      }
    } finally {
      await endSession(stop.session);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }],
  ['VMX: Export Exit Log… without a vmx session is an error saying so', async () => {
    const file = path.join(os.tmpdir(), `vmx-no-session-${process.pid}.jsonl`);
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('vmx-debug.exportExitLog', vscode.Uri.file(file))), /no vmx debug session is active/);
    assert.equal(fs.existsSync(file), false, 'no file is written');
  }],
];
