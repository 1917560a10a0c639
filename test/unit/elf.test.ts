// Guest images from real executables built here with GNU as/ld, checked against binutils as
// the oracle (readelf -lW/-h/-SW, nm, objcopy), loaded into guest memory and run on the
// emulated CPU; malformed files must end in ElfError/DwarfError, never another exception.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu } from '../../src/hardware/cpu';
import { enterLongMode } from '../../src/vmm/long-mode-setup';
import { ElfError, parseElf } from '../../src/vmm/elf';
import { DwarfError } from '../../src/vmm/dwarf-line';
import { GuestImage, GuestImageError, loadElfImage, loadFlatBinary, loadGuestImage } from '../../src/vmm/guest-image';
import { BuiltElf, buildAsm, gnuToolsAvailable, nmSymbols, readelfEntry, readelfProgramHeaders, readelfSectionNames, run, workDir, xorshift32 } from '../support/gnu-tools';

const skip = !gnuToolsAvailable() && 'needs GNU binutils and gcc';

/** A guest that reads .data, calls a sized function, and checks that .bss reads as zero. */
function guestSource(bits: 32 | 64): string {
  const r = (n: string): string => (bits === 64 ? `r${n}` : `e${n}`);
  return `.intel_syntax noprefix
.text
.globl _start
_start:
  mov ${r('sp')}, offset stack_top
  mov ${r('ax')}, [counter]
  call helper
  mov ${r('bx')}, [buf]
  or ${r('bx')}, [buf + 56]
  hlt
.type helper, @function
helper:
  add ${r('ax')}, 2
inner:
  nop
  ret
.size helper, .-helper
.weak maybe
maybe:
  ret
.data
.globl counter
.type counter, @object
counter: .${bits === 64 ? 'quad' : 'long'} 5
.size counter, ${bits / 8}
.set answer, 42
.globl answer
.bss
buf: .skip 64
stack: .skip 4096
stack_top:
`;
}

let cache: Record<string, BuiltElf> | undefined;
function built(): Record<string, BuiltElf> {
  if (cache === undefined) {
    cache = {
      elf64: buildAsm({ source: guestSource(64), bits: 64, asFlags: ['-g', '--gdwarf-5'], ldFlags: ['-Ttext=0x100000'] }),
      elf32: buildAsm({ source: guestSource(32), bits: 32, asFlags: ['-g', '--gdwarf-4'], ldFlags: ['-Ttext=0x100000'] }),
      // Linked to run at 0x200000 but loaded at 0x100000 / 0x180000 (LMA != VMA).
      lma: buildAsm({
        source: guestSource(64), bits: 64, script: `ENTRY(_start)
SECTIONS {
  . = 0x200000;
  .text : AT(0x100000) { *(.text) }
  . = 0x300000;
  .data : AT(0x180000) { *(.data) }
  .bss : { *(.bss) }
}`,
      }),
    };
  }
  return cache;
}

const hexOf = (v: bigint): string => `0x${v.toString(16)}`;

