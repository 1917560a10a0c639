// "VMX: Toggle Hex Display" in a real VS Code: the command switches a stopped session's Variables
// between hex and decimal (the adapter says `invalidated`, so VS Code fetches them again), and
// the choice carries over to the next session. rip at entry is _start, whose address comes from nm.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { endSession, HostTest, launchAndStop, nmAddress, workspaceRoot } from './session-helpers';

const TOGGLE = 'vmx-debug.toggleHex';
const HELLO = { type: 'vmx', request: 'launch', name: 'hello (hex display)', program: 'samples/hello/hello.elf', stopOnEntry: true };

function start(): bigint {
  return nmAddress(path.join(workspaceRoot(), 'samples/hello/hello.elf'), '_start');
}

/** Registers of a stopped session as the Variables view gets them (no format: the session default). */
async function registerValues(session: vscode.DebugSession): Promise<Map<string, string>> {
  const trace = await session.customRequest('stackTrace', { threadId: 1 }) as { stackFrames: { id: number }[] };
  const scopes = await session.customRequest('scopes', { frameId: trace.stackFrames[0].id }) as { scopes: { name: string; variablesReference: number }[] };
  const regs = scopes.scopes.find((s) => s.name === 'Registers');
  assert.ok(regs, 'no Registers scope');
  const vars = await session.customRequest('variables', { variablesReference: regs.variablesReference }) as { variables: { name: string; value: string }[] };
  return new Map(vars.variables.map((v) => [v.name, v.value]));
}

/**
 * Records the areas of every `invalidated` event the vmx sessions started after this call send
 * (VS Code attaches trackers when a session starts). Dispose it when done.
 */
function recordInvalidated(): { areas: string[][]; dispose(): void } {
  const areas: string[][] = [];
  const reg = vscode.debug.registerDebugAdapterTrackerFactory('vmx', {
    createDebugAdapterTracker: () => ({
      onDidSendMessage(m: { type?: string; event?: string; body?: { areas?: string[] } }) {
        if (m.type === 'event' && m.event === 'invalidated') areas.push(m.body?.areas ?? []);
      },
    }),
  });
  return { areas, dispose: () => reg.dispose() };
}

export const tests: HostTest[] = [
  ['the toggle command is contributed and registered', async () => {
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes(TOGGLE), `${TOGGLE} is not a command`);
  }],
  ['VMX: Toggle Hex Display switches a stopped session between hex and decimal', async () => {
    const invalidated = recordInvalidated();
    const { stop, registers } = await launchAndStop(HELLO);
    try {
      assert.equal(registers.get('rip'), `0x${start().toString(16)}`, 'hex to begin with');
      assert.equal(vscode.debug.activeDebugSession?.id, stop.session.id);
      assert.equal(await vscode.commands.executeCommand(TOGGLE), false, 'now decimal');
      // the adapter answers the request, then says what to refetch (the event may trail the answer)
      for (let waited = 0; invalidated.areas.length === 0 && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(invalidated.areas, [['variables']]);
      const decimal = await registerValues(stop.session);
      assert.equal(decimal.get('rip'), start().toString(10));
      assert.equal(decimal.get('rsp'), BigInt(registers.get('rsp') ?? 'NaN').toString(10), 'every register, not only rip');
      assert.equal(await vscode.commands.executeCommand(TOGGLE), true, 'back to hex');
      assert.equal((await registerValues(stop.session)).get('rip'), `0x${start().toString(16)}`);
    } finally {
      invalidated.dispose();
      await endSession(stop.session);
    }
  }],
  ['the choice is remembered for the next session', async () => {
    const first = await launchAndStop(HELLO);
    assert.equal(first.registers.get('rip'), `0x${start().toString(16)}`);
    assert.equal(await vscode.commands.executeCommand(TOGGLE), false, 'to decimal');
    await endSession(first.stop.session);
    const second = await launchAndStop(HELLO);
    try {
      assert.equal(second.registers.get('rip'), start().toString(10), 'the new session starts in decimal');
    } finally {
      assert.equal(await vscode.commands.executeCommand(TOGGLE), true, 'restored to hex for the suites after this one');
      await endSession(second.stop.session);
    }
    const third = await launchAndStop(HELLO);
    assert.equal(third.registers.get('rip'), `0x${start().toString(16)}`);
    await endSession(third.stop.session);
  }],
];
