// ELF32 (EM_386) and ELF64 (EM_X86_64) little-endian executables: header, program headers,
// section headers and the symbol table, checked as they are read so that a malformed file gives
// an ElfError naming the problem and its file offset, never another exception or a hang.
// Layouts: System V gABI chapters 4 and 5 (constants in elf-defs.ts).

import { ByteReader, ReadFailure } from './byte-reader';
import * as D from './elf-defs';
import { GuestSymbol, SymbolBinding, SymbolTable, SymbolType } from './symbol-table';

/** A file that is not a loadable x86 ELF executable, or is damaged; `offset` is where in the file. */
export class ElfError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`ELF: ${message} (file offset 0x${offset.toString(16)})`);
    this.name = 'ElfError';
  }
}

const failElf: ReadFailure = (message, offset) => new ElfError(message, offset);

export interface ElfProgramHeader {
  readonly index: number;
  readonly type: number;
  /** PT_LOAD → 'LOAD', etc.; hex for unknown types. */
  readonly typeName: string;
  /** PF_R | PF_W | PF_X bits. */
  readonly flags: number;
  readonly offset: number;
  readonly vaddr: bigint;
  readonly paddr: bigint;
  readonly fileSize: number;
  readonly memSize: bigint;
  readonly align: bigint;
  /** The p_filesz bytes of the file this segment holds (PT_LOAD only; empty otherwise). */
  readonly data: Uint8Array;
}

export interface ElfSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: bigint;
  readonly addr: bigint;
  readonly offset: number;
  readonly size: bigint;
  readonly link: number;
  readonly entsize: bigint;
}

export interface ElfFile {
  readonly elfClass: 32 | 64;
  readonly machine: number;
  /** ET_EXEC or ET_DYN. */
  readonly type: number;
  readonly entry: bigint;
  readonly programHeaders: readonly ElfProgramHeader[];
  /** The PT_LOAD headers with a non-zero p_memsz, in file order. */
  readonly loadSegments: readonly ElfProgramHeader[];
  readonly sections: readonly ElfSection[];
  readonly symbols: SymbolTable;
  /** Things a user should know that are not errors (e.g. an ET_DYN image loaded unrelocated). */
  readonly notes: readonly string[];
  /** Contents of the named section (undefined if absent or SHT_NOBITS). */
  sectionData(name: string): Uint8Array | undefined;
}

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

function checkIdent(r: ByteReader): 32 | 64 {
  const b = r.bytes;
  if (b.length < D.EI_NIDENT) {
    if (b.length < 4 || D.ELF_MAGIC.some((m, i) => b[i] !== m)) {
      throw new ElfError(`not an ELF file: bad magic (file is only ${b.length} bytes)`, 0);
    }
    throw new ElfError(`truncated ELF identification: file is ${b.length} bytes, needs ${D.EI_NIDENT}`, b.length);
  }
  for (let i = 0; i < 4; i++) {
    if (b[i] !== D.ELF_MAGIC[i]) throw new ElfError(`not an ELF file: bad magic byte ${hex(b[i])}`, i);
  }
  const cls = b[D.EI_CLASS];
  if (cls !== D.ELFCLASS32 && cls !== D.ELFCLASS64) throw new ElfError(`bad class ${cls} (expected 1 for ELF32 or 2 for ELF64)`, D.EI_CLASS);
  if (b[D.EI_DATA] !== D.ELFDATA2LSB) throw new ElfError(`data encoding ${b[D.EI_DATA]} is not little-endian (1)`, D.EI_DATA);
  if (b[D.EI_VERSION] !== D.EV_CURRENT) throw new ElfError(`ELF version ${b[D.EI_VERSION]} in e_ident is not 1`, D.EI_VERSION);
  return cls === D.ELFCLASS32 ? 32 : 64;
}

