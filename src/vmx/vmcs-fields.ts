// Every VMCS field of SDM Vol. 3, Appendix B, with its encoding, width and type, and the
// encoding layout of 25.11.2 (Table 25-21). Names follow Linux arch/x86/include/asm/vmx.h
// `enum vmcs_field` where Linux has the field, and the same UPPER_SNAKE style where it does not.
//
// The table states each section's width and type once; the encoding bits state them again
// (bits 14:13 width, 11:10 type), so a test can recompute both from every encoding and catch
// a mistyped number.

export type VmcsFieldWidth = '16' | '32' | '64' | 'natural';
export type VmcsFieldType = 'control' | 'readonly' | 'guest' | 'host';
export type VmcsFieldGroup = 'Controls' | 'Exit information' | 'Guest state' | 'Host state';

export interface VmcsFieldInfo {
  readonly name: string;
  /** The full (low-half) encoding. */
  readonly encoding: number;
  readonly width: VmcsFieldWidth;
  readonly type: VmcsFieldType;
  /** Where a view shows the field. */
  readonly group: VmcsFieldGroup;
  readonly description: string;
}

const GROUP_OF_TYPE: Readonly<Record<VmcsFieldType, VmcsFieldGroup>> = {
  control: 'Controls',
  readonly: 'Exit information',
  guest: 'Guest state',
  host: 'Host state',
};

