// `vmx-debug tables [name]`: the supporting tables the engine is built on, printed from the
// same data the engine uses (src/vmx, src/msr.ts), so the listing cannot drift from the code.
import { ParsedArgs } from './args';
import { Command, JSON_OPTION } from './command';
import { bitRange, fieldLabel } from './fields';
import { formatTable, Output, TableRow } from './output';
import { hex, hexPadded } from '../format';
import { ALL_MSRS, MSR_GROUPS, MsrInfo } from '../msr';
import { CONTROL_SETS } from '../vmx/controls';
import {
  EXIT_REASONS, VM_INSTRUCTION_ERRORS, VmInstructionErrorNumber, VmxInterruptionType,
  interruptionTypeFromVector, vectorHasErrorCode,
} from '../vmx/definitions';
import { VMCS_FIELDS, VmcsFieldWidth } from '../vmx/vmcs-fields';

/** The table names `tables` accepts, in the order `all` prints them. */
export const TABLE_NAMES = ['exit-reasons', 'vmcs', 'msrs', 'errors', 'interruption-types', 'controls'] as const;
export type TableName = (typeof TABLE_NAMES)[number];

const ALL = 'all';

// ---- exit reasons ----------------------------------------------------------------------

function exitReasons(out: Output): void {
  if (out.json) {
    for (const r of EXIT_REASONS) {
      out.record({ table: 'exit-reasons', number: r.number, name: r.name, description: r.description });
    }
    return;
  }
  out.section(`Basic exit reasons (SDM Vol. 3, Appendix C): ${EXIT_REASONS.length}`, formatTable(
    [{ header: 'NUMBER', align: 'right' }, { header: 'NAME' }, { header: 'DESCRIPTION' }],
    EXIT_REASONS.map((r) => ({ cells: [String(r.number), r.name, r.description] })),
  ));
}

// ---- VMCS fields -----------------------------------------------------------------------

const WIDTH_TEXT: Readonly<Record<VmcsFieldWidth, string>> = {
  16: '16-bit', 32: '32-bit', 64: '64-bit', natural: 'natural',
};

function vmcsFields(out: Output): void {
  if (out.json) {
    for (const f of VMCS_FIELDS) {
      out.record({
        table: 'vmcs', encoding: hexPadded(f.encoding, 4), width: f.width, type: f.type,
        group: f.group, name: f.name, description: f.description,
      });
    }
    return;
  }
  out.section(`VMCS fields (SDM Vol. 3, Appendix B): ${VMCS_FIELDS.length}`, formatTable(
    [{ header: 'ENCODING' }, { header: 'WIDTH' }, { header: 'TYPE' }, { header: 'NAME' }, { header: 'DESCRIPTION' }],
    VMCS_FIELDS.map((f) => ({ cells: [hexPadded(f.encoding, 4), WIDTH_TEXT[f.width], f.type, f.name, f.description] })),
  ));
}

// ---- MSRs ------------------------------------------------------------------------------

function msrRecordFields(m: MsrInfo) {
  return (m.fields ?? []).map((f) => ({
    name: f.name, bits: bitRange(f), lsb: f.lsb, width: f.width, description: f.description,
    values: f.values === undefined ? undefined : { ...f.values },
  }));
}

const NOTE_WIDTH = 88;

