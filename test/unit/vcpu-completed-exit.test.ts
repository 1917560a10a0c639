// VmxVcpu.advanceRip: when the vCPU or the VMM completes the instruction that exited (I/O, MSR,
// CPUID, HLT, hypercalls …), the guest resumes after it, and blocking by STI or by MOV SS ends
// with that instruction (SDM Vol. 3C, Table 25-3: STI blocking lasts until the instruction after
// STI completes). Otherwise `sti; hlt` woken by a timer would find the interrupt still blocked.
// NMI blocking is not tied to an instruction and stays.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Machine } from '../../src/vmm/machine';

const STI = 1n, MOV_SS = 2n, NMI = 8n;

test('advanceRip moves RIP by the length and ends STI/MOV-SS blocking, keeping NMI blocking', () => {
  const m = new Machine({ memoryMiB: 2 });
  m.start(0x1000n, 'long');
  const v = m.vcpu.vmcs;
  const cases: Array<[bigint, bigint]> = [[STI, 0n], [MOV_SS, 0n], [STI | NMI, NMI], [MOV_SS | NMI, NMI], [NMI, NMI], [0n, 0n]];
  for (const [before, after] of cases) {
    v.write('GUEST_INTERRUPTIBILITY_INFO', before);
    const rip = v.read('GUEST_RIP');
    m.vcpu.advanceRip(3);
    assert.equal(v.read('GUEST_RIP'), rip + 3n);
    assert.equal(v.read('GUEST_INTERRUPTIBILITY_INFO'), after, `interruptibility 0x${before.toString(16)}`);
  }
});
