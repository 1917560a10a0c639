// Changes a debugger makes to a stopped guest, with the rules the hardware applies to the same
// change, so that a value the processor would refuse is refused here with the rule's words:
// - while the guest is on the processor (stopped between two of its instructions), a control
//   register or MSR is written the way MOV to CR / WRMSR would write it, #GP reason included;
// - after a VM exit its state is in the VMCS, written with VMWRITE: a VMCS field the processor
//   will not write answers with the VM-instruction error, and control-register and MSR values
//   are checked against what the next VM entry requires of the guest state (SDM Vol. 3C, 27.3.1),
//   VMX control fields against the capability MSRs' allowed settings (27.2.1.1, Appendix A.3-A.5).
// A bit field (a flag, CR0.WP, EFER.NXE, PAT's PA0, a VMX control) is changed by writing its whole
// register with the field replaced (`replaceField`), so the register's rules decide.

import { BitField, extractField, insertField } from '../bitfields';
import { CpuFault } from '../hardware/cpu';
import { hex } from '../format';
import { Msr, MsrAccessError, msrByName, MsrInfo } from '../msr';
import { RFLAGS_FIELDS } from '../rflags';
import {
  adjustControls, CONTROL_SETS, ControlSet, controlMask, ENTRY_CONTROLS, PRIMARY_PROCESSOR_CONTROLS, SECONDARY_PROCESSOR_CONTROLS, splitCapabilityMsr,
} from '../vmx/controls';
import { VmxFail } from '../vmx/instructions';
import { vmcsFieldByName } from '../vmx/vmcs-fields';
import { GuestView, GuestViewError, msrVmcsField } from './guest-view';
import type { Machine } from './machine';

export type ControlRegisterName = 'cr0' | 'cr2' | 'cr3' | 'cr4' | 'cr8';

const MASK64 = (1n << 64n) - 1n;
const UNRESTRICTED = controlMask(SECONDARY_PROCESSOR_CONTROLS, 'unrestricted guest');
const SECONDARY_ACTIVE = controlMask(PRIMARY_PROCESSOR_CONTROLS, 'activate secondary controls');
const IA32E_GUEST = controlMask(ENTRY_CONTROLS, 'IA-32e mode guest');
/** MAXPHYADDR of the emulated processor (CPUID 80000008H:EAX[7:0]). */
const MAX_PHYS_BITS = 46n;

function canonical(v: bigint): boolean {
  const top = v >> 47n;
  return top === 0n || top === MASK64 >> 47n;
}

export class GuestEditor {
  constructor(private readonly machine: Machine, private readonly view: GuestView) {}

  /** One field of RFLAGS (CF, IOPL …); the other bits keep their values. */
  setFlag(name: string, value: bigint): bigint {
    const field = RFLAGS_FIELDS.find((f) => f.name.toLowerCase() === name.toLowerCase());
    if (field === undefined) throw new GuestViewError(`RFLAGS has no flag named '${name}' (${RFLAGS_FIELDS.map((f) => f.name).join(', ')})`);
    this.view.setRegister('rflags', replaceField(this.view.register('rflags'), field, value));
    return extractField(this.view.register('rflags'), field);
  }

  /** CR0, CR2, CR3, CR4 or CR8, refused with the rule when the processor would refuse it. */
  setControlRegister(name: ControlRegisterName, value: bigint): void {
    if (value < 0n || value > MASK64) throw new GuestViewError(`${name}: ${value} does not fit in 64 bits`);
    const n = Number(name.slice(2));
    const c = this.machine.cpu;
    if (this.view.onProcessor || n === 2 || n === 8) {
      // CR2 and CR8 are not in the VMCS: the processor holds the guest's values across exits
      try {
        c.writeCr(n, value);
      } catch (e) {
        if (e instanceof CpuFault) throw new GuestViewError(`MOV to ${name.toUpperCase()} with ${hex(value)} would raise #GP: ${e.detail}`);
        throw e;
      }
      return;
    }
    const problem = n === 0 ? this.guestCr0Problem(value) : n === 4 ? this.guestCr4Problem(value) : this.guestCr3Problem(value);
    if (problem !== undefined) throw new GuestViewError(`${name.toUpperCase()} = ${hex(value)} is refused: ${problem}`);
    this.vmwrite(`GUEST_CR${n}`, value);
  }

