// The extended-page-table pointer (EPTP, VMCS field 0x201A): its layout (Intel SDM Vol. 3C,
// 25.6.11, Table 25-9) and the checks VM entry makes on it (27.2.1.1) against what
// IA32_VMX_EPT_VPID_CAP allows (Appendix A.10). VM entry and the EPT walker share these.

import { BitField, flag } from '../bitfields';
import { hex } from '../format';
import { EptCapabilities } from './ept-capabilities';

/** Memory types the EPTP and EPT leaf entries use (SDM 25.6.11 and 29.3.7; PAT encodings). */
export const EPT_MEMORY_TYPES: Readonly<Record<number, string>> = { 0: 'UC', 1: 'WC', 4: 'WT', 5: 'WP', 6: 'WB' };

/** EPTP bit layout (SDM 25.6.11, Table 25-9), for decodeFields and views. */
export const EPTP_FIELDS: readonly BitField[] = Object.freeze([
  { name: 'memType', lsb: 0, width: 3, description: 'Memory type of the EPT paging structures (0 UC, 6 WB)', values: { 0: 'UC', 6: 'WB' } },
  { name: 'walkLengthMinus1', lsb: 3, width: 3, description: 'EPT page-walk length minus 1 (3: 4 levels, 4: 5 levels)' },
  flag('accessedDirty', 6, 'Enable accessed and dirty flags for EPT'),
  flag('supervisorShadowStack', 7, 'Enforce access rights for supervisor shadow-stack pages'),
  { name: 'rootAddress', lsb: 12, width: 40, description: 'Physical address of the EPT PML4 (or PML5) table, bits N-1:12 (N = MAXPHYADDR)' },
]);

export const EPTP_MEMTYPE_UC = 0;
export const EPTP_MEMTYPE_WB = 6;
/** EPTP bit 6: accessed and dirty flags for EPT on. */
export const EPTP_AD_ENABLE = 0x40n;

/** A valid EPTP, decoded. */
export interface EptpInfo {
  readonly ok: true;
  /** 4 or 5. */
  readonly levels: 4 | 5;
  /** Bits 2:0: 0 (UC) or 6 (WB). */
  readonly memType: number;
  readonly accessedDirty: boolean;
  readonly supervisorShadowStack: boolean;
  /** Physical address of the first EPT paging structure (the EP4TA of SDM 29.4.1, plus PML5 case). */
  readonly root: number;
}

/** `checkEptp` outcome: the decoded pointer, or why VM entry must fail (VM-instruction error 7). */
export type EptpCheck = EptpInfo | { readonly ok: false; readonly reason: string };

export function checkMaxPhysAddr(m: number): void {
  if (!Number.isInteger(m) || m < 32 || m > 52) {
    throw new RangeError(`MAXPHYADDR must be an integer from 32 to 52, got ${m}`);
  }
}

/**
 * Checks an EPTP as VM entry does with "enable EPT" = 1 (SDM 27.2.1.1): a memory type the
 * capability MSR allows, a page-walk length it allows, bit 6 only with EPT A/D support, bit 7
 * only with supervisor shadow-stack support, bits 11:8 and 63:MAXPHYADDR zero.
 * A bad argument (not a 64-bit bigint) is a RangeError; a bad EPTP is reported, not thrown.
 */
export function checkEptp(eptp: bigint, caps: EptCapabilities, maxPhysAddr = 46): EptpCheck {
  if (typeof eptp !== 'bigint' || eptp < 0n || eptp >= 1n << 64n) {
    throw new RangeError(`EPTP must be a 64-bit bigint, got ${String(eptp)}`);
  }
  checkMaxPhysAddr(maxPhysAddr);
  const bad = (why: string): EptpCheck => ({ ok: false, reason: `EPTP ${hex(eptp)}: ${why}` });
  const memType = Number(eptp & 7n);
  if (!(memType === EPTP_MEMTYPE_UC && caps.memTypeUc) && !(memType === EPTP_MEMTYPE_WB && caps.memTypeWb)) {
    const name = EPT_MEMORY_TYPES[memType] ?? 'reserved';
    return bad(`memory type ${memType} (${name}) is not one IA32_VMX_EPT_VPID_CAP allows (bit 8 UC, bit 14 WB)`);
  }
  const walk = Number((eptp >> 3n) & 7n) + 1;
  if (!(walk === 4 && caps.pageWalkLength4) && !(walk === 5 && caps.pageWalkLength5)) {
    return bad(`page-walk length ${walk} (bits 5:3 = ${walk - 1}) is not supported (IA32_VMX_EPT_VPID_CAP bits 6 and 7)`);
  }
  const ad = (eptp & EPTP_AD_ENABLE) !== 0n;
  if (ad && !caps.accessedDirty) return bad('bit 6 (EPT accessed and dirty flags) is set but IA32_VMX_EPT_VPID_CAP bit 21 is 0');
  const sss = (eptp & 0x80n) !== 0n;
  if (sss && !caps.supervisorShadowStack) return bad('bit 7 (supervisor shadow-stack control) is set but IA32_VMX_EPT_VPID_CAP bit 23 is 0');
  if ((eptp & 0xf00n) !== 0n) return bad('reserved bits 11:8 are not zero');
  if (eptp >> BigInt(maxPhysAddr) !== 0n) return bad(`bits 63:${maxPhysAddr} are not zero (MAXPHYADDR = ${maxPhysAddr})`);
  return {
    ok: true, levels: walk as 4 | 5, memType, accessedDirty: ad, supervisorShadowStack: sss,
    root: Number(eptp & ~0xfffn),
  };
}
