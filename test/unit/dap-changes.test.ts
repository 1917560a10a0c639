// Changing the guest through the protocol, against the adapter process on the committed hello
// sample: flags that change which way a branch goes, control registers, MSRs and VMCS fields
// refused with the rule the processor applies (rules from the SDM, bit masks computed here
// from the capability MSRs the guest's processor reports), writeMemory changing what the
// guest prints; and looking: the Host stack frame scope, and the frame chain of a guest built
// with frame pointers (names from nm, lines from the source text).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { gnuToolsAvailable, nmSymbols, run } from '../support/gnu-tools';
import {
  elfBytes, findInstruction, HELLO, instructionPointer, launchAndStop, registers, resumeAndStop, ROOT, startAdapter, stopAdapter, symbol, VSCODE_INITIALIZE,
} from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 30_000 };
type Client = Awaited<ReturnType<typeof startAdapter>>;

async function evaluate(dc: Client, expression: string): Promise<bigint> {
  return BigInt((await dc.evaluateRequest({ expression, context: 'watch' })).body.result);
}

async function scopeRef(dc: Client, name: string): Promise<number> {
  const sc = await dc.scopesRequest({ frameId: 1 });
  const s = sc.body.scopes.find((x) => x.name === name);
  assert.ok(s !== undefined, name);
  return s.variablesReference;
}

/** The container (scope or a group/register below it) that holds a variable named `name`, searched two levels deep. */
async function holder(dc: Client, scope: string, name: string): Promise<number> {
  const top = await scopeRef(dc, scope);
  const vars = (await dc.variablesRequest({ variablesReference: top })).body.variables;
  if (vars.some((v) => v.name === name)) return top;
  for (const v of vars) {
    if (v.variablesReference === 0) continue;
    const kids = (await dc.variablesRequest({ variablesReference: v.variablesReference })).body.variables;
    if (kids.some((k) => k.name === name)) return v.variablesReference;
  }
  assert.fail(`no variable ${name} in ${scope}`);
}

async function set(dc: Client, scope: string, name: string, value: string): Promise<{ value: string; areas: DebugProtocol.InvalidatedAreas[] | undefined }> {
  const ref = await holder(dc, scope, name);
  const invalidated = dc.waitForEvent('invalidated') as Promise<DebugProtocol.InvalidatedEvent>;
  const r = await dc.setVariableRequest({ variablesReference: ref, name, value });
  return { value: r.body.value, areas: (await invalidated).body.areas };
}

