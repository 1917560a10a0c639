// The debug adapter through the protocol, as a separate process, on the committed hello sample.
// Addresses come from nm and objdump, source lines from the DWARF line table as objdump decodes
// it and from searching the source text; register values from what the guest's instructions
// must have left (the constants as nm reads them from the ELF).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { assembleGuest } from '../support/guest-asm';
import { gnuToolsAvailable, readelfEntry, run } from '../support/gnu-tools';
import { normalize, objdump, parseObjdump } from '../support/objdump';
import {
  disconnectAndExit, elfBytes, findInstruction, findSourceLine, HELLO, helloListing64, instructionAt, instructionPointer, launchAndStop, registers,
  resumeAndStop, ROOT, scopeVariables, startAdapter, stopAdapter, symbol,
} from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 30_000 };

/** The quadword at the top of the guest's stack, read through readMemory. */
async function stackTop(dc: Awaited<ReturnType<typeof startAdapter>>, rsp: bigint): Promise<bigint> {
  const r = await dc.send('readMemory', { memoryReference: `0x${rsp.toString(16)}`, count: 8 }) as DebugProtocol.ReadMemoryResponse;
  return Buffer.from(r.body?.data ?? '', 'base64').readBigUInt64LE(0);
}

test('initialize announces one exception filter per producible exit reason, plus any VM exit', T, async () => {
  const dc = await startAdapter();
  try {
    const init = await dc.initializeRequest();
    const filters = init.body?.exceptionBreakpointFilters ?? [];
    const ids = filters.map((f) => f.filter);
    for (const name of ['IO_INSTRUCTION', 'CPUID', 'CR_ACCESS', 'MSR_READ', 'MSR_WRITE', 'EPT_VIOLATION', 'HLT', 'VMCALL']) assert.ok(ids.includes(name), name);
    assert.ok(ids.includes('ANY_VM_EXIT'));
    assert.equal(new Set(ids).size, ids.length, 'filter ids are unique');
    assert.equal(init.body?.supportsInstructionBreakpoints, true);
    assert.equal(init.body?.supportsDisassembleRequest, true);
  } finally {
    await stopAdapter(dc);
  }
});

