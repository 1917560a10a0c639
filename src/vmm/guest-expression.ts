// What the names of the expression language mean for a stopped guest: registers and
// sub-registers, RFLAGS and its flags, control registers, `vmcs.FIELD`, MSRs, guest-linear
// memory through the guest's paging, the guest's symbols, and the fields of the last VM exit, decoded from its
// qualification (SDM Vol. 3C, 28.2.1) so that exit-filter conditions read naturally
// (`port == 0x3f8 && !in`, `ecx == 0xc0000080`, `gpa >= 0xfed00000`).

import { extractField } from '../bitfields';
import { msrByAddress, msrByName } from '../msr';
import { GPR_NAMES, lookupSubRegister } from '../regs';
import { RFLAGS_FIELDS } from '../rflags';
import { VmxExitReason as R } from '../vmx/definitions';
import type { VmxExitInfo } from '../vmx/vcpu';
import { ExpressionEnvironment, ExpressionError, ReadSize } from './expression';
import type { GuestView } from './guest-view';

const CONTROL_REGISTERS = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer'] as const;

/** A field of an exit: the reasons it belongs to (none: every exit) and how to read it. */
interface ExitField { reasons?: readonly number[]; read: (e: VmxExitInfo) => bigint; description: string }
const q32 = (e: VmxExitInfo): number => Number(e.qualification & 0xffffffffn);

/**
 * Exit fields by name. Qualification layouts: I/O Table 28-5, control-register access Table
 * 28-3, EPT violation Table 28-7 (SDM Vol. 3C, 28.2.1).
 */
const EXIT_FIELDS: Readonly<Record<string, ExitField>> = {
  'exit.reason': { read: (e) => BigInt(e.reason), description: 'basic exit reason number' },
  'exit.qualification': { read: (e) => e.qualification, description: 'exit qualification' },
  'exit.rip': { read: (e) => e.guestRip, description: 'guest RIP of the exit' },
  'exit.length': { read: (e) => BigInt(e.instructionLength), description: 'VM-exit instruction length' },
  gpa: { reasons: [R.EPT_VIOLATION.number, R.EPT_MISCONFIG.number], read: (e) => e.guestPhysical, description: 'guest-physical address' },
  gla: { reasons: [R.EPT_VIOLATION.number], read: (e) => e.guestLinear, description: 'guest-linear address' },
  port: { reasons: [R.IO_INSTRUCTION.number], read: (e) => BigInt(q32(e) >>> 16), description: 'I/O port (bits 31:16)' },
  in: { reasons: [R.IO_INSTRUCTION.number], read: (e) => BigInt((q32(e) >>> 3) & 1), description: 'direction, 1 = IN (bit 3)' },
  size: { reasons: [R.IO_INSTRUCTION.number], read: (e) => BigInt((q32(e) & 7) + 1), description: 'access size in bytes (bits 2:0, plus 1)' },
  string: { reasons: [R.IO_INSTRUCTION.number], read: (e) => BigInt((q32(e) >>> 4) & 1), description: 'string instruction (bit 4)' },
  rep: { reasons: [R.IO_INSTRUCTION.number], read: (e) => BigInt((q32(e) >>> 5) & 1), description: 'REP prefix (bit 5)' },
  cr: { reasons: [R.CR_ACCESS.number], read: (e) => BigInt(q32(e) & 15), description: 'control register number (bits 3:0)' },
  access: { reasons: [R.CR_ACCESS.number], read: (e) => BigInt((q32(e) >>> 4) & 3), description: 'access type: 0 MOV to CR, 1 MOV from CR, 2 CLTS, 3 LMSW (bits 5:4)' },
  read: { reasons: [R.EPT_VIOLATION.number], read: (e) => BigInt(q32(e) & 1), description: 'the access was a read (bit 0)' },
  write: { reasons: [R.EPT_VIOLATION.number], read: (e) => BigInt((q32(e) >>> 1) & 1), description: 'the access was a write (bit 1)' },
  fetch: { reasons: [R.EPT_VIOLATION.number], read: (e) => BigInt((q32(e) >>> 2) & 1), description: 'the access was an instruction fetch (bit 2)' },
};

