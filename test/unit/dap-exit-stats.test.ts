// The VM exits view's protocol, against the adapter process: the custom event and request
// `vmxExitStats` (counts per exit reason, the last exit, the break set) and the custom request
// `vmxSetExitBreak`. Guests are assembled here with GNU as; the expected counts are the exits
// their code makes (N CPUIDs, one OUT), addresses come from objdump's listing of the same bytes,
// and the OUT's exit qualification from the SDM's layout (Vol. 3C, Table 28-5) applied to the
// operands the guest chose.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { gnuToolsAvailable } from '../support/gnu-tools';
import { assembleGuest } from '../support/guest-asm';
import { objdump, ObjdumpEntry } from '../support/objdump';
import { instructionPointer, launchAndStop, registers, resumeAndStop, ROOT, startAdapter, stopAdapter } from '../support/dap';
import { PRODUCIBLE_EXIT_REASONS } from '../../src/vmm/producible-exits';
import { describeExitQualification } from '../../src/vmx/exit-qualification';
import type { ExitStatsBody } from '../../debug-adapter/exit-stats';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 30_000 };
const ORIGIN = 0x8000;

/** `.set NAME, VALUE` of the samples' boot code (the power-off port and value the machine's ACPI device takes). */
function bootConstant(name: string): number {
  const text = fs.readFileSync(path.join(ROOT, 'samples/common/boot.inc'), 'utf8');
  const m = new RegExp(`^\\s*\\.set ${name}, (0x[0-9a-f]+|\\d+)`, 'mi').exec(text);
  assert.ok(m !== null, `boot.inc sets ${name}`);
  return Number(m[1]);
}

interface Guest { file: string; listing: ObjdumpEntry[]; dir: string }

/** Real-mode code at 0x8000 as a flat binary, with objdump's listing of it. */
function guest(lines: string[]): Guest {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-exit-stats-'));
  const bytes = assembleGuest(['.code16', ...lines], ORIGIN);
  const file = path.join(dir, 'guest.bin');
  fs.writeFileSync(file, bytes);
  return { file, listing: objdump(bytes, 16, BigInt(ORIGIN)), dir };
}

const CPUIDS = 5;
/** CPUID CPUIDS times, then the power-off OUT: exactly CPUIDS CPUID exits and one I/O exit. */
function cpuidGuest(): Guest {
  return guest([
    `mov si, ${CPUIDS}`,
    'again:', 'xor eax, eax', 'cpuid', 'dec si', 'jnz again',
    `mov dx, ${bootConstant('PM1A_CNT')}`, `mov ax, ${bootConstant('SLP_EN')}`, 'out dx, ax', 'hlt',
  ]);
}

function find(listing: ObjdumpEntry[], text: RegExp): ObjdumpEntry {
  const e = listing.find((x) => text.test(x.text));
  assert.ok(e !== undefined, `objdump lists no ${text}`);
  return e;
}

/** Every vmxExitStats event from now on, in order. */
function collectStats(dc: DebugClient): Array<{ at: number; body: ExitStatsBody }> {
  const seen: Array<{ at: number; body: ExitStatsBody }> = [];
  dc.on('vmxExitStats', (e: DebugProtocol.Event) => seen.push({ at: Date.now(), body: e.body as ExitStatsBody }));
  return seen;
}

async function stats(dc: DebugClient): Promise<ExitStatsBody> {
  return (await dc.customRequest('vmxExitStats')).body as ExitStatsBody;
}

async function setExitBreak(dc: DebugClient, reason: string, enabled: boolean): Promise<ExitStatsBody> {
  return (await dc.customRequest('vmxSetExitBreak', { reason, enabled })).body as ExitStatsBody;
}

