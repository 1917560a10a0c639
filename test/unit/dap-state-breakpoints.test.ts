// Data breakpoints on MSRs and VMCS fields through the protocol, against the adapter process:
// the guest's WRMSR (it runs without a VM exit: the MSR bitmaps intercept nothing) and the
// VMM's VMWRITEs while it answers an exit stop the guest, naming the MSR or field, the old and
// new value and the writer. Expected values come from the guest programs (what they write, where
// the writing instruction is, per nm and objdump), never from the adapter.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { gnuToolsAvailable, nmSymbols, run } from '../support/gnu-tools';
import { assembleGuest } from '../support/guest-asm';
import { normalize, objdump, parseObjdump } from '../support/objdump';
import { findInstruction, HELLO, instructionPointer, launchAndStop, resumeAndStop, ROOT, scopeVariables, startAdapter, stopAdapter, symbol } from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 60_000 };
const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** The group variable under `scope` that holds a variable named `name`, and that variable. */
async function inGroup(dc: DebugClient, scope: string, name: string): Promise<{ group: DebugProtocol.Variable; variable: DebugProtocol.Variable }> {
  for (const group of (await scopeVariables(dc, scope)).values()) {
    if (group.variablesReference === 0) continue;
    const children = (await dc.variablesRequest({ variablesReference: group.variablesReference })).body.variables;
    const variable = children.find((v) => v.name === name);
    if (variable !== undefined) return { group, variable };
  }
  assert.fail(`no ${name} under ${scope}`);
}

async function evaluate(dc: DebugClient, expression: string): Promise<bigint> {
  return BigInt((await dc.evaluateRequest({ expression, context: 'watch' })).body.result);
}

/** hello's 32-bit boot code as objdump decodes it (-m i386): from protected_mode to long_mode. */
function bootListing32(): ReturnType<typeof parseObjdump> {
  return parseObjdump(run('objdump', ['-d', '-M', 'intel', '-m', 'i386', '-w', '--start-address', hex(symbol('protected_mode')),
    '--stop-address', hex(symbol('long_mode')), HELLO]));
}

test('an MSR data breakpoint from the MSRs scope stops after hello\'s WRMSR of IA32_EFER, naming old and new value and the RIP', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    const { group, variable } = await inGroup(dc, 'MSRs', 'IA32_EFER');
    const before = BigInt(variable.value);
    const info = await dc.dataBreakpointInfoRequest({ variablesReference: group.variablesReference, name: 'IA32_EFER' });
    // boot.inc's MSR_EFER constant is the MSR's address
    assert.equal(info.body.dataId, `msr:${hex(symbol('MSR_EFER'))}`);
    assert.deepEqual(info.body.accessTypes, ['write']);
    assert.equal(info.body.canPersist, true);
    const set = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId as string, accessType: 'write' }] });
    assert.deepEqual(set.body.breakpoints.map((b) => b.verified), [true]);

    const stopped = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal(stopped.body.reason, 'data breakpoint');
    assert.deepEqual(stopped.body.hitBreakpointIds, [set.body.breakpoints[0].id]);
    // boot.inc: rdmsr; or eax, EFER_LME; wrmsr
    const wrmsr = bootListing32().find((e) => normalize(e.text) === 'wrmsr');
    assert.ok(wrmsr !== undefined, 'objdump shows the WRMSR in boot.inc');
    const after = before | symbol('EFER_LME');
    assert.equal(stopped.body.description, `WRMSR IA32_EFER ${hex(before)} → ${hex(after)} at rip ${hex(wrmsr.address)}`);
    assert.equal(await instructionPointer(dc), wrmsr.address + BigInt(wrmsr.bytes.length), 'a trap: the WRMSR has completed');
    assert.equal(await evaluate(dc, 'msr(IA32_EFER)'), after);

    // the breakpoint holds across a restart (canPersist): the fresh guest stops at the same WRMSR
    const again = dc.waitForEvent('stopped') as Promise<DebugProtocol.StoppedEvent>;
    await dc.send('restart', { arguments: { program: HELLO } });
    const restarted = await again;
    assert.equal(restarted.body.description, stopped.body.description);
    assert.deepEqual(restarted.body.hitBreakpointIds, [set.body.breakpoints[0].id], 'the id the client was given');

    // EFER.LMA is set by the processor when paging comes on, not by a WRMSR: the guest runs to its end
    const terminated = dc.waitForEvent('terminated');
    let stops = 0;
    dc.on('stopped', () => { stops++; });
    await dc.continueRequest({ threadId: 1 });
    await terminated;
    assert.equal(stops, 0);
  } finally {
    await stopAdapter(dc);
  }
});

