// The CPU loop from the issue: ALU work, a shift, a load/add/store through one data word
// and a counted back-branch, ten instructions per iteration, in 64-bit mode with paging.
import {
  AsmLine, bootGuest, BenchError, DATA_ADDRESS, expectReg, hex, Reg, runToHalt, TimedRun,
} from './guest';

/** The loop itself (label plus ten instructions); the native build uses the same text. */
export const CPU_LOOP_BODY: AsmLine[] = [
  { asm: 'top:', bytes: [] },
  { asm: 'add rax, rcx', bytes: [0x48, 0x01, 0xc8] },
  { asm: 'xor rbx, rax', bytes: [0x48, 0x31, 0xc3] },
  { asm: 'shl rdx, 1', bytes: [0x48, 0xd1, 0xe2] },
  { asm: 'mov r8, [rsi]', bytes: [0x4c, 0x8b, 0x06] },
  { asm: 'add r8, rbx', bytes: [0x49, 0x01, 0xd8] },
  { asm: 'mov [rsi], r8', bytes: [0x4c, 0x89, 0x06] },
  { asm: 'or rdx, rax', bytes: [0x48, 0x09, 0xc2] },
  { asm: 'inc rcx', bytes: [0x48, 0xff, 0xc1] },
  { asm: 'cmp rcx, r9', bytes: [0x4c, 0x39, 0xc9] },
  { asm: 'jnz top', bytes: [0x75, 0xe3] }, // back 29 bytes, to `top`
];
export const CPU_LOOP_INSNS_PER_ITERATION = 10;

/** Starting values: arbitrary, but non-zero so the checked results depend on every step. */
export const CPU_LOOP_INIT = {
  rax: 0x0123_4567_89ab_cdefn,
  rbx: 0xfedc_ba98_7654_3210n,
  rdx: 1n,
  word: 0x5555_aaaa_5555_aaaan,
} as const;

const PROGRAM: AsmLine[] = [...CPU_LOOP_BODY, { asm: 'hlt', bytes: [0xf4] }];

export function runCpuLoop(iterations: number): TimedRun {
  const what = `cpu-loop (${iterations} iterations)`;
  const cpu = bootGuest(PROGRAM);
  cpu.setReg(Reg.rax, CPU_LOOP_INIT.rax);
  cpu.setReg(Reg.rbx, CPU_LOOP_INIT.rbx);
  cpu.setReg(Reg.rdx, CPU_LOOP_INIT.rdx);
  cpu.setReg(Reg.rcx, 0n);
  cpu.setReg(Reg.rsi, BigInt(DATA_ADDRESS));
  cpu.setReg(Reg.r9, BigInt(iterations));
  cpu.mem.write64(DATA_ADDRESS, CPU_LOOP_INIT.word);
  const expectedInsns = iterations * CPU_LOOP_INSNS_PER_ITERATION + 1; // + HLT
  const run = runToHalt(cpu, expectedInsns * 2, what);

  // Check the whole result against a model, so a fast but wrong emulator cannot pass.
  const want = cpuLoopModel(iterations);
  expectReg(cpu, Reg.rcx, BigInt(iterations), what);
  expectReg(cpu, Reg.rax, want.rax, what);
  expectReg(cpu, Reg.rbx, want.rbx, what);
  expectReg(cpu, Reg.rdx, want.rdx, what);
  const word = cpu.mem.read64(DATA_ADDRESS);
  if (word !== want.word) throw new BenchError(`${what}: data word is ${hex(word)}, expected ${hex(want.word)}`);
  if (run.instructions !== expectedInsns) {
    throw new BenchError(`${what}: retired ${run.instructions} instructions, expected ${expectedInsns}`);
  }
  return run;
}

/**
 * The loop computed on 32-bit halves (BigInt would take seconds for 10 M iterations).
 * rcx stays below 2^32, so its high half is zero.
 */
export function cpuLoopModel(iterations: number): { rax: bigint; rbx: bigint; rdx: bigint; word: bigint } {
  const lo = (v: bigint): number => Number(v & 0xffff_ffffn);
  const hi = (v: bigint): number => Number(v >> 32n);
  let axL = lo(CPU_LOOP_INIT.rax), axH = hi(CPU_LOOP_INIT.rax);
  let bxL = lo(CPU_LOOP_INIT.rbx), bxH = hi(CPU_LOOP_INIT.rbx);
  let dxL = lo(CPU_LOOP_INIT.rdx), dxH = hi(CPU_LOOP_INIT.rdx);
  let mL = lo(CPU_LOOP_INIT.word), mH = hi(CPU_LOOP_INIT.word);
  for (let rcx = 0; rcx < iterations; rcx++) {
    let s = axL + rcx; // add rax, rcx
    axL = s >>> 0;
    axH = (axH + (s > 0xffff_ffff ? 1 : 0)) >>> 0;
    bxL = (bxL ^ axL) >>> 0; // xor rbx, rax
    bxH = (bxH ^ axH) >>> 0;
    dxH = ((dxH << 1) | (dxL >>> 31)) >>> 0; // shl rdx, 1
    dxL = (dxL << 1) >>> 0;
    s = mL + bxL; // [rsi] += rbx (via r8)
    mL = s >>> 0;
    mH = (mH + bxH + (s > 0xffff_ffff ? 1 : 0)) >>> 0;
    dxL = (dxL | axL) >>> 0; // or rdx, rax
    dxH = (dxH | axH) >>> 0;
  }
  const join = (h: number, l: number): bigint => (BigInt(h) << 32n) | BigInt(l);
  return { rax: join(axH, axL), rbx: join(bxH, bxL), rdx: join(dxH, dxL), word: join(mH, mL) };
}
