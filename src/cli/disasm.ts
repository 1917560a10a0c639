// `vmx-debug disasm <file>`: the bytes of a flat binary as the emulated CPU decodes them, in
// objdump's Intel syntax (src/hardware/disasm.ts), one `address: bytes  text` line each.
import * as fs from 'node:fs';
import { ParsedArgs, UsageError } from './args';
import { Command, JSON_OPTION } from './command';
import { Output } from './output';
import { parseUnsigned } from './numbers';
import { disassemble } from '../hardware/disasm';
import { MAX_INSN_LENGTH } from '../hardware/decoder';

const COMMAND = 'disasm';
const MODES = ['16', '32', '64'] as const;

function readFile(file: string): Uint8Array {
  try {
    if (fs.statSync(file).isDirectory()) throw new UsageError(`'${file}' is a directory, not a file`, COMMAND);
    return new Uint8Array(fs.readFileSync(file));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new UsageError(`cannot read '${file}': ${why}`, COMMAND);
  }
}

function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

export const disasmCommand: Command = {
  spec: {
    name: COMMAND,
    summary: 'Disassemble a flat binary as the emulated CPU decodes it',
    description: [
      'Prints each instruction of <file> (raw bytes, as loaded at --address) as `address: bytes  text`',
      'in the Intel syntax of objdump -M intel. The text comes from the decoder the CPU executes with.',
      'Bytes the CPU cannot decode print as (bad), one byte each, and disassembly goes on after them.',
    ].join('\n'),
    positionals: [{ name: 'file', description: 'flat binary to disassemble' }],
    options: [
      { name: 'mode', value: '16|32|64', description: 'code size to decode with (default 64)' },
      { name: 'address', value: 'A', description: 'address of the file\'s first byte (default 0)' },
      { name: 'offset', value: 'N', description: 'start N bytes into the file (default 0)' },
      { name: 'count', value: 'N', description: 'print at most N instructions (default: to the end of the file)' },
      JSON_OPTION,
    ],
    examples: ['vmx-debug disasm boot.bin --mode 16 --address 0x7c00', 'vmx-debug disasm kernel.bin --address 0x100000 --offset 0x40 --count 20'],
  },
  run(args: ParsedArgs, out: Output): number {
    const modeWord = args.option('mode') ?? '64';
    if (!(MODES as readonly string[]).includes(modeWord)) throw new UsageError(`unknown mode '${modeWord}': expected 16, 32 or 64`, COMMAND);
    const mode = Number(modeWord) as 16 | 32 | 64;
    const base = parseUnsigned(args.option('address') ?? '0', mode === 64 ? 64 : 32, 'address', COMMAND);
    const offsetWord = args.option('offset');
    const offset = Number(parseUnsigned(offsetWord ?? '0', 48, 'offset', COMMAND));
    const countWord = args.option('count');
    const count = countWord === undefined ? undefined : Number(parseUnsigned(countWord, 32, 'count', COMMAND));
    const bytes = readFile(args.positional('file') ?? '');
    if (offset > bytes.length) throw new UsageError(`offset ${offsetWord ?? ''} is past the end of the file (${bytes.length} bytes)`, COMMAND);
    // with a count, only the bytes that many instructions can span need decoding
    const end = count === undefined ? bytes.length : Math.min(bytes.length, offset + count * MAX_INSN_LENGTH);
    let insns = disassemble(bytes.subarray(offset, end), base + BigInt(offset), mode);
    if (count !== undefined) insns = insns.slice(0, count);
    if (out.json) {
      for (const i of insns) out.record({ address: i.address, bytes: hexBytes(i.bytes), length: i.length, text: i.text });
      return 0;
    }
    const last = insns.length > 0 ? insns[insns.length - 1].address : 0n;
    const digits = Math.max(mode === 16 ? 4 : 8, last.toString(16).length);
    const width = Math.max(0, ...insns.map((i) => i.length * 3 - 1));
    for (const i of insns) out.line(`${i.address.toString(16).padStart(digits, '0')}: ${hexBytes(i.bytes).padEnd(width)}  ${i.text}`);
    return 0;
  },
};
