// DWARF .debug_line (versions 2-5) decoded into rows of the line-number matrix, and the two
// lookups a source-level debugger needs: address → file and line (current line, call stack)
// and file and line → addresses (source breakpoints). DWARF 5 standard, section 6.2; the v5
// entry-format tables may point into .debug_line_str and .debug_str.

import { ByteReader, ReadFailure } from './byte-reader';
import * as W from './dwarf-defs';

/** Malformed line-number data; names the problem and its offset in the section. */
export class DwarfError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`DWARF: ${message}`);
    this.name = 'DwarfError';
  }
}

export interface LineRow {
  readonly address: bigint;
  /** Path as the producer recorded it (directory joined with the file name). */
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly isStmt: boolean;
  /** The first address after a sequence; the row carries no source position of its own. */
  readonly endSequence: boolean;
}

export interface DebugLineSections {
  readonly debugLine: Uint8Array;
  readonly debugLineStr?: Uint8Array;
  readonly debugStr?: Uint8Array;
}

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

/** Joins a directory and a name the way the producer meant them; absolute names stand alone. */
function joinPath(dir: string, name: string): string {
  if (dir === '' || name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name)) return name;
  return dir.endsWith('/') || dir.endsWith('\\') ? dir + name : `${dir}/${name}`;
}

interface FileEntry { name: string; dir: number }

/** Decodes every line-number program in the section, in order. */
export function decodeDebugLine(sections: DebugLineSections): LineTable {
  const section = sections.debugLine;
  const fail: ReadFailure = (m, o) => new DwarfError(`${m} (.debug_line offset ${hex(o)})`, o);
  const rows: LineRow[] = [];
  let offset = 0;
  while (offset < section.length) {
    offset = decodeUnit(section, offset, sections, fail, rows);
  }
  return new LineTable(rows);
}

