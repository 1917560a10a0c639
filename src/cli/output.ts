// The one place commands write through. Text mode prints aligned tables for people; JSON mode
// prints one JSON object per line for programs, with every bigint written as a "0x…" string
// (64-bit values and addresses do not survive as JSON numbers). A command checks `out.json`
// and calls either the text methods or `record`; asking for the other kind is a bug.
import { hex } from '../format';

/** Where the command line's output goes; the process streams in main.ts, buffers in tests. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** A JSON value a record may hold; bigints become "0x…" strings. */
export type JsonValue = string | number | boolean | bigint | null | readonly JsonValue[] | { readonly [key: string]: JsonValue | undefined };

/** One JSON-lines record. Keys with value undefined are left out. */
export type JsonRecord = { readonly [key: string]: JsonValue | undefined };

/** Serialises one record on one line: bigints as "0x…" strings. */
export function toJsonLine(record: JsonRecord): string {
  return JSON.stringify(record, (_key, value: unknown) => (typeof value === 'bigint' ? hex(value) : value));
}

export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned; the default is left. */
  readonly align?: 'left' | 'right';
}

export interface TableRow {
  readonly cells: readonly string[];
  /** Lines printed under the row, starting where the second column starts (field lists, details). */
  readonly notes?: readonly string[];
}

const GAP = '  ';

/**
 * Lays out a table with a header line: every column as wide as its widest cell, columns two
 * spaces apart, no trailing spaces. Each line starts with `indent`.
 */
export function formatTable(columns: readonly Column[], rows: readonly TableRow[], indent = '  '): string[] {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r.cells[i] ?? '').length)));
  const layout = (cells: readonly string[]): string => indent + columns.map((c, i) => {
    const cell = cells[i] ?? '';
    return c.align === 'right' ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
  }).join(GAP).trimEnd();
  const noteIndent = indent + ' '.repeat(columns.length > 1 ? widths[0] + GAP.length : 0);
  const lines = [layout(columns.map((c) => c.header))];
  for (const row of rows) {
    lines.push(layout(row.cells));
    for (const note of row.notes ?? []) lines.push((noteIndent + note).trimEnd());
  }
  return lines;
}

/** Text or JSON lines to the command's stdout. */
export class Output {
  readonly json: boolean;
  private readonly io: CliIo;
  private wroteSection = false;

  constructor(io: CliIo, json: boolean) {
    this.io = io;
    this.json = json;
  }

  /** One line of text. */
  line(text = ''): void {
    this.requireText();
    this.io.stdout(`${text}\n`);
  }

  /** Several lines of text. */
  lines(lines: readonly string[]): void {
    for (const l of lines) this.line(l);
  }

  /** A titled block (a table, a decoded value); blocks are separated by one blank line. */
  section(title: string, body: readonly string[]): void {
    this.requireText();
    if (this.wroteSection) this.line();
    this.wroteSection = true;
    this.line(title);
    this.lines(body);
  }

  /** One JSON object on its own line. */
  record(record: JsonRecord): void {
    if (!this.json) throw new Error('Output.record called in text mode');
    this.io.stdout(`${toJsonLine(record)}\n`);
  }

  private requireText(): void {
    if (this.json) throw new Error('text output called in JSON mode');
  }
}
