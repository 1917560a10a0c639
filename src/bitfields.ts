// Bit-field descriptions as data: MSRs, control registers and VMCS controls carry a list of
// these so that any view (command line, debug adapter, extension) can decode a value the
// same way without code of its own.

/** One named field of a register: bits [lsb, lsb + width). */
export interface BitField {
  readonly name: string;
  readonly lsb: number;
  /** Width in bits; 1 for a flag. */
  readonly width: number;
  readonly description: string;
  /** Names of the field's values, where the SDM names them (memory types, modes …). */
  readonly values?: Readonly<Record<number, string>>;
}

/** A field of a value, decoded. */
export interface DecodedField {
  readonly field: BitField;
  readonly value: bigint;
  /** The name of the value when the field names its values, else undefined. */
  readonly meaning?: string;
}

/** Extracts one field from a 64-bit value. */
export function extractField(value: bigint, field: BitField): bigint {
  return (value >> BigInt(field.lsb)) & ((1n << BigInt(field.width)) - 1n);
}

/** Returns `value` with one field replaced by `fieldValue` (masked to the field's width). */
export function insertField(value: bigint, field: BitField, fieldValue: bigint): bigint {
  const mask = ((1n << BigInt(field.width)) - 1n) << BigInt(field.lsb);
  return (value & ~mask) | ((fieldValue << BigInt(field.lsb)) & mask);
}

/** Decodes every field of `value`. */
export function decodeFields(value: bigint, fields: readonly BitField[]): DecodedField[] {
  return fields.map((field) => {
    const v = extractField(value, field);
    const meaning = field.values?.[Number(v)];
    return meaning === undefined ? { field, value: v } : { field, value: v, meaning };
  });
}

/** The mask of all bits that some field covers. */
export function fieldsMask(fields: readonly BitField[]): bigint {
  let mask = 0n;
  for (const f of fields) mask |= ((1n << BigInt(f.width)) - 1n) << BigInt(f.lsb);
  return mask;
}

/** Shorthand for a one-bit flag. */
export function flag(name: string, bit: number, description: string): BitField {
  return { name, lsb: bit, width: 1, description };
}
