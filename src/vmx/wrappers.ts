// The VMX instruction wrappers, as x86_vcpu has them over inline assembly: each executes the
// instruction on the (emulated) processor and reads the outcome back from RFLAGS with the
// foundation's VMX status handling, throwing VmxFail for VMfailInvalid / VMfailValid. A #UD or
// #GP the instruction raises (VMXON without CR4.VMXE, CPL > 0 …) becomes a VmxFault.

import { CpuFault } from '../hardware/cpu';
import { getRflags } from '../hardware/flags';
import { Flag } from '../hardware/cpu-state';
import type { VmxUnit } from '../hardware/vmx/vmx-unit';
import type { EntryResult } from '../hardware/vmx/vm-entry';
import { VmcsField } from './vmcs-fields';
import { checkVmxStatus, InveptType, InvvpidType, VmxFail } from './instructions';

/** A VMX instruction raised an exception instead of completing (SDM 31.3, each instruction's "Protected Mode Exceptions"). */
export class VmxFault extends Error {
  constructor(readonly instruction: string, readonly vector: number, detail: string) {
    super(`${instruction}: ${vector === 6 ? '#UD' : vector === 13 ? '#GP(0)' : `exception ${vector}`} — ${detail}`);
    this.name = 'VmxFault';
  }
}

function execute<T>(unit: VmxUnit, name: string, op: () => T): T {
  let result: T;
  try {
    result = op();
  } catch (e) {
    if (e instanceof CpuFault) throw new VmxFault(name, e.vector, e.detail);
    throw e;
  }
  checkVmxStatus(getRflags(unit.cpu), () => instructionError(unit), name);
  return result;
}

/** VM_INSTRUCTION_ERROR by VMREAD, as software reads it after VMfailValid (SDM 31.4). */
function instructionError(unit: VmxUnit): number {
  return Number(unit.vmread(VmcsField.VM_INSTRUCTION_ERROR.encoding) ?? 0n);
}

export function vmxon(unit: VmxUnit, region: number): void {
  execute(unit, 'VMXON', () => unit.vmxon(region));
}

export function vmxoff(unit: VmxUnit): void {
  execute(unit, 'VMXOFF', () => unit.vmxoff());
}

export function vmclear(unit: VmxUnit, region: number): void {
  execute(unit, 'VMCLEAR', () => unit.vmclear(region));
}

export function vmptrld(unit: VmxUnit, region: number): void {
  execute(unit, 'VMPTRLD', () => unit.vmptrld(region));
}

/** The current-VMCS pointer; -1 when there is none. */
export function vmptrst(unit: VmxUnit): number {
  return execute(unit, 'VMPTRST', () => unit.vmptrst());
}

export function vmread(unit: VmxUnit, encoding: number): bigint {
  return execute(unit, 'VMREAD', () => unit.vmread(encoding)) ?? 0n;
}

export function vmwrite(unit: VmxUnit, encoding: number, value: bigint): void {
  execute(unit, 'VMWRITE', () => unit.vmwrite(encoding, value));
}

/**
 * VMREAD into two 32-bit words (`out[0]` low, `out[1]` high), with the same status handling:
 * the exit path reads a handful of fields per exit, and BigInts there cost more than the exit.
 */
export function vmreadWords(unit: VmxUnit, encoding: number, out: Int32Array): void {
  try {
    unit.vmreadWords(encoding, out);
  } catch (e) {
    if (e instanceof CpuFault) throw new VmxFault('VMREAD', e.vector, e.detail);
    throw e;
  }
  statusOf(unit, 'VMREAD');
}

/** VMREADs of several fields in a row into word pairs of `out` (field k at 2k, 2k + 1), with the same status handling. */
export function vmreadWordsMany(unit: VmxUnit, encodings: readonly number[], out: Int32Array): void {
  try {
    unit.vmreadWordsMany(encodings, out);
  } catch (e) {
    if (e instanceof CpuFault) throw new VmxFault('VMREAD', e.vector, e.detail);
    throw e;
  }
  statusOf(unit, 'VMREAD');
}

/** VMWRITE of the 64-bit value hi:lo, with the same status handling as vmwrite. */
export function vmwriteWords(unit: VmxUnit, encoding: number, lo: number, hi: number): void {
  try {
    unit.vmwriteWords(encoding, lo, hi);
  } catch (e) {
    if (e instanceof CpuFault) throw new VmxFault('VMWRITE', e.vector, e.detail);
    throw e;
  }
  statusOf(unit, 'VMWRITE');
}

/** The VMX status in RFLAGS, without a closure when it is VMsucceed (CF = ZF = 0). */
function statusOf(unit: VmxUnit, name: string): void {
  const rflags = getRflags(unit.cpu);
  if ((rflags & (Flag.CF | Flag.ZF)) !== 0) checkVmxStatus(rflags, () => instructionError(unit), name);
}

/**
 * VMLAUNCH/VMRESUME. Returns 'entered' (the guest now runs on the CPU) or the VM-entry failure
 * exit (reason 33/34 with the rule that failed); throws VmxFail for VMfailInvalid/VMfailValid.
 */
export function vmlaunch(unit: VmxUnit): EntryResult {
  return enter(unit, true);
}

export function vmresume(unit: VmxUnit): EntryResult {
  return enter(unit, false);
}

function enter(unit: VmxUnit, launch: boolean): EntryResult {
  const name = launch ? 'VMLAUNCH' : 'VMRESUME';
  let r: EntryResult;
  try {
    r = launch ? unit.vmlaunch() : unit.vmresume();
  } catch (e) {
    if (e instanceof CpuFault) throw new VmxFault(name, e.vector, e.detail);
    throw e;
  }
  if (r.kind === 'vmfail') {
    try {
      checkVmxStatus(getRflags(unit.cpu), () => instructionError(unit), name);
    } catch (fail) {
      if (fail instanceof VmxFail) throw new VmxEntryFail(fail, r.detail);
      throw fail;
    }
  }
  return r;
}

/** VMLAUNCH/VMRESUME refused with VMfailValid/VMfailInvalid, with the rule that failed. */
export class VmxEntryFail extends VmxFail {
  constructor(fail: VmxFail, readonly detail: string) {
    super(fail.kind, fail.error, fail.instruction);
    this.message = `${fail.message}: ${detail}`;
  }
}

export function invept(unit: VmxUnit, type: InveptType, eptp: bigint): void {
  execute(unit, 'INVEPT', () => unit.invept(type, eptp));
}

export function invvpid(unit: VmxUnit, type: InvvpidType, vpid: number, linear = 0n): void {
  execute(unit, 'INVVPID', () => unit.invvpid(type, vpid, linear));
}

