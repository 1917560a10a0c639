// The debug adapter as VS Code meets it: `node out/debug-adapter/main.js` as a child process,
// spoken to by @vscode/debugadapter-testsupport's DebugClient. And what the binutils say about
// the committed hello sample (symbols from nm, instructions from objdump, lines from the DWARF
// line table), so tests find addresses and lines the way a user would, never by hard-coding.

import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { nmSymbols, objdumpDecodedLines, run } from './gnu-tools';
import { normalize, ObjdumpEntry, parseObjdump } from './objdump';

export const ROOT = path.resolve(__dirname, '../../..');
export const ADAPTER = path.join(ROOT, 'out/debug-adapter/main.js');
export const HELLO_DIR = path.join(ROOT, 'samples/hello');
export const HELLO = path.join(HELLO_DIR, 'hello.elf');

/** What VS Code says about itself in `initialize` (the parts the adapter looks at). */
export const VSCODE_INITIALIZE: DebugProtocol.InitializeRequestArguments = {
  adapterID: 'vmx', clientID: 'vscode', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path',
  supportsInvalidatedEvent: true, supportsMemoryReferences: true, supportsVariableType: true,
};

/** A started adapter process and a client on it; `nodeOptions` go to the adapter's node (NODE_OPTIONS). */
export async function startAdapter(nodeOptions?: string): Promise<DebugClient> {
  const dc = nodeOptions === undefined
    ? new DebugClient(process.execPath, ADAPTER, 'vmx')
    : new DebugClient(process.execPath, ADAPTER, 'vmx', { env: { ...process.env, NODE_OPTIONS: nodeOptions } });
  dc.defaultTimeout = 10_000;
  await dc.start();
  return dc;
}

/** The adapter's child process (DebugClient keeps it private). */
export function adapterProcess(dc: DebugClient): ChildProcess {
  return Reflect.get(dc, '_adapterProcess') as ChildProcess;
}

/** Stops the client; the adapter process must be gone afterwards. */
export async function stopAdapter(dc: DebugClient): Promise<void> {
  const child = adapterProcess(dc);
  if (child.exitCode !== null || child.signalCode !== null) {
    // already gone: a disconnect would wait for an answer forever
    return;
  }
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await dc.stop();
  await gone;
}

/** disconnect, and the adapter process must end by itself (nothing left running: no timer, no guest). */
export async function disconnectAndExit(dc: DebugClient): Promise<number | null> {
  const child = adapterProcess(dc);
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  await dc.disconnectRequest({});
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), 5000); });
  const r = await Promise.race([exited, timeout]);
  clearTimeout(timer);
  assert.notEqual(r, 'timeout', 'the adapter process did not end after disconnect');
  return r as number | null;
}

/** initialize, launch with `args`, optional configuration, configurationDone; resolves on the first `stopped`. */
export async function launchAndStop(dc: DebugClient, args: Record<string, unknown>,
  configure: () => Promise<unknown> = async () => undefined): Promise<DebugProtocol.StoppedEvent> {
  const stopped = dc.waitForEvent('stopped') as Promise<DebugProtocol.StoppedEvent>;
  await dc.initializeRequest(VSCODE_INITIALIZE);
  const initialized = dc.waitForEvent('initialized');
  // (DebugClient.launch would send a second, bare initialize)
  await dc.launchRequest(args as DebugProtocol.LaunchRequestArguments);
  await initialized;
  await configure();
  await dc.configurationDoneRequest();
  return stopped;
}

/** Continues (or steps) and waits for the next `stopped` event. */
export async function resumeAndStop(dc: DebugClient, how: () => Promise<unknown>): Promise<DebugProtocol.StoppedEvent> {
  const stopped = dc.waitForEvent('stopped') as Promise<DebugProtocol.StoppedEvent>;
  await how();
  return stopped;
}

/** The top frame. */
export async function topFrame(dc: DebugClient): Promise<DebugProtocol.StackFrame> {
  const st = await dc.stackTraceRequest({ threadId: 1 });
  assert.equal(st.body.stackFrames.length, 1);
  return st.body.stackFrames[0];
}

