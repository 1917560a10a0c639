// The `cpuid` launch attribute and `--cpuid` option: what the guest's CPUID returns, changed.
//
//   { "0x1":   { "ecx": { "clear": "0x800000" } },      clear bits (here POPCNT, bit 23)
//     "0x7.0": { "ebx": 0 },                             an exact value (leaf 7, subleaf 0)
//     "0x40000000": { "eax": "0x40000001", "ebx": { "set": 1 } } }
//
// Keys are leaves, hex ("0x…") or decimal, with ".SUBLEAF" for the leaves whose ECX selects a
// subleaf (4, 7, 0xB, 0xD, …; required there, refused elsewhere). A register's value is exact
// (a number or "0x…" string) or { "set": BITS, "clear": BITS }: clear first, then set.
// On the command line: LEAF=REG:VALUE (exact), LEAF=REG:+BITS (set), LEAF=REG:-BITS (clear),
// comma-separated and applied in order.
//
// The processor's model (root-mode CPUID, and the checks made against it: XSETBV's allowed XCR0
// states, MONITOR's #UD) and the vCPU's answer to CPUID exits both take the overrides, the
// vCPU's last, so the guest sees exactly what was asked.
// A feature bit set here is reported, not implemented: executing the feature's instructions
// still raises #UD where the emulator lacks them. One bit is refused: CPUID.1:ECX.VMX[5], since
// this VMM offers no nested VMX (its guests' VMX instructions raise #UD, as on a CPU without
// VMX: SDM Vol. 3C, "Discovering Support for VMX"); clearing it changes nothing, the vCPU
// already hides it.

import { composeEdits, cpuidKey, CpuidOverride, CpuidOverrides, CpuidRegisterEdit } from '../hardware/cpuid-overrides';
import { hasSubleaves } from '../hardware/cpuid';
import { configUnsigned, MachineConfigError } from './config-error';

export const CPUID_REGISTERS = ['eax', 'ebx', 'ecx', 'edx'] as const;
/** CPUID.1:ECX bit 5: VMX (SDM Vol. 2A, Table 3-10). */
const CPUID1_ECX_VMX = 1 << 5;

const NUMBER = '(0x[0-9a-f]+|[0-9]+)';
const LEAF_TEXT = new RegExp(`^${NUMBER}(?:\\.${NUMBER})?$`, 'i');

type Edits = [CpuidRegisterEdit | undefined, CpuidRegisterEdit | undefined, CpuidRegisterEdit | undefined, CpuidRegisterEdit | undefined];

const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;

/** "0x7.0" → leaf 7, subleaf 0, checked against which leaves have subleaves. */
function parseLeaf(text: string): { leaf: number; subleaf: number; name: string } {
  const m = LEAF_TEXT.exec(text.trim());
  if (m === null) throw new MachineConfigError(`leaf ${JSON.stringify(text)} is not a leaf number (write "0x1", or "0x7.0" for a leaf with a subleaf)`);
  const leaf = Number(configUnsigned(m[1], 32, `leaf ${JSON.stringify(text)}`));
  if (hasSubleaves(leaf) && m[2] === undefined) throw new MachineConfigError(`leaf ${hex(leaf)} has subleaves (ECX selects one): write "${hex(leaf)}.0" for subleaf 0`);
  if (!hasSubleaves(leaf) && m[2] !== undefined) throw new MachineConfigError(`leaf ${hex(leaf)} has no subleaves: write "${hex(leaf)}" without ".${m[2]}"`);
  const subleaf = m[2] === undefined ? 0 : Number(configUnsigned(m[2], 32, `subleaf of ${JSON.stringify(text)}`));
  return { leaf, subleaf, name: m[2] === undefined ? hex(leaf) : `${hex(leaf)}.${hex(subleaf)}` };
}

function registerIndex(name: string, leafName: string): number {
  const k = (CPUID_REGISTERS as readonly string[]).indexOf(name);
  if (k < 0) throw new MachineConfigError(`leaf ${leafName}: ${JSON.stringify(name)} is not a register (eax, ebx, ecx or edx)`);
  return k;
}