  /** SDM Vol. 3C, 27.3.1.1: CR0 against IA32_VMX_CR0_FIXED0/1 (PE and PG free for an unrestricted guest), PG needs PE. */
  private guestCr0Problem(v: bigint): string | undefined {
    if (v >> 32n !== 0n) return 'bits 63:32 are reserved';
    const rdmsr = (m: MsrInfo) => this.machine.cpu.msrs.rdmsr(m.address);
    let fixed0 = rdmsr(Msr.IA32_VMX_CR0_FIXED0);
    if (this.unrestricted()) fixed0 &= ~0x80000001n;
    const fixed1 = rdmsr(Msr.IA32_VMX_CR0_FIXED1);
    if ((v & fixed0) !== fixed0) return `bits ${hex(fixed0 & ~v)} must be 1 (IA32_VMX_CR0_FIXED0 = ${hex(fixed0)}${this.unrestricted() ? ', PE and PG excepted for an unrestricted guest' : ''})`;
    if ((v & ~fixed1) !== 0n) return `bits ${hex(v & ~fixed1)} must be 0 (IA32_VMX_CR0_FIXED1 = ${hex(fixed1)})`;
    if ((v & 0x80000000n) !== 0n && (v & 1n) === 0n) return 'CR0.PG requires CR0.PE';
    if ((v & 0x20000000n) !== 0n && (v & 0x40000000n) === 0n) return 'CR0.NW requires CR0.CD';
    if (this.ia32eGuest() && (v & 0x80000000n) === 0n) return '"IA-32e mode guest" requires CR0.PG';
    return undefined;
  }

  /** 27.3.1.1: CR4 against IA32_VMX_CR4_FIXED0/1; IA-32e mode needs PAE; PCIDE only in IA-32e mode. */
  private guestCr4Problem(v: bigint): string | undefined {
    if (v >> 32n !== 0n) return 'bits 63:32 are reserved';
    const fixed0 = this.machine.cpu.msrs.rdmsr(Msr.IA32_VMX_CR4_FIXED0.address);
    const fixed1 = this.machine.cpu.msrs.rdmsr(Msr.IA32_VMX_CR4_FIXED1.address);
    if ((v & fixed0) !== fixed0) return `bits ${hex(fixed0 & ~v)} must be 1 (IA32_VMX_CR4_FIXED0 = ${hex(fixed0)})`;
    if ((v & ~fixed1) !== 0n) return `bits ${hex(v & ~fixed1)} must be 0 (IA32_VMX_CR4_FIXED1 = ${hex(fixed1)})`;
    if (this.ia32eGuest() && (v & 0x20n) === 0n) return '"IA-32e mode guest" requires CR4.PAE';
    if (!this.ia32eGuest() && (v & 0x20000n) !== 0n) return 'CR4.PCIDE requires "IA-32e mode guest"';
    return undefined;
  }

  /** 27.3.1.1: CR3 may not set bits at or above MAXPHYADDR. */
  private guestCr3Problem(v: bigint): string | undefined {
    return v >> MAX_PHYS_BITS !== 0n ? `bits 63:${MAX_PHYS_BITS} are beyond MAXPHYADDR (${MAX_PHYS_BITS})` : undefined;
  }

  private unrestricted(): boolean {
    const primary = this.view.vmcs('CPU_BASED_VM_EXEC_CONTROL') ?? 0n;
    const secondary = this.view.vmcs('SECONDARY_VM_EXEC_CONTROL') ?? 0n;
    return (Number(primary) & SECONDARY_ACTIVE) !== 0 && (Number(secondary) & UNRESTRICTED) !== 0;
  }

  private ia32eGuest(): boolean {
    return (Number(this.view.vmcs('VM_ENTRY_CONTROLS') ?? 0n) & IA32E_GUEST) !== 0;
  }

  /**
   * An MSR of the guest. On the processor: WRMSR's rules (the MSR file's). After an exit, the MSRs
   * VM entry loads from the VMCS are checked as entry checks them (27.3.1.1) and VMWRITten;
   * the others stay on the processor and go through the MSR file.
   */
  setMsr(info: MsrInfo, value: bigint): void {
    if (value < 0n || value > MASK64) throw new GuestViewError(`${info.name}: ${value} does not fit in 64 bits`);
    const field = this.view.onProcessor ? undefined : msrVmcsField(this.view, info);
    if (field === undefined) {
      try {
        this.machine.cpu.msrs.wrmsr(info.address, value);
      } catch (e) {
        if (e instanceof MsrAccessError) throw new GuestViewError(`WRMSR would raise #GP: ${e.message}`);
        throw e;
      }
      return;
    }
    const paging = ((this.view.vmcs('GUEST_CR0') ?? 0n) & 0x80000000n) !== 0n;
    const problem = vmcsMsrProblem(info, value, this.ia32eGuest(), paging);
    if (problem !== undefined) throw new GuestViewError(`${info.name} = ${hex(value)} is refused: ${problem}`);
    this.vmwrite(field, value);
  }

  /** A VMCS field, by VMWRITE: a field the processor will not write answers with its VM-instruction error. */
  setVmcsField(name: string, value: bigint): void {
    const f = vmcsFieldByName(name);
    if (f === undefined) throw new GuestViewError(`no VMCS field named '${name}'`);
    if (value < 0n || value > MASK64) throw new GuestViewError(`${f.name}: ${value} does not fit in 64 bits`);
    if (this.view.onProcessor) {
      throw new GuestViewError(`${f.name} cannot be written now: the guest is on the processor (stopped between its instructions, not at a VM exit), where VMWRITE is not available; stop at a VM exit to change the VMCS`);
    }
    const problem = this.controlProblem(f.name, value);
    if (problem !== undefined) throw new GuestViewError(`${f.name} = ${hex(value)} is refused: ${problem}`);
    this.vmwrite(f.name, value);
  }

