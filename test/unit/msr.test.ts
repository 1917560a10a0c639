// The MSR table against the SDM's numbers, the MsrStore access layer, and the MsrReadWrite
// decoders (x86_vcpu src/msr.rs and its VmxBasic / FeatureControl users).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { decodeFields, fieldsMask } from '../../src/bitfields';
import {
  ALL_MSRS, CONTROL_CAPABILITY_MSRS, ControlCapability, FeatureControl, FeatureControlFlags,
  MapMsrStore, Msr, MSR_GROUPS, MsrAccessError, msrByAddress, msrByName, MsrInfo, MsrReadWrite,
  MsrStore, readMsr, VmxBasic, writeMsr,
} from '../../src/msr';

// Addresses as printed in Intel SDM Vol. 4, Table 2-2 "IA-32 Architectural MSRs" (the VMX
// capability MSRs also in Vol. 3D, Appendix A). Written out here, not derived from the table.
const SDM_ADDRESSES: ReadonlyArray<[string, number]> = [
  ['IA32_TIME_STAMP_COUNTER', 0x10],
  ['IA32_APIC_BASE', 0x1b],
  ['IA32_FEATURE_CONTROL', 0x3a],
  ['IA32_TSC_ADJUST', 0x3b],
  ['IA32_MTRRCAP', 0xfe],
  ['IA32_SYSENTER_CS', 0x174],
  ['IA32_SYSENTER_ESP', 0x175],
  ['IA32_SYSENTER_EIP', 0x176],
  ['IA32_MCG_CAP', 0x179],
  ['IA32_MCG_STATUS', 0x17a],
  ['IA32_MISC_ENABLE', 0x1a0],
  ['IA32_DEBUGCTL', 0x1d9],
  ['IA32_PAT', 0x277],
  ['IA32_MTRR_DEF_TYPE', 0x2ff],
  ['IA32_PERF_GLOBAL_CTRL', 0x38f],
  ['IA32_VMX_BASIC', 0x480],
  ['IA32_VMX_PINBASED_CTLS', 0x481],
  ['IA32_VMX_PROCBASED_CTLS', 0x482],
  ['IA32_VMX_EXIT_CTLS', 0x483],
  ['IA32_VMX_ENTRY_CTLS', 0x484],
  ['IA32_VMX_MISC', 0x485],
  ['IA32_VMX_CR0_FIXED0', 0x486],
  ['IA32_VMX_CR0_FIXED1', 0x487],
  ['IA32_VMX_CR4_FIXED0', 0x488],
  ['IA32_VMX_CR4_FIXED1', 0x489],
  ['IA32_VMX_VMCS_ENUM', 0x48a],
  ['IA32_VMX_PROCBASED_CTLS2', 0x48b],
  ['IA32_VMX_EPT_VPID_CAP', 0x48c],
  ['IA32_VMX_TRUE_PINBASED_CTLS', 0x48d],
  ['IA32_VMX_TRUE_PROCBASED_CTLS', 0x48e],
  ['IA32_VMX_TRUE_EXIT_CTLS', 0x48f],
  ['IA32_VMX_TRUE_ENTRY_CTLS', 0x490],
  ['IA32_VMX_VMFUNC', 0x491],
  ['IA32_VMX_PROCBASED_CTLS3', 0x492],
  ['IA32_BNDCFGS', 0xd90],
  ['IA32_XSS', 0xda0],
  ['IA32_EFER', 0xc0000080],
  ['IA32_STAR', 0xc0000081],
  ['IA32_LSTAR', 0xc0000082],
  ['IA32_CSTAR', 0xc0000083],
  ['IA32_FMASK', 0xc0000084],
  ['IA32_FS_BASE', 0xc0000100],
  ['IA32_GS_BASE', 0xc0000101],
  ['IA32_KERNEL_GSBASE', 0xc0000102],
  ['IA32_TSC_AUX', 0xc0000103],
];

