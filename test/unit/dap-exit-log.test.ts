// The session's exit log through the protocol (custom request vmxExitLog), on a flat guest
// assembled by GNU as: the exits are the ones its instructions must cause, at the addresses and
// lengths objdump gives, with I/O qualifications built here from the SDM's layout (Vol. 3C,
// 28.2.1, Table 28-5); the records are the CLI's `run --json` records plus ordinal and
// instruction count. And the log's bound, page by page, in plain Node.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXIT_LOG_PAGE, EXIT_LOG_REQUEST, ExitLog, ExitLogBody, ExitLogError } from '../../debug-adapter/exit-log';
import type { ExitEvent } from '../../src/vmm/machine';
import type { VmxExitInfo } from '../../src/vmx/exit-record';
import { assembleGuest } from '../support/guest-asm';
import { gnuToolsAvailable } from '../support/gnu-tools';
import { objdump } from '../support/objdump';
import { launchAndStop, ROOT, startAdapter, stopAdapter } from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 30_000 };

/** I/O exit qualification (SDM Vol. 3C, Table 28-5): size - 1, direction (1 = IN), string, REP, immediate operand, port. */
function ioQualification(size: number, isIn: boolean, immediate: boolean, port: number): bigint {
  return BigInt((size - 1) | (isIn ? 1 << 3 : 0) | (immediate ? 1 << 6 : 0)) | (BigInt(port) << 16n);
}

const GUEST = ['.code16', 'xor eax, eax', 'cpuid', 'mov dx, 0x3f8', 'mov al, 0x41', 'out dx, al', 'in al, 0x61', 'hlt'];

test('vmxExitLog lists the guest\'s exits in order: reasons, RIPs and lengths from objdump, I/O qualifications from the SDM', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-dap-exitlog-'));
  const dc = await startAdapter();
  try {
    const bytes = assembleGuest(GUEST, 0x8000);
    const listing = objdump(bytes, 16, 0x8000n);
    const bin = path.join(dir, 'exits.bin');
    fs.writeFileSync(bin, bytes);
    await launchAndStop(dc, { program: bin, loadAddress: 0x8000, breakOnExits: ['HLT'] });
    const r = await dc.customRequest(EXIT_LOG_REQUEST, {});
    const body = r.body as ExitLogBody;
    const records = body.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const at = (text: RegExp): number => listing.findIndex((e) => text.test(e.text));
    const expected = [
      { k: at(/^cpuid$/), reason: 'CPUID', number: 10, qualification: 0n },
      { k: at(/^out dx,al$/), reason: 'IO_INSTRUCTION', number: 30, qualification: ioQualification(1, false, false, 0x3f8) },
      { k: at(/^in al,0x61$/), reason: 'IO_INSTRUCTION', number: 30, qualification: ioQualification(1, true, true, 0x61) },
      { k: at(/^hlt$/), reason: 'HLT', number: 12, qualification: 0n },
    ];
    assert.deepEqual(records.map((x) => x.reason), expected.map((e) => e.reason));
    assert.equal(body.total, 4);
    assert.equal(body.first, 1);
    assert.equal(body.next, undefined);
    expected.forEach((e, i) => {
      const rec = records[i];
      assert.equal(rec.type, 'exit');
      assert.equal(rec.number, e.number);
      assert.equal(rec.rip, `0x${listing[e.k].address.toString(16)}`, `${e.reason} at the instruction's address`);
      assert.equal(rec.instructionLength, listing[e.k].bytes.length);
      assert.equal(rec.qualification, `0x${e.qualification.toString(16)}`);
      assert.equal(rec.ordinal, i + 1);
      assert.equal(typeof rec.description, 'string');
    });
    // the instruction count is the processor's: the instructions that ran in the guest before the
    // exit; an exiting instruction is completed by the VMM, not retired by the guest
    assert.equal(records[0].instructions, expected[0].k);
    for (let i = 1; i < expected.length; i++) {
      assert.equal((records[i].instructions as number) - (records[i - 1].instructions as number), expected[i].k - expected[i - 1].k - 1);
    }
    // pages: from an ordinal, a count; bad arguments are errors
    const page = (await dc.customRequest(EXIT_LOG_REQUEST, { start: 2, count: 2 })).body as ExitLogBody;
    assert.deepEqual(page.lines, body.lines.slice(1, 3));
    assert.equal(page.next, 4);
    await assert.rejects(dc.customRequest(EXIT_LOG_REQUEST, { start: 0 }), /start must be an exit ordinal/);
    await assert.rejects(dc.customRequest(EXIT_LOG_REQUEST, { count: EXIT_LOG_PAGE + 1 }), /count must be/);
    // the same records, less ordinal and count, as `vmx-debug run --json` prints them
    const cli = spawnSync(process.execPath, [path.join(ROOT, 'out/src/cli/main.js'), 'run', bin, '--load-address', '0x8000', '--break-on', 'HLT', '--json'], { encoding: 'utf8' });
    const cliExits = cli.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((x) => x.type === 'exit');
    assert.deepEqual(records.map(({ ordinal: _o, instructions: _n, ...rest }) => rest), cliExits);
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** An exit as the machine reports it, with values the test chooses. */
function event(k: number): ExitEvent {
  const info: VmxExitInfo = {
    reason: 10, name: 'CPUID', entryFailure: false, qualification: BigInt(k), qualificationLow: k, instructionLength: 2,
    guestRip: 0xffff_ffff_0000_0000n + BigInt(k), guestPhysical: 0n, guestLinear: 0n, interruptionInfo: 0,
  };
  return { info, by: k % 2 === 0 ? 'vcpu' : 'vmm' };
}

test('the exit log keeps the newest `limit` exits across growth and wrap-around, and names what it no longer has', () => {
  const log = new ExitLog(3000);
  for (let k = 1; k <= 7500; k++) log.add(event(k), k * 10);
  assert.equal(log.total, 7500);
  assert.equal(log.first, 4501);
  const all: Record<string, unknown>[] = [];
  for (let start: number | undefined = log.first; start !== undefined;) {
    const page = log.read({ start, count: 1000 });
    all.push(...page.lines.map((l) => JSON.parse(l) as Record<string, unknown>));
    start = page.next;
  }
  assert.equal(all.length, 3000);
  all.forEach((r, i) => {
    const k = 4501 + i;
    assert.equal(r.ordinal, k);
    assert.equal(r.instructions, k * 10);
    assert.equal(r.rip, `0x${(0xffff_ffff_0000_0000n + BigInt(k)).toString(16)}`, '64-bit values survive as hex strings');
    assert.equal(r.qualification, `0x${k.toString(16)}`);
    assert.equal(r.handledBy, k % 2 === 0 ? 'vcpu' : 'vmm');
  });
  assert.throws(() => log.read({ start: 4500 }), (e: unknown) => e instanceof ExitLogError && /no longer kept.*last 3000 exits/.test(e.message));
  assert.deepEqual(log.read({ start: 7501 }).lines, []);
  log.clear();
  assert.equal(log.total, 0);
  assert.deepEqual(log.read().lines, []);
  assert.throws(() => new ExitLog(0), RangeError);
});
