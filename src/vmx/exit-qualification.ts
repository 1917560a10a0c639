// Exit qualifications and interruption information in words (SDM Vol. 3C, 28.2.1 tables
// 28-1 to 28-7 and 28.2.2), for the command line and the debugger: "OUT port 0x3f8, 1 byte,
// immediate", "MOV to CR4 from RAX", "EPT violation: write, page not present, linear valid".

import { GPR_NAMES } from '../regs';
import { VmxExitReason as R } from './definitions';

const TYPE_NAMES = ['external interrupt', 'reserved', 'NMI', 'hardware exception', 'software interrupt', 'privileged software exception', 'software exception', 'other event'];
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** What a VM exit's qualification (and, for events, interruption information) says. */
export function describeExitQualification(reason: number, qualification: bigint, interruptionInfo = 0, guestLinear?: bigint): string {
  const q = Number(qualification & 0xffffffffn);
  switch (reason) {
    case R.IO_INSTRUCTION.number: {
      const size = (q & 7) + 1, input = (q & 8) !== 0, string = (q & 0x10) !== 0, rep = (q & 0x20) !== 0, imm = (q & 0x40) !== 0;
      const op = string ? (input ? 'INS' : 'OUTS') : input ? 'IN' : 'OUT';
      return `${rep ? 'REP ' : ''}${op} port ${hex(q >>> 16)}, ${size} byte${size > 1 ? 's' : ''}, ${imm ? 'immediate' : 'DX'} operand`;
    }
    case R.CR_ACCESS.number: {
      const cr = q & 15, type = (q >>> 4) & 3, gpr = GPR_NAMES[(q >>> 8) & 15];
      switch (type) {
        case 0: return `MOV to CR${cr} from ${gpr.toUpperCase()}`;
        case 1: return `MOV from CR${cr} to ${gpr.toUpperCase()}`;
        case 2: return 'CLTS';
        default: return `LMSW ${(q & 0x40) !== 0 ? `from memory${guestLinear !== undefined ? ` at ${hex(guestLinear)}` : ''}` : 'from a register'}, source ${hex(q >>> 16)}`;
      }
    }
    case R.DR_ACCESS.number:
      return `MOV ${(q & 0x10) !== 0 ? `from DR${q & 7} to ${GPR_NAMES[(q >>> 8) & 15].toUpperCase()}` : `to DR${q & 7} from ${GPR_NAMES[(q >>> 8) & 15].toUpperCase()}`}`;
    case R.EPT_VIOLATION.number: {
      const access = [(q & 1) && 'read', (q & 2) && 'write', (q & 4) && 'instruction fetch'].filter(Boolean).join('+') || 'no access';
      const perms = (q >>> 3) & 7;
      const allowed = perms === 0 ? 'page not present' : `allowed ${(perms & 1) ? 'R' : '-'}${(perms & 2) ? 'W' : '-'}${(perms & 4) ? 'X' : '-'}`;
      const linear = (q & 0x80) === 0 ? 'no linear address' : (q & 0x100) !== 0 ? 'linear address valid (the access itself)' : 'linear address valid (a guest paging-structure entry)';
      return `${access}, ${allowed}, ${linear}${(q & 0x1000) !== 0 ? ', NMI unblocking due to IRET' : ''}`;
    }
    case R.INVLPG.number: return `INVLPG ${hex(qualification)}`;
    case R.EXCEPTION_NMI.number: case R.EXTERNAL_INTERRUPT.number: {
      if ((interruptionInfo & 0x80000000) === 0) return 'no interruption information (interrupt not acknowledged)';
      const vector = interruptionInfo & 0xff, type = (interruptionInfo >>> 8) & 7;
      const pf = vector === 14 && reason === R.EXCEPTION_NMI.number ? `, faulting address ${hex(qualification)}` : '';
      return `vector ${vector} (${hex(vector)}), ${TYPE_NAMES[type]}${(interruptionInfo & 0x800) !== 0 ? ', with error code' : ''}${pf}`;
    }
    case R.TASK_SWITCH.number:
      return `task switch to selector ${hex(q & 0xffff)} by ${['CALL', 'IRET', 'JMP', 'task gate in IDT'][(q >>> 30) & 3]}`;
    default:
      return qualification === 0n ? '' : `qualification ${hex(qualification)}`;
  }
}
