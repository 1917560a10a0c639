// The CPU model CPUID reports: an Intel 64 processor with VMX and exactly the features this
// emulator implements (no x87/SSE/AVX, whose instructions raise #UD). Leaves per SDM Vol. 2A,
// CPUID, Tables 3-8 .. 3-20.

/** Leaf/subleaf → [eax, ebx, ecx, edx]. */
export type CpuidTable = Map<string, [number, number, number, number]>;

const VENDOR = 'GenuineIntel';

function vendorWords(): [number, number, number] {
  const w = (s: string) => s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24);
  return [w(VENDOR.slice(0, 4)), w(VENDOR.slice(4, 8)), w(VENDOR.slice(8, 12))];
}

/** Leaf 1 feature bits that this machine claims (ECX, EDX). */
export const CPUID1_ECX = (1 << 5) /* VMX */ | (1 << 13) /* CX16 */ | (1 << 22) /* MOVBE */ | (1 << 23) /* POPCNT */ | (1 << 26) /* XSAVE */ | (1 << 30) /* RDRAND */;
export const CPUID1_EDX = (1 << 3) /* PSE */ | (1 << 4) /* TSC */ | (1 << 5) /* MSR */ | (1 << 6) /* PAE */ | (1 << 8) /* CX8 */ |
  (1 << 13) /* PGE */ | (1 << 15) /* CMOV */ | (1 << 16) /* PAT */ | (1 << 17) /* PSE-36 */;
/** Leaf 7 subleaf 0 EBX: SMEP, RDSEED, ADX, SMAP. */
export const CPUID7_EBX = (1 << 7) | (1 << 18) | (1 << 19) | (1 << 20);
/** Leaf 0x80000001: ECX LAHF-SAHF in 64-bit mode and LZCNT; EDX SYSCALL, NX, 1-GByte pages, RDTSCP, LM. */
export const CPUID_EXT1_ECX = (1 << 0) | (1 << 5);
export const CPUID_EXT1_EDX = (1 << 11) | (1 << 20) | (1 << 26) | (1 << 27) | (1 << 29);

/** The default model: family 6, model 0x55 (a Skylake-SP-class part), stepping 4. */
export function defaultCpuid(): CpuidTable {
  const [b, d, c] = vendorWords();
  const t: CpuidTable = new Map();
  t.set('0:0', [0xd, b, c, d]);
  t.set('1:0', [0x00050654, 0x00000800, CPUID1_ECX, CPUID1_EDX]);
  t.set('7:0', [0, CPUID7_EBX, 0, 0]);
  t.set('d:0', [0x1, 0x240, 0, 0]);
  t.set('d:1', [0, 0, 0, 0]);
  t.set('80000000:0', [0x80000008, 0, 0, 0]);
  t.set('80000001:0', [0, 0, CPUID_EXT1_ECX, CPUID_EXT1_EDX]);
  const brand = 'vmx-debug emulated Intel 64 CPU with VMX'.padEnd(48, '\0');
  for (let leaf = 0; leaf < 3; leaf++) {
    const regs: number[] = [];
    for (let r = 0; r < 4; r++) {
      const s = brand.slice(leaf * 16 + r * 4, leaf * 16 + r * 4 + 4);
      regs.push(s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24));
    }
    t.set(`${(0x80000002 + leaf).toString(16)}:0`, regs as [number, number, number, number]);
  }
  t.set('80000008:0', [0x302e, 0, 0, 0]); // 46 physical, 48 linear address bits
  return t;
}

/** Leaves with subleaves: ECX selects (SDM: leaves 4, 7, 0xB, 0xD, …). */
const SUBLEAF_LEAVES = new Set([4, 7, 0xb, 0xd, 0xf, 0x10, 0x12, 0x14, 0x17, 0x18]);

/** Whether ECX selects a subleaf of `leaf` (for the others ECX is ignored). */
export function hasSubleaves(leaf: number): boolean {
  return SUBLEAF_LEAVES.has(leaf);
}

/**
 * Table keys made once for basic leaves 0-FFH with subleaves 0-FFH and extended leaves
 * 80000000H-800000FFH (subleaf 0): a guest's CPUID exits ask for the same few again and again.
 */
const KEYS: string[] = [];

function keyOf(leaf: number, sub: number): string {
  const slot = leaf < 0x100 && sub < 0x100 ? leaf * 0x100 + sub : leaf >= 0x80000000 && leaf < 0x80000100 && sub === 0 ? 0x10000 + leaf - 0x80000000 : -1;
  if (slot < 0) return `${leaf.toString(16)}:${sub.toString(16)}`;
  return KEYS[slot] ??= `${leaf.toString(16)}:${sub.toString(16)}`;
}

/** Looks a leaf up; leaves above the maximum return the highest basic leaf's values (SDM). */
export function cpuidLookup(t: CpuidTable, leaf: number, subleaf: number): [number, number, number, number] {
  const sub = SUBLEAF_LEAVES.has(leaf) ? subleaf : 0;
  const hit = t.get(keyOf(leaf >>> 0, sub >>> 0));
  if (hit !== undefined) return hit;
  const maxBasic = t.get('0:0')?.[0] ?? 0;
  const maxExt = t.get('80000000:0')?.[0] ?? 0;
  const ext = (leaf >>> 0) >= 0x80000000;
  if ((ext && (leaf >>> 0) > maxExt) || (!ext && (leaf >>> 0) > maxBasic)) {
    return t.get(`${maxBasic.toString(16)}:0`) ?? [0, 0, 0, 0];
  }
  return [0, 0, 0, 0];
}
