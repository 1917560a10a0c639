// Random instruction sequences for the differential test against this machine's CPU. Each
// case is a few instructions in Intel syntax plus the registers, flags and data they start
// from, and the set of status flags the SDM leaves undefined after them (masked, and only
// those). An instruction that leaves a flag undefined is always the last of its case, so no
// later instruction can consume an undefined flag.

import { NATIVE_DATA_ADDRESS } from './native-cpu';

/** A deterministic PRNG (xorshift64*), so a failing seed can be rerun. */
export class Rng {
  private s: bigint;
  constructor(seed: number) { this.s = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n; }
  next64(): bigint {
    let x = this.s;
    x ^= x >> 12n; x ^= (x << 25n) & 0xffffffffffffffffn; x ^= x >> 27n;
    this.s = x;
    return (x * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn;
  }
  int(n: number): number { return Number(this.next64() % BigInt(n)); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]; }
  chance(p: number): boolean { return this.int(1000) < p * 1000; }
  /** A 64-bit value biased toward the edges where flags and carries change. */
  value(): bigint {
    switch (this.int(8)) {
      case 0: return this.pick([0n, 1n, 0xffffffffffffffffn, 0x8000000000000000n, 0x7fffffffffffffffn]);
      case 1: return this.pick([0x80n, 0x7fn, 0xffn, 0x8000n, 0x7fffn, 0xffffn, 0x80000000n, 0x7fffffffn, 0xffffffffn]);
      case 2: return BigInt(this.int(256));
      case 3: return this.next64() & 0xffffffffn;
      case 4: return (this.next64() & 0xffffffff00000000n) | BigInt(this.pick([0, 1, 0x7f, 0x80, 0xff]));
      default: return this.next64();
    }
  }
}

export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
export const ALL = CF | PF | AF | ZF | SF | OF;

/**
 * Status flags the SDM leaves undefined after a shift or rotate of `size` bytes by `masked`
 * (the count after masking to 5 or 6 bits): AF and, for counts other than 1, OF for shifts;
 * OF for rotates by more than 1; CF for SHL/SHR when the count reaches the operand width.
 */
export function shiftUndefinedFlags(op: string, size: number, masked: number): number {
  if (masked === 0) return 0;
  if (['shl', 'sal', 'shr', 'sar'].includes(op)) {
    let undef = AF | (masked !== 1 ? OF : 0);
    if ((op === 'shl' || op === 'sal' || op === 'shr') && size <= 2 && masked >= size * 8) undef |= CF;
    return undef;
  }
  return masked !== 1 ? OF : 0;
}