test('vmxExitStats counts each exit the guest makes; vmxSetExitBreak makes the next CPUID stop, and clearing it runs on', T, async () => {
  const g = cpuidGuest();
  const dc = await startAdapter();
  try {
    const events = collectStats(dc);
    const entry = await launchAndStop(dc, { program: g.file, loadAddress: ORIGIN, stopOnEntry: true });
    assert.equal(entry.body.reason, 'entry');
    assert.deepEqual(events.at(-1)?.body, { running: false, total: 0, counts: {}, breakOn: [], chosenInView: {} }, 'the stop on entry sends the (empty) stats');

    const changed = dc.waitForEvent('vmxExitStats');
    const set = await setExitBreak(dc, 'CPUID', true);
    assert.deepEqual(set.breakOn, ['CPUID']);
    assert.deepEqual(set.chosenInView, { CPUID: true });
    assert.deepEqual((await changed).body.breakOn, ['CPUID'], 'a change of the break set is sent as an event too');

    const cpuid = find(g.listing, /^cpuid$/);
    for (let k = 1; k <= 2; k++) {
      const ev = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
      assert.equal(ev.body.reason, 'exception');
      assert.match(ev.body.text ?? '', /^CPUID \(10\)/);
      assert.equal(await instructionPointer(dc), cpuid.address);
      // the loop counter: SI counts down from CPUIDS, decremented after each CPUID
      assert.equal((await registers(dc)).get('rsi')! & 0xffffn, BigInt(CPUIDS - k + 1));
      const last = events.at(-1)!.body;
      assert.deepEqual(last.counts, { CPUID: k });
      assert.equal(last.total, k);
      assert.equal(last.running, false);
      assert.equal(last.last?.name, 'CPUID');
      assert.equal(last.last?.reason, 10);
      assert.equal(last.last?.guestRip, `0x${cpuid.address.toString(16)}`);
      assert.deepEqual(await stats(dc), last, 'the request answers what the event said');
    }

    await setExitBreak(dc, 'CPUID', false);
    const terminated = dc.waitForEvent('terminated');
    await dc.continueRequest({ threadId: 1 });
    await terminated;
    const final = events.at(-1)!.body;
    assert.deepEqual(final.counts, { CPUID: CPUIDS, IO_INSTRUCTION: 1 });
    assert.equal(final.total, CPUIDS + 1);
    const out = find(g.listing, /^out\s+dx,\s*ax$/);
    assert.equal(final.last?.name, 'IO_INSTRUCTION');
    assert.equal(final.last?.guestRip, `0x${out.address.toString(16)}`);
    // Table 28-5: bits 2:0 size - 1 (2 bytes), bit 3 direction (0 = OUT), bit 6 operand (0 = DX), bits 31:16 port
    const q = (2 - 1) | (bootConstant('PM1A_CNT') << 16);
    assert.equal(final.last?.qualification, `0x${q.toString(16)}`);
    assert.equal(final.last?.decoded, describeExitQualification(30, BigInt(q)));
    assert.match(final.last?.decoded ?? '', new RegExp(`^OUT port 0x${bootConstant('PM1A_CNT').toString(16)}, 2 bytes, DX operand$`));
    assert.deepEqual(await stats(dc), final, 'after the guest is gone the last stats stay readable');
  } finally {
    await stopAdapter(dc);
    fs.rmSync(g.dir, { recursive: true, force: true });
  }
});

