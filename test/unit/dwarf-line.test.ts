// DWARF line tables from real guests: GNU as (DWARF 2-5, ELF32 and ELF64) and gcc (DWARF 4/5,
// inlined header code, 64-bit DWARF), decoded row by row against objdump --dwarf=decodedline;
// lookups checked against where the source text puts each label; damaged sections → DwarfError.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { decodeDebugLine, DwarfError, LineRow, LineTable } from '../../src/vmm/dwarf-line';
import { parseElf } from '../../src/vmm/elf';
import { loadElfImage } from '../../src/vmm/guest-image';
import { BuiltElf, buildAsm, buildC, gnuToolsAvailable, nmSymbols, objdumpDecodedLines, workDir, xorshift32 } from '../support/gnu-tools';

const skip = !gnuToolsAvailable() && 'needs GNU binutils and gcc';

const ASM = `.intel_syntax noprefix
.text
.globl _start
_start:
  mov eax, 1

  # a comment line: no code
  add eax, 2
l_loop:
  dec eax
  jnz l_loop
  call helper
  hlt
.type helper, @function
helper:
  nop
  ret
.size helper, .-helper
# Gaps that need DW_LNS_const_add_pc and DW_LNS_advance_pc to step over.
.skip 25
far:
  nop
.skip 300
farther:
  ret
`;
const ASM_LINES = ASM.split('\n');
/** 1-based number of the first source line at or after `from` that holds an instruction. */
function codeLineFrom(from: number): number | undefined {
  for (let n = from; n <= ASM_LINES.length; n++) {
    const t = ASM_LINES[n - 1].trim();
    if (t !== '' && !t.startsWith('#') && !t.startsWith('.') && !t.endsWith(':')) return n;
  }
  return undefined;
}
const lineOf = (text: string): number => ASM_LINES.findIndex((l) => l.trim() === text) + 1;

const C_HEADER = 'static inline int twice(int x) { return x * 2; }\n';
const C_SOURCE = `#include "sub/inc.h"
int g;
int f(int a) {
  int b = twice(a);

  return b + 1;
}
void _start(void) { g = f(3); for (;;) { } }
`;

/** Our rows against objdump's, one to one: file name, line, address, is_stmt, end of sequence. */
function assertRowsMatchObjdump(rows: readonly LineRow[], file: string): void {
  const oracle = objdumpDecodedLines(file);
  assert.ok(oracle.length > 0, 'objdump decoded some rows');
  assert.equal(rows.length, oracle.length, 'row count');
  rows.forEach((r, i) => {
    const o = oracle[i];
    const where = `row ${i} (objdump: ${o.name} ${o.line ?? '-'} 0x${o.address.toString(16)})`;
    assert.equal(r.address, o.address, `${where}: address`);
    assert.equal(r.endSequence, o.line === undefined, `${where}: end_sequence`);
    assert.equal(path.basename(r.file), o.name, `${where}: file`);
    assert.ok(r.file.endsWith(o.header) || o.header.endsWith(r.file), `${where}: path ${r.file} vs heading ${o.header}`);
    if (!r.endSequence) {
      assert.equal(r.line, o.line, `${where}: line`);
      assert.equal(r.isStmt, o.stmt, `${where}: is_stmt`);
    }
  });
}

const asmBuilds = new Map<string, BuiltElf>();
function asmGuest(bits: 32 | 64, version: number): BuiltElf {
  const key = `${bits}-${version}`;
  let b = asmBuilds.get(key);
  if (b === undefined) {
    b = buildAsm({ source: ASM, bits, asFlags: ['-g', `--gdwarf-${version}`], ldFlags: ['-Ttext=0x100000'], name: `dw${version}-${bits}-` });
    asmBuilds.set(key, b);
  }
  return b;
}

