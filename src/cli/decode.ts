// `vmx-debug decode-msr <NAME|0xADDR> <value>`: splits a 64-bit MSR value into the fields the
// MSR table describes (src/msr.ts), e.g. IA32_EFER 0xd01 → SCE=1 LME=1 LMA=1 NXE=1.
import { ParsedArgs, suggestion, UsageError } from './args';
import { Command, JSON_OPTION } from './command';
import { bitRange, formatFieldValue } from './fields';
import { formatTable, Output } from './output';
import { looksNumeric, parseU32, parseUnsigned } from './numbers';
import { decodeFields, fieldsMask } from '../bitfields';
import { hex, hexPadded } from '../format';
import { ALL_MSRS, MsrInfo, msrByAddress, msrByName } from '../msr';

const COMMAND = 'decode-msr';

/** The MSR a word names: a name from the table (any case) or an address (0x… or decimal). */
export function resolveMsr(word: string, command = COMMAND): MsrInfo {
  if (looksNumeric(word)) {
    const address = parseU32(word, 'MSR address', command);
    const msr = msrByAddress(address);
    if (msr === undefined) {
      const shown = word.toLowerCase() === hex(address) ? `'${word}'` : `'${word}' (${hex(address)})`;
      throw new UsageError(`unknown MSR address ${shown}; 'vmx-debug tables msrs' lists the known ones`, command);
    }
    return msr;
  }
  const msr = msrByName(word);
  if (msr === undefined) {
    throw new UsageError(`unknown MSR name '${word}'${suggestion(word, ALL_MSRS.map((m) => m.name))}; `
      + "'vmx-debug tables msrs' lists the known ones", command);
  }
  return msr;
}

/** Field values that are small enough stay JSON numbers; wider fields are "0x…" strings. */
function jsonFieldValue(width: number, value: bigint): number | bigint {
  return width <= 32 ? Number(value) : value;
}

export function decodeMsr(msr: MsrInfo, value: bigint, out: Output): void {
  const fields = msr.fields ?? [];
  const decoded = decodeFields(value, fields);
  const undescribed = value & ~fieldsMask(fields);
  if (out.json) {
    out.record({
      msr: msr.name, address: hex(msr.address), value,
      fields: decoded.map((d) => ({
        name: d.field.name, bits: bitRange(d.field), value: jsonFieldValue(d.field.width, d.value),
        meaning: d.meaning, description: d.field.description,
      })),
      undescribedBits: undescribed,
    });
    return;
  }
  const body = [`  ${msr.description}`];
  if (decoded.length === 0) {
    body.push(`  (the table describes no fields of ${msr.name})`);
  } else {
    body.push(...formatTable(
      [{ header: 'FIELD' }, { header: 'BITS' }, { header: 'DESCRIPTION' }],
      decoded.map((d) => ({ cells: [`${d.field.name}=${formatFieldValue(d)}`, bitRange(d.field), d.field.description] })),
    ));
    if (undescribed !== 0n) body.push(`  set bits no field describes: ${hex(undescribed)}`);
  }
  out.section(`${msr.name} (${hex(msr.address)}) = ${hexPadded(value, 16)}`, body);
}

export const decodeMsrCommand: Command = {
  spec: {
    name: COMMAND,
    summary: "Decode an MSR value by the MSR's bit fields",
    description: 'Splits a 64-bit value into the fields the MSR table describes, with their meaning.',
    positionals: [
      { name: 'msr', description: 'MSR name (IA32_EFER, any case) or address (0xc0000080)' },
      { name: 'value', description: 'value to decode: decimal or 0x hex, at most 64 bits' },
    ],
    options: [JSON_OPTION],
    examples: ['vmx-debug decode-msr IA32_EFER 0xd01', 'vmx-debug decode-msr 0x480 0xda040000000004 --json'],
  },
  run(args: ParsedArgs, out: Output): number {
    const msr = resolveMsr(args.positional('msr') ?? '');
    const value = parseUnsigned(args.positional('value') ?? '', 64, 'MSR value', COMMAND);
    decodeMsr(msr, value, out);
    return 0;
  },
};