/** Parses and checks an x86 ELF executable held in `bytes` (not copied; keep it unchanged). */
export function parseElf(bytes: Uint8Array): ElfFile {
  const r = new ByteReader(bytes, failElf);
  const elfClass = checkIdent(r);
  const L = D.LAYOUT[elfClass];
  const word = (what: string): bigint => r.unsigned(L.word, what);
  r.need(0, L.ehdr, `truncated ELF${elfClass} header`);
  r.pos = D.EI_NIDENT;
  const type = r.u16('e_type');
  const machine = r.u16('e_machine');
  const version = r.u32('e_version');
  const entry = word('e_entry');
  const phoff = word('e_phoff');
  const shoff = word('e_shoff');
  r.u32('e_flags');
  r.u16('e_ehsize');
  const phentsize = r.u16('e_phentsize');
  let phnum = r.u16('e_phnum');
  const shentsize = r.u16('e_shentsize');
  let shnum = r.u16('e_shnum');
  let shstrndx = r.u16('e_shstrndx');

  const notes: string[] = [];
  if (type === D.ET_DYN) {
    notes.push('ET_DYN (position-independent) image: loaded at its link addresses without relocation');
  } else if (type !== D.ET_EXEC) {
    const what = type === D.ET_REL ? 'a relocatable object (ET_REL); link it first' : type === D.ET_CORE ? 'a core dump (ET_CORE)' : `of type ${type}`;
    throw new ElfError(`file is ${what}, not an executable (ET_EXEC or ET_DYN)`, 0x10);
  }
  const expected = elfClass === 64 ? D.EM_X86_64 : D.EM_386;
  if (machine !== expected) {
    const name = D.MACHINE_NAMES[machine] ?? `machine ${machine}`;
    throw new ElfError(`ELF${elfClass} file for ${name}; this loader takes ${D.MACHINE_NAMES[expected]} in ELF${elfClass}`, 0x12);
  }
  if (version !== D.EV_CURRENT) throw new ElfError(`e_version ${version} is not 1`, 0x14);

  // Section headers come first: extended numbering keeps real counts in section 0.
  const shBeyond = (count: number): ElfError => new ElfError(
    `section header table at e_shoff ${hex(shoff)} (${count} × ${shentsize} bytes) lies beyond the end of the file (${hex(bytes.length)})`, L.shoffField);
  if (shoff !== 0n && shoff + BigInt(L.shdr) > BigInt(bytes.length)) throw shBeyond(Math.max(shnum, 1));
  const shOffset = Number(shoff);
  if (shoff !== 0n) {
    if (shentsize < L.shdr) throw new ElfError(`e_shentsize ${shentsize} is smaller than an ELF${elfClass} section header (${L.shdr})`, L.ehdr - 6);
    const s0 = readSectionHeader(r, elfClass, shOffset, 0);
    if (shnum === 0) shnum = numberOr(s0.section.size, bytes.length, 'section count in section 0 sh_size', shOffset);
    if (shstrndx === D.SHN_XINDEX) shstrndx = s0.section.link;
    if (phnum === D.PN_XNUM) phnum = s0.info;
  } else {
    shnum = 0;
  }
  if (shnum > 0) {
    const tableSize = shnum * shentsize;
    if (shOffset + tableSize > bytes.length) throw shBeyond(shnum);
  }

  const programHeaders = readProgramHeaders(r, elfClass, phoff, phnum, phentsize);
  const loadSegments = programHeaders.filter((p) => p.type === D.PT_LOAD && p.memSize > 0n);
  checkNoOverlap(loadSegments, elfClass);

  const raw: Array<ReturnType<typeof readSectionHeader>> = [];
  for (let i = 0; i < shnum; i++) raw.push(readSectionHeader(r, elfClass, shOffset + i * shentsize, i));
  if (shnum > 0 && shstrndx !== D.SHN_UNDEF && shstrndx >= shnum) {
    throw new ElfError(`e_shstrndx ${shstrndx} is not a section (there are ${shnum})`, L.ehdr - 2);
  }
  const contents = (s: ElfSection): Uint8Array => {
    if (s.type === D.SHT_NOBITS) return new Uint8Array(0);
    const size = numberOr(s.size, bytes.length, `section [${s.index}] size`, s.offset);
    if (s.offset + size > bytes.length) {
      throw new ElfError(`section [${s.index}] file range ${hex(s.offset)}-${hex(s.offset + size)} lies beyond the end of the file (${hex(bytes.length)})`, s.offset);
    }
    return bytes.subarray(s.offset, s.offset + size);
  };
  const names = shnum > 0 && shstrndx !== D.SHN_UNDEF ? new StringTable(contents(raw[shstrndx].section)) : undefined;
  const sections: ElfSection[] = raw.map(({ section, nameIndex, headerOffset }) => ({
    ...section,
    name: names === undefined ? '' : names.get(nameIndex, headerOffset, () => `name of section [${section.index}]`),
  }));

  const symbols = readSymbols(elfClass, sections, contents);
  const byName = new Map<string, ElfSection>();
  for (const s of sections) if (!byName.has(s.name) && s.name !== '') byName.set(s.name, s);

  return {
    elfClass, machine, type, entry, programHeaders, loadSegments, sections, symbols, notes,
    sectionData(name: string): Uint8Array | undefined {
      const s = byName.get(name);
      return s === undefined || s.type === D.SHT_NOBITS ? undefined : contents(s);
    },
  };
}

