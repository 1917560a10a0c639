// Conditions through the protocol, against the adapter process on the committed hello and
// exit-tour samples:
// exit filters with conditions over the decoded exit (supportsExceptionFilterOptions), and
// conditions, hit counts and logpoints on breakpoints. Ports and addresses from nm and objdump,
// the characters the guest sends from the ELF's bytes (objdump -s).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { gnuToolsAvailable, nmSymbols, run } from '../support/gnu-tools';
import { assembleGuest } from '../support/guest-asm';
import { normalize, objdump, parseObjdump } from '../support/objdump';
import {
  elfBytes, findInstruction, findSourceLine, HELLO, instructionPointer, launchAndStop, registers, resumeAndStop, ROOT, startAdapter, stopAdapter, symbol,
} from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 30_000 };

/** The message hello prints, as the ELF holds it (up to its terminating 0). */
function message(): number[] {
  const bytes = elfBytes(symbol('message'), 64);
  return bytes.slice(0, bytes.indexOf(0));
}

async function evaluate(dc: Awaited<ReturnType<typeof startAdapter>>, expression: string): Promise<bigint> {
  return BigInt((await dc.evaluateRequest({ expression, context: 'watch' })).body.result);
}

test('initialize offers conditions on every exit filter, and conditional, hit-count and log breakpoints', T, async () => {
  const dc = await startAdapter();
  try {
    const init = await dc.initializeRequest();
    assert.equal(init.body?.supportsExceptionFilterOptions, true);
    assert.equal(init.body?.supportsConditionalBreakpoints, true);
    assert.equal(init.body?.supportsHitConditionalBreakpoints, true);
    assert.equal(init.body?.supportsLogPoints, true);
    for (const f of init.body?.exceptionBreakpointFilters ?? []) assert.equal(f.supportsCondition, true, f.filter);
  } finally {
    await stopAdapter(dc);
  }
});

test('exit filter conditions: port and direction of the I/O exit, then the 2-byte OUT that powers off', T, async () => {
  const dc = await startAdapter();
  try {
    const com1 = symbol('COM1');
    const mcr = com1 + 4n, lsr = com1 + 5n;
    const ev = await launchAndStop(dc, { program: HELLO }, async () => {
      const r = await dc.setExceptionBreakpointsRequest({
        filters: [],
        filterOptions: [
          { filterId: 'IO_INSTRUCTION', condition: `port == ${mcr} && !in` },
          { filterId: 'CPUID', condition: 'eax ==' },
        ],
      });
      assert.equal(r.body?.breakpoints?.[0].verified, true);
      assert.equal(r.body?.breakpoints?.[1].verified, false);
      assert.match(r.body?.breakpoints?.[1].message ?? '', /CPUID: condition: column 7: the expression ends where a value is expected/);
    });
    assert.equal(ev.body.reason, 'exception');
    // the OUT after `mov dx, COM1 + 4` in serial_init: the six earlier OUTs went by without a stop
    const movMcr = findInstruction(symbol('serial_init'), new RegExp(`^mov dx,0x${mcr.toString(16)}$`));
    const out = findInstruction(movMcr.address, /^out dx,al$/);
    assert.equal(await instructionPointer(dc), out.address);
    assert.equal((await registers(dc)).get('rdx')! & 0xffffn, mcr);
    assert.equal(await evaluate(dc, 'port'), mcr);
    assert.equal(await evaluate(dc, 'in'), 0n);
    // now the IN from the line status register, and nothing else
    await dc.setExceptionBreakpointsRequest({ filters: [], filterOptions: [{ filterId: 'IO_INSTRUCTION', condition: `port == ${lsr} && in` }] });
    await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    const inLsr = findInstruction(symbol('serial_putc'), /^in al,dx$/);
    assert.equal(await instructionPointer(dc), inLsr.address);
    assert.equal(await evaluate(dc, 'in && size == 1'), 1n);
    // any VM exit, but only a 2-byte I/O access: power_off's `out dx, ax` to PM1a_CNT
    await dc.setExceptionBreakpointsRequest({ filters: [], filterOptions: [{ filterId: 'ANY_VM_EXIT', condition: 'exit.reason == 30 && size == 2' }] });
    await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal(await instructionPointer(dc), findInstruction(symbol('power_off'), /^out dx,ax$/).address);
    assert.equal(await evaluate(dc, 'dx'), symbol('PM1A_CNT'));
    assert.equal((await dc.exceptionInfoRequest({ threadId: 1 })).body.exceptionId, 'IO_INSTRUCTION');
  } finally {
    await stopAdapter(dc);
  }
});

