// The exit information as VmxVcpu reads it from the VMCS at each exit (SDM 28.2.1). The 64-bit
// fields are kept as the 32-bit words VMREAD gave and become BigInts only when asked for: most
// exits are answered from the reason, the low qualification bits and the instruction length.

import { exitReasonByNumber } from './definitions';
import { Vmcs } from './vmcs';

/** The exit as the VMCS reports it (SDM 28.2), for every exit, handled or not. */
export interface VmxExitInfo {
  reason: number;
  name: string;
  entryFailure: boolean;
  qualification: bigint;
  /** Bits 31:0 of the qualification as a number (every qualification bit that I/O, CR and EPT exits define). */
  qualificationLow: number;
  instructionLength: number;
  guestRip: bigint;
  guestPhysical: bigint;
  guestLinear: bigint;
  interruptionInfo: number;
}

/** The fields every exit reads, looked up once, in the order of their word pairs in `w`. */
const EXIT_FIELDS = Vmcs.fieldList(['VM_EXIT_REASON', 'EXIT_QUALIFICATION', 'VM_EXIT_INSTRUCTION_LEN', 'GUEST_RIP',
  'GUEST_PHYSICAL_ADDRESS', 'GUEST_LINEAR_ADDRESS', 'VM_EXIT_INTR_INFO']);
const REASON = 0, QUALIFICATION = 2, LENGTH = 4, RIP = 6, GPA = 8, LINEAR = 10, INTR_INFO = 12;
/** Words for every field of EXIT_FIELDS. */
export const EXIT_RECORD_WORDS = 2 * EXIT_FIELDS.encodings.length;

/** Exit-reason names by basic reason (0-FFFFH), looked up once each. */
const NAMES: string[] = [];

function wordsToBig(lo: number, hi: number): bigint {
  return hi === 0 ? BigInt(lo >>> 0) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export class ExitRecord implements VmxExitInfo {
  readonly reason: number;
  readonly name: string;
  readonly entryFailure: boolean;
  readonly qualificationLow: number;
  readonly instructionLength: number;
  readonly interruptionInfo: number;
  private readonly qualificationHigh: number;
  private readonly ripLo: number;
  private readonly ripHi: number;
  private readonly gpaLo: number;
  private readonly gpaHi: number;
  private readonly linearLo: number;
  private readonly linearHi: number;

  /** Reads the exit-information fields and guest RIP through VMREAD; `w` is EXIT_RECORD_WORDS words of scratch. */
  constructor(v: Vmcs, w: Int32Array) {
    v.readWordsMany(EXIT_FIELDS, w);
    const raw = w[REASON];
    const reason = raw & 0xffff;
    this.reason = reason;
    this.name = NAMES[reason] ??= exitReasonByNumber(reason)?.name ?? `UNKNOWN(${reason})`;
    this.entryFailure = (raw & 0x80000000) !== 0;
    this.qualificationLow = w[QUALIFICATION] >>> 0; this.qualificationHigh = w[QUALIFICATION + 1];
    this.instructionLength = w[LENGTH] >>> 0;
    this.ripLo = w[RIP]; this.ripHi = w[RIP + 1];
    this.gpaLo = w[GPA]; this.gpaHi = w[GPA + 1];
    this.linearLo = w[LINEAR]; this.linearHi = w[LINEAR + 1];
    this.interruptionInfo = w[INTR_INFO] >>> 0;
  }

  get qualification(): bigint { return wordsToBig(this.qualificationLow, this.qualificationHigh); }
  get guestRip(): bigint { return wordsToBig(this.ripLo, this.ripHi); }
  get guestPhysical(): bigint { return wordsToBig(this.gpaLo, this.gpaHi); }
  get guestLinear(): bigint { return wordsToBig(this.linearLo, this.linearHi); }
}