for (const bits of [64, 32] as const) {
  for (const version of [2, 3, 4, 5]) {
    test(`as --gdwarf-${version} ELF${bits}: rows match objdump; labels map to their source lines and back`, { skip }, () => {
      const b = asmGuest(bits, version);
      const img = loadElfImage(b.bytes);
      const debugLine = parseElf(b.bytes).sectionData('.debug_line');
      // gas writes a version 3 line table for --gdwarf-2 (gcc's own writer covers version 2 below).
      assert.equal(debugLine?.[4], version === 2 ? 3 : version, 'the unit has the version asked for');
      assertRowsMatchObjdump(img.lines.rows, b.path);
      const nm = new Map(nmSymbols(b.path).map((s) => [s.name, s.address as bigint]));
      const src = path.basename(b.source);
      for (const label of ['_start', 'l_loop', 'helper', 'far', 'farther']) {
        const address = nm.get(label) as bigint;
        const expected = codeLineFrom(lineOf(`${label}:`));
        const row = img.lines.lookup(address);
        assert.equal(row?.line, expected, `${label} is on line ${expected}`);
        assert.equal(path.basename(row?.file ?? ''), src);
        // A breakpoint on that line, by base name or by full path, lands on the label.
        assert.deepEqual(img.lines.addressesOf(src, expected as number), { line: expected, addresses: [address] });
        assert.deepEqual(img.lines.addressesOf(b.source, expected as number)?.addresses, [address]);
      }
      // The instruction after `mov eax, 1` is still line 5's until the next row.
      assert.equal(img.lines.lookup((nm.get('_start') as bigint) + 1n)?.line, lineOf('mov eax, 1'));
      // A blank line or comment moves the breakpoint to the next line with code.
      const blank = lineOf('# a comment line: no code') - 1;
      const next = codeLineFrom(blank) as number;
      assert.equal(next, lineOf('add eax, 2'));
      const nextRow = img.lines.rows.find((r) => r.line === next && !r.endSequence);
      assert.deepEqual(img.lines.addressesOf(src, blank), { line: next, addresses: [nextRow?.address] });
      assert.equal(img.lines.addressesOf(src, ASM_LINES.length + 5), undefined, 'no code after the last line');
      assert.equal(img.lines.addressesOf('other.s', next), undefined, 'another file has no lines here');
      const end = img.lines.rows[img.lines.rows.length - 1];
      assert.ok(end.endSequence);
      assert.equal(img.lines.lookup(end.address), undefined, 'the end of the sequence is outside it');
      assert.equal(img.lines.lookup((nm.get('_start') as bigint) - 1n), undefined);
    });
  }
}

const cBuilds = new Map<string, BuiltElf>();
function cGuest(bits: 32 | 64, flags: string[]): BuiltElf {
  const key = `${bits} ${flags.join(' ')}`;
  let b = cBuilds.get(key);
  if (b === undefined) {
    b = buildC({ source: C_SOURCE, bits, flags: ['-O1', '-g', ...flags, '-Wl,-Ttext=0x200000'], extraFiles: { 'sub/inc.h': C_HEADER } });
    cBuilds.set(key, b);
  }
  return b;
}

const C_VARIANTS: Array<[32 | 64, string[]]> = [
  [64, ['-gdwarf-5']],
  [64, ['-gdwarf-4']],
  [32, ['-gdwarf-5']],
  // gcc writes the table itself (not via gas .loc), here in the 64-bit DWARF format.
  [64, ['-gdwarf-5', '-gdwarf64', '-gno-as-loc-support']],
  // gcc's own writer again, for a version 2 line table.
  [64, ['-gdwarf-2', '-gno-as-loc-support']],
];
for (const [bits, flags] of C_VARIANTS) {
  test(`gcc -m${bits} ${flags.join(' ')}: rows match objdump, header paths resolve, function line → function address`, { skip }, () => {
    const b = cGuest(bits, flags);
    const img = loadElfImage(b.bytes);
    const debugLine = parseElf(b.bytes).sectionData('.debug_line') as Uint8Array;
    const version = flags.includes('-gdwarf64') ? debugLine[12] : debugLine[4];
    assert.equal(version, Number(/-gdwarf-(\d)/.exec(flags.join(' '))?.[1]), 'the unit has the version asked for');
    assertRowsMatchObjdump(img.lines.rows, b.path);
    const header = img.lines.files.find((f) => f.endsWith('/inc.h'));
    assert.ok(header !== undefined && header.endsWith('sub/inc.h'), `inlined header listed: ${img.lines.files.join(', ')}`);
    if (flags.includes('-gdwarf-5')) {
      // DWARF 5 names the compilation directory, so paths come out absolute.
      assert.ok(header.startsWith(workDir()), header);
      assert.ok(img.lines.files.includes(b.source), `${b.source} in ${img.lines.files.join(', ')}`);
    }
    const nm = new Map(nmSymbols(b.path).map((s) => [s.name, s.address as bigint]));
    const fLine = C_SOURCE.split('\n').indexOf('int f(int a) {') + 1;
    assert.ok(img.lines.addressesOf(path.basename(b.source), fLine)?.addresses.includes(nm.get('f') as bigint), 'a breakpoint on f\'s first line hits f');
    assert.ok(img.lines.addressesOf('inc.h', 1) !== undefined, 'the inlined header line has code');
  });
}