test('a hit count stops at the Nth hit whose condition holds', T, async () => {
  const dc = await startAdapter();
  try {
    const text = message();
    const o = 'o'.charCodeAt(0);
    const second = text.indexOf(o, text.indexOf(o) + 1);
    assert.ok(second > 0, 'the message has two o');
    await launchAndStop(dc, { program: HELLO }, async () => {
      const r = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_putc', condition: `al == ${o}`, hitCondition: '2' }] });
      assert.equal(r.body.breakpoints[0].verified, true);
    });
    // serial_puts calls serial_putc with RSI at the character it sends
    assert.equal(await instructionPointer(dc), symbol('serial_putc'));
    assert.equal(await evaluate(dc, 'al'), BigInt(o));
    assert.equal(await evaluate(dc, `rsi - ${symbol('message')}`), BigInt(second));
    // the guest's symbols are names too (hover over a label)
    assert.equal(await evaluate(dc, 'rsi - message'), BigInt(second));
    assert.equal(await evaluate(dc, 'byte [message + 1]'), BigInt(text[1]));
    // `% 3` stops at every third character from here on (the count goes on from the first hit)
    await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_putc', hitCondition: '% 3' }] });
    await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    const first = Number(await evaluate(dc, `rsi - ${symbol('message')}`));
    assert.equal(first, second + 3, 'the new breakpoint counts from its own first hit: the 3rd call after the stop');
    await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal(await evaluate(dc, `rsi - ${symbol('message')}`), BigInt(first + 3));
    const bad = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'serial_putc', hitCondition: 'often' }] });
    assert.equal(bad.body.breakpoints[0].verified, false);
    assert.match(bad.body.breakpoints[0].message ?? '', /hit condition 'often': expected a count/);
  } finally {
    await stopAdapter(dc);
  }
});

test('a logpoint prints each character the guest sends, with {al} interpolated, and does not stop', T, async () => {
  const dc = await startAdapter();
  try {
    const text = message();
    // serial_putc's `out dx, al` to the THR: the line after `mov dx, COM1`
    const movThr = findSourceLine(/^\s*mov dx, COM1\s*$/);
    const logs: string[] = [];
    dc.on('output', (e: DebugProtocol.OutputEvent) => { if (e.body.category === 'console' && e.body.output.startsWith('sent ')) logs.push(e.body.output); });
    const terminated = dc.waitForEvent('terminated');
    const stopped: string[] = [];
    dc.on('stopped', (e: DebugProtocol.StoppedEvent) => stopped.push(e.body.reason));
    await dc.initializeRequest();
    await dc.launchRequest({ program: HELLO } as DebugProtocol.LaunchRequestArguments);
    const r = await dc.setBreakpointsRequest({ source: { path: movThr.file }, breakpoints: [{ line: movThr.line + 1, logMessage: 'sent {al} from {{rsi}} {rsi - 0x' + symbol('message').toString(16) + '}' }] });
    assert.equal(r.body.breakpoints[0].verified, true);
    assert.equal(r.body.breakpoints[0].line, movThr.line + 1);
    await dc.configurationDoneRequest();
    await terminated;
    assert.deepEqual(stopped, []);
    assert.deepEqual(logs, text.map((c, k) => `sent 0x${c.toString(16)} from {rsi} 0x${k.toString(16)}\n`));
    const bad = await dc.setBreakpointsRequest({ source: { path: movThr.file }, breakpoints: [{ line: movThr.line + 1, logMessage: 'al is {al +}' }] });
    assert.equal(bad.body.breakpoints[0].verified, false);
    assert.match(bad.body.breakpoints[0].message ?? '', /log message: in \{…\} at column 7: column 5: the expression ends where a value is expected/);
  } finally {
    await stopAdapter(dc);
  }
});

test('a condition that cannot be evaluated stops the guest and says why', T, async () => {
  const dc = await startAdapter();
  try {
    const errors: string[] = [];
    dc.on('output', (e: DebugProtocol.OutputEvent) => { if (e.body.category === 'stderr') errors.push(e.body.output); });
    const at = symbol('serial_puts');
    const ev = await launchAndStop(dc, { program: HELLO }, async () => {
      // the last exit before serial_puts is an OUT: gpa belongs to EPT exits
      const r = await dc.send('setInstructionBreakpoints', { breakpoints: [{ instructionReference: `0x${at.toString(16)}`, condition: 'gpa == 0' }] }) as DebugProtocol.SetInstructionBreakpointsResponse;
      assert.equal(r.body.breakpoints[0].verified, true);
    });
    assert.equal(ev.body.reason, 'instruction breakpoint');
    assert.equal(await instructionPointer(dc), at);
    assert.ok(errors.some((e) => /^condition: column 1: 'gpa' \(guest-physical address\) is not a field of IO_INSTRUCTION exits/.test(e)), errors.join(''));
  } finally {
    await stopAdapter(dc);
  }
});