test('launch with stopOnEntry stops at the ELF entry in real mode', T, async () => {
  const dc = await startAdapter();
  try {
    const ev = await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    assert.equal(ev.body.reason, 'entry');
    const entry = readelfEntry(HELLO);
    assert.equal(await instructionPointer(dc), entry);
    const frame = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    assert.equal(frame.name, '_start');
    // the entry's line is the first row of the line table at that address
    const first = findSourceLine(/^\s*cli\b/);
    assert.ok(first.addresses.includes(entry));
    assert.equal(frame.line, first.line);
    assert.equal(frame.source?.path, first.file);
    const seg = await scopeVariables(dc, 'Segments & control');
    // real mode as x86_vcpu starts a guest: CS = 0 (0000:entry), CR0.PE = 0
    assert.match(seg.get('cs')?.value ?? '', /^0x0 \(base 0x0,/);
    assert.equal(BigInt(seg.get('cr0')?.value ?? 'x') & 1n, 0n);
    const regs = await registers(dc);
    assert.equal(regs.get('rip'), entry);
    assert.equal(regs.get('rflags'), 2n, 'RFLAGS at reset: only the fixed bit 1');
  } finally {
    await stopAdapter(dc);
  }
});

test('exit filter IO_INSTRUCTION stops before the OUT is handled; continue handles it', T, async () => {
  const dc = await startAdapter();
  try {
    const ev = await launchAndStop(dc, { program: HELLO }, () => dc.setExceptionBreakpointsRequest({ filters: ['IO_INSTRUCTION'] }));
    assert.equal(ev.body.reason, 'exception');
    assert.match(ev.body.text ?? '', /IO_INSTRUCTION/);
    // the guest's first port access is in serial_init (long_mode calls it before anything else)
    const out1 = findInstruction(symbol('serial_init'), /^out /);
    assert.equal(await instructionPointer(dc), out1.address);
    const info = await dc.exceptionInfoRequest({ threadId: 1 });
    assert.equal(info.body.exceptionId, 'IO_INSTRUCTION');
    // decoded qualification: an OUT of AL to port DX = COM1 + 1 (IER), as serial_init writes it
    const port = symbol('COM1') + 1n;
    assert.match(info.body.details?.message ?? '', new RegExp(`\\bOUT port 0x${port.toString(16)}, 1 byte\\b`));
    const vmcsRip = await dc.evaluateRequest({ expression: 'vmcs.GUEST_RIP', context: 'watch' });
    assert.equal(BigInt(vmcsRip.body.result), out1.address);
    const last = await scopeVariables(dc, 'Last VM exit');
    assert.equal(last.get('reason')?.value, 'IO_INSTRUCTION');
    assert.equal(last.get('instruction length')?.value, String(out1.bytes.length));
    // continue: the VMM answers this OUT, and the guest stops at the next one (LCR = COM1 + 3)
    const ev2 = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal(ev2.body.reason, 'exception');
    const out2 = findInstruction(out1.address + 1n, /^out /);
    assert.equal(await instructionPointer(dc), out2.address);
    assert.equal((await registers(dc)).get('rdx'), symbol('COM1') + 3n);
  } finally {
    await stopAdapter(dc);
  }
});

test('setVariable on rip moves the guest: invalidated event, new frame, and the guest runs on from there', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_putc' }] }));
    const sc = await dc.scopesRequest({ frameId: 1 });
    const ref = sc.body.scopes.find((s) => s.name === 'Registers')!.variablesReference;
    // skip the wait for the transmitter: go straight to `mov al, ah`, the instruction after the poll loop
    const target = findInstruction(symbol('serial_putc'), /^mov al,ah$/);
    const invalidated = dc.waitForEvent('invalidated');
    await dc.setVariableRequest({ variablesReference: ref, name: 'rip', value: `0x${target.address.toString(16)}` });
    assert.deepEqual((await invalidated).body.areas, ['stacks', 'variables']);
    assert.equal(await instructionPointer(dc), target.address);
    await resumeAndStop(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }));
    assert.equal(await instructionPointer(dc), target.address + BigInt(target.bytes.length));
  } finally {
    await stopAdapter(dc);
  }
});

