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

/**
 * The `stopped` events of vmx sessions that start from now on, in order (session-helpers'
 * nextStop sees only a session that starts after it is called).
 */
function recordStops(): { next: () => Promise<Stopped>; dispose: () => void } {
  const queue: Stopped[] = [];
  let waiting: ((s: Stopped) => void) | undefined;
  const reg = vscode.debug.registerDebugAdapterTrackerFactory('vmx', {
    createDebugAdapterTracker(session) {
      return {
        onDidSendMessage(m: { type?: string; event?: string; body?: Stopped['body'] }) {
          if (m.type !== 'event' || m.event !== 'stopped' || m.body === undefined) return;
          const s = { session, body: m.body };
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
  return { next, dispose: () => reg.dispose() };
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
    const stops = recordStops();
    try {
      const { stop } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'exits view', program, loadAddress: ORIGIN, stopOnEntry: true });
      session = stop.session;
      assert.equal(stop.body.reason, 'entry');
      let r = await rowsWhen((x) => row(x, 'CPUID') !== undefined, 'a CPUID row');
      assert.ok(r.every((x) => x.checked === false && x.description === '0'), 'on entry nothing is ticked and nothing has happened');

      assert.equal((await stops.next()).body.reason, 'entry');
      await vscode.commands.executeCommand('vmx-debug.exits.toggle', 'CPUID', true);
      assert.equal(row(await rows(), 'CPUID')?.checked, true, 'the CPUID row is ticked');
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
      await vscode.commands.executeCommand('workbench.action.debug.continue');
      assert.match(((await stops.next()).body as { text?: string }).text ?? '', /^IO_INSTRUCTION \(30\)/);
      r = await rowsWhen((x) => counted(x, 'IO_INSTRUCTION', 1), 'IO_INSTRUCTION 1');
      assert.equal(row(r, 'CPUID')?.description, String(CPUIDS), 'every CPUID of the loop was counted');
      assert.equal(r[0].label, 'Last exit: IO_INSTRUCTION (30)');
      assert.match(r[0].description, new RegExp(`^rip=0x${out.address.toString(16)} OUT port 0x${bootConstant('PM1A_CNT').toString(16)}, 2 bytes`));
      assert.equal(r.filter((x) => x.checked !== undefined && x.description !== '0').length, 2, 'only CPUID and I/O exits happened');
    } finally {
      stops.dispose();
      if (session !== undefined) await endSession(session);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }],
  ['"Break on Every Exit Reason" ticks every row, "Break on No Exit Reason" clears them', async () => {
    const stops = recordStops();
    const { stop } = await launchAndStop({ type: 'vmx', request: 'launch', name: 'exits view all', program: 'samples/hello/hello.elf', stopOnEntry: true });
    try {
      assert.equal((await stops.next()).body.reason, 'entry');
      await rowsWhen((x) => x.length > 0, 'its rows');
      await vscode.commands.executeCommand('vmx-debug.exits.breakOnAll');
      const all = (await rows()).filter((x) => x.checked !== undefined);
      assert.ok(all.length > 40 && all.every((x) => x.checked === true), 'every reason ticked');
      await vscode.commands.executeCommand('workbench.action.debug.continue');
      assert.equal((await stops.next()).body.reason, 'exception', 'the first exit stops');
      await vscode.commands.executeCommand('vmx-debug.exits.clear');
      assert.ok((await rows()).every((x) => x.checked !== true), 'nothing ticked');
    } finally {
      stops.dispose();
      await endSession(stop.session);
    }
  }],
];
