// package.json's lists that come from the engine's tables, written by a program instead of by
// hand so they cannot drift: the `breakOnExits` enum is every basic exit reason of
// src/vmx/definitions.ts (SDM Vol. 3, Appendix C), and the `disableControls` enum every VMX control
// name of src/vmx/controls.ts (SDM Vol. 3C, 25.6-25.8). A unit test runs the check mode.
//   node out/scripts/manifest.js          rewrite package.json
//   node out/scripts/manifest.js --check  exit 1 when package.json differs from what it would write
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT_REASONS } from '../src/vmx/definitions';
import { controlNameSpellings } from '../src/vmx/controls';
import { capabilitiesWithout } from '../src/vmm/controls-config';
import { MachineConfigError } from '../src/vmm/config-error';

export interface EnumSchema {
  enum: string[];
  enumDescriptions: string[];
}

/** The JSON-schema enum of exit reason names, with the SDM's description of each. */
export function exitReasonEnum(): EnumSchema {
  return {
    enum: EXIT_REASONS.map((r) => r.name),
    enumDescriptions: EXIT_REASONS.map((r) => `${r.description} (exit reason ${r.number})`),
  };
}

/** The JSON-schema enum of VMX control names `disableControls` accepts (src/vmx/controls.ts). */
export function controlNameEnum(): EnumSchema {
  // only those a processor can be without: default1 controls it requires are left out
  const names = controlNameSpellings().filter((n) => {
    try {
      capabilitiesWithout([n.name]);
      return true;
    } catch (e) {
      if (e instanceof MachineConfigError) return false;
      throw e;
    }
  });
  return { enum: names.map((n) => n.name), enumDescriptions: names.map((n) => n.description) };
}

/** A manifest that lacks the place the generated list goes into. */
export class ManifestError extends Error {
  constructor(problem: string) {
    super(`package.json: ${problem}`);
    this.name = 'ManifestError';
  }
}

type Json = Record<string, unknown>;

function child(obj: unknown, key: string, where: string): Json {
  const v = typeof obj === 'object' && obj !== null ? (obj as Json)[key] : undefined;
  if (typeof v !== 'object' || v === null) throw new ManifestError(`missing ${where}.${key}`);
  return v as Json;
}

/** The manifest with the generated lists put in (a copy; the input is not changed). */
export function withGeneratedLists(manifest: Json): Json {
  const copy = JSON.parse(JSON.stringify(manifest)) as Json;
  const debuggers = child(copy, 'contributes', 'manifest').debuggers;
  const vmx = Array.isArray(debuggers) ? (debuggers as Json[]).find((d) => d.type === 'vmx') : undefined;
  if (vmx === undefined) throw new ManifestError('no contributes.debuggers entry of type "vmx"');
  const props = child(child(child(vmx, 'configurationAttributes', 'debugger'), 'launch', 'configurationAttributes'), 'properties', 'launch');
  const items = child(child(props, 'breakOnExits', 'properties'), 'items', 'breakOnExits');
  Object.assign(items, { type: 'string' }, exitReasonEnum());
  const controls = child(child(props, 'disableControls', 'properties'), 'items', 'disableControls');
  Object.assign(controls, { type: 'string' }, controlNameEnum());
  return copy;
}

/** package.json as this program writes it: two-space JSON and a final newline, as npm writes it. */
export function manifestText(manifest: Json): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

function main(argv: string[]): number {
  const file = path.resolve(__dirname, '..', '..', 'package.json');
  const current = fs.readFileSync(file, 'utf8');
  const wanted = manifestText(withGeneratedLists(JSON.parse(current) as Json));
  if (argv.includes('--check')) {
    if (current === wanted) return 0;
    console.error(`${file} is out of date with src/vmx/definitions.ts and controls.ts: run npm run manifest`);
    return 1;
  }
  if (current !== wanted) fs.writeFileSync(file, wanted);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
