// Disassembly text for the debugger, from the decoder the CPU runs: an Insn's mnemonic and
// form (its operand layout) are turned into Intel syntax the way GNU objdump -M intel prints
// it, so what the user reads is exactly what executes. Not on the hot path: BigInt is fine.
//
// Form letters (after the SDM's opcode-map notation, Vol. 2D, A.2): E = ModRM register or
// memory, G = ModRM.reg, M = memory only, R = ModRM register only, Z = register in the
// opcode's low bits, I = immediate, J = branch target, A = far pointer, O = moffs,
// S = segment register, C/D = control/debug register, X/Y = ds:rSI / es:rDI. Size letters:
// b = byte, w = word, d = dword, v = operand size, y = operand size (32/64), p = far pointer.
// Ours: BX = the XLAT table byte ds:[rBX]; 'Ewv' = a word in memory but an operand-size
// register (SLDT, STR, LAR, LSL, MOV Sreg); 'string' = the operands of MOVS/CMPS/STOS/LODS/SCAS.

import { BufferSource, decodeInsn, DecodeMode } from './decoder';
import { HIGH_BYTE_BASE, Insn } from './insn';
import { SEGMENT_NAMES } from './cpu-state';
import { highByteName, subRegisterName } from '../regs';

/** Where an address falls among the guest's symbols. */
export interface SymbolHit { name: string; offset: bigint | number }

export interface FormatOptions {
  /** The mode the instruction was decoded in (objdump's spelling of some mnemonics depends on
   *  it); without it, 64 when the address size is 64 bits, else 32. */
  mode?: DecodeMode;
  /** Names branch and RIP-relative targets, printed after the address as <name+0x10>. */
  symbolize?: (address: bigint) => SymbolHit | undefined;
}

export interface DisassembledInsn {
  address: bigint;
  bytes: Uint8Array;
  length: number;
  text: string;
}

/** Size keywords objdump prints before a memory operand, by bytes. */
const PTR: Readonly<Record<number, string>> = { 1: 'BYTE', 2: 'WORD', 4: 'DWORD', 6: 'FWORD', 8: 'QWORD', 10: 'TBYTE', 16: 'OWORD' };

/**
 * Memory-only ('M') operands: the size objdump names (0: none). Descriptor-table operands are
 * 6/10 bytes but objdump shows no size; INVLPG and PREFETCHW take a byte address (SDM Vol. 2).
 */
const M_OPERAND_SIZE: Readonly<Record<string, number>> = {
  lea: 0, lgdt: 0, lidt: 0, sgdt: 0, sidt: 0, invlpg: 1, prefetchw: 1, prefetch: 1, prefetchwt1: 1,
  prefetchnta: 1, prefetcht0: 1, prefetcht1: 1, prefetcht2: 1,
  vmxon: 8, vmptrld: 8, vmptrst: 8, vmclear: 8, cmpxchg8b: 8, cmpxchg16b: 16, invept: 16, invvpid: 16,
};

/** Instructions for which an F2/F3 prefix is part of the opcode, not a REP prefix. */
const REP_IS_OPCODE = new Set(['pause', 'popcnt', 'tzcnt', 'lzcnt', 'vmxon', 'adox', 'endbr64', 'endbr32']);
const STRING_OPS = new Set(['movs', 'cmps', 'stos', 'lods', 'scas', 'ins', 'outs']);

function u64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

