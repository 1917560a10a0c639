// Write watches on MSRs and VMCS fields (a debugger's data breakpoints on them): while armed,
// the MSR file's and the VMX unit's write hooks report writes to watched ones, and the run
// ends after the writing instruction or the exit answer that wrote (Machine.requestPause).
//
// Which writes count (what a user means by "who changed it"):
// - an MSR: every write through the processor's WRMSR path — the guest's WRMSR (the MSR bitmaps
//   intercept nothing, so it runs without a VM exit), SWAPGS, and MSR-load lists (which this
//   VMM does not use; one would be reported as the VMM's); an MSR the VM
//   entry loads from the VMCS (IA32_EFER, PAT, SYSENTER, FS/GS base) is watched in its
//   guest-state field too, so the vCPU changing it there (EFER.LMA on a CR0 write) counts;
// - a VMCS field: every VMWRITE — by the vCPU or the VMM answering an exit (GUEST_RIP advanced
//   past the exiting instruction), or by x86 code in VMX root operation. The guest runs in
//   non-root operation, where VMWRITE exits and this VMM answers #UD, so it never writes one.
//   The processor's own stores at VM exit (guest state saved, exit information) are not
//   writes: they happen at every exit; exit filters stop there.
// The debugger's own edits happen while the watch is disarmed and do not count.
// Unwatched, no hook is installed: WRMSR and VMWRITE cost what they did.

import { hex } from '../format';
import type { MsrInfo } from '../msr';
import { VMCS_FIELDS } from '../vmx/vmcs-fields';
import { slotOfEncoding } from '../hardware/vmx/vmcs';
import type { Machine } from './machine';

/** A watched MSR or VMCS field, as the debugger names it. */
export type WatchedState =
  | { kind: 'msr'; msr: MsrInfo; alsoField?: string }
  | { kind: 'vmcs'; field: string };

/** One write the watch saw. */
export interface StateWrite {
  /** The watched thing written: the MSR's or the field's name. */
  name: string;
  kind: 'msr' | 'vmcs';
  old: bigint;
  value: bigint;
  /** RIP of the guest instruction that wrote, when the guest (or x86 code) wrote. */
  rip?: bigint;
  /** Who: guest (or x86) code on the processor, or software outside it (the vCPU or VMM answering an exit). */
  by: 'instruction' | 'vmm';
  /** For an MSR written in its VMCS guest-state field: that field. */
  viaField?: string;
}

/** A name the watch does not know. */
export class StateWatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateWatchError';
  }
}

/** Writes kept per stop; more are counted, not kept (a guest writing in a tight loop). */
const MAX_WRITES = 16;

export class StateWatch {
  private msrs = new Map<number, string>();
  /** VMCS slot → the watched name and, for an MSR kept there, the field. */
  private slots = new Map<number, { name: string; kind: 'msr' | 'vmcs'; field?: string }>();
  private armed = false;
  /** Writes since the watch was armed. */
  readonly writes: StateWrite[] = [];

  constructor(private readonly machine: Machine) {}

  /** Replaces what is watched; nothing watched removes the hooks. */
  set(watched: readonly WatchedState[]): void {
    this.msrs = new Map();
    this.slots = new Map();
    for (const w of watched) {
      if (w.kind === 'msr') {
        this.msrs.set(w.msr.address, w.msr.name);
        if (w.alsoField !== undefined) this.slots.set(fieldSlot(w.alsoField), { name: w.msr.name, kind: 'msr', field: w.alsoField });
      } else {
        this.slots.set(fieldSlot(w.field), { name: w.field, kind: 'vmcs' });
      }
    }
    const m = this.machine;
    m.cpu.msrs.onWrite = this.msrs.size === 0 ? undefined : (address, old, value) => this.msrWritten(address, old, value);
    m.vmx.onFieldWrite = this.slots.size === 0 ? undefined : (slot, old, value) => this.fieldWritten(slot, old, value);
  }

  get watching(): boolean {
    return this.msrs.size > 0 || this.slots.size > 0;
  }

  /** Runs `work` (a run or a step of the machine) with the watch armed; writes seen are in `writes`. */
  armedFor<T>(work: () => T): T {
    this.writes.length = 0;
    this.armed = true;
    try {
      return work();
    } finally {
      this.armed = false;
    }
  }

  private msrWritten(address: number, old: bigint, value: bigint): void {
    const name = this.msrs.get(address);
    if (name === undefined || !this.armed) return;
    const byCode = this.machine.vcpu.running;
    this.record({ name, kind: 'msr', old, value, by: byCode ? 'instruction' : 'vmm', rip: byCode ? this.machine.cpu.rip : undefined });
  }

  private fieldWritten(slot: number, old: bigint, value: bigint): void {
    const w = this.slots.get(slot);
    if (w === undefined || !this.armed) return;
    const byCode = this.machine.vcpu.running;
    this.record({ name: w.name, kind: w.kind, old, value, by: byCode ? 'instruction' : 'vmm', rip: byCode ? this.machine.cpu.rip : undefined, viaField: w.field });
  }

  private record(w: StateWrite): void {
    if (this.writes.length < MAX_WRITES) this.writes.push(w);
    this.machine.requestPause();
  }
}

function fieldSlot(name: string): number {
  const f = VMCS_FIELDS.find((x) => x.name === name);
  const at = f === undefined ? undefined : slotOfEncoding(f.encoding);
  if (at === undefined) throw new StateWatchError(`no VMCS field named '${name}'`);
  return at.slot;
}

/**
 * One line for a write: `WRMSR IA32_EFER 0x500 → 0xd01 at rip 0x8123`,
 * `VMWRITE GUEST_RIP 0x8003 → 0x8005 by the VMM answering IO_INSTRUCTION (exit at rip 0x8003)`.
 */
export function describeStateWrite(w: StateWrite, answering?: { name: string; rip: bigint; by: string }, mnemonic?: string): string {
  // an MSR written by code: WRMSR, or SWAPGS (IA32_KERNEL_GSBASE), as decoded at its RIP
  const what = w.kind === 'msr' && w.viaField === undefined ? (w.by === 'instruction' && mnemonic !== undefined ? mnemonic.toUpperCase() : 'WRMSR') : 'VMWRITE';
  const target = w.viaField === undefined ? w.name : `${w.viaField} (${w.name})`;
  const change = `${hex(w.old)} → ${hex(w.value)}${w.old === w.value ? ' (unchanged)' : ''}`;
  if (w.by === 'instruction') return `${what} ${target} ${change} at rip ${hex(w.rip ?? 0n)}`;
  const who = answering === undefined ? 'by the VMM' : `by the ${answering.by === 'vcpu' ? 'vCPU' : 'VMM'} answering ${answering.name} (exit at rip ${hex(answering.rip)})`;
  return `${what} ${target} ${change} ${who}`;
}
