// VMCS access by field name through VMREAD/VMWRITE, and control fields set by the
// allowed-0/allowed-1 rule against the (TRUE_) capability MSRs (SDM Vol. 3D, A.2-A.5): asking
// for a control the processor cannot provide is an error that names the bit.

import type { VmxUnit } from '../hardware/vmx/vmx-unit';
import { Msr } from '../msr';
import { adjustControls, CONTROL_SETS, splitCapabilityMsr } from './controls';
import { vmcsFieldByName, VmcsFieldInfo } from './vmcs-fields';
import { vmread, vmreadWords, vmreadWordsMany, vmwrite, vmwriteWords } from './wrappers';

/** An unknown VMCS field name. */
export class VmcsFieldError extends Error {
  constructor(name: string) {
    super(`no VMCS field named '${name}' (see \`vmx-debug tables vmcs\`)`);
    this.name = 'VmcsFieldError';
  }
}

/** Names as callers spell them, resolved once (a VMM asks for the same few fields on every exit). */
const BY_EXACT_NAME = new Map<string, VmcsFieldInfo>();

/** Fields read together by one readWordsMany (made by Vmcs.fieldList). */
export interface VmcsFieldList {
  readonly encodings: readonly number[];
}

function fieldOf(field: string | VmcsFieldInfo): VmcsFieldInfo {
  return typeof field === 'string' ? Vmcs.field(field) : field;
}

export class Vmcs {
  /** Scratch for readNumber. */
  private readonly words = new Int32Array(2);

  constructor(private readonly unit: VmxUnit) {}

  static field(name: string): VmcsFieldInfo {
    let f = BY_EXACT_NAME.get(name);
    if (f === undefined) {
      f = vmcsFieldByName(name);
      if (f === undefined) throw new VmcsFieldError(name);
      BY_EXACT_NAME.set(name, f);
    }
    return f;
  }

  read(name: string): bigint {
    return vmread(this.unit, Vmcs.field(name).encoding);
  }

  write(name: string, value: bigint | number): void {
    if (typeof value === 'number' && (!Number.isSafeInteger(value) || value < 0)) {
      throw new RangeError(`VMCS ${name}: ${value} is not a non-negative integer (use >>> 0 or a bigint)`);
    }
    vmwrite(this.unit, Vmcs.field(name).encoding, BigInt.asUintN(64, BigInt(value)));
  }

  // The word and number accessors take a field's name, or its VmcsFieldInfo (looked up once by the caller).

  /** Reads a field into two 32-bit words (`out[0]` low, `out[1]` high), without a BigInt. */
  readWords(field: string | VmcsFieldInfo, out: Int32Array): void {
    vmreadWords(this.unit, fieldOf(field).encoding, out);
  }

  /** A list of fields for readWordsMany, resolved once. */
  static fieldList(names: readonly string[]): VmcsFieldList {
    return { encodings: names.map((n) => Vmcs.field(n).encoding) };
  }

  /** Reads several fields into word pairs of `out` (field k at 2k, 2k + 1), as that many readWords. */
  readWordsMany(list: VmcsFieldList, out: Int32Array): void {
    vmreadWordsMany(this.unit, list.encodings, out);
  }

  /** Reads a field no wider than 53 bits (the 16- and 32-bit fields, lengths, addresses below 2^53) as a number. */
  readNumber(field: string | VmcsFieldInfo): number {
    const w = this.words, f = fieldOf(field);
    vmreadWords(this.unit, f.encoding, w);
    const hi = w[1] >>> 0;
    if (hi >= 0x200000) throw new RangeError(`VMCS ${f.name}: 0x${hi.toString(16)}${(w[0] >>> 0).toString(16).padStart(8, '0')} does not fit a number exactly; use read()`);
    return hi * 4294967296 + (w[0] >>> 0);
  }

  /** Writes a field from two 32-bit words (low, high), without a BigInt. */
  writeWords(field: string | VmcsFieldInfo, lo: number, hi: number): void {
    vmwriteWords(this.unit, fieldOf(field).encoding, lo | 0, hi | 0);
  }

  /** Writes a non-negative integer below 2^53. */
  writeNumber(field: string | VmcsFieldInfo, value: number): void {
    const f = fieldOf(field);
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`VMCS ${f.name}: ${value} is not a non-negative integer (use >>> 0 or a bigint)`);
    }
    vmwriteWords(this.unit, f.encoding, value % 4294967296 | 0, Math.floor(value / 4294967296) | 0);
  }

  /**
   * Writes a control field: `set` names the controls wanted on, `clear` those that must be off;
   * the processor's required-1 controls are added (IA32_VMX_TRUE_* when IA32_VMX_BASIC[55]).
   */
  setControls(field: 'PIN_BASED_VM_EXEC_CONTROL' | 'CPU_BASED_VM_EXEC_CONTROL' | 'SECONDARY_VM_EXEC_CONTROL' | 'VM_EXIT_CONTROLS' | 'VM_ENTRY_CONTROLS',
    set: number, clear = 0): number {
    const cs = CONTROL_SETS.find((s) => s.vmcsField === field);
    if (cs === undefined) throw new VmcsFieldError(field);
    const msrs = this.unit.cpu.msrs;
    const basic = msrs.rdmsr(Msr.IA32_VMX_BASIC.address);
    const useTrue = (basic & (1n << 55n)) !== 0n && cs.trueCapabilityMsr !== undefined;
    const msrName = useTrue ? cs.trueCapabilityMsr as string : cs.capabilityMsr;
    const info = Object.values(Msr).find((m) => m.name === msrName);
    if (info === undefined) throw new Error(`capability MSR ${msrName} is not in the MSR table`);
    const { allowed0, allowed1 } = splitCapabilityMsr(msrs.rdmsr(info.address));
    const value = adjustControls(set, allowed0, allowed1, cs.bits, { mustClear: clear, msrName });
    this.write(field, value);
    return value;
  }
}
