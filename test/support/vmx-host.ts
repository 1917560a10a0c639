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

/**
 * EPT tables at `root` mapping guest-physical 0 .. `bytes` to the same host addresses with
 * 4-KiB pages, read/write/execute and write-back, except the pages listed in `holes`.
 * Returns the EPTP (WB, 4-level walk; SDM Vol. 3C, 25.6.11 and 29.3.2).
 */
export function identityEpt(mem: PhysicalMemory, root: number, bytes: number, holes: number[] = []): bigint {
  let next = root + 0x1000;
  const alloc = () => { const a = next; next += 0x1000; return a; };
  const entry = (table: number, index: number, create: () => number): number => {
    const at = table + 8 * index;
    const lo = mem.read(at, 4);
    if ((lo & 7) !== 0) return lo & ~0xfff;
    const t = create();
    mem.write(at, 4, (t | 7) >>> 0);
    return t;
  };
  for (let gpa = 0; gpa < bytes; gpa += 0x1000) {
    if (holes.includes(gpa)) continue;
    const pdpt = entry(root, Math.floor(gpa / 2 ** 39) & 511, alloc);
    const pd = entry(pdpt, Math.floor(gpa / 2 ** 30) & 511, alloc);
    const pt = entry(pd, Math.floor(gpa / 2 ** 21) & 511, alloc);
    mem.write(pt + 8 * (Math.floor(gpa / 4096) & 511), 4, (gpa | 7 | 6 << 3) >>> 0);
  }
  return BigInt(root) | 6n | 3n << 3n;
}

/** A real-mode unrestricted guest at 0000:`ip` under EPT (as x86_vcpu starts guests). */
export function prepareRealModeGuest(h: VmxHost, ip: number, eptp: bigint, extra: { pin?: number; proc?: number; proc2?: number } = {}): void {
  prepareGuest(h, { ...extra, proc2: (extra.proc2 ?? 0) | 1 << 1 | 1 << 7 });
  const { write, read } = h;
  write('VM_ENTRY_CONTROLS', read('VM_ENTRY_CONTROLS') & ~(1n << 9n));
  write('EPT_POINTER', eptp);
  write('GUEST_CR0', 0x30);
  write('GUEST_CR3', 0);
  write('GUEST_CR4', 0x2000);
  for (const s of ['ES', 'CS', 'SS', 'DS', 'FS', 'GS']) {
    write(`GUEST_${s}_SELECTOR`, 0);
    write(`GUEST_${s}_BASE`, 0);
    write(`GUEST_${s}_LIMIT`, 0xffff);
    write(`GUEST_${s}_AR_BYTES`, s === 'CS' ? 0x9b : 0x93);
  }
  write('GUEST_TR_SELECTOR', 0);
  write('GUEST_TR_AR_BYTES', 0x8b);
  write('GUEST_GDTR_BASE', 0);
  write('GUEST_IDTR_BASE', 0);
  write('GUEST_IDTR_LIMIT', 0x3ff);
  write('GUEST_RIP', ip);
  write('GUEST_RSP', 0x7000);
}
