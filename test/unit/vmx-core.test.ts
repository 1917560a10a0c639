// The VMX core through its instruction interface: VMXON .. VMLAUNCH/VMRESUME, VM-instruction
// errors of SDM 31.4, and VM exits of real guest code with the SDM's exit information.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { GUEST_CODE, prepareGuest, vmxHost } from '../support/vmx-host';
import { getRflags } from '../../src/hardware/flags';
import { VmxExitReason } from '../../src/vmx/definitions';

const skip = !nativeOracleAvailable() && 'needs GNU as';

test('a 64-bit guest executing CPUID exits with reason 10, RIP at the instruction and its length', { skip }, () => {
  const h = vmxHost();
  prepareGuest(h);
  h.mem.writeBytes(GUEST_CODE, assembleIntel(['mov eax, 1', 'cpuid', 'hlt']));
  const r = h.vmx.vmlaunch();
  assert.equal(r.kind, 'entered', h.vmx.lastEntryProblem);
  const out = h.cpu.run(100);
  assert.deepEqual(out, { kind: 'vm-exit', reason: VmxExitReason.CPUID.number });
  assert.equal(h.read('VM_EXIT_REASON'), 10n);
  assert.equal(h.read('GUEST_RIP'), BigInt(GUEST_CODE + 5));
  assert.equal(h.read('VM_EXIT_INSTRUCTION_LEN'), 2n);
  assert.equal(h.cpu.rip, 0xdead000n, 'host state loaded');
  assert.equal(getRflags(h.cpu), 2);
});