for (const kind of ['elf64', 'elf32', 'lma'] as const) {
  test(`${kind}: program headers, entry and section names match readelf`, { skip }, () => {
    const b = built()[kind];
    const elf = parseElf(b.bytes);
    assert.equal(elf.elfClass, kind === 'elf32' ? 32 : 64);
    assert.equal(elf.entry, readelfEntry(b.path));
    const oracle = readelfProgramHeaders(b.path);
    assert.ok(oracle.length > 0);
    assert.deepEqual(elf.programHeaders.map((p) => ({
      type: p.typeName, offset: BigInt(p.offset), vaddr: p.vaddr, paddr: p.paddr, filesz: BigInt(p.fileSize), memsz: p.memSize,
      flags: `${p.flags & 4 ? 'R' : ' '}${p.flags & 2 ? 'W' : ' '}${p.flags & 1 ? 'E' : ' '}`, align: p.align,
    })), oracle);
    assert.deepEqual(elf.sections.map((s) => s.name), readelfSectionNames(b.path));
    // Each loadable segment carries exactly the file bytes readelf locates.
    for (const seg of elf.loadSegments) {
      assert.deepEqual(seg.data, b.bytes.subarray(seg.offset, seg.offset + seg.fileSize));
    }
  });

  test(`${kind}: symbols match nm (address, name, binding)`, { skip }, () => {
    const b = built()[kind];
    const ours = parseElf(b.bytes).symbols.all.filter((s) => s.name !== '' && s.type !== 'SECTION' && s.type !== 'FILE');
    const nm = nmSymbols(b.path);
    const binding = (letter: string): string => ('wWvV'.includes(letter) ? 'WEAK' : letter === letter.toUpperCase() ? 'GLOBAL' : 'LOCAL');
    const fromNm = nm.map((s) => `${s.name} ${s.address === undefined ? 'undef' : hexOf(s.address)} ${binding(s.letter)}`).sort();
    const fromUs = ours.map((s) => `${s.name} ${s.defined ? hexOf(s.value) : 'undef'} ${s.binding}`).sort();
    assert.deepEqual(fromUs, fromNm);
    assert.ok(fromNm.some((l) => l.startsWith('maybe ') && l.endsWith('WEAK')), 'the weak symbol is there');
  });
}

test('address → symbol+offset and name → address, against nm', { skip }, () => {
  const b = built().elf64;
  const img = loadElfImage(b.bytes);
  const nm = new Map(nmSymbols(b.path).map((s) => [s.name, s.address as bigint]));
  const helper = nm.get('helper') as bigint;
  const inner = nm.get('inner') as bigint;
  const start = nm.get('_start') as bigint;
  for (const name of ['_start', 'helper', 'inner', 'counter', 'answer', 'maybe']) assert.equal(img.symbols.addressOf(name), nm.get(name), name);
  assert.equal(img.symbols.addressOf('no_such_symbol'), undefined);
  // helper is a sized FUNC; the label inner inside it is nearer, so it names those addresses.
  assert.equal(img.symbols.describe(helper), 'helper');
  assert.equal(img.symbols.describe(helper + 1n), 'helper+0x1');
  assert.equal(img.symbols.describe(inner + 1n), 'inner+0x1');
  assert.equal(img.symbols.describe(start + 3n), '_start+0x3');
  assert.equal(img.symbols.at(start - 1n), undefined, 'nothing precedes the first symbol');
  // counter is an OBJECT and answer is absolute: neither names code addresses.
  assert.notEqual(img.symbols.at(nm.get('counter') as bigint)?.symbol.name, 'counter');
  assert.notEqual(img.symbols.at(42n)?.symbol.name, 'answer');
});

test('a sized function does not claim addresses past its end', { skip }, () => {
  const b = buildAsm({
    bits: 64, ldFlags: ['-Ttext=0x100000'], source: `.intel_syntax noprefix
.text
.globl _start
.type _start, @function
_start: nop
  ret
.size _start, .-_start
  .byte 0xcc, 0xcc
`,
  });
  const img = loadElfImage(b.bytes);
  const start = img.symbols.addressOf('_start') as bigint;
  assert.equal(img.symbols.describe(start + 1n), '_start+0x1');
  assert.equal(img.symbols.at(start + 2n), undefined, 'the padding after _start belongs to no symbol');
});

function machine(bytes: number): { mem: PhysicalMemory; cpu: Cpu } {
  const mem = new PhysicalMemory(bytes);
  return { mem, cpu: new Cpu(mem) };
}

test('an ELF64 guest loads at its physical addresses and runs on the emulated CPU; .bss reads as zero', { skip }, () => {
  const b = built().elf64;
  const img = loadElfImage(b.bytes);
  const { mem, cpu } = machine(16 << 20);
  // Garbage where .bss goes, so only the loader's zero fill can make the guest see zero.
  const bufAt = Number(img.symbols.addressOf('buf'));
  mem.writeBytes(bufAt, new Uint8Array(64).fill(0xaa));
  enterLongMode(cpu);
  img.loadInto(mem);
  cpu.rip = img.entry;
  const out = cpu.run(1000);
  assert.equal(out.kind, 'halt');
  assert.equal(cpu.getReg(0), 5n + 2n, 'RAX = counter (from .data) + 2 (from helper)');
  assert.equal(cpu.getReg(3), 0n, 'RBX = buf[0] | buf[56], both zero-filled');
});