test('the any-VM-exit filter stops at each exit in turn, CPUID before the vCPU answers it', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-dap-'));
  const dc = await startAdapter();
  try {
    const bytes = assembleGuest(['.code16', 'mov eax, 0x40000000', 'cpuid', 'hlt'], 0x8000);
    const listing = objdump(bytes, 16, 0x8000n);
    const bin = path.join(dir, 'cpuid.bin');
    fs.writeFileSync(bin, bytes);
    const ev = await launchAndStop(dc, { program: bin, loadAddress: 0x8000 }, async () => {
      const r = await dc.setExceptionBreakpointsRequest({ filters: ['ANY_VM_EXIT', 'NO_SUCH_EXIT'] });
      assert.deepEqual(r.body?.breakpoints?.map((b) => b.verified), [true, false]);
    });
    assert.equal(ev.body.reason, 'exception');
    const cpuid = listing.find((e) => e.text === 'cpuid')!;
    assert.equal(await instructionPointer(dc), cpuid.address);
    assert.equal((await dc.exceptionInfoRequest({ threadId: 1 })).body.exceptionId, 'CPUID');
    assert.equal((await registers(dc)).get('rax'), 0x40000000n, 'not answered yet: EAX is still the leaf');
    await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    const hlt = listing.find((e) => e.text === 'hlt')!;
    assert.equal((await dc.exceptionInfoRequest({ threadId: 1 })).body.exceptionId, 'HLT');
    assert.equal(await instructionPointer(dc), hlt.address);
    // answered on the way: CPUID 40000000H gives the hypervisor's signature, "vmx-" in EBX
    assert.equal((await registers(dc)).get('rbx'), BigInt(Buffer.from('vmx-', 'latin1').readUInt32LE(0)));
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('instruction breakpoint at serial_puts: RSI holds the message, the stack\'s top the return address', T, async () => {
  const dc = await startAdapter();
  try {
    const at = symbol('serial_puts');
    const ev = await launchAndStop(dc, { program: HELLO }, async () => {
      const args: DebugProtocol.SetInstructionBreakpointsArguments = { breakpoints: [{ instructionReference: `0x${at.toString(16)}` }] };
      const r = await dc.send('setInstructionBreakpoints', args) as DebugProtocol.SetInstructionBreakpointsResponse;
      assert.equal(r.body.breakpoints[0].verified, true);
    });
    assert.equal(ev.body.reason, 'instruction breakpoint');
    assert.equal(await instructionPointer(dc), at);
    const regs = await registers(dc);
    // long_mode: mov rsp, offset _start; call serial_init (returned); lea rsi, [rip + message]; call serial_puts
    assert.equal(regs.get('rsi'), symbol('message'));
    // the stack grows down from _start, and its top is the return address of the call that got here
    const call = findInstruction(symbol('long_mode'), /^call .*<serial_puts>$/);
    assert.ok(regs.get('rsp')! < symbol('_start'));
    assert.equal(await stackTop(dc, regs.get('rsp')!), call.address + BigInt(call.bytes.length));
    assert.equal(regs.get('rip'), at);
  } finally {
    await stopAdapter(dc);
  }
});

test('function breakpoint by name stops at the symbol with the first character in AL', T, async () => {
  const dc = await startAdapter();
  try {
    const ev = await launchAndStop(dc, { program: HELLO }, async () => {
      const r = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_putc' }, { name: 'no_such_function' }] });
      assert.equal(r.body.breakpoints[0].verified, true);
      assert.equal(r.body.breakpoints[1].verified, false);
      assert.match(r.body.breakpoints[1].message ?? '', /no_such_function/);
    });
    assert.equal(ev.body.reason, 'function breakpoint');
    assert.equal(await instructionPointer(dc), symbol('serial_putc'));
    // serial_puts loads AL from [rsi] = the message's first byte, read from the ELF by objdump -s
    assert.equal((await registers(dc)).get('rax')! & 0xffn, BigInt(elfBytes(symbol('message'), 1)[0]));
    const frame = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    assert.equal(frame.name, 'serial_putc');
  } finally {
    await stopAdapter(dc);
  }
});

test('source breakpoint on a line of hello.S stops at the address the line table gives', T, async () => {
  const dc = await startAdapter();
  try {
    const where = findSourceLine(/^\s*mov\s+ah\s*,\s*al\s*$/);
    assert.equal(where.addresses.length, 1);
    const ev = await launchAndStop(dc, { program: HELLO }, async () => {
      const r = await dc.setBreakpointsRequest({ source: { path: where.file }, breakpoints: [{ line: where.line }] });
      assert.equal(r.body.breakpoints[0].verified, true);
      assert.equal(r.body.breakpoints[0].line, where.line);
    });
    assert.equal(ev.body.reason, 'breakpoint');
    assert.equal(await instructionPointer(dc), where.addresses[0]);
    const frame = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    assert.equal(frame.line, where.line);
    assert.equal(frame.source?.path, where.file);
  } finally {
    await stopAdapter(dc);
  }
});

test('instruction steps advance RIP by each instruction\'s length, also across the IN exit', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_putc' }] }));
    let rip = symbol('serial_putc');
    assert.equal(await instructionPointer(dc), rip);
    // mov ah, al; mov dx, COM1 + 5; in al, dx (a VM exit the VMM answers); test al, THRE
    for (let k = 0; k < 4; k++) {
      const insn = instructionAt(rip);
      const ev = await resumeAndStop(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }));
      assert.equal(ev.body.reason, 'step');
      rip += BigInt(insn.bytes.length);
      assert.equal(await instructionPointer(dc), rip, `after ${insn.text}`);
      if (/^in /.test(normalize(insn.text))) {
        // the LSR the guest polls says the transmitter is empty, so its loop ends
        assert.notEqual((await registers(dc)).get('rax')! & symbol('UART_LSR_THRE'), 0n);
      }
    }
    assert.equal((await registers(dc)).get('rdx')! & 0xffffn, symbol('COM1') + 5n);
  } finally {
    await stopAdapter(dc);
  }
});

