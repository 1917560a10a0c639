// Random instruction sequences for 32-bit compatibility mode (the differential test's mode 32):
// 32-bit operands by default, 16-bit operands (66) and 16-bit addressing (67, [bx+si+disp]
// and friends), the one-byte INC/DEC forms 0x40-0x4F, PUSHA/POPA, the BCD adjustments,
// LAHF/SAHF, PUSHF/POPF, string instructions and LOOP with 16-bit addresses, JCXZ/JECXZ,
// BOUND, DS/ES reloads and the segment limit's edge.
//
// DS and ES are the data-area segment (base NATIVE_DATA_ADDRESS, limit 64 KiB - 1), so memory
// operands are offsets into the data area; SS is flat, so ESP holds an absolute address. The
// random operands stay well inside the limit; one template probes its edge on purpose. As in
// insn-gen.ts, an instruction that leaves flags undefined ends its case.

import { NATIVE_DATA_ADDRESS } from './native-cpu';
import { AF, ALL, CF, GeneratedCase, OF, PF, Piece, Rng, SF, ZF, randomDataArea, randomStatusFlags, shiftUndefinedFlags } from './insn-gen';

/** Registers a case may overwrite; ebx, esi, edi are offsets into the data area, esp absolute. */
const FREE = ['eax', 'ecx', 'edx', 'ebp'];
const N16: Record<string, string> = { eax: 'ax', ecx: 'cx', edx: 'dx', ebp: 'bp' };
/** Byte registers that are not part of a pointer register (bl/bh would change ebx). */
const BYTE_REGS = ['al', 'cl', 'dl', 'ah', 'ch', 'dh'];
const PTR: Record<number, string> = { 1: 'byte', 2: 'word', 4: 'dword', 8: 'qword' };

class Gen32 {
  /** Lines a piece needs before its instruction (BP set up for a [bp+...] operand). */
  pre: string[] = [];
  constructor(readonly rng: Rng) {}
  size(): number { return this.rng.pick([1, 2, 4, 4]); }
  reg(size: number): string {
    if (size === 1) return this.rng.pick(BYTE_REGS);
    const r = this.rng.pick(FREE);
    return size === 4 ? r : N16[r];
  }
  disp(range = 0x100): string {
    const d = this.rng.int(2 * range) - range;
    return d >= 0 ? `+${d}` : `${d}`;
  }
  /** A memory operand: 32-bit addressing, or 16-bit addressing (a 67 prefix) in a fifth of them. */
  mem(size: number): string {
    const p = `${PTR[size]} ptr `;
    if (this.rng.chance(0.3)) return p + this.mem16();
    switch (this.rng.int(7)) {
      case 0: return `${p}[ebx${this.disp()}]`;
      case 1: return `${p}[esi${this.disp()}]`;
      case 2: return `${p}[ebx+edi*1${this.disp()}]`;
      case 3: return `${p}[esp${this.disp()}]`; // SS: flat, ESP absolute
      case 4: return `${p}ds:${0x1000 + this.rng.int(0x2000)}`;
      case 5: return `${p}es:[edi${this.disp()}]`;
      default: return `${p}[ebx+esi*2-0xc000${this.disp()}]`;
    }
  }
  /** 16-bit ModRM addressing; BP forms default to SS (flat), so they take a DS override. */
  mem16(): string {
    const form = this.rng.int(8);
    const d = this.disp(0x80);
    if (form >= 6) {
      this.pre.push(`mov bp, ${0x2000 + this.rng.int(0x800)}`);
      return form === 6 ? `ds:[bp+${this.rng.pick(['si', 'di'])}${d}]` : `ds:[bp${d}]`;
    }
    return ['[bx+si', '[bx+di', '[si', '[di', '[bx', '[bx+si'][form] + `${d}]`;
  }
  imm(size: number): string {
    return BigInt.asIntN(size * 8, this.rng.value()).toString();
  }
}

type Template = (g: Gen32) => Piece;

const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

/** Bits of a POPF value a CPL-3 program may try: status flags, DF, NT, ID, and the ones POPF ignores there (IF, IOPL, RF). */
const POPF_BITS = 0x0cd5 | 0x4000 | 0x200000 | 0x200 | 0x3000 | 0x10000;

