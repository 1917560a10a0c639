// The EPT walker against EPT hierarchies the test builds in physical memory (Intel SDM Vol. 3C):
// capability decoding (Appendix A.10), EPTP checks (25.6.11, 27.2.1.1), the walk with 4-KByte,
// 2-MByte and 1-GByte pages (29.3.2), violations and their exit qualification (29.3.3.2,
// 28.2.1 Table 28-7), misconfigurations (29.3.3.1), accessed and dirty flags (29.3.5) and the
// cache of guest-physical mappings that only INVEPT empties (29.4).
// Expected values come from the test's own mapping tables and the SDM's rules, never from the walker.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { decodeFields } from '../../src/bitfields';
import { PhysicalMemory } from '../../src/hardware/memory';
import { EptCapabilities, decodeEptCapabilities } from '../../src/hardware/ept-capabilities';
import { checkEptp } from '../../src/hardware/eptp';
import {
  EPT_ACCESS_FETCH, EPT_ACCESS_READ, EPT_ACCESS_WRITE, EPT_GUEST_PAGING, EPT_LINEAR_FINAL, EPT_LINEAR_USER,
  EPT_LINEAR_VALID, EPT_LINEAR_WRITABLE, EPT_LINEAR_XD, EPT_MISCONFIG, EPT_NO_AD, EPT_VIOLATION,
  EPT_VIOLATION_QUALIFICATION_BITS, EptMisconfig, EptNotConfiguredError, EptWalker, eptAccess,
} from '../../src/hardware/ept';

const KiB4 = 0x1000, MiB2 = 0x20_0000, GiB1 = 0x4000_0000;
type Size = typeof KiB4 | typeof MiB2 | typeof GiB1;
const LEAF_LEVEL: Record<Size, number> = { [KiB4]: 1, [MiB2]: 2, [GiB1]: 3 };

// IA32_VMX_EPT_VPID_CAP bit positions, SDM Vol. 3D, Appendix A.10.
const CAP = {
  executeOnly: 0, pageWalkLength4: 6, pageWalkLength5: 7, memTypeUc: 8, memTypeWb: 14, pde2MB: 16, pdpte1GB: 17,
  invept: 20, accessedDirty: 21, advancedExitInfo: 22, supervisorShadowStack: 23, inveptSingleContext: 25, inveptAllContext: 26,
} as const;
type CapName = keyof typeof CAP;

function capsWith(names: readonly CapName[]): EptCapabilities {
  let raw = 0n;
  for (const n of names) raw |= 1n << BigInt(CAP[n]);
  return decodeEptCapabilities(raw);
}

const ALL: readonly CapName[] = ['executeOnly', 'pageWalkLength4', 'pageWalkLength5', 'memTypeUc', 'memTypeWb', 'pde2MB',
  'pdpte1GB', 'invept', 'accessedDirty', 'advancedExitInfo', 'inveptSingleContext', 'inveptAllContext'];
const FULL = capsWith(ALL);
const without = (...n: CapName[]): EptCapabilities => capsWith(ALL.filter((x) => !n.includes(x)));

/** Records writes so tests see exactly which entries the walker updated, and how. */
class SpyMemory extends PhysicalMemory {
  writes: Array<[number, number]> = [];
  override write(address: number, size: 1 | 2 | 4, value: number): void {
    this.writes.push([address, size]);
    super.write(address, size, value);
  }
}

/** A small deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** A random bigint in [0, 2^bits). */
function randBits(r: () => number, bits: number): bigint {
  let v = 0n;
  for (let b = 0; b < bits; b += 16) v = (v << 16n) | BigInt(Math.floor(r() * 65536));
  return v & ((1n << BigInt(bits)) - 1n);
}

const halves = (a: bigint): [number, number] => [Number(a & 0xffff_ffffn), Number(a >> 32n)];
const index = (gpa: bigint, level: number): number => Number((gpa >> BigInt(12 + 9 * (level - 1))) & 0x1ffn);

/** Leaf bits 6:0: R/W/X, memory type (5:3), ignore PAT (6). */
function leafBits(perms: number, memType = 6, ipat = false): bigint {
  return BigInt(perms | (memType << 3) | (ipat ? 0x40 : 0));
}

interface Mapping { gpa: bigint; hpa: bigint; size: Size; perms: number; memType: number; ipat: boolean }

/** Builds an EPT hierarchy in memory: tables are allocated from `next` upwards, 4 KiB each. */
class EptBuilder {
  readonly tables = new Map<string, number>();
  readonly maps: Mapping[] = [];
  next: number;
  readonly root: number;

  constructor(readonly mem: PhysicalMemory, readonly levels: 4 | 5 = 4, base = 0x10_0000) {
    this.next = base;
    this.root = this.table(levels, 0n);
  }

  private key(level: number, gpa: bigint): string {
    return `${level}:${gpa >> BigInt(12 + 9 * level)}`;
  }

