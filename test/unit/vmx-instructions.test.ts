// VMX instruction conventions that need no CPU: reading and writing the outcome in RFLAGS
// (SDM Vol. 3, 31.2) and the INVEPT / INVVPID descriptor layouts (31.3).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  DESCRIPTOR_SIZE, InveptType, InvvpidType, VmxFail, VmxStatus, checkVmxStatus, inveptDescriptor, invvpidDescriptor,
  parseInveptDescriptor, parseInvvpidDescriptor, rflagsForVmFailInvalid, rflagsForVmFailValid, rflagsForVmSucceed,
  vmxStatusFromRflags,
} from '../../src/vmx/instructions';
import { VmInstructionErrorNumber, VmxInstructionError } from '../../src/vmx/definitions';

const CF = 1n, PF = 1n << 2n, AF = 1n << 4n, ZF = 1n << 6n, SF = 1n << 7n, OF = 1n << 11n;
const ALL_STATUS = CF | PF | AF | ZF | SF | OF;

function counter(value: number): { read: () => number; calls: () => number } {
  let n = 0;
  return { read: () => { n++; return value; }, calls: () => n };
}

test('31.2: neither CF nor ZF is VMsucceed, and the error field is not read', () => {
  const c = counter(12);
  assert.deepEqual(vmxStatusFromRflags(0x2n, c.read), { status: VmxStatus.Succeed });
  assert.deepEqual(vmxStatusFromRflags(0x2 | 0x4 | 0x10 | 0x80 | 0x800 | 0x200, c.read), { status: VmxStatus.Succeed }, 'PF, AF, SF, OF, IF do not matter');
  assert.equal(c.calls(), 0);
});

test('31.2: CF=1 is VMfailInvalid, and the error field is not read', () => {
  const c = counter(12);
  assert.deepEqual(vmxStatusFromRflags(0x3n, c.read), { status: VmxStatus.FailInvalid });
  assert.deepEqual(vmxStatusFromRflags(0x3, c.read), { status: VmxStatus.FailInvalid });
  assert.equal(c.calls(), 0);
});

test('31.2: ZF=1 is VMfailValid with the VM-instruction error read through the callback', () => {
  const c = counter(VmInstructionErrorNumber.VMREAD_VMWRITE_UNSUPPORTED_COMPONENT);
  const r = vmxStatusFromRflags(0x46n, c.read);
  assert.equal(r.status, VmxStatus.FailValid);
  assert.ok(r.status === VmxStatus.FailValid && r.error instanceof VmxInstructionError);
  assert.equal(r.status === VmxStatus.FailValid ? r.error.number : -1, 12);
  assert.equal(r.status === VmxStatus.FailValid ? r.error.text : '', 'VMREAD/VMWRITE from/to unsupported VMCS component');
  assert.equal(c.calls(), 1);
  const unknown = vmxStatusFromRflags(ZF, () => 99);
  assert.equal(unknown.status === VmxStatus.FailValid && unknown.error.known, false);
});

test('CF and ZF both set is taken as VMfailInvalid (CF says there is no VMCS to read the error from)', () => {
  const c = counter(7);
  assert.deepEqual(vmxStatusFromRflags(CF | ZF | 2n, c.read), { status: VmxStatus.FailInvalid });
  assert.equal(c.calls(), 0);
});

test('RFLAGS beyond 32 bits are taken as bigints; bad values are RangeErrors', () => {
  assert.equal(vmxStatusFromRflags((1n << 63n) | ZF, () => 4).status, VmxStatus.FailValid);
  assert.throws(() => vmxStatusFromRflags(1n << 64n, () => 0), RangeError);
  assert.throws(() => vmxStatusFromRflags(-1n, () => 0), RangeError);
  assert.throws(() => vmxStatusFromRflags(2 ** 60, () => 0), /pass a bigint/);
  assert.throws(() => vmxStatusFromRflags(1.5, () => 0), RangeError);
});

test('checkVmxStatus returns on success and throws VmxFail with the kind and error text', () => {
  assert.doesNotThrow(() => checkVmxStatus(2n, () => 0));
  assert.throws(() => checkVmxStatus(CF, () => 0, 'vmptrld'), (e: unknown) => {
    assert.ok(e instanceof VmxFail && e instanceof Error);
    assert.equal(e.kind, 'invalid');
    assert.equal(e.error, undefined);
    assert.equal(e.instruction, 'vmptrld');
    assert.equal(e.name, 'VmxFail');
    assert.match(e.message, /^vmptrld: VMfailInvalid/);
    return true;
  });
  assert.throws(() => checkVmxStatus(ZF, () => 4, 'vmlaunch'), (e: unknown) => {
    assert.ok(e instanceof VmxFail);
    assert.equal(e.kind, 'valid');
    assert.equal(e.error?.number, 4);
    assert.equal(e.message, 'vmlaunch: VMfailValid: VmxInstructionError(4: VMLAUNCH with non-clear VMCS)');
    return true;
  });
  assert.throws(() => checkVmxStatus(ZF, () => 13), { message: 'VMfailValid: VmxInstructionError(13: VMWRITE to read-only VMCS component)' });
});