/** Names of the fields of `msr` that are non-zero in `value`. */
function setFields(msr: MsrInfo, value: bigint): string[] {
  return decodeFields(value, msr.fields ?? []).filter((d) => d.value !== 0n).map((d) => d.field.name);
}

/** A store that records every access, to see what the accessors actually do. */
class RecordingStore implements MsrStore {
  readonly log: string[] = [];
  rdmsr(address: number): bigint {
    this.log.push(`rd ${address.toString(16)}`);
    return 0n;
  }
  wrmsr(address: number, value: bigint): void {
    this.log.push(`wr ${address.toString(16)}=${value.toString(16)}`);
  }
}

test('every MSR sits at the address the SDM gives it, by enum, name and address', () => {
  const byName = Msr as Readonly<Record<string, MsrInfo | undefined>>;
  for (const [name, address] of SDM_ADDRESSES) {
    assert.equal(byName[name]?.address, address, name);
    assert.equal(msrByName(name)?.address, address, name);
    assert.equal(msrByAddress(address)?.name, name, `0x${address.toString(16)}`);
  }
  assert.equal(Msr.IA32_EFER.address, 0xc0000080);
  assert.equal(msrByName('ia32_efer'), Msr.IA32_EFER, 'names are case-insensitive');
  assert.equal(msrByName('Ia32_Vmx_Basic'), Msr.IA32_VMX_BASIC);
  assert.equal(msrByName('IA32_NO_SUCH_MSR'), undefined);
  assert.equal(msrByName('EFER'), undefined, 'only full SDM names are accepted');
  assert.equal(msrByAddress(0x12345), undefined);
});

test('the table: names and addresses unique, sorted by address, groups all listed and used', () => {
  const names = ALL_MSRS.map((m) => m.name);
  const addresses = ALL_MSRS.map((m) => m.address);
  assert.equal(new Set(names).size, names.length, 'duplicate name');
  assert.equal(new Set(addresses).size, addresses.length, 'duplicate address');
  for (let i = 1; i < addresses.length; i++) {
    assert.ok(addresses[i - 1] < addresses[i], `${names[i - 1]} is listed before ${names[i]} but is not below it`);
  }
  for (const m of ALL_MSRS) {
    assert.ok(Number.isInteger(m.address) && m.address >= 0 && m.address <= 0xffffffff, m.name);
    assert.ok((MSR_GROUPS as readonly string[]).includes(m.group), `${m.name}: group ${m.group}`);
    assert.ok(m.description.length > 0, m.name);
    assert.ok(Object.isFrozen(m), `${m.name} is shared data and must be frozen`);
  }
  for (const g of MSR_GROUPS) assert.ok(ALL_MSRS.some((m) => m.group === g), `group ${g} is empty`);
  assert.equal(Object.keys(Msr).length, ALL_MSRS.length);
});

test('the VMX capability MSRs 0x480-0x492 are all there, with no gap', () => {
  const vmx = ALL_MSRS.filter((m) => m.address >= 0x480 && m.address <= 0x492);
  assert.deepEqual(vmx.map((m) => m.address), Array.from({ length: 0x13 }, (_, i) => 0x480 + i));
  assert.ok(vmx.every((m) => m.group === 'VMX capability' && m.name.startsWith('IA32_VMX_')));
  assert.deepEqual(ALL_MSRS.filter((m) => m.group === 'VMX capability'), vmx);
});

