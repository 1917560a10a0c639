// The scopes of caller frames, through the protocol against the adapter process, on a guest
// built with frame pointers here: a caller frame's Registers hold what the RBP chain recovers
// (rip = the return address, rsp = the CFA, rbp = the saved RBP), the expected values computed
// from the System V frame layout (push rbp; mov rbp, rsp) and the stack the program uses;
// changing a caller's rip or rbp writes its slot in guest memory, and the guest returns there.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { gnuToolsAvailable } from '../support/gnu-tools';
import { buildTestGuest, launchAndStop, resumeAndStop, scopeReference, startAdapter, stopAdapter } from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 30_000 };
type Client = Awaited<ReturnType<typeof startAdapter>>;
const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** main → outer (which keeps 16 bytes of locals) → inner; `detour` is a place in outer nobody calls. */
const PROGRAM = [
  '    .text',
  'main:',
  '    push rbp',
  '    mov rbp, rsp',
  '    call outer',
  '    pop rbp',
  '    ret',
  'outer:',
  '    push rbp',
  '    mov rbp, rsp',
  '    sub rsp, 16',
  '    call inner',
  'back_in_outer:',
  '    leave',
  '    xor eax, eax',
  '    ret',
  'detour:',
  '    mov eax, 7',
  '    leave',
  '    ret',
  'inner:',
  '    push rbp',
  '    mov rbp, rsp',
  'inner_body:',
  '    nop',
  '    pop rbp',
  '    ret',
];

async function frameRegisters(dc: Client, frameId: number): Promise<{ ref: number; vars: Map<string, DebugProtocol.Variable>; scopes: string[] }> {
  const scopes = (await dc.scopesRequest({ frameId })).body.scopes;
  const ref = await scopeReference(dc, 'Registers', frameId);
  const vars = (await dc.variablesRequest({ variablesReference: ref })).body.variables;
  return { ref, vars: new Map(vars.map((v) => [v.name, v])), scopes: scopes.map((s) => s.name) };
}

/** The top frame's registers (the shared helper expects a one-frame stack). */
async function registers(dc: Client): Promise<Map<string, bigint>> {
  const { vars } = await frameRegisters(dc, 1);
  return new Map([...vars].map(([name, v]) => [name, BigInt(v.value.split(' ')[0])]));
}

async function evaluate(dc: Client, expression: string): Promise<bigint> {
  return BigInt((await dc.evaluateRequest({ expression, context: 'watch' })).body.result);
}

