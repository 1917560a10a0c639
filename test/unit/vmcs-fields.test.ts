// The VMCS field table against the SDM: each entry's width and type recomputed from its
// encoding bits (Vol. 3, 25.11.2, Table 25-21), well-known encodings (Appendix B), the
// high-half access of 64-bit fields, and lookups.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  VMCS_FIELDS, VMCS_FIELD_ALIASES, VmcsField, decodeVmcsEncoding, encodeVmcsField, vmcsFieldByEncoding, vmcsFieldByName,
} from '../../src/vmx/vmcs-fields';

// Table 25-21: bits 14:13 width, bits 11:10 type.
const WIDTH_CODE = { '16': 0, '64': 1, '32': 2, natural: 3 } as const;
const TYPE_CODE = { control: 0, readonly: 1, guest: 2, host: 3 } as const;

test('25.11.2: every entry\'s width and type agree with its encoding bits', () => {
  assert.ok(VMCS_FIELDS.length > 150);
  for (const f of VMCS_FIELDS) {
    assert.equal((f.encoding >>> 13) & 3, WIDTH_CODE[f.width], `${f.name} width`);
    assert.equal((f.encoding >>> 10) & 3, TYPE_CODE[f.type], `${f.name} type`);
    assert.equal(f.encoding & 1, 0, `${f.name}: the table holds full (low) encodings`);
    assert.equal(f.encoding & 0x1000, 0, `${f.name}: bit 12 is reserved`);
    assert.equal(f.encoding >>> 15, 0, `${f.name}: bits 31:15 are reserved`);
    const d = decodeVmcsEncoding(f.encoding);
    assert.equal(d.width, f.width, f.name);
    assert.equal(d.type, f.type, f.name);
    assert.equal(d.wellFormed, true, f.name);
    assert.equal(encodeVmcsField(f.width, f.type, d.index), f.encoding, f.name);
    assert.equal(f.group, { control: 'Controls', readonly: 'Exit information', guest: 'Guest state', host: 'Host state' }[f.type]);
    assert.ok(f.description.length > 0, f.name);
  }
});

test('no duplicate names or encodings; aliases name existing fields and shadow none', () => {
  assert.equal(new Set(VMCS_FIELDS.map((f) => f.name)).size, VMCS_FIELDS.length);
  assert.equal(new Set(VMCS_FIELDS.map((f) => f.encoding)).size, VMCS_FIELDS.length);
  for (const [alias, name] of Object.entries(VMCS_FIELD_ALIASES)) {
    assert.ok(!(alias in VmcsField), alias);
    assert.equal(vmcsFieldByName(alias), VmcsField[name]);
  }
  for (const f of VMCS_FIELDS) assert.match(f.name, /^[A-Z][A-Z0-9_]*$/);
});

// Appendix B encodings, written here from the SDM tables B-1 … B-14.
const WELL_KNOWN: Array<[string, number]> = [
  ['VIRTUAL_PROCESSOR_ID', 0x0000],
  ['POSTED_INTR_NV', 0x0002],
  ['GUEST_ES_SELECTOR', 0x0800],
  ['GUEST_CS_SELECTOR', 0x0802],
  ['GUEST_TR_SELECTOR', 0x080e],
  ['HOST_CS_SELECTOR', 0x0c02],
  ['HOST_TR_SELECTOR', 0x0c0c],
  ['IO_BITMAP_A', 0x2000],
  ['IO_BITMAP_B', 0x2002],
  ['MSR_BITMAP', 0x2004],
  ['TSC_OFFSET', 0x2010],
  ['EPT_POINTER', 0x201a],
  ['GUEST_PHYSICAL_ADDRESS', 0x2400],
  ['VMCS_LINK_POINTER', 0x2800],
  ['GUEST_IA32_EFER', 0x2806],
  ['HOST_IA32_EFER', 0x2c02],
  ['PIN_BASED_VM_EXEC_CONTROL', 0x4000],
  ['CPU_BASED_VM_EXEC_CONTROL', 0x4002],
  ['EXCEPTION_BITMAP', 0x4004],
  ['VM_EXIT_CONTROLS', 0x400c],
  ['VM_ENTRY_CONTROLS', 0x4012],
  ['VM_ENTRY_INTR_INFO_FIELD', 0x4016],
  ['SECONDARY_VM_EXEC_CONTROL', 0x401e],
  ['VM_INSTRUCTION_ERROR', 0x4400],
  ['VM_EXIT_REASON', 0x4402],
  ['VM_EXIT_INTR_INFO', 0x4404],
  ['VM_EXIT_INSTRUCTION_LEN', 0x440c],
  ['GUEST_CS_AR_BYTES', 0x4816],
  ['GUEST_INTERRUPTIBILITY_INFO', 0x4824],
  ['GUEST_ACTIVITY_STATE', 0x4826],
  ['VMX_PREEMPTION_TIMER_VALUE', 0x482e],
  ['HOST_IA32_SYSENTER_CS', 0x4c00],
  ['CR0_GUEST_HOST_MASK', 0x6000],
  ['CR4_READ_SHADOW', 0x6006],
  ['EXIT_QUALIFICATION', 0x6400],
  ['GUEST_LINEAR_ADDRESS', 0x640a],
  ['GUEST_CR0', 0x6800],
  ['GUEST_CR3', 0x6802],
  ['GUEST_RSP', 0x681c],
  ['GUEST_RIP', 0x681e],
  ['GUEST_RFLAGS', 0x6820],
  ['HOST_CR3', 0x6c02],
  ['HOST_RSP', 0x6c14],
  ['HOST_RIP', 0x6c16],
  ['HOST_INTR_SSP_TABLE', 0x6c1c],
];