/** NUL-terminated names by index; an error points at the entry (`at`) that holds the bad index. */
class StringTable {
  private at = 0;
  private readonly reader: ByteReader;

  constructor(bytes: Uint8Array) {
    this.reader = new ByteReader(bytes, (m) => new ElfError(m, this.at));
  }

  get(index: number, at: number, what: () => string): string {
    this.at = at;
    return this.reader.cstringAt(index, what);
  }
}

function numberOr(v: bigint, limit: number, what: string, at: number): number {
  if (v > BigInt(limit)) throw new ElfError(`${what} ${hex(v)} is larger than the file (${hex(limit)} bytes)`, at);
  return Number(v);
}

/** One section header; the name is filled in once the section-name table is known. */
function readSectionHeader(r: ByteReader, elfClass: 32 | 64, at: number, index: number): { section: ElfSection; info: number; nameIndex: number; headerOffset: number } {
  const word = (what: string): bigint => r.unsigned(elfClass / 8, what);
  r.pos = at;
  const what = `section header [${index}]`;
  const nameIndex = r.u32(what);
  const type = r.u32(what);
  const flags = word(what);
  const addr = word(what);
  const offsetBig = word(what);
  const size = word(what);
  const link = r.u32(what);
  const info = r.u32(what);
  word(what);
  const entsize = word(what);
  const offset = type === D.SHT_NOBITS ? 0 : numberOr(offsetBig, r.length, `section [${index}] sh_offset`, at);
  return { section: { index, name: '', type, flags, addr, offset, size, link, entsize }, info, nameIndex, headerOffset: at };
}

function readProgramHeaders(r: ByteReader, elfClass: 32 | 64, phoff: bigint, phnum: number, phentsize: number): ElfProgramHeader[] {
  if (phnum === 0) return [];
  const L = D.LAYOUT[elfClass];
  if (phentsize < L.phdr) throw new ElfError(`e_phentsize ${phentsize} is smaller than an ELF${elfClass} program header (${L.phdr})`, L.ehdr - 10);
  const tableEnd = phoff + BigInt(phnum * phentsize);
  if (tableEnd > BigInt(r.length)) {
    throw new ElfError(`program header table at e_phoff ${hex(phoff)} (${phnum} × ${phentsize} bytes) lies beyond the end of the file (${hex(r.length)})`, L.phoffField);
  }
  const out: ElfProgramHeader[] = [];
  const word = (what: string): bigint => r.unsigned(L.word, what);
  for (let i = 0; i < phnum; i++) {
    const at = Number(phoff) + i * phentsize;
    r.pos = at;
    const what = `program header [${i}]`;
    let type: number; let flags: number; let offset: bigint; let vaddr: bigint; let paddr: bigint;
    let filesz: bigint; let memSize: bigint; let align: bigint;
    if (elfClass === 64) {
      type = r.u32(what); flags = r.u32(what); offset = word(what); vaddr = word(what); paddr = word(what);
      filesz = word(what); memSize = word(what); align = word(what);
    } else {
      type = r.u32(what); offset = word(what); vaddr = word(what); paddr = word(what);
      filesz = word(what); memSize = word(what); flags = r.u32(what); align = word(what);
    }
    const typeName = D.PT_TYPE_NAMES[type] ?? hex(type);
    let data: Uint8Array = new Uint8Array(0);
    let fileOffset = 0;
    let fileSize = 0;
    if (type === D.PT_LOAD) {
      if (filesz > memSize) {
        throw new ElfError(`segment [${i}] (program header at ${hex(at)}): p_filesz ${hex(filesz)} is larger than p_memsz ${hex(memSize)}`, at);
      }
      if (offset + filesz > BigInt(r.length)) {
        throw new ElfError(`segment [${i}] (program header at ${hex(at)}): file range ${hex(offset)}-${hex(offset + filesz)} lies beyond the end of the file (${hex(r.length)})`, at);
      }
      if (paddr + memSize > 1n << BigInt(elfClass)) {
        throw new ElfError(`segment [${i}] (program header at ${hex(at)}): physical range ${hex(paddr)}+${hex(memSize)} wraps past the top of the ${elfClass}-bit address space`, at);
      }
      fileOffset = Number(offset);
      fileSize = Number(filesz);
      data = r.bytes.subarray(fileOffset, fileOffset + fileSize);
    } else {
      fileOffset = offset > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(offset);
      fileSize = filesz > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(filesz);
    }
    out.push({ index: i, type, typeName, flags, offset: fileOffset, vaddr, paddr, fileSize, memSize, align, data });
  }
  return out;
}

