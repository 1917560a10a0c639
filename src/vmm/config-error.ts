// The problem with one part of a machine configuration (a CPUID override, an MSR value, a VMX
// control name), in words that name the bad part. The command line and the debug adapter put
// their own name of the option or launch attribute in front.

export class MachineConfigError extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = 'MachineConfigError';
  }
}

const NUMBER_TEXT = /^(0x[0-9a-f]+|[0-9]+)$/i;

/**
 * An unsigned integer of at most `bits` bits, given as a JSON number or as text ("0x1f", "31"),
 * the two ways launch.json and the command line write values; `what` names it in the error.
 */
export function configUnsigned(value: unknown, bits: number, what: string): bigint {
  let v: bigint | undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) v = BigInt(value);
  else if (typeof value === 'string' && NUMBER_TEXT.test(value.trim())) v = BigInt(value.trim());
  if (v === undefined) throw new MachineConfigError(`${what}: ${JSON.stringify(value)} is not a number (write a non-negative integer or a string like "0x1f")`);
  if (v >= 1n << BigInt(bits)) throw new MachineConfigError(`${what}: ${JSON.stringify(value)} does not fit in ${bits} bits`);
  return v;
}