/** Registers a case may overwrite freely; rbx, rsi, rdi point into the data area, r12 is a small index. */
const FREE = ['rax', 'rcx', 'rdx', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r13', 'r14', 'r15'];
const N32: Record<string, string> = { rax: 'eax', rcx: 'ecx', rdx: 'edx', rbx: 'ebx', rsp: 'esp', rbp: 'ebp', rsi: 'esi', rdi: 'edi' };
const N16: Record<string, string> = { rax: 'ax', rcx: 'cx', rdx: 'dx', rbx: 'bx', rsp: 'sp', rbp: 'bp', rsi: 'si', rdi: 'di' };
const N8: Record<string, string> = { rax: 'al', rcx: 'cl', rdx: 'dl', rbx: 'bl', rsp: 'spl', rbp: 'bpl', rsi: 'sil', rdi: 'dil' };
const HIGH8 = ['ah', 'ch', 'dh']; // bh would write rbx, a pointer register

function sub(reg: string, size: number): string {
  if (size === 8) return reg;
  if (reg.startsWith('r') && /\d/.test(reg[1])) return reg + (size === 4 ? 'd' : size === 2 ? 'w' : 'b');
  return size === 4 ? N32[reg] : size === 2 ? N16[reg] : N8[reg];
}

const PTR: Record<number, string> = { 1: 'byte', 2: 'word', 4: 'dword', 8: 'qword', 16: 'xmmword' };

export interface Piece { text: string[]; undefinedFlags: number; last?: boolean; readsFlags?: boolean }

class Gen {
  constructor(readonly rng: Rng) {}
  size(): number { return this.rng.pick([1, 2, 4, 8, 8, 4]); }
  /** A register operand of `size`; for bytes sometimes AH/CH/DH (then `noRex` tells the caller). */
  reg(size: number, allowHigh = true): { name: string; high: boolean } {
    if (size === 1 && allowHigh && this.rng.chance(0.2)) return { name: this.rng.pick(HIGH8), high: true };
    const r = this.rng.pick(FREE);
    return { name: sub(r, size), high: false };
  }
  /** A memory operand inside the data area. */
  mem(size: number): string {
    const disp = this.rng.int(0x200) - 0x100;
    const d = disp >= 0 ? `+${disp}` : `${disp}`;
    // r12 needs a REX prefix, which byte forms with AH..DH cannot have
    const form = this.rng.int(5);
    switch (form === 2 && size === 1 ? 0 : form) {
      case 0: return `${PTR[size]} ptr [rbx${d}]`;
      case 1: return `${PTR[size]} ptr [rsi${d}]`;
      case 2: return `${PTR[size]} ptr [rbx+r12*${this.rng.pick([1, 2, 4, 8])}${d}]`;
      case 3: return `${PTR[size]} ptr [rsp${d}]`;
      default: return `${PTR[size]} ptr [rdi+rsi*1-${NATIVE_DATA_ADDRESS}${d}]`;
    }
  }
  imm(size: number): string {
    const v = this.rng.value();
    const bits = size === 8 ? 32 : size * 8;
    const x = BigInt.asIntN(bits, v);
    return x.toString();
  }
}

type Template = (g: Gen) => Piece;

const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];

/** Two operands that agree in size, and never mix AH..DH with a REX-requiring register. */
function dstSrc(g: Gen, size: number): [string, string] {
  const a = g.reg(size);
  const b = g.reg(size, !a.high ? true : true);
  // AH-style registers cannot be encoded together with r8b.. or sil/dil/bpl/spl
  if ((a.high || b.high) && size === 1) {
    const legacy = ['al', 'cl', 'dl', 'ah', 'ch', 'dh'];
    return [g.rng.pick(legacy), g.rng.pick(legacy)];
  }
  return [a.name, b.name];
}

