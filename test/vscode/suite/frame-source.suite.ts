// A guest without line information (a flat binary) in a real VS Code: its frames carry a
// disassembly source, so VS Code focuses the top frame at the stop by itself (the Variables
// view fills without a click) and opens the disassembly with the instruction at RIP, as GNU
// objdump prints the same bytes, on the focused line.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { endSession, HostTest, launchAndStop } from './session-helpers';

async function until<T>(get: () => T | undefined, what: string): Promise<T> {
  for (let k = 0; k < 100; k++) {
    const v = get();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

export const tests: HostTest[] = [
  ['a flat binary\'s stop focuses its top frame and shows the disassembly at RIP', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-flat-'));
    const elf = path.join(dir, 'flat.elf'), bin = path.join(dir, 'flat.bin');
    fs.writeFileSync(path.join(dir, 'flat.s'), '.intel_syntax noprefix\n.text\n.code16\nxor eax, eax\ncpuid\nhlt\n');
    execFileSync('as', ['--64', '-o', path.join(dir, 'flat.o'), path.join(dir, 'flat.s')]);
    execFileSync('ld', ['-m', 'elf_x86_64', '-Ttext', '0x8000', '-e', '0x8000', '-o', elf, path.join(dir, 'flat.o')]);
    execFileSync('objcopy', ['-O', 'binary', elf, bin]);
    // objdump's first line of the code: "    8000:\t66 31 c0             \txor    eax,eax"
    const first = execFileSync('objdump', ['-D', '-b', 'binary', '-m', 'i8086', '-M', 'intel', '--adjust-vma=0x8000', bin], { encoding: 'utf8' })
      .split('\n').find((l) => /^\s*8000:/.test(l));
    assert.ok(first, 'objdump lists the instruction at 0x8000');
    const { stop } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'flat', program: bin, loadAddress: '0x8000', stopOnEntry: true });
    try {
      const frame = await until(() => {
        const item = vscode.debug.activeStackItem;
        return item instanceof vscode.DebugStackFrame && item.session.id === stop.session.id ? item : undefined;
      }, 'VS Code to focus the top frame');
      assert.equal(frame.frameId, 1);
      const editor = await until(() => {
        const e = vscode.window.activeTextEditor;
        return e?.document.uri.scheme === 'debug' ? e : undefined;
      }, 'the disassembly to open');
      const line = editor.document.lineAt(editor.selection.active.line).text;
      assert.equal(line.replace(/\s+/g, ' ').trim(), first.replace(/\s+/g, ' ').trim());
    } finally {
      await endSession(stop.session);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }],
];
