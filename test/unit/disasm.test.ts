// The disassembly text against GNU objdump on this machine: instructions assembled by GNU as
// (random ones in 64-bit mode, hand-picked system instructions, 16- and 32-bit code) are
// disassembled by src/hardware/disasm.ts and by `objdump -D -b binary -M intel` from the same
// bytes, and the two texts must agree up to whitespace. VMX_DISASM_CASES=N runs more random
// instructions; VMX_DISASM_SEED picks another seed.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assembleIntelMany, nativeOracleAvailable } from '../support/native-cpu';
import { normalize, objdump, objdumpAvailable } from '../support/objdump';
import { Rng } from '../support/insn-gen';
import { randomInstruction } from '../support/disasm-gen';
import { disassemble, DisassembledInsn } from '../../src/hardware/disasm';

const skip = !(nativeOracleAvailable() && objdumpAvailable()) && 'needs GNU as and objdump';
const CASES = Number(process.env.VMX_DISASM_CASES ?? 20000);
const SEED = Number(process.env.VMX_DISASM_SEED ?? 1);

/**
 * Where we knowingly print something other than objdump, and why. Each entry: the objdump
 * text (normalized) matched by `objdump`, and what we print instead.
 */
const DEVIATIONS: Array<{ objdump: RegExp; ours: (o: string) => string; why: string }> = [
  { objdump: /^xchg ax,ax$/, ours: () => 'nop', why: '66 90 is the two-byte NOP (SDM Vol. 2B, NOP); the decoder executes it as one' },
];

interface Mismatch { source: string; bytes: string; objdump: string; ours: string }

/**
 * Assembles each snippet (one instruction, in `mode`), disassembles all of them from one
 * buffer with both disassemblers, and returns the snippets whose text or length differs.
 */
function compare(snippets: string[], mode: 16 | 32 | 64, vma = 0n): { compared: number; mismatches: Mismatch[] } {
  const directive = mode === 16 ? '.code16' : mode === 32 ? '.code32' : '.code64';
  const assembled = assembleIntelMany(snippets.map((s) => [directive, ...s.split(';')]));
  const total = assembled.reduce((n, b) => n + b.length, 0);
  const buf = new Uint8Array(total);
  const starts: number[] = [];
  let off = 0;
  for (const b of assembled) { starts.push(off); buf.set(b, off); off += b.length; }
  const theirs = new Map(objdump(buf, mode, vma).map((e) => [e.address, e]));
  const ours = new Map<bigint, DisassembledInsn>(disassemble(buf, vma, mode).map((e) => [e.address, e]));
  const mismatches: Mismatch[] = [];
  snippets.forEach((source, k) => {
    const end = starts[k] + assembled[k].length;
    for (let a = starts[k]; a < end;) {
      const at = vma + BigInt(a);
      const t = theirs.get(at);
      const o = ours.get(at);
      const hexBytes = Array.from(buf.subarray(a, Math.min(end, a + 15)), (x) => x.toString(16).padStart(2, '0')).join(' ');
      if (t === undefined || o === undefined) {
        mismatches.push({ source, bytes: hexBytes, objdump: t?.text ?? '(no entry)', ours: o?.text ?? '(no entry)' });
        break;
      }
      let expected = t.text;
      for (const d of DEVIATIONS) if (d.objdump.test(expected)) expected = d.ours(expected);
      const got = normalize(o.text);
      if (got !== expected || o.length !== t.bytes.length) {
        mismatches.push({ source, bytes: hexBytes, objdump: `${t.text} [${t.bytes.length}]`, ours: `${got} [${o.length}]` });
        break;
      }
      a += o.length;
    }
  });
  return { compared: snippets.length, mismatches };
}

function report(m: Mismatch[]): string {
  return m.slice(0, 40).map((x) => `  ${x.source}\n    bytes   ${x.bytes}\n    objdump ${x.objdump}\n    ours    ${x.ours}`).join('\n');
}

function expectSame(snippets: string[], mode: 16 | 32 | 64, vma = 0n): void {
  const r = compare(snippets, mode, vma);
  assert.equal(r.mismatches.length, 0, `${r.mismatches.length} of ${r.compared} differ from objdump:\n${report(r.mismatches)}`);
}

test(`${CASES} random 64-bit instructions print as objdump prints them (seed ${SEED})`, { skip }, () => {
  const rng = new Rng(SEED);
  const lines: string[] = [];
  for (let k = 0; k < CASES; k++) lines.push(randomInstruction(rng));
  expectSame(lines, 64, 0xffff_8000_0010_0000n);
});
