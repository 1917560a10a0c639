// Frames without line information (a flat binary, no DWARF) still carry a source: a
// sourceReference whose text, from the `source` request, is the disassembly around the frame,
// with the frame's line on the instruction at RIP. The text is compared with GNU objdump of
// the same bytes, through the protocol against the adapter process.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { assembleGuest } from '../support/guest-asm';
import { gnuToolsAvailable } from '../support/gnu-tools';
import { normalize, objdump, parseObjdump } from '../support/objdump';
import { HELLO, instructionPointer, launchAndStop, resumeAndStop, startAdapter, stopAdapter } from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 30_000 };
type Client = Awaited<ReturnType<typeof startAdapter>>;

async function top(dc: Client): Promise<DebugProtocol.StackFrame> {
  return (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
}

async function sourceText(dc: Client, ref: number): Promise<string> {
  const r = await dc.send('source', { sourceReference: ref, source: { sourceReference: ref } }) as DebugProtocol.SourceResponse;
  return r.body.content;
}

test('a flat binary\'s frame has a disassembly source: objdump\'s instructions, the frame\'s line at RIP, the same document while stepping', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-dap-framesrc-'));
  const dc = await startAdapter();
  try {
    const lines = ['.code64', 'mov eax, 1', 'add rax, rbx', 'lea rcx, [rip + 0x20]', 'cpuid', 'mov [rsp - 8], rax', 'nop', 'hlt'];
    const bytes = assembleGuest(lines, 0x8000);
    const bin = path.join(dir, 'flat.bin');
    fs.writeFileSync(bin, bytes);
    const listing = objdump(bytes, 64, 0x8000n);
    await launchAndStop(dc, { program: bin, loadAddress: 0x8000, mode: 'long', stopOnEntry: true });
    let frame = await top(dc);
    assert.ok(frame.source !== undefined, 'the frame has a source');
    const ref = frame.source.sourceReference ?? 0;
    assert.ok(ref > 0, 'by reference');
    assert.equal(frame.source.path, undefined);
    const text = await sourceText(dc, ref);
    const docLines = text.split('\n');
    // every instruction objdump finds in the guest's bytes is a line of the document, in order
    const listed = parseObjdump(text).filter((e) => e.address < 0x8000n + BigInt(bytes.length));
    assert.deepEqual(listed.map((e) => [e.address, e.bytes.join(' '), e.text]), listing.map((e) => [e.address, e.bytes.join(' '), normalize(e.text)]));
    // the frame's line holds the instruction at RIP, as objdump prints it
    for (let k = 0; k < 4; k++) {
      const rip = await instructionPointer(dc);
      const want = listing.find((e) => e.address === rip);
      assert.ok(want, `objdump has an instruction at ${rip.toString(16)}`);
      const [at] = parseObjdump(docLines[(frame.line ?? 0) - 1]);
      assert.equal(at?.address, rip, `line ${frame.line} is the instruction at RIP`);
      assert.equal(at.text, normalize(want.text));
      await resumeAndStop(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }));
      frame = await top(dc);
      assert.equal(frame.source?.sourceReference, ref, 'the same code keeps its document');
    }
    await assert.rejects(dc.send('source', { sourceReference: 9999, source: { sourceReference: 9999 } }), /no source with reference 9999/);
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a frame the line table covers keeps its file as source, not a disassembly reference', T, async () => {
  const dc = await startAdapter();
  try {
    // the sample starts in real mode at its entry, which hello.S's line table covers
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    const frame = await top(dc);
    assert.equal(frame.source?.path !== undefined, true, 'a frame with a line keeps its file');
    assert.equal(frame.source?.sourceReference ?? 0, 0);
  } finally {
    await stopAdapter(dc);
  }
});