  /**
   * SDM Vol. 3C, 27.2.1.1: a VMX control field's bits against the allowed-0 and allowed-1 settings
   * of its capability MSR (the TRUE one when IA32_VMX_BASIC[55] says there are TRUE MSRs, A.2);
   * the secondary controls only count while the primary ones activate them.
   */
  private controlProblem(name: string, value: bigint): string | undefined {
    const set = CONTROL_SETS.find((s) => s.vmcsField === name);
    if (set === undefined) return undefined;
    const primary = name === 'CPU_BASED_VM_EXEC_CONTROL' ? value : this.view.vmcs('CPU_BASED_VM_EXEC_CONTROL') ?? 0n;
    const secondaryActive = (Number(primary & 0xffffffffn) & SECONDARY_ACTIVE) !== 0;
    if (name === 'SECONDARY_VM_EXEC_CONTROL' && !secondaryActive) return undefined;
    const problem = this.allowedSettingsProblem(set, value);
    if (problem !== undefined || name !== 'CPU_BASED_VM_EXEC_CONTROL' || !secondaryActive) return problem;
    // turning the secondary controls on makes their current value count
    const secondary = this.view.vmcs('SECONDARY_VM_EXEC_CONTROL') ?? 0n;
    const second = this.allowedSettingsProblem(CONTROL_SETS.find((s) => s.vmcsField === 'SECONDARY_VM_EXEC_CONTROL') as ControlSet, secondary);
    return second === undefined ? undefined : `with "activate secondary controls", SECONDARY_VM_EXEC_CONTROL = ${hex(secondary)} counts: ${second}`;
  }

  private allowedSettingsProblem(set: ControlSet, value: bigint): string | undefined {
    const rdmsr = (msr: string): bigint => this.machine.cpu.msrs.rdmsr((msrByName(msr) as MsrInfo).address);
    const hasTrue = ((rdmsr('IA32_VMX_BASIC') >> 55n) & 1n) === 1n;
    const capability = hasTrue && set.trueCapabilityMsr !== undefined ? set.trueCapabilityMsr : set.capabilityMsr;
    const { allowed0, allowed1 } = splitCapabilityMsr(rdmsr(capability));
    const bits = Number(value & 0xffffffffn);
    try {
      // every bit clear is one the caller needs clear: the allowed-0 settings must not force it
      adjustControls(bits, allowed0, allowed1, set.bits, { mustClear: ~bits >>> 0, msrName: capability });
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }

  private vmwrite(name: string, value: bigint): void {
    try {
      this.machine.vcpu.vmcs.write(name, value);
    } catch (e) {
      if (e instanceof VmxFail) throw new GuestViewError(`VMWRITE to ${name} failed: ${e.error?.toString() ?? e.message}`);
      throw e;
    }
  }
}

/** What VM entry checks of the guest MSRs it loads (SDM Vol. 3C, 27.3.1.1). */
function vmcsMsrProblem(info: MsrInfo, v: bigint, ia32e: boolean, paging: boolean): string | undefined {
  switch (info.name) {
    case 'IA32_EFER':
      if ((v & ~0xd01n) !== 0n) return 'reserved bits set (only SCE, LME, LMA and NXE may be 1)';
      if (((v & 0x400n) !== 0n) !== ia32e) return `EFER.LMA must equal "IA-32e mode guest" (${ia32e ? 1 : 0})`;
      if (paging && ((v & 0x100n) !== 0n) !== ia32e) return `EFER.LME must equal "IA-32e mode guest" (${ia32e ? 1 : 0}) while the guest's CR0.PG is 1`;
      return undefined;
    case 'IA32_PAT':
      for (let k = 0n; k < 64n; k += 8n) {
        const t = (v >> k) & 0xffn;
        if (t === 2n || t === 3n || t > 7n) return `PA${k / 8n} holds ${hex(t)}, which is not a memory type (2, 3 and 8-255 are reserved)`;
      }
      return undefined;
    case 'IA32_SYSENTER_ESP': case 'IA32_SYSENTER_EIP': case 'IA32_FS_BASE': case 'IA32_GS_BASE':
      return canonical(v) ? undefined : 'the address must be canonical';
    default:
      return undefined;
  }
}

/** `whole` with one field set to `value`; a value wider than the field is refused, naming the field. */
export function replaceField(whole: bigint, field: BitField, value: bigint): bigint {
  if (value < 0n || value >= 1n << BigInt(field.width)) throw new GuestViewError(`${field.name} is ${field.width} bit${field.width > 1 ? 's' : ''} wide: ${value} does not fit`);
  return insertField(whole, field, value);
}
