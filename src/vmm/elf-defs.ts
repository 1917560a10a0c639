// ELF constants the loader reads: System V ABI, "generic ABI" chapters 4 (ELF header, sections,
// symbol table) and 5 (program header), plus the x86 machine numbers. Kept as data in one place.

/** e_ident[0..3]. */
export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const;
/** e_ident indices. */
export const EI_CLASS = 4;
export const EI_DATA = 5;
export const EI_VERSION = 6;
export const EI_NIDENT = 16;
export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const EV_CURRENT = 1;

/** e_type. */
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

/** e_machine values this loader accepts, each with the only class it comes in. */
export const EM_386 = 3;
export const EM_X86_64 = 62;
export const MACHINE_NAMES: Readonly<Record<number, string>> = {
  [EM_386]: 'EM_386', [EM_X86_64]: 'EM_X86_64', 40: 'EM_ARM', 183: 'EM_AARCH64', 243: 'EM_RISCV', 8: 'EM_MIPS', 20: 'EM_PPC', 21: 'EM_PPC64',
};

/**
 * Sizes of the ELF header, a program header, a section header and a symbol, per class, and
 * where e_phoff/e_shoff sit in the ELF header (for errors that point at them).
 */
export const LAYOUT = {
  32: { ehdr: 52, phdr: 32, shdr: 40, sym: 16, word: 4, phoffField: 0x1c, shoffField: 0x20 },
  64: { ehdr: 64, phdr: 56, shdr: 64, sym: 24, word: 8, phoffField: 0x20, shoffField: 0x28 },
} as const;

/** p_type. */
export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'NULL', 1: 'LOAD', 2: 'DYNAMIC', 3: 'INTERP', 4: 'NOTE', 5: 'SHLIB', 6: 'PHDR', 7: 'TLS',
  0x6474e550: 'GNU_EH_FRAME', 0x6474e551: 'GNU_STACK', 0x6474e552: 'GNU_RELRO', 0x6474e553: 'GNU_PROPERTY',
};
/** p_flags. */
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

/** sh_type. */
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;

/** Special section indices. */
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const SHN_XINDEX = 0xffff;
/** e_phnum value meaning "the real count is in section 0's sh_info". */
export const PN_XNUM = 0xffff;

/** ELF32_ST_TYPE / ELF64_ST_TYPE (low nibble of st_info). */
export const SYMBOL_TYPES = ['NOTYPE', 'OBJECT', 'FUNC', 'SECTION', 'FILE', 'COMMON', 'TLS'] as const;
/** ELF32_ST_BIND (high nibble of st_info). */
export const SYMBOL_BINDINGS = ['LOCAL', 'GLOBAL', 'WEAK'] as const;