/** Flags the SDM leaves undefined after each BCD adjustment (SDM Vol. 2A, each instruction's "Flags Affected"). */
const BCD_UNDEFINED: Record<string, number> = { daa: OF, das: OF, aaa: OF | SF | ZF | PF, aas: OF | SF | ZF | PF, aam: OF | AF | CF, aad: OF | AF | CF };

const templates: Array<[number, Template]> = [
  [10, (g) => {
    const op = g.rng.pick(ALU), size = g.size();
    const d = g.reg(size), s = g.reg(size);
    const form = g.rng.int(5);
    const text = form === 0 ? `${op} ${d}, ${s}` : form === 1 ? `${op} ${d}, ${g.imm(size)}`
      : form === 2 ? `${op} ${d}, ${g.mem(size)}` : form === 3 ? `${op} ${g.mem(size)}, ${s}` : `${op} ${g.mem(size)}, ${g.imm(size)}`;
    return { text: [text], undefinedFlags: op === 'or' || op === 'and' || op === 'xor' ? AF : 0, readsFlags: op === 'adc' || op === 'sbb' };
  }],
  [2, (g) => {
    const size = g.size();
    return { text: [g.rng.chance(0.5) ? `test ${g.reg(size)}, ${g.reg(size)}` : `test ${g.rng.chance(0.5) ? g.reg(size) : g.mem(size)}, ${g.imm(size)}`], undefinedFlags: AF };
  }],
  // INC/DEC of a 16/32-bit register assemble to the one-byte 0x40-0x4F forms here
  [5, (g) => {
    const op = g.rng.pick(['inc', 'dec', 'inc', 'dec', 'neg', 'not']), size = g.size();
    const target = size !== 1 && g.rng.chance(0.6) ? g.rng.pick(size === 4 ? ['eax', 'ecx', 'edx', 'ebp'] : ['ax', 'cx', 'dx', 'bp'])
      : g.rng.chance(0.5) ? g.reg(size) : g.mem(size);
    return { text: [`${op} ${target}`], undefinedFlags: 0 };
  }],
  [5, (g) => {
    const op = g.rng.pick(['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sar', 'sal']), size = g.size();
    const count = g.rng.pick([0, 1, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, g.rng.int(256)]);
    const dst = g.rng.chance(0.7) ? g.reg(size) : g.mem(size);
    const viaCl = g.rng.chance(0.4) && !/\b(cl|cx|ecx|ch)\b/.test(dst);
    const text = viaCl ? [`mov cl, ${count}`, `${op} ${dst}, cl`] : [`${op} ${dst}, ${count}`];
    return { text, undefinedFlags: shiftUndefinedFlags(op, size, count & 0x1f), readsFlags: op === 'rcl' || op === 'rcr' };
  }],
  [3, (g) => {
    const op = g.rng.pick(['mul', 'imul', 'div', 'idiv']), size = g.size();
    return { text: [`${op} ${g.rng.chance(0.6) ? g.reg(size) : g.mem(size)}`], undefinedFlags: op === 'mul' || op === 'imul' ? SF | ZF | AF | PF : ALL };
  }],
  [2, (g) => {
    const size = g.rng.pick([2, 4]);
    const d = g.reg(size);
    const form = g.rng.int(3);
    const text = form === 0 ? `imul ${d}, ${g.rng.chance(0.5) ? g.reg(size) : g.mem(size)}` : form === 1 ? `imul ${d}, ${g.reg(size)}, ${g.imm(size)}` : `imul ${d}, ${g.mem(size)}, ${g.rng.int(256) - 128}`;
    return { text: [text], undefinedFlags: SF | ZF | AF | PF };
  }],
  [3, (g) => {
    const op = g.rng.pick(['bt', 'bts', 'btr', 'btc']), size = g.rng.pick([2, 4]);
    // a register bit offset into memory reaches up to 2^31 bits away: keep it small
    const text = g.rng.chance(0.5) ? `${op} ${g.reg(size)}, ${g.rng.chance(0.5) ? String(g.rng.int(256)) : g.reg(size)}`
      : g.rng.chance(0.5) ? `${op} ${g.mem(size)}, ${g.rng.int(256)}` : `${op} ${PTR[size]} ptr [ebx], ${size === 4 ? 'edi' : 'di'}`;
    return { text: [text], undefinedFlags: OF | SF | AF | PF };
  }],
  [2, (g) => {
    const op = g.rng.pick(['bsf', 'bsr', 'tzcnt', 'lzcnt', 'popcnt']), size = g.rng.pick([2, 4]);
    const undef = op === 'bsf' || op === 'bsr' ? CF | OF | SF | AF | PF : op === 'popcnt' ? 0 : OF | SF | PF | AF;
    return { text: [`${op} ${g.reg(size)}, ${g.rng.chance(0.5) ? g.reg(size) : g.mem(size)}`], undefinedFlags: undef };
  }],
  [4, (g) => {
    const size = g.rng.pick([2, 4]);
    const srcSize = size === 2 ? 1 : g.rng.pick([1, 2]);
    return { text: [`${g.rng.pick(['movzx', 'movsx'])} ${g.reg(size)}, ${g.rng.chance(0.5) ? g.reg(srcSize) : g.mem(srcSize)}`], undefinedFlags: 0 };
  }],
  [4, (g) => {
    const cc = g.rng.pick(CC);
    const size = g.rng.pick([2, 4]);
    const kind = g.rng.int(3);
    if (kind === 0) return { text: [`cmov${cc} ${g.reg(size)}, ${g.rng.chance(0.5) ? g.reg(size) : g.mem(size)}`], undefinedFlags: 0, readsFlags: true };
    if (kind === 1) return { text: [`set${cc} ${g.rng.chance(0.5) ? g.reg(1) : g.mem(1)}`], undefinedFlags: 0, readsFlags: true };
    return { text: [`j${cc} 1f`, 'xor eax, 0x5a5a', '1:'], undefinedFlags: 0, readsFlags: true };
  }],
  [5, (g) => {
    const size = g.size();
    const op = g.rng.pick(['mov', 'mov', 'xchg', 'xadd', 'cmpxchg']);
    const form = g.rng.int(3);
    const text = form === 0 ? `${op} ${g.reg(size)}, ${g.reg(size)}` : op === 'mov' && form === 1 ? `mov ${g.reg(size)}, ${g.mem(size)}` : `${op} ${g.mem(size)}, ${g.reg(size)}`;
    return { text: [text], undefinedFlags: 0 };
  }],
  // LEA with either address size into either operand size: truncation and zero extension
  [3, (g) => {
    const d = g.reg(g.rng.pick([2, 4]));
    const forms = [`lea ${d}, [bx+si${g.disp()}]`, `lea ${d}, [bp+di${g.disp()}]`, `lea ${d}, [eax+edx*4+0x7fff]`, `lea ${d}, [ecx+ebp*8-7]`, `lea ${d}, [si]`, `lea ${d}, [ebx+esi*2${g.disp()}]`];
    return { text: [g.rng.pick(forms)], undefinedFlags: 0 };
  }],
  [3, (g) => {
    const op = g.rng.pick(['cbw', 'cwde', 'cwd', 'cdq', 'lahf', 'sahf', 'lahf', 'sahf', 'clc', 'stc', 'cmc']);
    return { text: [op], undefinedFlags: 0, readsFlags: op === 'lahf' || op === 'cmc' };
  }],
  [1, (g) => ({ text: [`bswap ${g.reg(4)}`], undefinedFlags: 0 })],
  [3, (g) => {
    const form = g.rng.int(5);
    const text = form === 0 ? [`push ${g.reg(4)}`, `pop ${g.reg(4)}`] : form === 1 ? [`push ${g.rng.int(65536) - 32768}`, `pop ${g.reg(4)}`]
      : form === 2 ? [`push dword ptr [ebx+${g.rng.int(64) * 4}]`, `pop dword ptr [esi+${g.rng.int(64) * 4}]`]
        : form === 3 ? [`push ${g.reg(2)}`, `pop ${g.reg(2)}`] : [`push word ptr ${g.mem16()}`, `pop ${g.reg(2)}`];
    return { text, undefinedFlags: 0 };
  }],
  [2, (g) => {
    const size = g.rng.pick([2, 4]);
    const op = g.rng.pick(['shld', 'shrd']);
    const count = g.rng.pick([0, 1, 2, 5, 15, 16, 31]);
    if (size === 2 && count > 16) return { text: ['nop'], undefinedFlags: 0 };
    return { text: [`${op} ${g.rng.chance(0.5) ? g.reg(size) : g.mem(size)}, ${g.reg(size)}, ${count}`], undefinedFlags: count === 0 ? 0 : AF | (count !== 1 ? OF : 0) };
  }],
  // string instructions with 32- or 16-bit addressing; 16-bit ones count with CX and move
  // only SI/DI, so ESI/EDI get upper bits that must survive (and that end the case)
  [4, (g) => {
    const op = g.rng.pick(['movsb', 'movsw', 'movsd', 'stosb', 'stosw', 'stosd', 'lodsb', 'lodsw', 'lodsd', 'cmpsb', 'cmpsw', 'cmpsd', 'scasb', 'scasw', 'scasd']);
    const rep = op.startsWith('cmps') || op.startsWith('scas') ? g.rng.pick(['repe ', 'repne ', '']) : g.rng.pick(['rep ', '']);
    const n = g.rng.int(40);
    if (g.rng.chance(0.5)) {
      const high = (g.rng.int(0x10000) << 16) >>> 0;
      return { text: [`mov ecx, ${(high | n) >>> 0}`, `or esi, ${high}`, `or edi, ${high}`, `addr16 ${rep}${op}`], undefinedFlags: 0, last: true };
    }
    return { text: [`mov ecx, ${n}`, `${rep}${op}`], undefinedFlags: 0 };
  }],
  [1, (g) => ({ text: [g.rng.chance(0.5) ? 'xlatb' : 'addr16 xlatb'], undefinedFlags: 0 })],
  // JCXZ tests CX only, JECXZ all of ECX
  [2, (g) => {
    const v = g.rng.pick([0, 0x10000, 1, 0x10001, 0xffff0000, Number(g.rng.next64() & 0xffffffffn)]);
    return { text: [`mov ecx, ${v >>> 0}`, `${g.rng.pick(['jcxz', 'jecxz'])} 1f`, 'xor eax, 0x5a5a', '1:'], undefinedFlags: 0 };
  }],
  // LOOP with 32- or 16-bit address size (LOOPW counts CX and leaves ECX's upper half)
  [2, (g) => {
    const n = 1 + g.rng.int(5);
    const op = g.rng.pick(['loop', 'loopw', 'loope', 'loopne', 'loopw']);
    const body = op === 'loope' || op === 'loopne' ? 'cmp eax, edx' : 'add eax, edx';
    const loopOp = op === 'loope' || op === 'loopne' ? (g.rng.chance(0.5) ? `addr16 ${op}` : op) : op;
    // upper bits in ECX only where the count is CX: a 32-bit count would run 196608 times
    const high = loopOp === 'loopw' || loopOp.startsWith('addr16') ? g.rng.pick([0, 0x30000, 0xffff0000]) : 0;
    return { text: [`mov ecx, ${(high + n) >>> 0}`, '2:', body, `${loopOp} 2b`], undefinedFlags: 0 };
  }],
  // PUSHA/POPA in both operand sizes
  [3, (g) => {
    switch (g.rng.int(5)) {
      case 0: return { text: ['pushad', `mov ${g.reg(4)}, 0x12345678`, 'popad'], undefinedFlags: 0 };
      case 1: return { text: ['pushaw', `mov ${g.reg(2)}, 0x1234`, 'popaw'], undefinedFlags: 0 };
      case 2: return { text: ['pushad', `mov ${g.reg(4)}, dword ptr [esp+${4 * g.rng.int(8)}]`, 'add esp, 32'], undefinedFlags: 0 };
      case 3: return { text: ['pushaw', `mov ${g.reg(2)}, word ptr [esp+${2 * g.rng.int(8)}]`, 'add esp, 16'], undefinedFlags: 0 };
      // POPA(D) from whatever the stack holds: ebx/esi/edi become random, so it ends the case
      default: return { text: [g.rng.pick(['popad', 'popaw'])], undefinedFlags: 0, last: true };
    }
  }],
  // BCD adjustments, usually after the arithmetic they adjust; their undefined flags end the case
  [4, (g) => {
    const op = g.rng.pick(['daa', 'das', 'aaa', 'aas', 'aam', 'aad']);
    const text: string[] = [];
    if (g.rng.chance(0.7) && op !== 'aam' && op !== 'aad') text.push(`${op === 'daa' || op === 'aaa' ? 'add' : 'sub'} al, ${g.rng.chance(0.5) ? g.reg(1) : String(g.rng.int(256))}`);
    // AAM 0 raises #DE
    if (op === 'aam' || op === 'aad') text.push(`${op} ${g.rng.pick([10, 10, 16, 7, 255, 1, 0, g.rng.int(256)])}`);
    else text.push(op);
    return { text, undefinedFlags: BCD_UNDEFINED[op] };
  }],
  // PUSHF/POPF in both sizes, with the bits user mode may try to change
  [3, (g) => {
    const value = (Number(g.rng.next64() & 0xffffffffn) & POPF_BITS) >>> 0;
    switch (g.rng.int(4)) {
      case 0: return { text: ['pushfd', `pop ${g.reg(4)}`], undefinedFlags: 0, readsFlags: true };
      case 1: return { text: ['pushfw', `pop ${g.reg(2)}`], undefinedFlags: 0, readsFlags: true };
      case 2: return { text: [`push ${value}`, 'popfd', 'pushfd', `pop ${g.reg(4)}`], undefinedFlags: 0 };
      default: return { text: [`pushw ${value & 0xffff}`, 'popfw', 'pushfw', `pop ${g.reg(2)}`], undefinedFlags: 0 };
    }
  }],
  [1, (g) => ({ text: [`enter ${g.rng.int(64) * 4}, 0`, `mov dword ptr [ebp-4], ${g.reg(4)}`, 'leave'], undefinedFlags: 0 })],
  [1, (g) => {
    const [d, s] = [g.rng.chance(0.5) ? g.reg(2) : g.mem(2), g.reg(2)];
    return { text: [`arpl ${d}, ${s}`], undefinedFlags: 0 };
  }],
  [1, (g) => {
    const size = g.rng.pick([2, 4]);
    return { text: [g.rng.chance(0.5) ? `movbe ${g.reg(size)}, ${g.mem(size)}` : `movbe ${g.mem(size)}, ${g.reg(size)}`], undefinedFlags: 0 };
  }],
  [1, (g) => ({ text: [`${g.rng.pick(['adcx', 'adox'])} ${g.reg(4)}, ${g.rng.chance(0.5) ? g.reg(4) : g.mem(4)}`], undefinedFlags: 0, readsFlags: true })],
  [1, (g) => ({ text: [`cmpxchg8b qword ptr ${g.rng.chance(0.5) ? `[ebx+${g.rng.int(32) * 8}]` : g.mem16()}`], undefinedFlags: 0 })],
  // BOUND: the index inside or outside a pair of signed bounds (#BR), or against random memory
  [1, (g) => {
    const size = g.rng.pick([2, 4]);
    const k = g.rng.int(64) * 8;
    const r = g.reg(size);
    const pair = `${size === 4 ? 'qword' : 'dword'} ptr [ebx+${k}]`;
    if (g.rng.chance(0.3)) return { text: [`bound ${r}, ${pair}`], undefinedFlags: 0 };
    const lower = g.rng.int(200) - 100, upper = lower + g.rng.int(200) - 20;
    return {
      text: [`mov ${PTR[size]} ptr [ebx+${k}], ${lower}`, `mov ${PTR[size]} ptr [ebx+${k + size}], ${upper}`,
        `mov ${r}, ${lower + g.rng.int(260) - 30}`, `bound ${r}, ${pair}`],
      undefinedFlags: 0,
    };
  }],
  // DS/ES reloads: the LDT's data segment under each RPL, null selectors (later DS/ES accesses
  // then #GP), a selector past the LDT's limit; PUSH/POP/MOV of segment registers. A 32-bit
  // PUSH of a segment register may write only 16 bits (SDM Vol. 2B, PUSH), so the slot is
  // zeroed first when the pushed dword is read back
  [2, (g) => {
    const sel = g.rng.pick([0x7, 0x7, 0x4, 0x5, 0x6, 0, 1, 3, 0xf, 0xc]);
    const seg = g.rng.pick(['ds', 'es']);
    switch (g.rng.int(5)) {
      case 0: return { text: [`mov ax, ${sel}`, `mov ${seg}, ax`, `mov ${g.reg(4)}, dword ptr ${seg}:[ebx${g.disp()}]`], undefinedFlags: 0 };
      case 1: return { text: [`push ${seg}`, `pop ${seg === 'ds' ? 'es' : 'ds'}`], undefinedFlags: 0 };
      case 2: return { text: [`mov ${g.reg(g.rng.pick([2, 4]))}, ${seg}`], undefinedFlags: 0 };
      case 3: return { text: ['push 0', `pop ${g.reg(4)}`, `push ${seg}`, `pop ${g.reg(4)}`], undefinedFlags: 0 };
      default: return { text: [`mov word ptr [ebx+4], ${sel}`, `${g.rng.pick(['les', 'lds'])} ${g.reg(4)}, [ebx]`], undefinedFlags: 0 };
    }
  }],
  // the edges of segmentation: accesses at the end of the data segment's limit (inside or
  // straddling it: #GP), string runs into the limit, a register bit offset far past it, and
  // the null FS/GS of a Linux process
  [2, (g) => {
    const size = g.size();
    const end = 0x10000 - 1 - g.rng.int(8);
    switch (g.rng.int(5)) {
      case 0: return { text: [`mov ${g.reg(size)}, ${PTR[size]} ptr ds:${end}`], undefinedFlags: 0 };
      case 1: return { text: [`add ${PTR[size]} ptr es:${end}, ${g.reg(size)}`], undefinedFlags: 0 };
      case 2: {
        const op = g.rng.pick(['stosb', 'stosd', 'lodsw', 'movsb', 'scasd']);
        const ptr = op.startsWith('lods') ? 'esi' : 'edi';
        return { text: [`mov ${ptr}, ${end - g.rng.int(64)}`, `mov ecx, ${g.rng.int(80)}`, `rep ${op}`], undefinedFlags: 0, last: true };
      }
      case 3: return { text: [`bt dword ptr [ebx], ${g.reg(4)}`], undefinedFlags: OF | SF | AF | PF };
      default: return { text: [`mov ${g.reg(size)}, ${PTR[size]} ptr ${g.rng.pick(['fs', 'gs'])}:[ebx]`], undefinedFlags: 0 };
    }
  }],
];

