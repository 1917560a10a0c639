// Data breakpoints through the protocol, against the adapter process on the committed hello
// sample: a read, write or either of watched guest memory stops the guest right after the
// instruction (as a debug register's watch does) — the CALL that pushes main's return address,
// the load in serial_puts that reads the message — and the stop names the breakpoint and the
// access. Addresses and instruction text come from nm and objdump, not from the adapter.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { gnuToolsAvailable } from '../support/gnu-tools';
import { findInstruction, HELLO, instructionPointer, launchAndStop, registers, resumeAndStop, startAdapter, stopAdapter, symbol } from '../support/dap';
import { normalize } from '../support/objdump';

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

test('dataBreakpointInfo offers read, write and readWrite', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    const info = await dc.dataBreakpointInfoRequest({ name: 'message', bytes: 4 });
    assert.deepEqual(info.body.accessTypes, ['read', 'write', 'readWrite']);
    assert.equal(info.body.dataId, `mem:0x${symbol('message').toString(16)}:4`);
    const bad = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId as string, accessType: 'execute' as 'read' }] });
    assert.equal(bad.body.breakpoints[0].verified, false);
    assert.match(bad.body.breakpoints[0].message ?? '', /accessType must be 'read', 'write' or 'readWrite', not 'execute'/);
  } finally {
    await stopAdapter(dc);
  }
});

test('a read data breakpoint on the message stops after serial_puts loads that byte, and says so', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    const watched = symbol('message') + 6n;
    const info = await dc.dataBreakpointInfoRequest({ name: `message + 6`, bytes: 1 });
    const set = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId as string, accessType: 'read' }] });
    assert.deepEqual(set.body.breakpoints.map((b) => b.verified), [true]);
    const stopped = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal(stopped.body.reason, 'data breakpoint');
    assert.deepEqual(stopped.body.hitBreakpointIds, [set.body.breakpoints[0].id]);
    const load = findInstruction(symbol('serial_puts'), /^mov al,BYTE PTR \[rsi\]$/);
    assert.equal(normalize(stopped.body.description ?? ''), `read of 1 byte at 0x${watched.toString(16)} by ${normalize(load.text)}`);
    assert.equal(await instructionPointer(dc), load.address + BigInt(load.bytes.length), 'RIP right after the load');
    const regs = await registers(dc);
    assert.equal(regs.get('rsi'), watched, 'the six bytes before were read without a stop');
    assert.equal(regs.get('rax')! & 0xffn, BigInt('Hello from'.charCodeAt(6)), 'AL holds the byte read');
  } finally {
    await stopAdapter(dc);
  }
});

test('write, default (write) and readWrite data breakpoints together: each stop names the one that hit', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    const slot = symbol('_start') - 8n;
    const info = async (name: string, bytes: number) => (await dc.dataBreakpointInfoRequest({ name, bytes })).body.dataId as string;
    const set = await dc.setDataBreakpointsRequest({ breakpoints: [
      { dataId: await info(`0x${slot.toString(16)}`, 8), accessType: 'write' },
      { dataId: await info('message + 1', 1) }, // no accessType: a write watch, and the message is only read
      { dataId: await info('message + 2', 2), accessType: 'readWrite' },
    ] });
    const ids = set.body.breakpoints.map((b) => b.id);
    assert.deepEqual(set.body.breakpoints.map((b) => b.verified), [true, true, true]);

    const first = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.deepEqual(first.body.hitBreakpointIds, [ids[0]]);
    const call = findInstruction(symbol('long_mode'), /^call\b.*<main>/);
    assert.equal(normalize(first.body.description ?? ''), `write of 8 bytes at 0x${slot.toString(16)} by ${normalize(call.text)}`);

    const second = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.deepEqual(second.body.hitBreakpointIds, [ids[2]], 'message+1 was read without a stop');
    const load = findInstruction(symbol('serial_puts'), /^mov al,BYTE PTR \[rsi\]$/);
    assert.equal(normalize(second.body.description ?? ''), `read of 1 byte at 0x${(symbol('message') + 2n).toString(16)} by ${normalize(load.text)}`);
    assert.equal((await registers(dc)).get('rsi'), symbol('message') + 2n);
  } finally {
    await stopAdapter(dc);
  }
});
