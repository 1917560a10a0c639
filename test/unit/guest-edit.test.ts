// The debugger's changes to a stopped guest in plain Node (src/vmm/guest-edit.ts), on the
// committed hello sample: what a processor without "VMWRITE to exit-information fields"
// (IA32_VMX_MISC[29] clear) answers, and the VMCS refused while the guest is on the processor.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { defaultVmxCapabilities } from '../../src/hardware/vmx/capabilities';
import { Msr } from '../../src/msr';
import { DebugTarget } from '../../src/vmm/debug-target';
import { GuestEditor } from '../../src/vmm/guest-edit';
import { loadGuestImage } from '../../src/vmm/guest-image';
import { GuestViewError } from '../../src/vmm/guest-view';
import { Machine } from '../../src/vmm/machine';
import { gnuToolsAvailable } from '../support/gnu-tools';
import { HELLO, symbol } from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const MISC_VMWRITE_ANY = 1n << 29n;

function hello(withoutVmwriteAny: boolean): DebugTarget {
  const image = loadGuestImage(new Uint8Array(fs.readFileSync(HELLO)));
  // without IA32_VMX_MISC[29], VMWRITE may not change the exit-information fields (SDM Vol. 3D, A.6)
  const caps = defaultVmxCapabilities();
  if (withoutVmwriteAny) caps.misc &= ~MISC_VMWRITE_ANY;
  const machine = new Machine({ memoryMiB: 16, vmxCapabilities: caps });
  machine.load(image);
  machine.start(image.entryPhysical, 'real');
  return new DebugTarget(machine);
}

test('VMWRITE to a read-only field without IA32_VMX_MISC[29] is refused with VM-instruction error 13', { skip }, () => {
  const t = hello(true);
  assert.equal(t.run(1_000_000, new Set(['IO_INSTRUCTION'])).kind, 'exit');
  const edit = new GuestEditor(t.machine, t.view);
  const reason = t.view.vmcs('VM_EXIT_REASON');
  // SDM Vol. 3C, 31.4: error number 13, "VMWRITE to read-only VMCS component"
  assert.throws(() => edit.setVmcsField('VM_EXIT_REASON', 0n),
    (e: unknown) => e instanceof GuestViewError && e.message === 'VMWRITE to VM_EXIT_REASON failed: VmxInstructionError(13: VMWRITE to read-only VMCS component)');
  assert.equal(t.view.vmcs('VM_EXIT_REASON'), reason);
  // a guest-state field is written, and the guest runs on with it
  edit.setVmcsField('GUEST_RSP', t.view.register('rsp') - 8n);
  assert.equal(t.view.register('rsp'), symbol('_start') - 24n, 'long_mode set RSP to _start; call main and call serial_init pushed 16; 8 more here');
  assert.throws(() => edit.setVmcsField('NO_SUCH_FIELD', 0n), /no VMCS field named 'NO_SUCH_FIELD'/);
});