const TOTAL = templates.reduce((n, [w]) => n + w, 0);

function pickTemplate(rng: Rng): Template {
  let k = rng.int(TOTAL);
  for (const [w, t] of templates) { if (k < w) return t; k -= w; }
  return templates[0][1];
}

/** One compatibility-mode case: 1-4 pieces; a piece with undefined flags, or marked last, ends it. */
export function generateCase32(rng: Rng): GeneratedCase {
  const g = new Gen32(rng);
  const lines: string[] = [];
  let undef = 0;
  const n = 1 + rng.int(4);
  for (let k = 0; k < n; k++) {
    g.pre = [];
    const p = pickTemplate(rng)(g);
    lines.push(...g.pre, ...p.text);
    undef = p.undefinedFlags;
    if (undef !== 0 || p.last === true) break;
  }
  // full 64-bit values go in: compatibility mode must ignore (and may keep) the upper halves
  const regs: bigint[] = [];
  for (let r = 0; r < 16; r++) regs.push(rng.value());
  const high = () => rng.next64() & 0xffffffff00000000n;
  regs[3] = high() | BigInt(0x4000 + rng.int(0x100) * 4);   // ebx: data-area offset
  regs[6] = high() | BigInt(0x6000 + rng.int(0x100) * 4);   // esi
  regs[7] = high() | BigInt(0x8000 + rng.int(0x100) * 4);   // edi
  regs[4] = high() | BigInt(NATIVE_DATA_ADDRESS + 0xc000);  // esp: absolute (SS is flat)
  const data = randomDataArea(rng);
  const rflags = randomStatusFlags(rng);
  return { lines, regs, rflags, data, flagMask: BigInt(ALL & ~undef) | 0x400n, mode: 32, dataSegment: true };
}