function decodeUnit(section: Uint8Array, unitStart: number, sections: DebugLineSections, fail: ReadFailure, rows: LineRow[]): number {
  let r = new ByteReader(section, fail);
  r.pos = unitStart;
  let length = r.u32('unit_length');
  let offsetSize = 4;
  if (length === W.DWARF64_ESCAPE) {
    const big = r.u64('64-bit unit_length');
    if (big > BigInt(section.length)) throw fail(`unit at ${hex(unitStart)} claims length ${hex(big)}, beyond the section (${hex(section.length)} bytes)`, unitStart);
    length = Number(big);
    offsetSize = 8;
  } else if (length >= W.DWARF_RESERVED_LENGTHS) {
    throw fail(`unit at ${hex(unitStart)} has reserved unit_length ${hex(length)}`, unitStart);
  }
  const unitEnd = r.pos + length;
  if (unitEnd > section.length) {
    throw fail(`unit at ${hex(unitStart)} claims length ${hex(length)}, beyond the section (${hex(section.length)} bytes)`, unitStart);
  }
  // Reads inside the unit must not stray into the next one.
  const pos = r.pos;
  r = new ByteReader(section.subarray(0, unitEnd), fail);
  r.pos = pos;
  const version = r.u16('version');
  if (version < 2 || version > 5) throw fail(`unit at ${hex(unitStart)} has line table version ${version}; versions 2-5 are supported`, pos);
  let headerAddressSize = 0;
  if (version >= 5) {
    headerAddressSize = r.u8('address_size');
    if (headerAddressSize !== 4 && headerAddressSize !== 8) throw fail(`address_size ${headerAddressSize} is neither 4 nor 8`, r.pos - 1);
    r.u8('segment_selector_size');
  }
  const headerLength = r.unsigned(offsetSize, 'header_length');
  const programStart = BigInt(r.pos) + headerLength;
  if (programStart > BigInt(unitEnd)) throw fail(`header_length ${hex(headerLength)} runs past the end of the unit at ${hex(unitEnd)}`, r.pos - offsetSize);
  const minInstLength = BigInt(r.u8('minimum_instruction_length'));
  const maxOps = version >= 4 ? r.u8('maximum_operations_per_instruction') : 1;
  if (maxOps === 0) throw fail('maximum_operations_per_instruction is 0', r.pos - 1);
  const defaultIsStmt = r.u8('default_is_stmt') !== 0;
  const lineBase = r.i8('line_base');
  const lineRange = r.u8('line_range');
  if (lineRange === 0) throw fail('line_range is 0', r.pos - 1);
  const opcodeBase = r.u8('opcode_base');
  if (opcodeBase === 0) throw fail('opcode_base is 0', r.pos - 1);
  const argCounts: number[] = [];
  for (let k = 1; k < opcodeBase; k++) argCounts.push(r.u8('standard_opcode_lengths'));

  const dirs: string[] = [];
  const files: FileEntry[] = [];
  if (version >= 5) {
    readEntryTable(r, offsetSize, sections, fail, 'directory', (e) => dirs.push(e.path));
    readEntryTable(r, offsetSize, sections, fail, 'file name', (e) => files.push({ name: e.path, dir: e.dir }));
  } else {
    // v2-4: directory 0 is the compilation directory (not in the table); files count from 1.
    dirs.push('');
    for (;;) {
      const d = r.cstring('include_directories');
      if (d === '') break;
      dirs.push(d);
    }
    files.push({ name: '', dir: 0 });
    for (;;) {
      const name = r.cstring('file_names');
      if (name === '') break;
      files.push(readV4FileRest(r, name));
    }
  }
  const paths: Array<string | undefined> = [];
  const pathOf = (index: number, at: number): string => {
    let p = paths[index];
    if (p !== undefined) return p;
    const f = files[index];
    if (f === undefined || (version < 5 && index === 0)) throw fail(`file index ${index} is not in the file table (${files.length - (version < 5 ? 1 : 0)} entries)`, at);
    if (f.dir >= dirs.length) throw fail(`file ${index} (${f.name}) names directory ${f.dir}, beyond the ${dirs.length} directories`, at);
    let dir = dirs[f.dir];
    if (version >= 5 && f.dir !== 0) dir = joinPath(dirs[0], dir);
    p = joinPath(dir, f.name);
    paths[index] = p;
    return p;
  };

  r.pos = Number(programStart);
  // State machine registers (6.2.2).
  let address = 0n;
  let opIndex = 0n;
  let file = 1;
  let line = 1;
  let column = 0;
  let isStmt = defaultIsStmt;
  const maxOpsBig = BigInt(maxOps);
  const reset = (): void => {
    address = 0n; opIndex = 0n; file = 1; line = 1; column = 0; isStmt = defaultIsStmt;
  };
  const advance = (operationAdvance: bigint): void => {
    if (maxOps === 1) {
      address = BigInt.asUintN(64, address + minInstLength * operationAdvance);
    } else {
      const t = opIndex + operationAdvance;
      address = BigInt.asUintN(64, address + minInstLength * (t / maxOpsBig));
      opIndex = t % maxOpsBig;
    }
  };
  const emit = (endSequence: boolean, at: number): void => {
    rows.push({ address, file: pathOf(file, at), line, column, isStmt, endSequence });
  };
  while (r.pos < unitEnd) {
    const at = r.pos;
    const op = r.u8('opcode');
    if (op >= opcodeBase) {
      const adjusted = op - opcodeBase;
      advance(BigInt(Math.floor(adjusted / lineRange)));
      line += lineBase + (adjusted % lineRange);
      emit(false, at);
      continue;
    }
    switch (op) {
      case 0: {
        const len = r.uleb('extended opcode length');
        const end = r.pos + len;
        if (len === 0 || end > unitEnd) throw fail(`extended opcode at ${hex(at)} has length ${len}, beyond the unit end ${hex(unitEnd)}`, at);
        const sub = r.u8('extended opcode');
        if (sub === W.DW_LNE_end_sequence) {
          emit(true, at);
          reset();
        } else if (sub === W.DW_LNE_set_address) {
          const size = len - 1;
          if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw fail(`DW_LNE_set_address with a ${size}-byte operand`, at);
          if (headerAddressSize !== 0 && size !== headerAddressSize) throw fail(`DW_LNE_set_address with a ${size}-byte operand in a unit whose address_size is ${headerAddressSize}`, at);
          address = r.unsigned(size, 'DW_LNE_set_address operand');
          opIndex = 0n;
        } else if (sub === W.DW_LNE_define_file && version < 5) {
          files.push(readV4FileRest(r, r.cstring('DW_LNE_define_file name')));
        }
        // DW_LNE_set_discriminator and unknown extended opcodes carry nothing we keep.
        r.pos = end;
        break;
      }
      case W.DW_LNS_copy: emit(false, at); break;
      case W.DW_LNS_advance_pc: advance(r.ulebBig('DW_LNS_advance_pc operand')); break;
      case W.DW_LNS_advance_line: line += r.sleb('DW_LNS_advance_line operand'); break;
      case W.DW_LNS_set_file: file = r.uleb('DW_LNS_set_file operand'); break;
      case W.DW_LNS_set_column: column = r.uleb('DW_LNS_set_column operand'); break;
      case W.DW_LNS_negate_stmt: isStmt = !isStmt; break;
      case W.DW_LNS_set_basic_block: break;
      case W.DW_LNS_const_add_pc: advance(BigInt(Math.floor((255 - opcodeBase) / lineRange))); break;
      case W.DW_LNS_fixed_advance_pc:
        address = BigInt.asUintN(64, address + BigInt(r.u16('DW_LNS_fixed_advance_pc operand')));
        opIndex = 0n;
        break;
      case W.DW_LNS_set_prologue_end: case W.DW_LNS_set_epilogue_begin: break;
      case W.DW_LNS_set_isa: r.uleb('DW_LNS_set_isa operand'); break;
      default:
        // A standard opcode this decoder does not know: skip its LEB128 operands.
        for (let k = 0; k < argCounts[op - 1]; k++) r.ulebBig(`operand of opcode ${op}`);
    }
  }
  return unitEnd;
}