/** Two loadable segments may not claim the same physical bytes. */
function checkNoOverlap(segments: readonly ElfProgramHeader[], elfClass: 32 | 64): void {
  const sorted = [...segments].sort((a, b) => (a.paddr < b.paddr ? -1 : a.paddr > b.paddr ? 1 : 0));
  for (let k = 1; k < sorted.length; k++) {
    const a = sorted[k - 1];
    const b = sorted[k];
    if (b.paddr < a.paddr + a.memSize) {
      const at = a.index * D.LAYOUT[elfClass].phdr;
      throw new ElfError(`loadable segments [${a.index}] (physical ${hex(a.paddr)}-${hex(a.paddr + a.memSize)}) and [${b.index}] (physical ${hex(b.paddr)}-${hex(b.paddr + b.memSize)}) overlap`, at);
    }
  }
}

function readSymbols(elfClass: 32 | 64, sections: readonly ElfSection[], contents: (s: ElfSection) => Uint8Array): SymbolTable {
  const table = sections.find((s) => s.type === D.SHT_SYMTAB) ?? sections.find((s) => s.type === D.SHT_DYNSYM);
  if (table === undefined) return SymbolTable.EMPTY;
  const L = D.LAYOUT[elfClass];
  if (table.entsize !== BigInt(L.sym)) {
    throw new ElfError(`symbol table section [${table.index}] has sh_entsize ${table.entsize}, expected ${L.sym} for ELF${elfClass}`, table.offset);
  }
  if (table.link >= sections.length) {
    throw new ElfError(`symbol table section [${table.index}] links to string table [${table.link}], which does not exist`, table.offset);
  }
  const strtab = sections[table.link];
  if (strtab.type !== D.SHT_STRTAB) {
    throw new ElfError(`symbol table section [${table.index}] links to section [${strtab.index}], which is not a string table`, table.offset);
  }
  const strings = new StringTable(contents(strtab));
  const data = contents(table);
  const r = new ByteReader(data, (m, o) => new ElfError(m, table.offset + o));
  const count = Math.floor(data.length / L.sym);
  const out: GuestSymbol[] = [];
  for (let i = 0; i < count; i++) {
    r.pos = i * L.sym;
    const what = `symbol [${i}]`;
    let nameIndex: number; let value: bigint; let size: bigint; let info: number; let shndx: number;
    if (elfClass === 64) {
      nameIndex = r.u32(what); info = r.u8(what); r.u8(what); shndx = r.u16(what); value = r.u64(what); size = r.u64(what);
    } else {
      nameIndex = r.u32(what); value = BigInt(r.u32(what)); size = BigInt(r.u32(what)); info = r.u8(what); r.u8(what); shndx = r.u16(what);
    }
    const name = strings.get(nameIndex, table.offset + i * L.sym, () => `name of symbol [${i}] in string table ${strtab.name || `[${strtab.index}]`}`);
    const type: SymbolType = D.SYMBOL_TYPES[info & 0xf] ?? 'OTHER';
    const binding: SymbolBinding = D.SYMBOL_BINDINGS[info >> 4] ?? 'OTHER';
    const defined = shndx !== D.SHN_UNDEF;
    const located = defined && (shndx < D.SHN_LORESERVE || shndx === D.SHN_XINDEX);
    out.push({ name, value, size, type, binding, defined, located });
  }
  return new SymbolTable(out);
}