async function refused(dc: Client, scope: string, name: string, value: bigint, why: RegExp): Promise<void> {
  const ref = await holder(dc, scope, name);
  await assert.rejects(dc.setVariableRequest({ variablesReference: ref, name, value: `0x${value.toString(16)}` }), why);
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

test('setting ZF before the poll loop\'s jz sends the guest back round the loop', T, async () => {
  const dc = await startAdapter();
  try {
    const jz = findInstruction(symbol('serial_putc'), /^je /);
    const loop = findInstruction(symbol('serial_putc'), /^in al,dx$/);
    const after = findInstruction(jz.address, /^mov al,ah$/);
    await launchAndStop(dc, { program: HELLO }, () => dc.send('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(jz.address) }] }));
    // the UART is ready: TEST AL, THRE left ZF clear, so the jz would fall through
    assert.equal(await evaluate(dc, 'zf'), 0n);
    const before = (await registers(dc)).get('rflags')!;
    const r = await set(dc, 'Registers', 'ZF', '1');
    assert.equal(r.value, '0x1');
    assert.deepEqual(r.areas, ['variables']);
    assert.equal((await registers(dc)).get('rflags'), before | 0x40n, 'ZF is RFLAGS bit 6 (SDM Vol. 1, 3.4.3)');
    await resumeAndStop(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }));
    assert.equal(await instructionPointer(dc), loop.address, 'the jz was taken');
    assert.notEqual(loop.address, after.address);
    await assert.rejects(dc.setVariableRequest({ variablesReference: await holder(dc, 'Registers', 'IOPL'), name: 'IOPL', value: '4' }), /IOPL is 2 bits wide: 4 does not fit/);
  } finally {
    await stopAdapter(dc);
  }
});

test('control registers on the processor: MOV to CR\'s #GP rules answer a refused value; a good one is what the guest has', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_putc' }] }));
    const cr0 = await evaluate(dc, 'cr0');
    // SDM Vol. 3A, 2.5: NW set with CD clear is #GP(0)
    await refused(dc, 'Segments & control', 'cr0', (cr0 | (1n << 29n)) & ~(1n << 30n), /MOV to CR0 with 0x[0-9a-f]+ would raise #GP: CR0.NW without CR0.CD/);
    // CR8 holds the 4-bit task priority; bits 63:4 are reserved
    await refused(dc, 'Segments & control', 'cr8', 0x10n, /MOV to CR8 with 0x10 would raise #GP: reserved CR8 bits set/);
    const wp = cr0 ^ (1n << 16n);
    const r = await set(dc, 'Segments & control', 'cr0', hex(wp));
    assert.equal(r.value, hex(wp));
    assert.deepEqual(r.areas, ['stacks', 'variables']);
    assert.equal(await evaluate(dc, 'cr0'), wp);
    assert.equal((await set(dc, 'Segments & control', 'cr8', '5')).value, '0x5');
    assert.equal(await evaluate(dc, 'cr8'), 5n);
  } finally {
    await stopAdapter(dc);
  }
});

test('at a VM exit: guest CR4 against IA32_VMX_CR4_FIXED0, MSRs by WRMSR\'s and VM entry\'s rules, read-only VMCS fields by VMWRITE\'s error', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO }, () => dc.setExceptionBreakpointsRequest({ filters: ['IO_INSTRUCTION'] }));
    // CR4 bits fixed to 1 in VMX operation (SDM Vol. 3D, A.8): clearing them is refused, naming them
    const fixed0 = await evaluate(dc, 'msr(IA32_VMX_CR4_FIXED0)');
    const cr4 = await evaluate(dc, 'cr4');
    assert.notEqual(fixed0, 0n, 'CR4.VMXE at least is fixed to 1');
    await refused(dc, 'Segments & control', 'cr4', cr4 & ~fixed0,
      new RegExp(`CR4 = ${hex(cr4 & ~fixed0)} is refused: bits ${hex(fixed0)} must be 1 \\(IA32_VMX_CR4_FIXED0 = ${hex(fixed0)}\\)`));
    await refused(dc, 'Segments & control', 'cr0', ((await evaluate(dc, 'cr0')) | (1n << 29n)) & ~(1n << 30n), /CR0.NW requires CR0.CD/);
    // EFER: bit 1 is reserved (SDM Vol. 3C, 27.3.1.1: only SCE, LME, LMA, NXE)
    const efer = await evaluate(dc, 'msr(IA32_EFER)');
    await refused(dc, 'MSRs', 'IA32_EFER', efer | 2n, /IA32_EFER = 0x[0-9a-f]+ is refused: reserved bits set/);
    await refused(dc, 'MSRs', 'IA32_EFER', efer & ~0x400n, /EFER.LMA must equal "IA-32e mode guest" \(1\)/);
    // an MSR the processor holds: WRMSR's canonical-address rule
    await refused(dc, 'MSRs', 'IA32_KERNEL_GSBASE', 1n << 47n, /WRMSR would raise #GP: write of IA32_KERNEL_GSBASE \(0xc0000102\) rejected: non-canonical address/);
    assert.equal((await set(dc, 'MSRs', 'IA32_KERNEL_GSBASE', '0x1234')).value, '0x1234');
    assert.equal(await evaluate(dc, 'msr(IA32_KERNEL_GSBASE)'), 0x1234n);
    // VMWRITE to an exit-information field fails with error 13 unless IA32_VMX_MISC[29] says the
    // processor allows it (SDM Vol. 3C, 31.4; Vol. 3D, A.6); the processor's answer is the debugger's
    if ((await evaluate(dc, 'msr(IA32_VMX_MISC) >> 29 & 1')) === 0n) {
      await refused(dc, 'VMCS', 'VM_INSTRUCTION_ERROR', 5n, /VMWRITE to VM_INSTRUCTION_ERROR failed: VmxInstructionError\(13: VMWRITE to read-only VMCS component\)/);
      assert.equal(await evaluate(dc, 'vmcs.VM_INSTRUCTION_ERROR'), 0n, 'unchanged');
    } else {
      assert.equal((await set(dc, 'VMCS', 'VM_INSTRUCTION_ERROR', '5')).value, '0x5');
      assert.equal(await evaluate(dc, 'vmcs.VM_INSTRUCTION_ERROR'), 5n);
    }
    assert.equal((await set(dc, 'VMCS', 'CR0_READ_SHADOW', '0x31')).value, '0x31');
    assert.equal(await evaluate(dc, 'vmcs.CR0_READ_SHADOW'), 0x31n);
    // the guest runs on: the next stop is the next OUT
    await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal((await dc.exceptionInfoRequest({ threadId: 1 })).body.exceptionId, 'IO_INSTRUCTION');
  } finally {
    await stopAdapter(dc);
  }
});

