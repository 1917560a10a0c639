// Control-transfer cost: a loop that calls a two-instruction function, so every iteration
// pushes and pops a return address and leaves the straight-line block three times.
import { AsmLine, bootGuest, BenchError, expectReg, Reg, runToHalt, STACK_TOP, TimedRun } from './guest';

const PROGRAM: AsmLine[] = [
  { asm: 'again:', bytes: [] },
  { asm: 'call f', bytes: [0xe8, 0x06, 0x00, 0x00, 0x00] }, // f is 6 bytes past the call's end
  { asm: 'dec rcx', bytes: [0x48, 0xff, 0xc9] },
  { asm: 'jnz again', bytes: [0x75, 0xf6] }, // back 10 bytes, to `again`
  { asm: 'hlt', bytes: [0xf4] },
  { asm: 'f:', bytes: [] },
  { asm: 'add rax, 1', bytes: [0x48, 0x83, 0xc0, 0x01] },
  { asm: 'ret', bytes: [0xc3] },
];
export const CALL_RET_INSNS_PER_ITERATION = 5;

export function runCallRet(iterations: number): TimedRun {
  const what = `call-ret (${iterations} iterations)`;
  const cpu = bootGuest(PROGRAM);
  cpu.setReg(Reg.rax, 0n);
  cpu.setReg(Reg.rcx, BigInt(iterations));
  const expectedInsns = iterations * CALL_RET_INSNS_PER_ITERATION + 1; // + HLT
  const run = runToHalt(cpu, expectedInsns * 2, what);

  expectReg(cpu, Reg.rax, BigInt(iterations), what);
  expectReg(cpu, Reg.rcx, 0n, what);
  expectReg(cpu, Reg.rsp, BigInt(STACK_TOP), what);
  if (run.instructions !== expectedInsns) {
    throw new BenchError(`${what}: retired ${run.instructions} instructions, expected ${expectedInsns}`);
  }
  return run;
}
