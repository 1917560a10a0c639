// A host for VMX tests: the emulated CPU in 64-bit mode at CPL 0 with CR4.VMXE and
// IA32_FEATURE_CONTROL locked, a VMXON region and a VMCS filled for a 64-bit guest that shares
// the host's flat segments and identity paging (SDM Vol. 3C, 24.7 "Enabling and entering VMX
// operation"; 25.4-25.5 guest- and host-state areas).
import { Cpu } from '../../src/hardware/cpu';
import { PhysicalMemory } from '../../src/hardware/memory';
import { VmxUnit } from '../../src/hardware/vmx/vmx-unit';
import { VMCS_REVISION_ID } from '../../src/hardware/vmx/capabilities';
import { vmcsFieldByName } from '../../src/vmx/vmcs-fields';
import { enterLongMode } from '../../src/vmm/long-mode-setup';

export const VMXON_REGION = 0x10000;
export const VMCS_REGION = 0x11000;
export const HOST_STACK = 0x20000;
export const GUEST_CODE = 0x100000;
export const GUEST_STACK = 0x180000;

export interface VmxHost { cpu: Cpu; mem: PhysicalMemory; vmx: VmxUnit; write(name: string, value: bigint | number): void; read(name: string): bigint }

function encodingOf(name: string): number {
  const f = vmcsFieldByName(name);
  if (f === undefined) throw new Error(`no VMCS field ${name}`);
  return f.encoding;
}

export function vmxHost(): VmxHost {
  const mem = new PhysicalMemory(2 ** 32);
  const cpu = new Cpu(mem);
  enterLongMode(cpu);
  const vmx = new VmxUnit(cpu);
  cpu.cr4 |= 0x2000;
  cpu.msrs.wrmsr(0x3a, 5n);
  mem.write(VMXON_REGION, 4, VMCS_REVISION_ID);
  mem.write(VMCS_REGION, 4, VMCS_REVISION_ID);
  const write = (name: string, value: bigint | number) => vmx.vmwrite(encodingOf(name), BigInt(value));
  const read = (name: string) => {
    const v = vmx.vmread(encodingOf(name));
    if (v === undefined) throw new Error(`VMREAD ${name} failed`);
    return v;
  };
  return { cpu, mem, vmx, write, read };
}

const must = (msr: bigint) => Number(msr & 0xffffffffn);

/** VMXON, VMPTRLD and every field a 64-bit guest at GUEST_CODE needs; controls at their required minimum plus `extra`. */
export function prepareGuest(h: VmxHost, extra: { pin?: number; proc?: number; proc2?: number; exit?: number; entry?: number } = {}): void {
  const { cpu, vmx, write } = h;
  vmx.vmxon(VMXON_REGION);
  vmx.vmclear(VMCS_REGION);
  vmx.vmptrld(VMCS_REGION);
  const rd = (a: number) => cpu.msrs.rdmsr(a);
  write('PIN_BASED_VM_EXEC_CONTROL', must(rd(0x48d)) | (extra.pin ?? 0));
  write('CPU_BASED_VM_EXEC_CONTROL', must(rd(0x48e)) | (extra.proc ?? 0) | (extra.proc2 !== undefined ? 1 << 31 : 0));
  write('SECONDARY_VM_EXEC_CONTROL', extra.proc2 ?? 0);
  write('VM_EXIT_CONTROLS', must(rd(0x48f)) | (1 << 9) | (extra.exit ?? 0));
  write('VM_ENTRY_CONTROLS', must(rd(0x490)) | (1 << 9) | (extra.entry ?? 0));
  write('VMCS_LINK_POINTER', 0xffffffffffffffffn);
  for (const [prefix, cr0, cr3, cr4] of [['HOST', cpu.cr0, cpu.cr3, cpu.cr4], ['GUEST', cpu.cr0, cpu.cr3, cpu.cr4]] as const) {
    write(`${prefix}_CR0`, cr0);
    write(`${prefix}_CR3`, cr3);
    write(`${prefix}_CR4`, cr4);
  }
  write('HOST_CS_SELECTOR', 0x08);
  write('HOST_SS_SELECTOR', 0x10);
  write('HOST_DS_SELECTOR', 0x10);
  write('HOST_ES_SELECTOR', 0x10);
  write('HOST_TR_SELECTOR', 0x28);
  write('HOST_GDTR_BASE', cpu.gdtrBase);
  write('HOST_RSP', HOST_STACK);
  write('HOST_RIP', 0xdead000);
  const segs = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];
  segs.forEach((s) => {
    const code = s === 'CS';
    write(`GUEST_${s}_SELECTOR`, code ? 0x08 : 0x10);
    write(`GUEST_${s}_LIMIT`, 0xffffffff);
    write(`GUEST_${s}_AR_BYTES`, code ? 0xa09b : 0xc093);
  });
  write('GUEST_LDTR_AR_BYTES', 0x10000);
  write('GUEST_TR_SELECTOR', 0x28);
  write('GUEST_TR_LIMIT', 0x67);
  write('GUEST_TR_AR_BYTES', 0x8b);
  write('GUEST_GDTR_BASE', cpu.gdtrBase);
  write('GUEST_GDTR_LIMIT', cpu.gdtrLimit);
  write('GUEST_IDTR_LIMIT', 0xfff);
  write('GUEST_IDTR_BASE', 0x5000);
  write('GUEST_RFLAGS', 2);
  write('GUEST_RIP', GUEST_CODE);
  write('GUEST_RSP', GUEST_STACK);
}
