// `vmx-debug run <program>`: runs a guest headlessly on the emulated VMX machine, printing each
// VM exit as it happens, the guest's console output, and at the end why the guest ended, its
// registers and a count of exits per reason. With --json every line is one JSON object and the
// last one has "type":"end".
import * as fs from 'node:fs';
import { ParsedArgs, UsageError } from './args';
import { Command, JSON_OPTION } from './command';
import { exitJson } from './exit-json';
import { Output } from './output';
import { parseUnsigned } from './numbers';
import { exitReasonByName, EXIT_REASONS } from '../vmx/definitions';
import { capabilitiesWithout } from '../vmm/controls-config';
import { parseCpuidOption, parseCpuidOverrides } from '../vmm/cpuid-config';
import { parseMsrOption } from '../vmm/msr-config';
import { MachineConfigError } from '../vmm/config-error';
import type { CpuidOverrides } from '../hardware/cpuid-overrides';
import { describeExitQualification } from '../vmx/exit-qualification';
import { GuestMode } from '../vmx/vcpu';
import { Machine, RunEnd } from '../vmm/machine';
import { GuestImage, GuestImageError, loadGuestImage, looksLikeElf } from '../vmm/guest-image';
import { ElfError } from '../vmm/elf';
import { DwarfError } from '../vmm/dwarf-line';
import { GPR_NAMES } from '../regs';

const COMMAND = 'run';
const MODES: readonly GuestMode[] = ['real', 'protected', 'long'];
const DEFAULT_MAX_INSTRUCTIONS = 1_000_000_000;

function readProgram(file: string): Uint8Array {
  try {
    if (fs.statSync(file).isDirectory()) throw new UsageError(`'${file}' is a directory, not a program`, COMMAND);
    return new Uint8Array(fs.readFileSync(file));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read '${file}': ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, COMMAND);
  }
}

function breakReasons(word: string | undefined): Set<string> {
  const set = new Set<string>();
  if (word === undefined) return set;
  for (const name of word.split(',').map((w) => w.trim()).filter((w) => w !== '')) {
    const r = exitReasonByName(name);
    if (r === undefined) throw new UsageError(`unknown exit reason '${name}' in --break-on (see \`vmx-debug tables exit-reasons\`)`, COMMAND);
    set.add(r.name);
  }
  return set;
}

