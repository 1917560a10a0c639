// One VM exit as a JSON-lines record: the shape `vmx-debug run --json` prints and the
// extension's exit-log export writes. Made in one place so the two cannot drift; 64-bit values
// stay bigints here and become "0x…" strings in toJsonLine (output.ts).
import type { JsonRecord } from './output';
import { describeExitQualification } from '../vmx/exit-qualification';
import type { VmxExitInfo } from '../vmx/exit-record';

/** What a record needs of an exit. */
export type ExitFacts = Pick<VmxExitInfo, 'reason' | 'name' | 'guestRip' | 'qualification' | 'interruptionInfo' | 'guestLinear' | 'instructionLength'>;

/**
 * Where the exit falls in a session: its 1-based number among the session's exits, and the
 * processor's instruction count then (guest instructions retired so far; an instruction that
 * exits is completed by the VMM and not counted).
 */
export interface ExitPlace {
  ordinal: number;
  instructions: number;
}

export function exitJson(info: ExitFacts, handledBy: 'vcpu' | 'vmm', place?: ExitPlace): JsonRecord {
  return {
    type: 'exit',
    reason: info.name,
    number: info.reason,
    rip: info.guestRip,
    qualification: info.qualification,
    description: describeExitQualification(info.reason, info.qualification, info.interruptionInfo, info.guestLinear),
    handledBy,
    instructionLength: info.instructionLength,
    ordinal: place?.ordinal,
    instructions: place?.instructions,
  };
}
