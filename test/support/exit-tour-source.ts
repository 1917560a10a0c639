// Reading samples/exit-tour's source the way its header allows: each exiting instruction of
// main runs once and exits once, so exit counts follow from the instructions written there.
// Shared by the sample's unit test and the UI test that stops the tour in a real VS Code.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const sourceLines = (file: string): string[] => fs.readFileSync(file, 'utf8').split('\n');

/** The instruction (or macro use) a source line holds: no label, comment or string contents. */
export function instructionOf(line: string): string | undefined {
  let l = line.replace(/"[^"]*"/g, '""').replace(/#.*$/, '').trim();
  l = l.replace(/^(?:\w+|\d+):\s*/, '');
  // EXPECT_FAULT counter, "why", insn: the instruction is the macro's last argument
  const m = /^EXPECT_FAULT\s+\w+,\s*"",\s*(.*)$/.exec(l);
  if (m !== null) l = m[1];
  return l === '' || l.startsWith('.') ? undefined : l;
}

/** Instructions of the lines from `from` up to (not including) the first line matching `to`. */
export function instructionsBetween(source: string[], from: RegExp, to: RegExp): string[] {
  const start = source.findIndex((l) => from.test(l));
  if (start < 0) throw new Error(`the source has no line matching ${from}`);
  const end = source.findIndex((l, k) => k > start && to.test(l));
  return source.slice(start + 1, end < 0 ? undefined : end).map(instructionOf).filter((x): x is string => x !== undefined);
}

/** A subroutine's body: from its label to its RET or IRETQ. */
export function body(source: string[], label: string): string[] {
  return instructionsBetween(source, new RegExp(`^${label}:`), /^\s+(ret|iretq)\b/);
}

export const mnemonic = (insn: string): string => insn.split(/\s+/)[0].toLowerCase();
export const countIn = (code: string[], re: RegExp): number => code.filter((i) => re.test(i)).length;
export const ioIn = (code: string[]): number => countIn(code, /^(in|out)\s/);

/** The bytes of a `.asciz "..."` string as the assembler stores them (\n and \" escapes), without the NUL. */
function ascizAfter(source: string[], label: string): string {
  const k = source.findIndex((l) => l.startsWith(`${label}:`));
  const m = /\.asciz\s+"((?:[^"\\]|\\.)*)"/.exec(source[k + 1] ?? '');
  if (k < 0 || m === null) throw new Error(`the source has no ${label}: .asciz "..."`);
  return m[1].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
}

/**
 * The exits exit-tour has made when it stops at the exit of the instruction labelled `label` in
 * main (that exit included): by reason, from main's instructions up to there and the bytes it
 * printed on COM1 by then (serial_putc polls LSR once and writes THR once per byte: two I/O
 * exits, the UART being always ready). Only the start of main is modelled: any other exiting
 * instruction before `label` is refused by name rather than miscounted.
 */
export function exitTourCountsAt(sampleDir: string, label: string): Record<string, number> {
  const tour = sourceLines(path.join(sampleDir, 'exit-tour/exit-tour.S'));
  const serial = sourceLines(path.join(sampleDir, 'common/serial.inc'));
  const start = tour.findIndex((l) => /^main:/.test(l));
  const at = tour.findIndex((l) => l.startsWith(`${label}:`));
  if (start < 0 || at < start) throw new Error(`exit-tour.S has no label ${label} in main`);
  const next = tour.slice(at + 1).map(instructionOf).find((x) => x !== undefined);
  const code = [...tour.slice(start + 1, at).map(instructionOf).filter((x): x is string => x !== undefined), ...(next === undefined ? [] : [next])];
  const counts: Record<string, number> = { CPUID: countIn(code, /^cpuid\b/), CR_ACCESS: countIn(code, /^mov\s+cr[04],/) };
  const unmodelled = code.find((i) => /^(in|out|rdmsr|wrmsr|xsetbv|invd|vmcall|hlt|vm\w+|invept|invvpid)\b/.test(mnemonic(i)));
  if (unmodelled !== undefined) throw new Error(`exitTourCountsAt(${label}): main runs ${unmodelled} before it, which this count does not model`);
  // what main printed: the banner, then per STEP "step N: TITLE ... " and, once the step ended, "ok\n"
  let printed = code.some((i) => /^lea\s+rsi,\s*\[rip \+ banner\]/.test(i)) ? ascizAfter(tour, 'banner').length : 0;
  let steps = 0, open = false;
  for (const line of tour.slice(start + 1, at)) {
    const title = /^\s+STEP\s+"([^"]*)"/.exec(line)?.[1];
    if (title !== undefined) {
      steps++;
      printed += `step ${steps}: ${title} ... `.length;
      open = true;
    } else if (open && instructionOf(line) === 'call step_end') {
      printed += 'ok\n'.length;
      open = false;
    }
  }
  const initialised = code[0] === 'call serial_init' ? ioIn(body(serial, 'serial_init')) : 0;
  counts.IO_INSTRUCTION = initialised + ioIn(body(serial, 'serial_putc')) * printed;
  return counts;
}