// Appendix B, B.1-B.4, section by section.
const SECTIONS = [
  {
    width: '16', type: 'control', fields: [ // B.1.1
      ['VIRTUAL_PROCESSOR_ID', 0x0000, 'Virtual-processor identifier (VPID)'],
      ['POSTED_INTR_NV', 0x0002, 'Posted-interrupt notification vector'],
      ['EPTP_INDEX', 0x0004, 'EPTP index (EPT-violation #VE, EPTP switching)'],
      ['HLAT_PREFIX_SIZE', 0x0006, 'HLAT prefix size'],
      ['LAST_PID_POINTER_INDEX', 0x0008, 'Last index of the PID-pointer table (IPI virtualization)'],
    ],
  },
  {
    width: '16', type: 'guest', fields: [ // B.1.2
      ['GUEST_ES_SELECTOR', 0x0800, 'Guest ES selector'],
      ['GUEST_CS_SELECTOR', 0x0802, 'Guest CS selector'],
      ['GUEST_SS_SELECTOR', 0x0804, 'Guest SS selector'],
      ['GUEST_DS_SELECTOR', 0x0806, 'Guest DS selector'],
      ['GUEST_FS_SELECTOR', 0x0808, 'Guest FS selector'],
      ['GUEST_GS_SELECTOR', 0x080a, 'Guest GS selector'],
      ['GUEST_LDTR_SELECTOR', 0x080c, 'Guest LDTR selector'],
      ['GUEST_TR_SELECTOR', 0x080e, 'Guest TR selector'],
      ['GUEST_INTR_STATUS', 0x0810, 'Guest interrupt status (RVI, SVI)'],
      ['GUEST_PML_INDEX', 0x0812, 'PML index'],
      ['GUEST_UINV', 0x0814, 'Guest user-interrupt notification vector (UINV)'],
    ],
  },
  {
    width: '16', type: 'host', fields: [ // B.1.3
      ['HOST_ES_SELECTOR', 0x0c00, 'Host ES selector'],
      ['HOST_CS_SELECTOR', 0x0c02, 'Host CS selector'],
      ['HOST_SS_SELECTOR', 0x0c04, 'Host SS selector'],
      ['HOST_DS_SELECTOR', 0x0c06, 'Host DS selector'],
      ['HOST_FS_SELECTOR', 0x0c08, 'Host FS selector'],
      ['HOST_GS_SELECTOR', 0x0c0a, 'Host GS selector'],
      ['HOST_TR_SELECTOR', 0x0c0c, 'Host TR selector'],
    ],
  },
  {
    width: '64', type: 'control', fields: [ // B.2.1
      ['IO_BITMAP_A', 0x2000, 'Address of I/O bitmap A (ports 0x0000-0x7fff)'],
      ['IO_BITMAP_B', 0x2002, 'Address of I/O bitmap B (ports 0x8000-0xffff)'],
      ['MSR_BITMAP', 0x2004, 'Address of the MSR bitmaps'],
      ['VM_EXIT_MSR_STORE_ADDR', 0x2006, 'VM-exit MSR-store address'],
      ['VM_EXIT_MSR_LOAD_ADDR', 0x2008, 'VM-exit MSR-load address'],
      ['VM_ENTRY_MSR_LOAD_ADDR', 0x200a, 'VM-entry MSR-load address'],
      ['EXECUTIVE_VMCS_POINTER', 0x200c, 'Executive-VMCS pointer (dual-monitor treatment)'],
      ['PML_ADDRESS', 0x200e, 'PML address'],
      ['TSC_OFFSET', 0x2010, 'TSC offset'],
      ['VIRTUAL_APIC_PAGE_ADDR', 0x2012, 'Virtual-APIC address'],
      ['APIC_ACCESS_ADDR', 0x2014, 'APIC-access address'],
      ['POSTED_INTR_DESC_ADDR', 0x2016, 'Posted-interrupt descriptor address'],
      ['VM_FUNCTION_CONTROL', 0x2018, 'VM-function controls'],
      ['EPT_POINTER', 0x201a, 'EPT pointer (EPTP)'],
      ['EOI_EXIT_BITMAP0', 0x201c, 'EOI-exit bitmap 0 (vectors 0-63)'],
      ['EOI_EXIT_BITMAP1', 0x201e, 'EOI-exit bitmap 1 (vectors 64-127)'],
      ['EOI_EXIT_BITMAP2', 0x2020, 'EOI-exit bitmap 2 (vectors 128-191)'],
      ['EOI_EXIT_BITMAP3', 0x2022, 'EOI-exit bitmap 3 (vectors 192-255)'],
      ['EPTP_LIST_ADDRESS', 0x2024, 'EPTP-list address'],
      ['VMREAD_BITMAP', 0x2026, 'VMREAD-bitmap address'],
      ['VMWRITE_BITMAP', 0x2028, 'VMWRITE-bitmap address'],
      ['VE_INFORMATION_ADDRESS', 0x202a, 'Virtualization-exception information address'],
      ['XSS_EXIT_BITMAP', 0x202c, 'XSS-exiting bitmap'],
      ['ENCLS_EXITING_BITMAP', 0x202e, 'ENCLS-exiting bitmap'],
      ['SPP_TABLE_POINTER', 0x2030, 'Sub-page-permission-table pointer'],
      ['TSC_MULTIPLIER', 0x2032, 'TSC multiplier'],
      ['TERTIARY_VM_EXEC_CONTROL', 0x2034, 'Tertiary processor-based VM-execution controls'],
      ['ENCLV_EXITING_BITMAP', 0x2036, 'ENCLV-exiting bitmap'],
      ['LOW_PASID_DIRECTORY_ADDRESS', 0x2038, 'Low PASID directory address'],
      ['HIGH_PASID_DIRECTORY_ADDRESS', 0x203a, 'High PASID directory address'],
      ['SHARED_EPT_POINTER', 0x203c, 'Shared EPT pointer'],
      ['PCONFIG_EXITING_BITMAP', 0x203e, 'PCONFIG-exiting bitmap'],
      ['HLAT_POINTER', 0x2040, 'Hypervisor-managed linear-address translation pointer (HLATP)'],
      ['PID_POINTER_TABLE', 0x2042, 'PID-pointer table address (IPI virtualization)'],
      ['SECONDARY_VM_EXIT_CONTROLS', 0x2044, 'Secondary VM-exit controls'],
      ['IA32_SPEC_CTRL_MASK', 0x204a, 'IA32_SPEC_CTRL mask'],
      ['IA32_SPEC_CTRL_SHADOW', 0x204c, 'IA32_SPEC_CTRL shadow'],
    ],
  },
  {
    width: '64', type: 'readonly', fields: [ // B.2.2
      ['GUEST_PHYSICAL_ADDRESS', 0x2400, 'Guest-physical address (EPT violation and misconfiguration)'],
    ],
  },
  {
    width: '64', type: 'guest', fields: [ // B.2.3
      ['VMCS_LINK_POINTER', 0x2800, 'VMCS link pointer'],
      ['GUEST_IA32_DEBUGCTL', 0x2802, 'Guest IA32_DEBUGCTL'],
      ['GUEST_IA32_PAT', 0x2804, 'Guest IA32_PAT'],
      ['GUEST_IA32_EFER', 0x2806, 'Guest IA32_EFER'],
      ['GUEST_IA32_PERF_GLOBAL_CTRL', 0x2808, 'Guest IA32_PERF_GLOBAL_CTRL'],
      ['GUEST_PDPTR0', 0x280a, 'Guest PDPTE0 (PAE paging)'],
      ['GUEST_PDPTR1', 0x280c, 'Guest PDPTE1 (PAE paging)'],
      ['GUEST_PDPTR2', 0x280e, 'Guest PDPTE2 (PAE paging)'],
      ['GUEST_PDPTR3', 0x2810, 'Guest PDPTE3 (PAE paging)'],
      ['GUEST_BNDCFGS', 0x2812, 'Guest IA32_BNDCFGS'],
      ['GUEST_IA32_RTIT_CTL', 0x2814, 'Guest IA32_RTIT_CTL'],
      ['GUEST_IA32_LBR_CTL', 0x2816, 'Guest IA32_LBR_CTL'],
      ['GUEST_IA32_PKRS', 0x2818, 'Guest IA32_PKRS'],
    ],
  },
  {
    width: '64', type: 'host', fields: [ // B.2.4
      ['HOST_IA32_PAT', 0x2c00, 'Host IA32_PAT'],
      ['HOST_IA32_EFER', 0x2c02, 'Host IA32_EFER'],
      ['HOST_IA32_PERF_GLOBAL_CTRL', 0x2c04, 'Host IA32_PERF_GLOBAL_CTRL'],
      ['HOST_IA32_PKRS', 0x2c06, 'Host IA32_PKRS'],
    ],
  },
  {
    width: '32', type: 'control', fields: [ // B.3.1
      ['PIN_BASED_VM_EXEC_CONTROL', 0x4000, 'Pin-based VM-execution controls'],
      ['CPU_BASED_VM_EXEC_CONTROL', 0x4002, 'Primary processor-based VM-execution controls'],
      ['EXCEPTION_BITMAP', 0x4004, 'Exception bitmap'],
      ['PAGE_FAULT_ERROR_CODE_MASK', 0x4006, 'Page-fault error-code mask'],
      ['PAGE_FAULT_ERROR_CODE_MATCH', 0x4008, 'Page-fault error-code match'],
      ['CR3_TARGET_COUNT', 0x400a, 'CR3-target count'],
      ['VM_EXIT_CONTROLS', 0x400c, 'Primary VM-exit controls'],
      ['VM_EXIT_MSR_STORE_COUNT', 0x400e, 'VM-exit MSR-store count'],
      ['VM_EXIT_MSR_LOAD_COUNT', 0x4010, 'VM-exit MSR-load count'],
      ['VM_ENTRY_CONTROLS', 0x4012, 'VM-entry controls'],
      ['VM_ENTRY_MSR_LOAD_COUNT', 0x4014, 'VM-entry MSR-load count'],
      ['VM_ENTRY_INTR_INFO_FIELD', 0x4016, 'VM-entry interruption-information field'],
      ['VM_ENTRY_EXCEPTION_ERROR_CODE', 0x4018, 'VM-entry exception error code'],
      ['VM_ENTRY_INSTRUCTION_LEN', 0x401a, 'VM-entry instruction length'],
      ['TPR_THRESHOLD', 0x401c, 'TPR threshold'],
      ['SECONDARY_VM_EXEC_CONTROL', 0x401e, 'Secondary processor-based VM-execution controls'],
      ['PLE_GAP', 0x4020, 'PAUSE-loop exiting gap'],
      ['PLE_WINDOW', 0x4022, 'PAUSE-loop exiting window'],
      ['NOTIFY_WINDOW', 0x4024, 'Instruction-timeout control'],
    ],
  },
  {
    width: '32', type: 'readonly', fields: [ // B.3.2
      ['VM_INSTRUCTION_ERROR', 0x4400, 'VM-instruction error'],
      ['VM_EXIT_REASON', 0x4402, 'Exit reason'],
      ['VM_EXIT_INTR_INFO', 0x4404, 'VM-exit interruption information'],
      ['VM_EXIT_INTR_ERROR_CODE', 0x4406, 'VM-exit interruption error code'],
      ['IDT_VECTORING_INFO_FIELD', 0x4408, 'IDT-vectoring information field'],
      ['IDT_VECTORING_ERROR_CODE', 0x440a, 'IDT-vectoring error code'],
      ['VM_EXIT_INSTRUCTION_LEN', 0x440c, 'VM-exit instruction length'],
      ['VMX_INSTRUCTION_INFO', 0x440e, 'VM-exit instruction information'],
    ],
  },
  {
    width: '32', type: 'guest', fields: [ // B.3.3
      ['GUEST_ES_LIMIT', 0x4800, 'Guest ES limit'],
      ['GUEST_CS_LIMIT', 0x4802, 'Guest CS limit'],
      ['GUEST_SS_LIMIT', 0x4804, 'Guest SS limit'],
      ['GUEST_DS_LIMIT', 0x4806, 'Guest DS limit'],
      ['GUEST_FS_LIMIT', 0x4808, 'Guest FS limit'],
      ['GUEST_GS_LIMIT', 0x480a, 'Guest GS limit'],
      ['GUEST_LDTR_LIMIT', 0x480c, 'Guest LDTR limit'],
      ['GUEST_TR_LIMIT', 0x480e, 'Guest TR limit'],
      ['GUEST_GDTR_LIMIT', 0x4810, 'Guest GDTR limit'],
      ['GUEST_IDTR_LIMIT', 0x4812, 'Guest IDTR limit'],
      ['GUEST_ES_AR_BYTES', 0x4814, 'Guest ES access rights'],
      ['GUEST_CS_AR_BYTES', 0x4816, 'Guest CS access rights'],
      ['GUEST_SS_AR_BYTES', 0x4818, 'Guest SS access rights'],
      ['GUEST_DS_AR_BYTES', 0x481a, 'Guest DS access rights'],
      ['GUEST_FS_AR_BYTES', 0x481c, 'Guest FS access rights'],
      ['GUEST_GS_AR_BYTES', 0x481e, 'Guest GS access rights'],
      ['GUEST_LDTR_AR_BYTES', 0x4820, 'Guest LDTR access rights'],
      ['GUEST_TR_AR_BYTES', 0x4822, 'Guest TR access rights'],
      ['GUEST_INTERRUPTIBILITY_INFO', 0x4824, 'Guest interruptibility state'],
      ['GUEST_ACTIVITY_STATE', 0x4826, 'Guest activity state'],
      ['GUEST_SMBASE', 0x4828, 'Guest SMBASE'],
      ['GUEST_SYSENTER_CS', 0x482a, 'Guest IA32_SYSENTER_CS'],
      ['VMX_PREEMPTION_TIMER_VALUE', 0x482e, 'VMX-preemption timer value'],
    ],
  },
  {
    width: '32', type: 'host', fields: [ // B.3.4
      ['HOST_IA32_SYSENTER_CS', 0x4c00, 'Host IA32_SYSENTER_CS'],
    ],
  },
  {
    width: 'natural', type: 'control', fields: [ // B.4.1
      ['CR0_GUEST_HOST_MASK', 0x6000, 'CR0 guest/host mask'],
      ['CR4_GUEST_HOST_MASK', 0x6002, 'CR4 guest/host mask'],
      ['CR0_READ_SHADOW', 0x6004, 'CR0 read shadow'],
      ['CR4_READ_SHADOW', 0x6006, 'CR4 read shadow'],
      ['CR3_TARGET_VALUE0', 0x6008, 'CR3-target value 0'],
      ['CR3_TARGET_VALUE1', 0x600a, 'CR3-target value 1'],
      ['CR3_TARGET_VALUE2', 0x600c, 'CR3-target value 2'],
      ['CR3_TARGET_VALUE3', 0x600e, 'CR3-target value 3'],
    ],
  },
  {
    width: 'natural', type: 'readonly', fields: [ // B.4.2
      ['EXIT_QUALIFICATION', 0x6400, 'Exit qualification'],
      ['IO_RCX', 0x6402, 'I/O RCX (SMI after an I/O instruction)'],
      ['IO_RSI', 0x6404, 'I/O RSI (SMI after an I/O instruction)'],
      ['IO_RDI', 0x6406, 'I/O RDI (SMI after an I/O instruction)'],
      ['IO_RIP', 0x6408, 'I/O RIP (SMI after an I/O instruction)'],
      ['GUEST_LINEAR_ADDRESS', 0x640a, 'Guest-linear address'],
    ],
  },
  {
    width: 'natural', type: 'guest', fields: [ // B.4.3
      ['GUEST_CR0', 0x6800, 'Guest CR0'],
      ['GUEST_CR3', 0x6802, 'Guest CR3'],
      ['GUEST_CR4', 0x6804, 'Guest CR4'],
      ['GUEST_ES_BASE', 0x6806, 'Guest ES base'],
      ['GUEST_CS_BASE', 0x6808, 'Guest CS base'],
      ['GUEST_SS_BASE', 0x680a, 'Guest SS base'],
      ['GUEST_DS_BASE', 0x680c, 'Guest DS base'],
      ['GUEST_FS_BASE', 0x680e, 'Guest FS base'],
      ['GUEST_GS_BASE', 0x6810, 'Guest GS base'],
      ['GUEST_LDTR_BASE', 0x6812, 'Guest LDTR base'],
      ['GUEST_TR_BASE', 0x6814, 'Guest TR base'],
      ['GUEST_GDTR_BASE', 0x6816, 'Guest GDTR base'],
      ['GUEST_IDTR_BASE', 0x6818, 'Guest IDTR base'],
      ['GUEST_DR7', 0x681a, 'Guest DR7'],
      ['GUEST_RSP', 0x681c, 'Guest RSP'],
      ['GUEST_RIP', 0x681e, 'Guest RIP'],
      ['GUEST_RFLAGS', 0x6820, 'Guest RFLAGS'],
      ['GUEST_PENDING_DBG_EXCEPTIONS', 0x6822, 'Guest pending debug exceptions'],
      ['GUEST_SYSENTER_ESP', 0x6824, 'Guest IA32_SYSENTER_ESP'],
      ['GUEST_SYSENTER_EIP', 0x6826, 'Guest IA32_SYSENTER_EIP'],
      ['GUEST_S_CET', 0x6828, 'Guest IA32_S_CET'],
      ['GUEST_SSP', 0x682a, 'Guest SSP (shadow-stack pointer)'],
      ['GUEST_INTR_SSP_TABLE', 0x682c, 'Guest IA32_INTERRUPT_SSP_TABLE_ADDR'],
    ],
  },
  {
    width: 'natural', type: 'host', fields: [ // B.4.4
      ['HOST_CR0', 0x6c00, 'Host CR0'],
      ['HOST_CR3', 0x6c02, 'Host CR3'],
      ['HOST_CR4', 0x6c04, 'Host CR4'],
      ['HOST_FS_BASE', 0x6c06, 'Host FS base'],
      ['HOST_GS_BASE', 0x6c08, 'Host GS base'],
      ['HOST_TR_BASE', 0x6c0a, 'Host TR base'],
      ['HOST_GDTR_BASE', 0x6c0c, 'Host GDTR base'],
      ['HOST_IDTR_BASE', 0x6c0e, 'Host IDTR base'],
      ['HOST_IA32_SYSENTER_ESP', 0x6c10, 'Host IA32_SYSENTER_ESP'],
      ['HOST_IA32_SYSENTER_EIP', 0x6c12, 'Host IA32_SYSENTER_EIP'],
      ['HOST_RSP', 0x6c14, 'Host RSP'],
      ['HOST_RIP', 0x6c16, 'Host RIP'],
      ['HOST_S_CET', 0x6c18, 'Host IA32_S_CET'],
      ['HOST_SSP', 0x6c1a, 'Host SSP (shadow-stack pointer)'],
      ['HOST_INTR_SSP_TABLE', 0x6c1c, 'Host IA32_INTERRUPT_SSP_TABLE_ADDR'],
    ],
  },
] as const satisfies ReadonlyArray<{
  readonly width: VmcsFieldWidth;
  readonly type: VmcsFieldType;
  readonly fields: ReadonlyArray<readonly [string, number, string]>;
}>;

