// How the command line writes bit fields (src/bitfields.ts descriptions): positions as the
// SDM draws them (`8`, `44:32`), a field as `name[bits]`, and a field's value.
import { BitField, DecodedField } from '../bitfields';
import { hex } from '../format';

/** `8` for a one-bit field, `44:32` (msb:lsb) for a wider one. */
export function bitRange(field: BitField): string {
  return field.width === 1 ? String(field.lsb) : `${field.lsb + field.width - 1}:${field.lsb}`;
}

/** `SCE[0]`, `regionSize[44:32]`. */
export function fieldLabel(field: BitField): string {
  return `${field.name}[${bitRange(field)}]`;
}

/**
 * A decoded field's value for people: `1` for a flag, small numbers in decimal, larger ones in
 * hex with the decimal after (`0x400 (1024)`), and the value's name where the field has one
 * (`6 (WB)`).
 */
export function formatFieldValue(d: DecodedField): string {
  const v = d.value;
  const notes: string[] = [];
  let text: string;
  if (d.field.width === 1 || v < 10n) {
    text = v.toString();
  } else {
    text = hex(v);
    if (v <= BigInt(Number.MAX_SAFE_INTEGER)) notes.push(v.toString());
  }
  if (d.meaning !== undefined) notes.push(d.meaning);
  return notes.length === 0 ? text : `${text} (${notes.join(', ')})`;
}