  /** The table holding level-`level` entries for `gpa`, created (zeroed) if missing. */
  table(level: number, gpa: bigint): number {
    const k = this.key(level, gpa);
    let t = this.tables.get(k);
    if (t === undefined) {
      t = this.next;
      this.next += 0x1000;
      for (let o = 0; o < 0x1000; o += 4) this.mem.write(t + o, 4, 0);
      this.tables.set(k, t);
    }
    return t;
  }

  hasTable(level: number, gpa: bigint): boolean {
    return this.tables.has(this.key(level, gpa));
  }

  /** Host address of the level-`level` entry used for `gpa`. */
  entry(gpa: bigint, level: number): number {
    return this.table(level, gpa) + 8 * index(gpa, level);
  }

  /** Maps one page; intermediate entries get `upper` (RWX by default). */
  map(gpa: bigint, hpa: bigint, size: Size, perms = 7, memType = 6, ipat = false, upper = 7n): void {
    const leaf = LEAF_LEVEL[size];
    for (let l = this.levels; l > leaf; l--) {
      const ea = this.entry(gpa, l);
      if (this.mem.read64(ea) === 0n) this.mem.write64(ea, BigInt(this.table(l - 1, gpa)) | upper);
    }
    this.mem.write64(this.entry(gpa, leaf), hpa | leafBits(perms, memType, ipat) | (size === KiB4 ? 0n : 0x80n));
    this.maps.push({ gpa, hpa, size, perms, memType, ipat });
  }

  /** An EPTP for this hierarchy: WB, this walk length, A/D as asked. */
  eptp(ad = false, memType = 6n): bigint {
    return BigInt(this.root) | (BigInt(this.levels - 1) << 3n) | memType | (ad ? 0x40n : 0n);
  }

  /** Every entry address a walk for `gpa` down to `leaf` uses, top level first. */
  chain(gpa: bigint, leaf: number): number[] {
    const out: number[] = [];
    for (let l = this.levels; l >= leaf; l--) out.push(this.entry(gpa, l));
    return out;
  }
}

function walker(mem: PhysicalMemory, b: EptBuilder, caps = FULL, ad = false, maxPhysAddr = 46): EptWalker {
  const w = new EptWalker(mem, { maxPhysAddr });
  const c = w.configure(b.eptp(ad), caps);
  assert.ok(c.ok, c.ok ? '' : c.reason);
  return w;
}

function go(w: EptWalker, gpa: bigint, access: number): number {
  const [lo, hi] = halves(gpa);
  return w.translate(lo, hi, access);
}

const setBits = (mem: PhysicalMemory, ea: number, bits: bigint): void => mem.write64(ea, mem.read64(ea) | bits);
const clearBits = (mem: PhysicalMemory, ea: number, bits: bigint): void => mem.write64(ea, mem.read64(ea) & ~bits);
const HPA = 0x1234_4000_0000n; // 1 GiB aligned, below 2^46

// ---- capabilities and the EPTP -------------------------------------------------------------

test('IA32_VMX_EPT_VPID_CAP decodes to the EPT features of SDM Appendix A.10', () => {
  const raw = 0x00000f0106734141n; // a real Skylake-server value
  const caps = decodeEptCapabilities(raw);
  for (const [name, bit] of Object.entries(CAP)) {
    assert.equal(caps[name as CapName], ((raw >> BigInt(bit)) & 1n) === 1n, name);
  }
  assert.equal(Object.keys(caps).length, Object.keys(CAP).length);
  assert.throws(() => decodeEptCapabilities(-1n), RangeError);
  assert.throws(() => decodeEptCapabilities(1n << 64n), /64-bit/);
});

test('EPTP checks of VM entry: memory type, walk length, A/D, shadow-stack bit, reserved bits (SDM 27.2.1.1)', () => {
  const root = 0x5000n;
  const ok4 = root | (3n << 3n) | 6n;
  const good = checkEptp(ok4, FULL);
  assert.ok(good.ok);
  assert.deepEqual(good, { ok: true, levels: 4, memType: 6, accessedDirty: false, supervisorShadowStack: false, root: 0x5000 });
  const c5 = checkEptp(root | (4n << 3n) | 0x40n, FULL);
  assert.ok(c5.ok && c5.levels === 5 && c5.memType === 0 && c5.accessedDirty);

  const bad: Array<[bigint, EptCapabilities, RegExp]> = [];
  for (const mt of [1n, 2n, 3n, 4n, 5n, 7n]) bad.push([(ok4 & ~7n) | mt, FULL, /memory type/]);
  bad.push([(ok4 & ~7n), without('memTypeUc'), /memory type 0 \(UC\)/]);
  bad.push([ok4, without('memTypeWb'), /memory type 6 \(WB\)/]);
  for (const pwl of [0n, 1n, 2n, 5n, 6n, 7n]) bad.push([(ok4 & ~0x38n) | (pwl << 3n), FULL, /page-walk length/]);
  bad.push([ok4, without('pageWalkLength4'), /page-walk length 4/]);
  bad.push([(ok4 & ~0x38n) | (4n << 3n), without('pageWalkLength5'), /page-walk length 5/]);
  bad.push([ok4 | 0x40n, without('accessedDirty'), /bit 6/]);
  bad.push([ok4 | 0x80n, FULL, /bit 7/]);
  for (let b = 8n; b <= 11n; b++) bad.push([ok4 | (1n << b), FULL, /bits 11:8/]);
  for (const b of [46n, 51n, 52n, 63n]) bad.push([ok4 | (1n << b), FULL, /bits 63:46/]);
  for (const [eptp, caps, why] of bad) {
    const c = checkEptp(eptp, caps);
    assert.equal(c.ok, false, `0x${eptp.toString(16)} must be refused`);
    if (!c.ok) assert.match(c.reason, why);
  }
  assert.ok(checkEptp(ok4 | 0x80n, capsWith([...ALL, 'supervisorShadowStack'])).ok, 'bit 7 with CAP bit 23');
  assert.ok(checkEptp(ok4 | (1n << 46n), FULL, 47).ok, 'bit 46 is an address bit when MAXPHYADDR = 47');
  assert.match((checkEptp(ok4 | (1n << 40n), FULL, 40) as { reason: string }).reason, /bits 63:40/);
  assert.throws(() => checkEptp(-1n, FULL), RangeError);
  assert.throws(() => checkEptp(5 as unknown as bigint, FULL), /64-bit bigint/);
});

