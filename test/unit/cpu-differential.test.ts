// The emulated CPU against this machine's CPU: random user-mode instruction sequences run both
// natively (test/native oracle) and on the emulator from the same registers, flags and memory;
// every register, the status flags the SDM defines, DF, memory and any exception must agree.
// VMX_DIFF_CASES=N runs more cases; VMX_DIFF_SEED picks another seed.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assembleIntelMany, nativeOracleAvailable, runNative, NativeCase } from '../support/native-cpu';
import { EmuRunner } from '../support/emu-runner';
import { generateCase, Rng, GeneratedCase } from '../support/insn-gen';

const CASES = Number(process.env.VMX_DIFF_CASES ?? 20000);
const SEED = Number(process.env.VMX_DIFF_SEED ?? 1);

/** Exception vectors as the oracle reports them (trap numbers), and the emulator's -1 for none. */
function nativeVector(signal: number, trap: number): number {
  return signal === 0 ? -1 : trap;
}

function describe(gc: GeneratedCase): string {
  return gc.lines.join('; ');
}

test(`emulated CPU matches this machine's CPU on ${CASES} random sequences (seed ${SEED})`, { skip: !nativeOracleAvailable() && 'no C compiler or not x86-64 Linux' }, () => {
  const rng = new Rng(SEED);
  const emu = new EmuRunner();
  const failures: string[] = [];
  let compared = 0;
  let tAsm = 0, tNative = 0, tEmu = 0;
  // batches keep memory bounded: each case carries a 64 KiB data image
  for (let start = 0; start < CASES && failures.length < 10; start += BATCH) {
    const generated: GeneratedCase[] = [];
    for (let k = start; k < Math.min(CASES, start + BATCH); k++) generated.push(generateCase(rng));
    const r = runBatch(emu, generated, start, failures);
    compared += r.compared;
    tAsm += r.tAsm; tNative += r.tNative; tEmu += r.tEmu;
  }
  console.log(`differential: ${compared} cases; assemble ${tAsm} ms, native ${tNative} ms, emulate+compare ${tEmu} ms`);
  assert.equal(failures.length, 0, `${failures.length} mismatching case(s) of ${compared}:\n${failures.join('\n')}`);
});

const BATCH = 1000;
const names = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

function runBatch(emu: EmuRunner, generated: GeneratedCase[], first: number, failures: string[]) {
  let t = Date.now();
  const codes = assembleIntelMany(generated.map((g) => g.lines));
  const tAsm = Date.now() - t;
  const cases: NativeCase[] = generated.map((g, k) => ({ regs: g.regs, rflags: g.rflags, data: g.data, code: codes[k] }));
  t = Date.now();
  const native = runNative(cases);
  const tNative = Date.now() - t;
  t = Date.now();
  let compared = 0;
  for (let k = 0; k < cases.length && failures.length < 10; k++) {
    const n = native[k];
    const e = emu.run(cases[k]);
    const g = generated[k];
    const nv = nativeVector(n.signal, n.trapNumber);
    const problems: string[] = [];
    if (nv !== e.vector) {
      problems.push(`exception: native ${nv} (signal ${n.signal}), emulated ${e.vector} ${e.detail}`);
    } else {
      for (let r = 0; r < 16; r++) {
        if (n.regs[r] !== e.regs[r]) problems.push(`${names[r]}: native 0x${n.regs[r].toString(16)}, emulated 0x${e.regs[r].toString(16)}`);
      }
      const mask = g.flagMask;
      if ((n.rflags & mask) !== (e.rflags & mask)) problems.push(`rflags (mask 0x${mask.toString(16)}): native 0x${n.rflags.toString(16)}, emulated 0x${e.rflags.toString(16)}`);
      if (nv < 0 || nv === 0) {
        const nd = n.data;
        for (let b = 0; b < nd.length; b++) {
          if (nd[b] !== e.data[b]) { problems.push(`data[0x${b.toString(16)}]: native 0x${nd[b].toString(16)}, emulated 0x${e.data[b].toString(16)}`); break; }
        }
      }
    }
    compared++;
    if (problems.length > 0) failures.push(`case ${first + k}: ${describe(g)}\n    ${problems.slice(0, 4).join('\n    ')}`);
  }
  return { compared, tAsm, tNative, tEmu: Date.now() - t };
}
