// The engine's debugging API in plain Node, on the committed hello sample: stopping at an exit
// before the VMM answers it, stepping across exits, breakpoints, and reading guest memory
// through the guest's own paging without leaving a trace. Addresses and constants from nm and
// objdump; the page-table entry from the guest's own tables in memory.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DebugTarget } from '../../src/vmm/debug-target';
import { GuestViewError } from '../../src/vmm/guest-view';
import { loadGuestImage } from '../../src/vmm/guest-image';
import { Machine } from '../../src/vmm/machine';
import { PRODUCIBLE_EXIT_REASONS } from '../../src/vmm/producible-exits';
import { exitReasonByName, exitReasonByNumber } from '../../src/vmx/definitions';
import { Msr } from '../../src/msr';
import { gnuToolsAvailable } from '../support/gnu-tools';
import { assembleGuest } from '../support/guest-asm';
import { objdump } from '../support/objdump';
import { loadFlatBinary } from '../../src/vmm/guest-image';
import { findInstruction, HELLO, ROOT, symbol } from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const NONE: ReadonlySet<string> = new Set();

function helloTarget(): DebugTarget {
  const image = loadGuestImage(new Uint8Array(fs.readFileSync(HELLO)));
  const machine = new Machine({ memoryMiB: 16 });
  machine.load(image);
  machine.start(image.entryPhysical, 'real');
  return new DebugTarget(machine);
}

test('the exit filters offered are exactly the reasons the VMX core produces', () => {
  const src = (f: string) => fs.readFileSync(path.join(ROOT, 'src/hardware/vmx', f), 'utf8');
  const named = new Set([...src('non-root.ts').matchAll(/\bR\.([A-Z_0-9]+)\.number/g)].map((m) => m[1]));
  // entry failures are numbered constants in vm-entry.ts
  for (const m of src('vm-entry.ts').matchAll(/\b[A-Z_]+ = (\d+)(?:, [A-Z_]+ = (\d+))?;/g)) {
    for (const n of [m[1], m[2]]) if (n !== undefined) named.add(exitReasonByNumber(Number(n))?.name ?? `?${n}`);
  }
  assert.deepEqual([...PRODUCIBLE_EXIT_REASONS].sort(), [...named].sort());
  for (const n of PRODUCIBLE_EXIT_REASONS) assert.ok(exitReasonByName(n) !== undefined, n);
});

test('a filtered exit stops before the VMM answers it; a step answers it and ends there', { skip }, () => {
  const t = helloTarget();
  const stop = t.run(1_000_000, new Set(['IO_INSTRUCTION']));
  assert.equal(stop.kind, 'exit');
  const out = findInstruction(symbol('serial_init'), /^out /);
  assert.equal(t.view.register('rip'), out.address);
  assert.equal(t.heldExit?.guestRip, out.address);
  assert.equal(t.heldExit?.instructionLength, out.bytes.length);
  assert.equal(t.view.register('rdx') & 0xffffn, symbol('COM1') + 1n);
  assert.equal(t.view.onProcessor, false, 'after an exit the guest state is in the VMCS');
  const instructions = t.machine.cpu.icount;
  assert.equal(t.step(NONE).kind, 'step');
  assert.equal(t.heldExit, undefined);
  assert.equal(t.view.register('rip'), out.address + BigInt(out.bytes.length));
  assert.equal(t.machine.cpu.icount, instructions, 'no guest instruction ran besides the answered one');
});

test('a breakpoint stops before the instruction; a step over its exit runs it and the VMM answers', { skip }, () => {
  const t = helloTarget();
  const first = findInstruction(symbol('serial_init'), /^out /);
  const second = findInstruction(first.address + 1n, /^out /);
  t.setBreakpoints([second.address]);
  assert.equal(t.run(1_000_000, NONE).kind, 'breakpoint');
  assert.equal(t.view.register('rip'), second.address);
  assert.equal(t.view.onProcessor, true, 'at a breakpoint the guest is still on the processor');
  assert.equal(t.step(NONE).kind, 'step');
  assert.equal(t.view.register('rip'), second.address + BigInt(second.bytes.length));
  assert.equal(t.lastExit?.name, 'IO_INSTRUCTION');
  assert.equal(t.lastExit?.guestRip, second.address);
  // a filter on the exit stops the step at it instead
  const third = findInstruction(second.address + 1n, /^out /);
  t.setBreakpoints([third.address]);
  assert.equal(t.run(1_000_000, NONE).kind, 'breakpoint');
  const s = t.step(new Set(['IO_INSTRUCTION']));
  assert.equal(s.kind, 'exit');
  assert.equal(t.view.register('rip'), third.address);
});