export async function instructionPointer(dc: DebugClient): Promise<bigint> {
  const ref = (await topFrame(dc)).instructionPointerReference;
  assert.ok(ref !== undefined && /^0x[0-9a-f]+$/.test(ref), `instructionPointerReference ${ref}`);
  return BigInt(ref);
}

/** Every variable of the named scope of the top frame, children fetched one level deep. */
export async function scopeVariables(dc: DebugClient, scope: string): Promise<Map<string, DebugProtocol.Variable>> {
  const sc = await dc.scopesRequest({ frameId: (await topFrame(dc)).id });
  const s = sc.body.scopes.find((x) => x.name === scope);
  assert.ok(s !== undefined, `scope ${scope} in ${sc.body.scopes.map((x) => x.name).join(', ')}`);
  const vars = await dc.variablesRequest({ variablesReference: s.variablesReference });
  return new Map(vars.body.variables.map((v) => [v.name, v]));
}

/** Register values as numbers (the adapter shows them as 0x… hex, maybe followed by a decoding). */
export async function registers(dc: DebugClient): Promise<Map<string, bigint>> {
  const vars = await scopeVariables(dc, 'Registers');
  const out = new Map<string, bigint>();
  for (const [name, v] of vars) {
    const m = /^(0x[0-9a-f]+)/.exec(v.value);
    assert.ok(m !== null, `${name} = ${v.value} is not 0x-prefixed hex`);
    out.set(name, BigInt(m[1]));
  }
  return out;
}

// ---- what the binutils say about hello.elf ------------------------------------------------

let symbolCache: Map<string, bigint> | undefined;
/** nm: symbol (and absolute constant) values by name. */
export function helloSymbols(): Map<string, bigint> {
  symbolCache ??= new Map(nmSymbols(HELLO).filter((s) => s.address !== undefined).map((s) => [s.name, s.address as bigint]));
  return symbolCache;
}

export function symbol(name: string): bigint {
  const v = helloSymbols().get(name);
  assert.ok(v !== undefined, `nm lists no ${name} in hello.elf`);
  return v;
}

let listingCache: ObjdumpEntry[] | undefined;
/** objdump -d -M intel of the 64-bit code (everything from long_mode on; objdump decodes the ELF as x86-64). */
export function helloListing64(): ObjdumpEntry[] {
  listingCache ??= parseObjdump(run('objdump', ['-d', '-M', 'intel', '-w', '-j', '.text', HELLO])).filter((e) => e.address >= symbol('long_mode'));
  return listingCache;
}

/** The first instruction at or after `from` whose text matches. */
export function findInstruction(from: bigint, pattern: RegExp): ObjdumpEntry {
  const e = helloListing64().find((x) => x.address >= from && pattern.test(normalize(x.text)));
  assert.ok(e !== undefined, `no instruction matching ${pattern} after 0x${from.toString(16)}`);
  return e;
}

export function instructionAt(address: bigint): ObjdumpEntry {
  const e = helloListing64().find((x) => x.address === address);
  assert.ok(e !== undefined, `objdump lists no instruction at 0x${address.toString(16)}`);
  return e;
}

/** `count` bytes of the ELF's loaded image at `address`, as objdump -s prints them. */
export function elfBytes(address: bigint, count: number): number[] {
  const dump = run('objdump', ['-s', '--start-address', `0x${address.toString(16)}`, '--stop-address', `0x${(address + BigInt(count)).toString(16)}`, HELLO]);
  const out: number[] = [];
  for (const line of dump.split('\n')) {
    const m = /^ ([0-9a-f]+) /.exec(line);
    if (m === null) continue;
    // hex groups that keep to 4-byte boundaries (an unaligned start gives a short first group
    // and a fifth one), then the ASCII rendering, always the last 16 columns of the line
    const digits = line.slice(m[0].length, line.length - 16).replace(/ /g, '');
    for (let k = 0; k + 1 < digits.length; k += 2) out.push(parseInt(digits.slice(k, k + 2), 16));
  }
  return out.slice(0, count);
}