export type VmcsFieldName = (typeof SECTIONS)[number]['fields'][number][0];

/** Every VMCS field of Appendix B, in the appendix's order (width, then type, then encoding). */
export const VMCS_FIELDS: readonly VmcsFieldInfo[] = Object.freeze(SECTIONS.flatMap((s) =>
  s.fields.map(([name, encoding, description]): VmcsFieldInfo => Object.freeze({
    name, encoding, width: s.width, type: s.type, group: GROUP_OF_TYPE[s.type], description,
  }))));

/** Enum-like access by name: `VmcsField.GUEST_RIP.encoding === 0x681e`. */
export const VmcsField: { readonly [K in VmcsFieldName]: VmcsFieldInfo } = Object.freeze(
  Object.fromEntries(VMCS_FIELDS.map((f) => [f.name, f])),
) as { readonly [K in VmcsFieldName]: VmcsFieldInfo };

/** Other names accepted by vmcsFieldByName (SDM wording where Linux words it differently). */
export const VMCS_FIELD_ALIASES: Readonly<Record<string, VmcsFieldName>> = Object.freeze({
  INSTRUCTION_TIMEOUT_CONTROL: 'NOTIFY_WINDOW',
  VM_EXIT_INSTRUCTION_INFO: 'VMX_INSTRUCTION_INFO',
  GUEST_INTERRUPTIBILITY_STATE: 'GUEST_INTERRUPTIBILITY_INFO',
  PRIMARY_VM_EXEC_CONTROL: 'CPU_BASED_VM_EXEC_CONTROL',
  GUEST_PDPTE0: 'GUEST_PDPTR0',
  GUEST_PDPTE1: 'GUEST_PDPTR1',
  GUEST_PDPTE2: 'GUEST_PDPTR2',
  GUEST_PDPTE3: 'GUEST_PDPTR3',
});

