// setVariable on bit-field children, through the protocol against the adapter process, on a
// guest assembled here: a flag (DF makes STOSB go backwards), a VMX control (RDTSC exiting
// makes RDTSC exit), CR0/CR4/EFER bits (CR0.WP makes a CPL-0 write to a read-only page fault),
// a multi-bit MSR field (IA32_PAT's PA0). Each writes its
// owner with the field replaced, by the owner's rules; the refusals expected are computed here
// from the SDM's rules and the capability MSRs the guest's processor reports.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { gnuToolsAvailable } from '../support/gnu-tools';
import {
  buildTestGuest, containerOf, launchAndStop, registers, resumeAndStop, startAdapter, stopAdapter, TestGuest,
} from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 30_000 };
type Client = Awaited<ReturnType<typeof startAdapter>>;
const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** STOSB at do_store, an OUT to COM1 (an I/O exit), then RDTSC at `timed`. */
const PROGRAM = [
  '    .text',
  'main:',
  '    mov edi, offset buffer + 8',
  '    mov al, 0x41',
  '    cld',
  'do_store:',
  '    stosb',
  '    mov dx, 0x3f8',
  '    mov al, 0x42',
  '    out dx, al',
  'timed:',
  '    rdtsc',
  '    xor eax, eax',
  '    ret',
  '    .data',
  'buffer: .fill 16, 1, 0',
];

/** Makes `target_page` read-only in its own page tables (boot.inc's `pt`), then writes to it at CPL 0. */
const READ_ONLY_WRITE = [
  '    .text',
  'main:',
  '    mov eax, offset target_page',
  '    shr eax, 12',
  '    and qword ptr [pt + rax * 8], -3',
  '    invlpg [target_page]',
  'ro_write:',
  '    mov byte ptr [target_page], 1',
  '    xor eax, eax',
  '    ret',
  '    .bss',
  '    .balign 4096',
  'target_page: .skip 4096',
];

let guest: TestGuest | undefined;
let dir: string | undefined;
function theGuest(): TestGuest {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-bitfields-'));
  guest ??= buildTestGuest(dir, 'bits', PROGRAM);
  return guest;
}
test.after(() => { if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true }); });

async function evaluate(dc: Client, expression: string): Promise<bigint> {
  return BigInt((await dc.evaluateRequest({ expression, context: 'watch' })).body.result);
}

/** setVariable on scope > ...path; the answer's value and the invalidated event's areas. */
async function setField(dc: Client, scope: string, pathTo: string[], value: string): Promise<{ value: string; areas: DebugProtocol.InvalidatedAreas[] | undefined }> {
  const ref = await containerOf(dc, scope, pathTo);
  const invalidated = dc.waitForEvent('invalidated') as Promise<DebugProtocol.InvalidatedEvent>;
  const r = await dc.setVariableRequest({ variablesReference: ref, name: pathTo[pathTo.length - 1], value });
  return { value: r.body.value, areas: (await invalidated).body.areas };
}

async function refusedField(dc: Client, scope: string, pathTo: string[], value: string, why: RegExp): Promise<void> {
  const ref = await containerOf(dc, scope, pathTo);
  await assert.rejects(dc.setVariableRequest({ variablesReference: ref, name: pathTo[pathTo.length - 1], value }), why);
}

/** The value a child shows now (0x… first). */
async function fieldValue(dc: Client, scope: string, pathTo: string[]): Promise<bigint> {
  const ref = await containerOf(dc, scope, pathTo);
  const v = (await dc.variablesRequest({ variablesReference: ref })).body.variables.find((x) => x.name === pathTo[pathTo.length - 1]);
  return BigInt(/^0x[0-9a-f]+/.exec(v?.value ?? '')?.[0] ?? 'x');
}