test('writeMemory into the message changes what the guest prints; unmapped memory is refused whole', T, async () => {
  const dc = await startAdapter();
  try {
    let text = '';
    dc.on('output', (e: DebugProtocol.OutputEvent) => { if (e.body.category === 'stdout') text += e.body.output; });
    await launchAndStop(dc, { program: HELLO }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_puts' }] }));
    const at = symbol('message');
    const invalidated = dc.waitForEvent('invalidated');
    const w = await dc.send('writeMemory', { memoryReference: hex(at), offset: 0, data: Buffer.from('J').toString('base64') }) as DebugProtocol.WriteMemoryResponse;
    assert.equal(w.body?.bytesWritten, 1);
    await invalidated;
    assert.equal(await evaluate(dc, `byte [${at}]`), BigInt('J'.charCodeAt(0)));
    await assert.rejects(dc.send('writeMemory', { memoryReference: '0xffff800000000000', data: Buffer.from('xy').toString('base64') }),
      /cannot write 2 bytes at 0xffff800000000000: 0xffff800000000000 is not mapped by the guest's paging or not RAM \(nothing was written\)/);
    await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
    const terminated = dc.waitForEvent('terminated');
    await dc.continueRequest({ threadId: 1 });
    await terminated;
    const original = Buffer.from(elfBytes(at, 64)).toString('latin1').split('\0')[0];
    assert.equal(text, `J${original.slice(1)}`);
  } finally {
    await stopAdapter(dc);
  }
});

test('Host stack frame: the GeneralRegisters image at HOST_RSP - 128 holds the guest\'s registers of the exit', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO }, () => dc.setExceptionBreakpointsRequest({ filters: ['IO_INSTRUCTION'] }));
    const vars = (await dc.variablesRequest({ variablesReference: await scopeRef(dc, 'Host stack frame') })).body.variables;
    const byName = new Map(vars.map((v) => [v.name, v.value]));
    assert.match(byName.get('address') ?? '', new RegExp(`^${hex((await evaluate(dc, 'vmcs.HOST_RSP')) - 128n)} \\(HOST_RSP - 128\\)`));
    // serial_init's first OUT: mov dx, COM1 + 1; xor al, al; out dx, al
    assert.equal(BigInt(byName.get('rdx')!) & 0xffffn, symbol('COM1') + 1n);
    assert.equal(BigInt(byName.get('rax')!) & 0xffn, 0n);
    // sixteen slots in register-number order (SDM Vol. 2A, Table 2-2), RSP's unused
    assert.equal(vars.find((v) => v.name === 'note'), undefined, 'stopped at an exit: the image is current');
    assert.deepEqual(vars.slice(1).map((v) => v.name),
      ['rax', 'rcx', 'rdx', 'rbx', '(slot 4)', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15']);
  } finally {
    await stopAdapter(dc);
  }
});

