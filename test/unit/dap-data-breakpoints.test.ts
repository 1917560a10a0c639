// Data breakpoints through the protocol, against the adapter process on the committed hello
// sample: a write to watched guest memory stops the guest right after the writing instruction
// (as a debug register's write watch does), here the CALL that pushes main's return address.
// Addresses come from nm and objdump, not from the adapter.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { gnuToolsAvailable } from '../support/gnu-tools';
import { findInstruction, HELLO, instructionPointer, launchAndStop, resumeAndStop, startAdapter, stopAdapter, symbol } from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 30_000 };

test('a data breakpoint on the stack slot below _start stops after `call main` wrote the return address there', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    const slot = symbol('_start') - 8n; // long_mode sets RSP to _start, then calls main
    const info = await dc.dataBreakpointInfoRequest({ name: `0x${slot.toString(16)}`, bytes: 8 });
    assert.ok(info.body.dataId !== null && info.body.accessTypes?.includes('write'), info.body.description);
    const set = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId as string, accessType: 'write' }] });
    assert.deepEqual(set.body.breakpoints.map((b) => b.verified), [true]);
    const stopped = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal(stopped.body.reason, 'data breakpoint');
    assert.deepEqual(stopped.body.hitBreakpointIds, [set.body.breakpoints[0].id]);
    const call = findInstruction(symbol('long_mode'), /^call\b.*<main>/);
    assert.equal(await instructionPointer(dc), symbol('main'), 'the CALL completed: RIP is main');
    const pushed = BigInt((await dc.evaluateRequest({ expression: `qword [0x${slot.toString(16)}]`, context: 'watch' })).body.result);
    assert.equal(pushed, call.address + BigInt(call.bytes.length), 'the return address the CALL pushed');
  } finally {
    await stopAdapter(dc);
  }
});

test('data breakpoints: an unmapped address is refused at info time, a bad id is unverified, and the adapter answers on', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    await assert.rejects(dc.dataBreakpointInfoRequest({ name: '0xfeb00000' }), /not mapped to guest RAM/);
    await assert.rejects(dc.dataBreakpointInfoRequest({ name: 'rax +' }), /column/);
    const set = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: 'register:rax' }] });
    assert.equal(set.body.breakpoints[0].verified, false);
    assert.match(set.body.breakpoints[0].message ?? '', /unknown data breakpoint id/);
    assert.equal(await instructionPointer(dc), symbol('_start'));
  } finally {
    await stopAdapter(dc);
  }
});