test('the walker refuses to translate without a valid EPTP, naming why', () => {
  const mem = new PhysicalMemory(4 << 20);
  const w = new EptWalker(mem);
  assert.throws(() => w.translate(0, 0, EPT_ACCESS_READ), EptNotConfiguredError);
  const r = w.configure(0x5000n | (3n << 3n) | 2n, FULL);
  assert.equal(r.ok, false);
  assert.throws(() => w.translate(0, 0, EPT_ACCESS_READ), /memory type 2/);
  assert.throws(() => new EptWalker(mem, { maxPhysAddr: 60 }), RangeError);
});

// ---- translation --------------------------------------------------------------------------

/** Fills `b` with random non-overlapping 4 KiB, 2 MiB and 1 GiB mappings below 2^gpaBits. */
function randomMappings(b: EptBuilder, r: () => number, gpaBits: number, hpaBits: number, counts: Record<Size, number>): void {
  const used1G = new Map<bigint, 'page' | 'split'>();
  const used2M = new Map<bigint, 'page' | 'split'>();
  const used4K = new Set<bigint>();
  const mts = [0, 1, 4, 5, 6];
  const perms = [1, 3, 5, 7];
  for (const size of [GiB1, MiB2, KiB4] as Size[]) {
    for (let n = 0; n < counts[size]; n++) {
      for (;;) {
        const gpa = randBits(r, gpaBits) & ~BigInt(size - 1);
        const g1 = gpa >> 30n, g2 = gpa >> 21n;
        if (size === GiB1) {
          if (used1G.has(g1)) continue;
          used1G.set(g1, 'page');
        } else if (size === MiB2) {
          if (used1G.get(g1) === 'page' || used2M.has(g2)) continue;
          used1G.set(g1, 'split');
          used2M.set(g2, 'page');
        } else {
          if (used1G.get(g1) === 'page' || used2M.get(g2) === 'page' || used4K.has(gpa)) continue;
          used1G.set(g1, 'split');
          used2M.set(g2, 'split');
          used4K.add(gpa);
        }
        const hpa = randBits(r, hpaBits) & ~BigInt(size - 1);
        b.map(gpa, hpa, size, perms[Math.floor(r() * perms.length)], mts[Math.floor(r() * mts.length)], r() < 0.5);
        break;
      }
    }
  }
}

for (const levels of [4, 5] as const) {
  test(`${levels}-level walk: random addresses in random 4K/2M/1G pages translate as the test's mapping table says (SDM 29.3.2)`, () => {
    const mem = new PhysicalMemory(16 << 20);
    const b = new EptBuilder(mem, levels);
    const r = rng(levels * 1000 + 7);
    const phys = levels === 5 ? 52 : 46;
    randomMappings(b, r, levels === 5 ? 52 : 46, phys, { [GiB1]: 8, [MiB2]: 40, [KiB4]: 150 });
    const w = walker(mem, b, FULL, false, phys);
    for (let n = 0; n < 3000; n++) {
      const m = b.maps[Math.floor(r() * b.maps.length)];
      const off = randBits(r, 30) % BigInt(m.size);
      const got = go(w, m.gpa + off, EPT_ACCESS_READ);
      assert.equal(BigInt(got), m.hpa + off, `GPA 0x${(m.gpa + off).toString(16)}`);
      const res = w.result;
      assert.equal(res.pageSize, m.size);
      assert.equal(BigInt(res.pageBase), m.hpa);
      assert.equal(res.memType, m.memType);
      assert.equal(res.ignorePat, m.ipat);
      assert.equal(res.perms, m.perms, 'upper levels are RWX, so the AND is the leaf');
      assert.equal(res.leafEntryAddr, b.entry(m.gpa, LEAF_LEVEL[m.size]));
    }
    // Addresses the table does not map: not present at the level where the built hierarchy ends.
    let unmapped = 0;
    while (unmapped < 300) {
      const gpa = randBits(r, phys);
      if (b.maps.some((m) => gpa >= m.gpa && gpa < m.gpa + BigInt(m.size))) continue;
      unmapped++;
      let level = levels;
      while (level > 1 && b.hasTable(level - 1, gpa)) level--;
      assert.equal(go(w, gpa, EPT_ACCESS_FETCH | EPT_LINEAR_VALID | EPT_LINEAR_FINAL), EPT_VIOLATION);
      assert.equal(w.result.faultLevel, level);
      assert.equal(w.result.qualification, 0x4 | 0x80 | 0x100, 'fetch, nothing permitted, linear valid, final');
    }
  });
}