export const runCommand: Command = {
  spec: {
    name: COMMAND,
    summary: 'Run a guest on the emulated VMX machine and print its VM exits',
    description: [
      'Loads <program> (an ELF32/ELF64 executable, or a flat binary with --load-address) into guest RAM and',
      'runs it under VmxVcpu as x86_vcpu does: in real mode at 0000:entry unless --mode says otherwise.',
      'Each VM exit is printed as it happens (reason, guest RIP, decoded qualification), then why the guest',
      'ended, its registers and a count per exit reason. Exit status: the guest\'s exit code for a shutdown',
      '(0 for power-off), 0 at a --break-on exit, 1 when the guest fails, 3 at the instruction limit, 2 for bad input.',
    ].join('\n'),
    positionals: [{ name: 'program', description: 'guest program (ELF or flat binary)' }],
    options: [
      { name: 'mode', value: 'real|protected|long', description: 'mode to start in (default real, at 0000:entry)' },
      { name: 'load-address', value: 'A', description: 'load address of a flat binary (required for one)' },
      { name: 'entry', value: 'A', description: 'entry point (default: the ELF entry, or the load address)' },
      { name: 'memory', value: 'MiB', description: 'guest RAM in MiB (default 64)' },
      { name: 'max-instructions', value: 'N', description: `stop after N guest instructions (default ${DEFAULT_MAX_INSTRUCTIONS})` },
      { name: 'break-on', value: 'REASON,...', description: 'end the run at the first exit of these reasons (names as in `tables exit-reasons`)' },
      { name: 'disable-controls', value: 'NAME,...', description: 'a processor without these VMX controls (names as in `tables controls`; field:name where a name is in several fields)' },
      { name: 'cpuid', value: 'LEAF=REG:V,...', description: 'what the guest\'s CPUID returns: V exact, +BITS set, -BITS clear (0x7.0 for a subleaf); or @FILE, a JSON file shaped as the launch attribute' },
      { name: 'msr', value: 'NAME=V,...', description: 'the guest\'s MSRs as it starts (names as in `tables msrs`, or numbers), written by WRMSR\'s rules' },
      { name: 'quiet', description: 'do not print each exit (the summary only)' },
      JSON_OPTION,
    ],
    examples: [
      'vmx-debug run samples/hello/hello.elf', 'vmx-debug run boot.bin --load-address 0x7c00 --break-on CPUID,IO_INSTRUCTION --json',
      'vmx-debug run guest.elf --cpuid 0x1=ecx:-0x800000,0x40000000=eax:0x40000001 --msr IA32_TSC_AUX=0x5',
    ],
  },
  run(args: ParsedArgs, out: Output): number {
    const modeWord = args.option('mode') ?? 'real';
    if (!(MODES as readonly string[]).includes(modeWord)) throw new UsageError(`unknown mode '${modeWord}': expected real, protected or long`, COMMAND);
    const mode = modeWord as GuestMode;
    const memory = Number(parseUnsigned(args.option('memory') ?? '64', 32, 'memory', COMMAND));
    if (memory < 1 || memory > 4096) throw new UsageError(`--memory must be 1-4096 MiB, not ${memory}`, COMMAND);
    const maxWord = args.option('max-instructions');
    const maxInstructions = maxWord === undefined ? DEFAULT_MAX_INSTRUCTIONS : Number(parseUnsigned(maxWord, 48, 'max-instructions', COMMAND));
    const breakOn = breakReasons(args.option('break-on'));
    const file = args.positional('program') ?? '';
    const bytes = readProgram(file);
    const loadWord = args.option('load-address');
    if (!looksLikeElf(bytes) && loadWord === undefined) throw new UsageError(`'${file}' is not an ELF file: give the flat binary's --load-address`, COMMAND);
    const entryWord = args.option('entry');
    let image: GuestImage;
    try {
      image = loadGuestImage(bytes, loadWord === undefined ? undefined : { loadAddress: parseUnsigned(loadWord, 64, 'load-address', COMMAND) });
    } catch (e) {
      if (e instanceof ElfError || e instanceof DwarfError || e instanceof GuestImageError) throw new UsageError(`'${file}': ${e.message}`, COMMAND);
      throw e;
    }
    const entry = entryWord === undefined ? image.entryPhysical : parseUnsigned(entryWord, 64, 'entry', COMMAND);

    let consoleLine = '';
    const flushConsole = (force: boolean) => {
      for (;;) {
        const nl = consoleLine.indexOf('\n');
        if (nl < 0 && !(force && consoleLine !== '')) return;
        const text = nl < 0 ? consoleLine : consoleLine.slice(0, nl);
        consoleLine = nl < 0 ? '' : consoleLine.slice(nl + 1);
        if (out.json) out.record({ type: 'console', text });
        else out.line(`guest | ${text}`);
      }
    };
    const disabled = args.option('disable-controls');
    const vmxCapabilities = disabled === undefined ? undefined : configured('disable-controls', () => capabilitiesWithout(disabled.split(',')));
    const cpuidWord = args.option('cpuid');
    const cpuid = cpuidWord === undefined ? undefined : configured('cpuid', () => cpuidOverrides(cpuidWord));
    const msrWord = args.option('msr');
    const msrs = msrWord === undefined ? undefined : configured('msr', () => parseMsrOption(msrWord));
    const machine = new Machine({
      memoryMiB: memory,
      vmxCapabilities,
      cpuid,
      msrs,
      console: (b) => { consoleLine += Buffer.from(b).toString('latin1'); flushConsole(false); },
    });
    try {
      machine.load(image);
      machine.start(entry, mode);
    } catch (e) {
      if (e instanceof MachineConfigError) throw new UsageError(`--msr: ${e.message}`, COMMAND);
      if (e instanceof GuestImageError || e instanceof RangeError) throw new UsageError(`'${file}': ${e.message}`, COMMAND);
      // VmxVcpu asked the processor for a control it does not offer (--disable-controls)
      if (e instanceof Error && /cannot (set|clear) '/.test(e.message)) throw new UsageError(`this processor cannot run the guest as x86_vcpu sets it up: ${e.message}`, COMMAND);
      throw e;
    }
    const quiet = args.flag('quiet');
    const end = machine.run(maxInstructions, {
      breakOn,
      onExit: quiet ? undefined : ({ info, by }) => {
        if (out.json) {
          out.record(exitJson(info, by));
        } else {
          const what = describeExitQualification(info.reason, info.qualification, info.interruptionInfo, info.guestLinear);
          out.line(`exit ${info.name} (${info.reason})  rip=0x${info.guestRip.toString(16)}${what === '' ? '' : `  ${what}`}  [${by}]`);
        }
      },
    });
    flushConsole(true);
    return report(machine, end, out);
  },
};

/** A configuration option's value, parsed; its problem becomes a usage error naming the option. */
function configured<T>(option: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof MachineConfigError) throw new UsageError(`--${option}: ${e.message}`, COMMAND);
    throw e;
  }
}

