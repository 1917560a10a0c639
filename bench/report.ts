// Output: readable lines by default; with --json exactly one JSON object per line per figure
// and nothing else on stdout (notes and errors go to stderr), so a script can collect them.

export type Unit = 'MIPS' | 'MB/s' | 'x' | 'exits/s' | 'ms';

export class Report {
  constructor(private readonly json: boolean) {}

  /** One figure; `label` (default `name`) and `detail` are only used in the readable form. */
  figure(name: string, value: number, unit: Unit, detail = '', label = name): void {
    const rounded = Math.round(value * 10) / 10;
    if (this.json) {
      process.stdout.write(`${JSON.stringify({ name, value: rounded, unit })}\n`);
    } else {
      const shown = unit === 'x' ? `${rounded}x` : `${rounded} ${unit}`;
      process.stdout.write(`${label}: ${shown}${detail === '' ? '' : ` (${detail})`}\n`);
    }
  }

  /** Something that is not a figure (a skipped benchmark, progress): stderr in JSON mode. */
  note(text: string): void {
    (this.json ? process.stderr : process.stdout).write(`${text}\n`);
  }
}

export function seconds(s: number): string {
  return `${s.toFixed(2)} s`;
}