test('steps by source line: next runs a call to its return, stepIn enters it', T, async () => {
  const dc = await startAdapter();
  try {
    let text = '';
    dc.on('output', (e: DebugProtocol.OutputEvent) => { if (e.body.category === 'stdout') text += e.body.output; });
    const call = findSourceLine(/^\s*call\s+serial_putc\s*$/);
    const after = findSourceLine(/^\s*inc\s+rsi\s*$/);
    await launchAndStop(dc, { program: HELLO }, () => dc.setBreakpointsRequest({ source: { path: call.file }, breakpoints: [{ line: call.line }] }));
    assert.equal(await instructionPointer(dc), call.addresses[0]);
    const ev = await resumeAndStop(dc, () => dc.nextRequest({ threadId: 1 }));
    assert.equal(ev.body.reason, 'step');
    assert.equal(await instructionPointer(dc), after.addresses[0]);
    const frame = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    assert.equal(frame.line, after.line);
    // serial_putc ran: the message's first character went out on COM1
    assert.equal(text, String.fromCharCode(elfBytes(symbol('message'), 1)[0]));
    // the next character: back at the call, and this time step into it
    await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal(await instructionPointer(dc), call.addresses[0]);
    const ev2 = await resumeAndStop(dc, () => dc.stepInRequest({ threadId: 1 }));
    assert.equal(ev2.body.reason, 'step');
    assert.equal(await instructionPointer(dc), symbol('serial_putc'));
    const putc = findInstruction(symbol('serial_puts'), /^call .*<serial_putc>$/);
    assert.equal(await stackTop(dc, (await registers(dc)).get('rsp')!), putc.address + BigInt(putc.bytes.length), 'returns after the call');
  } finally {
    await stopAdapter(dc);
  }
});

test('stepOut runs serial_putc to its return: the character is sent, RIP after the call', T, async () => {
  const dc = await startAdapter();
  try {
    let text = '';
    dc.on('output', (e: DebugProtocol.OutputEvent) => { if (e.body.category === 'stdout') text += e.body.output; });
    await launchAndStop(dc, { program: HELLO }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_putc' }] }));
    const ev = await resumeAndStop(dc, () => dc.stepOutRequest({ threadId: 1 }));
    assert.equal(ev.body.reason, 'step');
    const call = findInstruction(symbol('serial_puts'), /^call .*<serial_putc>$/);
    assert.equal(await instructionPointer(dc), call.address + BigInt(call.bytes.length));
    assert.equal(text, String.fromCharCode(elfBytes(symbol('message'), 1)[0]));
    // a breakpoint on the way out stops it there
    await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_putc' }] });
    await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    const out = findInstruction(symbol('serial_putc'), /^out /);
    const args: DebugProtocol.SetInstructionBreakpointsArguments = { breakpoints: [{ instructionReference: `0x${out.address.toString(16)}` }] };
    await dc.send('setInstructionBreakpoints', args);
    const ev2 = await resumeAndStop(dc, () => dc.stepOutRequest({ threadId: 1 }));
    assert.equal(ev2.body.reason, 'instruction breakpoint');
    assert.equal(await instructionPointer(dc), out.address);
  } finally {
    await stopAdapter(dc);
  }
});

test('MSRs scope and msr(NAME): EFER in long mode, from the processor and from the VMCS after an exit', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_init' }] }));
    // boot code: rdmsr; or eax, EFER_LME; wrmsr; then CR0.PG makes the processor set LMA (SDM Vol. 3A, 10.8.5)
    const lme = symbol('EFER_LME'), lma = 1n << 10n;
    const efer = async (): Promise<bigint> => {
      const msrs = await scopeVariables(dc, 'MSRs');
      const group = await dc.variablesRequest({ variablesReference: msrs.get('Processor control')!.variablesReference });
      const v = group.body.variables.find((x) => x.name === 'IA32_EFER')!;
      const fields = new Map((await dc.variablesRequest({ variablesReference: v.variablesReference })).body.variables.map((f) => [f.name, f.value]));
      assert.equal(fields.get('LME'), '0x1');
      assert.equal(fields.get('LMA'), '0x1');
      assert.equal(BigInt((await dc.evaluateRequest({ expression: 'msr(IA32_EFER)', context: 'watch' })).body.result), BigInt(v.value));
      return BigInt(v.value);
    };
    const onProcessor = await efer();
    assert.equal(onProcessor & (lme | lma), lme | lma);
    await dc.setExceptionBreakpointsRequest({ filters: ['IO_INSTRUCTION'] });
    await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    // after the exit the guest's EFER is read from the VMCS: the guest has not changed it
    assert.equal(await efer(), onProcessor);
    await assert.rejects(dc.evaluateRequest({ expression: 'msr(NO_SUCH_MSR)', context: 'watch' }), /NO_SUCH_MSR/);
  } finally {
    await stopAdapter(dc);
  }
});

