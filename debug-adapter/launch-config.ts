// The launch request's attributes, checked one by one: each problem is a LaunchError that names
// the attribute, so the client can show exactly what to fix in launch.json.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { exitReasonByName } from '../src/vmx/definitions';
import type { GuestMode } from '../src/vmx/vcpu';
import type { CpuidOverrides } from '../src/hardware/cpuid-overrides';
import type { VmxCapabilities } from '../src/hardware/vmx/capabilities';
import { MachineConfigError } from '../src/vmm/config-error';
import { parseCpuidOverrides } from '../src/vmm/cpuid-config';
import { MsrOverride, parseMsrOverrides } from '../src/vmm/msr-config';
import { parseSerial, SerialError, SerialTarget } from './serial-output';
import { parseDisabledControls } from '../src/vmm/controls-config';

export class LaunchError extends Error {
  constructor(readonly attribute: string, problem: string) {
    super(`launch attribute '${attribute}': ${problem}`);
    this.name = 'LaunchError';
  }
}

export interface LaunchConfig {
  /** The guest file (ELF or flat binary). */
  program: string;
  mode: GuestMode;
  /** Load address of a flat binary. */
  loadAddress?: bigint;
  /** Entry point; default: the ELF entry or the load address. */
  entry?: bigint;
  memoryMB: number;
  stopOnEntry: boolean;
  /** Exit reasons (VmxExitReason names) to stop at, besides the exception filters the client sets. */
  breakOnExits: string[];
  /** One Debug Console line per VM exit. */
  logExits: boolean;
  /** Where COM1's output goes. */
  serial: SerialTarget;
  /** Changes to what the guest's CPUID returns. */
  cpuid?: CpuidOverrides;
  /** The guest's MSRs as it starts. */
  msrs?: readonly MsrOverride[];
  /** A processor without the VMX controls named in `disableControls`. */
  vmxCapabilities?: VmxCapabilities;
  /** Integers in hex (0x…) rather than decimal where a request gives no format. */
  hexDisplay: boolean;
}

const MODES: readonly GuestMode[] = ['real', 'protected', 'long'];

/** An address as a number or a string ("0x8000", "32768"). */
function address(args: Record<string, unknown>, name: string): bigint | undefined {
  const v = args[name];
  if (v === undefined) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^(0x[0-9a-f]+|[0-9]+)$/i.test(v.trim())) {
    const b = BigInt(v.trim());
    if (b < 1n << 64n) return b;
  }
  throw new LaunchError(name, `expected an address (a non-negative integer or a string like "0x8000"), not ${JSON.stringify(v)}`);
}

function bool(args: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const v = args[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new LaunchError(name, `expected true or false, not ${JSON.stringify(v)}`);
  return v;
}

/** An attribute the engine parses; its MachineConfigError becomes a LaunchError naming the attribute. */
function engineParsed<T>(args: Record<string, unknown>, name: string, parse: (raw: unknown) => T): T | undefined {
  if (args[name] === undefined) return undefined;
  try {
    return parse(args[name]);
  } catch (e) {
    if (e instanceof MachineConfigError) throw new LaunchError(name, e.message);
    throw e;
  }
}

/** Checks the launch arguments; throws LaunchError at the first bad attribute. */
export function parseLaunchArguments(raw: unknown): LaunchConfig {
  const args = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const program = args.program;
  if (program === undefined || program === '') throw new LaunchError('program', 'missing: give the path of the guest (an ELF or flat binary)');
  if (typeof program !== 'string') throw new LaunchError('program', `expected a file path, not ${JSON.stringify(program)}`);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(program);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new LaunchError('program', `cannot read '${program}': ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (!stat.isFile()) throw new LaunchError('program', `'${program}' is not a file`);

  const mode = args.mode ?? 'real';
  if (typeof mode !== 'string' || !(MODES as readonly string[]).includes(mode)) {
    throw new LaunchError('mode', `expected "real", "protected" or "long", not ${JSON.stringify(mode)}`);
  }
  const memory = args.memoryMB ?? 64;
  if (typeof memory !== 'number' || !Number.isInteger(memory) || memory < 1 || memory > 4096) {
    throw new LaunchError('memoryMB', `expected an integer from 1 to 4096 (MiB), not ${JSON.stringify(memory)}`);
  }
  const exits = args.breakOnExits ?? [];
  if (!Array.isArray(exits)) throw new LaunchError('breakOnExits', `expected a list of exit reason names, not ${JSON.stringify(exits)}`);
  const breakOnExits = exits.map((e: unknown) => {
    const r = typeof e === 'string' ? exitReasonByName(e) : undefined;
    if (r === undefined) throw new LaunchError('breakOnExits', `unknown exit reason ${JSON.stringify(e)} (names as in VmxExitReason, e.g. "IO_INSTRUCTION")`);
    return r.name;
  });
  let serial: SerialTarget;
  try {
    serial = parseSerial(args.serial, path.dirname(path.resolve(program)));
  } catch (e) {
    if (e instanceof SerialError) throw new LaunchError('serial', e.message);
    throw e;
  }
  const config: LaunchConfig = {
    program, mode: mode as GuestMode, memoryMB: memory, breakOnExits, serial,
    stopOnEntry: bool(args, 'stopOnEntry', false), logExits: bool(args, 'logExits', false), hexDisplay: bool(args, 'hexDisplay', true),
  };
  const loadAddress = address(args, 'loadAddress');
  if (loadAddress !== undefined) config.loadAddress = loadAddress;
  const entry = address(args, 'entry');
  if (entry !== undefined) config.entry = entry;
  const cpuid = engineParsed(args, 'cpuid', parseCpuidOverrides);
  if (cpuid !== undefined) config.cpuid = cpuid;
  const msrs = engineParsed(args, 'msrs', parseMsrOverrides);
  if (msrs !== undefined) config.msrs = msrs;
  const caps = engineParsed(args, 'disableControls', parseDisabledControls);
  if (caps !== undefined) config.vmxCapabilities = caps;
  return config;
}
