// The session's breakpoints: source lines, functions (symbols) and instructions (addresses),
// each with the id the client knows it by, resolved to guest addresses through the image's
// line table and symbols — again when a restart brings a new image.

import * as path from 'node:path';
import { Breakpoint } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { hex } from '../src/format';
import type { GuestImage } from '../src/vmm/guest-image';
import { StopCondition, StopConditionError, StopConditionSpec } from '../src/vmm/stop-condition';

export type BreakpointKind = 'breakpoint' | 'function breakpoint' | 'instruction breakpoint';

/** Every breakpoint has its stop condition (unconditional when nothing was given) or the error that made it invalid. */
interface Conditioned { condition?: StopCondition; conditionError?: string }
interface Placed extends Conditioned { id: number; address: bigint }
interface SourceBreakpoint extends Conditioned { id: number; line: number; addresses: bigint[] }
interface FunctionBreakpoint extends Conditioned { id: number; name: string; address?: bigint }

function compileCondition(spec: StopConditionSpec): Conditioned {
  try {
    return { condition: StopCondition.compile(spec) };
  } catch (e) {
    if (e instanceof StopConditionError) return { conditionError: e.message };
    throw e;
  }
}

export class BreakpointBook {
  private nextId = 1;
  private readonly source = new Map<string, SourceBreakpoint[]>();
  private functions: FunctionBreakpoint[] = [];
  private instructions: Placed[] = [];
  private image: GuestImage | undefined;
  /** Line-table paths are relative to the program's directory. */
  private programDir = '';

  /**
   * A new guest image (launch, restart): source and function breakpoints are found again in it.
   * Returns them as the client should now show them (`breakpoint` events, reason 'changed').
   */
  useImage(image: GuestImage, program: string): DebugProtocol.Breakpoint[] {
    this.image = image;
    this.programDir = path.dirname(path.resolve(program));
    // a new run of the guest: hit counts start again
    for (const b of [...[...this.source.values()].flat(), ...this.functions, ...this.instructions]) b.condition?.resetHits();
    const out: DebugProtocol.Breakpoint[] = [];
    for (const [file, entries] of this.source) for (const e of entries) out.push(this.resolveLine(file, e));
    for (const f of this.functions) out.push(this.resolveFunction(f));
    return out;
  }

  /** setBreakpoints: replaces the breakpoints of one source file. */
  setSource(file: string, requested: readonly DebugProtocol.SourceBreakpoint[]): DebugProtocol.Breakpoint[] {
    const entries = requested.map((b) => ({ id: this.nextId++, line: b.line, addresses: [], ...compileCondition(b) }));
    this.source.set(file, entries);
    return entries.map((e) => this.resolveLine(file, e));
  }

  /** setFunctionBreakpoints: replaces all function breakpoints. */
  setFunctions(requested: readonly DebugProtocol.FunctionBreakpoint[]): DebugProtocol.Breakpoint[] {
    this.functions = requested.map((b) => ({ id: this.nextId++, name: b.name, ...compileCondition(b) }));
    return this.functions.map((f) => this.resolveFunction(f));
  }

  /** setInstructionBreakpoints: replaces all instruction breakpoints (addresses as 0x… or decimal, plus offset). */
  setInstructions(requested: readonly DebugProtocol.InstructionBreakpoint[], parseAddress: (text: string) => bigint | undefined): DebugProtocol.Breakpoint[] {
    this.instructions = [];
    return requested.map((b) => {
      const base = parseAddress(b.instructionReference);
      if (base === undefined) return { verified: false, message: `'${b.instructionReference}' is not an address` };
      const placed = { id: this.nextId++, address: base + BigInt(b.offset ?? 0), ...compileCondition(b) };
      if (placed.conditionError !== undefined) return { id: placed.id, verified: false, message: placed.conditionError };
      this.instructions.push(placed);
      return { id: placed.id, verified: true, instructionReference: hex(placed.address) };
    });
  }

  /** Every address where the guest must stop. */
  addresses(): bigint[] {
    return this.all().map((b) => b.address);
  }

  /** The stop reason for a breakpoint at `rip` (source breakpoints first). */
  kindAt(rip: bigint): BreakpointKind {
    return this.all().find((b) => b.address === rip)?.kind ?? 'breakpoint';
  }

  idsAt(rip: bigint): number[] {
    return this.all().filter((b) => b.address === rip).map((b) => b.id);
  }

  /** The breakpoints placed at `rip` with their stop conditions. */
  at(rip: bigint): Array<{ id: number; condition: StopCondition }> {
    return this.all().filter((b) => b.address === rip && b.condition !== undefined).map((b) => ({ id: b.id, condition: b.condition as StopCondition }));
  }

  private all(): Array<Placed & { kind: BreakpointKind }> {
    const out: Array<Placed & { kind: BreakpointKind }> = [];
    for (const entries of this.source.values()) {
      for (const e of entries) for (const address of e.addresses) out.push({ kind: 'breakpoint', id: e.id, address, condition: e.condition });
    }
    for (const f of this.functions) if (f.address !== undefined) out.push({ kind: 'function breakpoint', id: f.id, address: f.address, condition: f.condition });
    for (const b of this.instructions) out.push({ kind: 'instruction breakpoint', ...b });
    return out;
  }

  private resolveLine(file: string, e: SourceBreakpoint): DebugProtocol.Breakpoint {
    if (e.conditionError !== undefined) return { id: e.id, verified: false, line: e.line, message: e.conditionError };
    const at = this.addressesOfLine(file, e.line);
    e.addresses = at?.addresses ?? [];
    if (at === undefined) {
      return { id: e.id, verified: false, line: e.line, message: this.image === undefined ? 'no guest is loaded yet' : `no code for line ${e.line} of ${path.basename(file)} in the guest's line table` };
    }
    const bp = new Breakpoint(true, at.line) as DebugProtocol.Breakpoint;
    bp.id = e.id;
    bp.instructionReference = hex(at.addresses[0]);
    return bp;
  }

  /** The line table's own name for this source file, then the addresses of the line (or the next line with code). */
  private addressesOfLine(file: string, line: number): { line: number; addresses: bigint[] } | undefined {
    const image = this.image;
    if (image === undefined) return undefined;
    const wanted = path.resolve(file);
    const tableName = image.lines.files.find((f) => path.resolve(this.programDir, f) === wanted);
    return tableName === undefined ? undefined : image.lines.addressesOf(tableName, line);
  }

  private resolveFunction(f: FunctionBreakpoint): DebugProtocol.Breakpoint {
    if (f.conditionError !== undefined) return { id: f.id, verified: false, message: f.conditionError };
    f.address = this.image?.symbols.addressOf(f.name);
    if (f.address === undefined) {
      return { id: f.id, verified: false, message: this.image === undefined ? 'no guest is loaded yet' : `no symbol named '${f.name}' in the guest` };
    }
    return { id: f.id, verified: true, instructionReference: hex(f.address) };
  }
}