test('a guest built without -g has an empty line table', { skip }, () => {
  const b = buildAsm({ source: ASM, bits: 64, ldFlags: ['-Ttext=0x100000'] });
  const img = loadElfImage(b.bytes);
  assert.ok(img.lines.isEmpty);
  assert.equal(img.lines.lookup(0x100000n), undefined);
  assert.equal(img.lines.addressesOf('x.s', 1), undefined);
  assert.ok(LineTable.EMPTY.isEmpty);
});

function sectionsOf(b: BuiltElf): { debugLine: Uint8Array; debugLineStr?: Uint8Array } {
  const elf = parseElf(b.bytes);
  return { debugLine: elf.sectionData('.debug_line') as Uint8Array, debugLineStr: elf.sectionData('.debug_line_str') };
}

function assertDwarfError(fn: () => unknown, message: RegExp, offset?: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DwarfError, `expected DwarfError, got ${String(e)}`);
    assert.match(e.message, message);
    if (offset !== undefined) assert.equal(e.offset, offset);
    return true;
  });
}

test('damaged line-table headers give DwarfError naming the problem and offset', { skip }, () => {
  const s = sectionsOf(asmGuest(64, 5));
  const with1 = (at: number, v: number): Uint8Array => {
    const b = s.debugLine.slice();
    b[at] = v;
    return b;
  };
  // DWARF 5, 32-bit format: unit_length(4) version(2) address_size(1) seg_sel(1) header_length(4)
  // min_inst(1) max_ops(1) default_is_stmt(1) line_base(1) line_range(1) opcode_base(1) lengths...
  const lineRangeAt = 4 + 2 + 1 + 1 + 4 + 4;
  assertDwarfError(() => decodeDebugLine({ ...s, debugLine: with1(lineRangeAt, 0) }), /line_range is 0/, lineRangeAt);
  assertDwarfError(() => decodeDebugLine({ ...s, debugLine: with1(lineRangeAt - 3, 0) }), /maximum_operations_per_instruction is 0/);
  assertDwarfError(() => decodeDebugLine({ ...s, debugLine: with1(4, 6) }), /line table version 6; versions 2-5/, 4);
  assertDwarfError(() => decodeDebugLine({ ...s, debugLine: with1(6, 3) }), /address_size 3 is neither 4 nor 8/);
  assertDwarfError(() => decodeDebugLine({ ...s, debugLine: with1(3, 0x7f) }), /unit at 0x0 claims length 0x7f[0-9a-f]{6}, beyond the section/, 0);
  // The directory table's first format pair: content type at +1, form at +2 after the lengths.
  const opcodeBase = s.debugLine[lineRangeAt + 1];
  const formAt = lineRangeAt + 2 + (opcodeBase - 1) + 2;
  assert.equal(s.debugLine[formAt], 0x1f, 'gas wrote DW_FORM_line_strp for directories');
  assertDwarfError(() => decodeDebugLine({ ...s, debugLine: with1(formAt, 0x25) }), /form 0x25 is not supported/);
  assertDwarfError(() => decodeDebugLine({ debugLine: s.debugLine }), /refers to \.debug_line_str, which the image does not have/);
});

