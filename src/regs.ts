// General-purpose registers as x86_vcpu's `GeneralRegisters` holds them: the fifteen registers
// other than RSP, in SDM register-number order (Vol. 2A, 2.1.5, Table 2-2 "reg" field), with
// the save/restore stack image that `save_regs_to_stack!` leaves behind on a VM exit.

/** Register names by SDM register number; index 4 is RSP, which is not part of the struct. */
export const GPR_NAMES = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
] as const;

export type GprName = (typeof GPR_NAMES)[number];

/** Index of RSP: guest RSP lives in the VMCS, so the struct leaves a gap here. */
export const RSP_INDEX = 4;

/** Size of the stack image: 16 slots of 8 bytes, the RSP slot a gap. */
export const STACK_IMAGE_SIZE = 128;

/** A sub-register as instructions name it: which register, which bytes. */
export interface SubRegister {
  readonly index: number;
  /** Width in bytes: 1, 2, 4 or 8. */
  readonly size: 1 | 2 | 4 | 8;
  /** True for AH, CH, DH, BH (bits 15:8 of registers 0-3). */
  readonly high: boolean;
}

const LEGACY8 = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil'];
const LEGACY16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const LEGACY32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const HIGH8 = ['ah', 'ch', 'dh', 'bh'];

function buildSubRegisterTable(): Map<string, SubRegister> {
  const table = new Map<string, SubRegister>();
  for (let i = 0; i < 16; i++) {
    table.set(GPR_NAMES[i], { index: i, size: 8, high: false });
    if (i < 8) {
      table.set(LEGACY32[i], { index: i, size: 4, high: false });
      table.set(LEGACY16[i], { index: i, size: 2, high: false });
      table.set(LEGACY8[i], { index: i, size: 1, high: false });
    } else {
      table.set(`r${i}d`, { index: i, size: 4, high: false });
      table.set(`r${i}w`, { index: i, size: 2, high: false });
      table.set(`r${i}b`, { index: i, size: 1, high: false });
      table.set(`r${i}l`, { index: i, size: 1, high: false });
    }
  }
  HIGH8.forEach((name, i) => table.set(name, { index: i, size: 1, high: true }));
  return table;
}

/** The name of `size` bytes of register `index` (0-15), as Intel syntax writes it: r8b, not r8l. */
export function subRegisterName(index: number, size: 1 | 2 | 4 | 8): string {
  if (size === 8) return GPR_NAMES[index];
  if (index >= 8) return `r${index}${size === 4 ? 'd' : size === 2 ? 'w' : 'b'}`;
  return (size === 4 ? LEGACY32 : size === 2 ? LEGACY16 : LEGACY8)[index];
}

/** AH, CH, DH, BH: bits 15:8 of registers 0-3. */
export function highByteName(index: number): string {
  return HIGH8[index];
}

/** Every register name an instruction can use (rax, eax, ax, al, ah, r8d, r8w, r8b …). */
export const SUB_REGISTERS: ReadonlyMap<string, SubRegister> = buildSubRegisterTable();

/** Looks a register name up, case-insensitively; undefined when it names no register. */
export function lookupSubRegister(name: string): SubRegister | undefined {
  return SUB_REGISTERS.get(name.toLowerCase());
}

const MASK64 = (1n << 64n) - 1n;

function toU64(value: bigint | number, what: string): bigint {
  const v = typeof value === 'number' ? BigInt(value) : value;
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new RangeError(`${what}: ${value} is not an exact integer; pass a bigint`);
  }
  if (v < -(1n << 63n) || v > MASK64) {
    throw new RangeError(`${what}: ${value} does not fit in 64 bits`);
  }
  return v & MASK64;
}

/**
 * The fifteen guest general registers. Values are exact 64-bit unsigned bigints at the API;
 * inside they are 32-bit halves in a Uint32Array (low word at 2*i, high at 2*i+1), so the
 * emulated CPU can share the same storage without allocating per access.
 */
export class GeneralRegisters {
  /** Low/high 32-bit halves by register number; slot 4 (RSP) is never touched here. */
  readonly words: Uint32Array;

  constructor(words?: Uint32Array) {
    if (words !== undefined && words.length < 32) {
      throw new RangeError(`GeneralRegisters storage needs 32 words, got ${words.length}`);
    }
    this.words = words ?? new Uint32Array(32);
  }

