// Hex or decimal display through the protocol, on the committed hello sample stopped at _start
// (nm gives its address): a request's ValueFormat (variables, evaluate, setVariable), the
// session default set by vmxSetDisplayFormat (with an `invalidated` event so the client
// refetches), and the launch attribute hexDisplay.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { gnuToolsAvailable } from '../support/gnu-tools';
import { HELLO, launchAndStop, startAdapter, stopAdapter, symbol, topFrame, VSCODE_INITIALIZE } from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 30_000 };

/** The Registers scope's variables by name, fetched with `format` (none: the session default). */
async function registerValues(dc: DebugClient, format?: DebugProtocol.ValueFormat): Promise<Map<string, DebugProtocol.Variable>> {
  const scopes = await dc.scopesRequest({ frameId: (await topFrame(dc)).id });
  const regs = scopes.body.scopes.find((s) => s.name === 'Registers');
  assert.ok(regs !== undefined);
  const vars = await dc.variablesRequest(format === undefined ? { variablesReference: regs.variablesReference } : { variablesReference: regs.variablesReference, format });
  return new Map(vars.body.variables.map((v) => [v.name, v]));
}

async function evaluate(dc: DebugClient, expression: string, format?: DebugProtocol.ValueFormat): Promise<string> {
  const args: DebugProtocol.EvaluateArguments = { expression, context: 'watch' };
  if (format !== undefined) args.format = format;
  return (await dc.evaluateRequest(args)).body.result;
}

const start = (): bigint => symbol('_start');

test('variables and evaluate: hex by default and with format.hex true, decimal with format.hex false', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    const inHex = `0x${start().toString(16)}`, inDecimal = start().toString(10);
    for (const format of [undefined, { hex: true }]) {
      const regs = await registerValues(dc, format);
      assert.equal(regs.get('rip')?.value, inHex, `format ${JSON.stringify(format)}`);
      assert.equal(regs.get('rip')?.memoryReference, inHex);
      assert.equal(await evaluate(dc, 'rip + 16', format), `0x${(start() + 16n).toString(16)}`);
    }
    const regs = await registerValues(dc, { hex: false });
    assert.equal(regs.get('rip')?.value, inDecimal);
    assert.equal(regs.get('rip')?.memoryReference, inHex, 'a memory reference stays an address');
    assert.match(regs.get('rflags')?.value ?? '', /^2 \[/, 'RFLAGS at reset is 2 (bit 1 is always set)');
    assert.equal(await evaluate(dc, 'rip + 16', { hex: false }), (start() + 16n).toString(10));
    assert.equal(await evaluate(dc, '0xff', { hex: false }), '255');
    // the hex view is unchanged by having asked for decimal
    assert.equal((await registerValues(dc)).get('rip')?.value, inHex);
  } finally {
    await stopAdapter(dc);
  }
});

test('vmxSetDisplayFormat sets the session default, sends invalidated, and a request format still wins', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    const invalidated = dc.waitForEvent('invalidated') as Promise<DebugProtocol.InvalidatedEvent>;
    const set = await dc.customRequest('vmxSetDisplayFormat', { hex: false });
    assert.deepEqual(set.body, { hex: false });
    assert.deepEqual((await invalidated).body.areas, ['variables']);
    assert.equal((await registerValues(dc)).get('rip')?.value, start().toString(10));
    assert.equal(await evaluate(dc, 'rip'), start().toString(10));
    assert.equal((await registerValues(dc, { hex: true })).get('rip')?.value, `0x${start().toString(16)}`);
    const scopes = await dc.scopesRequest({ frameId: (await topFrame(dc)).id });
    const ref = scopes.body.scopes.find((s) => s.name === 'Registers')?.variablesReference ?? 0;
    assert.equal((await dc.setVariableRequest({ variablesReference: ref, name: 'rax', value: '0x100' })).body.value, '256');
    assert.equal((await dc.setVariableRequest({ variablesReference: ref, name: 'rax', value: '0x100', format: { hex: true } })).body.value, '0x100');

    await dc.customRequest('vmxSetDisplayFormat', { hex: true });
    assert.equal((await registerValues(dc)).get('rip')?.value, `0x${start().toString(16)}`);
    await assert.rejects(dc.customRequest('vmxSetDisplayFormat', { hex: 'no' }), /vmxSetDisplayFormat: "hex" must be true or false, not "no"/);
    await assert.rejects(dc.customRequest('vmxSetDisplayFormat', {}), /vmxSetDisplayFormat: "hex" must be true or false, not missing/);
    await assert.rejects(dc.customRequest('vmxNoSuchRequest', {}), /unrecognized request/);
    assert.equal(await evaluate(dc, 'rip'), `0x${start().toString(16)}`, 'the adapter answers on');
  } finally {
    await stopAdapter(dc);
  }
});

test('the launch attribute hexDisplay: false starts the session in decimal; a non-boolean is refused by name', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true, hexDisplay: false });
    assert.equal((await registerValues(dc)).get('rip')?.value, start().toString(10));
    assert.equal(await evaluate(dc, 'rip'), start().toString(10));
  } finally {
    await stopAdapter(dc);
  }
  const bad = await startAdapter();
  try {
    await bad.initializeRequest(VSCODE_INITIALIZE);
    await assert.rejects(bad.launchRequest({ program: HELLO, hexDisplay: 'yes' } as DebugProtocol.LaunchRequestArguments), /launch attribute 'hexDisplay': expected true or false, not "yes"/);
  } finally {
    await stopAdapter(bad);
  }
});
