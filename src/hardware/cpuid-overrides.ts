// Changes to what CPUID reports, as a launch configuration asks for them: per leaf (and subleaf)
// and register an AND mask, then an OR mask. An exact value is AND 0, OR value; clearing or
// setting feature bits is AND ~clear, OR set. One shape serves the processor model (root-mode
// CPUID, and what the hardware consults CPUID for) and a VMM's answer to CPUID exits.

import { CpuidTable, cpuidLookup, hasSubleaves } from './cpuid';

/** One register's change: result = (value & and) | or, all as uint32. */
export interface CpuidRegisterEdit {
  readonly and: number;
  readonly or: number;
}

/** The changes to one leaf/subleaf; undefined registers are left as they are. */
export interface CpuidOverride {
  readonly leaf: number;
  /** 0 for leaves without subleaves (ECX is ignored for them). */
  readonly subleaf: number;
  /** EAX, EBX, ECX, EDX. */
  readonly regs: readonly [CpuidRegisterEdit | undefined, CpuidRegisterEdit | undefined, CpuidRegisterEdit | undefined, CpuidRegisterEdit | undefined];
}

/** Overrides keyed as CpuidTable keys its entries ("1:0", "7:0", "40000000:0"). */
export type CpuidOverrides = ReadonlyMap<string, CpuidOverride>;

/** The key of a leaf and subleaf; the subleaf counts only for leaves that have subleaves. */
export function cpuidKey(leaf: number, subleaf: number): string {
  const l = leaf >>> 0;
  return `${l.toString(16)}:${(hasSubleaves(l) ? subleaf >>> 0 : 0).toString(16)}`;
}

/** Applies an edit to one register value (uint32 result). */
export function editRegister(value: number, edit: CpuidRegisterEdit | undefined): number {
  return edit === undefined ? value >>> 0 : ((value & edit.and) | edit.or) >>> 0;
}

/** Two edits one after the other, as one edit. */
export function composeEdits(first: CpuidRegisterEdit | undefined, then: CpuidRegisterEdit): CpuidRegisterEdit {
  if (first === undefined) return then;
  return { and: (first.and & then.and) >>> 0, or: ((first.or & then.and) | then.or) >>> 0 };
}

/**
 * A processor model with the overrides applied: each overridden leaf becomes an entry holding
 * what CPUID returned for it, edited. (Editing twice gives the same values: AND/OR edits are
 * idempotent, so a VMM may edit its answers again.)
 */
export function withCpuidOverrides(table: CpuidTable, overrides: CpuidOverrides): CpuidTable {
  const out: CpuidTable = new Map(table);
  for (const [key, o] of overrides) {
    const base = cpuidLookup(table, o.leaf, o.subleaf);
    out.set(key, [0, 1, 2, 3].map((r) => editRegister(base[r], o.regs[r])) as [number, number, number, number]);
  }
  return out;
}