// ---- permissions and the exit qualification ------------------------------------------------

test('every permission combination × access kind: allowed iff each kind has its bit at every level; otherwise the SDM qualification (28.2.1)', () => {
  const valid = [1, 3, 4, 5, 7]; // present, not misconfigured with execute-only supported
  const kindsList = [EPT_ACCESS_READ, EPT_ACCESS_WRITE, EPT_ACCESS_FETCH, EPT_ACCESS_READ | EPT_ACCESS_WRITE];
  const linears = [0, EPT_LINEAR_VALID, EPT_LINEAR_VALID | EPT_LINEAR_FINAL, EPT_LINEAR_FINAL /* bit 8 alone is meaningless */];
  const gpa = 0x7654_3210_0abcn;
  let cases = 0;
  for (const pml4 of [7, 5, 3]) {
    for (const pde of valid) {
      for (const pte of valid) {
        const mem = new PhysicalMemory(4 << 20);
        const b = new EptBuilder(mem);
        b.map(gpa & ~0xfffn, HPA, KiB4, pte);
        mem.write64(b.entry(gpa, 4), (mem.read64(b.entry(gpa, 4)) & ~7n) | BigInt(pml4));
        mem.write64(b.entry(gpa, 2), (mem.read64(b.entry(gpa, 2)) & ~7n) | BigInt(pde));
        const w = walker(mem, b);
        const and = pml4 & pde & pte;
        for (const kinds of kindsList) {
          for (const lin of linears) {
            w.invalidate();
            const got = go(w, gpa, kinds | lin);
            cases++;
            if ((kinds & ~and) === 0) {
              assert.equal(BigInt(got), HPA + 0xabcn);
              assert.equal(w.result.perms, and);
            } else {
              assert.equal(got, EPT_VIOLATION, `perms ${pml4}/${pde}/${pte} kinds ${kinds}`);
              let q = kinds | (and << 3);
              if ((lin & EPT_LINEAR_VALID) !== 0) q |= 0x80 | (lin & EPT_LINEAR_FINAL);
              assert.equal(w.result.qualification, q, `perms ${pml4}/${pde}/${pte} kinds ${kinds} linear ${lin}`);
            }
          }
        }
      }
    }
  }
  assert.equal(cases, 3 * 5 * 5 * 4 * 4);
});

test('advanced exit information (bits 11:9) only with CAP bit 22, bit 7 and bit 8 (SDM 28.2.1)', () => {
  const mem = new PhysicalMemory(4 << 20);
  const b = new EptBuilder(mem);
  b.map(0x4000n, HPA, KiB4, 1);
  const adv = EPT_LINEAR_USER | EPT_LINEAR_WRITABLE | EPT_LINEAR_XD;
  const wAdv = walker(mem, b, FULL);
  assert.equal(go(wAdv, 0x4000n, EPT_ACCESS_WRITE | EPT_LINEAR_VALID | EPT_LINEAR_FINAL | adv), EPT_VIOLATION);
  assert.equal(wAdv.result.qualification, 0x2 | 0x8 | 0x180 | 0xe00);
  assert.equal(go(wAdv, 0x4000n, EPT_ACCESS_WRITE | EPT_LINEAR_VALID | adv), EPT_VIOLATION);
  assert.equal(wAdv.result.qualification, 0x2 | 0x8 | 0x80, 'paging-structure access: bits 11:9 not reported');
  const wPlain = walker(mem, b, without('advancedExitInfo'));
  assert.equal(go(wPlain, 0x4000n, EPT_ACCESS_WRITE | EPT_LINEAR_VALID | EPT_LINEAR_FINAL | adv), EPT_VIOLATION);
  assert.equal(wPlain.result.qualification, 0x2 | 0x8 | 0x180);
  const named = decodeFields(BigInt(wAdv.result.qualification), EPT_VIOLATION_QUALIFICATION_BITS)
    .filter((f) => f.value !== 0n).map((f) => f.field.name);
  assert.deepEqual(named, ['write', 'readable', 'linearValid']);
  assert.equal(eptAccess({ write: true, linear: true, final: true }), EPT_ACCESS_WRITE | EPT_LINEAR_VALID | EPT_LINEAR_FINAL);
});

