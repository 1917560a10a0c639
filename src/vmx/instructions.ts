// The parts of the VMX instructions that need no CPU: how an instruction's outcome is read
// from RFLAGS and written to it (SDM Vol. 3, 31.2 "Conventions"), and the INVEPT / INVVPID
// descriptors (SDM Vol. 3, 31.3, "INVEPT" and "INVVPID"). The instruction wrappers (vmxon,
// vmread …) belong with the emulated CPU.
import { VmxInstructionError } from './definitions';

/** The three outcomes of a VMX instruction (SDM 31.2). */
export enum VmxStatus {
  Succeed = 'VMsucceed',
  FailInvalid = 'VMfailInvalid',
  FailValid = 'VMfailValid',
}

export type VmxStatusResult =
  | { readonly status: VmxStatus.Succeed }
  | { readonly status: VmxStatus.FailInvalid }
  | { readonly status: VmxStatus.FailValid; readonly error: VmxInstructionError };

const CF = 1n << 0n;
const PF = 1n << 2n;
const AF = 1n << 4n;
const ZF = 1n << 6n;
const SF = 1n << 7n;
const OF = 1n << 11n;
/** The six arithmetic flags the VMX conventions write. */
const STATUS_FLAGS = CF | PF | AF | ZF | SF | OF;
const MASK64 = (1n << 64n) - 1n;

function toRflags(rflags: bigint | number): bigint {
  if (typeof rflags === 'number' && !Number.isSafeInteger(rflags)) {
    throw new RangeError(`RFLAGS ${rflags} is not an exact integer; pass a bigint`);
  }
  const v = BigInt(rflags);
  if (v < 0n || v > MASK64) throw new RangeError(`RFLAGS ${rflags} does not fit in 64 bits`);
  return v;
}

const SUCCEED: VmxStatusResult = Object.freeze({ status: VmxStatus.Succeed });
const FAIL_INVALID: VmxStatusResult = Object.freeze({ status: VmxStatus.FailInvalid });

/**
 * Reads a VMX instruction's outcome from RFLAGS after it ran: CF=1 → VMfailInvalid, else
 * ZF=1 → VMfailValid with the error number `readInstructionError` returns (the
 * VM_INSTRUCTION_ERROR field, encoding 0x4400), else VMsucceed.
 *
 * CF and ZF both set is never produced by the conventions; it is read as VMfailInvalid,
 * because CF is what says there is no current VMCS, and with none the error field cannot be
 * read. The callback is only called for VMfailValid.
 */
export function vmxStatusFromRflags(rflags: bigint | number, readInstructionError: () => number): VmxStatusResult {
  if (typeof rflags === 'number' && rflags >= 0 && rflags <= 0xffffffff && Number.isInteger(rflags)) {
    // the common case, without BigInt: RFLAGS bits 63:32 are reserved (zero) anyway
    if ((rflags & 1) !== 0) return FAIL_INVALID;
    if ((rflags & 0x40) !== 0) return { status: VmxStatus.FailValid, error: new VmxInstructionError(readInstructionError()) };
    return SUCCEED;
  }
  const f = toRflags(rflags);
  if ((f & CF) !== 0n) return { status: VmxStatus.FailInvalid };
  if ((f & ZF) !== 0n) return { status: VmxStatus.FailValid, error: new VmxInstructionError(readInstructionError()) };
  return { status: VmxStatus.Succeed };
}

/** A VMX instruction that failed: `kind` 'invalid' (no current VMCS) or 'valid' (with `error`). */
export class VmxFail extends Error {
  readonly kind: 'invalid' | 'valid';
  /** The VM-instruction error for VMfailValid; undefined for VMfailInvalid. */
  readonly error: VmxInstructionError | undefined;
  /** The failing instruction's mnemonic, when the caller named it. */
  readonly instruction: string | undefined;

  constructor(kind: 'invalid' | 'valid', error?: VmxInstructionError, instruction?: string) {
    const what = instruction === undefined ? '' : `${instruction}: `;
    super(kind === 'invalid'
      ? `${what}VMfailInvalid (no current VMCS, or VMX operation not possible)`
      : `${what}VMfailValid: ${error === undefined ? 'no error number' : error.toString()}`);
    this.name = 'VmxFail';
    this.kind = kind;
    this.error = error;
    this.instruction = instruction;
  }
}