/** The file a line-table name means: relative to the sample's directory, else found by name under samples/ (shared includes). */
function sourceFile(name: string): string | undefined {
  const direct = path.resolve(HELLO_DIR, name);
  if (fs.existsSync(direct)) return direct;
  const samples = path.join(ROOT, 'samples');
  const found = (fs.readdirSync(samples, { recursive: true }) as string[]).filter((f) => path.basename(f) === path.basename(name));
  return found.length === 1 ? path.join(samples, found[0]) : undefined;
}

/**
 * The source file and line (1-based) of the first line whose text matches `pattern`, among the
 * files the DWARF line table names, with the statement addresses the table gives that line.
 */
export function findSourceLine(pattern: RegExp): { file: string; line: number; addresses: bigint[] } {
  const rows = objdumpDecodedLines(HELLO);
  const names = [...new Set(rows.map((r) => r.name))];
  for (const name of names) {
    const file = sourceFile(name);
    if (file === undefined) continue;
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const k = lines.findIndex((l) => pattern.test(l.replace(/#.*$/, '')));
    if (k < 0) continue;
    const addresses = rows.filter((r) => r.name === name && r.line === k + 1 && r.stmt).map((r) => r.address);
    return { file, line: k + 1, addresses };
  }
  assert.fail(`no source line of hello matches ${pattern}`);
}

// ---- guests written by a test ---------------------------------------------------------------

/** A guest built the way samples are (boot.inc first, `main` in 64-bit code, guest.ld), with its nm symbols. */
export interface TestGuest { elf: string; source: string; symbols: Map<string, bigint> }

/** Assembles `lines` (after `.include "boot.inc"`) with -g into `dir`/`name`.elf. */
export function buildTestGuest(dir: string, name: string, lines: readonly string[]): TestGuest {
  const common = path.join(ROOT, 'samples/common');
  const source = path.join(dir, `${name}.S`);
  fs.writeFileSync(source, `    .include "boot.inc"\n${lines.join('\n')}\n`);
  const elf = path.join(dir, `${name}.elf`);
  run('as', ['--64', '-g', '-I', common, '-o', path.join(dir, `${name}.o`), source]);
  run('ld', ['-T', path.join(common, 'guest.ld'), '--build-id=none', '-o', elf, path.join(dir, `${name}.o`)]);
  const symbols = new Map(nmSymbols(elf).filter((s) => s.address !== undefined).map((s) => [s.name, s.address as bigint]));
  return { elf, source, symbols };
}

/** The reference of a named scope of a frame (1: the top). */
export async function scopeReference(dc: DebugClient, scope: string, frameId = 1): Promise<number> {
  const sc = await dc.scopesRequest({ frameId });
  const s = sc.body.scopes.find((x) => x.name === scope);
  assert.ok(s !== undefined, `scope ${scope} in ${sc.body.scopes.map((x) => x.name).join(', ')}`);
  return s.variablesReference;
}

/**
 * The container that holds the variable at `path` below a scope: `['rflags', 'DF']` is the
 * children of rflags; `['IA32_PAT', 'PA0']` is found below whatever group holds IA32_PAT.
 */
export async function containerOf(dc: DebugClient, scope: string, pathTo: readonly string[]): Promise<number> {
  let ref = await scopeReference(dc, scope);
  for (const name of pathTo.slice(0, -1)) {
    const vars = (await dc.variablesRequest({ variablesReference: ref })).body.variables;
    let hit = vars.find((v) => v.name === name);
    // one level of grouping (MSR groups, VMCS groups) may lie between
    for (const group of vars) {
      if (hit !== undefined) break;
      if (group.variablesReference === 0) continue;
      hit = (await dc.variablesRequest({ variablesReference: group.variablesReference })).body.variables.find((v) => v.name === name);
    }
    assert.ok(hit !== undefined && hit.variablesReference !== 0, `no ${name} with children in ${scope}`);
    ref = hit.variablesReference;
  }
  const last = pathTo[pathTo.length - 1];
  const vars = (await dc.variablesRequest({ variablesReference: ref })).body.variables;
  assert.ok(vars.some((v) => v.name === last), `no ${pathTo.join(' > ')} in ${scope}`);
  return ref;
}
