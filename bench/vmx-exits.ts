// VM-exit throughput: a guest loop whose every iteration exits, run through the whole stack
// (VM exit in the VMX core, VmxVcpu, the VMM, VM entry). CPUID exits are answered by VmxVcpu's
// builtin handler; OUT to port 0x80 (the POST port, no device) by the VMM's I/O path.
import { Machine } from '../src/vmm/machine';
import { loadFlatBinary } from '../src/vmm/guest-image';
import { AsmLine, BenchError, CODE_ADDRESS, encode } from './guest';

/** mov r8, n; 1: xor eax, eax; cpuid; dec r8; jnz 1b; hlt */
function cpuidLoop(n: number): AsmLine[] {
  return [
    { asm: `mov r8d, ${n}`, bytes: [0x41, 0xb8, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff] },
    { asm: '1:', bytes: [] },
    { asm: 'xor eax, eax', bytes: [0x31, 0xc0] },
    { asm: 'cpuid', bytes: [0x0f, 0xa2] },
    { asm: 'dec r8', bytes: [0x49, 0xff, 0xc8] },
    { asm: 'jnz 1b', bytes: [0x75, 0xf7] },
    { asm: 'hlt', bytes: [0xf4] },
  ];
}

/** mov r8, n; 1: out 0x80, al; dec r8; jnz 1b; hlt */
function outLoop(n: number): AsmLine[] {
  return [
    { asm: `mov r8d, ${n}`, bytes: [0x41, 0xb8, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff] },
    { asm: '1:', bytes: [] },
    { asm: 'out 0x80, al', bytes: [0xe6, 0x80] },
    { asm: 'dec r8', bytes: [0x49, 0xff, 0xc8] },
    { asm: 'jnz 1b', bytes: [0x75, 0xf9] },
    { asm: 'hlt', bytes: [0xf4] },
  ];
}

export interface ExitRun { exits: number; seconds: number }

function run(lines: AsmLine[], reason: string, n: number): ExitRun {
  const m = new Machine({ memoryMiB: 16 });
  m.load(loadFlatBinary(encode(lines), CODE_ADDRESS));
  m.start(BigInt(CODE_ADDRESS), 'long');
  const t0 = process.hrtime.bigint();
  const end = m.run(n * 10);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const exits = m.exitCounts.get(reason) ?? 0;
  // the loop ends in HLT with no timer: the machine reports that, after exactly n exits
  if (end.kind !== 'error' || exits !== n) throw new BenchError(`${reason} loop: ${exits} exits of ${n}, run ended ${JSON.stringify(end.kind)}`);
  return { exits, seconds };
}

export function runCpuidExits(n: number): ExitRun {
  return run(cpuidLoop(n), 'CPUID', n);
}

export function runIoExits(n: number): ExitRun {
  return run(outLoop(n), 'IO_INSTRUCTION', n);
}