test('bit fields: inside 64 bits, no overlap, unique names; control capabilities split 32/32', () => {
  for (const m of ALL_MSRS) {
    const fields = m.fields ?? [];
    assert.equal(new Set(fields.map((f) => f.name)).size, fields.length, `${m.name}: duplicate field name`);
    let covered = 0n;
    for (const f of fields) {
      assert.ok(f.width >= 1 && f.lsb >= 0 && f.lsb + f.width <= 64, `${m.name}.${f.name}`);
      const mask = fieldsMask([f]);
      assert.equal(covered & mask, 0n, `${m.name}.${f.name} overlaps another field`);
      covered |= mask;
    }
  }
  assert.equal(CONTROL_CAPABILITY_MSRS.length, 9);
  for (const m of CONTROL_CAPABILITY_MSRS) {
    assert.deepEqual(m.fields?.map((f) => [f.name, f.lsb, f.width]), [['allowed0', 0, 32], ['allowed1', 32, 32]], m.name);
  }
  for (const m of [Msr.IA32_VMX_CR0_FIXED0, Msr.IA32_VMX_CR0_FIXED1, Msr.IA32_VMX_CR4_FIXED0, Msr.IA32_VMX_CR4_FIXED1]) {
    assert.equal(m.fields, undefined, m.name);
  }
});

test('IA32_EFER 0xd01 decodes to SCE, LME, LMA and NXE', () => {
  assert.deepEqual(setFields(Msr.IA32_EFER, 0xd01n), ['SCE', 'LME', 'LMA', 'NXE']);
  assert.deepEqual(setFields(Msr.IA32_EFER, 0x500n), ['LME', 'LMA']);
});

test('IA32_PAT 0x0007040600070406 (the reset value) names WB, WT, UC-, UC twice', () => {
  const decoded = decodeFields(0x0007040600070406n, Msr.IA32_PAT.fields ?? []);
  assert.deepEqual(decoded.map((d) => d.field.name), ['PA0', 'PA1', 'PA2', 'PA3', 'PA4', 'PA5', 'PA6', 'PA7']);
  assert.deepEqual(decoded.map((d) => d.meaning), ['WB', 'WT', 'UC-', 'UC', 'WB', 'WT', 'UC-', 'UC']);
  const wc = decodeFields(0x01_05n, Msr.IA32_PAT.fields ?? []);
  assert.deepEqual([wc[0].meaning, wc[1].meaning, wc[2].meaning], ['WP', 'WC', 'UC']);
  assert.equal(decodeFields(0x2n, Msr.IA32_PAT.fields ?? [])[0].meaning, undefined, '2 is a reserved memory type');
});

test('IA32_MTRR_DEF_TYPE and IA32_APIC_BASE decode type names, enables and the base', () => {
  const def = decodeFields(0xc06n, Msr.IA32_MTRR_DEF_TYPE.fields ?? []);
  assert.deepEqual(def.map((d) => [d.field.name, d.value, d.meaning]), [['Type', 6n, 'WB'], ['FE', 1n, undefined], ['E', 1n, undefined]]);
  assert.equal(decodeFields(7n, Msr.IA32_MTRR_DEF_TYPE.fields ?? [])[0].meaning, undefined, 'UC- is a PAT type, not an MTRR type');
  const apic = decodeFields(0xfee00900n, Msr.IA32_APIC_BASE.fields ?? []);
  assert.deepEqual(apic.map((d) => [d.field.name, d.value]), [['BSP', 1n], ['EXTD', 0n], ['EN', 1n], ['APIC_BASE', 0xfee00n]]);
});

