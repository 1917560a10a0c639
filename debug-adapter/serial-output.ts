// Where the guest's COM1 output goes (the launch attribute `serial`): the Debug Console (the
// default, as `output` events), a file (written as the bytes arrive, so `tail -f` follows it
// and nothing is lost if the session ends abruptly), or nowhere.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** A `serial` value that names no place, or a file that cannot be written; the launch names the attribute. */
export class SerialError extends Error {}

export type SerialTarget = { kind: 'console' } | { kind: 'none' } | { kind: 'file'; path: string };

/** `"console"`, `"none"` or `{ "file": PATH }`; a relative path is taken from `baseDir` (the program's folder). */
export function parseSerial(value: unknown, baseDir: string): SerialTarget {
  if (value === undefined || value === 'console') return { kind: 'console' };
  if (value === 'none') return { kind: 'none' };
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const file = (value as { file?: unknown }).file;
    if (keys.length === 1 && typeof file === 'string' && file.trim() !== '') {
      return { kind: 'file', path: path.resolve(baseDir, file) };
    }
  }
  throw new SerialError(`expected "console", "none" or an object with a "file" path, not ${JSON.stringify(value)}`);
}

/** The open end of a SerialTarget: `write` takes the guest's bytes, `close` ends a file. */
export class SerialSink {
  private fd: number | undefined;

  /** Opens (truncates) the file now, so a bad path is a launch error rather than lost output. */
  constructor(private readonly target: SerialTarget, private readonly toConsole: (bytes: Uint8Array) => void) {
    if (target.kind !== 'file') return;
    try {
      this.fd = fs.openSync(target.path, 'w');
    } catch (e) {
      throw new SerialError(`cannot write ${target.path}: ${(e as Error).message}`);
    }
  }

  write(bytes: Uint8Array): void {
    if (this.target.kind === 'console') this.toConsole(bytes);
    else if (this.fd !== undefined) fs.writeSync(this.fd, bytes);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