/** vmxStatusFromRflags, throwing VmxFail for either failure; returns on VMsucceed. */
export function checkVmxStatus(rflags: bigint | number, readInstructionError: () => number, instruction?: string): void {
  const result = vmxStatusFromRflags(rflags, readInstructionError);
  if (result.status === VmxStatus.FailInvalid) throw new VmxFail('invalid', undefined, instruction);
  if (result.status === VmxStatus.FailValid) throw new VmxFail('valid', result.error, instruction);
}

/** RFLAGS after VMsucceed: CF, PF, AF, ZF, SF and OF cleared, every other bit kept. */
export function rflagsForVmSucceed(rflags: bigint): bigint {
  return toRflags(rflags) & ~STATUS_FLAGS;
}

/** RFLAGS after VMfailInvalid: CF set; PF, AF, ZF, SF and OF cleared. */
export function rflagsForVmFailInvalid(rflags: bigint): bigint {
  return (toRflags(rflags) & ~STATUS_FLAGS) | CF;
}

/** RFLAGS after VMfailValid: ZF set; CF, PF, AF, SF and OF cleared. */
export function rflagsForVmFailValid(rflags: bigint): bigint {
  return (toRflags(rflags) & ~STATUS_FLAGS) | ZF;
}

// ---------------------------------------------------------------------------------------------
// INVEPT and INVVPID descriptors: 128 bits, little-endian, in memory.

/** INVEPT types (register operand). */
export enum InveptType {
  SingleContext = 1,
  Global = 2,
}

/** INVVPID types (register operand). */
export enum InvvpidType {
  IndividualAddress = 0,
  SingleContext = 1,
  AllContext = 2,
  SingleContextRetainingGlobals = 3,
}

/** Size of both descriptors in bytes. */
export const DESCRIPTOR_SIZE = 16;

function toU64(value: bigint, what: string): bigint {
  if (value < 0n || value > MASK64) throw new RangeError(`${what} ${value} does not fit in 64 bits`);
  return value;
}

function viewOf(bytes: Uint8Array, what: string): DataView {
  if (bytes.length !== DESCRIPTOR_SIZE) {
    throw new RangeError(`an ${what} descriptor is ${DESCRIPTOR_SIZE} bytes, got ${bytes.length}`);
  }
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The INVEPT descriptor: EPTP in bytes 0-7, bytes 8-15 reserved (zero). */
export function inveptDescriptor(eptp: bigint): Uint8Array {
  const bytes = new Uint8Array(DESCRIPTOR_SIZE);
  new DataView(bytes.buffer).setBigUint64(0, toU64(eptp, 'EPTP'), true);
  return bytes;
}

export interface InveptDescriptor {
  readonly eptp: bigint;
  /** Bits 127:64, which must be zero. */
  readonly reserved: bigint;
  readonly reservedBitsSet: boolean;
}

/** Reads a 16-byte INVEPT descriptor (a view into a larger buffer works). */
export function parseInveptDescriptor(bytes: Uint8Array): InveptDescriptor {
  const view = viewOf(bytes, 'INVEPT');
  const reserved = view.getBigUint64(8, true);
  return { eptp: view.getBigUint64(0, true), reserved, reservedBitsSet: reserved !== 0n };
}

/** The INVVPID descriptor: VPID in bits 15:0, bits 63:16 reserved (zero), linear address in bytes 8-15. */
export function invvpidDescriptor(vpid: number, linearAddress = 0n): Uint8Array {
  if (!Number.isInteger(vpid) || vpid < 0 || vpid > 0xffff) throw new RangeError(`VPID ${vpid} is outside 0-0xffff`);
  const bytes = new Uint8Array(DESCRIPTOR_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, vpid, true);
  view.setBigUint64(8, toU64(linearAddress, 'linear address'), true);
  return bytes;
}

export interface InvvpidDescriptor {
  readonly vpid: number;
  /** Bits 63:16, shifted down; must be zero. */
  readonly reserved: bigint;
  readonly reservedBitsSet: boolean;
  readonly linearAddress: bigint;
}

/** Reads a 16-byte INVVPID descriptor (a view into a larger buffer works). */
export function parseInvvpidDescriptor(bytes: Uint8Array): InvvpidDescriptor {
  const view = viewOf(bytes, 'INVVPID');
  const low = view.getBigUint64(0, true);
  const reserved = low >> 16n;
  return {
    vpid: Number(low & 0xffffn),
    reserved,
    reservedBitsSet: reserved !== 0n,
    linearAddress: view.getBigUint64(8, true),
  };
}