function hexU(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** Signed hex as objdump writes displacements: +0x10, -0x8. */
function signedHex(v: number | bigint): string {
  const b = BigInt(v);
  return b < 0n ? `-0x${(-b).toString(16)}` : `+0x${b.toString(16)}`;
}

function regName(n: number, size: number): string {
  if (n >= HIGH_BYTE_BASE) return highByteName(n - HIGH_BYTE_BASE);
  return subRegisterName(n, (size === 1 || size === 2 || size === 4 ? size : 8));
}

function sizeOf(letter: string, i: Insn): number {
  switch (letter) {
    case 'b': return 1;
    case 'w': return 2;
    case 'd': return 4;
    case 'q': return 8;
    default: return i.size;
  }
}

/** Far-pointer memory operand: 16-bit selector plus an operand-size offset. */
function farSize(i: Insn): number {
  return 2 + i.size;
}

class Formatter {
  /** Text after the operands (objdump's "# target" for RIP-relative operands). */
  comment = '';
  /** Whether an operand showed the segment override; if none did, it is shown as a prefix. */
  usedSeg = false;
  /** Whether an operand used the address size; if none did, a 67 prefix shows as addr16/addr32. */
  usedAsize = false;
  constructor(readonly i: Insn, readonly mode: DecodeMode, readonly opts: FormatOptions) {}

  /** A code or data address; with a symbol, objdump drops the 0x and adds <name+offset>. */
  target(addr: bigint): string {
    const hit = this.opts.symbolize?.(addr);
    if (hit === undefined) return hexU(addr);
    const off = BigInt(hit.offset);
    return `${addr.toString(16)} <${hit.name}${off === 0n ? '' : `+${hexU(off)}`}>`;
  }

  segPrefix(): string {
    this.usedSeg = true;
    const s = this.i.segOverride;
    return s >= 0 ? `${SEGMENT_NAMES[s]}:` : '';
  }

  /** A ModRM memory operand; size 0 prints no size keyword. */
  mem(size: number): string {
    const i = this.i;
    const ptr = size > 0 ? `${PTR[size]} PTR ` : '';
    const aw = i.asize;
    this.usedAsize = true;
    if (i.ripRelative) {
      const target = aw === 4 ? BigInt(i.dispLo >>> 0) : u64(i.dispLo, i.dispHi);
      const next = u64(i.nextLo, i.nextHi);
      // objdump shows the displacement as an unsigned address-size number
      const rel = BigInt.asUintN(aw * 8, target - next);
      const where = this.target(target);
      this.comment = `        # ${where}`;
      return `${ptr}${this.segPrefix()}[${aw === 4 ? 'eip' : 'rip'}+${hexU(rel)}]`;
    }
    if (i.base < 0 && i.index < 0 && !(i.sib && i.scale !== 0)) {
      // absolute: objdump shows the segment (ds: when none is given) and the unsigned offset
      const off = aw === 8 ? u64(i.dispLo, i.dispHi) : aw === 4 ? BigInt(i.dispLo >>> 0) : BigInt(i.dispLo & 0xffff);
      return `${ptr}${this.segPrefix() || 'ds:'}${hexU(off)}`;
    }
    let s = '';
    if (i.base >= 0) s += regName(i.base, aw);
    // a SIB byte whose index field says "none" shows as riz/eiz unless it is the usual [rsp] form
    const pseudoIndex = i.sib && i.index < 0 && !(i.scale === 0 && (i.base < 0 || (i.base & 7) === 4));
    const index = i.index >= 0 ? regName(i.index, aw) : pseudoIndex ? (aw === 8 ? 'riz' : 'eiz') : '';
    if (index !== '') s += `${s === '' ? '' : '+'}${index}${aw === 2 ? '' : `*${1 << i.scale}`}`;
    const disp = aw === 2 ? (i.dispLo << 16) >> 16 : i.dispLo | 0;
    if (i.dispBytes > 0 || i.base < 0 || disp !== 0) s += signedHex(disp);
    return `${ptr}${this.segPrefix()}[${s}]`;
  }

  /** The immediate zero- or sign-extended to `size` bytes, shown unsigned as objdump does. */
  imm(size: number): string {
    const bits = Math.min(size, 8) * 8;
    return hexU(BigInt.asUintN(bits, u64(this.i.immLo, this.i.immHi)));
  }

  /** String instruction operands at address size, es:rDI fixed and ds:rSI overridable. */
  strDst(size: number): string {
    this.usedAsize = true;
    return `${PTR[size]} PTR es:[${regName(7, this.i.asize)}]`;
  }

  strSrc(size: number): string {
    this.usedAsize = true;
    return `${PTR[size]} PTR ${this.segPrefix() || 'ds:'}[${regName(6, this.i.asize)}]`;
  }

  stringOperands(): string[] {
    const i = this.i;
    const acc = regName(0, i.size);
    switch (i.mnemonic) {
      case 'movs': return [this.strDst(i.size), this.strSrc(i.size)];
      case 'cmps': return [this.strSrc(i.size), this.strDst(i.size)];
      case 'stos': return [this.strDst(i.size), acc];
      case 'lods': return [acc, this.strSrc(i.size)];
      case 'scas': return [acc, this.strDst(i.size)];
      default: return [];
    }
  }

  operand(spec: string): string {
    const i = this.i;
    const kind = spec[0];
    const letter = spec.slice(1);
    switch (spec) {
      case 'AL': case 'rAX': return regName(0, i.size);
      case 'DX': return 'dx';
      case 'CL': return 'cl';
      case '1': return '1';
      case 'X': return this.strSrc(i.size);
      case 'Y': return this.strDst(i.size);
      case 'BX': this.usedAsize = true; return `BYTE PTR ${this.segPrefix() || 'ds:'}[${regName(3, i.asize)}]`;
      case 'O': return `${this.segPrefix() || 'ds:'}${hexU(i.asize === 8 ? u64(i.dispLo, i.dispHi) : BigInt(i.dispLo >>> 0))}`;
      case 'Ewv': return i.rm >= 0 ? regName(i.rm, i.size) : this.mem(2);
      case 'Mp': return this.mem(farSize(i));
      case 'Ma': return this.mem(2 * i.size); // BOUND: a pair of bounds of the operand size
      case 'Ap': return `${hexU(BigInt(i.imm2 & 0xffff))}:${hexU(BigInt(i.size === 2 ? i.immLo & 0xffff : i.immLo >>> 0))}`;
      case 'J': return this.target(this.mode === 64 ? u64(i.immLo, i.immHi) : BigInt(i.immLo >>> 0));
      case 'Rd': return regName(i.rm, i.size); // 32 or 64 bits by mode, as the decoder sets size
      case 'Cd': return `cr${i.reg}`;
      case 'Dd': return `dr${i.reg}`;
      case 'S': return SEGMENT_NAMES[i.reg];
      case 'Sw': return SEGMENT_NAMES[i.cc];
      case 'M': return this.mem(i.mnemonic === 'movbe' ? i.size : M_OPERAND_SIZE[i.mnemonic] ?? 0);
      default: break;
    }
    switch (kind) {
      case 'E': return i.rm >= 0 ? regName(i.rm, sizeOf(letter, i)) : this.mem(sizeOf(letter, i));
      case 'G': return regName(i.reg, sizeOf(letter, i));
      case 'R': return regName(i.rm, sizeOf(letter, i));
      // the opcode's register is in rm for INC/DEC/MOV, in reg for PUSH/POP/BSWAP/XCHG
      case 'Z': return regName(i.form === 'Zv,rAX' || i.rm < 0 ? i.reg : i.rm, sizeOf(letter, i));
      case 'I':
        if (letter === 'b' && (i.form === 'Iw,Ib')) return hexU(BigInt(i.imm2 & 0xff));
        if (letter === 'w') return hexU(BigInt(i.immLo & 0xffff));
        return this.imm(i.size);
      default:
        return `?${spec}`;
    }
  }
}

/** The mnemonic with a w/d/q suffix when the operand size is not `defaultSize` (objdump's rule). */
function suffixed(base: string, size: number, defaultSize: number): string {
  if (size === defaultSize) return base;
  return base + (size === 2 ? 'w' : size === 4 ? 'd' : 'q');
}

/** objdump's spelling of a mnemonic where it differs from the decoder's (SDM) name. */
function objdumpMnemonic(i: Insn, mode: DecodeMode): string {
  const m = i.mnemonic;
  const stackDefault = mode === 16 ? 2 : mode === 32 ? 4 : 8;
  switch (m) {
    case 'pushf': case 'pushfd': case 'pushfq': return suffixed('pushf', i.size, stackDefault);
    case 'popf': case 'popfd': case 'popfq': return suffixed('popf', i.size, stackDefault);
    case 'pusha': case 'popa': return suffixed(m, i.size, mode === 16 ? 2 : 4);
    case 'iret': case 'iretd': case 'iretq': return suffixed('iret', i.size, mode === 16 ? 2 : 4);
    case 'sysret': return 'sysretd';
    case 'sal': return 'shl'; // D0-D3/C0-C1 /6, an alias of /4 (SDM Vol. 2B, SAL/SAR/SHL/SHR)
    // descriptor-table operands: objdump names the operand size outside 64-bit mode
    case 'lgdt': case 'lidt': case 'sgdt': case 'sidt': return mode === 64 ? m : suffixed(m, i.size, 0);
    // an operand size other than the mode's shows only on the mnemonic when no register does
    case 'push': return i.form === 'Iz' || i.form === 'Ib' ? suffixed(m, i.size, stackDefault) : m;
    case 'call': case 'jmp': return i.form === 'J' ? suffixed(m, i.size, stackDefault) : m;
    case 'mov':
      if ((i.form === 'Zv,Iv' && i.size === 8) || ((i.form === 'rAX,O' || i.form === 'O,rAX') && i.asize === 8)) return 'movabs';
      return m;
    default: return m;
  }
}

/** ES, CS, SS, DS prefixes by byte (26, 2E, 36, 3E), for those 64-bit mode ignores. */
const NULL_SEGMENT: Readonly<Record<number, string>> = { 0x26: 'es', 0x2e: 'cs', 0x36: 'ss', 0x3e: 'ds' };

/** The address size an instruction has without a 67 prefix. */
const DEFAULT_ASIZE: Readonly<Record<number, number>> = { 16: 2, 32: 4, 64: 8 };
/** Branches whose mnemonic already names the address size (SDM Vol. 2A, JCXZ/JECXZ/JRCXZ). */
const ASIZE_IN_NAME = new Set(['jcxz', 'jecxz', 'jrcxz']);

/** Prefixes objdump writes as words: redundant 66s, segments and 67s no operand used, LOCK, REP. */
function prefixes(i: Insn, segUnused: boolean, asizeUnused: boolean, mode: DecodeMode): string {
  let p = 'data16 '.repeat(i.extra66);
  if (i.ignoredSeg !== 0) {
    // 3E before an indirect near branch is CET's NOTRACK (SDM Vol. 1, 18.3.8)
    const indirect = (i.mnemonic === 'jmp' || i.mnemonic === 'call') && i.form === 'Ev';
    p += `${indirect && i.ignoredSeg === 0x3e ? 'notrack' : NULL_SEGMENT[i.ignoredSeg]} `;
  }
  if (segUnused && i.segOverride >= 0) p += `${SEGMENT_NAMES[i.segOverride]} `;
  if (asizeUnused && i.asize !== DEFAULT_ASIZE[mode] && !ASIZE_IN_NAME.has(i.mnemonic)) p += `addr${i.asize * 8} `;
  if (i.lock) p += 'lock ';
  if (i.rep !== 0 && !REP_IS_OPCODE.has(i.mnemonic)) {
    const repeats = i.mnemonic === 'cmps' || i.mnemonic === 'scas';
    if (i.rep === 0xf2) p += 'repnz ';
    else p += STRING_OPS.has(i.mnemonic) && !repeats ? 'rep ' : 'repz ';
  }
  return p;
}

/** Intel-syntax text of one decoded instruction, as objdump -M intel prints it. */
export function formatInsn(i: Insn, options: FormatOptions = {}): string {
  if (i.mnemonic === '') return '(bad)';
  // x87/SSE/AVX: decoded only far enough to know the length; their prefixes are opcode bytes
  if (i.mnemonic.startsWith('(')) return i.mnemonic;
  const mode = options.mode ?? (i.asize === 8 ? 64 : 32);
  const f = new Formatter(i, mode, options);
  let ops: string[];
  if (i.form === 'string') ops = f.stringOperands();
  else if (i.form === '') ops = [];
  else ops = i.form.split(',').map((s) => f.operand(s));
  const name = prefixes(i, !f.usedSeg, !f.usedAsize, mode) + objdumpMnemonic(i, mode);
  if (ops.length === 0) return name;
  return `${name.padEnd(6)} ${ops.join(',')}${f.comment}`;
}

const BAD = '(bad)';

/**
 * Disassembles `bytes` as if loaded at `address`. Never throws on bad input: an undecodable
 * or truncated instruction gives one `(bad)` entry of one byte and decoding goes on after it.
 * In 16- and 32-bit modes `address` is the offset in CS (IP/EIP), so branch targets wrap as
 * the instruction pointer does (at 64 KiB with a 16-bit operand size).
 */
export function disassemble(bytes: Uint8Array, address: bigint, mode: DecodeMode, options: FormatOptions = {}): DisassembledInsn[] {
  const out: DisassembledInsn[] = [];
  const opts: FormatOptions = { ...options, mode };
  let off = 0;
  while (off < bytes.length) {
    const at = address + BigInt(off);
    const lo = Number(at & 0xffffffffn) | 0;
    const hi = mode === 64 ? Number((at >> 32n) & 0xffffffffn) | 0 : 0;
    let insn: Insn | undefined;
    try {
      insn = decodeInsn(new BufferSource(bytes, off), mode, lo, hi);
    } catch {
      insn = undefined;
    }
    if (insn === undefined || insn.mnemonic === '') {
      out.push({ address: at, bytes: bytes.slice(off, off + 1), length: 1, text: BAD });
      off += 1;
      continue;
    }
    out.push({ address: at, bytes: bytes.slice(off, off + insn.len), length: insn.len, text: formatInsn(insn, opts) });
    off += insn.len;
  }
  return out;
}
