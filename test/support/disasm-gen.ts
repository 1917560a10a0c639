// Random single instructions (64-bit, Intel syntax for GNU as) spread over the operand forms
// the emulated decoder knows: every register at every size, every addressing form, segment
// overrides, RIP-relative and 32-bit addresses, immediates at the sign-extension edges,
// prefixes. No labels, so thousands assemble in one `as` run.

import { Rng } from './insn-gen';

const R64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
const L32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const L16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const L8 = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil'];
const HIGH8 = ['ah', 'ch', 'dh', 'bh'];
const PTR: Record<number, string> = { 1: 'byte', 2: 'word', 4: 'dword', 8: 'qword' };
const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const SHIFTS = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sar'];

function reg(n: number, size: number): string {
  if (size === 8) return R64[n];
  if (n >= 8) return `r${n}${size === 4 ? 'd' : size === 2 ? 'w' : 'b'}`;
  return (size === 4 ? L32 : size === 2 ? L16 : L8)[n];
}

class Gen {
  constructor(readonly rng: Rng) {}
  size(): number { return this.rng.pick([1, 2, 4, 8]); }
  vsize(): number { return this.rng.pick([2, 4, 8]); }
  /** A register; bytes sometimes AH..BH (then `legacy` must hold for the other operand). */
  r(size: number, allowHigh = false): string {
    if (size === 1 && allowHigh && this.rng.chance(0.3)) return this.rng.pick(HIGH8);
    return reg(this.rng.int(16), size);
  }
  legacyByte(): string { return this.rng.pick(['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh']); }
  disp(): number {
    switch (this.rng.int(6)) {
      case 0: return 0;
      case 1: return this.rng.int(256) - 128;
      case 2: return this.rng.pick([127, 128, -128, -129, 0x7fffffff, -0x80000000]);
      default: return this.rng.int(0x20000) - 0x10000;
    }
  }
  /** A memory operand without size keyword. */
  addr(): string {
    const d = this.disp();
    const ds = d === 0 && this.rng.chance(0.5) ? '' : d < 0 ? `-${-d}` : `+${d}`;
    const seg = this.rng.chance(0.15) ? `${this.rng.pick(['fs', 'gs'])}:` : '';
    switch (this.rng.int(8)) {
      case 0: return `${seg}[rip${ds}]`;
      case 1: return `${seg}[${this.rng.pick(L32)}${ds}]`;
      case 2: return `${seg}[${this.rng.pick(L32)}+${this.rng.pick(L32.filter((x) => x !== 'esp'))}*${this.rng.pick([1, 2, 4, 8])}${ds}]`;
      case 3: return `${seg}[${R64[this.rng.int(16)]}+${R64[this.rng.pick([0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])]}*${this.rng.pick([1, 2, 4, 8])}${ds}]`;
      case 4: return `${seg}[${R64[this.rng.pick([0, 1, 2, 3, 5, 6, 7, 9])]}*${this.rng.pick([1, 2, 4, 8])}${ds}]`;
      case 5: return `${seg}${seg === '' ? 'ds:' : ''}${Math.abs(d) & 0x7fffffff}`;
      default: return `${seg}[${R64[this.rng.int(16)]}${ds}]`;
    }
  }
  m(size: number): string { return `${PTR[size]} ptr ${this.addr()}`; }
  imm(size: number): string {
    const bits = size === 8 ? 32 : size * 8;
    const v = this.rng.pick([0n, 1n, 0x7fn, 0x80n, -1n, -128n, -129n, 0x7fffn, -0x8000n, 0x12345678n, -0x80000000n, BigInt(this.rng.int(0x10000))]);
    return BigInt.asIntN(bits, v).toString();
  }
  /** dst, src of the same size, never AH..BH together with a REX-only register. */
  rr(size: number): [string, string] {
    if (size === 1 && this.rng.chance(0.3)) return [this.legacyByte(), this.legacyByte()];
    return [this.r(size), this.r(size)];
  }
}

type Template = (g: Gen) => string;

