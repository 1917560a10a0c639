// The BCD adjustments DAA, DAS, AAA, AAS, AAM imm8 and AAD imm8 on the emulated CPU: worked
// decimal examples, #DE for AAM 0, #UD in 64-bit mode, and every AL value with a spread of AH
// values and incoming CF/AF compared with this machine's CPU in compatibility mode (only the
// flags the SDM defines for each instruction are compared).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assembleIntel, nativeCompatUnavailableReason, nativeOracleAvailable, NativeCase, runNative, NATIVE_DATA_ADDRESS } from '../support/native-cpu';
import { EmuRunner } from '../support/emu-runner';

const CF = 0x1n, PF = 0x4n, AF = 0x10n, ZF = 0x40n, SF = 0x80n, OF = 0x800n;
/** Flags the SDM defines after each instruction (the rest are undefined). */
const DEFINED: Record<string, bigint> = {
  daa: CF | AF | SF | ZF | PF, das: CF | AF | SF | ZF | PF,
  aaa: CF | AF, aas: CF | AF,
  aam: SF | ZF | PF, aad: SF | ZF | PF,
};

const skipAs = !nativeOracleAvailable() && 'needs GNU as';
const compatWhy = nativeCompatUnavailableReason();

function regsWith(ax: number): bigint[] {
  const regs = new Array<bigint>(16).fill(0n);
  regs[0] = 0xa5a5_a5a5_0000_0000n | 0x5a5a_0000n | BigInt(ax);
  regs[4] = BigInt(NATIVE_DATA_ADDRESS + 0x100);
  return regs;
}

function case32(text: string, ax: number, rflags: bigint): NativeCase {
  return { regs: regsWith(ax), rflags, data: new Uint8Array(0), code: assembleIntel([text], { bits: 32 }), mode: 32 };
}

test('BCD worked examples: decimal sums, differences, products and quotients', { skip: skipAs }, () => {
  const emu = new EmuRunner();
  const run = (lines: string[], ax: number, rflags = 0n) => {
    const r = emu.run({ regs: regsWith(ax), rflags, data: new Uint8Array(0), code: assembleIntel(lines, { bits: 32 }), mode: 32 });
    assert.equal(r.vector, -1, `${lines.join('; ')}: ${r.detail}`);
    return { ax: Number(r.regs[0] & 0xffffn), flags: r.rflags, upper: r.regs[0] >> 16n };
  };
  // 79 + 35 = 114: packed BCD 0x79 + 0x35 = 0xae, DAA gives 0x14 with a decimal carry
  let r = run(['add al, 0x35', 'daa'], 0x79);
  assert.equal(r.ax & 0xff, 0x14);
  assert.equal(r.flags & (CF | AF), CF | AF);
  assert.equal(r.upper, 0xa5a5_a5a5_5a5an, 'only AL changes');
  // 35 - 47 = -12: 0x35 - 0x47 = 0xee, DAS gives 0x88 (100 - 12) with a borrow
  r = run(['sub al, 0x47', 'das'], 0x35);
  assert.equal(r.ax & 0xff, 0x88);
  assert.equal(r.flags & CF, CF);
  // unpacked 8 + 7 = 15: AAA gives AH + 1 and AL = 5
  r = run(['add al, 7', 'aaa'], 0x0208);
  assert.equal(r.ax, 0x0305);
  assert.equal(r.flags & (CF | AF), CF | AF);
  // unpacked 3 - 5: AAS borrows from AH, AL = 8
  r = run(['sub al, 5', 'aas'], 0x0203);
  assert.equal(r.ax, 0x0108);
  assert.equal(r.flags & (CF | AF), CF | AF);
  // AAM 10 splits 63 into 6 and 3; AAD 10 joins them back; other bases work the same way
  r = run(['aam 10'], 63);
  assert.equal(r.ax, 0x0603);
  r = run(['aad 10'], 0x0603);
  assert.equal(r.ax, 63);
  assert.equal(r.flags & (ZF | SF), 0n);
  r = run(['aam 16'], 0xbe);
  assert.equal(r.ax, 0x0b0e);
  r = run(['aad 0'], 0x7f00);
  assert.equal(r.ax, 0, 'AAD 0 keeps nothing of AH');
  assert.equal(r.flags & (ZF | PF), ZF | PF);
});

