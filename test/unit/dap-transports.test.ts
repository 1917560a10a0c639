// The same session over the other two ways it is started: `main.js --server=PORT` (one session
// per TCP connection) and inline, on streams inside the calling process (the extension's way).
// Also the optional one-line log of each VM exit in the Debug Console.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { createVmxDebugSession } from '../../debug-adapter/session';
import { gnuToolsAvailable, readelfEntry } from '../support/gnu-tools';
import { ADAPTER, findInstruction, HELLO, instructionPointer, launchAndStop, startAdapter, stopAdapter, symbol } from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function connectable(port: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (attempt > 100) throw new Error(`nothing listens on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('--server=PORT serves a session over TCP', { timeout: 30_000 }, async () => {
  let port = await freePort();
  while (port < 1000) port = await freePort(); // the adapter takes 4-5 digit ports
  const child = spawn(process.execPath, [ADAPTER, `--server=${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    // it says on stderr when it listens
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); if (err.includes(`port ${port}`)) resolve(); });
      child.once('exit', (code) => reject(new Error(`adapter exited (${code}): ${err}`)));
    });
    // the message comes just before listen() completes: connect until it answers
    await connectable(port);
    const dc = new DebugClient(process.execPath, ADAPTER, 'vmx');
    await dc.start(port);
    const ev = await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    assert.equal(ev.body.reason, 'entry');
    assert.equal(await instructionPointer(dc), readelfEntry(HELLO));
    await dc.stop();
  } finally {
    child.kill();
  }
});

test('an inline session (vscode.DebugAdapter: handleMessage / onDidSendMessage) runs in the calling process', { skip, timeout: 10_000 }, async () => {
  const session = createVmxDebugSession();
  const messages: DebugProtocol.ProtocolMessage[] = [];
  let notify: (() => void) | undefined;
  const sub = session.onDidSendMessage((m) => { messages.push(m as DebugProtocol.ProtocolMessage); notify?.(); });
  let seq = 1;
  const request = async (command: string, args: unknown): Promise<DebugProtocol.Response> => {
    const mySeq = seq++;
    const found = () => messages.find((m): m is DebugProtocol.Response => m.type === 'response' && (m as DebugProtocol.Response).request_seq === mySeq);
    session.handleMessage({ seq: mySeq, type: 'request', command, arguments: args } as DebugProtocol.Request);
    while (found() === undefined) await new Promise<void>((resolve) => { notify = resolve; });
    return found() as DebugProtocol.Response;
  };
  const event = async (name: string): Promise<DebugProtocol.Event> => {
    const found = () => messages.find((m): m is DebugProtocol.Event => m.type === 'event' && (m as DebugProtocol.Event).event === name);
    while (found() === undefined) await new Promise<void>((resolve) => { notify = resolve; });
    return found() as DebugProtocol.Event;
  };
  try {
    const init = await request('initialize', { adapterID: 'vmx', pathFormat: 'path', linesStartAt1: true }) as DebugProtocol.InitializeResponse;
    assert.equal(init.success, true);
    assert.ok((init.body?.exceptionBreakpointFilters ?? []).some((f) => f.filter === 'IO_INSTRUCTION'));
    assert.equal((await request('launch', { program: HELLO, stopOnEntry: true })).success, true);
    await event('initialized');
    await request('configurationDone', {});
    assert.equal((await event('stopped') as DebugProtocol.StoppedEvent).body.reason, 'entry');
    const st = await request('stackTrace', { threadId: 1 }) as DebugProtocol.StackTraceResponse;
    assert.equal(BigInt(st.body.stackFrames[0].instructionPointerReference ?? 'x'), readelfEntry(HELLO));
    // disconnect ends the session, not the process it runs in
    assert.equal((await request('disconnect', {})).success, true);
  } finally {
    sub.dispose();
    session.dispose();
  }
});

test('logExits prints each VM exit in the Debug Console with its decoded qualification', { skip, timeout: 30_000 }, async () => {
  const dc = await startAdapter();
  try {
    const lines: string[] = [];
    dc.on('output', (e: DebugProtocol.OutputEvent) => { if (e.body.category === 'console') lines.push(e.body.output); });
    await launchAndStop(dc, { program: HELLO, logExits: true }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_puts' }] }));
    const exits = lines.filter((l) => l.startsWith('exit '));
    assert.ok(exits.length > 0);
    // serial_init's port writes, in order, are the first exits: IER, LCR, … at COM1 + 1, + 3, …
    const first = findInstruction(symbol('serial_init'), /^out /);
    assert.match(exits[0], new RegExp(`^exit IO_INSTRUCTION \\(30\\) rip=0x${first.address.toString(16)} OUT port 0x${(symbol('COM1') + 1n).toString(16)}\\b`));
    assert.ok(exits.every((l) => l.endsWith('\n')));
  } finally {
    await stopAdapter(dc);
  }
});
