// What a processor's EPT supports, as IA32_VMX_EPT_VPID_CAP (MSR 0x48C) reports it (Intel SDM
// Vol. 3D, Appendix A.10). The bit positions live once, in the MSR table of src/msr.ts; this
// module only names the EPT half of them for the walker and the EPTP checks.

import { extractField } from '../bitfields';
import { fieldNamed, Msr } from '../msr';

/** The EPT features one logical processor claims. VPID bits are not part of it. */
export interface EptCapabilities {
  /** Bit 0: an entry may be execute-only (bits 2:0 = 100b); otherwise that is a misconfiguration. */
  readonly executeOnly: boolean;
  /** Bit 6: EPTP bits 5:3 = 3 (a 4-level walk) is allowed. */
  readonly pageWalkLength4: boolean;
  /** Bit 7: EPTP bits 5:3 = 4 (a 5-level walk) is allowed. */
  readonly pageWalkLength5: boolean;
  /** Bit 8: EPTP memory type UC (0) is allowed. */
  readonly memTypeUc: boolean;
  /** Bit 14: EPTP memory type WB (6) is allowed. */
  readonly memTypeWb: boolean;
  /** Bit 16: an EPT PDE may map a 2-MByte page. */
  readonly pde2MB: boolean;
  /** Bit 17: an EPT PDPTE may map a 1-GByte page. */
  readonly pdpte1GB: boolean;
  /** Bit 20: INVEPT is supported. */
  readonly invept: boolean;
  /** Bit 21: accessed and dirty flags for EPT (EPTP bit 6 may be 1). */
  readonly accessedDirty: boolean;
  /** Bit 22: EPT violations report exit-qualification bits 11:9 (advanced VM-exit information). */
  readonly advancedExitInfo: boolean;
  /** Bit 23: EPTP bit 7 (supervisor shadow-stack control) may be 1. */
  readonly supervisorShadowStack: boolean;
  /** Bit 25: single-context INVEPT. */
  readonly inveptSingleContext: boolean;
  /** Bit 26: all-context INVEPT. */
  readonly inveptAllContext: boolean;
}

const CAP = Msr.IA32_VMX_EPT_VPID_CAP;

const NAMES: ReadonlyArray<keyof EptCapabilities> = [
  'executeOnly', 'pageWalkLength4', 'pageWalkLength5', 'memTypeUc', 'memTypeWb', 'pde2MB', 'pdpte1GB',
  'invept', 'accessedDirty', 'advancedExitInfo', 'supervisorShadowStack', 'inveptSingleContext', 'inveptAllContext',
];

/** Decodes the EPT capabilities from an IA32_VMX_EPT_VPID_CAP value (a 64-bit bigint). */
export function decodeEptCapabilities(raw: bigint): EptCapabilities {
  if (typeof raw !== 'bigint' || raw < 0n || raw >= 1n << 64n) {
    throw new RangeError(`IA32_VMX_EPT_VPID_CAP must be a 64-bit bigint, got ${String(raw)}`);
  }
  const out: Record<string, boolean> = {};
  for (const n of NAMES) out[n] = extractField(raw, fieldNamed(CAP, n)) !== 0n;
  return Object.freeze(out as unknown as EptCapabilities);
}
