// The real CPU of this machine as an oracle for the emulator: runs user-mode x86-64 code
// sequences natively, from given registers, RFLAGS and memory, and returns the final state.
// A case runs in 64-bit mode or, with `mode: 32`, in 32-bit compatibility mode.
//
// The native side is test/native/oracle.c plus test/native/trampoline.S (the binary formats
// on stdin/stdout are documented at the top of oracle.c). It is compiled on first use with
// the system C compiler (`cc`, else `gcc`) into a directory under os.tmpdir() named after a
// hash of the sources, so later runs reuse it; one process runs a whole batch of cases.
//
// Also here: assembleIntel/assembleIntelMany, which turn Intel-syntax instruction text into
// bytes with GNU as (64-bit code, or 32-bit code with `{ bits: 32 }`).
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where the code of a case is placed (RWX; 8 KiB followed by an unmapped guard page). */
export const NATIVE_CODE_ADDRESS = 0x4000_0000;
/** Where the data area is placed (RW, NATIVE_DATA_SIZE bytes followed by a guard page). */
export const NATIVE_DATA_ADDRESS = 0x5000_0000;
export const NATIVE_DATA_SIZE = 0x1_0000;
/** Largest code a case may have. */
export const NATIVE_CODE_MAX = 4096;
/** The RFLAGS bits taken on entry and reported on exit: CF PF AF ZF SF DF OF. */
export const NATIVE_FLAGS_MASK = 0xcd5n;
/** `signal` of a case stopped because it used more than about 0.25 s of CPU (SIGVTALRM). */
export const NATIVE_TIMEOUT_SIGNAL = 26;
/** `signal` of a case that made a system call (refused by a seccomp filter). */
export const NATIVE_SYSCALL_SIGNAL = 31;

/** Signal numbers (Linux x86-64) that a case may end with. */
export const NativeSignal = {
  SIGILL: 4,
  SIGTRAP: 5,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGSEGV: 11,
  SIGVTALRM: NATIVE_TIMEOUT_SIGNAL,
  SIGSYS: NATIVE_SYSCALL_SIGNAL,
} as const;

export interface NativeCase {
  /** 16 values in SDM order: rax rcx rdx rbx rsp rbp rsi rdi r8..r15. Negative = two's complement. */
  regs: bigint[];
  /** Initial RFLAGS; only the NATIVE_FLAGS_MASK bits are used. */
  rflags: bigint;
  /** At most NATIVE_DATA_SIZE bytes, placed at NATIVE_DATA_ADDRESS; the rest of the area is zero. */
  data: Uint8Array;
  /** At most NATIVE_CODE_MAX bytes, placed at NATIVE_CODE_ADDRESS. Running off its end completes the case. */
  code: Uint8Array;
  /**
   * 64 (the default): 64-bit mode. 32: compatibility mode (CS.L=0, CS.D=1 under IA-32e
   * mode); the registers go in with their 64-bit values, and their upper halves come out as
   * the CPU leaves them, which the SDM calls undefined (Vol. 1, 3.4.1.1): compare only the
   * low 32 bits.
   */
  mode?: NativeMode;
  /**
   * Only with mode 32: DS and ES are an LDT data segment (selector 0x7) with base
   * NATIVE_DATA_ADDRESS and limit NATIVE_DATA_SIZE - 1, so that addresses are offsets into
   * the data area and 16-bit addressing reaches it. SS (and the stack pointer) stay flat.
   */
  dataSegment?: boolean;
}

export type NativeMode = 64 | 32;

export interface NativeResult {
  /** 0 when the code ran to its end, else the signal number (see NativeSignal). */
  signal: number;
  /**
   * RIP at the signal minus NATIVE_CODE_ADDRESS; 0 when signal is 0. For faults (#DE, #UD,
   * #GP, #PF) this is the faulting instruction; for traps (INT3) the instruction after it.
   */
  faultOffset: number;
  /** Final registers (at the fault when signal != 0), SDM order. */
  regs: bigint[];
  /** Final RFLAGS & NATIVE_FLAGS_MASK. */
  rflags: bigint;
  /**
   * The NATIVE_DATA_SIZE bytes of the data area at the end (or at the fault). Built on first
   * read from the input image plus the changes the process reported, so a big batch does not
   * hold 64 KiB per case until each one is looked at.
   */
  data: Uint8Array;
  /** CPU exception vector from the signal context (0 #DE, 3 #BP, 6 #UD, 12 #SS, 13 #GP, 14 #PF, 17 #AC), else 0. */
  trapNumber: number;
  /** Exception error code from the signal context (for #PF: bit 1 write, bit 4 fetch), 0n if none. */
  errorCode: bigint;
  /**
   * siginfo si_addr: the faulting address for SIGSEGV (0 for #GP), the instruction for
   * SIGILL/SIGFPE, the address after the system call for SIGSYS; 0n if none.
   */
  faultAddress: bigint;
}