test('IA32_VMX_MISC and IA32_VMX_EPT_VPID_CAP: realistic values are fully named', () => {
  const misc = 0x300481e5n;
  const m = new Map(decodeFields(misc, Msr.IA32_VMX_MISC.fields ?? []).map((d) => [d.field.name, d.value]));
  assert.equal(m.get('preemptionTimerRate'), 5n);
  assert.equal(m.get('storesEferLma'), 1n);
  assert.equal(m.get('activityHlt'), 1n);
  assert.equal(m.get('activityShutdown'), 1n);
  assert.equal(m.get('activityWaitForSipi'), 1n);
  assert.equal(m.get('intelPtInVmx'), 0n);
  assert.equal(m.get('rdmsrSmbaseInSmm'), 1n);
  assert.equal(m.get('cr3TargetCount'), 4n);
  assert.equal(m.get('msrListMax'), 0n);
  assert.equal(m.get('smmMonitorCtlBit2'), 1n);
  assert.equal(m.get('vmwriteAnyField'), 1n);
  assert.equal(m.get('injectZeroLength'), 0n);
  assert.equal(misc & ~fieldsMask(Msr.IA32_VMX_MISC.fields ?? []), 0n, 'no set bit is left unnamed');

  const ept = 0x00000f0106734141n;
  assert.deepEqual(setFields(Msr.IA32_VMX_EPT_VPID_CAP, ept), [
    'executeOnly', 'pageWalkLength4', 'memTypeUc', 'memTypeWb', 'pde2MB', 'pdpte1GB', 'invept',
    'accessedDirty', 'advancedExitInfo', 'inveptSingleContext', 'inveptAllContext', 'invvpid',
    'invvpidIndividualAddress', 'invvpidSingleContext', 'invvpidAllContext', 'invvpidSingleContextRetainingGlobals',
  ]);
  assert.equal(ept & ~fieldsMask(Msr.IA32_VMX_EPT_VPID_CAP.fields ?? []), 0n);
  assert.deepEqual(decodeFields(0x2en, Msr.IA32_VMX_VMCS_ENUM.fields ?? []).map((d) => d.value), [0x17n]);
});

test('VmxBasic decodes a realistic IA32_VMX_BASIC value', () => {
  const store = new MapMsrStore([[Msr.IA32_VMX_BASIC, 0x00da040000000004n]]);
  const basic = VmxBasic.read(store);
  assert.equal(basic.raw, 0x00da040000000004n);
  assert.equal(basic.revisionId, 4);
  assert.equal(basic.regionSize, 0x400);
  assert.equal(basic.physAddrWidth32, false);
  assert.equal(basic.dualMonitor, true);
  assert.equal(basic.memType, 6);
  assert.equal(basic.memTypeName, 'WB');
  assert.equal(basic.insOutsInfo, true);
  assert.equal(basic.trueControls, true);
  assert.equal(basic.noErrorCodeRequirement, false);
  assert.equal(basic.useTrueControls, true);
  assert.equal(basic.capabilityMsrFor(Msr.IA32_VMX_PINBASED_CTLS), Msr.IA32_VMX_TRUE_PINBASED_CTLS);
  assert.equal(basic.capabilityMsrFor(Msr.IA32_VMX_PROCBASED_CTLS), Msr.IA32_VMX_TRUE_PROCBASED_CTLS);
  assert.equal(basic.capabilityMsrFor(Msr.IA32_VMX_EXIT_CTLS), Msr.IA32_VMX_TRUE_EXIT_CTLS);
  assert.equal(basic.capabilityMsrFor(Msr.IA32_VMX_ENTRY_CTLS), Msr.IA32_VMX_TRUE_ENTRY_CTLS);
  assert.equal(basic.capabilityMsrFor(Msr.IA32_VMX_PROCBASED_CTLS2), Msr.IA32_VMX_PROCBASED_CTLS2, 'no TRUE_ form');
});

test('VmxBasic: bit 31 is not part of the revision id; bits 48 and 56; no TRUE_ MSRs', () => {
  const basic = new VmxBasic(0x0101_1000_ffff_ffffn);
  assert.equal(basic.revisionId, 0x7fffffff);
  assert.equal(basic.regionSize, 0x1000);
  assert.equal(basic.physAddrWidth32, true);
  assert.equal(basic.noErrorCodeRequirement, true);
  assert.equal(basic.dualMonitor, false);
  assert.equal(basic.memType, 0);
  assert.equal(basic.memTypeName, 'UC');
  assert.equal(basic.insOutsInfo, false);
  assert.equal(basic.useTrueControls, false);
  assert.equal(basic.capabilityMsrFor(Msr.IA32_VMX_PINBASED_CTLS), Msr.IA32_VMX_PINBASED_CTLS);
});