test('rflags > DF = 1: the next STOSB stores and then moves RDI down, not up', T, async () => {
  const g = theGuest();
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: g.elf }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'do_store' }] }));
    assert.equal(await fieldValue(dc, 'Registers', ['rflags', 'DF']), 0n, 'CLD ran');
    const before = await registers(dc);
    const r = await setField(dc, 'Registers', ['rflags', 'DF'], '1');
    assert.equal(r.value, '0x1');
    assert.deepEqual(r.areas, ['variables']);
    // DF is RFLAGS bit 10 (SDM Vol. 1, 3.4.3); nothing else moved
    assert.equal((await registers(dc)).get('rflags'), before.get('rflags')! | (1n << 10n));
    assert.equal(await fieldValue(dc, 'Registers', ['rflags', 'DF']), 1n);
    await resumeAndStop(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }));
    const rdi = before.get('rdi')!;
    assert.equal(rdi, g.symbols.get('buffer')! + 8n);
    // STOSB: [RDI] = AL, then RDI -= 1 when DF = 1 (SDM Vol. 2B, STOS)
    assert.equal((await registers(dc)).get('rdi'), rdi - 1n);
    assert.equal(await evaluate(dc, `byte [${hex(rdi)}]`), 0x41n);
    await refusedField(dc, 'Registers', ['rflags', 'IOPL'], '4', /IOPL is 2 bits wide: 4 does not fit/);
    await refusedField(dc, 'Registers', ['rflags', 'CF'], 'rax +', /'rax \+' is not a value/);
  } finally {
    await stopAdapter(dc);
  }
});

test('on the processor: CR0 bits by MOV to CR0\'s rules, EFER bits by WRMSR\'s; VMCS control bits wait for a VM exit', T, async () => {
  const g = theGuest();
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: g.elf }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'do_store' }] }));
    const cr0 = await evaluate(dc, 'cr0');
    const wp = await setField(dc, 'Segments & control', ['cr0', 'WP'], String(1n - ((cr0 >> 16n) & 1n)));
    assert.equal(BigInt(wp.value), 1n - ((cr0 >> 16n) & 1n));
    assert.deepEqual(wp.areas, ['stacks', 'variables'], 'CR0 changes how addresses translate');
    assert.equal(await evaluate(dc, 'cr0'), cr0 ^ (1n << 16n), 'WP is CR0 bit 16 (SDM Vol. 3A, 2.5)');
    // PG without PE is #GP (SDM Vol. 2B, MOV to CR0)
    await refusedField(dc, 'Segments & control', ['cr0', 'PE'], '0', /MOV to CR0 with 0x[0-9a-f]+ would raise #GP/);
    const efer = await evaluate(dc, 'efer');
    const nxe = await setField(dc, 'Segments & control', ['efer', 'NXE'], '1');
    assert.equal(nxe.value, '0x1');
    assert.equal(await evaluate(dc, 'efer'), efer | (1n << 11n), 'NXE is EFER bit 11');
    assert.equal((await setField(dc, 'MSRs', ['IA32_EFER', 'NXE'], '0')).value, '0x0');
    assert.equal(await evaluate(dc, 'msr(IA32_EFER)'), efer & ~(1n << 11n));
    await refusedField(dc, 'VMCS', ['PIN_BASED_VM_EXEC_CONTROL', 'NMI exiting'], '0', /cannot be written now: the guest is on the processor/);
  } finally {
    await stopAdapter(dc);
  }
});

