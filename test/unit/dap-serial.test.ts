// The launch attribute `serial`: COM1's output in the Debug Console (default), in a file, or
// nowhere; a bad value or an unwritable file is a launch error naming the attribute, and the
// adapter answers the next request. The expected text is the string the ELF holds (as the
// hello guest prints it), not the adapter's own output.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { gnuToolsAvailable } from '../support/gnu-tools';
import { elfBytes, HELLO, startAdapter, stopAdapter, symbol } from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 30_000 };

/** The line hello prints on COM1, as the ELF holds it at `message`. */
function helloText(): string {
  const bytes = elfBytes(symbol('message'), 128);
  return Buffer.from(bytes.slice(0, bytes.indexOf(0))).toString('latin1');
}

/** Runs hello to its power-off with `serial`; returns what reached the Debug Console. */
async function runHello(serial: unknown): Promise<string> {
  const dc = await startAdapter();
  try {
    let text = '';
    dc.on('output', (e: DebugProtocol.OutputEvent) => { if (e.body.category === 'stdout') text += e.body.output; });
    const terminated = dc.waitForEvent('terminated');
    await dc.initializeRequest();
    await dc.launchRequest({ program: HELLO, serial } as DebugProtocol.LaunchRequestArguments);
    await dc.configurationDoneRequest();
    await terminated;
    return text;
  } finally {
    await stopAdapter(dc);
  }
}

test('serial "console" (and no attribute) sends COM1 to the Debug Console; "none" drops it', T, async () => {
  const expected = helloText();
  assert.ok(expected.length > 0);
  assert.equal(await runHello(undefined), expected);
  assert.equal(await runHello('console'), expected);
  assert.equal(await runHello('none'), '');
});

test('serial { file } writes COM1 to the file (truncated at launch) and nothing to the console', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-serial-'));
  try {
    const file = path.join(dir, 'com1.log');
    fs.writeFileSync(file, 'old text that the launch must remove\n'.repeat(10));
    assert.equal(await runHello({ file }), '');
    assert.equal(fs.readFileSync(file, 'latin1'), helloText());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad serial value or an unwritable file is a launch error naming the attribute; the adapter lives on', T, async () => {
  const dc = await startAdapter();
  try {
    await dc.initializeRequest();
    const bad: Array<[unknown, RegExp]> = [
      ['com1', /launch attribute 'serial': expected "console", "none" or an object with a "file" path, not "com1"/],
      [{ file: '' }, /launch attribute 'serial'/],
      [{ file: 'a', port: 4 }, /launch attribute 'serial'/],
      [42, /launch attribute 'serial'/],
      [{ file: path.join(os.tmpdir(), 'no-such-dir-vmx', 'x', 'com1.log') }, /launch attribute 'serial': cannot write .*no-such-dir-vmx.*ENOENT/],
    ];
    for (const [serial, message] of bad) {
      await assert.rejects(dc.launchRequest({ program: HELLO, serial } as DebugProtocol.LaunchRequestArguments), message, JSON.stringify(serial));
    }
    const threads = await dc.threadsRequest();
    assert.ok(threads.success);
  } finally {
    await stopAdapter(dc);
  }
});