test('LMA != VMA: bytes land at the physical (load) addresses, as objcopy -O binary lays them out', { skip }, () => {
  const b = built().lma;
  const img = loadElfImage(b.bytes);
  const headers = readelfProgramHeaders(b.path).filter((h) => h.type === 'LOAD');
  assert.ok(headers.some((h) => h.paddr !== h.vaddr), 'the linker script separated load and run addresses');
  const { mem } = machine(4 << 20);
  img.loadInto(mem);
  const flat = path.join(workDir(), 'lma.bin');
  run('objcopy', ['-O', 'binary', b.path, flat]);
  const expected = new Uint8Array(fs.readFileSync(flat));
  const lowest = headers.filter((h) => h.filesz > 0n).reduce((m, h) => (h.paddr < m ? h.paddr : m), 1n << 64n);
  assert.deepEqual(mem.readBytes(Number(lowest), expected.length), expected);
  // Entry is a run address; the loader also gives where it is in physical memory.
  const entry = readelfEntry(b.path);
  const holder = headers.find((h) => entry >= h.vaddr && entry < h.vaddr + h.memsz);
  assert.ok(holder !== undefined);
  assert.equal(img.entry, entry);
  assert.equal(img.entryPhysical, entry - holder.vaddr + holder.paddr);
});