test('at a VM exit: "RDTSC exiting" = 1 makes the guest\'s RDTSC exit; control bits against the capability MSRs; CR, EFER and PAT fields by VM entry\'s checks', T, async () => {
  const g = theGuest();
  const filters = { filters: [] as string[], filterOptions: [{ filterId: 'IO_INSTRUCTION', condition: 'port == 0x3f8' }, { filterId: 'RDTSC' }] };
  // first without the change: the guest's RDTSC runs without an exit and the guest ends
  const plain = await startAdapter();
  try {
    await launchAndStop(plain, { program: g.elf }, () => plain.setExceptionBreakpointsRequest(filters));
    const ended = plain.waitForEvent('terminated');
    const stopped = plain.waitForEvent('stopped').then(() => 'stopped');
    await plain.continueRequest({ threadId: 1 });
    assert.equal(await Promise.race([ended.then(() => 'terminated'), stopped]), 'terminated');
  } finally {
    await stopAdapter(plain);
  }
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: g.elf }, () => dc.setExceptionBreakpointsRequest(filters));
    assert.equal((await dc.exceptionInfoRequest({ threadId: 1 })).body.exceptionId, 'IO_INSTRUCTION');
    const control = ['CPU_BASED_VM_EXEC_CONTROL', 'RDTSC exiting'];
    assert.equal(await fieldValue(dc, 'VMCS', control), 0n);
    const primary = await evaluate(dc, 'vmcs.CPU_BASED_VM_EXEC_CONTROL');
    const r = await setField(dc, 'VMCS', control, '1');
    assert.equal(r.value, '0x1');
    assert.deepEqual(r.areas, ['variables']);
    // RDTSC exiting is bit 12 of the primary processor-based controls (SDM Vol. 3C, Table 25-6)
    assert.equal(await evaluate(dc, 'vmcs.CPU_BASED_VM_EXEC_CONTROL'), primary | (1n << 12n));
    assert.equal(await fieldValue(dc, 'VMCS', control), 1n);

    // allowed-1 settings (SDM Vol. 3D, A.3.1): a pin-based control the processor reports it
    // cannot set is refused, naming the bit and the MSR (the TRUE one when IA32_VMX_BASIC[55] = 1)
    const trueMsrs = ((await evaluate(dc, 'msr(IA32_VMX_BASIC)')) >> 55n & 1n) === 1n;
    const pinMsr = trueMsrs ? 'IA32_VMX_TRUE_PINBASED_CTLS' : 'IA32_VMX_PINBASED_CTLS';
    const pinCaps = await evaluate(dc, `msr(${pinMsr})`);
    assert.equal((pinCaps >> 32n >> 7n) & 1n, 0n, 'precondition: posted interrupts (pin-based bit 7) are not offered');
    await refusedField(dc, 'VMCS', ['PIN_BASED_VM_EXEC_CONTROL', 'process posted interrupts'], '1',
      new RegExp(`PIN_BASED_VM_EXEC_CONTROL = 0x[0-9a-f]+ is refused: cannot set 'process posted interrupts' \\(bit 7\\): ${pinMsr} allows it to be 0 only`));
    // NMI exiting (bit 3) may be either: off and on again
    assert.equal(((pinCaps >> 32n) >> 3n) & 1n, 1n);
    assert.equal(pinCaps & (1n << 3n), 0n);
    const pin = await evaluate(dc, 'vmcs.PIN_BASED_VM_EXEC_CONTROL');
    assert.equal((await setField(dc, 'VMCS', ['PIN_BASED_VM_EXEC_CONTROL', 'NMI exiting'], '0')).value, '0x0');
    assert.equal(await evaluate(dc, 'vmcs.PIN_BASED_VM_EXEC_CONTROL'), pin & ~(1n << 3n));
    assert.equal((await setField(dc, 'VMCS', ['PIN_BASED_VM_EXEC_CONTROL', 'NMI exiting'], '1')).value, '0x1');
    assert.equal(await evaluate(dc, 'vmcs.PIN_BASED_VM_EXEC_CONTROL'), pin | (1n << 3n));

    // CR0 against IA32_VMX_CR0_FIXED0 (27.3.1.1): clearing a bit fixed to 1 other than PE and PG
    const fixed0 = await evaluate(dc, 'msr(IA32_VMX_CR0_FIXED0)');
    assert.equal((fixed0 >> 5n) & 1n, 1n, 'precondition: CR0.NE is fixed to 1 in VMX operation (A.7)');
    await refusedField(dc, 'Segments & control', ['cr0', 'NE'], '0', /CR0 = 0x[0-9a-f]+ is refused: bits 0x20 must be 1/);
    await refusedField(dc, 'Segments & control', ['cr0', 'PG'], '0', /"IA-32e mode guest" requires CR0.PG/);
    const cr4Fixed0 = await evaluate(dc, 'msr(IA32_VMX_CR4_FIXED0)');
    assert.equal((cr4Fixed0 >> 13n) & 1n, 1n, 'precondition: CR4.VMXE is fixed to 1');
    await refusedField(dc, 'Segments & control', ['cr4', 'VMXE'], '0', /CR4 = 0x[0-9a-f]+ is refused: bits 0x2000 must be 1/);
    // EFER.LMA must equal "IA-32e mode guest" (27.3.1.1), the same rule through either view of EFER
    await refusedField(dc, 'Segments & control', ['efer', 'LMA'], '0', /EFER.LMA must equal "IA-32e mode guest" \(1\)/);
    await refusedField(dc, 'MSRs', ['IA32_EFER', 'LMA'], '0', /EFER.LMA must equal "IA-32e mode guest" \(1\)/);
    const efer = await evaluate(dc, 'msr(IA32_EFER)');
    assert.equal((await setField(dc, 'MSRs', ['IA32_EFER', 'NXE'], '1')).value, '0x1');
    assert.equal(await evaluate(dc, 'vmcs.GUEST_IA32_EFER'), efer | (1n << 11n), 'at an exit the guest\'s EFER is in the VMCS');

    // a multi-bit field: PAT entry 0 (bits 2:0) takes a memory type; 2 and 3 are reserved (Table 12-10)
    const pat = await evaluate(dc, 'msr(IA32_PAT)');
    const pa0 = await setField(dc, 'MSRs', ['IA32_PAT', 'PA0'], '6');
    assert.equal(pa0.value, '0x6');
    assert.equal(await evaluate(dc, 'msr(IA32_PAT)'), (pat & ~7n) | 6n);
    await refusedField(dc, 'MSRs', ['IA32_PAT', 'PA0'], '2', /IA32_PAT = 0x[0-9a-f]+ is refused: PA0 holds 0x2, which is not a memory type/);
    await refusedField(dc, 'MSRs', ['IA32_PAT', 'PA0'], '8', /PA0 is 3 bits wide: 8 does not fit/);
    await assert.rejects(dc.setVariableRequest({ variablesReference: await containerOf(dc, 'MSRs', ['IA32_PAT', 'PA0']), name: 'PA9', value: '1' }),
      /IA32_PAT has no field named 'PA9'/);

    // the guest runs on with the new controls: its RDTSC now exits
    await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal((await dc.exceptionInfoRequest({ threadId: 1 })).body.exceptionId, 'RDTSC');
    assert.equal(await evaluate(dc, 'exit.rip'), g.symbols.get('timed'));
  } finally {
    await stopAdapter(dc);
  }
});