/** Every name of an exit field, for messages and documentation. */
export const EXIT_FIELD_NAMES: readonly string[] = Object.keys(EXIT_FIELDS);

const FLAGS = new Map(RFLAGS_FIELDS.map((f) => [f.name.toLowerCase(), f]));

/** The names the language understands for a guest, evaluated against `view` and the exit `exit`. */
export class GuestExpressionEnvironment implements ExpressionEnvironment {
  /** `symbols` resolves the guest's symbol names (labels, functions) to addresses, where the image has them. */
  constructor(private readonly view: GuestView, private readonly exit: VmxExitInfo | undefined,
    private readonly symbols?: (name: string) => bigint | undefined) {}

  name(name: string): bigint {
    const lower = name.toLowerCase();
    const v = this.view;
    if (lower === 'rip' || lower === 'rflags') return v.register(lower);
    if (lower === 'eflags') return v.register('rflags') & 0xffffffffn;
    const sub = lookupSubRegister(lower);
    if (sub !== undefined) {
      const full = v.register(GPR_NAMES[sub.index]);
      if (sub.high) return (full >> 8n) & 0xffn;
      return sub.size === 8 ? full : full & ((1n << BigInt(8 * sub.size)) - 1n);
    }
    const flag = FLAGS.get(lower);
    if (flag !== undefined) return extractField(v.register('rflags'), flag);
    if ((CONTROL_REGISTERS as readonly string[]).includes(lower)) return v.controlRegisters()[lower as (typeof CONTROL_REGISTERS)[number]];
    if (lower.startsWith('vmcs.')) {
      const value = v.vmcs(name.slice(5));
      if (value === undefined) throw new ExpressionError(`no VMCS field named '${name.slice(5)}' on this processor`);
      return value;
    }
    // msr.IA32_EFER reads as msr(IA32_EFER)
    if (lower.startsWith('msr.')) return this.msr(name.slice(4));
    const field = EXIT_FIELDS[lower];
    if (field !== undefined) return this.exitField(lower, field);
    const symbol = this.symbols?.(name);
    if (symbol !== undefined) return symbol;
    throw new ExpressionError(`unknown name '${name}' (registers rax…r15 and their parts, rip, rflags, flags cf…id, cr0…cr8, efer, vmcs.FIELD, msr(NAME), the guest's symbols, exit fields ${EXIT_FIELD_NAMES.join(', ')})`);
  }

  private exitField(name: string, field: ExitField): bigint {
    const e = this.exit;
    if (e === undefined) throw new ExpressionError(`'${name}' is a field of a VM exit, and there has been none yet`);
    if (field.reasons !== undefined && !field.reasons.includes(e.reason)) {
      throw new ExpressionError(`'${name}' (${field.description}) is not a field of ${e.name} exits`);
    }
    return field.read(e);
  }

  memory(address: bigint, size: ReadSize): bigint {
    const bytes = this.view.readLinear(address, size);
    if (bytes.length < size) throw new ExpressionError(`cannot read ${size} byte${size > 1 ? 's' : ''} at 0x${(address + BigInt(bytes.length)).toString(16)}: not mapped by the guest's paging or not RAM`);
    let v = 0n;
    for (let k = size - 1; k >= 0; k--) v = (v << 8n) | BigInt(bytes[k]);
    return v;
  }

  msr(nameOrAddress: string | bigint): bigint {
    const info = typeof nameOrAddress === 'string' ? msrByName(nameOrAddress) : nameOrAddress <= 0xffffffffn ? msrByAddress(Number(nameOrAddress)) : undefined;
    const what = typeof nameOrAddress === 'string' ? `'${nameOrAddress}'` : `0x${nameOrAddress.toString(16)}`;
    if (info === undefined) throw new ExpressionError(`no MSR ${what} in the MSR table`);
    const value = this.view.msr(info);
    if (value === undefined) throw new ExpressionError(`${info.name} is not implemented by this processor`);
    return value;
  }
}
