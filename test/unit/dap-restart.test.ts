// restart keeps every kind of breakpoint, through the protocol against the adapter process, on
// a guest assembled here: a source line with a hit count, a function, an instruction, an exit
// filter with a condition and a data breakpoint stop in the same order after a restart as
// before it (hit counts start again), and the restart loads the program file again, so a guest
// rebuilt in between is what runs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { gnuToolsAvailable } from '../support/gnu-tools';
import { buildTestGuest, launchAndStop, resumeAndStop, startAdapter, stopAdapter } from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 60_000 };
type Client = Awaited<ReturnType<typeof startAdapter>>;
const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** A loop of three, a function, an OUT to COM1, then a store into `flag` of `value`. */
function program(value: number): string[] {
  return [
    '    .text',
    'main:',
    '    mov ecx, 3',
    'loop_top:',
    '    inc qword ptr [counter]',
    '    dec ecx',
    '    jnz loop_top',
    '    call func_a',
    '    xor eax, eax',
    '    ret',
    'func_a:',
    '    mov dx, 0x3f8',
    '    mov al, 0x41',
    '    out dx, al',
    'marked:',
    `    mov qword ptr [flag], ${value}`,
    'after_store:',
    '    nop',
    '    ret',
    '    .data',
    '    .balign 8',
    'counter: .quad 0',
    'flag: .quad 0',
  ];
}

interface Stop { reason: string; rip: bigint; ids: number[] | undefined; detail: string }

async function evaluate(dc: Client, expression: string): Promise<bigint> {
  return BigInt((await dc.evaluateRequest({ expression, context: 'watch' })).body.result);
}

/** What a stop was: its reason, where, the breakpoint ids it names and what it found. */
async function describe(dc: Client, ev: DebugProtocol.StoppedEvent): Promise<Stop> {
  const rip = await evaluate(dc, 'rip');
  const detail = ev.body.reason === 'exception'
    ? (await dc.exceptionInfoRequest({ threadId: 1 })).body.exceptionId
    : `rcx=${await evaluate(dc, 'rcx')} flag=${hex(await evaluate(dc, 'qword [flag]'))}`;
  return { reason: ev.body.reason, rip, ids: ev.body.hitBreakpointIds, detail };
}

/** Continues until `count` stops were seen. */
async function collect(dc: Client, first: DebugProtocol.StoppedEvent, count: number): Promise<Stop[]> {
  const out = [await describe(dc, first)];
  while (out.length < count) out.push(await describe(dc, await resumeAndStop(dc, () => dc.continueRequest({ threadId: 1 })) as DebugProtocol.StoppedEvent));
  return out;
}

test('restart: source (hit count), function, instruction, conditional exit filter and data breakpoints stop again in order; the rebuilt program runs', T, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-restart-'));
  const dc = await startAdapter();
  try {
    const g = buildTestGuest(dir, 'restart', program(0x1111));
    const sym = (n: string): bigint => g.symbols.get(n) as bigint;
    const incLine = fs.readFileSync(g.source, 'utf8').split('\n').findIndex((l) => /inc qword ptr \[counter\]/.test(l)) + 1;
    let ids: { source: number; func: number; insn: number; data: number } | undefined;
    const first = await launchAndStop(dc, { program: g.elf }, async () => {
      const s = await dc.setBreakpointsRequest({ source: { path: g.source }, breakpoints: [{ line: incLine, hitCondition: '== 2' }] });
      const f = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'func_a' }] });
      const i = await dc.send('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(sym('marked')) }] }) as DebugProtocol.SetInstructionBreakpointsResponse;
      await dc.setExceptionBreakpointsRequest({ filters: [], filterOptions: [{ filterId: 'IO_INSTRUCTION', condition: 'port == 0x3f8' }] });
      // a data breakpoint needs a stopped guest: it is set at the first stop below
      ids = { source: s.body.breakpoints[0].id!, func: f.body.breakpoints[0].id!, insn: i.body.breakpoints[0].id!, data: 0 };
    });
    assert.ok(ids !== undefined);
    const info = await dc.dataBreakpointInfoRequest({ name: 'flag', bytes: 8 });
    const set = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId!, accessType: 'write' }] });
    assert.equal(set.body.breakpoints[0].verified, true);
    ids.data = set.body.breakpoints[0].id!;

    const expected = (flag: number): Array<Omit<Stop, 'detail'> & { detail: RegExp }> => [
      // the second pass over the line (hitCondition == 2): RCX has been decremented once
      { reason: 'breakpoint', rip: sym('loop_top'), ids: [ids!.source], detail: /^rcx=2 flag=0x0$/ },
      { reason: 'function breakpoint', rip: sym('func_a'), ids: [ids!.func], detail: /flag=0x0$/ },
      { reason: 'exception', rip: sym('marked') - 1n, ids: undefined, detail: /^IO_INSTRUCTION$/ },
      { reason: 'instruction breakpoint', rip: sym('marked'), ids: [ids!.insn], detail: /flag=0x0$/ },
      // a data breakpoint stops after the writing instruction
      { reason: 'data breakpoint', rip: sym('after_store'), ids: [ids!.data], detail: new RegExp(`flag=${hex(BigInt(flag))}$`) },
    ];
    const check = (stops: Stop[], flag: number): void => {
      const want = expected(flag);
      assert.deepEqual(stops.map((s) => [s.reason, hex(s.rip), s.ids]), want.map((w) => [w.reason, hex(w.rip), w.ids]));
      stops.forEach((s, k) => assert.match(s.detail, want[k].detail, `stop ${k + 1}`));
    };
    check(await collect(dc, first, 5), 0x1111);

    // the same program again, the stored value changed (same encoding length, same addresses)
    const rebuilt = buildTestGuest(dir, 'restart', program(0x2222));
    assert.equal(rebuilt.symbols.get('marked'), sym('marked'));
    const changed: DebugProtocol.BreakpointEvent[] = [];
    dc.on('breakpoint', (e: DebugProtocol.BreakpointEvent) => changed.push(e));
    const again = dc.waitForEvent('stopped') as Promise<DebugProtocol.StoppedEvent>;
    await dc.restartRequest({ arguments: { program: g.elf } as DebugProtocol.LaunchRequestArguments });
    check(await collect(dc, await again, 5), 0x2222);
    // the data breakpoint was placed in the new guest under the id the client knows
    assert.ok(changed.some((e) => e.body.breakpoint.id === ids!.data && e.body.breakpoint.verified));

    // a third time, without new arguments: the last launch configuration
    const third = dc.waitForEvent('stopped') as Promise<DebugProtocol.StoppedEvent>;
    await dc.restartRequest({});
    check(await collect(dc, await third, 5), 0x2222);
    const ended = dc.waitForEvent('terminated');
    await dc.continueRequest({ threadId: 1 });
    await ended;
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