test('registers after mov ax, SEL_DATA in 32-bit protected mode', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'protected_mode' }] }));
    assert.equal(await instructionPointer(dc), symbol('protected_mode'));
    const before = await registers(dc);
    await resumeAndStop(dc, () => dc.stepInRequest({ threadId: 1, granularity: 'instruction' }));
    const after = await registers(dc);
    assert.equal(after.get('rax')! & 0xffffn, symbol('SEL_DATA'));
    assert.equal(after.get('rax')! >> 16n, before.get('rax')! >> 16n, 'a 16-bit move leaves the rest of RAX');
    const seg = await scopeVariables(dc, 'Segments & control');
    assert.match(seg.get('cs')?.value ?? '', new RegExp(`^0x${symbol('SEL_CODE32').toString(16)} `));
    assert.equal(BigInt(seg.get('cr0')?.value ?? 'x') & 1n, 1n, 'CR0.PE');
    // _start loaded the GDT with lgdt [gdt_ptr]: base gdt, limit gdt_end - gdt - 1
    assert.equal(seg.get('gdtr')?.value, `base 0x${symbol('gdt').toString(16)}, limit 0x${(symbol('gdt_end') - symbol('gdt') - 1n).toString(16)}`);
  } finally {
    await stopAdapter(dc);
  }
});

test('disassemble around serial_puts equals objdump -d -M intel, backwards too', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_puts' }] }));
    const at = symbol('serial_puts');
    const listing = helloListing64();
    const k = listing.findIndex((e) => e.address === at);
    const r = await dc.disassembleRequest({ memoryReference: `0x${at.toString(16)}`, instructionOffset: -4, instructionCount: 12 });
    const got = r.body?.instructions ?? [];
    assert.equal(got.length, 12);
    listing.slice(k - 4, k + 8).forEach((e, i) => {
      assert.equal(BigInt(got[i].address), e.address);
      assert.equal(normalize(got[i].instruction), normalize(e.text), `at 0x${e.address.toString(16)}`);
      assert.equal(got[i].instructionBytes, e.bytes.map((b) => b.toString(16).padStart(2, '0')).join(' '));
    });
  } finally {
    await stopAdapter(dc);
  }
});

test('disassemble at the entry decodes 16-bit real-mode code, as objdump -m i8086 does', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    const entry = readelfEntry(HELLO);
    const listing = parseObjdump(run('objdump', ['-d', '-m', 'i8086', '-M', 'intel', '-w', '--start-address', `0x${entry.toString(16)}`,
      '--stop-address', `0x${symbol('protected_mode').toString(16)}`, HELLO]));
    assert.ok(listing.length >= 6);
    const r = await dc.disassembleRequest({ memoryReference: `0x${entry.toString(16)}`, instructionCount: 6 });
    const got = r.body?.instructions ?? [];
    listing.slice(0, 6).forEach((e, i) => {
      assert.equal(BigInt(got[i].address), e.address);
      assert.equal(normalize(got[i].instruction), normalize(e.text), `at 0x${e.address.toString(16)}`);
    });
  } finally {
    await stopAdapter(dc);
  }
});