const TEMPLATES: Array<[number, Template]> = [
  [12, (g) => {
    const op = g.rng.pick(ALU), size = g.size();
    const [d, s] = g.rr(size);
    switch (g.rng.int(6)) {
      case 0: return `${op} ${d}, ${s}`;
      case 1: return `${op} ${d}, ${g.imm(size)}`;
      case 2: return `${op} ${d}, ${g.m(size)}`;
      case 3: return `${g.rng.chance(0.3) ? 'lock ' : ''}${op === 'cmp' ? 'add' : op} ${g.m(size)}, ${s}`;
      case 4: return `${op} ${reg(0, size)}, ${g.imm(size)}`;
      default: return `${op} ${g.m(size)}, ${g.imm(size)}`;
    }
  }],
  [3, (g) => { const size = g.size(); const [d, s] = g.rr(size); return g.rng.chance(0.5) ? `test ${d}, ${s}` : `test ${g.rng.chance(0.5) ? d : g.m(size)}, ${g.imm(size)}`; }],
  [4, (g) => { const size = g.size(); return `${g.rng.pick(['inc', 'dec', 'neg', 'not', 'mul', 'imul', 'div', 'idiv'])} ${g.rng.chance(0.5) ? g.r(size, true) : g.m(size)}`; }],
  [5, (g) => {
    const size = g.size(), op = g.rng.pick(SHIFTS), dst = g.rng.chance(0.5) ? g.r(size, true) : g.m(size);
    return `${op} ${dst}, ${g.rng.pick(['1', 'cl', String(g.rng.int(256))])}`;
  }],
  [3, (g) => {
    const size = g.vsize(); const [d, s] = g.rr(size);
    return g.rng.pick([`imul ${d}, ${s}`, `imul ${d}, ${g.m(size)}`, `imul ${d}, ${s}, ${g.imm(size)}`, `imul ${d}, ${g.m(size)}, ${g.rng.int(256) - 128}`]);
  }],
  [3, (g) => {
    const size = g.vsize(), op = g.rng.pick(['bt', 'bts', 'btr', 'btc']);
    return g.rng.pick([`${op} ${g.r(size)}, ${g.rng.int(256)}`, `${op} ${g.r(size)}, ${g.r(size)}`, `${op} ${g.m(size)}, ${g.r(size)}`, `${op} ${g.m(size)}, ${g.rng.int(256)}`]);
  }],
  [3, (g) => { const size = g.vsize(); return `${g.rng.pick(['bsf', 'bsr', 'tzcnt', 'lzcnt', 'popcnt'])} ${g.r(size)}, ${g.rng.chance(0.5) ? g.r(size) : g.m(size)}`; }],
  [4, (g) => {
    const size = g.vsize(), src = g.rng.pick(size === 2 ? [1] : size === 4 ? [1, 2] : [1, 2, 4]);
    const op = src === 4 ? 'movsxd' : g.rng.pick(['movzx', 'movsx']);
    return `${op} ${g.r(size)}, ${g.rng.chance(0.5) ? g.r(src) : g.m(src)}`;
  }],
  [3, (g) => { const size = g.vsize(); return `cmov${g.rng.pick(CC)} ${g.r(size)}, ${g.rng.chance(0.5) ? g.r(size) : g.m(size)}`; }],
  [2, (g) => `set${g.rng.pick(CC)} ${g.rng.chance(0.5) ? g.r(1, true) : g.m(1)}`],
  [8, (g) => {
    const size = g.size(); const [d, s] = g.rr(size);
    switch (g.rng.int(6)) {
      case 0: return `mov ${d}, ${s}`;
      case 1: return `mov ${d}, ${g.m(size)}`;
      case 2: return `mov ${g.m(size)}, ${s}`;
      case 3: return `mov ${d}, ${g.imm(size)}`;
      case 4: return size === 8 ? `movabs ${d}, ${g.rng.pick(['0x123456789abcdef0', '-1', '0x80000000', '5'])}` : `mov ${g.m(size)}, ${g.imm(size)}`;
      default: return `movabs ${reg(0, size)}, ${g.rng.pick(['ds:', 'fs:', 'gs:'])}${g.rng.pick(['0x1122334455667788', '0x10', '0xffffffff80000000'])}`;
    }
  }],
  [4, (g) => {
    const size = g.size(), op = g.rng.pick(['xchg', 'xadd', 'cmpxchg']); const [d, s] = g.rr(size);
    return g.rng.chance(0.5) ? `${op} ${d}, ${s}` : `${g.rng.chance(0.3) ? 'lock ' : ''}${op} ${g.m(size)}, ${s}`;
  }],
  [3, (g) => `lea ${g.r(g.vsize())}, ${g.addr().replace(/^[fgd]s:(\d+)$/, '[$1]').replace(/^[fg]s:/, '')}`],
  [3, (g) => g.rng.pick(['cbw', 'cwde', 'cdqe', 'cwd', 'cdq', 'cqo', 'lahf', 'sahf', 'clc', 'stc', 'cmc', 'cld', 'std', 'cli', 'sti', 'hlt', 'nop', 'pause', 'leave', 'ret', 'int3', 'int1', 'cpuid', 'rdtsc', 'rdmsr', 'wrmsr', 'pushfq', 'popfq', 'pushf', 'iretq', 'iret', 'sysretq', 'syscall', 'swapgs', 'rdtscp', 'ud2', 'clts', 'invd', 'wbinvd', 'xgetbv', 'xsetbv', 'vmcall', 'vmlaunch', 'vmresume', 'vmxoff', 'vmfunc', 'clac', 'stac', 'fwait', 'xlat', 'rdpmc', 'monitor', 'mwait'])],
  [2, (g) => `bswap ${g.r(g.rng.pick([4, 8]))}`],
  [4, (g) => {
    const w = g.rng.chance(0.2);
    return g.rng.pick([`push ${w ? reg(g.rng.int(16), 2) : R64[g.rng.int(16)]}`, `pop ${w ? reg(g.rng.int(16), 2) : R64[g.rng.int(16)]}`,
      `push ${g.imm(4)}`, `push ${g.m(w ? 2 : 8)}`, `pop ${g.m(w ? 2 : 8)}`, 'push fs', 'push gs', 'pop fs', 'pop gs']);
  }],
  [2, (g) => { const size = g.vsize(); const [d, s] = g.rr(size); return `${g.rng.pick(['shld', 'shrd'])} ${g.rng.chance(0.5) ? d : g.m(size)}, ${s}, ${g.rng.chance(0.5) ? 'cl' : g.rng.int(256)}`; }],
  [2, (g) => { const size = g.vsize(); return g.rng.chance(0.5) ? `movbe ${g.r(size)}, ${g.m(size)}` : `movbe ${g.m(size)}, ${g.r(size)}`; }],
  [2, (g) => { const size = g.rng.pick([4, 8]); return `${g.rng.pick(['adcx', 'adox'])} ${g.r(size)}, ${g.rng.chance(0.5) ? g.r(size) : g.m(size)}`; }],
  [1, (g) => `${g.rng.chance(0.3) ? 'lock ' : ''}${g.rng.chance(0.5) ? 'cmpxchg16b xmmword' : 'cmpxchg8b qword'} ptr ${g.addr()}`],
  [4, (g) => {
    const t = g.rng.pick([2, 5, 100, -100, 0x1000, -0x1000, 0x12345]);
    return `${g.rng.pick(['jmp', 'call', `j${g.rng.pick(CC)}`, 'loop', 'loope', 'loopne', 'jrcxz'])} .${t < 0 ? t : `+${t}`}`.replace(/^(loop\w*|jrcxz) \.[+-]\d+$/, (_m, op: string) => `${op} .+${g.rng.int(120)}`);
  }],
  [3, (g) => `${g.rng.pick(['jmp', 'call'])} ${g.rng.chance(0.5) ? R64[g.rng.int(16)] : `qword ptr ${g.addr()}`}`],
  [2, (g) => `${g.rng.pick(['jmp', 'call'])} fword ptr ${g.addr()}`],
  [3, (g) => {
    const op = g.rng.pick(['movs', 'stos', 'lods', 'cmps', 'scas', 'ins', 'outs']);
    const suffix = op === 'ins' || op === 'outs' ? g.rng.pick(['b', 'w', 'd']) : g.rng.pick(['b', 'w', 'd', 'q']);
    const rep = op === 'cmps' || op === 'scas' ? g.rng.pick(['repe ', 'repne ', '']) : g.rng.pick(['rep ', '']);
    return `${rep}${op}${suffix}`;
  }],
  [3, (g) => {
    const seg = g.rng.pick(['es', 'ss', 'ds', 'fs', 'gs']);
    return g.rng.pick([`mov ${seg}, ${g.r(g.rng.pick([2, 4, 8]))}`, `mov ${seg}, word ptr ${g.addr()}`, `mov ${g.r(g.rng.pick([2, 4, 8]))}, ${seg}`, `mov word ptr ${g.addr()}, ${seg}`]);
  }],
  [3, (g) => {
    const cr = g.rng.pick([0, 2, 3, 4, 8]), dr = g.rng.pick([0, 1, 2, 3, 6, 7]);
    const r = R64[g.rng.int(16)];
    return g.rng.pick([`mov ${r}, cr${cr}`, `mov cr${cr}, ${r}`, `mov ${r}, dr${dr}`, `mov dr${dr}, ${r}`]);
  }],
  [3, (g) => {
    const a = g.addr();
    return g.rng.pick([`lgdt [${a.replace(/^.*\[/, '').replace(/\]$/, '')}]`, `lidt ${a}`, `sgdt ${a}`, `sidt ${a}`, `invlpg byte ptr ${a}`, `vmxon qword ptr ${a}`, `vmptrld qword ptr ${a}`,
      `vmptrst qword ptr ${a}`, `vmclear qword ptr ${a}`, `lldt word ptr ${a}`, `ltr ${g.r(2)}`, `sldt ${g.r(g.vsize())}`, `str word ptr ${a}`, `smsw ${g.r(g.vsize())}`,
      `smsw word ptr ${a}`, `lmsw ${g.r(2)}`, `prefetchw byte ptr ${a}`, `lar ${g.r(g.vsize())}, ${g.r(2)}`, `lsl ${g.r(g.vsize())}, word ptr ${a}`,
      `nop ${g.m(g.vsize() === 2 ? 2 : 4)}`, `rdrand ${g.r(g.vsize())}`, `rdseed ${g.r(g.vsize())}`]);
  }],
  [2, (g) => g.rng.chance(0.5) ? `vmread ${g.rng.chance(0.5) ? g.r(8) : g.m(8)}, ${g.r(8)}` : `vmwrite ${g.r(8)}, ${g.rng.chance(0.5) ? g.r(8) : g.m(8)}`],
  [3, (g) => {
    const port = g.rng.int(256), size = g.rng.pick([1, 2, 4]);
    return g.rng.pick([`in ${reg(0, size)}, dx`, `in ${reg(0, size)}, ${port}`, `out dx, ${reg(0, size)}`, `out ${port}, ${reg(0, size)}`]);
  }],
  [2, (g) => g.rng.pick([`int ${g.rng.int(256)}`, `ret ${g.rng.int(65536)}`, `retf ${g.rng.int(65536)}`, `enter ${g.rng.int(65536)}, ${g.rng.int(256)}`, 'retf'])],
];

const TOTAL = TEMPLATES.reduce((n, [w]) => n + w, 0);

const HIGH_BYTE = /\b[abcd]h\b/;
const NEEDS_REX = /\b(?:r(?:[89]|1[0-5])[bwd]?|spl|bpl|sil|dil)\b/;

/** One random instruction line (never AH..BH together with a register that needs REX). */
export function randomInstruction(rng: Rng): string {
  const g = new Gen(rng);
  for (;;) {
    let k = rng.int(TOTAL);
    for (const [w, t] of TEMPLATES) {
      if (k < w) {
        const line = t(g);
        if (!(HIGH_BYTE.test(line) && NEEDS_REX.test(line))) return line;
        break;
      }
      k -= w;
    }
  }
}