/** --cpuid's value: LEAF=REG:V,… or @FILE (JSON shaped as the `cpuid` launch attribute). */
function cpuidOverrides(word: string): CpuidOverrides {
  if (!word.startsWith('@')) return parseCpuidOption(word);
  const file = word.slice(1);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new MachineConfigError(`cannot read '${file}': ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MachineConfigError(`'${file}' is not JSON: ${(e as Error).message}`);
  }
  return parseCpuidOverrides(json);
}

function endText(end: RunEnd): { reason: string; status: number; detail: string } {
  switch (end.kind) {
    case 'shutdown': return { reason: 'shutdown', status: end.exitCode, detail: `the guest shut down (${end.how}) with exit code ${end.exitCode}` };
    case 'instruction-limit': return { reason: 'instruction-limit', status: 3, detail: 'the instruction limit was reached' };
    case 'break': return { reason: 'break', status: 0, detail: `stopped at the first ${end.info.name} exit (--break-on)` };
    case 'error': return { reason: 'error', status: 1, detail: end.message };
    case 'paused': return { reason: end.why, status: 1, detail: `the run stopped (${end.why})` };
  }
}

function report(machine: Machine, end: RunEnd, out: Output): number {
  const { reason, status, detail } = endText(end);
  const regs = machine.guestRegisters();
  const counts = [...machine.exitCounts.entries()].sort((a, b) => (EXIT_REASONS.findIndex((r) => r.name === a[0]) - EXIT_REASONS.findIndex((r) => r.name === b[0])));
  if (out.json) {
    out.record({
      type: 'end', reason, exitCode: status, detail, instructions: machine.cpu.icount,
      registers: Object.fromEntries(Object.entries(regs)),
      exits: Object.fromEntries(counts),
    });
    return status;
  }
  out.line(`end: ${detail}`);
  out.line(`instructions: ${machine.cpu.icount}`);
  const names = [...GPR_NAMES.slice(0, 16), 'rip', 'rflags', 'cr0', 'cr3', 'cr4', 'efer'];
  for (let k = 0; k < names.length; k += 4) {
    out.line(names.slice(k, k + 4).map((n) => `${n.padStart(6)}=0x${(regs[n] ?? 0n).toString(16).padStart(16, '0')}`).join(' '));
  }
  out.line('exits:');
  if (counts.length === 0) out.line('  none');
  for (const [name, n] of counts) out.line(`  ${name.padEnd(24)} ${n}`);
  return status;
}