test('setVariable on a register is what the guest then has; evaluate and readMemory', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_puts' }] }));
    const sc = await dc.scopesRequest({ frameId: 1 });
    const ref = sc.body.scopes.find((s) => s.name === 'Registers')!.variablesReference;
    // point RSI one byte further: serial_puts then loads the message's second byte into AL
    const msg = symbol('message') + 1n;
    const set = await dc.setVariableRequest({ variablesReference: ref, name: 'rsi', value: `0x${msg.toString(16)}` });
    assert.equal(BigInt(set.body.value), msg);
    await resumeAndStop(dc, () => dc.nextRequest({ threadId: 1, granularity: 'instruction' }));
    const al = await dc.evaluateRequest({ expression: 'al', context: 'watch' });
    assert.equal(BigInt(al.body.result), BigInt(elfBytes(msg, 1)[0]));
    const rsi = await dc.evaluateRequest({ expression: 'rsi', context: 'hover' });
    assert.equal(BigInt(rsi.body.result), msg);
    await assert.rejects(dc.evaluateRequest({ expression: 'nonsense', context: 'watch' }), /cannot evaluate 'nonsense'/);
    // readMemory at the register's address: the message bytes as the ELF holds them
    const mem = await dc.send('readMemory', { memoryReference: rsi.body.result, count: 8 }) as DebugProtocol.ReadMemoryResponse;
    assert.deepEqual([...Buffer.from(mem.body?.data ?? '', 'base64')], elfBytes(msg, 8));
    assert.equal(mem.body?.unreadableBytes, 0);
    // beyond the 2 MiB the guest maps, nothing can be read
    const far = await dc.send('readMemory', { memoryReference: '0x1ffffc', count: 8 }) as DebugProtocol.ReadMemoryResponse;
    assert.equal(Buffer.from(far.body?.data ?? '', 'base64').length, 4);
    assert.equal(far.body?.unreadableBytes, 4);
    await assert.rejects(dc.evaluateRequest({ expression: 'vmcs.NO_SUCH_FIELD', context: 'watch' }), /NO_SUCH_FIELD/);
    const vmcs = await scopeVariables(dc, 'VMCS');
    assert.deepEqual(['Guest state', 'Host state', 'Controls', 'Exit information'].filter((g) => vmcs.has(g)).length, 4);
    // controls with their named bits: the VMM intercepts HLT and every port through the I/O
    // bitmaps (SDM Table 25-6: HLT exiting is bit 7, use I/O bitmaps bit 25)
    const controls = await dc.variablesRequest({ variablesReference: vmcs.get('Controls')!.variablesReference });
    const primary = controls.body.variables.find((v) => v.name === 'CPU_BASED_VM_EXEC_CONTROL')!;
    const raw = BigInt(/^0x[0-9a-f]+/.exec(primary.value)![0]);
    assert.equal((raw >> 7n) & 1n, 1n);
    assert.equal((raw >> 25n) & 1n, 1n);
    const bits = new Map((await dc.variablesRequest({ variablesReference: primary.variablesReference })).body.variables.map((v) => [v.name, v.value]));
    assert.equal(bits.get('HLT exiting'), '0x1');
    assert.equal(bits.get('use I/O bitmaps'), '0x1');
    assert.equal(bits.get('unconditional I/O exiting'), `0x${((raw >> 24n) & 1n).toString(16)}`);
    const whole = await dc.evaluateRequest({ expression: 'vmcs.CPU_BASED_VM_EXEC_CONTROL', context: 'watch' });
    assert.equal(BigInt(whole.body.result), raw);
  } finally {
    await stopAdapter(dc);
  }
});

