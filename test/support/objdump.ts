// GNU objdump as the oracle for disassembly text: raw bytes in, one entry per instruction out
// (continuation lines of long instructions folded into their entry).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface ObjdumpEntry { address: bigint; bytes: number[]; text: string }

const ARCH: Record<16 | 32 | 64, string> = { 16: 'i8086', 32: 'i386', 64: 'i386:x86-64' };
const LINE = /^\s*([0-9a-f]+):\t([0-9a-f]{2}(?: [0-9a-f]{2})*) *(?:\t(.*))?$/;

/** Runs `objdump -D -b binary -M intel` once over `bytes` placed at `vma`. */
export function objdump(bytes: Uint8Array, mode: 16 | 32 | 64, vma = 0n): ObjdumpEntry[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-debug-objdump-'));
  try {
    const file = path.join(dir, 'code.bin');
    fs.writeFileSync(file, bytes);
    const r = spawnSync('objdump', ['-D', '-b', 'binary', '-m', ARCH[mode], '-M', 'intel', `--adjust-vma=0x${vma.toString(16)}`, '-w', file],
      { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (r.error !== undefined) throw new Error(`objdump: cannot run: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`objdump failed: ${r.stderr}`);
    return parseObjdump(r.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The instruction lines of objdump's output (symbol headings and blank lines skipped). */
export function parseObjdump(stdout: string): ObjdumpEntry[] {
  const out: ObjdumpEntry[] = [];
  for (const line of stdout.split('\n')) {
    const m = LINE.exec(line);
    if (m === null) continue;
    const b = m[2].split(' ').map((x) => parseInt(x, 16));
    if (m[3] === undefined && out.length > 0) { out[out.length - 1].bytes.push(...b); continue; }
    out.push({ address: BigInt(`0x${m[1]}`), bytes: b, text: normalize(m[3] ?? '') });
  }
  return out;
}

/** Whitespace only: runs of blanks become one space, ends trimmed. */
export function normalize(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

export function objdumpAvailable(): boolean {
  const r = spawnSync('objdump', ['--version'], { encoding: 'utf8' });
  return r.error === undefined && r.status === 0;
}
