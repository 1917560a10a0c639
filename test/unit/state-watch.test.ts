// The MSR/VMCS write watch in plain Node: hooks exist only while something is watched (WRMSR
// and VMWRITE cost nothing more otherwise); and the memory-reference syntax and the table of
// VMCS address fields.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Msr } from '../../src/msr';
import { DebugTarget } from '../../src/vmm/debug-target';
import { loadGuestImage } from '../../src/vmm/guest-image';
import { Machine } from '../../src/vmm/machine';
import { memoryReference, parseMemoryReference } from '../../src/vmm/memory-spaces';
import { StateWatchError } from '../../src/vmm/state-watch';
import { addressOfField, VMCS_ADDRESS_FIELDS } from '../../src/vmx/vmcs-address-fields';
import { vmcsFieldByName } from '../../src/vmx/vmcs-fields';

const ROOT = path.resolve(__dirname, '../../..');

function helloTarget(): DebugTarget {
  const image = loadGuestImage(new Uint8Array(fs.readFileSync(path.join(ROOT, 'samples/hello/hello.elf'))));
  const machine = new Machine({ memoryMiB: 4 });
  machine.load(image);
  machine.start(image.entryPhysical, 'real');
  return new DebugTarget(machine);
}

test('write hooks are installed only while an MSR or a VMCS field is watched', () => {
  const t = helloTarget();
  const { cpu, vmx } = t.machine;
  assert.equal(cpu.msrs.onWrite, undefined);
  assert.equal(vmx.onFieldWrite, undefined);
  t.setStateWatches([{ kind: 'msr', msr: Msr.IA32_STAR }]);
  assert.notEqual(cpu.msrs.onWrite, undefined);
  assert.equal(vmx.onFieldWrite, undefined);
  t.setStateWatches([{ kind: 'vmcs', field: 'GUEST_RIP' }]);
  assert.equal(cpu.msrs.onWrite, undefined);
  assert.notEqual(vmx.onFieldWrite, undefined);
  t.setStateWatches([]);
  assert.equal(cpu.msrs.onWrite, undefined);
  assert.equal(vmx.onFieldWrite, undefined);
  assert.throws(() => t.setStateWatches([{ kind: 'vmcs', field: 'NO_SUCH_FIELD' }]), StateWatchError);
});

test('memory references: 0x… guest-linear, phys:0x… guest-physical, host:0x… host-physical', () => {
  assert.deepEqual(parseMemoryReference('0x8000'), { space: 'linear', address: 0x8000n });
  assert.deepEqual(parseMemoryReference('32768'), { space: 'linear', address: 0x8000n });
  assert.deepEqual(parseMemoryReference('phys:0x9000'), { space: 'phys', address: 0x9000n });
  assert.deepEqual(parseMemoryReference(' HOST:0x1000 '), { space: 'host', address: 0x1000n });
  for (const bad of ['', 'phys:', 'gpa:0x10', '0x', 'phys:0x10000000000000000', 'rsp']) assert.equal(parseMemoryReference(bad), undefined, bad);
  for (const space of ['linear', 'phys', 'host'] as const) {
    assert.deepEqual(parseMemoryReference(memoryReference(space, 0xfee00000n)), { space, address: 0xfee00000n });
  }
});

test('VMCS address fields: real field names; flags below the page dropped; the link pointer\'s all-ones means none', () => {
  for (const name of Object.keys(VMCS_ADDRESS_FIELDS)) assert.ok(vmcsFieldByName(name) !== undefined, name);
  // EPTP: bits 2:0 memory type, 5:3 walk length - 1, 6 A/D enable (SDM Vol. 3C, 25.6.11)
  assert.deepEqual(addressOfField('EPT_POINTER', 0x12345000n | 0x5en), { space: 'host', address: 0x12345000n });
  assert.deepEqual(addressOfField('MSR_BITMAP', 0x4000n), { space: 'host', address: 0x4000n });
  assert.deepEqual(addressOfField('GUEST_PHYSICAL_ADDRESS', 0xfed000f0n), { space: 'phys', address: 0xfed000f0n });
  assert.deepEqual(addressOfField('GUEST_RIP', 0x8123n), { space: 'linear', address: 0x8123n });
  assert.equal(addressOfField('VMCS_LINK_POINTER', (1n << 64n) - 1n), undefined);
  assert.equal(addressOfField('EXCEPTION_BITMAP', 0x4000n), undefined);
});
