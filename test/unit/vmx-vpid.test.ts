// Cached translations across VM exits and entries (SDM Vol. 3C, 29.4.3.1): without "enable VPID"
// every VM entry and exit invalidates the mappings of VPID 0000H, which the guest shares with the
// host; with it, the guest's mappings are tagged with its VPID and survive its exits, until an
// INVVPID (or INVEPT) drops them. The guest below points its own PTE elsewhere without INVLPG,
// exits on CPUID, and reads the page again: a stale read shows a translation that survived.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { defaultVmxCapabilities, withoutControls } from '../../src/hardware/vmx/capabilities';
import { controlMask, SECONDARY_PROCESSOR_CONTROLS } from '../../src/vmx/controls';
import { Machine } from '../../src/vmm/machine';
import { loadFlatBinary } from '../../src/vmm/guest-image';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';

const skip = !nativeOracleAvailable() && 'needs GNU as';
const PML4 = 0x200000, PDPT = 0x201000, PD = 0x202000, PT = 0x203000, PAGE_A = 0x300000, PAGE_B = 0x301000, OUT = 0x8000;
const A = 0xaaaa_0001n, B = 0xbbbb_0002n;

/** A long-mode guest on its own tables: reads linear 0x400000 (PAGE_A), remaps it to PAGE_B without INVLPG, exits, reads again. */
function remapAcrossExit(vpid: boolean): Machine {
  const caps = vpid ? defaultVmxCapabilities() : withoutControls(defaultVmxCapabilities(), { secondary: controlMask(SECONDARY_PROCESSOR_CONTROLS, 'enable VPID') });
  const m = new Machine({ memoryMiB: 16, vmxCapabilities: caps });
  const entry = (at: number, value: number) => { m.mem.write(at, 4, value >>> 0); m.mem.write(at + 4, 4, 0); };
  entry(PML4, PDPT | 3);
  entry(PDPT, PD | 3);
  entry(PD, 0x000000 | 0x83); // 0-2 MiB identity (code, results)
  entry(PD + 8, 0x200000 | 0x83); // 2-4 MiB identity (the tables)
  entry(PD + 16, PT | 3); // 4-6 MiB: 4-KiB pages
  entry(PT, PAGE_A | 3);
  m.mem.write(PAGE_A, 4, Number(A)); m.mem.write(PAGE_B, 4, Number(B));
  const code = assembleIntel([
    `mov eax, ${PML4}`, 'mov cr3, rax',
    'mov r9, [0x400000]',
    `mov dword ptr [${PT}], ${PAGE_B | 3}`,
    'xor eax, eax', 'cpuid',
    'mov r10, [0x400000]',
    `mov [${OUT}], r9`, `mov [${OUT + 8}], r10`,
    'mov eax, 2', 'xor edi, edi', 'vmcall', 'hlt',
  ]);
  m.load(loadFlatBinary(code, 0x100000));
  m.start(0x100000n, 'long');
  return m;
}

const reads = (m: Machine) => ({ first: m.mem.read64(OUT), second: m.mem.read64(OUT + 8) });
const SHUTDOWN = { kind: 'shutdown', exitCode: 0, how: 'hypercall' };

test('without "enable VPID", the CPUID exit and the entry after it invalidate the guest\'s translation: the read after it sees the new PTE', { skip }, () => {
  const m = remapAcrossExit(false);
  assert.equal(m.vcpu.vmcs.read('SECONDARY_VM_EXEC_CONTROL') & BigInt(controlMask(SECONDARY_PROCESSOR_CONTROLS, 'enable VPID')), 0n);
  assert.deepEqual(m.run(10_000), SHUTDOWN);
  assert.deepEqual(reads(m), { first: A, second: B });
  assert.equal(m.exitCounts.get('CPUID'), 1);
});

test('with "enable VPID", the guest\'s translation survives its CPUID exit: the read after it still sees the old page', { skip }, () => {
  const m = remapAcrossExit(true);
  assert.equal(m.vcpu.vmcs.read('VIRTUAL_PROCESSOR_ID'), BigInt(m.vcpu.vpid));
  assert.notEqual(m.vcpu.vpid, 0, 'VPID 0000H is the host\'s');
  assert.deepEqual(m.run(10_000), SHUTDOWN);
  assert.deepEqual(reads(m), { first: A, second: A });
  assert.equal(m.exitCounts.get('CPUID'), 1);
});

test('with "enable VPID", a run that stopped at the exit invalidates the guest\'s translations when it resumes (INVVPID): host code may have edited them', { skip }, () => {
  const m = remapAcrossExit(true);
  assert.equal(m.run(10_000, { breakOn: new Set(['CPUID']) }).kind, 'break');
  assert.deepEqual(m.run(10_000), SHUTDOWN);
  assert.deepEqual(reads(m), { first: A, second: B });
});

test('with "enable VPID", an exit hook (host code that may edit guest memory) is followed by INVVPID', { skip }, () => {
  const m = remapAcrossExit(true);
  let seen = 0;
  assert.deepEqual(m.run(10_000, { onExit: () => { seen++; } }), SHUTDOWN);
  assert.ok(seen >= 2, 'CPUID and VMCALL');
  assert.deepEqual(reads(m), { first: A, second: B });
});
