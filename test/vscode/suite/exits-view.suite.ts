// The VM exits view in a real VS Code: a guest assembled here with GNU as (CPUID a known number
// of times, then the power-off OUT) is started stopped on entry; ticking CPUID through the
// view's command (the one its checkboxes call) makes the next stop a CPUID exit, and the view's
// rows count the exits the guest's code makes. Addresses come from objdump's listing.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { assembleGuest } from '../../support/guest-asm';
import { objdump } from '../../support/objdump';
import { endSession, HostTest, launchAndStop, STOP_TIMEOUT_MS, Stopped, workspaceRoot } from './session-helpers';

interface Row { label: string; description: string; tooltip: string; checked?: boolean }

const ORIGIN = 0x8000;
const CPUIDS = 3;

/** `.set NAME, VALUE` of the samples' boot code: the power-off port and value. */
function bootConstant(name: string): number {
  const m = new RegExp(`^\\s*\\.set ${name}, (0x[0-9a-f]+|\\d+)`, 'mi').exec(fs.readFileSync(path.join(workspaceRoot(), 'samples/common/boot.inc'), 'utf8'));
  assert.ok(m !== null, `boot.inc sets ${name}`);
  return Number(m[1]);
}

async function rows(): Promise<Row[]> {
  return await vscode.commands.executeCommand<Row[]>('vmx-debug.exits.items');
}

/** Waits (bounded) until the view's rows pass `check`: the adapter's events reach the view a moment after the stop. */
async function rowsWhen(check: (r: Row[]) => boolean, what: string): Promise<Row[]> {
  const until = Date.now() + 5000;
  let r = await rows();
  while (!check(r)) {
    if (Date.now() > until) assert.fail(`the VM exits view never showed ${what}: ${JSON.stringify(r.filter((x) => x.checked !== false || x.description !== '0'))}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    r = await rows();
  }
  return r;
}

interface Recorder {
  /** The next `stopped` event (session-helpers' nextStop sees only a session that starts after it is called). */
  next: () => Promise<Stopped>;
  /** The exception filters VS Code last sent in setExceptionBreakpoints: what the Breakpoints view has ticked. */
  breakpointsView: () => Set<string>;
  /** The exception filters the adapter declared in its initialize response, in order. */
  declared: () => string[];
  dispose: () => void;
}

/** What VS Code and the adapter of vmx sessions that start from now on say to each other. */
function record(): Recorder {
  const queue: Stopped[] = [];
  let waiting: ((s: Stopped) => void) | undefined;
  let ticked = new Set<string>();
  let declared: string[] = [];
  const reg = vscode.debug.registerDebugAdapterTrackerFactory('vmx', {
    createDebugAdapterTracker(session) {
      return {
        onWillReceiveMessage(m: { command?: string; arguments?: { filters?: string[]; filterOptions?: Array<{ filterId: string }> } }) {
          if (m.command === 'setExceptionBreakpoints') ticked = new Set([...(m.arguments?.filters ?? []), ...(m.arguments?.filterOptions ?? []).map((o) => o.filterId)]);
        },
        onDidSendMessage(m: { type?: string; event?: string; command?: string; body?: unknown }) {
          if (m.type === 'response' && m.command === 'initialize') {
            declared = ((m.body as { exceptionBreakpointFilters?: { filter: string }[] } | undefined)?.exceptionBreakpointFilters ?? []).map((f) => f.filter);
          }
          if (m.type !== 'event' || m.event !== 'stopped' || m.body === undefined) return;
          const s = { session, body: m.body as Stopped['body'] };
          if (waiting !== undefined) { waiting(s); waiting = undefined; } else queue.push(s);
        },
      };
    },
  });
  const next = (): Promise<Stopped> => {
    const s = queue.shift();
    if (s !== undefined) return Promise.resolve(s);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no stopped event within ${STOP_TIMEOUT_MS} ms`)), STOP_TIMEOUT_MS);
      waiting = (x) => { clearTimeout(timer); resolve(x); };
    });
  };
  return { next, breakpointsView: () => ticked, declared: () => declared, dispose: () => reg.dispose() };
}

/**
 * Nothing ticked, here or in the Breakpoints view (VS Code keeps that view's ticks from one
 * session to the next, so every test starts and ends with this).
 */
async function cleanSlate(): Promise<void> {
  await vscode.commands.executeCommand('vmx-debug.exits.clear');
}

async function cleanSlateAndEnd(session: vscode.DebugSession): Promise<void> {
  if (vscode.debug.activeDebugSession?.id === session.id) await cleanSlate();
  await endSession(session);
}

