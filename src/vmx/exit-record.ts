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

/** The fields every exit reads, looked up once. */
const REASON = Vmcs.field('VM_EXIT_REASON'), QUALIFICATION = Vmcs.field('EXIT_QUALIFICATION'),
  LENGTH = Vmcs.field('VM_EXIT_INSTRUCTION_LEN'), RIP = Vmcs.field('GUEST_RIP'), GPA = Vmcs.field('GUEST_PHYSICAL_ADDRESS'),
  LINEAR = Vmcs.field('GUEST_LINEAR_ADDRESS'), INTR_INFO = Vmcs.field('VM_EXIT_INTR_INFO');

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

  /** Reads the exit-information fields and guest RIP through VMREAD; `w` is two words of scratch. */
  constructor(v: Vmcs, w: Int32Array) {
    const raw = v.readNumber(REASON);
    const reason = raw & 0xffff;
    this.reason = reason;
    this.name = exitReasonByNumber(reason)?.name ?? `UNKNOWN(${reason})`;
    this.entryFailure = (raw & 0x80000000) !== 0;
    v.readWords(QUALIFICATION, w);
    this.qualificationLow = w[0] >>> 0; this.qualificationHigh = w[1];
    this.instructionLength = v.readNumber(LENGTH);
    v.readWords(RIP, w);
    this.ripLo = w[0]; this.ripHi = w[1];
    v.readWords(GPA, w);
    this.gpaLo = w[0]; this.gpaHi = w[1];
    v.readWords(LINEAR, w);
    this.linearLo = w[0]; this.linearHi = w[1];
    this.interruptionInfo = v.readNumber(INTR_INFO);
  }

  get qualification(): bigint { return wordsToBig(this.qualificationLow, this.qualificationHigh); }
  get guestRip(): bigint { return wordsToBig(this.ripLo, this.ripHi); }
  get guestPhysical(): bigint { return wordsToBig(this.gpaLo, this.gpaHi); }
  get guestLinear(): bigint { return wordsToBig(this.linearLo, this.linearHi); }
}