const templates: Array<[number, Template]> = [
  [10, (g) => {
    const op = g.rng.pick(ALU), size = g.size();
    const logic = op === 'or' || op === 'and' || op === 'xor';
    const [d, s] = dstSrc(g, size);
    const form = g.rng.int(5);
    const text = form === 0 ? `${op} ${d}, ${s}` : form === 1 ? `${op} ${d}, ${g.imm(size)}`
      : form === 2 ? `${op} ${d}, ${g.mem(size)}` : form === 3 ? `${op} ${g.mem(size)}, ${s}` : `${op} ${g.mem(size)}, ${g.imm(size)}`;
    return { text: [text], undefinedFlags: logic ? AF : 0, readsFlags: op === 'adc' || op === 'sbb' };
  }],
  [3, (g) => {
    const size = g.size();
    const [d, s] = dstSrc(g, size);
    return { text: [g.rng.chance(0.5) ? `test ${d}, ${s}` : `test ${g.rng.chance(0.5) ? d : g.mem(size)}, ${g.imm(size)}`], undefinedFlags: AF };
  }],
  [4, (g) => {
    const op = g.rng.pick(['inc', 'dec', 'neg', 'not']), size = g.size();
    return { text: [`${op} ${g.rng.chance(0.7) ? g.reg(size).name : g.mem(size)}`], undefinedFlags: 0 };
  }],
  [6, (g) => {
    const op = g.rng.pick(['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sar', 'sal']), size = g.size();
    const count = g.rng.pick([0, 1, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, g.rng.int(256)]);
    const dst = g.rng.chance(0.7) ? g.reg(size).name : g.mem(size);
    const viaCl = g.rng.chance(0.4) && !dst.includes('cl') && !dst.includes('rcx') && !dst.includes('ecx') && !dst.includes(' cx') && !/\bch\b/.test(dst);
    const text = viaCl ? [`mov cl, ${count}`, `${op} ${dst}, cl`] : count === 1 && g.rng.chance(0.5) ? [`${op} ${dst}, 1`] : [`${op} ${dst}, ${count}`];
    const masked = count & (size === 8 ? 0x3f : 0x1f);
    return { text, undefinedFlags: shiftUndefinedFlags(op, size, masked), readsFlags: op === 'rcl' || op === 'rcr' };
  }],
  [4, (g) => {
    const op = g.rng.pick(['mul', 'imul', 'div', 'idiv']), size = g.size();
    const src = g.rng.chance(0.6) ? g.reg(size).name : g.mem(size);
    return { text: [`${op} ${src}`], undefinedFlags: op === 'mul' || op === 'imul' ? SF | ZF | AF | PF : ALL };
  }],
  [3, (g) => {
    const size = g.rng.pick([2, 4, 8]);
    const [d, s] = dstSrc(g, size);
    const form = g.rng.int(3);
    const text = form === 0 ? `imul ${d}, ${g.rng.chance(0.5) ? s : g.mem(size)}` : form === 1 ? `imul ${d}, ${s}, ${g.imm(size)}` : `imul ${d}, ${g.mem(size)}, ${g.rng.int(256) - 128}`;
    return { text: [text], undefinedFlags: SF | ZF | AF | PF };
  }],
  [4, (g) => {
    const op = g.rng.pick(['bt', 'bts', 'btr', 'btc']), size = g.rng.pick([2, 4, 8]);
    const form = g.rng.int(4);
    const idx = sub('r12', size);
    const text = form === 0 ? `${op} ${g.reg(size).name}, ${g.rng.int(256)}` : form === 1 ? `${op} ${g.reg(size).name}, ${g.reg(size).name}`
      : form === 2 ? `${op} ${g.mem(size)}, ${g.rng.int(256)}` : `${op} ${g.mem(size)}, ${idx}`;
    return { text: [text], undefinedFlags: OF | SF | AF | PF };
  }],
  [3, (g) => {
    const op = g.rng.pick(['bsf', 'bsr', 'tzcnt', 'lzcnt', 'popcnt']), size = g.rng.pick([2, 4, 8]);
    const [d, s] = dstSrc(g, size);
    const src = g.rng.chance(0.6) ? s : g.mem(size);
    const undef = op === 'bsf' || op === 'bsr' ? CF | OF | SF | AF | PF : op === 'popcnt' ? 0 : OF | SF | PF | AF;
    return { text: [`${op} ${d}, ${src}`], undefinedFlags: undef };
  }],
  [5, (g) => {
    const size = g.rng.pick([2, 4, 8]);
    const srcSize = g.rng.pick(size === 2 ? [1] : size === 4 ? [1, 2] : [1, 2, 4]);
    const op = srcSize === 4 ? 'movsxd' : g.rng.pick(['movzx', 'movsx']);
    const d = g.reg(size).name;
    const src = g.rng.chance(0.5) ? g.reg(srcSize, false).name : g.mem(srcSize);
    return { text: [`${op} ${d}, ${src}`], undefinedFlags: 0 };
  }],
  [4, (g) => {
    const cc = g.rng.pick(['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g']);
    const size = g.rng.pick([2, 4, 8]);
    const kind = g.rng.int(3);
    if (kind === 0) return { text: [`cmov${cc} ${g.reg(size).name}, ${g.rng.chance(0.5) ? g.reg(size).name : g.mem(size)}`], undefinedFlags: 0, readsFlags: true };
    if (kind === 1) return { text: [`set${cc} ${g.rng.chance(0.5) ? g.reg(1).name : g.mem(1)}`], undefinedFlags: 0, readsFlags: true };
    return { text: [`j${cc} 1f`, `xor eax, 0x5a5a`, '1:'], undefinedFlags: 0, readsFlags: true };
  }],
  [5, (g) => {
    const size = g.size();
    const [d, s] = dstSrc(g, size);
    const op = g.rng.pick(['mov', 'xchg', 'xadd', 'cmpxchg']);
    const form = g.rng.int(3);
    const text = form === 0 ? `${op} ${d}, ${s}` : op === 'mov' && form === 1 ? `mov ${d}, ${g.mem(size)}` : `${op} ${g.mem(size)}, ${s}`;
    return { text: [text], undefinedFlags: 0 };
  }],
  [3, (g) => {
    const size = g.rng.pick([2, 4, 8]);
    const d = g.reg(size).name;
    const forms = [`lea ${d}, [rbx+rsi*2+${g.rng.int(1000)}]`, `lea ${d}, [rax+rcx*8-7]`, `lea ${d}, [eax+edx*4+0x7fff]`, `lea ${d}, [rip+0x1234]`, `lea ${d}, [r13+r9*1]`];
    return { text: [g.rng.pick(forms)], undefinedFlags: 0 };
  }],
  [3, (g) => {
    const op = g.rng.pick(['cbw', 'cwde', 'cdqe', 'cwd', 'cdq', 'cqo', 'lahf', 'sahf', 'clc', 'stc', 'cmc']);
    const reads = op === 'lahf' || op === 'cmc';
    return { text: [op], undefinedFlags: 0, readsFlags: reads };
  }],
  [3, (g) => {
    const size = g.rng.pick([4, 8]);
    return { text: [`bswap ${g.reg(size).name}`], undefinedFlags: 0 };
  }],
  [3, (g) => {
    const reg = g.rng.pick(FREE);
    const form = g.rng.int(4);
    const text = form === 0 ? [`push ${reg}`, `pop ${g.rng.pick(FREE)}`] : form === 1 ? [`push ${g.rng.int(65536) - 32768}`, `pop ${reg}`]
      : form === 2 ? [`push qword ptr [rbx+${g.rng.int(64) * 8}]`, `pop qword ptr [rsi+${g.rng.int(64) * 8}]`] : [`push ${sub(reg, 2)}`, `pop ${sub(g.rng.pick(FREE), 2)}`];
    return { text, undefinedFlags: 0 };
  }],
  [2, (g) => {
    const size = g.rng.pick([2, 4, 8]);
    const op = g.rng.pick(['shld', 'shrd']);
    const count = g.rng.pick([0, 1, 2, 5, 15, 16, 31, 32, 40, 63]);
    const masked = count & (size === 8 ? 0x3f : 0x1f);
    if (size === 2 && masked > 16) return { text: ['nop'], undefinedFlags: 0 };
    const [d, s] = dstSrc(g, size);
    return { text: [`${op} ${g.rng.chance(0.5) ? d : g.mem(size)}, ${s}, ${count}`], undefinedFlags: masked === 0 ? 0 : AF | (masked !== 1 ? OF : 0) };
  }],
  [2, (g) => {
    const op = g.rng.pick(['movsb', 'movsq', 'stosb', 'stosd', 'lodsw', 'cmpsb', 'scasq', 'movsw']);
    const rep = op.startsWith('cmps') || op.startsWith('scas') ? g.rng.pick(['repe ', 'repne ', '']) : g.rng.pick(['rep ', '']);
    return { text: [`mov ecx, ${g.rng.int(40)}`, `${rep}${op}`], undefinedFlags: 0 };
  }],
  [2, (g) => {
    const size = g.rng.pick([2, 4, 8]);
    const d = g.reg(size).name;
    return { text: [g.rng.chance(0.5) ? `movbe ${d}, ${g.mem(size)}` : `movbe ${g.mem(size)}, ${d}`], undefinedFlags: 0 };
  }],
  [2, (g) => {
    const size = g.rng.pick([4, 8]);
    const [d, s] = dstSrc(g, size);
    return { text: [`${g.rng.pick(['adcx', 'adox'])} ${d}, ${g.rng.chance(0.5) ? s : g.mem(size)}`], undefinedFlags: 0, readsFlags: true };
  }],
  [1, (g) => {
    const wide = g.rng.chance(0.5);
    return { text: [`${wide ? 'cmpxchg16b xmmword' : 'cmpxchg8b qword'} ptr [rbx+${g.rng.int(32) * 16}]`], undefinedFlags: 0 };
  }],
  [1, (g) => ({ text: [`mov ecx, ${1 + g.rng.int(5)}`, '2:', `add rax, rdx`, `loop 2b`], undefinedFlags: 0 })],
];