function readV4FileRest(r: ByteReader, name: string): FileEntry {
  const dir = r.uleb('file directory index');
  r.ulebBig('file modification time');
  r.ulebBig('file length');
  return { name, dir };
}

/** One v5 directory or file-name table: format pairs, then entries in that format (6.2.4). */
function readEntryTable(r: ByteReader, offsetSize: number, sections: DebugLineSections, fail: ReadFailure, what: string,
  add: (e: { path: string; dir: number }) => void): void {
  const formatCount = r.u8(`${what} entry format count`);
  const formats: Array<[number, number]> = [];
  for (let k = 0; k < formatCount; k++) formats.push([r.uleb(`${what} entry content type`), r.uleb(`${what} entry form`)]);
  const countAt = r.pos;
  const count = r.uleb(`${what} count`);
  if (count > 0 && !formats.some(([ct]) => ct === W.DW_LNCT_path)) throw fail(`${what} table has ${count} entries but no DW_LNCT_path field`, countAt);
  // Every entry takes at least one byte, so a count beyond the remaining bytes is damage.
  if (count > r.remaining) throw fail(`${what} count ${count} exceeds the bytes left in the unit`, countAt);
  const lineStr = sections.debugLineStr === undefined ? undefined : new ByteReader(sections.debugLineStr, fail);
  const str = sections.debugStr === undefined ? undefined : new ByteReader(sections.debugStr, fail);
  for (let i = 0; i < count; i++) {
    let path = '';
    let dir = 0;
    for (const [contentType, form] of formats) {
      const at = r.pos;
      const v = readForm(r, form, offsetSize, fail, `${what} ${i}`);
      if (contentType === W.DW_LNCT_path) {
        if (typeof v === 'string') path = v;
        else if (v.kind === 'line_strp' || v.kind === 'strp') {
          const table = v.kind === 'line_strp' ? lineStr : str;
          const name = v.kind === 'line_strp' ? '.debug_line_str' : '.debug_str';
          if (table === undefined) throw fail(`${what} ${i} refers to ${name}, which the image does not have`, at);
          if (v.offset >= BigInt(table.length)) throw fail(`${what} ${i}: string offset ${hex(v.offset)} is out of range of ${name} (${hex(table.length)} bytes)`, at);
          path = table.cstringAt(Number(v.offset), `${what} ${i} in ${name}`);
        } else {
          throw fail(`${what} ${i}: DW_LNCT_path has non-string form ${hex(form)}`, at);
        }
      } else if (contentType === W.DW_LNCT_directory_index) {
        if (typeof v === 'string' || v.kind !== 'number') throw fail(`${what} ${i}: DW_LNCT_directory_index has non-integer form ${hex(form)}`, at);
        dir = v.value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v.value);
      }
      // DW_LNCT_timestamp, _size, _MD5 and vendor types are read past.
    }
    add({ path, dir });
  }
}

type FormValue = string | { kind: 'number'; value: bigint } | { kind: 'line_strp' | 'strp'; offset: bigint } | { kind: 'block' };

