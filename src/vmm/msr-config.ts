// The `msrs` launch attribute and `--msr` option: the guest's MSRs as it starts, by name as in
// the MSR table (src/msr.ts) or by number, e.g. { "IA32_TSC_AUX": "0x5", "0xc0000102": 1 }, or
// IA32_TSC_AUX=0x5,0xc0000102=1 on the command line. Each value is written after the vCPU is set
// up and before the guest's first instruction, by the rules the debugger's MSR edits follow
// (GuestEditor.setMsr): an MSR VM entry loads from the VMCS is checked as entry checks it and
// goes into the guest-state area; the others go through the processor's WRMSR, so a reserved
// bit, a read-only MSR or one the processor does not implement is refused, naming the MSR.

import { hex } from '../format';
import { msrByAddress, msrByName, MsrInfo } from '../msr';
import { configUnsigned, MachineConfigError } from './config-error';
import { GuestEditor } from './guest-edit';
import { GuestView, GuestViewError } from './guest-view';
import type { Machine } from './machine';

export interface MsrOverride {
  readonly msr: MsrInfo;
  readonly value: bigint;
}

function msrNamed(key: string): MsrInfo {
  const t = key.trim();
  const byNumber = /^(0x[0-9a-f]+|[0-9]+)$/i.test(t);
  const info = byNumber ? msrByAddress(Number(configUnsigned(t, 32, `MSR ${JSON.stringify(key)}`))) : msrByName(t);
  if (info === undefined) {
    const what = byNumber ? `MSR ${hex(BigInt(t))} is not` : `${JSON.stringify(key)} is not the name of an MSR`;
    throw new MachineConfigError(`${what} in the MSR table (see \`vmx-debug tables msrs\`)`);
  }
  if (info.group === 'VMX capability') {
    throw new MachineConfigError(`${info.name} is a read-only VMX capability MSR: narrow the VMX controls it reports with disableControls (--disable-controls)`);
  }
  return info;
}

function add(out: MsrOverride[], key: string, value: unknown): void {
  const msr = msrNamed(key);
  if (out.some((o) => o.msr === msr)) throw new MachineConfigError(`${msr.name} is given twice`);
  out.push({ msr, value: configUnsigned(value, 64, msr.name) });
}

/** The launch attribute: an object of MSR name or number → value. */
export function parseMsrOverrides(raw: unknown): MsrOverride[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new MachineConfigError(`expected an object of MSR name or number → value, like { "IA32_TSC_AUX": "0x5" }, not ${JSON.stringify(raw)}`);
  }
  const out: MsrOverride[] = [];
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) add(out, key, value);
  return out;
}

/** The command-line form: NAME=VALUE,… (NAME an MSR name or number). */
export function parseMsrOption(text: string): MsrOverride[] {
  const out: MsrOverride[] = [];
  for (const item of text.split(',').map((w) => w.trim()).filter((w) => w !== '')) {
    const eq = item.indexOf('=');
    if (eq < 0) throw new MachineConfigError(`${JSON.stringify(item)} is not NAME=VALUE (e.g. IA32_TSC_AUX=0x5)`);
    add(out, item.slice(0, eq), item.slice(eq + 1).trim());
  }
  return out;
}

/** Writes the values into the guest as it stands before its first instruction; the first refusal throws. */
export function applyMsrOverrides(machine: Machine, overrides: readonly MsrOverride[]): void {
  const editor = new GuestEditor(machine, new GuestView(machine));
  for (const { msr, value } of overrides) {
    try {
      editor.setMsr(msr, value);
    } catch (e) {
      // the editor's words name the MSR already
      if (e instanceof GuestViewError) throw new MachineConfigError(e.message);
      throw e;
    }
  }
}