const row = (r: Row[], label: string): Row | undefined => r.find((x) => x.label === label);
const counted = (r: Row[], label: string, n: number): boolean => row(r, label)?.description === String(n);

export const tests: HostTest[] = [
  ['ticking CPUID in the VM exits view stops at the next CPUID; the rows count the exits the guest made', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-exits-view-'));
    const bytes = assembleGuest(['.code16', `mov si, ${CPUIDS}`, 'again:', 'xor eax, eax', 'cpuid', 'dec si', 'jnz again',
      `mov dx, ${bootConstant('PM1A_CNT')}`, `mov ax, ${bootConstant('SLP_EN')}`, 'out dx, ax', 'hlt'], ORIGIN);
    const listing = objdump(bytes, 16, BigInt(ORIGIN));
    const cpuid = listing.find((e) => e.text === 'cpuid');
    const out = listing.find((e) => /^out\s+dx,\s*ax$/.test(e.text));
    assert.ok(cpuid && out, 'objdump lists the cpuid and the out');
    const program = path.join(dir, 'cpuid.bin');
    fs.writeFileSync(program, bytes);
    let session: vscode.DebugSession | undefined;
    const stops = record();
    try {
      const { stop } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'exits view', program, loadAddress: ORIGIN, stopOnEntry: true });
      session = stop.session;
      assert.equal(stop.body.reason, 'entry');
      let r = await rowsWhen((x) => row(x, 'CPUID') !== undefined, 'a CPUID row');
      // VS Code knows the view by this id (its focus command exists and runs)
      await vscode.commands.executeCommand('vmx-debug.exits.focus');
      assert.ok(r.every((x) => x.checked === false && x.description === '0'), 'on entry nothing is ticked and nothing has happened');

      assert.equal((await stops.next()).body.reason, 'entry');
      await cleanSlate();
      await vscode.commands.executeCommand('vmx-debug.exits.toggle', 'CPUID', true);
      assert.equal(row(await rows(), 'CPUID')?.checked, true, 'the CPUID row is ticked');
      assert.deepEqual([...stops.breakpointsView()], ['CPUID'], 'and the Breakpoints view has ticked CPUID: VS Code sent it');
      await vscode.commands.executeCommand('workbench.action.debug.continue');
      const atCpuid = await stops.next();
      assert.equal(atCpuid.body.reason, 'exception');
      assert.match((atCpuid.body as { text?: string }).text ?? '', /^CPUID \(10\)/);
      r = await rowsWhen((x) => counted(x, 'CPUID', 1), 'CPUID 1');
      assert.equal(r[0].label, 'Last exit: CPUID (10)');
      assert.match(r[0].description, new RegExp(`^rip=0x${cpuid.address.toString(16)}\\b`));
      assert.ok(r.filter((x) => x.checked !== undefined && x.label !== 'CPUID').every((x) => x.description === '0'), 'no other exit happened');

      // off for CPUID, on for I/O: the guest runs its loop out and stops at the power-off OUT
      await vscode.commands.executeCommand('vmx-debug.exits.toggle', 'CPUID');
      await vscode.commands.executeCommand('vmx-debug.exits.toggle', 'IO_INSTRUCTION', true);
      r = await rows();
      assert.equal(row(r, 'CPUID')?.checked, false, 'toggling without a state clears a ticked reason');
      assert.equal(row(r, 'IO_INSTRUCTION')?.checked, true);
      assert.deepEqual([...stops.breakpointsView()], ['IO_INSTRUCTION'], 'the Breakpoints view follows');
      await vscode.commands.executeCommand('workbench.action.debug.continue');
      assert.match(((await stops.next()).body as { text?: string }).text ?? '', /^IO_INSTRUCTION \(30\)/);
      r = await rowsWhen((x) => counted(x, 'IO_INSTRUCTION', 1), 'IO_INSTRUCTION 1');
      assert.equal(row(r, 'CPUID')?.description, String(CPUIDS), 'every CPUID of the loop was counted');
      assert.equal(r[0].label, 'Last exit: IO_INSTRUCTION (30)');
      assert.match(r[0].description, new RegExp(`^rip=0x${out.address.toString(16)} OUT port 0x${bootConstant('PM1A_CNT').toString(16)}, 2 bytes`));
      assert.equal(r.filter((x) => x.checked !== undefined && x.description !== '0').length, 2, 'only CPUID and I/O exits happened');
    } finally {
      stops.dispose();
      if (session !== undefined) await cleanSlateAndEnd(session);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }],
  ['"Break on Every Exit Reason" ticks every row, "Break on No Exit Reason" clears them', async () => {
    const stops = record();
    const { stop } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'exits view all', program: 'samples/hello/hello.elf', stopOnEntry: true });
    try {
      assert.equal((await stops.next()).body.reason, 'entry');
      await cleanSlate();
      await rowsWhen((x) => x.length > 0, 'its rows');
      await vscode.commands.executeCommand('vmx-debug.exits.breakOnAll');
      const all = (await rows()).filter((x) => x.checked !== undefined);
      assert.ok(all.length > 40 && all.every((x) => x.checked === true), 'every reason ticked');
      await vscode.commands.executeCommand('workbench.action.debug.continue');
      assert.equal((await stops.next()).body.reason, 'exception', 'the first exit stops');
      assert.deepEqual([...stops.breakpointsView()], ['ANY_VM_EXIT'], 'the Breakpoints view ticks "Any VM exit"');
      await vscode.commands.executeCommand('vmx-debug.exits.clear');
      assert.ok((await rows()).every((x) => x.checked !== true), 'nothing ticked');
      assert.deepEqual([...stops.breakpointsView()], [], 'nor in the Breakpoints view');
    } finally {
      stops.dispose();
      await cleanSlateAndEnd(stop.session);
    }
  }],
  ['a filter ticked in the Breakpoints view (Space on its row) shows ticked in the VM exits view and stops there', async () => {
    const stops = record();
    const { stop } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'breakpoints view', program: 'samples/hello/hello.elf', stopOnEntry: true });
    try {
      assert.equal((await stops.next()).body.reason, 'entry');
      await cleanSlate();
      await rowsWhen((x) => x.length > 0, 'its rows');
      // the Breakpoints view lists "Any VM exit", then the reasons in the order initialize gave them
      const order = stops.declared();
      const index = order.indexOf('IO_INSTRUCTION');
      assert.ok(index > 0, `IO_INSTRUCTION among ${order.join()}`);
      await vscode.commands.executeCommand('workbench.debug.action.focusBreakpointsView');
      await vscode.commands.executeCommand('list.focusFirst');
      for (let k = 0; k < index; k++) await vscode.commands.executeCommand('list.focusDown');
      await vscode.commands.executeCommand('debug.toggleBreakpoint');
      await rowsWhen((x) => row(x, 'IO_INSTRUCTION')?.checked === true, 'IO_INSTRUCTION ticked');
      assert.deepEqual([...stops.breakpointsView()], ['IO_INSTRUCTION']);
      await vscode.commands.executeCommand('workbench.action.debug.continue');
      assert.match(((await stops.next()).body as { text?: string }).text ?? '', /^IO_INSTRUCTION \(30\)/);
      // and cleared again from the VM exits view
      await vscode.commands.executeCommand('vmx-debug.exits.toggle', 'IO_INSTRUCTION', false);
      assert.deepEqual([...stops.breakpointsView()], []);
    } finally {
      stops.dispose();
      await cleanSlateAndEnd(stop.session);
    }
  }],
  ['with vmx-debug.exitsView.syncBreakpointsView off the Breakpoints view is left alone, and the exits view still decides', async () => {
    const settings = vscode.workspace.getConfiguration();
    const stops = record();
    const { stop } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'no sync', program: 'samples/hello/hello.elf', stopOnEntry: true });
    try {
      assert.equal((await stops.next()).body.reason, 'entry');
      await cleanSlate();
      await settings.update('vmx-debug.exitsView.syncBreakpointsView', false, vscode.ConfigurationTarget.Workspace);
      await rowsWhen((x) => x.length > 0, 'its rows');
      await vscode.commands.executeCommand('vmx-debug.exits.toggle', 'IO_INSTRUCTION', true);
      const r = await rows();
      assert.equal(row(r, 'IO_INSTRUCTION')?.checked, true);
      assert.match(row(r, 'IO_INSTRUCTION')?.tooltip ?? '', /Ticked here; the Breakpoints view's checkboxes do not show it/);
      assert.deepEqual([...stops.breakpointsView()], []);
      await vscode.commands.executeCommand('workbench.action.debug.continue');
      assert.match(((await stops.next()).body as { text?: string }).text ?? '', /^IO_INSTRUCTION \(30\)/);
    } finally {
      stops.dispose();
      await settings.update('vmx-debug.exitsView.syncBreakpointsView', undefined, vscode.ConfigurationTarget.Workspace);
      await cleanSlateAndEnd(stop.session);
    }
  }],
];