test('the frame chain of 64-bit code with frame pointers: each caller with its symbol and the line of its call', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-frames-'));
  const dc = await startAdapter();
  try {
    const source = [
      '    .include "boot.inc"',
      '    .text',
      'main:',
      '    push rbp',
      '    mov rbp, rsp',
      '    call outer',
      '    pop rbp',
      '    xor eax, eax',
      '    ret',
      'outer:',
      '    push rbp',
      '    mov rbp, rsp',
      '    call inner',
      '    pop rbp',
      '    ret',
      'inner:',
      '    push rbp',
      '    mov rbp, rsp',
      'inner_body:',
      '    nop',
      '    pop rbp',
      '    ret',
    ];
    fs.writeFileSync(path.join(dir, 'frames.S'), `${source.join('\n')}\n`);
    const common = path.join(ROOT, 'samples/common');
    const elf = path.join(dir, 'frames.elf');
    run('as', ['--64', '-g', '-I', common, '-o', path.join(dir, 'frames.o'), path.join(dir, 'frames.S')]);
    run('ld', ['-T', path.join(common, 'guest.ld'), '--build-id=none', '-o', elf, path.join(dir, 'frames.o')]);
    const nm = new Map(nmSymbols(elf).filter((s) => s.address !== undefined).map((s) => [s.name, s.address as bigint]));
    await dc.initializeRequest(VSCODE_INITIALIZE);
    const stopped = dc.waitForEvent('stopped');
    await dc.launchRequest({ program: elf } as DebugProtocol.LaunchRequestArguments);
    await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'inner_body' }] });
    await dc.configurationDoneRequest();
    await stopped;
    const st = await dc.stackTraceRequest({ threadId: 1 });
    const frames = st.body.stackFrames;
    const lineOf = (text: RegExp) => source.findIndex((l) => text.test(l)) + 1;
    assert.equal(frames[0].name, 'inner_body');
    assert.equal(frames[0].line, lineOf(/^\s*nop$/));
    assert.match(frames[1].name, /^outer\+0x[0-9a-f]+$/);
    assert.equal(frames[1].line, lineOf(/call inner/));
    assert.match(frames[2].name, /^main\+0x[0-9a-f]+$/);
    assert.equal(frames[2].line, lineOf(/call outer/));
    // main was called by boot.inc's long_mode: its frame ends the chain (RBP was 0 there)
    assert.match(frames[3].name, /^long_mode\+0x[0-9a-f]+$/);
    assert.equal(path.basename(frames[3].source?.path ?? ''), 'boot.inc');
    const bootLines = fs.readFileSync(path.join(common, 'boot.inc'), 'utf8').split('\n');
    assert.match(bootLines[(frames[3].line ?? 0) - 1], /^\s*call main\b/);
    assert.equal(frames.length, 4);
    assert.equal(st.body.totalFrames, 4);
    // each caller's instruction pointer is the return address: the instruction after its call
    const afterCall = (from: bigint) => { const c = findCallAfter(elf, from); return c; };
    assert.equal(BigInt(frames[1].instructionPointerReference ?? 'x'), afterCall(nm.get('outer')!));
    assert.equal(BigInt(frames[2].instructionPointerReference ?? 'x'), afterCall(nm.get('main')!));
    // levels and startFrame page through the chain
    const page = await dc.stackTraceRequest({ threadId: 1, startFrame: 1, levels: 2 });
    assert.deepEqual(page.body.stackFrames.map((f) => f.name), [frames[1].name, frames[2].name]);
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** The address after the first call at or after `from`, as objdump decodes the ELF. */
function findCallAfter(elf: string, from: bigint): bigint {
  const lines = run('objdump', ['-d', '-M', 'intel', '-w', elf]).split('\n');
  for (let k = 0; k < lines.length; k++) {
    const m = /^\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*call\b/.exec(lines[k]);
    if (m === null || BigInt(`0x${m[1]}`) < from) continue;
    const next = lines.slice(k + 1).map((l) => /^\s*([0-9a-f]+):/.exec(l)).find((x) => x !== null);
    assert.ok(next);
    return BigInt(`0x${next[1]}`);
  }
  assert.fail(`no call after 0x${from.toString(16)}`);
}
