// Which VMCS fields hold an address, and in which address space (SDM Vol. 3C, 25.4-25.6 and
// 25.9; Appendix B for the fields): a debugger opens memory from them in the right space.
//
// - host-physical: the pointers and bitmaps of the execution and exit/entry controls (25.6.2
//   I/O bitmaps, 25.6.9 MSR bitmaps, 25.6.11 EPTP, 25.7.2/25.8.2 MSR-store and -load areas,
//   25.6.8 virtual-APIC and APIC-access pages, 25.6.15 VMREAD/VMWRITE bitmaps, 25.6.12 PML), the
//   VMCS link pointer (25.4.2), and HOST_CR3 (the host's paging root);
// - guest-physical: GUEST_PHYSICAL_ADDRESS (an EPT violation's address, 28.2.1), GUEST_CR3 and
//   the PDPTEs (PAE paging structures are guest-physical addresses under EPT, 29.3.1);
// - guest-linear: the guest's RIP, RSP, segment and descriptor-table bases, SYSENTER targets
//   and GUEST_LINEAR_ADDRESS.
// `pageAligned`: bits 11:0 carry flags, not address (EPTP's memory type and walk length, CR3's
// PCID or PWT/PCD, a PDPTE's P/PWT/PCD); the reference points at the page. (Under PAE paging
// CR3 bits 11:5 are address bits: the reference then points at the page holding the PDPT.)

export type AddressSpaceOfField = 'host' | 'phys' | 'linear';

export interface AddressField {
  readonly space: AddressSpaceOfField;
  /** Bits 11:0 hold flags, not address. */
  readonly pageAligned?: boolean;
}

const host = (pageAligned = false): AddressField => ({ space: 'host', pageAligned });
const phys = (pageAligned = false): AddressField => ({ space: 'phys', pageAligned });
const linear: AddressField = { space: 'linear' };

export const VMCS_ADDRESS_FIELDS: Readonly<Record<string, AddressField>> = Object.freeze({
  IO_BITMAP_A: host(),
  IO_BITMAP_B: host(),
  MSR_BITMAP: host(),
  VM_EXIT_MSR_STORE_ADDR: host(),
  VM_EXIT_MSR_LOAD_ADDR: host(),
  VM_ENTRY_MSR_LOAD_ADDR: host(),
  PML_ADDRESS: host(),
  VIRTUAL_APIC_PAGE_ADDR: host(),
  APIC_ACCESS_ADDR: host(),
  POSTED_INTR_DESC_ADDR: host(),
  EPT_POINTER: host(true),
  EPTP_LIST_ADDRESS: host(),
  VMREAD_BITMAP: host(),
  VMWRITE_BITMAP: host(),
  VMCS_LINK_POINTER: host(),
  HOST_CR3: host(true),
  GUEST_PHYSICAL_ADDRESS: phys(),
  GUEST_CR3: phys(true),
  GUEST_PDPTR0: phys(true),
  GUEST_PDPTR1: phys(true),
  GUEST_PDPTR2: phys(true),
  GUEST_PDPTR3: phys(true),
  GUEST_LINEAR_ADDRESS: linear,
  GUEST_RIP: linear,
  GUEST_RSP: linear,
  GUEST_ES_BASE: linear,
  GUEST_CS_BASE: linear,
  GUEST_SS_BASE: linear,
  GUEST_DS_BASE: linear,
  GUEST_FS_BASE: linear,
  GUEST_GS_BASE: linear,
  GUEST_LDTR_BASE: linear,
  GUEST_TR_BASE: linear,
  GUEST_GDTR_BASE: linear,
  GUEST_IDTR_BASE: linear,
  GUEST_SYSENTER_ESP: linear,
  GUEST_SYSENTER_EIP: linear,
});

const ALL_ONES = (1n << 64n) - 1n;
/** MAXPHYADDR bits of address above the flags: bits 51:12 (SDM Vol. 3A, 4.1.4). */
const PAGE_ADDRESS = ((1n << 52n) - 1n) & ~0xfffn;

/**
 * Where a field's value points, or undefined when it holds no address (or the "none" value
 * FFFFFFFF_FFFFFFFFH of the VMCS link pointer, 25.4.2).
 */
export function addressOfField(name: string, value: bigint): { space: AddressSpaceOfField; address: bigint } | undefined {
  const f = VMCS_ADDRESS_FIELDS[name];
  if (f === undefined || value === ALL_ONES) return undefined;
  return { space: f.space, address: f.pageAligned === true ? value & PAGE_ADDRESS : value };
}