test('a VMCS data breakpoint on GUEST_RIP stops after the VMM answered hello\'s first OUT, naming the VMM and the exit', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    const { group } = await inGroup(dc, 'VMCS', 'GUEST_RIP');
    const info = await dc.dataBreakpointInfoRequest({ variablesReference: group.variablesReference, name: 'GUEST_RIP' });
    assert.equal(info.body.dataId, 'vmcs:GUEST_RIP');
    assert.deepEqual(info.body.accessTypes, ['write']);
    const set = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: 'vmcs:GUEST_RIP' }] });
    assert.equal(set.body.breakpoints[0].verified, true);

    const stopped = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal(stopped.body.reason, 'data breakpoint');
    assert.deepEqual(stopped.body.hitBreakpointIds, [set.body.breakpoints[0].id]);
    // the first instruction that exits and is answered by moving RIP on: serial_init's first OUT
    const out = findInstruction(symbol('serial_init'), /^out\b/); // main calls serial_init first
    const next = out.address + BigInt(out.bytes.length);
    assert.equal(stopped.body.description, `VMWRITE GUEST_RIP ${hex(out.address)} → ${hex(next)} by the VMM answering IO_INSTRUCTION (exit at rip ${hex(out.address)})`);
    assert.equal(await instructionPointer(dc), next);
    assert.equal(await evaluate(dc, 'vmcs.GUEST_RIP'), next);

    // cleared, the guest runs to its end
    await dc.setDataBreakpointsRequest({ breakpoints: [] });
    const terminated = dc.waitForEvent('terminated');
    await dc.continueRequest({ threadId: 1 });
    await terminated;
  } finally {
    await stopAdapter(dc);
  }
});

test('exit-tour: a GUEST_CR0 data breakpoint stops after the vCPU answered the guest\'s MOV to CR0, the guest\'s value in the field', T, async () => {
  const dc = await startAdapter();
  try {
    const elf = path.join(ROOT, 'samples/exit-tour/exit-tour.elf');
    const at = (name: string): bigint => {
      const s = nmSymbols(elf).find((x) => x.name === name);
      assert.ok(s?.address !== undefined, `nm lists ${name}`);
      return s.address;
    };
    await launchAndStop(dc, { program: elf, stopOnEntry: true });
    const info = await dc.dataBreakpointInfoRequest({ name: 'vmcs.GUEST_CR0' });
    const set = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId as string }] });
    const stopped = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.deepEqual(stopped.body.hitBreakpointIds, [set.body.breakpoints[0].id]);
    // tour_mov_cr0: mov cr0, rbx with NE set in RBX; CR0.NE is fixed to 1 in VMX operation (SDM
    // Vol. 3C, 24.8), so the guest's real CR0 had it already: the field is rewritten unchanged
    const insn = parseObjdump(run('objdump', ['-d', '-M', 'intel', '-w', '--start-address', hex(at('tour_mov_cr0')), '--stop-address', hex(at('tour_mov_cr0') + 16n), elf]))[0];
    assert.equal(normalize(insn.text), 'mov cr0,rbx');
    const rbx = await evaluate(dc, 'rbx');
    assert.equal(stopped.body.description, `VMWRITE GUEST_CR0 ${hex(rbx)} → ${hex(rbx)} (unchanged) by the vCPU answering CR_ACCESS (exit at rip ${hex(insn.address)})`);
    assert.equal(await instructionPointer(dc), insn.address + BigInt(insn.bytes.length));
  } finally {
    await stopAdapter(dc);
  }
});