for (const levels of [4, 5] as const) {
  test(`${levels}-level: a not-present entry at each level is an EPT violation with permission bits 000, whatever its other bits (SDM 29.3.2)`, () => {
    for (const size of [KiB4, MiB2, GiB1] as Size[]) {
      for (let level = levels; level >= LEAF_LEVEL[size]; level--) {
        const mem = new SpyMemory(8 << 20);
        const b = new EptBuilder(mem, levels);
        const gpa = 0x000a_bcde_f123_4567n & ((1n << 46n) - 1n);
        b.map(gpa & ~BigInt(size - 1), HPA, size, 7);
        const ea = b.entry(gpa, level);
        // Not present: bits 2:0 = 000. Reserved bits, bit 7 and a memory type of 7 do not matter then.
        mem.write64(ea, (mem.read64(ea) & ~7n) | (1n << 51n) | 0x38n | 0x80n);
        mem.writes = [];
        const w = walker(mem, b, FULL, true);
        assert.equal(go(w, gpa, EPT_ACCESS_READ | EPT_LINEAR_VALID | EPT_LINEAR_FINAL), EPT_VIOLATION, `${size} level ${level}`);
        assert.equal(w.result.qualification, 0x1 | 0x180);
        assert.equal(w.result.faultLevel, level);
        assert.equal(w.result.faultEntryAddr, ea);
        assert.equal(mem.writes.length, 0, 'a faulting walk sets no accessed flag');
      }
    }
  });
}

// ---- misconfigurations ----------------------------------------------------------------------

/** Builds a 4-level (or 5-level) mapping of `size` at GPA and returns the walker, the entry of `level` and its builder. */
function fixture(size: Size, level: number, levels: 4 | 5 = 4, caps = FULL, maxPhysAddr = 46) {
  const mem = new PhysicalMemory(8 << 20);
  const b = new EptBuilder(mem, levels);
  const gpa = 0x0000_1357_9bdf_0246n & ~BigInt(size - 1);
  b.map(gpa, HPA, size, 7);
  const w = walker(mem, b, caps, false, maxPhysAddr);
  return { mem, b, w, gpa, ea: b.entry(gpa, level) };
}

function expectMisconfig(w: EptWalker, gpa: bigint, why: EptMisconfig, level: number, msg: string): void {
  assert.equal(go(w, gpa, EPT_ACCESS_READ), EPT_MISCONFIG, msg);
  assert.equal(w.result.misconfig, why, msg);
  assert.equal(w.result.faultLevel, level, msg);
  assert.match(w.result.describeMisconfig(), /EPT (PTE|PDE|PDPTE|PML4E|PML5E) at 0x/);
}

for (const levels of [4, 5] as const) {
  test(`${levels}-level: write-only, write+execute and unsupported execute-only entries are misconfigurations at every level (SDM 29.3.3.1)`, () => {
    for (const size of [KiB4, MiB2, GiB1] as Size[]) {
      for (let level = levels; level >= LEAF_LEVEL[size]; level--) {
        for (const rwx of [2, 6]) {
          const f = fixture(size, level, levels);
          f.mem.write64(f.ea, (f.mem.read64(f.ea) & ~7n) | BigInt(rwx));
          expectMisconfig(f.w, f.gpa, EptMisconfig.WriteWithoutRead, level, `rwx ${rwx} size ${size} level ${level}`);
        }
        const noX = fixture(size, level, levels, without('executeOnly'));
        noX.mem.write64(noX.ea, (noX.mem.read64(noX.ea) & ~7n) | 4n);
        expectMisconfig(noX.w, noX.gpa, EptMisconfig.ExecuteOnly, level, `execute-only, size ${size} level ${level}`);
        const x = fixture(size, level, levels);
        x.mem.write64(x.ea, (x.mem.read64(x.ea) & ~7n) | 4n);
        assert.equal(BigInt(go(x.w, x.gpa, EPT_ACCESS_FETCH)), HPA + (x.gpa & BigInt(size - 1)), 'execute-only supported: fetch works');
        assert.equal(go(x.w, x.gpa, EPT_ACCESS_READ), EPT_VIOLATION);
        assert.equal(x.w.result.qualification, 0x1 | (4 << 3));
      }
    }
  });

  test(`${levels}-level: reserved bits — 51:MAXPHYADDR everywhere, 6:3 of non-leaf entries, 29:12 / 20:12 of large pages (SDM 29.3.2)`, () => {
    for (const size of [KiB4, MiB2, GiB1] as Size[]) {
      const leaf = LEAF_LEVEL[size];
      for (let level = levels; level >= leaf; level--) {
        const rsvd: bigint[] = [];
        for (let bit = 46n; bit <= 51n; bit++) rsvd.push(1n << bit);
        if (level > leaf) for (let bit = 3n; bit <= 6n; bit++) rsvd.push(1n << bit);
        if (level === leaf && size === MiB2) for (let bit = 12n; bit <= 20n; bit++) rsvd.push(1n << bit);
        if (level === leaf && size === GiB1) for (let bit = 12n; bit <= 29n; bit++) rsvd.push(1n << bit);
        for (const bits of rsvd) {
          const f = fixture(size, level, levels);
          setBits(f.mem, f.ea, bits);
          expectMisconfig(f.w, f.gpa, EptMisconfig.ReservedBit, level, `bit ${bits.toString(16)} size ${size} level ${level}`);
        }
        // MAXPHYADDR = 52: bits 51:46 are address bits, so the entry points elsewhere but is valid.
        if (level === leaf) {
          const f = fixture(size, level, levels, FULL, 52);
          setBits(f.mem, f.ea, 1n << 50n);
          assert.equal(BigInt(go(f.w, f.gpa, EPT_ACCESS_READ)), (1n << 50n) + HPA + (f.gpa & BigInt(size - 1)));
        }
      }
    }
  });
}

