// Numbers typed on the command line: decimal (`3329`) or hexadecimal with a 0x prefix
// (`0xd01`, `0xDA04_0000_0000_0004`), `_` allowed between digits. Nothing else is a number:
// no sign, no spaces, no octal, no suffix; a malformed word is a UsageError that quotes it.
import { UsageError } from './args';
import { hex } from '../format';

const DECIMAL = /^[0-9](?:_?[0-9])*$/;
const HEXADECIMAL = /^0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*$/;

/** Whether the word is meant as a number rather than a name: it starts with a digit or a sign. */
export function looksNumeric(word: string): boolean {
  return /^[-+]?[0-9]/.test(word);
}

/**
 * Parses an unsigned number of at most `bits` bits. `what` names the value in messages
 * ("MSR value", "exit reason"); `command` is the command whose usage the error points at.
 */
export function parseUnsigned(word: string, bits: number, what: string, command?: string): bigint {
  if (!DECIMAL.test(word) && !HEXADECIMAL.test(word)) {
    throw new UsageError(`malformed ${what} '${word}': expected a decimal number or 0x followed by hex digits`, command);
  }
  const value = BigInt(word.replace(/_/g, ''));
  if (value >> BigInt(bits) !== 0n) {
    throw new UsageError(`${what} '${word}' does not fit in ${bits} bits (largest is ${hex((1n << BigInt(bits)) - 1n)})`, command);
  }
  return value;
}

/** parseUnsigned for at most 32 bits, as a JavaScript number. */
export function parseU32(word: string, what: string, command?: string): number {
  return Number(parseUnsigned(word, 32, what, command));
}