function readForm(r: ByteReader, form: number, offsetSize: number, fail: ReadFailure, what: string): FormValue {
  switch (form) {
    case W.DW_FORM_string: return r.cstring(what);
    case W.DW_FORM_line_strp: return { kind: 'line_strp', offset: r.unsigned(offsetSize, what) };
    case W.DW_FORM_strp: return { kind: 'strp', offset: r.unsigned(offsetSize, what) };
    case W.DW_FORM_udata: return { kind: 'number', value: r.ulebBig(what) };
    case W.DW_FORM_sdata: return { kind: 'number', value: r.slebBig(what) };
    case W.DW_FORM_data1: return { kind: 'number', value: r.unsigned(1, what) };
    case W.DW_FORM_data2: return { kind: 'number', value: r.unsigned(2, what) };
    case W.DW_FORM_data4: return { kind: 'number', value: r.unsigned(4, what) };
    case W.DW_FORM_data8: return { kind: 'number', value: r.unsigned(8, what) };
    case W.DW_FORM_data16: r.skip(16, what); return { kind: 'block' };
    case W.DW_FORM_block: r.skip(r.uleb(what), what); return { kind: 'block' };
    case W.DW_FORM_block1: r.skip(r.u8(what), what); return { kind: 'block' };
    default: throw fail(`${what}: form ${hex(form)} is not supported in a line table header`, r.pos);
  }
}

/** One address range [start, end) of a sequence and the row that describes it. */
interface Span { start: bigint; end: bigint; row: LineRow }

/** Normalizes a path for comparison: forward slashes only. */
const norm = (p: string): string => p.replace(/\\/g, '/');

/** True when two spellings of a path name the same file: equal, or one is a suffix of the other at a '/' boundary. */
export function sameSourceFile(tablePath: string, wanted: string): boolean {
  const a = norm(tablePath);
  const b = norm(wanted);
  return a === b || a.endsWith(`/${b}`) || b.endsWith(`/${a}`);
}

/** The decoded matrix of one image (all units), with lookups. */
export class LineTable {
  static readonly EMPTY = new LineTable([]);
  private readonly spans: Span[] = [];
  /** maxEnd[i] = the largest end among spans[0..i]; bounds the backward search when spans overlap. */
  private readonly maxEnd: bigint[] = [];

  constructor(readonly rows: readonly LineRow[]) {
    let seqStart = 0;
    for (let i = 0; i < rows.length; i++) {
      if (rows[i].endSequence) {
        this.addSequence(seqStart, i);
        seqStart = i + 1;
      }
    }
    this.spans.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    let m = -1n;
    for (const s of this.spans) {
      if (s.end > m) m = s.end;
      this.maxEnd.push(m);
    }
  }

  /** Rows first..last of one sequence; `last` is its end_sequence row. */
  private addSequence(first: number, last: number): void {
    const rows = this.rows;
    let group = first;
    for (let i = first; i < last; i++) {
      const next = rows[i + 1];
      if (next.address === rows[i].address) continue;
      if (next.address > rows[i].address) {
        // Several rows at one address (views): the last statement row names it, as a debugger shows it.
        let pick = i;
        for (let k = i; k >= group; k--) {
          if (rows[k].isStmt) { pick = k; break; }
        }
        this.spans.push({ start: rows[i].address, end: next.address, row: rows[pick] });
      }
      group = i + 1;
    }
  }

  get isEmpty(): boolean {
    return this.rows.length === 0;
  }

  /** Every distinct source path, in first-seen order. */
  get files(): string[] {
    return [...new Set(this.rows.filter((r) => !r.endSequence).map((r) => r.file))];
  }

  /** The source position of the instruction at `address`, or undefined if no sequence covers it. */
  lookup(address: bigint): LineRow | undefined {
    const spans = this.spans;
    let lo = 0;
    let hi = spans.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (spans[mid].start <= address) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    for (let k = found; k >= 0 && this.maxEnd[k] > address; k--) {
      if (address < spans[k].end) return spans[k].row;
    }
    return undefined;
  }

  /**
   * Where a breakpoint on `file`:`line` goes: the addresses where statement rows of that line
   * begin (one per place the line's code is entered, e.g. each inlined copy). When the line
   * has no code, the next line in the same file that has, as gdb does; undefined if none.
   */
  addressesOf(file: string, line: number): { line: number; addresses: bigint[] } | undefined {
    let best = Infinity;
    const candidates: Array<{ line: number; address: bigint }> = [];
    let prev: LineRow | undefined;
    for (const row of this.rows) {
      const entered = prev === undefined || prev.endSequence || prev.line !== row.line || prev.file !== row.file;
      prev = row;
      if (row.endSequence || !row.isStmt || !entered || row.line < line || row.line > best) continue;
      if (!sameSourceFile(row.file, file)) continue;
      best = row.line;
      candidates.push({ line: row.line, address: row.address });
    }
    if (best === Infinity) return undefined;
    const addresses = [...new Set(candidates.filter((c) => c.line === best).map((c) => c.address))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return { line: best, addresses };
  }
}
