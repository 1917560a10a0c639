// The MSRs view in a real VS Code: empty with a reason when no vmx guest is stopped, the
// adapter's MSRs by group after a stop (read back through the view's provider), and VMX: Set
// MSR… changing an MSR that the guest's next RDMSR returns in EDX:EAX (SDM Vol. 2B, RDMSR).
// The guest is assembled here by GNU as; expected values come from the values the test writes
// and the SDM's rules, not from the emulator.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { buildGuestElf, endSession, HostTest, launchAndStop, registersOf, stepInstruction, waitUntil } from './session-helpers';

interface Snapshot {
  message?: string;
  groups: Array<{ name: string; msrs: Array<{ name: string; value: string; fields: Array<{ name: string; value: string }> }> }>;
}

const items = async (): Promise<Snapshot> => await vscode.commands.executeCommand<Snapshot>('vmx-debug.msrs.items');
const IA32_KERNEL_GSBASE = 0xc0000102;   // SDM Vol. 4, Table 2-2
const EFER_LME = 1n << 8n, EFER_LMA = 1n << 10n;   // SDM Vol. 3A, 2.2.1

/** A 64-bit guest that reads IA32_KERNEL_GSBASE and halts. */
function rdmsrGuest(): string {
  return buildGuestElf('rdmsr', ['.code64', '_start:', `mov ecx, ${IA32_KERNEL_GSBASE}`, 'rdmsr', 'hlt']);
}

function msrValue(snap: Snapshot, name: string): string | undefined {
  return snap.groups.flatMap((g) => g.msrs).find((m) => m.name === name)?.value;
}

/** The adapter's own MSRs scope: group -> [name, value] pairs. */
async function adapterMsrs(session: vscode.DebugSession): Promise<Map<string, Array<[string, string]>>> {
  const trace = await session.customRequest('stackTrace', { threadId: 1 }) as { stackFrames: { id: number }[] };
  const scopes = await session.customRequest('scopes', { frameId: trace.stackFrames[0].id }) as { scopes: { name: string; variablesReference: number }[] };
  const msrs = scopes.scopes.find((s) => s.name === 'MSRs');
  assert.ok(msrs, 'the adapter has an MSRs scope');
  const out = new Map<string, Array<[string, string]>>();
  const groups = await session.customRequest('variables', { variablesReference: msrs.variablesReference }) as { variables: { name: string; variablesReference: number }[] };
  for (const g of groups.variables) {
    const vars = await session.customRequest('variables', { variablesReference: g.variablesReference }) as { variables: { name: string; value: string }[] };
    out.set(g.name, vars.variables.map((v) => [v.name, v.value]));
  }
  return out;
}

export const tests: HostTest[] = [
  ['with no vmx session the MSRs view is empty and says why', async () => {
    const snap = await items();
    assert.deepEqual(snap.groups, []);
    assert.match(snap.message ?? '', /No vmx debug session is stopped/);
  }],
  ['after a stop the view shows the adapter\'s MSRs by group, with values and decoded fields (EFER.LME and LMA in long mode)', async () => {
    const { stop } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'msrs', program: rdmsrGuest(), mode: 'long', stopOnEntry: true });
    try {
      const snap = await items();
      assert.equal(snap.message, undefined);
      const adapter = await adapterMsrs(stop.session);
      assert.deepEqual(snap.groups.map((g) => g.name), [...adapter.keys()]);
      for (const g of snap.groups) assert.deepEqual(g.msrs.map((m) => [m.name, m.value]), adapter.get(g.name), `group ${g.name}`);
      const efer = snap.groups.flatMap((g) => g.msrs).find((m) => m.name === 'IA32_EFER');
      assert.ok(efer, 'IA32_EFER is shown');
      const value = BigInt(efer.value);
      assert.equal(value & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA, `long mode has LME and LMA set: ${efer.value}`);
      assert.match(efer.fields.find((f) => f.name === 'LMA')?.value ?? '', /^0x1\b/, 'the LMA field is decoded as 1');
    } finally {
      await endSession(stop.session);
    }
  }],
  ['VMX: Set MSR with arguments writes IA32_KERNEL_GSBASE; the view shows it and the guest\'s RDMSR returns it in EDX:EAX', async () => {
    const { stop } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'set msr', program: rdmsrGuest(), mode: 'long', stopOnEntry: true });
    try {
      const chosen = 0xffff_8000_1234_5678n;   // canonical, as WRMSR requires of this MSR
      const shown = await vscode.commands.executeCommand<string>('vmx-debug.setMsr', 'IA32_KERNEL_GSBASE', `0x${chosen.toString(16)}`);
      assert.equal(BigInt(shown), chosen);
      assert.equal(BigInt(msrValue(await items(), 'IA32_KERNEL_GSBASE') ?? 'NaN'), chosen, 'the view shows the new value');
      await stepInstruction(stop.session);   // mov ecx, index
      const after = await stepInstruction(stop.session);   // rdmsr
      const regs = await registersOf(after);
      assert.equal(BigInt(regs.get('rax') ?? 'NaN'), chosen & 0xffff_ffffn, 'EAX = low half');
      assert.equal(BigInt(regs.get('rdx') ?? 'NaN'), chosen >> 32n, 'EDX = high half');
    } finally {
      await endSession(stop.session);
    }
  }],
  ['a value the processor refuses, or text that is no number, is an error naming why; the MSR keeps its value', async () => {
    const { stop } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'set msr refused', program: rdmsrGuest(), mode: 'long', stopOnEntry: true });
    try {
      const before = msrValue(await items(), 'IA32_KERNEL_GSBASE');
      // bit 47 set without bits 63:48: not canonical, so WRMSR raises #GP (SDM Vol. 2B, WRMSR)
      await assert.rejects(Promise.resolve(vscode.commands.executeCommand('vmx-debug.setMsr', 'IA32_KERNEL_GSBASE', '0x0000800000000000')), /#GP|canonical/);
      await assert.rejects(Promise.resolve(vscode.commands.executeCommand('vmx-debug.setMsr', 'IA32_KERNEL_GSBASE', 'twelve')), /not a value/);
      await assert.rejects(Promise.resolve(vscode.commands.executeCommand('vmx-debug.setMsr', 'NO_SUCH_MSR', '1')), /no MSR named 'NO_SUCH_MSR'/);
      assert.equal(msrValue(await items(), 'IA32_KERNEL_GSBASE'), before);
    } finally {
      await endSession(stop.session);
    }
  }],
  ['while the guest runs the view says so, and shows the MSRs again when it is paused', async () => {
    const spin = buildGuestElf('spin', ['.code64', '_start:', 'jmp _start']);
    const started = vscode.debug.startDebugging(vscode.workspace.workspaceFolders?.[0], { type: 'vmx', request: 'launch', name: 'spin', program: spin, mode: 'long' });
    assert.ok(await started);
    const session = vscode.debug.activeDebugSession;
    assert.ok(session?.type === 'vmx');
    try {
      await waitUntil(session, 'running');
      let snap = await items();
      assert.match(snap.message ?? '', /running/);
      assert.deepEqual(snap.groups, []);
      await session.customRequest('pause', { threadId: 1 });
      await waitUntil(session, 'stopped');
      snap = await items();
      assert.ok(msrValue(snap, 'IA32_EFER') !== undefined, 'MSRs again at the stop');
    } finally {
      await endSession(session);
    }
  }],
];