test('31.2: rflagsFor* write the six status flags and keep every other bit', () => {
  const others = 0xffff_ffff_ffff_ffffn & ~ALL_STATUS;
  for (const before of [0x2n, 0xffff_ffff_ffff_ffffn, 0x246n, 0x8d7n, 1n << 63n | 0x202n]) {
    const kept = before & others;
    assert.equal(rflagsForVmSucceed(before), kept);
    assert.equal(rflagsForVmFailInvalid(before), kept | CF);
    assert.equal(rflagsForVmFailValid(before), kept | ZF);
    // the written flags read back as the outcome they encode
    assert.equal(vmxStatusFromRflags(rflagsForVmSucceed(before), () => 0).status, VmxStatus.Succeed);
    assert.equal(vmxStatusFromRflags(rflagsForVmFailInvalid(before), () => 0).status, VmxStatus.FailInvalid);
    assert.equal(vmxStatusFromRflags(rflagsForVmFailValid(before), () => 5).status, VmxStatus.FailValid);
  }
  assert.equal(rflagsForVmSucceed(0xfffn), 0xfffn & ~(CF | PF | AF | ZF | SF | OF));
  assert.equal(rflagsForVmSucceed(0xfffn), 0x72an);
  assert.equal(rflagsForVmFailInvalid(0x8d5n), 0x1n, 'CF|PF|AF|ZF|SF|OF set before; only CF after');
  assert.equal(rflagsForVmFailValid(0x8d5n), 0x40n);
  assert.equal(rflagsForVmFailInvalid(0x2n), 0x3n);
  assert.equal(rflagsForVmFailValid(0x2n), 0x42n);
  assert.throws(() => rflagsForVmSucceed(1n << 64n), RangeError);
});

test('INVEPT and INVVPID type numbers', () => {
  assert.deepEqual([InveptType.SingleContext, InveptType.Global], [1, 2]);
  assert.deepEqual(
    [InvvpidType.IndividualAddress, InvvpidType.SingleContext, InvvpidType.AllContext, InvvpidType.SingleContextRetainingGlobals],
    [0, 1, 2, 3],
  );
});

test('INVEPT descriptor: EPTP little-endian in bytes 0-7, bytes 8-15 zero', () => {
  const d = inveptDescriptor(0x0000_0001_2345_601en);
  assert.equal(d.length, DESCRIPTOR_SIZE);
  assert.deepEqual([...d], [0x1e, 0x60, 0x45, 0x23, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(parseInveptDescriptor(d), { eptp: 0x0000_0001_2345_601en, reserved: 0n, reservedBitsSet: false });
  assert.deepEqual([...inveptDescriptor(0xffff_ffff_ffff_ffffn).subarray(0, 8)], [255, 255, 255, 255, 255, 255, 255, 255]);
  const dirty = inveptDescriptor(0x1000n);
  dirty[15] = 0x80;
  assert.deepEqual(parseInveptDescriptor(dirty), { eptp: 0x1000n, reserved: 1n << 63n, reservedBitsSet: true });
  const big = new Uint8Array(48);
  big.set(d, 16);
  assert.equal(parseInveptDescriptor(big.subarray(16, 32)).eptp, 0x0000_0001_2345_601en, 'a view at an offset');
  assert.throws(() => inveptDescriptor(1n << 64n), RangeError);
  assert.throws(() => inveptDescriptor(-1n), RangeError);
  assert.throws(() => parseInveptDescriptor(new Uint8Array(15)), /16 bytes, got 15/);
});

test('INVVPID descriptor: VPID in bits 15:0, 63:16 reserved, linear address in bytes 8-15', () => {
  const d = invvpidDescriptor(0x1234, 0xffff_8000_dead_b000n);
  assert.deepEqual([...d], [0x34, 0x12, 0, 0, 0, 0, 0, 0, 0x00, 0xb0, 0xad, 0xde, 0x00, 0x80, 0xff, 0xff]);
  assert.deepEqual(parseInvvpidDescriptor(d), {
    vpid: 0x1234, reserved: 0n, reservedBitsSet: false, linearAddress: 0xffff_8000_dead_b000n,
  });
  assert.deepEqual([...invvpidDescriptor(1)], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 'address defaults to 0');
  const dirty = invvpidDescriptor(0xffff);
  dirty[2] = 0x01;
  dirty[7] = 0x80;
  const p = parseInvvpidDescriptor(dirty);
  assert.equal(p.vpid, 0xffff);
  assert.equal(p.reservedBitsSet, true);
  assert.equal(p.reserved, (1n << 47n) | 1n, 'bits 63:16 shifted down');
  for (const bad of [-1, 0x1_0000, 1.5]) assert.throws(() => invvpidDescriptor(bad), RangeError);
  assert.throws(() => invvpidDescriptor(0, 1n << 64n), RangeError);
  assert.throws(() => parseInvvpidDescriptor(new Uint8Array(17)), /INVVPID descriptor is 16 bytes, got 17/);
});
