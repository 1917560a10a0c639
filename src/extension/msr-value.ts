// The value a user types for VMX: Set MSR…, checked before it goes to the adapter: a number in
// hex (0x…), binary (0b…) or decimal, underscores allowed between digits, that fits in 64 bits.
// Kept free of `vscode` so it runs and is tested in plain Node.

const NUMBER = /^(0x[0-9a-f]+|0b[01]+|[0-9]+)$/i;
const MAX = (1n << 64n) - 1n;

/** Undefined when `text` is a value an MSR can hold, else what is wrong with it (for the input box). */
export function msrValueProblem(text: string): string | undefined {
  const t = text.trim().replace(/(?<=[0-9a-fx])_(?=[0-9a-f])/gi, '');
  if (!NUMBER.test(t)) return 'a number: 0x… hex, 0b… binary or decimal';
  if (BigInt(t) > MAX) return 'at most 64 bits (0xffffffffffffffff)';
  return undefined;
}

/** The value as the adapter's setVariable reads it (0x-hex); `text` must have passed msrValueProblem. */
export function msrValueForAdapter(text: string): string {
  const t = text.trim().replace(/_/g, '');
  return `0x${BigInt(t).toString(16)}`;
}