  private static checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index > 15) {
      throw new RangeError(`register index ${index} is outside 0-15`);
    }
    if (index === RSP_INDEX) {
      throw new RangeError('register index 4 is RSP, which GeneralRegisters does not hold: guest RSP lives in the VMCS (GUEST_RSP)');
    }
  }

  /** The 64-bit value of register `index` (0-15, not 4). */
  getRegOfIndex(index: number): bigint {
    GeneralRegisters.checkIndex(index);
    return (BigInt(this.words[2 * index + 1]) << 32n) | BigInt(this.words[2 * index]);
  }

  /** Sets register `index` (0-15, not 4) to a 64-bit value. */
  setRegOfIndex(index: number, value: bigint | number): void {
    GeneralRegisters.checkIndex(index);
    const v = toU64(value, GPR_NAMES[index]);
    this.words[2 * index] = Number(v & 0xffffffffn);
    this.words[2 * index + 1] = Number(v >> 32n);
  }

  /** Reads a register by any of its names (rax, eax, ax, al, ah, r9d …), zero-extended. */
  get(name: string): bigint {
    const sub = this.resolve(name);
    const lo = this.words[2 * sub.index];
    switch (sub.size) {
      case 8: return this.getRegOfIndex(sub.index);
      case 4: return BigInt(lo);
      case 2: return BigInt(lo & 0xffff);
      default: return BigInt(sub.high ? (lo >>> 8) & 0xff : lo & 0xff);
    }
  }

  /**
   * Writes a register by name with the semantics of a MOV into it: a 32-bit write clears
   * bits 63:32; 16- and 8-bit writes (AH included) leave every other bit alone.
   */
  set(name: string, value: bigint | number): void {
    const sub = this.resolve(name);
    const bits = BigInt(sub.size * 8);
    const v = typeof value === 'number' ? BigInt(value) : value;
    if (v < -(1n << (bits - 1n)) || v >= 1n << bits) {
      throw new RangeError(`${name}: ${value} does not fit in ${bits} bits`);
    }
    const u = Number(v & ((1n << bits) - 1n) & 0xffffffffn);
    const i = 2 * sub.index;
    switch (sub.size) {
      case 8: this.setRegOfIndex(sub.index, v); return;
      case 4: this.words[i] = u; this.words[i + 1] = 0; return;
      case 2: this.words[i] = ((this.words[i] & 0xffff0000) | u) >>> 0; return;
      default:
        this.words[i] = sub.high
          ? ((this.words[i] & 0xffff00ff) | (u << 8)) >>> 0
          : ((this.words[i] & 0xffffff00) | u) >>> 0;
    }
  }

  private resolve(name: string): SubRegister {
    const sub = lookupSubRegister(name);
    if (sub === undefined) throw new RangeError(`'${name}' names no general register`);
    if (sub.index === RSP_INDEX) {
      throw new RangeError(`'${name}' is part of RSP, which GeneralRegisters does not hold: guest RSP lives in the VMCS (GUEST_RSP)`);
    }
    return sub;
  }

  /**
   * The 128 bytes `save_regs_to_stack!` leaves: pushes from r15 down to rax, with
   * `sub rsp, 8` in place of RSP, so rax is at offset 0, the gap at 32 and r15 at 120.
   * The gap holds zeros here; on silicon it holds whatever was on the stack.
   */
  toStackImage(): Uint8Array {
    const image = new Uint8Array(STACK_IMAGE_SIZE);
    const view = new DataView(image.buffer);
    for (let i = 0; i < 16; i++) {
      if (i === RSP_INDEX) continue;
      view.setUint32(8 * i, this.words[2 * i], true);
      view.setUint32(8 * i + 4, this.words[2 * i + 1], true);
    }
    return image;
  }

  /** Reads a stack image back as `restore_regs_from_stack!` does: the RSP gap is skipped. */
  static fromStackImage(bytes: Uint8Array): GeneralRegisters {
    if (bytes.length !== STACK_IMAGE_SIZE) {
      throw new RangeError(`a GeneralRegisters stack image is ${STACK_IMAGE_SIZE} bytes, got ${bytes.length}`);
    }
    const regs = new GeneralRegisters();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < 16; i++) {
      if (i === RSP_INDEX) continue;
      regs.words[2 * i] = view.getUint32(8 * i, true);
      regs.words[2 * i + 1] = view.getUint32(8 * i + 4, true);
    }
    return regs;
  }

  /** Register name → value, in register-number order, RSP left out. */
  entries(): Array<[GprName, bigint]> {
    const out: Array<[GprName, bigint]> = [];
    for (let i = 0; i < 16; i++) {
      if (i !== RSP_INDEX) out.push([GPR_NAMES[i], this.getRegOfIndex(i)]);
    }
    return out;
  }

  clone(): GeneralRegisters {
    return new GeneralRegisters(this.words.slice());
  }
}