test('two state data breakpoints: each stop names only the one written, a step that writes stops as a data breakpoint', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-dap-state-'));
  const dc = await startAdapter();
  try {
    // IA32_STAR is C0000081H (SDM Vol. 4, Table 2-2); port 0x3ff is COM1's scratch register
    const star1 = 0x0023001011112222n, star2 = 0x0023001033334444n;
    const bytes = assembleGuest(['.code64',
      'mov ecx, 0xc0000081', `mov eax, ${hex(star1 & 0xffffffffn)}`, `mov edx, ${hex(star1 >> 32n)}`, 'wrmsr',
      'mov dx, 0x3ff', 'mov al, 0x5a', 'out dx, al',
      'mov ecx, 0xc0000081', `mov eax, ${hex(star2 & 0xffffffffn)}`, `mov edx, ${hex(star2 >> 32n)}`, 'wrmsr',
      'spin: jmp spin'], 0x8000);
    const listing = objdump(bytes, 64, 0x8000n);
    const at = (text: RegExp, from = 0n): typeof listing[number] => {
      const e = listing.find((x) => x.address >= from && text.test(normalize(x.text)));
      assert.ok(e !== undefined, `${text}`);
      return e;
    };
    const bin = path.join(dir, 'state.bin');
    fs.writeFileSync(bin, bytes);
    await launchAndStop(dc, { program: bin, loadAddress: 0x8000, mode: 'long', stopOnEntry: true });
    const starBefore = await evaluate(dc, 'msr(IA32_STAR)');
    // the watch expressions' names (the variables' evaluateName) work as well as scope + name
    const star = await dc.dataBreakpointInfoRequest({ name: 'msr(IA32_STAR)' });
    assert.equal(star.body.dataId, 'msr:0xc0000081');
    const rip = await dc.dataBreakpointInfoRequest({ name: 'vmcs.GUEST_RIP' });
    assert.equal(rip.body.dataId, 'vmcs:GUEST_RIP');
    const set = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: 'msr:0xc0000081' }, { dataId: 'vmcs:GUEST_RIP' }] });
    const [starId, ripId] = set.body.breakpoints.map((b) => b.id);

    // four instruction steps: mov, mov, mov, then the WRMSR, whose step ends as a data breakpoint
    for (let k = 0; k < 3; k++) assert.equal((await resumeAndStop(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }))).body.reason, 'step');
    const first = at(/^wrmsr$/);
    let stopped = await resumeAndStop(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }));
    assert.equal(stopped.body.reason, 'data breakpoint');
    assert.deepEqual(stopped.body.hitBreakpointIds, [starId]);
    assert.equal(stopped.body.description, `WRMSR IA32_STAR ${hex(starBefore)} → ${hex(star1)} at rip ${hex(first.address)}`);

    const out = at(/^out\b/);
    stopped = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.deepEqual(stopped.body.hitBreakpointIds, [ripId]);
    assert.match(stopped.body.description ?? '', new RegExp(`^VMWRITE GUEST_RIP ${hex(out.address)} → ${hex(out.address + BigInt(out.bytes.length))} by the VMM answering IO_INSTRUCTION`));

    const second = at(/^wrmsr$/, out.address);
    stopped = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.deepEqual(stopped.body.hitBreakpointIds, [starId]);
    assert.equal(stopped.body.description, `WRMSR IA32_STAR ${hex(star1)} → ${hex(star2)} at rip ${hex(second.address)}`);
    assert.equal(await instructionPointer(dc), second.address + BigInt(second.bytes.length));
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('SWAPGS writes IA32_KERNEL_GSBASE: the stop comes right after it (mid-block) and names it', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-dap-swapgs-'));
  const dc = await startAdapter();
  try {
    // IA32_GS_BASE C0000101H, IA32_KERNEL_GSBASE C0000102H (SDM Vol. 4, Table 2-2); SWAPGS
    // exchanges GS.base with IA32_KERNEL_GSBASE (SDM Vol. 2B, SWAPGS)
    const gsBase = 0x1234000n, kernel = 0x5678000n;
    const bytes = assembleGuest(['.code64',
      'mov ecx, 0xc0000101', `mov eax, ${hex(gsBase)}`, 'xor edx, edx', 'wrmsr',
      'mov ecx, 0xc0000102', `mov eax, ${hex(kernel)}`, 'wrmsr',
      'swapgs', 'nop', 'nop', 'spin: jmp spin'], 0x8000);
    const listing = objdump(bytes, 64, 0x8000n);
    const wrmsr2 = listing.filter((e) => normalize(e.text) === 'wrmsr')[1];
    const swapgs = listing.find((e) => normalize(e.text) === 'swapgs')!;
    const bin = path.join(dir, 'swapgs.bin');
    fs.writeFileSync(bin, bytes);
    await launchAndStop(dc, { program: bin, loadAddress: 0x8000, mode: 'long', stopOnEntry: true });
    const before = await evaluate(dc, 'msr(IA32_KERNEL_GSBASE)');
    const info = await dc.dataBreakpointInfoRequest({ name: 'msr(IA32_KERNEL_GSBASE)' });
    await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId as string }] });
    let stopped = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal(stopped.body.description, `WRMSR IA32_KERNEL_GSBASE ${hex(before)} → ${hex(kernel)} at rip ${hex(wrmsr2.address)}`);
    stopped = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal(stopped.body.description, `SWAPGS IA32_KERNEL_GSBASE ${hex(kernel)} → ${hex(gsBase)} at rip ${hex(swapgs.address)}`);
    assert.equal(await instructionPointer(dc), swapgs.address + BigInt(swapgs.bytes.length), 'stopped right after SWAPGS, not at the end of its block');
    assert.equal(await evaluate(dc, 'msr(IA32_GS_BASE)'), kernel);
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('state data breakpoints: groups and bit fields have no dataId, bad ids are unverified, reads are refused', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    const sc = await dc.scopesRequest({ frameId: 1 });
    const vmcs = sc.body.scopes.find((s) => s.name === 'VMCS')!.variablesReference;
    const group = await dc.dataBreakpointInfoRequest({ variablesReference: vmcs, name: 'Guest state' });
    assert.equal(group.body.dataId, null);
    assert.match(group.body.description, /not a VMCS field/);
    const { variable: efer } = await inGroup(dc, 'MSRs', 'IA32_EFER');
    const field = await dc.dataBreakpointInfoRequest({ variablesReference: efer.variablesReference, name: 'LME' });
    assert.equal(field.body.dataId, null);
    assert.match(field.body.description, /not an MSR/);
    const set = await dc.setDataBreakpointsRequest({ breakpoints: [
      { dataId: 'msr:0x12345678' }, { dataId: 'vmcs:NO_SUCH_FIELD' }, { dataId: 'vmcs:GUEST_RIP', accessType: 'read' }, { dataId: 'vmcs:GUEST_RSP' },
    ] });
    assert.deepEqual(set.body.breakpoints.map((b) => b.verified), [false, false, false, true]);
    assert.match(set.body.breakpoints[0].message ?? '', /no MSR 0x12345678/);
    assert.match(set.body.breakpoints[1].message ?? '', /no VMCS field 'NO_SUCH_FIELD'/);
    assert.match(set.body.breakpoints[2].message ?? '', /for writes only/);
    assert.equal(await instructionPointer(dc), symbol('_start'));
  } finally {
    await stopAdapter(dc);
  }
});