const BY_NAME = new Map<string, VmcsFieldInfo>([
  ...VMCS_FIELDS.map((f): [string, VmcsFieldInfo] => [f.name, f]),
  ...Object.entries(VMCS_FIELD_ALIASES).map(([alias, name]): [string, VmcsFieldInfo] => [alias, VmcsField[name]]),
]);
const BY_ENCODING = new Map<number, VmcsFieldInfo>(VMCS_FIELDS.map((f) => [f.encoding, f]));

/** Looks a field up by name or alias, case-insensitively; undefined when unknown. */
export function vmcsFieldByName(name: string): VmcsFieldInfo | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/** A field an encoding names, and whether it names the high 32 bits of a 64-bit field. */
export interface VmcsFieldAccess {
  readonly field: VmcsFieldInfo;
  /** True for `encoding | 1` of a 64-bit field: VMREAD/VMWRITE of bits 63:32 only. */
  readonly high: boolean;
}

/**
 * The field an encoding names: its full encoding, or for a 64-bit field also the high-half
 * encoding (access type 1). Undefined when the encoding names no field in the table.
 */
export function vmcsFieldByEncoding(encoding: number): VmcsFieldAccess | undefined {
  const exact = BY_ENCODING.get(encoding);
  if (exact !== undefined) return { field: exact, high: false };
  if (Number.isInteger(encoding) && (encoding & 1) === 1) {
    const low = BY_ENCODING.get(encoding - 1);
    if (low !== undefined && low.width === '64') return { field: low, high: true };
  }
  return undefined;
}