test('pause stops a guest in an endless loop at once, and the adapter answers while it runs', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-dap-'));
  const dc = await startAdapter();
  try {
    const bin = path.join(dir, 'loop.bin');
    fs.writeFileSync(bin, assembleGuest(['.code16', 'spin: jmp spin'], 0x8000));
    await dc.initializeRequest();
    const initialized = dc.waitForEvent('initialized');
    await dc.launchRequest({ program: bin, loadAddress: '0x8000' } as DebugProtocol.LaunchRequestArguments);
    await initialized;
    await dc.configurationDoneRequest();
    await new Promise((r) => setTimeout(r, 300));
    const threads = await dc.threadsRequest();
    assert.equal(threads.body.threads.length, 1);
    const ev = await resumeAndStop(dc, () => dc.pauseRequest({ threadId: 1 }));
    assert.equal(ev.body.reason, 'pause');
    assert.equal(await instructionPointer(dc), 0x8000n);
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bad launch attributes are errors naming the attribute, and the adapter lives on', T, async () => {
  const dc = await startAdapter();
  try {
    await dc.initializeRequest();
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{}, /'program'.*missing/],
      [{ program: path.join(os.tmpdir(), 'no-such-guest.elf') }, /'program'.*no such file/],
      [{ program: HELLO, breakOnExits: ['IO_INSTRUCTION', 'NOT_AN_EXIT'] }, /'breakOnExits'.*NOT_AN_EXIT/],
      [{ program: HELLO, mode: 'bogus' }, /'mode'.*bogus/],
      [{ program: HELLO, memoryMB: 0 }, /'memoryMB'/],
      [{ program: HELLO, entry: 'here' }, /'entry'/],
      [{ program: HELLO.replace(/\.elf$/, '.bin') }, /'loadAddress'.*not an ELF file/],
      [{ program: HELLO, memoryMB: 1024 * 1024 }, /'memoryMB'/],
      [{ program: HELLO, stopOnEntry: 'yes' }, /'stopOnEntry'/],
    ];
    for (const [args, message] of bad) {
      await assert.rejects(dc.launchRequest(args as DebugProtocol.LaunchRequestArguments), message);
      const threads = await dc.threadsRequest();
      assert.equal(threads.body.threads.length, 1, 'the adapter still answers');
    }
    // and a good launch still works
    const stopped = dc.waitForEvent('stopped');
    await dc.launchRequest({ program: HELLO, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments);
    await dc.configurationDoneRequest();
    assert.equal((await stopped).body.reason, 'entry');
  } finally {
    await stopAdapter(dc);
  }
});

test('malformed and untimely requests are answered with errors, and the adapter lives on', T, async () => {
  const dc = await startAdapter();
  try {
    await dc.initializeRequest();
    await assert.rejects(dc.stackTraceRequest({ threadId: 1 }), /no guest/);
    await assert.rejects(dc.continueRequest({ threadId: 1 }), /no guest/);
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    await assert.rejects(dc.launchRequest({ program: HELLO } as DebugProtocol.LaunchRequestArguments), /already launched/);
    await assert.rejects(dc.disassembleRequest({ memoryReference: 'zzz', instructionCount: 4 }), /'zzz' is not an address/);
    await assert.rejects(dc.variablesRequest({ variablesReference: 987654 }), /no variables with reference 987654/);
    await assert.rejects(dc.pauseRequest({ threadId: 1 }), /not running/);
    await assert.rejects(dc.exceptionInfoRequest({ threadId: 1 }), /did not stop at a VM exit/);
    const sc = await dc.scopesRequest({ frameId: 1 });
    const regs = sc.body.scopes.find((x) => x.name === 'Registers')!.variablesReference;
    const vmcs = sc.body.scopes.find((x) => x.name === 'VMCS')!.variablesReference;
    await assert.rejects(dc.setVariableRequest({ variablesReference: regs, name: 'rax', value: 'forty' }), /'forty' is not a value: column 1: unknown name 'forty'/);
    await assert.rejects(dc.setVariableRequest({ variablesReference: regs, name: 'rax', value: '0x10000000000000000' }), /not a number|64 bits/);
    await assert.rejects(dc.setVariableRequest({ variablesReference: vmcs, name: 'Guest state', value: '1' }), /'Guest state' in VMCS cannot be changed/);
    await assert.rejects(dc.send('noSuchRequest', {}), /unrecognized request/);
    const frame = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    assert.equal(BigInt(frame.instructionPointerReference ?? 'x'), readelfEntry(HELLO));
  } finally {
    await stopAdapter(dc);
  }
});

test('thousands of scope and variable requests at one stop reuse the same references (nothing grows)', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_puts' }] }));
    const walk = async (): Promise<number[]> => {
      const refs: number[] = [];
      const scopes = await dc.scopesRequest({ frameId: 1 });
      for (const s of scopes.body.scopes) {
        refs.push(s.variablesReference);
        for (const v of (await dc.variablesRequest({ variablesReference: s.variablesReference })).body.variables) {
          if (v.variablesReference > 0) {
            refs.push(v.variablesReference);
            await dc.variablesRequest({ variablesReference: v.variablesReference });
          }
        }
      }
      return refs;
    };
    const first = await walk();
    for (let k = 0; k < 300; k++) assert.deepEqual(await walk(), first);
    // a register change recomputes the values under the same scopes
    const regs = (await dc.scopesRequest({ frameId: 1 })).body.scopes.find((s) => s.name === 'Registers')!;
    await dc.setVariableRequest({ variablesReference: regs.variablesReference, name: 'rbx', value: '0x1234' });
    assert.equal((await registers(dc)).get('rbx'), 0x1234n);
    const after = await walk();
    assert.deepEqual(after.slice(0, 1), first.slice(0, 1));
    assert.ok(Math.max(...after) <= Math.max(...first), 'references do not grow');
  } finally {
    await stopAdapter(dc);
  }
});