test('FeatureControl.write keeps reserved and firmware bits and sets exactly the given flags', () => {
  const before = (1n << 63n) | (1n << 18n) | (1n << 3n) | FeatureControlFlags.VMXON_ENABLED_INSIDE_SMX;
  const store = new MapMsrStore([[Msr.IA32_FEATURE_CONTROL, before]]);
  const old = FeatureControl.read(store);
  assert.equal(old.locked, false);
  assert.equal(old.vmxInsideSmx, true);
  assert.equal(old.vmxOutsideSmx, false);
  assert.equal(old.sgxGlobalEnable, true);
  assert.equal(old.flags, FeatureControlFlags.VMXON_ENABLED_INSIDE_SMX);

  FeatureControl.write(store, FeatureControlFlags.LOCKED | FeatureControlFlags.VMXON_ENABLED_OUTSIDE_SMX);
  const after = store.rdmsr(0x3a);
  assert.equal(after, (1n << 63n) | (1n << 18n) | (1n << 3n) | 0b101n, 'bit 63, bit 18 and reserved bit 3 stay; bit 1 is cleared');
  const now = FeatureControl.read(store);
  assert.equal(now.locked, true);
  assert.equal(now.vmxOutsideSmx, true);
  assert.equal(now.vmxInsideSmx, false);
  assert.equal(now.sgxGlobalEnable, true);
});

test('FeatureControl.write reads before it writes, and refuses bits it does not manage', () => {
  const rec = new RecordingStore();
  FeatureControl.write(rec, FeatureControlFlags.LOCKED);
  assert.deepEqual(rec.log, ['rd 3a', 'wr 3a=1']);
  const store = new MapMsrStore();
  assert.throws(() => FeatureControl.write(store, 1n << 3n), (e: unknown) => e instanceof RangeError && /IA32_FEATURE_CONTROL/.test(e.message));
  assert.throws(() => FeatureControl.write(store, -1n), RangeError);
  assert.equal(store.rdmsr(0x3a), 0n, 'nothing written after a refused call');
});

test('ControlCapability gives allowed0/allowed1 as unsigned 32-bit numbers', () => {
  const store = new MapMsrStore([
    [Msr.IA32_VMX_TRUE_PINBASED_CTLS, 0x0000007f_00000016n],
    [Msr.IA32_VMX_PROCBASED_CTLS2, 0xffffffff_00000000n],
  ]);
  const pin = ControlCapability.read(store, Msr.IA32_VMX_TRUE_PINBASED_CTLS);
  assert.equal(pin.msr, Msr.IA32_VMX_TRUE_PINBASED_CTLS);
  assert.equal(pin.allowed0, 0x16);
  assert.equal(pin.allowed1, 0x7f);
  assert.equal(pin.mustBeOne(1), true);
  assert.equal(pin.mustBeOne(0), false);
  assert.equal(pin.mayBeOne(6), true);
  assert.equal(pin.mayBeOne(7), false);
  assert.equal(pin.adjust(0x81), 0x17, 'bit 7 dropped, bits 1, 2 and 4 forced on');

  const sec = ControlCapability.read(store, Msr.IA32_VMX_PROCBASED_CTLS2);
  assert.equal(sec.allowed1, 0xffffffff);
  assert.equal(sec.allowed0, 0);
  assert.equal(sec.mayBeOne(31), true);
  assert.equal(sec.adjust(0x80000000), 0x80000000, 'bit 31 stays positive');
});

test('ControlCapability refuses an MSR that is not a control capability, before reading it', () => {
  const rec = new RecordingStore();
  assert.throws(() => ControlCapability.read(rec, Msr.IA32_EFER), /IA32_EFER is not a VMX control capability MSR/);
  assert.throws(() => ControlCapability.read(rec, Msr.IA32_VMX_PROCBASED_CTLS3), /not a VMX control capability/);
  assert.deepEqual(rec.log, []);
});