/** `label word word …` broken into lines of at most NOTE_WIDTH characters, continuation lines indented. */
export function wrapWords(label: string, words: readonly string[], width = NOTE_WIDTH): string[] {
  const indent = ' '.repeat(label.length + 1);
  const lines: string[] = [];
  let line = label;
  for (const word of words) {
    if (line.length > label.length && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else {
      line = `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines;
}

function msrs(out: Output): void {
  for (const group of MSR_GROUPS) {
    const members = ALL_MSRS.filter((m) => m.group === group);
    if (out.json) {
      for (const m of members) {
        out.record({
          table: 'msrs', group, address: hex(m.address), name: m.name, description: m.description,
          fields: msrRecordFields(m),
        });
      }
      continue;
    }
    if (members.length === 0) continue;
    out.section(`MSRs: ${group}`, formatTable(
      [{ header: 'ADDRESS' }, { header: 'NAME' }, { header: 'DESCRIPTION' }],
      members.map((m): TableRow => ({
        cells: [hexPadded(m.address, 8), m.name, m.description],
        notes: m.fields === undefined || m.fields.length === 0 ? [] : wrapWords('fields:', m.fields.map(fieldLabel)),
      })),
    ));
  }
}

// ---- VM-instruction errors -------------------------------------------------------------

function instructionErrors(out: Output): void {
  if (out.json) {
    for (const e of VM_INSTRUCTION_ERRORS) {
      out.record({
        table: 'errors', number: e.number, name: VmInstructionErrorNumber[e.number], text: e.text, detail: e.detail,
      });
    }
    return;
  }
  out.section('VM-instruction errors (SDM Vol. 3, 31.4; VMCS field VM_INSTRUCTION_ERROR 0x4400)', formatTable(
    [{ header: 'NUMBER', align: 'right' }, { header: 'NAME' }, { header: 'TEXT' }],
    VM_INSTRUCTION_ERRORS.map((e): TableRow => ({
      cells: [String(e.number), VmInstructionErrorNumber[e.number], e.text],
      notes: e.detail === undefined ? [] : [`(${e.detail})`],
    })),
  ));
}

// ---- interruption types ----------------------------------------------------------------

const INTERRUPTION_TYPE_TEXT: Readonly<Record<VmxInterruptionType, string>> = {
  [VmxInterruptionType.External]: 'External interrupt (vectors 32-255)',
  [VmxInterruptionType.Reserved]: 'Reserved',
  [VmxInterruptionType.NMI]: 'Non-maskable interrupt',
  [VmxInterruptionType.HardException]: 'Hardware exception',
  [VmxInterruptionType.SoftIntr]: 'Software interrupt (INT n)',
  [VmxInterruptionType.PrivSoftException]: 'Privileged software exception (INT1)',
  [VmxInterruptionType.SoftException]: 'Software exception (INT3, INTO)',
  [VmxInterruptionType.Other]: 'Other event (pending MTF VM exit)',
};

// SDM Vol. 3, Table 6-1; 9 and 15 are reserved by Intel, 22-31 reserved.
const VECTOR_MNEMONICS: readonly string[] = [
  '#DE', '#DB', 'NMI', '#BP', '#OF', '#BR', '#UD', '#NM', '#DF', 'CSO (reserved)', '#TS', '#NP', '#SS', '#GP', '#PF',
  'reserved', '#MF', '#AC', '#MC', '#XM', '#VE', '#CP',
];

const ARCHITECTURAL_VECTORS = Array.from({ length: 32 }, (_, v) => v);

/** `0, 5-21`: sorted numbers (vectors, bit positions) with runs collapsed; `-` for none. */
export function numberRanges(vectors: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < vectors.length;) {
    let j = i;
    while (j + 1 < vectors.length && vectors[j + 1] === vectors[j] + 1) j++;
    parts.push(j === i ? String(vectors[i]) : `${vectors[i]}-${vectors[j]}`);
    i = j + 1;
  }
  return parts.length === 0 ? '-' : parts.join(', ');
}

function interruptionTypes(out: Output): void {
  const types = Object.values(VmxInterruptionType).filter((v): v is VmxInterruptionType => typeof v === 'number');
  const rows = types.map((type) => {
    const vectors = ARCHITECTURAL_VECTORS.filter((v) => interruptionTypeFromVector(v) === type);
    return { type, vectors, errorCodeVectors: vectors.filter(vectorHasErrorCode) };
  });
  const unmapped = ARCHITECTURAL_VECTORS.filter((v) => interruptionTypeFromVector(v) === undefined);
  if (out.json) {
    for (const r of rows) {
      out.record({
        table: 'interruption-types', type: r.type, name: VmxInterruptionType[r.type],
        description: INTERRUPTION_TYPE_TEXT[r.type], vectors: r.vectors, errorCodeVectors: r.errorCodeVectors,
      });
    }
    return;
  }
  out.section('Interruption types (bits 10:8 of interruption information; vectors 0-31 by interruptionTypeFromVector)', [
    ...formatTable(
      [{ header: 'TYPE', align: 'right' }, { header: 'NAME' }, { header: 'VECTORS 0-31' }, { header: 'ERROR CODE' }, { header: 'DESCRIPTION' }],
      rows.map((r) => ({
        cells: [String(r.type), VmxInterruptionType[r.type], numberRanges(r.vectors), numberRanges(r.errorCodeVectors),
          INTERRUPTION_TYPE_TEXT[r.type]],
      })),
    ),
    `  vectors ${numberRanges(unmapped)} are reserved and map to no type (nothing to inject)`,
    '',
    ...formatTable(
      [{ header: 'VECTOR', align: 'right' }, { header: 'EVENT' }, { header: 'TYPE' }, { header: 'ERROR CODE' }],
      ARCHITECTURAL_VECTORS.map((v) => {
        const type = interruptionTypeFromVector(v);
        return {
          cells: [String(v), VECTOR_MNEMONICS[v] ?? 'reserved', type === undefined ? '-' : VmxInterruptionType[type],
            vectorHasErrorCode(v) ? 'yes' : 'no'],
        };
      }),
    ),
  ]);
}

// ---- VMX controls ----------------------------------------------------------------------

function setBits(mask: number): number[] {
  return Array.from({ length: 32 }, (_, i) => i).filter((i) => ((mask >>> i) & 1) === 1);
}

function controls(out: Output): void {
  for (const set of CONTROL_SETS) {
    if (out.json) {
      for (const b of set.bits) {
        out.record({
          table: 'controls', field: set.vmcsField, title: set.title, bit: b.lsb, name: b.name,
          description: b.description, capabilityMsr: set.capabilityMsr, trueCapabilityMsr: set.trueCapabilityMsr,
        });
      }
      continue;
    }
    const msrs = set.trueCapabilityMsr === undefined ? set.capabilityMsr : `${set.capabilityMsr}, ${set.trueCapabilityMsr}`;
    const defaultOne = set.defaultOne === 0
      ? 'none'
      : `${hexPadded(set.defaultOne, 8)} (bits ${numberRanges(setBits(set.defaultOne))})`;
    out.section(`VMX controls: ${set.title} (${set.vmcsField})`, [
      `  capability MSRs: ${msrs}; default1 bits: ${defaultOne}`,
      ...formatTable(
        [{ header: 'BIT', align: 'right' }, { header: 'NAME' }, { header: 'DESCRIPTION' }],
        set.bits.map((b) => ({ cells: [bitRange(b), b.name, b.description] })),
      ),
    ]);
  }
}

const PRINTERS: Readonly<Record<TableName, (out: Output) => void>> = {
  'exit-reasons': exitReasons,
  vmcs: vmcsFields,
  msrs,
  errors: instructionErrors,
  'interruption-types': interruptionTypes,
  controls,
};

/** Prints one table, or every table for `all`. */
export function printTables(which: TableName | typeof ALL, out: Output): void {
  for (const name of which === ALL ? TABLE_NAMES : [which]) PRINTERS[name](out);
}

function isTableName(word: string): word is TableName {
  return (TABLE_NAMES as readonly string[]).includes(word);
}

export const tablesCommand: Command = {
  spec: {
    name: 'tables',
    summary: 'Print the supporting tables (exit reasons, VMCS fields, MSRs, errors, …)',
    description: [
      'Prints one table, or all of them (the default): basic exit reasons; VMCS fields with their',
      'encodings; MSRs by group with their bit fields; VM-instruction errors; interruption types with',
      'the vectors 0-31 that map to each and push an error code; the bits of each VMX control field.',
    ].join('\n'),
    positionals: [{
      name: 'table', noun: 'table', optional: true, choices: [...TABLE_NAMES, ALL],
      description: `${[...TABLE_NAMES, ALL].join(', ')} (default ${ALL})`,
    }],
    options: [JSON_OPTION],
    examples: ['vmx-debug tables exit-reasons', 'vmx-debug tables vmcs --json'],
  },
  run(args: ParsedArgs, out: Output): number {
    const word = args.positional('table') ?? ALL;
    // The parser already checked the word against the choices.
    printTables(isTableName(word) ? word : ALL, out);
    return 0;
  },
};