test('exit-tour: MSR exit filters by ECX stop only at the MSR the VMM does not know; a VMCALL filter by RAX', T, async () => {
  const dc = await startAdapter();
  try {
    const elf = path.join(ROOT, 'samples/exit-tour/exit-tour.elf');
    const nm = new Map(nmSymbols(elf).filter((s) => s.address !== undefined).map((s) => [s.name, s.address as bigint]));
    const at = (name: string): bigint => { const v = nm.get(name); assert.ok(v !== undefined, name); return v; };
    const listing = parseObjdump(run('objdump', ['-d', '-M', 'intel', '-w', '-j', '.text', elf]));
    const after = (from: bigint, pattern: RegExp) => {
      const e = listing.find((x) => x.address >= from && pattern.test(normalize(x.text)));
      assert.ok(e !== undefined, `${pattern} after 0x${from.toString(16)}`);
      return e;
    };
    const unknown = `ecx == ${hexOf(at('HV_MSR_UNKNOWN'))}`;
    await launchAndStop(dc, { program: elf }, () => dc.setExceptionBreakpointsRequest({
      filters: [], filterOptions: [{ filterId: 'MSR_READ', condition: unknown }, { filterId: 'MSR_WRITE', condition: unknown }],
    }));
    // not tour_rdmsr's read of HV_MSR_GUEST_ID, but the next RDMSR, whose #GP the tour expects
    const second = after(at('tour_rdmsr') + 1n, /^rdmsr$/);
    assert.equal(await instructionPointer(dc), second.address);
    assert.equal(await evaluate(dc, 'ecx'), at('HV_MSR_UNKNOWN'));
    assert.equal(await evaluate(dc, 'exit.reason'), 31n, 'RDMSR is basic exit reason 31 (SDM Vol. 3C, Appendix C)');
    await dc.setExceptionBreakpointsRequest({ filters: [], filterOptions: [{ filterId: 'VMCALL', condition: `rax == ${at('HC_CONSOLE_WRITE')}` }] });
    await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 }));
    assert.equal(await instructionPointer(dc), after(at('tour_vmcall') + 1n, /^vmcall$/).address);
    assert.equal((await dc.exceptionInfoRequest({ threadId: 1 })).body.exceptionId, 'VMCALL');
  } finally {
    await stopAdapter(dc);
  }
});

const hexOf = (v: bigint): string => `0x${v.toString(16)}`;

test('an EPT_VIOLATION filter with a gpa condition stops at the guest\'s read of the HPET main counter, not its capabilities', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-dap-ept-'));
  const dc = await startAdapter();
  try {
    // the HPET's registers (IA-PC HPET spec 2.3): capabilities at offset 0, main counter at 0xF0
    const hpet = 0xfed00000n;
    const bytes = assembleGuest(['.code32', `mov ebx, ${hpet}`, 'mov eax, [ebx]', 'mov ecx, [ebx + 0xf0]', 'hlt'], 0x8000);
    const listing = objdump(bytes, 32, 0x8000n);
    const bin = path.join(dir, 'hpet.bin');
    fs.writeFileSync(bin, bytes);
    await launchAndStop(dc, { program: bin, loadAddress: 0x8000, mode: 'protected' },
      () => dc.setExceptionBreakpointsRequest({ filters: [], filterOptions: [{ filterId: 'EPT_VIOLATION', condition: `gpa >= ${hpet + 0x10n} && read && !write` }] }));
    assert.equal(await instructionPointer(dc), listing[2].address);
    assert.equal(await evaluate(dc, 'gpa'), hpet + 0xf0n);
    assert.equal((await dc.exceptionInfoRequest({ threadId: 1 })).body.exceptionId, 'EPT_VIOLATION');
    assert.equal(await evaluate(dc, 'gla'), hpet + 0xf0n, 'flat segments, no paging: linear = physical');
    assert.equal(await evaluate(dc, 'exit.reason'), 48n, 'EPT violation is basic exit reason 48 (SDM Vol. 3C, Appendix C)');
    await assert.rejects(dc.evaluateRequest({ expression: 'port', context: 'watch' }), /'port' \(I\/O port \(bits 31:16\)\) is not a field of EPT_VIOLATION exits/);
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('function and instruction breakpoints take a logMessage too (beyond DAP\'s source logpoints)', T, async () => {
  const dc = await startAdapter();
  try {
    const text = message();
    const logs: string[] = [];
    dc.on('output', (e: DebugProtocol.OutputEvent) => { if (e.body.category === 'console' && /^(fn|insn) /.test(e.body.output)) logs.push(e.body.output); });
    const terminated = dc.waitForEvent('terminated');
    await dc.initializeRequest();
    await dc.launchRequest({ program: HELLO } as DebugProtocol.LaunchRequestArguments);
    await dc.send('setFunctionBreakpoints', { breakpoints: [{ name: 'serial_putc', logMessage: 'fn {al}', condition: 'al == 0x6c' }] });
    await dc.send('setInstructionBreakpoints', { breakpoints: [{ instructionReference: `0x${symbol('serial_puts').toString(16)}`, logMessage: 'insn {byte [rsi]}', hitCondition: '1' }] });
    await dc.configurationDoneRequest();
    await terminated;
    const ls = text.filter((c) => c === 0x6c).map(() => 'fn 0x6c\n');
    assert.ok(ls.length >= 2);
    assert.deepEqual(logs, [`insn 0x${text[0].toString(16)}\n`, ...ls]);
  } finally {
    await stopAdapter(dc);
  }
});