test('guest-linear reads go through the guest\'s paging and set no accessed bit', { skip }, () => {
  const t = helloTarget();
  t.setBreakpoints([symbol('serial_puts')]);
  assert.equal(t.run(1_000_000, NONE).kind, 'breakpoint');
  const at = symbol('serial_init');
  const listing = findInstruction(at, /./);
  assert.deepEqual([...t.view.readLinear(at, listing.bytes.length)], listing.bytes);
  // hello maps the first 2 MiB with 4-KiB pages at `pt`; 0x100000 is mapped but never touched
  const pte = Number(symbol('pt')) + 8 * (0x100000 >> 12);
  const before = t.machine.mem.read8(pte);
  assert.equal(before & 0x20, 0, 'accessed bit clear before');
  assert.equal(before & 1, 1, 'present');
  assert.equal(t.view.readLinear(0x100000n, 16).length, 16);
  assert.equal(t.machine.mem.read8(pte), before, 'the debugger\'s read left the PTE alone');
  // beyond the guest's 2 MiB there is no mapping: nothing is read
  assert.equal(t.view.readLinear(0x200000n, 16).length, 0);
  // a read that runs into the unmapped page stops there
  assert.equal(t.view.readLinear(0x200000n - 4n, 16).length, 4);
});

test('registers are written where the guest reads them next, and bad names are errors', { skip }, () => {
  const t = helloTarget();
  t.setBreakpoints([symbol('serial_puts')]);
  assert.equal(t.run(1_000_000, NONE).kind, 'breakpoint');
  t.view.setRegister('r12', 0x1122334455667788n);
  assert.equal(t.view.register('r12'), 0x1122334455667788n);
  t.view.setRegister('rflags', 0xffffffffn);
  // reserved bits stay clear and bit 1 set, whatever is written (SDM Vol. 1, 3.4.3)
  assert.equal(t.view.register('rflags'), 0x3f7fd7n);
  assert.throws(() => t.view.register('xyz'), GuestViewError);
  assert.throws(() => t.view.setRegister('rax', 1n << 64n), GuestViewError);
});

test('an exit the vCPU answers itself (CPUID) also stops before it is answered, with the registers the debugger left', { skip }, () => {
  const bytes = assembleGuest(['.code16', 'xor eax, eax', 'cpuid', 'hlt'], 0x8000);
  const cpuid = objdump(bytes, 16, 0x8000n).find((e) => e.text === 'cpuid');
  assert.ok(cpuid !== undefined);
  const image = loadFlatBinary(bytes, 0x8000);
  const machine = new Machine({ memoryMiB: 1 });
  machine.load(image);
  machine.start(0x8000n, 'real');
  const t = new DebugTarget(machine);
  const stop = t.run(1000, new Set(['CPUID']));
  assert.equal(stop.kind, 'exit');
  // RIP is at the CPUID and EAX still the leaf the guest chose
  assert.equal(t.view.register('rip'), cpuid.address);
  assert.equal(t.view.register('rax'), 0n);
  assert.equal(t.heldExit?.instructionLength, cpuid.bytes.length);
  // ask for the hypervisor's leaf instead; the vCPU answers what the registers say when it resumes
  t.view.setRegister('rax', 0x40000000n);
  assert.equal(t.step(NONE).kind, 'step');
  assert.equal(t.view.register('rip'), cpuid.address + BigInt(cpuid.bytes.length));
  const word = (s: string) => BigInt(Buffer.from(s, 'latin1').readUInt32LE(0));
  // CPUID 40000000H: the VMM's vendor signature "vmx-debug   " in EBX, ECX, EDX
  assert.equal(t.view.register('rbx'), word('vmx-'));
  assert.equal(t.view.register('rcx'), word('debu'));
  assert.equal(t.view.register('rdx'), word('g   '));
  assert.equal(machine.exitCounts.get('CPUID'), 1);
});