test('ignored bits do not misconfigure: bits 63:52, 11:9 (A/D off), PTE bit 7, leaf bit 6 (SDM 29.3.2)', () => {
  for (const size of [KiB4, MiB2, GiB1] as Size[]) {
    const f = fixture(size, 1);
    for (let level = 4; level >= LEAF_LEVEL[size]; level--) setBits(f.mem, f.b.entry(f.gpa, level), 0xfff0_0000_0000_0000n | 0xe00n);
    if (size === KiB4) setBits(f.mem, f.b.entry(f.gpa, 1), 0x80n);
    assert.equal(BigInt(go(f.w, f.gpa, EPT_ACCESS_READ)), HPA + (f.gpa & BigInt(size - 1)), `size ${size}`);
  }
});

test('page-size bit where no page may be mapped: PML5E/PML4E always, PDPTE without 1G support, PDE without 2M support (SDM 29.3.2)', () => {
  for (const levels of [4, 5] as const) {
    for (let level = levels; level >= 4; level--) {
      const f = fixture(KiB4, level, levels);
      setBits(f.mem, f.ea, 0x80n);
      expectMisconfig(f.w, f.gpa, EptMisconfig.LargePage, level, `bit 7 at level ${level}`);
    }
  }
  const g = fixture(GiB1, 3, 4, without('pdpte1GB'));
  expectMisconfig(g.w, g.gpa, EptMisconfig.LargePage, 3, '1 GiB without CAP bit 17');
  const m = fixture(MiB2, 2, 4, without('pde2MB'));
  expectMisconfig(m.w, m.gpa, EptMisconfig.LargePage, 2, '2 MiB without CAP bit 16');
});

test('leaf memory types 2, 3 and 7 are misconfigurations; 0, 1, 4, 5, 6 are reported with ignore-PAT (SDM 29.3.3.1, 29.3.7)', () => {
  for (const size of [KiB4, MiB2, GiB1] as Size[]) {
    const leaf = LEAF_LEVEL[size];
    for (let mt = 0; mt < 8; mt++) {
      for (const ipat of [false, true]) {
        const f = fixture(size, leaf);
        f.mem.write64(f.ea, (f.mem.read64(f.ea) & ~0x78n) | BigInt((mt << 3) | (ipat ? 0x40 : 0)));
        if (mt === 2 || mt === 3 || mt === 7) {
          expectMisconfig(f.w, f.gpa, EptMisconfig.MemoryType, leaf, `type ${mt} size ${size}`);
        } else {
          assert.equal(BigInt(go(f.w, f.gpa, EPT_ACCESS_READ)), HPA + (f.gpa & BigInt(size - 1)));
          assert.equal(f.w.result.memType, mt);
          assert.equal(f.w.result.ignorePat, ipat);
        }
      }
    }
  }
});

test('misconfiguration takes precedence over a permission violation; a not-present entry stops the walk first (SDM 29.3.3.2)', () => {
  const f = fixture(KiB4, 1);
  clearBits(f.mem, f.b.entry(f.gpa, 4), 2n); // PML4E read/execute only: a write would be a violation
  f.mem.write64(f.ea, (f.mem.read64(f.ea) & ~0x38n) | (3n << 3n)); // PTE memory type 3
  assert.equal(go(f.w, f.gpa, EPT_ACCESS_WRITE), EPT_MISCONFIG);
  assert.equal(f.w.result.faultLevel, 1);
  clearBits(f.mem, f.b.entry(f.gpa, 3), 7n); // PDPTE not present
  assert.equal(go(f.w, f.gpa, EPT_ACCESS_WRITE), EPT_VIOLATION);
  assert.equal(f.w.result.faultLevel, 3);
  assert.equal(f.w.result.qualification, 0x2);
});

// ---- accessed and dirty flags ----------------------------------------------------------------