test('every truncation of a .debug_line section gives DwarfError; an empty one gives no rows', { skip }, () => {
  for (const [bits, version] of [[64, 5], [32, 3]] as const) {
    const s = sectionsOf(asmGuest(bits, version));
    assert.equal(decodeDebugLine({ ...s, debugLine: new Uint8Array(0) }).rows.length, 0);
    for (let n = 1; n < s.debugLine.length; n++) {
      assert.throws(() => decodeDebugLine({ ...s, debugLine: s.debugLine.subarray(0, n) }), DwarfError, `truncated to ${n}`);
    }
  }
});

test('2000 seeded corruptions of a gcc .debug_line decode or throw DwarfError, never anything else', { skip }, () => {
  const s = sectionsOf(cGuest(64, ['-gdwarf-5']));
  const rand = xorshift32(0xd3a4f);
  const counts = { decoded: 0, DwarfError: 0 };
  for (let i = 0; i < 2000; i++) {
    const b = s.debugLine.slice();
    const n = 1 + (rand() % 3);
    for (let k = 0; k < n; k++) b[rand() % b.length] = rand() & 0xff;
    try {
      const t = decodeDebugLine({ ...s, debugLine: b });
      for (const r of t.rows) t.lookup(r.address);
      if (t.rows.length > 0) t.addressesOf(t.rows[0].file, t.rows[0].line);
      counts.decoded++;
    } catch (e) {
      if (!(e instanceof DwarfError)) assert.fail(`case ${i}: ${e instanceof Error ? e.stack : String(e)}`);
      counts.DwarfError++;
    }
  }
  assert.ok(counts.decoded >= 100 && counts.DwarfError >= 100, JSON.stringify(counts));
});

test('.file/.loc directives: columns, is_stmt, directories and MD5 entries come through as written', { skip }, () => {
  for (const version of [4, 5]) {
    // DWARF 5 lists the compilation directory as directory 0 and may carry MD5s (DW_FORM_data16);
    // DWARF 4 has no compilation directory in the table, so a relative directory stays relative.
    const files = version === 5
      ? ['.file 0 "/src/proj" "main.c" md5 0x00112233445566778899aabbccddeeff',
        '.file 1 "/src/proj" "main.c" md5 0x00112233445566778899aabbccddeeff',
        '.file 2 "include" "util.h" md5 0xffeeddccbbaa99887766554433221100']
      : ['.file 1 "/src/proj/main.c"', '.file 2 "include/util.h"'];
    const main = '/src/proj/main.c';
    const util = version === 5 ? '/src/proj/include/util.h' : 'include/util.h';
    // [file number, line, column, is_stmt] before each one-byte NOP.
    const locs: Array<[number, number, number, boolean]> = [[1, 10, 7, true], [1, 11, 3, false], [2, 4, 12, true], [1, 11, 9, true], [1, 30, 1, true]];
    const body = locs.flatMap(([f, l, c, s]) => [`.loc ${f} ${l} ${c} is_stmt ${s ? 1 : 0}`, '  nop']);
    const b = buildAsm({ source: [...files, '.text', '.globl _start', '_start:', ...body, '  ret', ''].join('\n'), bits: 64, asFlags: [`--gdwarf-${version}`], ldFlags: ['-Ttext=0x100000'] });
    const img = loadElfImage(b.bytes);
    const start = img.symbols.addressOf('_start') as bigint;
    const got = img.lines.rows.filter((r) => !r.endSequence).map((r) => [r.address, r.file, r.line, r.column, r.isStmt]);
    assert.deepEqual(got, locs.map(([f, l, c, s], i) => [start + BigInt(i), f === 1 ? main : util, l, c, s]), `DWARF ${version}`);
    assertRowsMatchObjdump(img.lines.rows, b.path);
    // Line 11's statement row is the second one; the first is not a statement.
    assert.deepEqual(img.lines.addressesOf('main.c', 11), { line: 11, addresses: [start + 3n] });
    assert.deepEqual(img.lines.addressesOf('/src/proj/main.c', 12), { line: 30, addresses: [start + 4n] });
    assert.deepEqual(img.lines.addressesOf('util.h', 1), { line: 4, addresses: [start + 2n] });
    assert.equal(img.lines.lookup(start + 2n)?.file, util);
    assert.equal(img.lines.lookup(start + 5n)?.line, 30, 'the ret after the last .loc is still line 30');
  }
});
