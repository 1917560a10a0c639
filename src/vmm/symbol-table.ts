// A guest's symbols and the two questions a debugger asks of them: which function holds this
// address (for the call stack and disassembly), and where does this name live (for breakpoints
// and expressions).

export type SymbolType = 'NOTYPE' | 'OBJECT' | 'FUNC' | 'SECTION' | 'FILE' | 'COMMON' | 'TLS' | 'OTHER';
export type SymbolBinding = 'LOCAL' | 'GLOBAL' | 'WEAK' | 'OTHER';

export interface GuestSymbol {
  readonly name: string;
  /** Address (or, for SHN_ABS symbols, just a value). */
  readonly value: bigint;
  /** Size in bytes; 0 when unknown (plain assembler labels). */
  readonly size: bigint;
  readonly type: SymbolType;
  readonly binding: SymbolBinding;
  /** Defined in a section of the image (not undefined, absolute or common). */
  readonly located: boolean;
  /** Defined at all (st_shndx != SHN_UNDEF). */
  readonly defined: boolean;
}

export interface SymbolLocation {
  readonly symbol: GuestSymbol;
  readonly offset: bigint;
}

const BINDING_RANK: Record<SymbolBinding, number> = { GLOBAL: 3, WEAK: 2, LOCAL: 1, OTHER: 0 };

/** Which of two symbols at the same address names it better: sized functions, then globals. */
function better(a: GuestSymbol, b: GuestSymbol): number {
  const fa = a.type === 'FUNC' ? 1 : 0;
  const fb = b.type === 'FUNC' ? 1 : 0;
  if (fa !== fb) return fb - fa;
  return BINDING_RANK[b.binding] - BINDING_RANK[a.binding];
}

export class SymbolTable {
  static readonly EMPTY = new SymbolTable([]);

  // Both indexes are built on first use: a large image's table costs nothing until asked.
  private codeIndex: GuestSymbol[] | undefined;
  private nameIndex: Map<string, GuestSymbol> | undefined;

  constructor(readonly all: readonly GuestSymbol[]) {}

  /** Code-like symbols (FUNC, NOTYPE) sorted by address, best name first among equals. */
  private get code(): GuestSymbol[] {
    this.codeIndex ??= this.all
      .filter((s) => s.located && s.name !== '' && (s.type === 'FUNC' || s.type === 'NOTYPE'))
      .sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : better(a, b)));
    return this.codeIndex;
  }

  private get names(): Map<string, GuestSymbol> {
    if (this.nameIndex === undefined) {
      this.nameIndex = new Map();
      for (const s of this.all) {
        if (!s.defined || s.name === '' || s.type === 'SECTION' || s.type === 'FILE') continue;
        const prev = this.nameIndex.get(s.name);
        if (prev === undefined || BINDING_RANK[s.binding] > BINDING_RANK[prev.binding]) this.nameIndex.set(s.name, s);
      }
    }
    return this.nameIndex;
  }

  /** The defined symbol of that name (a global one if the name also exists as a local). */
  byName(name: string): GuestSymbol | undefined {
    return this.names.get(name);
  }

  addressOf(name: string): bigint | undefined {
    return this.names.get(name)?.value;
  }

  /**
   * The function or label holding `address`: the nearest FUNC/NOTYPE symbol at or below it, as
   * long as the address is within that symbol's size when the size is known.
   */
  at(address: bigint): SymbolLocation | undefined {
    const code = this.code;
    let lo = 0;
    let hi = code.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (code[mid].value <= address) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return undefined;
    // Among the symbols at that address, the best-ranked one whose size admits the address.
    let first = found;
    while (first > 0 && code[first - 1].value === code[found].value) first--;
    for (let k = first; k <= found; k++) {
      const s = code[k];
      const offset = address - s.value;
      if (s.size === 0n || offset < s.size) return { symbol: s, offset };
    }
    return undefined;
  }

  /** `name` or `name+0x1f`, as a call stack shows it; undefined when no symbol holds the address. */
  describe(address: bigint): string | undefined {
    const loc = this.at(address);
    if (loc === undefined) return undefined;
    return loc.offset === 0n ? loc.symbol.name : `${loc.symbol.name}+0x${loc.offset.toString(16)}`;
  }
}