const WIDTH_OF_CODE: readonly VmcsFieldWidth[] = ['16', '64', '32', 'natural'];
const TYPE_OF_CODE: readonly VmcsFieldType[] = ['control', 'readonly', 'guest', 'host'];

/** A VMCS component encoding split into its parts (SDM 25.11.2, Table 25-21). */
export interface DecodedVmcsEncoding {
  /** Bit 0: access type, 1 = high 32 bits of a 64-bit field. */
  readonly accessHigh: boolean;
  /** Bits 9:1. */
  readonly index: number;
  /** Bits 11:10: 0 control, 1 read-only data, 2 guest state, 3 host state. */
  readonly typeCode: number;
  readonly type: VmcsFieldType;
  /** Bits 14:13: 0 16-bit, 1 64-bit, 2 32-bit, 3 natural width. */
  readonly widthCode: number;
  readonly width: VmcsFieldWidth;
  /** Bit 12 or any of bits 31:15 set. */
  readonly reservedBitsSet: boolean;
  /** No reserved bit set, and the high access type only on a 64-bit field. */
  readonly wellFormed: boolean;
}

/** Splits an encoding; RangeError unless it is a 32-bit unsigned integer. */
export function decodeVmcsEncoding(encoding: number): DecodedVmcsEncoding {
  if (!Number.isInteger(encoding) || encoding < 0 || encoding > 0xffff_ffff) {
    throw new RangeError(`VMCS encoding ${encoding} is not a 32-bit unsigned integer`);
  }
  const accessHigh = (encoding & 1) === 1;
  const typeCode = (encoding >>> 10) & 3;
  const widthCode = (encoding >>> 13) & 3;
  const reservedBitsSet = (encoding & 0x1000) !== 0 || encoding >>> 15 !== 0;
  const width = WIDTH_OF_CODE[widthCode];
  return {
    accessHigh,
    index: (encoding >>> 1) & 0x1ff,
    typeCode,
    type: TYPE_OF_CODE[typeCode],
    widthCode,
    width,
    reservedBitsSet,
    wellFormed: !reservedBitsSet && (!accessHigh || width === '64'),
  };
}

/** Builds an encoding from its parts; RangeError for an index outside 0-511 or high on a non-64-bit field. */
export function encodeVmcsField(width: VmcsFieldWidth, type: VmcsFieldType, index: number, high = false): number {
  if (!Number.isInteger(index) || index < 0 || index > 0x1ff) {
    throw new RangeError(`VMCS field index ${index} is outside 0-511`);
  }
  if (high && width !== '64') throw new RangeError(`only 64-bit fields have a high-half encoding, not ${width === 'natural' ? 'natural-width' : `${width}-bit`} ones`);
  return (WIDTH_OF_CODE.indexOf(width) << 13) | (TYPE_OF_CODE.indexOf(type) << 10) | (index << 1) | (high ? 1 : 0);
}
