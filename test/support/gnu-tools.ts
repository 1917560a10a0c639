// Real executables built during a test with GNU as/ld/gcc, and the binutils that serve as the
// oracle for what they contain (readelf, nm, objdump, objcopy). All files go into one temporary
// directory per test process, removed when the process exits.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const TOOLS = ['as', 'ld', 'gcc', 'readelf', 'nm', 'objdump', 'objcopy'];

let availableCache: boolean | undefined;
/** True when every tool these tests drive runs here. */
export function gnuToolsAvailable(): boolean {
  if (availableCache === undefined) {
    availableCache = TOOLS.every((t) => {
      const r = spawnSync(t, ['--version'], { stdio: 'ignore' });
      return r.error === undefined && r.status === 0;
    });
  }
  return availableCache;
}

let dirCache: string | undefined;
/** This process's scratch directory. */
export function workDir(): string {
  if (dirCache === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-debug-elf-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    dirCache = dir;
  }
  return dirCache;
}

/** Runs a tool in the scratch directory and returns its stdout; throws with stderr on failure. */
export function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: workDir(), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error !== undefined) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (status ${r.status}):\n${r.stderr}`);
  return r.stdout;
}

export interface BuiltElf {
  readonly path: string;
  readonly bytes: Uint8Array;
  /** Absolute path of the main source file. */
  readonly source: string;
}

let serial = 0;

/** Writes `text` to `name` in the scratch directory (subdirectories allowed). */
export function writeSource(name: string, text: string): string {
  const p = path.join(workDir(), name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}

/**
 * Assembles Intel-syntax `source` with GNU as and links it with ld. `asFlags` e.g. ['-g',
 * '--gdwarf-5']; `ldFlags` e.g. ['-Ttext=0x100000'] or a linker script given as `script`.
 */
export function buildAsm(opts: { source: string; bits: 32 | 64; asFlags?: string[]; ldFlags?: string[]; script?: string; name?: string }): BuiltElf {
  const id = `${opts.name ?? 'guest'}${serial++}`;
  const src = writeSource(`${id}.s`, opts.source);
  const obj = path.join(workDir(), `${id}.o`);
  const out = path.join(workDir(), `${id}.elf`);
  run('as', [opts.bits === 64 ? '--64' : '--32', ...(opts.asFlags ?? []), '-o', obj, src]);
  const ldArgs = ['-m', opts.bits === 64 ? 'elf_x86_64' : 'elf_i386', ...(opts.ldFlags ?? [])];
  if (opts.script !== undefined) ldArgs.push('-T', writeSource(`${id}.ld`, opts.script));
  run('ld', [...ldArgs, '-o', out, obj]);
  return { path: out, bytes: new Uint8Array(fs.readFileSync(out)), source: src };
}

/** Compiles and links a freestanding C program (no libc) with gcc. */
export function buildC(opts: { source: string; bits: 32 | 64; flags: string[]; name?: string; extraFiles?: Record<string, string> }): BuiltElf {
  const id = `${opts.name ?? 'cguest'}${serial++}`;
  for (const [name, text] of Object.entries(opts.extraFiles ?? {})) writeSource(name, text);
  const src = writeSource(`${id}.c`, opts.source);
  const out = path.join(workDir(), `${id}.elf`);
  run('gcc', [opts.bits === 64 ? '-m64' : '-m32', '-ffreestanding', '-nostdlib', '-static', '-fno-pie', '-no-pie',
    '-fno-asynchronous-unwind-tables', ...opts.flags, '-o', out, src]);
  return { path: out, bytes: new Uint8Array(fs.readFileSync(out)), source: src };
}

/** readelf -lW: every program header as the tool prints it. */
export function readelfProgramHeaders(file: string): Array<{ type: string; offset: bigint; vaddr: bigint; paddr: bigint; filesz: bigint; memsz: bigint; flags: string; align: bigint }> {
  const out: ReturnType<typeof readelfProgramHeaders> = [];
  const re = /^\s+(\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s(.{3})\s+0x([0-9a-f]+)\s*$/;
  for (const line of run('readelf', ['-lW', file]).split('\n')) {
    const m = re.exec(line);
    if (m === null) continue;
    const h = (s: string): bigint => BigInt(`0x${s}`);
    out.push({ type: m[1], offset: h(m[2]), vaddr: h(m[3]), paddr: h(m[4]), filesz: h(m[5]), memsz: h(m[6]), flags: m[7], align: h(m[8]) });
  }
  return out;
}

/** readelf -h: the entry point address. */
export function readelfEntry(file: string): bigint {
  const m = /Entry point address:\s+0x([0-9a-f]+)/.exec(run('readelf', ['-h', file]));
  if (m === null) throw new Error('readelf -h printed no entry point');
  return BigInt(`0x${m[1]}`);
}

/** readelf -SW: section names by index (index 0, the null section, is ''). */
export function readelfSectionNames(file: string): string[] {
  const names: string[] = [''];
  for (const line of run('readelf', ['-SW', file]).split('\n')) {
    const m = /^\s*\[\s*(\d+)\]\s+(\S+)\s/.exec(line);
    if (m !== null && m[1] !== '0') names[Number(m[1])] = m[2];
  }
  return names;
}

/** nm: defined symbols as [address, type letter, name]; undefined ones have address undefined. */
export function nmSymbols(file: string): Array<{ address: bigint | undefined; letter: string; name: string }> {
  return run('nm', [file]).split('\n').filter((l) => l.trim() !== '').map((l) => {
    const m = /^([0-9a-f]+)?\s+(\S)\s+(\S+)$/.exec(l);
    if (m === null) throw new Error(`nm line not understood: ${l}`);
    return { address: m[1] === undefined ? undefined : BigInt(`0x${m[1]}`), letter: m[2], name: m[3] };
  });
}

export interface DecodedLineRow { header: string; name: string; line: number | undefined; address: bigint; stmt: boolean }

/** objdump --dwarf=decodedline: every row, with the file heading it was printed under. */
export function objdumpDecodedLines(file: string): DecodedLineRow[] {
  const rows: DecodedLineRow[] = [];
  let header = '';
  for (const line of run('objdump', ['-w', '--dwarf=decodedline', file]).split('\n')) {
    const row = /^(\S+)\s+(\d+|-)\s+(0x[0-9a-f]+)(?:\s+(\d+))?(?:\s+(x))?\s*$/.exec(line);
    if (row !== null) {
      rows.push({ header, name: row[1], line: row[2] === '-' ? undefined : Number(row[2]), address: BigInt(row[3]), stmt: row[5] === 'x' });
      continue;
    }
    const h = /^(?:CU: )?(\S.*):$/.exec(line);
    if (h !== null && !line.startsWith('Contents of')) header = h[1];
  }
  return rows;
}

/** A small deterministic PRNG (xorshift32) so corruption tests repeat exactly. */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}