const IN_MAGIC = 0x324e5856;
const OUT_MAGIC = 0x31525856;
const CASE_HEADER = 17 * 8 + 16;
const RESULT_HEADER = 4 + 4 + 8 + 8 + 8 + 17 * 8 + 4;
const MAX_CASES_PER_PROCESS = 2000;
const MAX_INPUT_PER_PROCESS = 48 << 20;
const U64 = (1n << 64n) - 1n;

function commandWorks(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

let compilerCache: string | null | undefined;
function findCompiler(): string | null {
  if (compilerCache === undefined) {
    compilerCache = ['cc', 'gcc'].find((c) => commandWorks(c, ['--version'])) ?? null;
  }
  return compilerCache;
}

let availableCache: boolean | undefined;
/** True on x86-64 Linux with a C compiler and GNU as: the oracle can be built and run here. */
export function nativeOracleAvailable(): boolean {
  if (availableCache === undefined) {
    availableCache = process.platform === 'linux' && process.arch === 'x64'
      && findCompiler() !== null && commandWorks('as', ['--version']);
  }
  return availableCache;
}

const SOURCES = ['oracle.c', 'trampoline.S'];
const CFLAGS = ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-U_FORTIFY_SOURCE'];

function sourceDir(): string {
  // Running compiled (out/test/support) or from the TypeScript (test/support).
  const candidates = [
    path.resolve(__dirname, '../../../test/native'),
    path.resolve(__dirname, '../native'),
  ];
  const dir = candidates.find((d) => fs.existsSync(path.join(d, SOURCES[0])));
  if (dir === undefined) throw new Error(`native oracle: sources not found (looked in ${candidates.join(', ')})`);
  return dir;
}

let binaryCache: string | undefined;
/** Path of the oracle executable, compiling it first unless a build of the same sources exists. */
export function nativeOracleBinary(): string {
  if (binaryCache !== undefined) return binaryCache;
  if (!nativeOracleAvailable()) throw new Error('native oracle: needs x86-64 Linux with a C compiler and GNU as');
  const cc = findCompiler() as string;
  const dir = sourceDir();
  const hash = createHash('sha256');
  hash.update(JSON.stringify([cc, CFLAGS]));
  for (const name of SOURCES) {
    hash.update(`\0${name}\0`);
    hash.update(fs.readFileSync(path.join(dir, name)));
  }
  const cacheDir = path.join(os.tmpdir(), `vmx-debug-native-oracle-${hash.digest('hex').slice(0, 20)}`);
  const binary = path.join(cacheDir, 'oracle');
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(cacheDir, { recursive: true });
    // Build under a private name and rename: test files run in parallel processes.
    const tmp = path.join(cacheDir, `oracle.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const r = spawnSync(cc, [...CFLAGS, '-o', tmp, ...SOURCES.map((s) => path.join(dir, s))], { encoding: 'utf8' });
    if (r.error !== undefined || r.status !== 0) {
      fs.rmSync(tmp, { force: true });
      const why = r.error !== undefined ? r.error.message : `exit status ${r.status ?? r.signal}`;
      throw new Error(`native oracle: compiling with ${cc} failed (${why}):\n${r.stderr}${r.stdout}`);
    }
    fs.renameSync(tmp, binary);
  }
  binaryCache = binary;
  return binary;
}

function toU64(v: bigint, what: string): bigint {
  if (typeof v !== 'bigint' || v < -(1n << 63n) || v > U64) throw new RangeError(`${what} is not a 64-bit value: ${String(v)}`);
  return BigInt.asUintN(64, v);
}

function checkCase(c: NativeCase, i: number): void {
  if (!Array.isArray(c.regs) || c.regs.length !== 16) throw new RangeError(`case ${i}: regs must hold 16 values`);
  c.regs.forEach((v, r) => toU64(v, `case ${i}: regs[${r}]`));
  toU64(c.rflags, `case ${i}: rflags`);
  if (c.data.length > NATIVE_DATA_SIZE) throw new RangeError(`case ${i}: data is ${c.data.length} bytes, more than ${NATIVE_DATA_SIZE}`);
  if (c.code.length > NATIVE_CODE_MAX) throw new RangeError(`case ${i}: code is ${c.code.length} bytes, more than ${NATIVE_CODE_MAX}`);
  if (c.mode !== undefined && c.mode !== 64 && c.mode !== 32) throw new RangeError(`case ${i}: mode must be 64 or 32, not ${String(c.mode)}`);
  if (c.dataSegment === true && c.mode !== 32) throw new RangeError(`case ${i}: dataSegment needs mode 32`);
}

function encode(cases: NativeCase[]): { input: Buffer; dataOffsets: number[] } {
  let size = 8;
  for (const c of cases) size += CASE_HEADER + c.data.length + c.code.length;
  const buf = Buffer.alloc(size);
  buf.writeUInt32LE(IN_MAGIC, 0);
  buf.writeUInt32LE(cases.length, 4);
  const dataOffsets: number[] = [];
  let p = 8;
  for (const c of cases) {
    for (let r = 0; r < 16; r++) buf.writeBigUInt64LE(BigInt.asUintN(64, c.regs[r]), p + r * 8);
    buf.writeBigUInt64LE(BigInt.asUintN(64, c.rflags) & NATIVE_FLAGS_MASK, p + 128);
    buf.writeUInt32LE(c.data.length, p + 136);
    buf.writeUInt32LE(c.code.length, p + 140);
    buf.writeUInt32LE(c.mode ?? 64, p + 144);
    buf.writeUInt32LE(c.dataSegment === true ? 1 : 0, p + 148);
    p += CASE_HEADER;
    dataOffsets.push(p);
    buf.set(c.data, p);
    p += c.data.length;
    buf.set(c.code, p);
    p += c.code.length;
  }
  return { input: buf, dataOffsets };
}

function lazyData(result: Omit<NativeResult, 'data'>, initial: Uint8Array, runs: Array<[number, Uint8Array]>): NativeResult {
  let bytes: Uint8Array | undefined;
  return Object.defineProperty(result, 'data', {
    enumerable: true,
    configurable: true,
    get(): Uint8Array {
      if (bytes === undefined) {
        bytes = new Uint8Array(NATIVE_DATA_SIZE);
        bytes.set(initial);
        for (const [offset, run] of runs) bytes.set(run, offset);
      }
      return bytes;
    },
  }) as NativeResult;
}

function runProcess(binary: string, cases: NativeCase[]): NativeResult[] {
  const { input, dataOffsets } = encode(cases);
  const r = spawnSync(binary, [], {
    input,
    maxBuffer: 8 + cases.length * (RESULT_HEADER + NATIVE_DATA_SIZE + 8 * (NATIVE_DATA_SIZE / 64)),
    timeout: 60_000 + cases.length * 1_000,
  });
  if (r.error !== undefined || r.status !== 0) {
    // An early death shows as EPIPE on our write; the exit status and stderr say more.
    const how = r.status !== null ? `exit status ${r.status}` : `signal ${r.signal}`;
    const error = r.error !== undefined ? ` (${r.error.message})` : '';
    throw new Error(`native oracle: ${binary} ended with ${how}${error}: ${r.stderr?.toString() ?? ''}`);
  }
  const out = r.stdout;
  if (out.length < 8 || out.readUInt32LE(0) !== OUT_MAGIC || out.readUInt32LE(4) !== cases.length) {
    throw new Error(`native oracle: malformed output (${out.length} bytes)`);
  }
  const results: NativeResult[] = [];
  let p = 8;
  for (let i = 0; i < cases.length; i++) {
    if (p + RESULT_HEADER > out.length) throw new Error('native oracle: output ends early');
    const signal = out.readUInt32LE(p);
    const trapNumber = out.readUInt32LE(p + 4);
    const errorCode = out.readBigUInt64LE(p + 8);
    const faultOffset = Number(out.readBigInt64LE(p + 16));
    const faultAddress = out.readBigUInt64LE(p + 24);
    const regs: bigint[] = [];
    for (let k = 0; k < 16; k++) regs.push(out.readBigUInt64LE(p + 32 + k * 8));
    const rflags = out.readBigUInt64LE(p + 160);
    const nRuns = out.readUInt32LE(p + 168);
    p += RESULT_HEADER;
    const runs: Array<[number, Uint8Array]> = [];
    for (let k = 0; k < nRuns; k++) {
      const offset = out.readUInt32LE(p);
      const length = out.readUInt32LE(p + 4);
      if (offset + length > NATIVE_DATA_SIZE || p + 8 + length > out.length) throw new Error('native oracle: bad data run in output');
      runs.push([offset, out.subarray(p + 8, p + 8 + length)]);
      p += 8 + length;
    }
    const initial = input.subarray(dataOffsets[i], dataOffsets[i] + cases[i].data.length);
    results.push(lazyData({ signal, faultOffset, regs, rflags, trapNumber, errorCode, faultAddress }, initial, runs));
  }
  if (p !== out.length) throw new Error('native oracle: trailing bytes in output');
  return results;
}

/**
 * Runs every case on this machine's CPU and returns one result per case, in order.
 * Synchronous; big batches are split over several processes. Throws if the oracle cannot be
 * built or run (check nativeOracleAvailable() first) or a case is malformed.
 */
export function runNative(cases: NativeCase[]): NativeResult[] {
  cases.forEach(checkCase);
  if (cases.length === 0) return [];
  const binary = nativeOracleBinary();
  const results: NativeResult[] = [];
  let start = 0;
  while (start < cases.length) {
    let end = start;
    let bytes = 0;
    while (end < cases.length && end - start < MAX_CASES_PER_PROCESS
      && (end === start || bytes + CASE_HEADER + cases[end].data.length + cases[end].code.length <= MAX_INPUT_PER_PROCESS)) {
      bytes += CASE_HEADER + cases[end].data.length + cases[end].code.length;
      end++;
    }
    results.push(...runProcess(binary, cases.slice(start, end)));
    start = end;
  }
  return results;
}

let compatCache: string | null | undefined;
/**
 * Why 32-bit compatibility mode cannot be used here (the kernel may refuse 32-bit code
 * segments, e.g. booted with ia32_emulation=0, or the LDT segment of `dataSegment`), or null
 * when it can: an empty case is run each way and must come back cleanly.
 */
export function nativeCompatUnavailableReason(): string | null {
  if (compatCache === undefined) {
    if (!nativeOracleAvailable()) {
      compatCache = 'needs x86-64 Linux with a C compiler and GNU as';
    } else {
      const probe = (dataSegment: boolean): NativeCase => ({
        regs: new Array<bigint>(16).fill(0n), rflags: 0n, data: new Uint8Array(0), code: new Uint8Array(0), mode: 32, dataSegment,
      });
      try {
        const [flat, based] = runNative([probe(false), probe(true)]);
        compatCache = flat.signal !== 0
          ? `this kernel refuses 32-bit compatibility mode (signal ${flat.signal}, trap ${flat.trapNumber} entering selector 0x23)`
          : based.signal !== 0 ? `the LDT data segment faults (signal ${based.signal}, trap ${based.trapNumber})` : null;
      } catch (e) {
        compatCache = e instanceof Error ? e.message : String(e);
      }
    }
  }
  return compatCache;
}

// ---------------------------------------------------------------------------------------
// Assembling Intel-syntax text with GNU as.

const MAX_SNIPPETS_PER_RUN = 2000;
const LABEL_DEF = /^\s*([A-Za-z_.$][\w.$@]*)\s*:/;

export interface AssembleOptions {
  /** 64 (default) or 32: the code size GNU as assembles for (`.code32`). */
  bits?: 64 | 32;
}

/** Assembles Intel-syntax (`.intel_syntax noprefix`, 64-bit unless told) lines and returns the bytes. */
export function assembleIntel(lines: string[], options: AssembleOptions = {}): Uint8Array {
  return assembleIntelMany([lines], options)[0];
}

/**
 * Assembles each snippet (a list of Intel-syntax lines) to its bytes, with few `as` runs:
 * every snippet goes into its own section, so each one's bytes start at offset 0 and jumps
 * inside a snippet are encoded relative to it. Snippets that define the same label are put
 * in different runs. References that need a relocation (a label of another snippet, an
 * absolute address of a label) are errors: the bytes could not be placed at any address.
 */
export function assembleIntelMany(snippets: string[][], options: AssembleOptions = {}): Uint8Array[] {
  const bits = options.bits ?? 64;
  if (bits !== 64 && bits !== 32) throw new RangeError(`assembleIntel: bits must be 64 or 32, not ${String(bits)}`);
  // Group the snippets so that no group defines a label twice.
  const groups: Array<{ indices: number[]; labels: Set<string> }> = [];
  snippets.forEach((lines, index) => {
    const labels = lines.map((l) => LABEL_DEF.exec(l)?.[1]).filter((l): l is string => l !== undefined);
    let group = groups.find((g) => g.indices.length < MAX_SNIPPETS_PER_RUN && labels.every((l) => !g.labels.has(l)));
    if (group === undefined) {
      group = { indices: [], labels: new Set() };
      groups.push(group);
    }
    group.indices.push(index);
    for (const l of labels) group.labels.add(l);
  });
  const result: Uint8Array[] = new Array<Uint8Array>(snippets.length);
  for (const g of groups) {
    const bytes = assembleGroup(g.indices.map((i) => snippets[i]), g.indices, bits);
    g.indices.forEach((snippetIndex, k) => { result[snippetIndex] = bytes[k]; });
  }
  return result;
}

function assembleGroup(snippets: string[][], ids: number[], bits: 64 | 32): Uint8Array[] {
  const src: string[] = ['.intel_syntax noprefix'];
  const origin: Array<[number, number] | undefined> = [undefined]; // source line -> [snippet id, line]
  snippets.forEach((lines, k) => {
    src.push(`.section .text.vmx${k},"ax",@progbits`, `.code${bits}`);
    origin.push(undefined, undefined);
    lines.forEach((line, n) => {
      if (/[\n\r]/.test(line)) throw new Error(`snippet ${ids[k]} line ${n + 1}: contains a line break`);
      src.push(line);
      origin.push([ids[k], n]);
    });
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-debug-as-'));
  try {
    const srcPath = path.join(dir, 'in.s');
    const objPath = path.join(dir, 'out.o');
    fs.writeFileSync(srcPath, src.join('\n') + '\n');
    const r = spawnSync('as', ['--64', '-o', objPath, srcPath], { encoding: 'utf8' });
    if (r.error !== undefined) throw new Error(`assembleIntel: cannot run as: ${r.error.message}`);
    if (r.status !== 0) {
      // Point each message at the snippet and line it came from.
      const messages = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/Assembler messages:$/.test(l)).map((l) => {
        const m = /^.*?:(\d+): (.*)$/.exec(l);
        const o = m !== null ? origin[Number(m[1]) - 1] : undefined;
        return o !== undefined && m !== null ? `snippet ${o[0]} line ${o[1] + 1} (${snippets[ids.indexOf(o[0])][o[1]].trim()}): ${m[2]}` : l;
      });
      throw new Error(`assembleIntel: as failed:\n${messages.join('\n')}`);
    }
    return readSections(fs.readFileSync(objPath), snippets.length, ids);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Reads the .text.vmxN sections of an ELF64 relocatable object; fails on relocations against them. */
function readSections(elf: Buffer, count: number, ids: number[]): Uint8Array[] {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error('assembleIntel: as did not produce an ELF64 little-endian object');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  const section = (i: number) => {
    const b = shoff + i * shentsize;
    return {
      name: elf.readUInt32LE(b),
      type: elf.readUInt32LE(b + 4),
      offset: Number(elf.readBigUInt64LE(b + 24)),
      size: Number(elf.readBigUInt64LE(b + 32)),
      info: elf.readUInt32LE(b + 44),
    };
  };
  const strtab = section(shstrndx);
  const nameOf = (off: number) => {
    const start = strtab.offset + off;
    return elf.toString('latin1', start, elf.indexOf(0, start));
  };
  const out: Array<Uint8Array | undefined> = new Array<Uint8Array | undefined>(count).fill(undefined);
  const indexOfSection = new Map<number, number>();
  for (let i = 1; i < shnum; i++) {
    const s = section(i);
    const m = /^\.text\.vmx(\d+)$/.exec(nameOf(s.name));
    if (m === null) continue;
    const k = Number(m[1]);
    indexOfSection.set(i, k);
    out[k] = new Uint8Array(elf.subarray(s.offset, s.offset + s.size));
  }
  const SHT_RELA = 4;
  const SHT_REL = 9;
  for (let i = 1; i < shnum; i++) {
    const s = section(i);
    if ((s.type === SHT_RELA || s.type === SHT_REL) && s.size > 0 && indexOfSection.has(s.info)) {
      throw new Error(`assembleIntel: snippet ${ids[indexOfSection.get(s.info) as number]} needs relocations `
        + '(it refers to a label outside itself or to a label\'s absolute address)');
    }
  }
  return out.map((b, k) => {
    if (b === undefined) throw new Error(`assembleIntel: no section for snippet ${ids[k]}`);
    return b;
  });
}
