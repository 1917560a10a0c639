// Memory-copy throughput: REP MOVSB over a 64 KiB block, repeated, in 64-bit mode.
import { AsmLine, bootGuest, BenchError, DATA_ADDRESS, expectReg, Reg, runToHalt } from './guest';

export const COPY_BYTES = 64 << 10;
const SRC = DATA_ADDRESS;
const DST = DATA_ADDRESS + 0x10_0000;

const PROGRAM: AsmLine[] = [
  { asm: 'again:', bytes: [] },
  { asm: 'mov rsi, r10', bytes: [0x4c, 0x89, 0xd6] },
  { asm: 'mov rdi, r11', bytes: [0x4c, 0x89, 0xdf] },
  { asm: 'mov rcx, r12', bytes: [0x4c, 0x89, 0xe1] },
  { asm: 'rep movsb', bytes: [0xf3, 0xa4] },
  { asm: 'dec r13', bytes: [0x49, 0xff, 0xcd] },
  { asm: 'jnz again', bytes: [0x75, 0xf0] }, // back 16 bytes, to `again`
  { asm: 'hlt', bytes: [0xf4] },
];

export interface CopyRun {
  bytes: number;
  seconds: number;
}

export function runRepMovsb(repeats: number): CopyRun {
  const what = `rep-movsb (${repeats} x ${COPY_BYTES} bytes)`;
  const cpu = bootGuest(PROGRAM);
  // Pseudo-random source, so a copy that drops or reorders bytes shows in the check.
  const src = new Uint8Array(COPY_BYTES);
  let x = 0x9e37_79b9;
  for (let k = 0; k < src.length; k++) {
    x = (Math.imul(x, 1_664_525) + 1_013_904_223) >>> 0;
    src[k] = x >>> 24;
  }
  cpu.mem.writeBytes(SRC, src);
  cpu.setReg(Reg.r10, BigInt(SRC));
  cpu.setReg(Reg.r11, BigInt(DST));
  cpu.setReg(Reg.r12, BigInt(COPY_BYTES));
  cpu.setReg(Reg.r13, BigInt(repeats));
  // A REP MOVSB retires in chunks, not per byte, so bound the run by bytes: generous.
  const run = runToHalt(cpu, repeats * (COPY_BYTES + 6) + 1, what);

  expectReg(cpu, Reg.r13, 0n, what);
  expectReg(cpu, Reg.rcx, 0n, what);
  expectReg(cpu, Reg.rsi, BigInt(SRC + COPY_BYTES), what);
  expectReg(cpu, Reg.rdi, BigInt(DST + COPY_BYTES), what);
  const dst = cpu.mem.readBytes(DST, COPY_BYTES);
  const bad = dst.findIndex((b, k) => b !== src[k]);
  if (bad >= 0) throw new BenchError(`${what}: destination byte ${bad} is ${dst[bad]}, expected ${src[bad]}`);
  return { bytes: repeats * COPY_BYTES, seconds: run.seconds };
}