test('Appendix B: well-known encodings', () => {
  for (const [name, encoding] of WELL_KNOWN) {
    assert.equal(vmcsFieldByName(name)?.encoding, encoding, name);
    assert.equal(vmcsFieldByEncoding(encoding)?.field.name, name, name);
  }
  assert.equal(VmcsField.GUEST_RIP.encoding, 0x681e);
  assert.equal(VmcsField.GUEST_RIP.width, 'natural');
  assert.equal(VmcsField.VM_EXIT_REASON.type, 'readonly');
  assert.equal(VmcsField.HOST_RSP.group, 'Host state');
  assert.equal(VmcsField.EPT_POINTER.width, '64');
});

test('Appendix B: the table has exactly the fields of each section', () => {
  const count = (width: string, type: string) => VMCS_FIELDS.filter((f) => f.width === width && f.type === type).length;
  // 16-bit: 5 control (B.1.1), 11 guest (B.1.2), 7 host (B.1.3; no LDTR)
  assert.deepEqual([count('16', 'control'), count('16', 'guest'), count('16', 'host')], [5, 11, 7]);
  // 64-bit: 37 control (B.2.1), 1 read-only (B.2.2), 13 guest (B.2.3), 4 host (B.2.4)
  assert.deepEqual([count('64', 'control'), count('64', 'readonly'), count('64', 'guest'), count('64', 'host')], [37, 1, 13, 4]);
  // 32-bit: 19 control, 8 read-only, 23 guest, 1 host (B.3)
  assert.deepEqual([count('32', 'control'), count('32', 'readonly'), count('32', 'guest'), count('32', 'host')], [19, 8, 23, 1]);
  // natural: 8 control, 6 read-only, 23 guest, 15 host (B.4)
  assert.deepEqual([count('natural', 'control'), count('natural', 'readonly'), count('natural', 'guest'), count('natural', 'host')], [8, 6, 23, 15]);
  assert.equal(vmcsFieldByName('HOST_LDTR_SELECTOR'), undefined, 'the host state has no LDTR');
});

test('the high-half encoding (encoding | 1) resolves for 64-bit fields only', () => {
  for (const f of VMCS_FIELDS) {
    assert.deepEqual(vmcsFieldByEncoding(f.encoding), { field: f, high: false });
    if (f.width === '64') {
      assert.deepEqual(vmcsFieldByEncoding(f.encoding | 1), { field: f, high: true }, f.name);
      const d = decodeVmcsEncoding(f.encoding | 1);
      assert.equal(d.accessHigh, true);
      assert.equal(d.wellFormed, true);
      assert.equal(encodeVmcsField('64', f.type, d.index, true), f.encoding | 1);
    } else {
      assert.equal(vmcsFieldByEncoding(f.encoding | 1), undefined, f.name);
      assert.equal(decodeVmcsEncoding(f.encoding | 1).wellFormed, false, f.name);
    }
  }
  assert.deepEqual(vmcsFieldByEncoding(0x201b), { field: VmcsField.EPT_POINTER, high: true });
  assert.deepEqual(vmcsFieldByEncoding(0x2401), { field: VmcsField.GUEST_PHYSICAL_ADDRESS, high: true });
});

test('encodings that name no field', () => {
  for (const enc of [0x000a, 0x0816, 0x0c0e, 0x2046, 0x2402, 0x281a, 0x4026, 0x482c, 0x4c02, 0x6010, 0x682e, 0x6c1e, 0x1_0000, -1, 1.5]) {
    assert.equal(vmcsFieldByEncoding(enc), undefined, String(enc));
  }
});

test('25.11.2: decodeVmcsEncoding splits every part and flags reserved bits', () => {
  assert.deepEqual(decodeVmcsEncoding(0x681e), {
    accessHigh: false, index: 15, typeCode: 2, type: 'guest', widthCode: 3, width: 'natural',
    reservedBitsSet: false, wellFormed: true,
  });
  assert.deepEqual(decodeVmcsEncoding(0x2001), {
    accessHigh: true, index: 0, typeCode: 0, type: 'control', widthCode: 1, width: '64',
    reservedBitsSet: false, wellFormed: true,
  });
  const d = decodeVmcsEncoding(0x4402);
  assert.deepEqual([d.index, d.type, d.width], [1, 'readonly', '32']);
  assert.equal(decodeVmcsEncoding(0x1000).reservedBitsSet, true, 'bit 12');
  assert.equal(decodeVmcsEncoding(0x8000).reservedBitsSet, true, 'bit 15');
  assert.equal(decodeVmcsEncoding(0xffff_ffff).reservedBitsSet, true);
  assert.equal(decodeVmcsEncoding(0x6c1c).reservedBitsSet, false);
  assert.equal(decodeVmcsEncoding(0x8000).wellFormed, false);
  for (const bad of [-1, 2 ** 32, 1.5, NaN]) assert.throws(() => decodeVmcsEncoding(bad), RangeError);
  assert.throws(() => encodeVmcsField('32', 'guest', 512), RangeError);
  assert.throws(() => encodeVmcsField('natural', 'guest', 0, true), /natural-width/);
});

test('name lookups ignore case and accept aliases', () => {
  assert.equal(vmcsFieldByName('guest_rip'), VmcsField.GUEST_RIP);
  assert.equal(vmcsFieldByName('Host_Rsp'), VmcsField.HOST_RSP);
  assert.equal(vmcsFieldByName('instruction_timeout_control'), VmcsField.NOTIFY_WINDOW);
  assert.equal(vmcsFieldByName('GUEST_PDPTE2')?.encoding, 0x280e);
  assert.equal(vmcsFieldByName('NO_SUCH_FIELD'), undefined);
});