test('AAM 0 raises #DE; all six are #UD in 64-bit mode', { skip: skipAs }, () => {
  const emu = new EmuRunner();
  const de = emu.run(case32('aam 0', 0x1234, 0n));
  assert.equal(de.vector, 0);
  assert.equal(de.faultOffset, 0);
  assert.equal(de.regs[0] & 0xffffn, 0x1234n, 'AX unchanged');
  // in 64-bit mode the same bytes are invalid opcodes
  for (const bytes of [[0x27], [0x2f], [0x37], [0x3f], [0xd4, 0x0a], [0xd5, 0x0a]]) {
    const r = emu.run({ regs: regsWith(0), rflags: 0n, data: new Uint8Array(0), code: new Uint8Array(bytes) });
    assert.equal(r.vector, 6, `0x${bytes[0].toString(16)} in 64-bit mode`);
  }
});

test('BCD against this machine\'s CPU: every AL, several AH, every CF/AF', { skip: compatWhy ?? false }, () => {
  const cases: NativeCase[] = [];
  const what: Array<{ name: string; ax: number; flags: bigint }> = [];
  const texts = ['daa', 'das', 'aaa', 'aas', 'aam 10', 'aam 16', 'aam 7', 'aam 255', 'aam 1', 'aad 10', 'aad 16', 'aad 7', 'aad 255', 'aad 0'];
  for (const text of texts) {
    const code = assembleIntel([text], { bits: 32 });
    // AAM/AAD read no flag: two incoming flag sets suffice for them
    const flagSets = text.startsWith('aa') && text.length > 3 ? [0n, CF | AF] : [0n, CF, AF, CF | AF];
    for (const ah of [0x00, 0x09, 0xff]) {
      for (let al = 0; al < 256; al++) {
        for (const flags of flagSets) {
          // give the undefined-in flags (SF ZF PF OF) a value too, so none leaks through
          const rflags = flags | ((al & 1) !== 0 ? SF | ZF | PF | OF : 0n);
          cases.push({ regs: regsWith((ah << 8) | al), rflags, data: new Uint8Array(0), code, mode: 32 });
          what.push({ name: text, ax: (ah << 8) | al, flags: rflags });
        }
      }
    }
  }
  const native = runNative(cases);
  const emu = new EmuRunner();
  const failures: string[] = [];
  cases.forEach((c, k) => {
    const n = native[k];
    const e = emu.run(c);
    const w = what[k];
    const mask = DEFINED[w.name.slice(0, 3)];
    const problems: string[] = [];
    if (n.signal !== 0) problems.push(`native signal ${n.signal}`);
    if (e.vector !== -1) problems.push(`emulated exception ${e.vector} ${e.detail}`);
    if ((n.regs[0] & 0xffff_ffffn) !== (e.regs[0] & 0xffff_ffffn)) problems.push(`eax native 0x${(n.regs[0] & 0xffff_ffffn).toString(16)}, emulated 0x${(e.regs[0] & 0xffff_ffffn).toString(16)}`);
    if ((n.rflags & mask) !== (e.rflags & mask)) problems.push(`flags (mask 0x${mask.toString(16)}) native 0x${n.rflags.toString(16)}, emulated 0x${e.rflags.toString(16)}`);
    if (problems.length > 0 && failures.length < 10) failures.push(`${w.name} ax=0x${w.ax.toString(16)} flags=0x${w.flags.toString(16)}: ${problems.join('; ')}`);
  });
  assert.equal(failures.length, 0, failures.join('\n'));
  assert.equal(cases.length, (4 * 4 + 10 * 2) * 3 * 256);
});
