// Every benchmark — the emulator's and the debug adapter's round trips through the protocol
// (bench/dap-round-trip.ts) — in one run: `npm run bench` (readable), `npm run bench -- --json`
// (one JSON object per figure), `--quick` for a smoke run with smaller counts, `--exits` for the
// VM-exit figures alone. Figures are printed, never
// compared with thresholds; but every emulated run is checked for the right result, and a
// wrong one ends the bench with an error and a non-zero exit status.
import { BenchError } from './guest';
import { CPU_LOOP_INSNS_PER_ITERATION, runCpuLoop } from './cpu-loop';
import { runNativeCpuLoop } from './native';
import { COPY_BYTES, runRepMovsb } from './rep-movsb';
import { runCallRet } from './call-ret';
import { runCpuidExits, runIoExits } from './vmx-exits';
import { Report, seconds } from './report';
import { DAP_FULL, DAP_QUICK, runDapBench } from './dap-round-trip';

interface Counts {
  cpuLoop: number;
  native: number;
  movsbRepeats: number;
  callRet: number;
  exits: number;
}

// Full counts: each emulated run takes about a second or two at the current speed.
const FULL: Counts = {
  cpuLoop: 10_000_000, // 100 M instructions
  native: 1_000_000_000, // 10 G instructions: about half a second on a current host
  movsbRepeats: 500, // 32 MiB copied
  callRet: 20_000_000, // 100 M instructions
  exits: 1_000_000, // a million exits of each kind
};

function scaled(c: Counts, divisor: number): Counts {
  return {
    cpuLoop: Math.ceil(c.cpuLoop / divisor),
    native: Math.ceil(c.native / divisor),
    movsbRepeats: Math.ceil(c.movsbRepeats / divisor),
    callRet: Math.ceil(c.callRet / divisor),
    exits: Math.ceil(c.exits / divisor),
  };
}

function mips(instructions: number, s: number): number {
  return instructions / s / 1e6;
}

async function main(argv: string[]): Promise<void> {
  const unknown = argv.filter((a) => a !== '--json' && a !== '--quick' && a !== '--exits');
  if (unknown.length > 0) throw new BenchError(`unknown argument ${unknown.join(' ')} (use --json, --quick, --exits)`);
  const report = new Report(argv.includes('--json'));
  const counts = argv.includes('--quick') ? scaled(FULL, 10) : FULL;
  // Short runs of every kernel first, so V8 has compiled the hot paths before timing starts
  // (and so a wrong result shows before the long runs).
  const warm = scaled(counts, 100);
  if (argv.includes('--exits')) {
    runCpuidExits(warm.exits);
    runIoExits(warm.exits);
    exitFigures(report, counts);
    return;
  }
  runCpuLoop(warm.cpuLoop);
  runRepMovsb(warm.movsbRepeats);
  runCallRet(warm.callRet);
  runCpuidExits(warm.exits);
  runIoExits(warm.exits);

  const loop = runCpuLoop(counts.cpuLoop);
  const emulated = mips(loop.instructions, loop.seconds);
  report.figure('cpu-loop', emulated, 'MIPS', `${loop.instructions} instructions in ${seconds(loop.seconds)}`);

  const native = runNativeCpuLoop(counts.native);
  if (native.kind === 'ok') {
    const insns = counts.native * CPU_LOOP_INSNS_PER_ITERATION;
    const nativeMips = mips(insns, native.seconds);
    report.figure('cpu-loop-native', nativeMips, 'MIPS', `${insns} instructions in ${seconds(native.seconds)}`, 'cpu-loop native');
    report.figure('cpu-loop-ratio', nativeMips / emulated, 'x', '', 'ratio native/emulated');
  } else {
    report.note(`cpu-loop native: skipped (${native.reason})`);
  }

  const copy = runRepMovsb(counts.movsbRepeats);
  const bytesPerSecond = copy.bytes / copy.seconds;
  report.figure('rep-movsb', bytesPerSecond / 1e6, 'MB/s',
    `${Math.round(bytesPerSecond)} bytes/s; ${counts.movsbRepeats} x ${COPY_BYTES} bytes in ${seconds(copy.seconds)}`);

  const calls = runCallRet(counts.callRet);
  report.figure('call-ret', mips(calls.instructions, calls.seconds), 'MIPS',
    `${calls.instructions} instructions in ${seconds(calls.seconds)}`);

  exitFigures(report, counts);

  await runDapBench(report, argv.includes('--quick') ? DAP_QUICK : DAP_FULL);
}

function exitFigures(report: Report, counts: Counts): void {
  const cpuid = runCpuidExits(counts.exits);
  report.figure('cpuid-exits', cpuid.exits / cpuid.seconds, 'exits/s', `${cpuid.exits} exits handled by VmxVcpu in ${seconds(cpuid.seconds)}`);
  const io = runIoExits(counts.exits);
  report.figure('io-exits', io.exits / io.seconds, 'exits/s', `${io.exits} exits handled by the VMM in ${seconds(io.seconds)}`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  // A BenchError is a wrong result or bad usage; anything else is a bug, so keep its stack.
  process.stderr.write(`bench: error: ${e instanceof BenchError ? e.message : (e instanceof Error ? e.stack : String(e))}\n`);
  process.exitCode = 1;
});