test('every launch attribute package.json declares is checked by the adapter', T, async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    contributes: { debuggers: Array<{ type: string; program: string; configurationAttributes: { launch: { properties: Record<string, unknown> } } }> };
  };
  const dbg = pkg.contributes.debuggers.find((d) => d.type === 'vmx');
  assert.ok(dbg !== undefined);
  // the manifest names the bundle npm run package makes of debug-adapter/main.ts, which ADAPTER is compiled from
  assert.equal(dbg.program, './dist/adapter.js');
  const dc = await startAdapter();
  try {
    await dc.initializeRequest();
    for (const name of Object.keys(dbg.configurationAttributes.launch.properties)) {
      // an object is the wrong type for every attribute
      const args = { program: HELLO, [name]: { wrong: true } };
      await assert.rejects(dc.launchRequest(args as DebugProtocol.LaunchRequestArguments), new RegExp(`'${name}'`), name);
    }
  } finally {
    await stopAdapter(dc);
  }
});

test('the guest runs to power-off: COM1 output as output events, exited and terminated', T, async () => {
  const dc = await startAdapter();
  try {
    let text = '';
    dc.on('output', (e: DebugProtocol.OutputEvent) => { if (e.body.category === 'stdout') text += e.body.output; });
    const exited = dc.waitForEvent('exited');
    const terminated = dc.waitForEvent('terminated');
    await dc.initializeRequest();
    await dc.launchRequest({ program: HELLO } as DebugProtocol.LaunchRequestArguments);
    await dc.configurationDoneRequest();
    assert.equal((await exited).body.exitCode, 0);
    await terminated;
    // the string the guest prints, as the ELF holds it
    const bytes = elfBytes(symbol('message'), 128);
    const expected = Buffer.from(bytes.slice(0, bytes.indexOf(0))).toString('latin1');
    assert.ok(expected.length > 0);
    assert.equal(text, expected);
  } finally {
    await stopAdapter(dc);
  }
});

test('breakpoints hold across a restart: the fresh guest stops at them again', T, async () => {
  const dc = await startAdapter();
  try {
    const line = findSourceLine(/^\s*mov\s+ah\s*,\s*al\s*$/);
    await launchAndStop(dc, { program: HELLO }, async () => {
      await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_init' }] });
      await dc.setBreakpointsRequest({ source: { path: line.file }, breakpoints: [{ line: line.line }] });
    });
    assert.equal(await instructionPointer(dc), symbol('serial_init'));
    const again = dc.waitForEvent('stopped');
    await dc.send('restart', { arguments: { program: HELLO } });
    assert.equal((await again).body.reason, 'function breakpoint');
    assert.equal(await instructionPointer(dc), symbol('serial_init'));
    const ev = await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal(ev.body.reason, 'breakpoint');
    assert.equal(await instructionPointer(dc), line.addresses[0]);
  } finally {
    await stopAdapter(dc);
  }
});

test('terminate and restart leave the adapter answering; disconnect ends its process', T, async () => {
  const dc = await startAdapter();
  try {
    await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    const stopped = dc.waitForEvent('stopped');
    await dc.send('restart', { arguments: { program: HELLO, stopOnEntry: true } });
    assert.equal((await stopped).body.reason, 'entry');
    assert.equal(await instructionPointer(dc), readelfEntry(HELLO));
    const terminated = dc.waitForEvent('terminated');
    await dc.terminateRequest();
    await terminated;
    await assert.rejects(dc.stackTraceRequest({ threadId: 1 }), /no guest/);
    assert.equal(await disconnectAndExit(dc), 0);
  } finally {
    await stopAdapter(dc);
  }
});
