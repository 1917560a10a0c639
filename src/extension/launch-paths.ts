// Where a launch configuration's files are, decided without the editor: VS Code substitutes
// ${workspaceFolder} itself only in launch.json, so configurations that reach the provider from
// elsewhere (F5 without launch.json, startDebugging from code) need the same rules applied here.
// Kept free of `vscode` so it runs and is tested in plain Node.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The sample the extension debugs when nothing else is at hand (relative to the workspace). */
export const SAMPLE_PROGRAM = path.join('samples', 'hello', 'hello.elf');
/** The same sample when the workspace folder is samples/ itself (as the walkthrough opens it). */
const SAMPLE_IN_SAMPLES_FOLDER = path.join('hello', 'hello.elf');

/**
 * The hello sample inside `workspaceFolder`: the repository's samples/hello/hello.elf, or
 * hello/hello.elf when the folder is samples/; the first path when neither exists, so the
 * adapter's error names the file a user would expect.
 */
export function sampleProgramIn(workspaceFolder: string): string {
  const candidates = [SAMPLE_PROGRAM, SAMPLE_IN_SAMPLES_FOLDER].map((p) => path.join(workspaceFolder, p));
  return candidates.find((p) => fs.existsSync(p)) ?? candidates[0];
}

/** The ELF magic: the first four bytes of every ELF file. */
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** True when `head` (a file's first bytes) starts with the ELF magic. */
export function isElfHeader(head: Uint8Array): boolean {
  return head.length >= ELF_MAGIC.length && ELF_MAGIC.every((b, i) => head[i] === b);
}

/**
 * Replaces ${workspaceFolder} (and ${workspaceRoot}, its old spelling) and makes a relative path
 * absolute against the workspace folder. Without a folder a relative path is left as it is: the
 * adapter then names the file it could not find.
 */
export function resolveProgramPath(program: string, workspaceFolder: string | undefined): string {
  let p = program;
  if (workspaceFolder !== undefined) p = p.replace(/\$\{(workspaceFolder|workspaceRoot)\}/g, workspaceFolder);
  if (workspaceFolder !== undefined && !path.isAbsolute(p)) p = path.join(workspaceFolder, p);
  return path.normalize(p);
}
