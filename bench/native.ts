// The same CPU loop on the host CPU, for the native/emulated ratio: built at bench time as a
// tiny static ELF (GNU as + ld, no libc) from the loop text the emulator runs, and timed by
// wall clock around the child process. Startup costs about a millisecond, noise next to the
// half second or more of the full run, so nothing is subtracted. The program prints its
// final registers, and a short build is checked against the same model as the emulated run.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BenchError, hex } from './guest';
import { CPU_LOOP_BODY, CPU_LOOP_INIT, cpuLoopModel } from './cpu-loop';

/** Iterations of the build whose results are checked against the model (fast to model). */
const CHECK_ITERATIONS = 1_000_000;

export type NativeOutcome =
  | { kind: 'ok'; seconds: number }
  | { kind: 'skipped'; reason: string };

function toolMissing(tool: string): boolean {
  const r = spawnSync(tool, ['--version'], { stdio: 'ignore' });
  return r.error !== undefined || r.status !== 0;
}

function source(iterations: number): string {
  return [
    '.intel_syntax noprefix',
    '.globl _start',
    '.text',
    '_start:',
    `mov rax, ${hex(CPU_LOOP_INIT.rax)}`,
    `mov rbx, ${hex(CPU_LOOP_INIT.rbx)}`,
    `mov rdx, ${hex(CPU_LOOP_INIT.rdx)}`,
    'xor ecx, ecx',
    `mov r9, ${iterations}`,
    'lea rsi, [rip + data_word]',
    ...CPU_LOOP_BODY.map((l) => l.asm),
    // write(1, rsp, 32) of rax, rbx, rdx and the data word, then exit(0)
    'push qword ptr [rsi]',
    'push rdx',
    'push rbx',
    'push rax',
    'mov eax, 1',
    'mov edi, 1',
    'mov rsi, rsp',
    'mov edx, 32',
    'syscall',
    'mov eax, 60',
    'xor edi, edi',
    'syscall',
    '.data',
    '.balign 8',
    `data_word: .quad ${hex(CPU_LOOP_INIT.word)}`,
    '',
  ].join('\n');
}

function check(tool: string, r: { error?: Error; status: number | null; signal: NodeJS.Signals | null; stderr: unknown }): void {
  if (r.error !== undefined) throw new BenchError(`native: cannot run ${tool}: ${r.error.message}`);
  if (r.status !== 0) throw new BenchError(`native: ${tool} failed (status ${r.status ?? r.signal}):\n${String(r.stderr)}`);
}

function build(dir: string, name: string, iterations: number): string {
  const src = path.join(dir, `${name}.s`);
  const obj = path.join(dir, `${name}.o`);
  const exe = path.join(dir, name);
  fs.writeFileSync(src, source(iterations));
  check('as', spawnSync('as', ['--64', '-o', obj, src], { encoding: 'utf8' }));
  check('ld', spawnSync('ld', ['-static', '-o', exe, obj], { encoding: 'utf8' }));
  return exe;
}

/** Runs a short build and compares what it prints with the model: the timed code is right. */
function checkResults(exe: string): void {
  const r = spawnSync(exe, [], { stdio: ['ignore', 'pipe', 'pipe'] });
  check('the native loop', r);
  const out = r.stdout;
  const want = cpuLoopModel(CHECK_ITERATIONS);
  const expected = [want.rax, want.rbx, want.rdx, want.word];
  const names = ['rax', 'rbx', 'rdx', 'data word'];
  if (out.length !== 32) throw new BenchError(`native: the check build printed ${out.length} bytes, expected 32`);
  expected.forEach((v, k) => {
    const got = out.readBigUInt64LE(8 * k);
    if (got !== v) throw new BenchError(`native: ${names[k]} is ${hex(got)} after ${CHECK_ITERATIONS} iterations, expected ${hex(v)}`);
  });
}

/**
 * Builds the loop, checks a short build's results, then runs the long build `runs` times and
 * returns the fastest wall time (the first run may still pay for the CPU clocking up or the
 * binary being paged in).
 */
export function runNativeCpuLoop(iterations: number, runs = 2): NativeOutcome {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { kind: 'skipped', reason: `needs x86-64 Linux, this is ${process.platform}/${process.arch}` };
  }
  const missing = ['as', 'ld'].filter(toolMissing);
  if (missing.length > 0) return { kind: 'skipped', reason: `${missing.join(' and ')} not found (install binutils)` };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-debug-bench-'));
  try {
    checkResults(build(dir, 'check', CHECK_ITERATIONS));
    const exe = build(dir, 'loop', iterations);
    let best = Infinity;
    for (let k = 0; k < runs; k++) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(exe, [], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      check('the native loop', r);
      best = Math.min(best, seconds);
    }
    return { kind: 'ok', seconds: best };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