test('cr0 > WP = 1: a supervisor write to a read-only page faults instead of going through', T, async () => {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-bitfields-'));
  const g = buildTestGuest(dir, 'wp', READ_ONLY_WRITE);
  const run = async (setWp: boolean): Promise<DebugProtocol.StoppedEvent | DebugProtocol.ExitedEvent> => {
    const dc = await startAdapter();
    try {
      await launchAndStop(dc, { program: g.elf }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'ro_write' }] }));
      // boot.inc leaves CR0.WP clear: CPL-0 writes ignore the R/W bit (SDM Vol. 3A, 4.6.1)
      assert.equal(await fieldValue(dc, 'Segments & control', ['cr0', 'WP']), 0n);
      if (setWp) assert.equal((await setField(dc, 'Segments & control', ['cr0', 'WP'], '1')).value, '0x1');
      await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
      const ended = Promise.race([dc.waitForEvent('exited'), dc.waitForEvent('stopped')]) as Promise<DebugProtocol.StoppedEvent | DebugProtocol.ExitedEvent>;
      await dc.continueRequest({ threadId: 1 });
      return await ended;
    } finally {
      await stopAdapter(dc);
    }
  };
  const plain = await run(false);
  assert.equal(plain.event, 'exited');
  assert.equal((plain as DebugProtocol.ExitedEvent).body.exitCode, 0, 'the write went through and main returned 0');
  // with WP = 1 the write is a page fault; the guest has no IDT, so it ends in a triple fault
  const faulted = await run(true);
  assert.equal(faulted.event, 'stopped');
  assert.match((faulted as DebugProtocol.StoppedEvent).body.description ?? '', /triple fault/);
});