test('with EPTP bit 6 = 0 the walker writes nothing to the EPT (SDM 29.3.5)', () => {
  for (const size of [KiB4, MiB2, GiB1] as Size[]) {
    const mem = new SpyMemory(8 << 20);
    const b = new EptBuilder(mem);
    b.map(0x8000_0000n, HPA, size);
    mem.writes = [];
    const w = walker(mem, b, FULL, false);
    for (const k of [EPT_ACCESS_READ, EPT_ACCESS_WRITE, EPT_ACCESS_FETCH, EPT_ACCESS_READ | EPT_GUEST_PAGING]) {
      w.invalidate();
      assert.ok(go(w, 0x8000_0123n, k | EPT_LINEAR_VALID) >= 0);
    }
    assert.deepEqual(mem.writes, []);
  }
});

for (const levels of [4, 5] as const) {
  test(`${levels}-level, EPT A/D on: accessed in every entry used, dirty only in the leaf and only for writes (SDM 29.3.5)`, () => {
    for (const size of [KiB4, MiB2, GiB1] as Size[]) {
      const mem = new SpyMemory(8 << 20);
      const b = new EptBuilder(mem, levels);
      const gpa = 0x0001_c000_0000n;
      b.map(gpa, HPA, size);
      const leaf = LEAF_LEVEL[size];
      const chain = b.chain(gpa, leaf);
      const before = chain.map((a) => mem.read64(a));
      mem.writes = [];
      const w = walker(mem, b, FULL, true);
      for (const k of [EPT_ACCESS_READ, EPT_ACCESS_FETCH]) {
        w.invalidate();
        assert.ok(go(w, gpa + 0x10n, k) >= 0);
        chain.forEach((a, i) => assert.equal(mem.read64(a), before[i] | 0x100n, `entry ${i} after kind ${k}: A only`));
      }
      assert.deepEqual(mem.writes, chain.map((a) => [a, 4]), 'one 4-byte write per entry, once; none when A is already set');
      mem.writes = [];
      assert.ok(go(w, gpa + 0x20n, EPT_ACCESS_WRITE) >= 0);
      chain.forEach((a, i) => assert.equal(mem.read64(a), before[i] | 0x100n | (i === chain.length - 1 ? 0x200n : 0n)));
      assert.deepEqual(mem.writes, [[chain[chain.length - 1], 4]], 'only the leaf gains the dirty flag');
      mem.writes = [];
      w.invalidate();
      assert.ok(go(w, gpa + 0x30n, EPT_ACCESS_WRITE) >= 0);
      assert.deepEqual(mem.writes, [], 'flags already set: no write');
    }
  });
}

test('A/D on: guest paging-structure accesses are writes — dirty set, W required, qualification bits 0 and 1 (SDM 29.3.3.2, 29.3.5, Table 28-7 note)', () => {
  const mem = new SpyMemory(8 << 20);
  const b = new EptBuilder(mem);
  const ptePage = 0x3000n, roPage = 0x5000n;
  b.map(ptePage, 0x9000n, KiB4, 7);
  b.map(roPage, 0xa000n, KiB4, 1); // read-only for EPT
  const gp = EPT_ACCESS_READ | EPT_GUEST_PAGING | EPT_LINEAR_VALID; // a guest page walk reading a PTE
  const ad = walker(mem, b, FULL, true);
  assert.equal(go(ad, ptePage + 0x18n, gp), 0x9018);
  assert.equal(mem.read64(b.entry(ptePage, 1)) & 0x300n, 0x300n, 'accessed and dirty in the leaf');
  assert.equal(go(ad, roPage + 8n, gp), EPT_VIOLATION);
  assert.equal(ad.result.qualification, 0x1 | 0x2 | (1 << 3) | 0x80, 'read and write, readable only, linear valid, not final');
  // Loads of PAE PDPTEs at MOV CR3 are plain reads without a linear address (29.3.3.2).
  assert.equal(go(ad, roPage + 8n, EPT_ACCESS_READ), 0xa008);
  assert.equal(mem.read64(b.entry(roPage, 1)) & 0x300n, 0x100n, 'accessed, not dirty');

  const mem2 = new SpyMemory(8 << 20);
  const b2 = new EptBuilder(mem2);
  b2.map(roPage, 0xa000n, KiB4, 1);
  const noAd = walker(mem2, b2, FULL, false);
  assert.equal(go(noAd, roPage + 8n, gp), 0xa008, 'A/D off: a guest paging-structure read is only a read');
  assert.equal(go(noAd, roPage + 8n, EPT_ACCESS_WRITE | EPT_GUEST_PAGING | EPT_LINEAR_VALID), EPT_VIOLATION);
  assert.equal(noAd.result.qualification, 0x2 | (1 << 3) | 0x80, 'A/D update of a guest entry: a write');
});

test('a violation and a probe (EPT_NO_AD) write no A/D flags', () => {
  const mem = new SpyMemory(8 << 20);
  const b = new EptBuilder(mem);
  b.map(0x5000n, HPA, KiB4, 5);
  mem.writes = [];
  const w = walker(mem, b, FULL, true);
  assert.equal(go(w, 0x5000n, EPT_ACCESS_WRITE), EPT_VIOLATION);
  assert.equal(go(w, 0x5000n, EPT_ACCESS_READ | EPT_NO_AD), Number(HPA));
  assert.deepEqual(mem.writes, []);
});

