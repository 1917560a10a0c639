// How values are written for people: hex with a 0x prefix, as the debugger shows them.

/** `0x` followed by lowercase hex digits, no padding. */
export function hex(value: bigint | number): string {
  const v = typeof value === 'number' ? BigInt(value) : value;
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

/** `0x` followed by exactly `digits` hex digits (16 for a 64-bit register). */
export function hexPadded(value: bigint | number, digits: number): string {
  const v = typeof value === 'number' ? BigInt(value) : value;
  return `0x${v.toString(16).padStart(digits, '0')}`;
}

/** An integer for display: `hex(value)` when `inHex`, else plain decimal (a DAP ValueFormat's `hex: false`). */
export function integer(value: bigint | number, inHex: boolean): string {
  return inHex ? hex(value) : (typeof value === 'number' ? BigInt(value) : value).toString(10);
}