test('MsrReadWrite subclasses reach the MSR they bind; the base class binds none', () => {
  class Pat extends MsrReadWrite {
    static readonly MSR = Msr.IA32_PAT;
  }
  const store = new MapMsrStore();
  Pat.writeRaw(store, 0x0007040600070406n);
  assert.equal(store.rdmsr(0x277), 0x0007040600070406n);
  assert.equal(Pat.readRaw(store), 0x0007040600070406n);
  store.wrmsr(0x480, 0x1234n);
  assert.equal(VmxBasic.readRaw(store), 0x1234n);
  FeatureControl.writeRaw(store, 5n);
  assert.equal(store.rdmsr(0x3a), 5n);
  assert.throws(() => MsrReadWrite.readRaw(store), /binds no MSR/);
  assert.throws(() => Pat.writeRaw(store, 1n << 64n), /IA32_PAT/);
});

test('MapMsrStore: initial values, unwritten MSRs read 0, exact 64-bit round trip', () => {
  const store = new MapMsrStore([[Msr.IA32_EFER, 0xd01n], [0x10, 5n]]);
  assert.equal(readMsr(store, Msr.IA32_EFER), 0xd01n);
  assert.equal(store.rdmsr(0x10), 5n);
  assert.equal(store.rdmsr(Msr.IA32_LSTAR.address), 0n);
  for (const v of [0n, (1n << 53n) + 1n, 0xffff_8000_0000_1234n, (1n << 64n) - 1n]) {
    writeMsr(store, Msr.IA32_LSTAR, v);
    assert.equal(readMsr(store, Msr.IA32_LSTAR), v);
  }
  assert.throws(() => new MapMsrStore([[0x12345, 1n]]), MsrAccessError);
});

test('MapMsrStore rejects unknown MSRs with MsrAccessError naming the address and the access', () => {
  const store = new MapMsrStore();
  assert.throws(() => store.rdmsr(0x12345), (e: unknown) =>
    e instanceof MsrAccessError && e.address === 0x12345 && e.access === 'read' && /read/.test(e.message) && /0x12345/.test(e.message));
  assert.throws(() => store.wrmsr(0xc0011022, 1n), (e: unknown) =>
    e instanceof MsrAccessError && e.access === 'write' && /write/.test(e.message) && /0xc0011022/.test(e.message));
  assert.equal(store.values.size, 0);
  const known = new MsrAccessError(0xc0000080, 'write', 'locked');
  assert.match(known.message, /write/);
  assert.match(known.message, /IA32_EFER/);
  assert.match(known.message, /locked/);
  assert.equal(known.name, 'MsrAccessError');

  const open = new MapMsrStore(undefined, { allowUnknown: true });
  open.wrmsr(0x12345, 7n);
  assert.equal(open.rdmsr(0x12345), 7n);
  for (const bad of [-1, 1.5, 2 ** 32, NaN]) assert.throws(() => open.rdmsr(bad), /not a 32-bit unsigned integer/);
});

test('writes outside 0..2^64-1 are RangeErrors naming the MSR, and change nothing', () => {
  const store = new MapMsrStore([[Msr.IA32_EFER, 0x500n]]);
  for (const bad of [1n << 64n, -1n]) {
    assert.throws(() => store.wrmsr(0xc0000080, bad), (e: unknown) => e instanceof RangeError && /IA32_EFER/.test(e.message));
    assert.throws(() => writeMsr(store, Msr.IA32_EFER, bad), (e: unknown) => e instanceof RangeError && /IA32_EFER/.test(e.message));
  }
  assert.equal(store.rdmsr(0xc0000080), 0x500n);
  const rec = new RecordingStore();
  assert.throws(() => writeMsr(rec, Msr.IA32_STAR, 1n << 64n), /IA32_STAR/);
  assert.deepEqual(rec.log, [], 'writeMsr checks before the store sees the value');
  writeMsr(rec, Msr.IA32_STAR, 0x0023_0010_0000_0000n);
  assert.deepEqual(rec.log, ['wr c0000081=23001000000000']);
});