test('a caller frame\'s Registers: rip the return address, rsp the CFA, rbp the saved RBP; setting rip and rbp writes their slots', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-callers-'));
  const dc = await startAdapter();
  try {
    const g = buildTestGuest(dir, 'callers', PROGRAM);
    const sym = (n: string): bigint => g.symbols.get(n) as bigint;
    await launchAndStop(dc, { program: g.elf }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'inner_body' }] }));
    const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    assert.deepEqual(frames.slice(0, 3).map((f) => f.name.replace(/\+.*/, '')), ['inner_body', 'outer', 'main']);

    // inner has just done push rbp; mov rbp, rsp: RBP = RSP, [RBP] = outer's RBP, [RBP + 8] = the return address
    const top = await registers(dc);
    const rbp0 = top.get('rbp')!;
    assert.equal(top.get('rsp'), rbp0);
    // outer: its RBP is 16 (locals) + 8 (return address) + 8 (inner's saved RBP) above inner's RBP;
    // its RSP after the call returns is inner's RBP + 16 (SysV ABI 3.3.2: the CFA)
    const outer = await frameRegisters(dc, frames[1].id);
    assert.equal(BigInt(outer.vars.get('rip')!.value), sym('back_in_outer'));
    assert.equal(BigInt(outer.vars.get('rsp')!.value), rbp0 + 16n);
    assert.equal(BigInt(outer.vars.get('rbp')!.value), rbp0 + 32n);
    // main: called outer with RSP = its RBP, so outer's RBP is main's RBP - 16; main's CFA is outer's RBP + 16
    const main = await frameRegisters(dc, frames[2].id);
    assert.equal(BigInt(main.vars.get('rsp')!.value), rbp0 + 48n);
    assert.equal(BigInt(main.vars.get('rbp')!.value), rbp0 + 48n);
    // only what is known: no rax, no rflags in a caller frame, and a note that says why
    assert.deepEqual([...outer.vars.keys()], ['rip', 'rsp', 'rbp', 'note']);
    assert.match(outer.vars.get('note')!.value, /the other registers are not known in a caller frame/);
    // the processor-wide scopes are the top frame's (same references); the exit's story is the top frame's only
    assert.deepEqual(outer.scopes, ['Registers', 'Segments & control', 'MSRs', 'VMCS']);
    const topScopes = (await dc.scopesRequest({ frameId: frames[0].id })).body.scopes;
    const outerScopes = (await dc.scopesRequest({ frameId: frames[1].id })).body.scopes;
    assert.equal(outerScopes.find((s) => s.name === 'MSRs')!.variablesReference, topScopes.find((s) => s.name === 'MSRs')!.variablesReference);
    assert.notEqual(outer.ref, topScopes.find((s) => s.name === 'Registers')!.variablesReference);
    // the top frame's Registers are unchanged by the question
    assert.equal((await registers(dc)).get('rbp'), rbp0);

    // the caller's rbp lives at inner's [RBP]: a new value is written there (and put back)
    const invalidated = dc.waitForEvent('invalidated') as Promise<DebugProtocol.InvalidatedEvent>;
    const setRbp = await dc.setVariableRequest({ variablesReference: outer.ref, name: 'rbp', value: 'rbp + 0x1000' });
    assert.equal(setRbp.body.value, hex(rbp0 + 0x1000n));
    assert.deepEqual((await invalidated).body.areas, ['stacks', 'variables']);
    assert.equal(await evaluate(dc, `qword [${hex(rbp0)}]`), rbp0 + 0x1000n);
    assert.equal(BigInt((await frameRegisters(dc, frames[1].id)).vars.get('rbp')!.value), rbp0 + 0x1000n);
    await dc.setVariableRequest({ variablesReference: outer.ref, name: 'rbp', value: 'rbp + 32' });
    assert.equal(await evaluate(dc, `qword [${hex(rbp0)}]`), rbp0 + 32n);
    // rsp is refused: it is where the callee's frame ends
    await assert.rejects(dc.setVariableRequest({ variablesReference: outer.ref, name: 'rsp', value: '0' }), /'rsp' of a caller frame cannot be changed/);
    await assert.rejects(dc.setVariableRequest({ variablesReference: outer.ref, name: 'rax', value: '0' }), /'rax' of a caller frame cannot be changed/);

    // outer's rip is the return address at inner's [RBP + 8]: send inner back to detour instead
    const refreshed = await frameRegisters(dc, frames[1].id);
    const setRip = await dc.setVariableRequest({ variablesReference: refreshed.ref, name: 'rip', value: 'detour' });
    assert.equal(setRip.body.value, hex(sym('detour')));
    assert.equal(await evaluate(dc, `qword [${hex(rbp0 + 8n)}]`), sym('detour'));
    const after = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    assert.equal(BigInt(after[1].instructionPointerReference ?? 'x'), sym('detour'), 'the chain shows the new return address');
    // the guest returns to detour: it ends with EAX = 7, exit code (7 << 1) | 1 (boot.inc)
    await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'detour' }] });
    await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal((await registers(dc)).get('rip'), sym('detour'));
    await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
    const exited = dc.waitForEvent('exited') as Promise<DebugProtocol.ExitedEvent>;
    await dc.continueRequest({ threadId: 1 });
    assert.equal((await exited).body.exitCode, (7 << 1) | 1);
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('scopes of a frame the stack does not have is an error naming it', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-callers-'));
  const dc = await startAdapter();
  try {
    const g = buildTestGuest(dir, 'callers', PROGRAM);
    await launchAndStop(dc, { program: g.elf }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'inner_body' }] }));
    const total = (await dc.stackTraceRequest({ threadId: 1 })).body.totalFrames ?? 0;
    await assert.rejects(dc.scopesRequest({ frameId: total + 1 }), new RegExp(`no frame with id ${total + 1} \\(the stack has ${total}\\)`));
    await assert.rejects(dc.send('scopes', { frameId: 'one' }), /argument 'frameId' must be an integer >= 1, not "one"/);
    await assert.rejects(dc.send('scopes', { frameId: 0 }), /argument 'frameId' must be an integer >= 1, not 0/);
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