/** A register's value in the attribute: exact, or { set, clear }. */
function registerEdit(value: unknown, what: string): CpuidRegisterEdit {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    const extra = Object.keys(o).filter((k) => k !== 'set' && k !== 'clear');
    if (extra.length > 0) throw new MachineConfigError(`${what}: ${JSON.stringify(extra[0])} is not "set" or "clear"`);
    if (o.set === undefined && o.clear === undefined) throw new MachineConfigError(`${what}: give "set" or "clear" bits (or an exact value)`);
    const set = o.set === undefined ? 0 : Number(configUnsigned(o.set, 32, `${what} "set"`));
    const clear = o.clear === undefined ? 0 : Number(configUnsigned(o.clear, 32, `${what} "clear"`));
    if ((set & clear) !== 0) throw new MachineConfigError(`${what}: "set" and "clear" both name bits ${hex(set & clear)}`);
    return { and: ~clear >>> 0, or: set >>> 0 };
  }
  return { and: 0, or: Number(configUnsigned(value, 32, what)) };
}

function finish(edits: Map<string, { leaf: number; subleaf: number; regs: Edits }>): CpuidOverrides {
  const out = new Map<string, CpuidOverride>();
  for (const [key, e] of edits) {
    const ecx = e.regs[2];
    if (e.leaf === 1 && ecx !== undefined && (ecx.or & CPUID1_ECX_VMX) !== 0) {
      throw new MachineConfigError('leaf 0x1 ecx sets bit 5 (VMX): this VMM offers its guests no nested VMX (their VMX instructions raise #UD), so CPUID cannot report it');
    }
    out.set(key, { leaf: e.leaf, subleaf: e.subleaf, regs: e.regs });
  }
  return out;
}

/** The launch attribute: an object keyed by leaf (see the top of this file). */
export function parseCpuidOverrides(raw: unknown): CpuidOverrides {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new MachineConfigError(`expected an object keyed by leaf, like { "0x1": { "ecx": "0x80000000" } }, not ${JSON.stringify(raw)}`);
  }
  const edits = new Map<string, { leaf: number; subleaf: number; regs: Edits }>();
  for (const [leafText, regs] of Object.entries(raw as Record<string, unknown>)) {
    const { leaf, subleaf, name } = parseLeaf(leafText);
    const key = cpuidKey(leaf, subleaf);
    if (edits.has(key)) throw new MachineConfigError(`leaf ${name} is given twice`);
    if (typeof regs !== 'object' || regs === null || Array.isArray(regs)) {
      throw new MachineConfigError(`leaf ${name}: expected an object of registers, like { "ecx": "0x80000000" }, not ${JSON.stringify(regs)}`);
    }
    const entry: Edits = [undefined, undefined, undefined, undefined];
    for (const [reg, value] of Object.entries(regs as Record<string, unknown>)) {
      entry[registerIndex(reg, name)] = registerEdit(value, `leaf ${name} ${reg}`);
    }
    edits.set(key, { leaf, subleaf, regs: entry });
  }
  return finish(edits);
}

/** The command-line form: LEAF=REG:VALUE, LEAF=REG:+BITS, LEAF=REG:-BITS, comma-separated. */
export function parseCpuidOption(text: string): CpuidOverrides {
  const edits = new Map<string, { leaf: number; subleaf: number; regs: Edits }>();
  for (const item of text.split(',').map((w) => w.trim()).filter((w) => w !== '')) {
    const m = /^([^=]+)=([a-z]+):([+-]?)(.*)$/i.exec(item);
    if (m === null) throw new MachineConfigError(`${JSON.stringify(item)} is not LEAF=REG:VALUE (e.g. 0x1=ecx:0x80000000, 0x7.0=ebx:-0x80000, 0x1=ecx:+0x8)`);
    const { leaf, subleaf, name } = parseLeaf(m[1]);
    const reg = registerIndex(m[2].toLowerCase(), name);
    const bits = Number(configUnsigned(m[4], 32, `${item}`));
    const edit: CpuidRegisterEdit = m[3] === '+' ? { and: 0xffffffff, or: bits } : m[3] === '-' ? { and: ~bits >>> 0, or: 0 } : { and: 0, or: bits };
    const key = cpuidKey(leaf, subleaf);
    const entry = edits.get(key) ?? { leaf, subleaf, regs: [undefined, undefined, undefined, undefined] as Edits };
    entry.regs[reg] = composeEdits(entry.regs[reg], edit);
    edits.set(key, entry);
  }
  return finish(edits);
}