// ---- the translation cache and INVEPT -----------------------------------------------------

test('a stale translation stays in use after the EPT changes until INVEPT, and is gone after it (SDM 29.4.3)', () => {
  const mem = new PhysicalMemory(8 << 20);
  const b = new EptBuilder(mem);
  const gpa = 0x0042_0000_1000n;
  b.map(gpa, HPA, KiB4);
  const w = walker(mem, b);
  const eptp = b.eptp();
  assert.equal(BigInt(go(w, gpa + 0x10n, EPT_ACCESS_READ)), HPA + 0x10n);
  assert.equal(w.result.cached, false);
  const pte = b.entry(gpa, 1);
  mem.write64(pte, 0x7000n | 7n | (6n << 3n)); // point the PTE elsewhere, no INVEPT
  assert.equal(BigInt(go(w, gpa + 0x20n, EPT_ACCESS_WRITE)), HPA + 0x20n, 'old host page still used');
  assert.equal(w.result.cached, true);
  w.invalidate(0x9000n | (3n << 3n) | 6n); // single-context for another EP4TA
  assert.equal(BigInt(go(w, gpa, EPT_ACCESS_READ)), HPA, 'another context: still stale');
  w.invalidate(eptp | 0x40n); // single-context: EP4TA is what matters, not the other EPTP bits
  assert.equal(go(w, gpa + 0x20n, EPT_ACCESS_READ), 0x7020);

  mem.write64(pte, 0n); // unmap
  assert.equal(go(w, gpa + 0x30n, EPT_ACCESS_READ), 0x7030, 'unmapped but cached');
  w.invalidate(); // all-context
  assert.equal(go(w, gpa + 0x30n, EPT_ACCESS_READ), EPT_VIOLATION);
  assert.equal(w.result.faultLevel, 1);
});

test('cached mappings are tagged by EP4TA: two hierarchies keep their own, and reconfiguring flushes nothing (SDM 29.4.1)', () => {
  const mem = new PhysicalMemory(8 << 20);
  const a = new EptBuilder(mem, 4, 0x10_0000);
  const c = new EptBuilder(mem, 4, 0x20_0000);
  const gpa = 0x6000n;
  a.map(gpa, 0xa000n, KiB4);
  c.map(gpa, 0xc000n, KiB4);
  const w = walker(mem, a);
  assert.equal(go(w, gpa, EPT_ACCESS_READ), 0xa000);
  mem.write64(a.entry(gpa, 1), 0xb000n | 7n | (6n << 3n));
  assert.ok(w.configure(c.eptp(), FULL).ok);
  assert.equal(go(w, gpa, EPT_ACCESS_READ), 0xc000, 'the other EP4TA walks its own tables');
  assert.ok(w.configure(a.eptp(false, 0n), FULL).ok); // same EP4TA, UC this time
  assert.equal(go(w, gpa, EPT_ACCESS_READ), 0xa000, 'same EP4TA: the stale mapping is still there');
  w.invalidate(c.eptp());
  assert.equal(go(w, gpa, EPT_ACCESS_READ), 0xa000, 'INVEPT of the other context leaves it');
  w.invalidate(a.eptp());
  assert.equal(go(w, gpa, EPT_ACCESS_READ), 0xb000);
});

test('a probe uses the cache but never fills it; a write after a cached read still sets the dirty flag', () => {
  const mem = new PhysicalMemory(8 << 20);
  const b = new EptBuilder(mem);
  b.map(0x6000n, 0xa000n, KiB4);
  const w = walker(mem, b, FULL, false);
  assert.equal(go(w, 0x6000n, EPT_ACCESS_READ | EPT_NO_AD), 0xa000);
  mem.write64(b.entry(0x6000n, 1), 0xb000n | 7n | (6n << 3n));
  assert.equal(go(w, 0x6000n, EPT_ACCESS_READ), 0xb000, 'the probe cached nothing');
  assert.equal(w.result.cached, false);
  assert.equal(go(w, 0x6000n, EPT_ACCESS_READ | EPT_NO_AD), 0xb000);
  assert.equal(w.result.cached, true, 'the probe saw the cached translation');

  // Same EP4TA with A/D turned on: the mapping cached without A/D must still set the flags.
  assert.equal(mem.read64(b.entry(0x6000n, 1)) & 0x300n, 0n);
  assert.ok(w.configure(b.eptp(true), FULL).ok);
  assert.equal(go(w, 0x6000n, EPT_ACCESS_READ), 0xb000);
  for (const ea of b.chain(0x6000n, 1)) assert.equal(mem.read64(ea) & 0x300n, 0x100n, 'accessed, not dirty');
  assert.equal(go(w, 0x6008n, EPT_ACCESS_READ), 0xb008);
  assert.equal(w.result.cached, true);
  assert.equal(go(w, 0x6008n, EPT_ACCESS_WRITE), 0xb008);
  assert.equal(mem.read64(b.entry(0x6000n, 1)) & 0x300n, 0x300n, 'dirty set although the page was cached');
});