test('loadInto refuses a segment beyond guest memory, before writing anything', { skip }, () => {
  const img = loadElfImage(built().elf64.bytes);
  const { mem } = machine(1 << 20); // the image lives at 1 MiB and up
  assert.throws(() => img.loadInto(mem), (e: unknown) => e instanceof GuestImageError && /segment \d+ \(physical 0x1[0-9a-f]{5}-0x[0-9a-f]+\) lies beyond the guest's memory \(0x100000 bytes\)/.test(e.message));
  assert.equal(mem.allocatedBytes, 0);
});

test('ET_DYN is accepted with a note; ET_REL is refused', { skip }, () => {
  const pie = buildAsm({
    bits: 64, ldFlags: ['-pie', '--no-dynamic-linker', '-Ttext=0x100000'], source: `.intel_syntax noprefix
.text
.globl _start
_start: lea rax, [rip + counter]
  hlt
.data
counter: .quad 5
`,
  });
  const img = loadElfImage(pie.bytes);
  assert.match(img.notes.join('\n'), /ET_DYN/);
  assert.equal(img.entry, readelfEntry(pie.path));
  const obj = pie.path.replace(/\.elf$/, '.o');
  assert.throws(() => loadElfImage(new Uint8Array(fs.readFileSync(obj))), (e: unknown) => e instanceof ElfError && /relocatable object \(ET_REL\)/.test(e.message));
});

test('flat binaries: placed at the load address, entry inside the bytes', () => {
  const code = Uint8Array.of(0x90, 0x90, 0xf4);
  const img = loadFlatBinary(code, 0x7c00);
  assert.equal(img.format, 'flat');
  assert.equal(img.entry, 0x7c00n);
  assert.ok(img.lines.isEmpty);
  const mem = new PhysicalMemory(1 << 20);
  img.loadInto(mem);
  assert.deepEqual(mem.readBytes(0x7c00, 3), code);
  assert.equal(loadFlatBinary(code, 0x7c00, 0x7c02).entry, 0x7c02n);
  assert.throws(() => loadFlatBinary(code, 0x7c00, 0x7c03), /entry 0x7c03 lies outside its bytes \(0x7c00-0x7c03\)/);
  assert.throws(() => loadFlatBinary(new Uint8Array(0), 0), GuestImageError);
  assert.throws(() => loadFlatBinary(code, 0xfffff).loadInto(mem), /beyond the guest's memory/);
  assert.throws(() => loadGuestImage(code), /not an ELF file; a flat binary needs a load address/);
  assert.equal(loadGuestImage(code, { loadAddress: 0x1000 }).format, 'flat');
});

/** A copy of `bytes` with a little-endian value written at `offset`. */
function patched(bytes: Uint8Array, offset: number, size: number, value: bigint): Uint8Array {
  const b = bytes.slice();
  for (let k = 0; k < size; k++) b[offset + k] = Number((value >> BigInt(8 * k)) & 0xffn);
  return b;
}

function assertElfError(bytes: Uint8Array, message: RegExp, offset?: number): void {
  assert.throws(() => loadElfImage(bytes), (e: unknown) => {
    assert.ok(e instanceof ElfError, `expected ElfError, got ${String(e)}`);
    assert.match(e.message, message);
    if (offset !== undefined) assert.equal(e.offset, offset);
    return true;
  });
}

test('malformed headers give ElfError naming the problem and the offset', { skip }, () => {
  const e64 = built().elf64.bytes;
  const e32 = built().elf32.bytes;
  const elf = parseElf(e64);
  assertElfError(e64.subarray(0, 3), /bad magic/);
  assertElfError(patched(e64, 1, 1, 0x45n + 1n), /bad magic byte 0x46 \(file offset 0x1\)/, 1);
  assertElfError(e64.subarray(0, 40), /truncated ELF64 header/);
  assertElfError(patched(e64, 4, 1, 3n), /bad class 3 .*\(file offset 0x4\)/, 4);
  assertElfError(patched(e64, 5, 1, 2n), /not little-endian/, 5);
  assertElfError(patched(e64, 0x12, 2, 183n), /ELF64 file for EM_AARCH64; this loader takes EM_X86_64/, 0x12);
  assertElfError(patched(e32, 0x12, 2, 62n), /ELF32 file for EM_X86_64; this loader takes EM_386/, 0x12);
  assertElfError(patched(e64, 0x10, 2, 4n), /core dump/);
  // e_phoff (0x20) pointing past the end of the file.
  assertElfError(patched(e64, 0x20, 8, BigInt(e64.length - 8)), new RegExp(`program header table at e_phoff 0x${(e64.length - 8).toString(16)} \\(\\d+ × 56 bytes\\) lies beyond the end of the file`), 0x20);
  assertElfError(patched(e32, 0x1c, 4, BigInt(e32.length)), /program header table at e_phoff .* lies beyond the end of the file/, 0x1c);
  // e_shoff (0x28) pointing past the end.
  assertElfError(patched(e64, 0x28, 8, BigInt(e64.length + 100)), /section header table at e_shoff 0x[0-9a-f]+ .* lies beyond the end of the file/, 0x28);
  assertElfError(patched(e64, 0x3c, 2, 0xfffn), /section header table at e_shoff .*\(4095 × 64 bytes\) lies beyond the end of the file/, 0x28);
  const phoff = 0x40;
  const load = elf.loadSegments[elf.loadSegments.length - 1];
  const ph = phoff + load.index * 56;
  // p_offset (+8) so that the file range runs off the end.
  assertElfError(patched(e64, ph + 8, 8, BigInt(e64.length - 4)), new RegExp(`segment \\[${load.index}\\] \\(program header at 0x${ph.toString(16)}\\): file range .* lies beyond the end of the file \\(0x${e64.length.toString(16)}\\)`), ph);
  // p_filesz (+32) larger than p_memsz (+40).
  assertElfError(patched(e64, ph + 32, 8, load.memSize + 1n), /p_filesz 0x[0-9a-f]+ is larger than p_memsz/, ph);
  // p_paddr (+24) of the last segment moved onto the first one.
  const first = elf.loadSegments[0];
  assertElfError(patched(e64, ph + 24, 8, first.paddr), /loadable segments \[\d+\] .* and \[\d+\] .* overlap/);
  // e_shstrndx (0x3e) beyond the section count.
  assertElfError(patched(e64, 0x3e, 2, 200n), /e_shstrndx 200 is not a section/);
});

test('a symbol whose name index lies outside .strtab gives ElfError', { skip }, () => {
  const bytes = built().elf64.bytes;
  const elf = parseElf(bytes);
  const symtab = elf.sections.find((s) => s.name === '.symtab');
  assert.ok(symtab !== undefined);
  // Symbol 1's st_name (first word of the entry) set far beyond the string table.
  assertElfError(patched(bytes, symtab.offset + 24, 4, 0x7fffffffn), /name of symbol \[1\] in string table \.strtab: string offset 0x7fffffff is out of range/, symtab.offset + 24);
});

/** Loads and exercises an image; only the project's own error types may come out. */
function tryLoad(bytes: Uint8Array, label: string): 'loaded' | 'ElfError' | 'DwarfError' {
  let img: GuestImage;
  try {
    img = loadElfImage(bytes);
  } catch (e) {
    if (e instanceof ElfError || e instanceof DwarfError) {
      if (!Number.isInteger(e.offset)) assert.fail(`${label}: error without an offset: ${e.message}`);
      if (process.env.VMX_ELF_FUZZ_LOG !== undefined) console.log(e.message);
      return e.name as 'ElfError' | 'DwarfError';
    }
    assert.fail(`${label}: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
  }
  for (const s of img.symbols.all.slice(0, 50)) img.symbols.at(s.value);
  for (const r of img.lines.rows.slice(0, 50)) {
    img.lines.lookup(r.address);
    img.lines.addressesOf(r.file, r.line);
  }
  void img.entryPhysical;
  return 'loaded';
}

for (const kind of ['elf64', 'elf32'] as const) {
  test(`${kind}: every truncation of a real executable throws ElfError`, { skip }, () => {
    const bytes = built()[kind].bytes;
    // ld puts the section header table last, so no truncated file may load.
    for (let n = 0; n < bytes.length; n++) assert.equal(tryLoad(bytes.subarray(0, n), `truncated to ${n} bytes`), 'ElfError', `truncated to ${n} bytes`);
  });

  test(`${kind}: 3000 seeded corruptions of headers, tables and debug info load or throw ElfError/DwarfError`, { skip }, () => {
    const bytes = built()[kind].bytes;
    const elf = parseElf(bytes);
    // Where damage matters: the ELF and program headers, the section headers, and each section's data.
    const regions: Array<[number, number]> = [[0, 0x40 + elf.programHeaders.length * 56]];
    const shoff = kind === 'elf64' ? Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0x28, true)) : new DataView(bytes.buffer, bytes.byteOffset).getUint32(0x20, true);
    regions.push([shoff, bytes.length - shoff]);
    for (const s of elf.sections) if (s.type !== 8 && s.size > 0n) regions.push([s.offset, Number(s.size)]);
    const rand = xorshift32(kind === 'elf64' ? 0x5eed64 : 0x5eed32);
    const specials = [0n, 1n, 0x7fn, 0x80n, 0xffn, 0xffffn, 0x7fffffffn, 0xffffffffn, 0xffffffffffffffffn, 0x8000000000000000n];
    const counts = { loaded: 0, ElfError: 0, DwarfError: 0 };
    for (let i = 0; i < 3000; i++) {
      const [start, len] = regions[rand() % regions.length];
      const size = [1, 1, 2, 4, 8][rand() % 5];
      const offset = Math.min(start + (rand() % Math.max(1, len)), bytes.length - size);
      const value = rand() % 2 === 0 ? specials[rand() % specials.length] : (BigInt(rand()) << 32n) | BigInt(rand());
      counts[tryLoad(patched(bytes, offset, size, value), `case ${i}: ${size} byte(s) at 0x${offset.toString(16)} = 0x${value.toString(16)}`)]++;
    }
    // The corruptions reach every layer: some files still load, some fail in ELF, some in DWARF.
    for (const [k, n] of Object.entries(counts)) assert.ok(n >= 50, `${k}: only ${n} of 3000`);
  });
}