test('the Breakpoints view and the exits view: the last action on a reason wins', T, async () => {
  const g = cpuidGuest();
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: g.file, loadAddress: ORIGIN, stopOnEntry: true }, () => dc.setExceptionBreakpointsRequest({ filters: ['HLT'] }));
    assert.deepEqual((await stats(dc)).breakOn, ['HLT']);
    assert.deepEqual((await setExitBreak(dc, 'CPUID', true)).breakOn, ['CPUID', 'HLT']);
    // VS Code resends its whole list when the user ticks another filter: CPUID is not in it, and stays
    await dc.setExceptionBreakpointsRequest({ filters: ['HLT', 'IO_INSTRUCTION'] });
    let s = await stats(dc);
    assert.deepEqual(s.breakOn, ['CPUID', 'HLT', 'IO_INSTRUCTION']);
    assert.deepEqual(s.chosenInView, { CPUID: true });
    const ev = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.match(ev.body.text ?? '', /^CPUID/, 'the exits view\'s CPUID stops though the Breakpoints view never had it');
    // ticking, then clearing CPUID in the Breakpoints view: that is the last action now
    await dc.setExceptionBreakpointsRequest({ filters: ['CPUID', 'HLT', 'IO_INSTRUCTION'] });
    assert.deepEqual((await stats(dc)).chosenInView, {});
    await dc.setExceptionBreakpointsRequest({ filters: ['HLT', 'IO_INSTRUCTION'] });
    assert.deepEqual((await stats(dc)).breakOn, ['HLT', 'IO_INSTRUCTION']);
    // clearing in the exits view what the Breakpoints view has ticked
    s = await setExitBreak(dc, 'IO_INSTRUCTION', false);
    assert.deepEqual(s.breakOn, ['HLT']);
    assert.deepEqual(s.chosenInView, { IO_INSTRUCTION: false });
    // ANY_VM_EXIT: every reason the engine can produce; and clearing them all
    assert.deepEqual(new Set((await setExitBreak(dc, 'ANY_VM_EXIT', true)).breakOn), new Set(PRODUCIBLE_EXIT_REASONS));
    assert.deepEqual((await setExitBreak(dc, 'ANY_VM_EXIT', false)).breakOn, []);
    // bad requests are errors naming the problem; the session lives on
    await assert.rejects(dc.customRequest('vmxSetExitBreak', { reason: 'NO_SUCH_EXIT', enabled: true }), /no exit reason named 'NO_SUCH_EXIT'/);
    await assert.rejects(dc.customRequest('vmxSetExitBreak', { reason: 'CPUID', enabled: 'yes' }), /'enabled' must be true or false/);
    await assert.rejects(dc.customRequest('vmxSetExitBreak', {}), /'reason' must be an exit reason name/);
    assert.deepEqual((await stats(dc)).breakOn, []);
  } finally {
    await stopAdapter(dc);
    fs.rmSync(g.dir, { recursive: true, force: true });
  }
});

test('while the guest runs, vmxExitStats comes at most every 250 ms with growing counts; at the pause the count is the guest\'s own', T, async () => {
  // ESI counts the CPUIDs the guest has finished
  const g = guest(['xor esi, esi', 'again:', 'xor eax, eax', 'cpuid', 'inc esi', 'jmp again']);
  const dc = await startAdapter();
  try {
    const events = collectStats(dc);
    const start = Date.now();
    // the first stop is the pause's: wait for some running reports first
    const stopped = launchAndStop(dc, { program: g.file, loadAddress: ORIGIN });
    while (events.filter((e) => e.body.running).length < 3) await new Promise((r) => setTimeout(r, 50));
    await dc.pauseRequest({ threadId: 1 });
    const ev = await stopped;
    const end = Date.now();
    assert.equal(ev.body.reason, 'pause');
    const running = events.filter((e) => e.body.running).map((e) => e.body);
    assert.ok(running.length <= Math.floor((end - start) / 250) + 1, `${running.length} running reports in ${end - start} ms`);
    for (let k = 1; k < running.length; k++) assert.ok(running[k].counts.CPUID > running[k - 1].counts.CPUID, 'each running report follows new exits');
    const final = events.at(-1)!.body;
    assert.equal(final.running, false);
    assert.deepEqual(Object.keys(final.counts), ['CPUID']);
    const esi = (await registers(dc)).get('rsi')! & 0xffffffffn;
    const inc = find(g.listing, /^inc\s+esi$/);
    // paused between a CPUID and the INC that counts it: one more exit than ESI says
    const expected = esi + (await instructionPointer(dc) === inc.address ? 1n : 0n);
    assert.equal(BigInt(final.counts.CPUID), expected);
  } finally {
    await stopAdapter(dc);
    fs.rmSync(g.dir, { recursive: true, force: true });
  }
});

test('a running guest that makes no exits sends no running reports', T, async () => {
  const g = guest(['spin: jmp spin']);
  const dc = await startAdapter();
  try {
    const events = collectStats(dc);
    await dc.initializeRequest();
    const initialized = dc.waitForEvent('initialized');
    await dc.launchRequest({ program: g.file, loadAddress: ORIGIN } as DebugProtocol.LaunchRequestArguments);
    await initialized;
    await dc.configurationDoneRequest();
    await new Promise((r) => setTimeout(r, 800));
    assert.deepEqual(events.filter((e) => e.body.running), []);
    await resumeAndStop(dc, () => dc.pauseRequest({ threadId: 1 }));
    assert.deepEqual(events.at(-1)?.body.counts, {});
  } finally {
    await stopAdapter(dc);
    fs.rmSync(g.dir, { recursive: true, force: true });
  }
});