test('at a breakpoint the guest is on the processor: VMCS fields are refused, flags and MSRs go through WRMSR', { skip }, () => {
  const t = hello(false);
  t.setBreakpoints([symbol('serial_putc')]);
  assert.equal(t.run(1_000_000, new Set()).kind, 'breakpoint');
  assert.equal(t.view.onProcessor, true);
  const edit = new GuestEditor(t.machine, t.view);
  assert.throws(() => edit.setVmcsField('CR0_READ_SHADOW', 0n), /the guest is on the processor .* VMWRITE is not available; stop at a VM exit/);
  const flags = t.view.register('rflags');
  assert.equal(edit.setFlag('CF', 1n), 1n);
  assert.equal(t.view.register('rflags'), flags | 1n, 'CF is bit 0 and nothing else changed');
  assert.throws(() => edit.setFlag('XF', 1n), /RFLAGS has no flag named 'XF'/);
  // EFER: LME may not change while paging is on (SDM Vol. 3A, 10.8.5): WRMSR's #GP
  const efer = t.view.msr(Msr.IA32_EFER) ?? 0n;
  assert.throws(() => edit.setMsr(Msr.IA32_EFER, efer & ~0x100n), /WRMSR would raise #GP: .*EFER.LME changed with paging enabled/);
  edit.setMsr(Msr.IA32_EFER, efer | 0x800n);
  assert.equal(t.view.msr(Msr.IA32_EFER), efer | 0x800n, 'NXE (bit 11) set');
});

test('VMX control fields against the capability MSRs: a default1 bit the TRUE MSR frees may be cleared; secondary controls count only while activated', { skip }, () => {
  const bit = (n: number): bigint => 1n << BigInt(n);
  // CR3-load exiting (primary bit 15) is a default1 bit that the TRUE MSR lets software clear (A.3.2)
  const t = hello(false);
  assert.equal(t.run(1_000_000, new Set(['IO_INSTRUCTION'])).kind, 'exit');
  const edit = new GuestEditor(t.machine, t.view);
  const primary = t.view.vmcs('CPU_BASED_VM_EXEC_CONTROL') as bigint;
  assert.equal(((t.machine.cpu.msrs.rdmsr(Msr.IA32_VMX_TRUE_PROCBASED_CTLS.address)) >> 15n) & 1n, 0n, 'precondition: the TRUE MSR does not force bit 15');
  assert.equal(((t.machine.cpu.msrs.rdmsr(Msr.IA32_VMX_PROCBASED_CTLS.address)) >> 15n) & 1n, 1n, 'precondition: the plain MSR does (so this shows which one is read)');
  assert.equal((t.machine.cpu.msrs.rdmsr(Msr.IA32_VMX_BASIC.address) >> 55n) & 1n, 1n, 'precondition: IA32_VMX_BASIC[55] reports TRUE MSRs');
  edit.setVmcsField('CPU_BASED_VM_EXEC_CONTROL', primary & ~bit(15));
  assert.equal(t.view.vmcs('CPU_BASED_VM_EXEC_CONTROL'), primary & ~bit(15));
  edit.setVmcsField('CPU_BASED_VM_EXEC_CONTROL', primary);

  // secondary bit 0 (virtualize APIC accesses) is one the processor does not offer
  const allowed1 = t.machine.cpu.msrs.rdmsr(Msr.IA32_VMX_PROCBASED_CTLS2.address) >> 32n;
  assert.equal(allowed1 & 1n, 0n, 'precondition: IA32_VMX_PROCBASED_CTLS2 does not allow bit 0');
  const secondary = t.view.vmcs('SECONDARY_VM_EXEC_CONTROL') as bigint;
  assert.throws(() => edit.setVmcsField('SECONDARY_VM_EXEC_CONTROL', secondary | 1n),
    /cannot set 'virtualize APIC accesses' \(bit 0\): IA32_VMX_PROCBASED_CTLS2 allows it to be 0 only/);
  // while "activate secondary controls" (primary bit 31) is 0 the secondary field does not count (27.2.1.1) …
  edit.setVmcsField('CPU_BASED_VM_EXEC_CONTROL', primary & ~bit(31));
  edit.setVmcsField('SECONDARY_VM_EXEC_CONTROL', secondary | 1n);
  // … and turning it on makes the value there count
  assert.throws(() => edit.setVmcsField('CPU_BASED_VM_EXEC_CONTROL', primary),
    /with "activate secondary controls", SECONDARY_VM_EXEC_CONTROL = 0x[0-9a-f]+ counts: cannot set 'virtualize APIC accesses' \(bit 0\)/);
  edit.setVmcsField('SECONDARY_VM_EXEC_CONTROL', secondary);
  edit.setVmcsField('CPU_BASED_VM_EXEC_CONTROL', primary);
  assert.equal(t.view.vmcs('CPU_BASED_VM_EXEC_CONTROL'), primary);
});
