// `vmx-debug exit-reason <number|NAME>`: one basic exit reason. A number may also be a whole
// 32-bit exit-reason field as VMREAD returns it (0x80000021): its flag bits are listed too.
// A number the SDM defines no reason for prints UNKNOWN(n) and succeeds; an unknown name is
// bad input.
import { ParsedArgs, suggestion, UsageError } from './args';
import { Command, JSON_OPTION } from './command';
import { Output } from './output';
import { looksNumeric, parseU32 } from './numbers';
import { decodeFields } from '../bitfields';
import { hexPadded } from '../format';
import {
  EXIT_REASON_ALIASES, EXIT_REASON_FIELD_BITS, EXIT_REASONS, decodeExitReasonField, describeExitReason,
  exitReasonByName,
} from '../vmx/definitions';

const COMMAND = 'exit-reason';

/** Bits of the exit-reason field no flag or the basic reason covers (25:16 and 30). */
const RESERVED_BITS = 0x43ff_0000;

export const exitReasonCommand: Command = {
  spec: {
    name: COMMAND,
    summary: 'Describe one basic exit reason, by number or name',
    description: [
      'Prints the exit reason a number (decimal or 0x hex) or a name (CPUID, ept_violation, Linux',
      'spellings too) stands for. A number above 0xffff is read as the whole exit-reason field and',
      'its flag bits (VM-entry failure …) are listed. Numbers with no defined reason print UNKNOWN(n).',
    ].join('\n'),
    positionals: [{ name: 'reason', description: 'exit reason number (10, 0x30) or name (CPUID)' }],
    options: [JSON_OPTION],
    examples: ['vmx-debug exit-reason 48', 'vmx-debug exit-reason cpuid', 'vmx-debug exit-reason 0x80000021'],
  },
  run(args: ParsedArgs, out: Output): number {
    const word = args.positional('reason') ?? '';
    let raw: number;
    if (looksNumeric(word)) {
      raw = parseU32(word, 'exit reason', COMMAND);
    } else {
      const info = exitReasonByName(word);
      if (info === undefined) {
        const names = [...EXIT_REASONS.map((r) => r.name), ...Object.keys(EXIT_REASON_ALIASES)];
        throw new UsageError(`unknown exit reason name '${word}'${suggestion(word, names)}`, COMMAND);
      }
      raw = info.number;
    }
    const field = decodeExitReasonField(raw);
    const flags = raw > 0xffff
      ? decodeFields(BigInt(raw), EXIT_REASON_FIELD_BITS).filter((d) => d.field.width === 1 && d.value === 1n).map((d) => d.field.name)
      : [];
    const reserved = (raw & RESERVED_BITS) >>> 0;

    if (out.json) {
      out.record({
        number: field.basic, name: field.info?.name ?? describeExitReason(field.basic), known: field.info !== undefined,
        description: field.info?.description ?? null,
        field: raw > 0xffff ? hexPadded(raw, 8) : undefined,
        flags: raw > 0xffff ? flags : undefined,
        reservedBits: reserved !== 0 ? hexPadded(reserved, 8) : undefined,
      });
      return 0;
    }
    out.line(`${describeExitReason(field.basic)}: ${field.info?.description ?? 'the SDM defines no basic exit reason with this number'}`);
    if (raw > 0xffff) {
      out.line(`  exit-reason field ${hexPadded(raw, 8)}: basic reason ${field.basic}; flags: ${flags.length === 0 ? 'none' : flags.join(', ')}`);
      if (reserved !== 0) out.line(`  reserved bits set: ${hexPadded(reserved, 8)}`);
    }
    return 0;
  },
};