test('a breakpoint right after an instruction that exits is taken when the guest re-enters', { skip }, () => {
  const t = helloTarget();
  const out = findInstruction(symbol('serial_init'), /^out /);
  const next = out.address + BigInt(out.bytes.length);
  t.setBreakpoints([next]);
  assert.equal(t.run(1_000_000, NONE).kind, 'breakpoint');
  assert.equal(t.view.register('rip'), next);
  assert.equal(t.lastExit?.guestRip, out.address, 'the OUT exited and was answered first');
});

test('stepOut runs until the code returns past the stack it started on, in slices', { skip }, () => {
  const t = helloTarget();
  t.setBreakpoints([symbol('serial_putc')]);
  assert.equal(t.run(1_000_000, NONE).kind, 'breakpoint');
  t.setBreakpoints([]);
  const rsp = t.view.register('rsp');
  // one instruction per slice first: the caller gets 'budget' back and calls again
  assert.equal(t.stepOut(rsp, 1, NONE).kind, 'budget');
  assert.equal(t.stepOut(rsp, 1_000_000, NONE).kind, 'step');
  const call = findInstruction(symbol('serial_puts'), /^call .*<serial_putc>$/);
  assert.equal(t.view.register('rip'), call.address + BigInt(call.bytes.length));
  assert.equal(t.view.register('rsp'), rsp + 8n, 'the return address was popped');
});

test('after an exit the guest\'s VMCS-switched MSRs come from the VMCS, others from the processor', { skip }, () => {
  const t = helloTarget();
  assert.equal(t.run(1_000_000, new Set(['IO_INSTRUCTION'])).kind, 'exit');
  const m = t.machine;
  // make the guest's EFER differ from the host's (NXE, bit 11): the view must show the guest's
  const guest = m.vcpu.vmcs.read('GUEST_IA32_EFER') | 0x800n;
  m.vcpu.vmcs.write('GUEST_IA32_EFER', guest);
  assert.notEqual(BigInt(m.cpu.efer), guest);
  assert.equal(t.view.msr(Msr.IA32_EFER), guest);
  m.vcpu.vmcs.write('GUEST_SYSENTER_EIP', 0x1234n);
  assert.equal(t.view.msr(Msr.IA32_SYSENTER_EIP), 0x1234n);
  // LSTAR is not switched by VM entry/exit (SDM 27.3.2.1): the processor's value is the guest's
  m.cpu.msrs.wrmsr(Msr.IA32_LSTAR.address, 0xffff800000001000n);
  assert.equal(t.view.msr(Msr.IA32_LSTAR), 0xffff800000001000n);
  // the VMX capability MSRs are there, an address the processor lacks is not
  assert.ok(t.view.msrs().some((x) => x.msr.name === 'IA32_VMX_BASIC'));
});

test('continuing from a held exit stops at a breakpoint on the instruction after it (answering the exit moved RIP there)', { skip }, () => {
  const t = helloTarget();
  const out = findInstruction(symbol('serial_init'), /^out /);
  const next = out.address + BigInt(out.bytes.length);
  assert.equal(t.run(1_000_000, new Set(['IO_INSTRUCTION'])).kind, 'exit');
  assert.equal(t.view.register('rip'), out.address);
  t.setBreakpoints([next]);
  const instructions = t.machine.cpu.icount;
  assert.equal(t.run(1_000_000, NONE).kind, 'breakpoint');
  assert.equal(t.view.register('rip'), next);
  assert.equal(t.machine.cpu.icount, instructions, 'the instruction at the breakpoint has not run');
  // from the breakpoint itself the run goes on (it is resumed from, not taken again)
  t.setBreakpoints([next, findInstruction(next + 1n, /^out /).address]);
  assert.equal(t.run(1_000_000, NONE).kind, 'breakpoint');
  assert.notEqual(t.view.register('rip'), next);
});