const TOTAL = templates.reduce((n, [w]) => n + w, 0);

function pickTemplate(rng: Rng): Template {
  let k = rng.int(TOTAL);
  for (const [w, t] of templates) { if (k < w) return t; k -= w; }
  return templates[0][1];
}

export interface GeneratedCase {
  lines: string[];
  /** 64 (absent) or 32: compatibility mode, where only the low 32 bits of registers are compared. */
  mode?: 64 | 32;
  /** Compatibility mode with DS/ES over the data area (see NativeCase.dataSegment). */
  dataSegment?: boolean;
  regs: bigint[];
  rflags: bigint;
  data: Uint8Array;
  /** Status flags to compare (all six minus those left undefined). */
  flagMask: bigint;
}

/** One case: 1-4 pieces; a piece with undefined flags ends the case. */
export function generateCase(rng: Rng): GeneratedCase {
  const g = new Gen(rng);
  const lines: string[] = [];
  let undef = 0;
  const n = 1 + rng.int(4);
  for (let k = 0; k < n; k++) {
    const p = pickTemplate(rng)(g);
    lines.push(...p.text);
    undef = p.undefinedFlags;
    if (undef !== 0) break;
  }
  const regs: bigint[] = [];
  for (let r = 0; r < 16; r++) regs.push(rng.value());
  const base = BigInt(NATIVE_DATA_ADDRESS);
  regs[3] = base + 0x4000n + BigInt(rng.int(0x100) * 8);   // rbx
  regs[6] = base + 0x6000n + BigInt(rng.int(0x100) * 8);   // rsi
  regs[7] = base + 0x8000n + BigInt(rng.int(0x100) * 8);   // rdi (rdi + rsi - base stays inside the area)
  regs[4] = base + 0xc000n;                                // rsp
  regs[12] = BigInt(rng.int(0x100));                       // r12: small index
  const data = randomDataArea(rng);
  const rflags = randomStatusFlags(rng);
  return { lines, regs, rflags, data, flagMask: BigInt(ALL & ~undef) | 0x400n };
}

/** The 64 KiB data area of a case: cheap 32-bit xorshift words with some zero and all-ones words mixed in. */
export function randomDataArea(rng: Rng): Uint8Array {
  const data = new Uint8Array(0x10000);
  const words = new Uint32Array(data.buffer);
  let x = (rng.int(0x7fffffff) | 1) >>> 0;
  for (let k = 0; k < words.length; k++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    words[k] = (x & 0xf) === 0 ? 0 : (x & 0xf) === 1 ? 0xffffffff : x;
  }
  return data;
}

/** Initial status flags of a case, DF set one time in five. */
export function randomStatusFlags(rng: Rng): bigint {
  return BigInt(rng.int(0x1000) & ALL) | (rng.chance(0.2) ? 0x400n : 0n);
}
