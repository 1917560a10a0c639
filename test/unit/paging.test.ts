// The paging unit against hand-built page tables (Intel SDM Vol. 3A, chapter 4): mode selection
// (4.1.1), 32-bit (4.3), PAE (4.4), 4-level and 5-level (4.5) walks, access rights (4.6),
// page-fault error codes (4.7) and the accessed and dirty flags (4.8).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PhysicalMemory } from '../../src/hardware/memory';
import {
  ACCESS_AC, ACCESS_FETCH, ACCESS_IMPLICIT, ACCESS_NO_AD, ACCESS_READ, ACCESS_USER, ACCESS_WRITE,
  CR0_PG, CR0_WP, CR4_LA57, CR4_PAE, CR4_PGE, CR4_PSE, CR4_SMAP, CR4_SMEP, EFER_LMA, EFER_LME, EFER_NXE,
  KIND_R, KIND_UR, KIND_UX, KIND_W, KIND_X, PAGE_FAULT, PAGE_SIZE_1G, PAGE_SIZE_2M, PAGE_SIZE_4K, PAGE_SIZE_4M,
  PERM_DIRTY, PERM_EXEC, PERM_GLOBAL, PERM_USER, PERM_WRITE, PF_ID, PF_P, PF_RSVD, PF_U, PF_W,
  PageWalker, PagingControl, PagingMode, accessFlags, loadPdptes, pagingMode,
} from '../../src/hardware/paging';

const MiB = 1 << 20;
const CR0_PE = 1;
const P = 1n, RW = 2n, US = 4n, A = 0x20n, D = 0x40n, PS = 0x80n, G = 0x100n, XD = 1n << 63n;
const PRESENT_RW_US = P | RW | US;

/** Records every write so tests can see that A/D updates are single 4-byte writes. */
class SpyMemory extends PhysicalMemory {
  writes: Array<[number, number]> = [];
  override write(address: number, size: 1 | 2 | 4, value: number): void {
    this.writes.push([address, size]);
    super.write(address, size, value);
  }
}

function memory(): SpyMemory {
  return new SpyMemory(32 * MiB);
}

/** Splits a 64-bit linear address into the (lo, hi) halves `translate` takes. */
function halves(la: bigint): [number, number] {
  return [Number(la & 0xffff_ffffn), Number((la >> 32n) & 0xffff_ffffn)];
}

/** Index into the paging structure at `level` (1 = page table … 5 = PML5), 9 bits each. */
function index(la: bigint, level: number): number {
  return Number((la >> BigInt(12 + 9 * (level - 1))) & 0x1ffn);
}

function set64(mem: PhysicalMemory, addr: number, value: bigint): void {
  mem.write64(addr, value);
}

// ---- 4-level paging fixture (SDM 4.5) --------------------------------------------------------

const PML5 = 0x0000, PML4 = 0x1000, PDPT = 0x2000, PD = 0x3000, PT = 0x4000;
const FRAME = 0x12_3456_7000n; // above 4 GiB, below 2^46
/** A canonical higher-half address whose every index is nonzero. */
const LA = 0xffff_8123_4567_8abcn;

interface Chain { pml4e: number; pdpte: number; pde: number; pte: number }

/** The entries `build4` writes unless told otherwise: all present, writable, user. */
const DEFAULTS: Record<keyof Chain, bigint> = {
  pml4e: BigInt(PDPT) | PRESENT_RW_US, pdpte: BigInt(PD) | PRESENT_RW_US, pde: BigInt(PT) | PRESENT_RW_US, pte: FRAME | PRESENT_RW_US,
};

/** Builds PML4 → PDPT → PD → PT → FRAME for `la`; `over` replaces individual entries. */
function build4(mem: PhysicalMemory, la: bigint, over: Partial<Record<keyof Chain, bigint>> = {}): Chain {
  const c: Chain = {
    pml4e: PML4 + 8 * index(la, 4),
    pdpte: PDPT + 8 * index(la, 3),
    pde: PD + 8 * index(la, 2),
    pte: PT + 8 * index(la, 1),
  };
  for (const k of ['pml4e', 'pdpte', 'pde', 'pte'] as const) set64(mem, c[k], over[k] ?? DEFAULTS[k]);
  return c;
}

function long4(mem: PhysicalMemory, extra: { cr0?: number; cr4?: number; efer?: number; maxPhysAddr?: number; gbPages?: boolean } = {}): PageWalker {
  const w = new PageWalker(mem, { maxPhysAddr: extra.maxPhysAddr, gbPages: extra.gbPages });
  w.configure({
    cr0: extra.cr0 ?? (CR0_PG | CR0_WP | CR0_PE),
    cr3: PML4,
    cr4: extra.cr4 ?? CR4_PAE,
    efer: extra.efer ?? (EFER_LME | EFER_LMA | EFER_NXE),
  });
  return w;
}

/** Translates and returns the physical address, or the #PF error code as `{ pf }`. */
function go(w: PageWalker, la: bigint, access: number): number | { pf: number } {
  const [lo, hi] = halves(la);
  const r = w.translate(lo, hi, access);
  if (r === PAGE_FAULT) {
    assert.equal(w.result.faultAddress, la & 0xffff_ffff_ffff_ffffn, 'CR2 value is the faulting linear address');
    return { pf: w.result.errorCode };
  }
  assert.ok(r >= 0);
  return r;
}

const read64 = (mem: PhysicalMemory, a: number): bigint => mem.read64(a);

// ---- mode selection ----------------------------------------------------------------------

test('paging mode follows CR0.PG, CR4.PAE, IA32_EFER.LME/LMA and CR4.LA57 (SDM 4.1.1, Table 4-1)', () => {
  assert.equal(pagingMode(0, CR4_PAE, EFER_LME), PagingMode.None);
  assert.equal(pagingMode(CR0_PG | CR0_PE, 0, 0), PagingMode.Bit32);
  assert.equal(pagingMode(CR0_PG | CR0_PE, CR4_PSE, EFER_NXE), PagingMode.Bit32);
  assert.equal(pagingMode(CR0_PG | CR0_PE, CR4_PAE, 0), PagingMode.Pae);
  assert.equal(pagingMode(CR0_PG | CR0_PE, CR4_PAE, EFER_LME | EFER_LMA), PagingMode.Level4);
  assert.equal(pagingMode(CR0_PG | CR0_PE, CR4_PAE, EFER_LMA), PagingMode.Level4);
  assert.equal(pagingMode(CR0_PG | CR0_PE, CR4_PAE | CR4_LA57, EFER_LME | EFER_LMA), PagingMode.Level5);
  assert.equal(pagingMode(0x8000_0011n, BigInt(CR4_PAE), 0x500n), PagingMode.Level4, 'bigint control values');
});

test('with CR0.PG = 0 linear addresses are physical (SDM 4.1.1)', () => {
  const mem = memory();
  const w = new PageWalker(mem);
  w.configure({ cr0: CR0_PE, cr3: 0, cr4: 0, efer: 0 });
  assert.equal(w.mode, PagingMode.None);
  assert.equal(w.translate(0x1234_5678, 0, ACCESS_USER | ACCESS_WRITE), 0x1234_5678);
  assert.equal(w.result.pageBase, 0x1234_5000);
  assert.equal(mem.writes.length, 0);
});

// ---- 32-bit paging (SDM 4.3) -------------------------------------------------------------

function bit32(mem: PhysicalMemory, cr4 = 0, efer = 0, cr0 = CR0_PG | CR0_WP | CR0_PE): PageWalker {
  const w = new PageWalker(mem);
  w.configure({ cr0, cr3: 0x1000 | 0x18 /* PWT/PCD ignored for the address */, cr4, efer });
  return w;
}

test('32-bit paging: 4 KiB page through PDE (CR3[31:12]) and PTE (SDM 4.3, Tables 4-5, 4-6)', () => {
  const mem = memory();
  const la = 0x0040_3abcn; // PDE 1, PTE 3
  mem.write(0x1000 + 4 * 1, 4, 0x2000 | 7);
  mem.write(0x2000 + 4 * 3, 4, 0x0055_5000 | 7 | 0x100);
  const w = bit32(mem, CR4_PGE);
  assert.equal(w.mode, PagingMode.Bit32);
  assert.equal(go(w, la, ACCESS_READ), 0x55_5abc);
  assert.equal(w.result.pageSize, PAGE_SIZE_4K);
  assert.equal(w.result.pageBase, 0x55_5000);
  assert.equal(w.result.leafEntryAddr, 0x200c);
  assert.equal(w.result.perms, PERM_WRITE | PERM_USER | PERM_EXEC | PERM_GLOBAL);
  assert.equal(mem.read(0x1004, 4), 0x2000 | 7 | 0x20, 'PDE accessed');
  assert.equal(mem.read(0x200c, 4), 0x55_5000 | 7 | 0x100 | 0x20, 'PTE accessed, not dirty');
  assert.equal(go(w, la, ACCESS_WRITE | ACCESS_USER), 0x55_5abc);
  assert.equal(mem.read(0x200c, 4), 0x55_5000 | 7 | 0x100 | 0x60, 'PTE dirty after a write');
  assert.ok(w.result.dirty && w.result.global);
});

test('32-bit paging: 4 MiB pages need CR4.PSE = 1; otherwise PS is ignored (SDM 4.3, Table 4-4)', () => {
  const mem = memory();
  const la = 0x0080_1234n; // PDE 2
  mem.write(0x1008, 4, 0x00c0_0000 | Number(PS | PRESENT_RW_US));
  mem.write(0x00c0_0004, 4, 0x0077_7000 | 7); // what the PDE points at when read as a page table
  const pse = bit32(mem, CR4_PSE);
  assert.equal(go(pse, la, ACCESS_READ), 0x00c0_1234);
  assert.equal(pse.result.pageSize, PAGE_SIZE_4M);
  assert.equal(pse.result.pageBase, 0x00c0_0000);
  assert.equal(mem.read(0x1008, 4) & 0x60, 0x20, '4 MiB PDE accessed, not dirty');
  const nopse = bit32(mem, 0);
  assert.equal(go(nopse, la, ACCESS_READ), 0x0077_7234, 'CR4.PSE = 0: the PDE references a page table');
  assert.equal(nopse.result.pageSize, PAGE_SIZE_4K);
});

test('32-bit paging: PSE-36 maps PDE bits 20:13 to physical bits 39:32; bit 21 is reserved (SDM 4.3, Table 4-4)', () => {
  const mem = memory();
  const la = 0x0080_1234n;
  mem.write(0x1008, 4, 0x00c0_0000 | (0xa5 << 13) | Number(PS | PRESENT_RW_US));
  const w = bit32(mem, CR4_PSE);
  assert.equal(go(w, la, ACCESS_READ), 0xa5 * 2 ** 32 + 0x00c0_1234);
  assert.equal(w.result.pageBase, 0xa5 * 2 ** 32 + 0x00c0_0000);

  mem.write(0x1008, 4, 0x00c0_0000 | (1 << 21) | Number(PS | PRESENT_RW_US));
  assert.deepEqual(go(w, la, ACCESS_READ), { pf: PF_P | PF_RSVD });
  assert.equal(mem.read(0x1008, 4) & 0x20, 0, 'no accessed flag in the entry that faulted');

  // MAXPHYADDR = 36: only PDE bits 16:13 are address bits, bits 21:17 are reserved.
  const w36 = new PageWalker(mem, { maxPhysAddr: 36 });
  w36.configure({ cr0: CR0_PG | CR0_PE, cr3: 0x1000, cr4: CR4_PSE, efer: 0 });
  mem.write(0x1008, 4, 0x00c0_0000 | (0xf << 13) | Number(PS | PRESENT_RW_US));
  assert.equal(go(w36, la, ACCESS_READ), 0xf * 2 ** 32 + 0x00c0_1234);
  mem.write(0x1008, 4, 0x00c0_0000 | (0x10 << 13) | Number(PS | PRESENT_RW_US));
  assert.deepEqual(go(w36, la, ACCESS_USER), { pf: PF_P | PF_RSVD | PF_U });
});

test('32-bit paging: not-present PDE and PTE, and no I/D bit without SMEP even when NXE = 1 (SDM 4.7)', () => {
  const mem = memory();
  const la = 0x0040_3abcn;
  const w = bit32(mem, 0, EFER_NXE);
  assert.deepEqual(go(w, la, ACCESS_READ), { pf: 0 });
  mem.write(0x1004, 4, 0x2000 | 7);
  assert.deepEqual(go(w, la, ACCESS_WRITE | ACCESS_USER), { pf: PF_W | PF_U });
  assert.deepEqual(go(w, la, ACCESS_FETCH), { pf: 0 }, 'no execute-disable in 32-bit paging: I/D stays 0');
  mem.write(0x200c, 4, 0x55_5000 | 3); // supervisor page
  assert.deepEqual(go(w, la, ACCESS_FETCH | ACCESS_USER), { pf: PF_P | PF_U });
  const smep = bit32(mem, CR4_SMEP, EFER_NXE);
  assert.deepEqual(go(smep, la, ACCESS_FETCH | ACCESS_USER), { pf: PF_P | PF_U | PF_ID }, 'SMEP makes I/D reported');
});

// ---- PAE paging (SDM 4.4) ----------------------------------------------------------------

const PAE_CR3 = 0x1020; // PDPT at CR3[31:5]

function pae(mem: PhysicalMemory, efer = 0, cr4 = 0, cr0 = CR0_PG | CR0_WP | CR0_PE): PageWalker {
  const loaded = loadPdptes(mem, PAE_CR3);
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.reason);
  const w = new PageWalker(mem);
  w.configure({ cr0, cr3: PAE_CR3, cr4: CR4_PAE | cr4, efer, pdptes: loaded.pdptes });
  return w;
}

test('PAE paging: PDPTE (cached) → PDE → PTE, 4 KiB page above 4 GiB (SDM 4.4.1, 4.4.2, Tables 4-8, 4-10, 4-11)', () => {
  const mem = memory();
  const la = 0xc060_3abcn; // PDPTE 3, PDE 3, PTE 3
  set64(mem, PAE_CR3 + 8 * 3, 0x2000n | P);
  set64(mem, 0x2000 + 8 * index(la, 2), 0x3000n | PRESENT_RW_US);
  set64(mem, 0x3000 + 8 * index(la, 1), 0x1_2345_6000n | PRESENT_RW_US);
  const w = pae(mem);
  assert.equal(w.mode, PagingMode.Pae);
  assert.equal(go(w, la, ACCESS_READ), 0x1_2345_6abc);
  assert.equal(w.result.pageSize, PAGE_SIZE_4K);
  assert.equal(read64(mem, PAE_CR3 + 24), 0x2000n | P, 'PDPTEs have no accessed flag in PAE paging');
  assert.equal(read64(mem, 0x2000 + 8 * 3) & A, A);
  assert.equal(read64(mem, 0x3000 + 8 * 3) & (A | D), A);

  // The walker uses the PDPTEs loaded at MOV CR3, not the ones now in memory (SDM 4.4.1).
  set64(mem, PAE_CR3 + 8 * 3, 0n);
  assert.equal(go(w, la, ACCESS_READ), 0x1_2345_6abc);
  assert.deepEqual(go(pae(mem), la, ACCESS_WRITE | ACCESS_USER), { pf: PF_W | PF_U }, 'reloaded: PDPTE not present');
});

test('PAE paging: 2 MiB page from PDE.PS; bits 20:13 reserved (SDM 4.4.2, Table 4-9)', () => {
  const mem = memory();
  const la = 0x4060_3abcn; // PDPTE 1, PDE 3
  set64(mem, PAE_CR3 + 8, 0x2000n | P);
  set64(mem, 0x2000 + 8 * 3, 0x0060_0000n | PS | PRESENT_RW_US);
  const w = pae(mem);
  assert.equal(go(w, la, ACCESS_WRITE), 0x0060_0000 + 0x0_3abc);
  assert.equal(w.result.pageSize, PAGE_SIZE_2M);
  assert.equal(read64(mem, 0x2000 + 8 * 3) & (A | D), A | D);
  set64(mem, 0x2000 + 8 * 3, 0x0060_0000n | (1n << 13n) | PS | PRESENT_RW_US);
  assert.deepEqual(go(w, la, ACCESS_READ), { pf: PF_P | PF_RSVD });
});

test('PAE paging: XD is reserved when EFER.NXE = 0, and an execute-disable bit when NXE = 1 (SDM 4.4.2, 4.6)', () => {
  const mem = memory();
  const la = 0xc060_3abcn;
  set64(mem, PAE_CR3 + 8 * 3, 0x2000n | P);
  set64(mem, 0x2000 + 8 * 3, 0x3000n | PRESENT_RW_US);
  set64(mem, 0x3000 + 8 * 3, 0x0055_5000n | PRESENT_RW_US | XD);
  const off = pae(mem, 0);
  assert.deepEqual(go(off, la, ACCESS_READ), { pf: PF_P | PF_RSVD });
  assert.deepEqual(go(off, la, ACCESS_FETCH), { pf: PF_P | PF_RSVD }, 'NXE = 0: no I/D bit');
  assert.equal(read64(mem, 0x3000 + 8 * 3) & A, 0n, 'faulting entry left alone');
  const on = pae(mem, EFER_NXE);
  assert.equal(go(on, la, ACCESS_READ), 0x55_5abc);
  assert.deepEqual(go(on, la, ACCESS_FETCH), { pf: PF_P | PF_ID });
  assert.deepEqual(go(on, la, ACCESS_FETCH | ACCESS_USER), { pf: PF_P | PF_U | PF_ID });
  // Above MAXPHYADDR (bits 62:M are reserved in PAE entries).
  set64(mem, 0x3000 + 8 * 3, 0x0055_5000n | PRESENT_RW_US | (1n << 50n));
  assert.deepEqual(go(on, la, ACCESS_READ), { pf: PF_P | PF_RSVD });
});

test('PAE PDPTE loading: reserved bits in a present PDPTE mean #GP, not-present ones are not checked (SDM 4.4.1, Table 4-8)', () => {
  const mem = memory();
  set64(mem, PAE_CR3, 0x2000n | P);
  set64(mem, PAE_CR3 + 8, 0xffff_ffff_ffff_fffen); // not present: anything goes
  set64(mem, PAE_CR3 + 16, 0x3000n | P | 0x18n); // PWT/PCD allowed
  set64(mem, PAE_CR3 + 24, 0x0000_3fff_ffff_f000n | P); // address bits up to MAXPHYADDR-1 = 45
  const ok = loadPdptes(mem, PAE_CR3);
  assert.ok(ok.ok);
  assert.deepEqual(ok.pdptes, [0x2001n, 0xffff_ffff_ffff_fffen, 0x3019n, 0x0000_3fff_ffff_f001n]);

  const cases: Array<[bigint, RegExp]> = [
    [0x2000n | P | RW, /bits 2:1/],
    [0x2000n | P | US, /bits 2:1/],
    [0x2000n | P | A, /bits 8:5/],
    [0x2000n | P | 0x100n, /bits 8:5/],
    [0x2000n | P | (1n << 46n), /bits 63:46/],
    [0x2000n | P | XD, /bits 63:46/],
  ];
  for (const [entry, why] of cases) {
    set64(mem, PAE_CR3 + 16, entry);
    const r = loadPdptes(mem, PAE_CR3);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.index, 2);
      assert.equal(r.entry, entry);
      assert.match(r.reason, why);
      assert.match(r.reason, /#GP/);
    }
  }
  set64(mem, PAE_CR3 + 16, 0x2000n | P | (1n << 46n));
  assert.ok(loadPdptes(mem, PAE_CR3, 52).ok, 'bit 46 is an address bit when MAXPHYADDR = 52');
  assert.ok(loadPdptes(mem, BigInt(PAE_CR3) | 0x1_0000_0000n, 52).ok, 'only CR3[31:5] locates the PDPT');
  assert.throws(() => new PageWalker(mem).configure({ cr0: CR0_PG, cr3: PAE_CR3, cr4: CR4_PAE, efer: 0 }), /PDPTE/);
});

// ---- 4-level paging (SDM 4.5) ------------------------------------------------------------

test('4-level paging: 4 KiB page, indices from bits 47:12, physical address above 4 GiB (SDM 4.5.4, Tables 4-15, 4-17, 4-19, 4-20)', () => {
  const mem = memory();
  const c = build4(mem, LA);
  const w = long4(mem);
  assert.equal(w.mode, PagingMode.Level4);
  assert.equal(go(w, LA, ACCESS_READ), Number(FRAME) + 0xabc);
  assert.equal(w.result.pageBase, Number(FRAME));
  assert.equal(w.result.pageSize, PAGE_SIZE_4K);
  assert.equal(w.result.leafEntryAddr, c.pte);
  assert.equal(w.result.perms, PERM_WRITE | PERM_USER | PERM_EXEC);
  // Bits 63:48 do not take part in the walk: the non-canonical twin translates the same.
  assert.equal(go(w, LA & 0x0000_ffff_ffff_ffffn, ACCESS_READ), Number(FRAME) + 0xabc);
  assert.equal(w.translateLinear(LA, ACCESS_READ), Number(FRAME) + 0xabc);
  assert.equal(w.translateLinear(Number(LA & 0x0000_ffff_ffff_f000n), ACCESS_READ), Number(FRAME));
});

test('4-level paging: CR3 bits 51:12 locate the PML4 (PCID and flag bits ignored) (SDM 4.5.2)', () => {
  const mem = memory();
  build4(mem, LA);
  const w = new PageWalker(mem);
  w.configure({ cr0: CR0_PG | CR0_PE, cr3: (1n << 63n) | BigInt(PML4) | 0xabcn, cr4: CR4_PAE, efer: EFER_LME | EFER_LMA });
  assert.equal(go(w, LA, ACCESS_READ), Number(FRAME) + 0xabc);
  w.configure({ cr0: CR0_PG | CR0_PE, cr3: PML4 + 0x18, cr4: CR4_PAE, efer: EFER_LME | EFER_LMA });
  assert.equal(go(w, LA, ACCESS_READ), Number(FRAME) + 0xabc);
});

test('4-level paging: 2 MiB page from PDE.PS, bits 20:13 reserved (SDM 4.5.4, Table 4-18)', () => {
  const mem = memory();
  const c = build4(mem, LA, { pde: 0x1_4060_0000n | PS | PRESENT_RW_US | G });
  const w = long4(mem, { cr4: CR4_PAE | CR4_PGE });
  assert.equal(go(w, LA, ACCESS_READ), 0x1_4060_0000 + Number(LA & 0x1f_ffffn));
  assert.equal(w.result.pageSize, PAGE_SIZE_2M);
  assert.equal(w.result.pageBase, 0x1_4060_0000);
  assert.equal(w.result.leafEntryAddr, c.pde);
  assert.ok(w.result.global);
  set64(mem, c.pde, 0x1_4060_0000n | (1n << 20n) | PS | PRESENT_RW_US);
  assert.deepEqual(go(w, LA, ACCESS_READ), { pf: PF_P | PF_RSVD });
});

test('4-level paging: the global flag counts only with CR4.PGE = 1 (SDM 4.10.2.4)', () => {
  const mem = memory();
  build4(mem, LA, { pte: FRAME | PRESENT_RW_US | G });
  const pge = long4(mem, { cr4: CR4_PAE | CR4_PGE });
  go(pge, LA, ACCESS_READ);
  assert.equal(pge.result.perms & PERM_GLOBAL, PERM_GLOBAL);
  const nopge = long4(mem);
  go(nopge, LA, ACCESS_READ);
  assert.equal(nopge.result.perms & PERM_GLOBAL, 0);
});

test('4-level paging: 1 GiB page from PDPTE.PS only when 1-GByte pages are supported (SDM 4.5.4, Table 4-16)', () => {
  const mem = memory();
  const c = build4(mem, LA, { pdpte: 0x2_4000_0000n | PS | PRESENT_RW_US });
  const w = long4(mem);
  assert.equal(go(w, LA, ACCESS_WRITE), 0x2_4000_0000 + Number(LA & 0x3fff_ffffn));
  assert.equal(w.result.pageSize, PAGE_SIZE_1G);
  assert.equal(w.result.pageBase, 0x2_4000_0000);
  assert.equal(read64(mem, c.pdpte) & (A | D), A | D);
  assert.equal(read64(mem, c.pde) & A, 0n, 'the PD is not used');

  const no1g = long4(mem, { gbPages: false });
  assert.deepEqual(go(no1g, LA, ACCESS_READ), { pf: PF_P | PF_RSVD });
  set64(mem, c.pdpte, 0x2_4000_0000n | (1n << 13n) | PS | PRESENT_RW_US);
  assert.deepEqual(go(w, LA, ACCESS_READ), { pf: PF_P | PF_RSVD }, 'bits 29:13 are reserved');
});

test('not-present entries at each level give P = 0 with W/R, U/S and I/D from the access (SDM 4.7)', () => {
  for (const level of ['pml4e', 'pdpte', 'pde', 'pte'] as const) {
    const mem = memory();
    const c = build4(mem, LA);
    set64(mem, c[level], 0xffff_ffff_ffff_fffen); // P = 0: every other bit is ignored
    const w = long4(mem);
    assert.deepEqual(go(w, LA, ACCESS_READ), { pf: 0 }, level);
    assert.deepEqual(go(w, LA, ACCESS_WRITE), { pf: PF_W }, level);
    assert.deepEqual(go(w, LA, ACCESS_USER), { pf: PF_U }, level);
    assert.deepEqual(go(w, LA, ACCESS_USER | ACCESS_WRITE), { pf: PF_U | PF_W }, level);
    assert.deepEqual(go(w, LA, ACCESS_FETCH), { pf: PF_ID }, `${level}: I/D with NXE = 1`);
    assert.deepEqual(go(w, LA, ACCESS_USER | ACCESS_IMPLICIT), { pf: 0 }, `${level}: implicit accesses are supervisor`);
    assert.equal(w.result.faultLo, Number(LA & 0xffff_ffffn));
    assert.equal(w.result.faultHi, Number(LA >> 32n));
    const nonx = long4(mem, { efer: EFER_LME | EFER_LMA });
    assert.deepEqual(go(nonx, LA, ACCESS_FETCH), { pf: 0 }, `${level}: no I/D with NXE = 0 and SMEP = 0`);
    const smep = long4(mem, { efer: EFER_LME | EFER_LMA, cr4: CR4_PAE | CR4_SMEP });
    assert.deepEqual(go(smep, LA, ACCESS_FETCH), { pf: PF_ID }, `${level}: I/D with SMEP = 1`);
  }
});

test('U/S: user-mode accesses need U/S = 1 at every level; supervisor and implicit accesses do not (SDM 4.6.1)', () => {
  for (const level of ['pml4e', 'pdpte', 'pde', 'pte'] as const) {
    const mem = memory();
    build4(mem, LA, { [level]: DEFAULTS[level] & ~US });
    const w = long4(mem, { cr4: CR4_PAE | CR4_SMAP | CR4_SMEP });
    assert.deepEqual(go(w, LA, ACCESS_USER), { pf: PF_P | PF_U }, level);
    assert.deepEqual(go(w, LA, ACCESS_USER | ACCESS_WRITE), { pf: PF_P | PF_U | PF_W }, level);
    assert.deepEqual(go(w, LA, ACCESS_USER | ACCESS_FETCH), { pf: PF_P | PF_U | PF_ID }, level);
    assert.equal(go(w, LA, ACCESS_READ), Number(FRAME) + 0xabc);
    assert.equal(w.result.perms & PERM_USER, 0, `${level}: a supervisor-mode address`);
    assert.equal(go(w, LA, ACCESS_WRITE), Number(FRAME) + 0xabc);
    assert.equal(go(w, LA, ACCESS_FETCH), Number(FRAME) + 0xabc);
    assert.equal(go(w, LA, ACCESS_USER | ACCESS_IMPLICIT), Number(FRAME) + 0xabc, 'implicit access at CPL 3');
  }
});

test('R/W: supervisor writes to read-only pages fault only with CR0.WP = 1; user writes always fault (SDM 4.6.1)', () => {
  for (const level of ['pml4e', 'pdpte', 'pde', 'pte'] as const) {
    const mem = memory();
    const c = build4(mem, LA, { [level]: DEFAULTS[level] & ~RW });
    const wp = long4(mem);
    assert.deepEqual(go(wp, LA, ACCESS_WRITE), { pf: PF_P | PF_W }, level);
    assert.equal(read64(mem, c.pte) & (A | D), 0n, 'leaf untouched on a protection fault');
    assert.deepEqual(go(wp, LA, ACCESS_WRITE | ACCESS_USER), { pf: PF_P | PF_W | PF_U }, level);
    assert.equal(go(wp, LA, ACCESS_READ), Number(FRAME) + 0xabc);
    assert.equal(wp.result.perms & PERM_WRITE, 0);

    const nowp = long4(mem, { cr0: CR0_PG | CR0_PE });
    assert.equal(go(nowp, LA, ACCESS_WRITE), Number(FRAME) + 0xabc, `${level}: WP = 0 allows the supervisor write`);
    assert.equal(read64(mem, c.pte) & (A | D), A | D, 'and it sets the dirty flag');
    assert.deepEqual(go(nowp, LA, ACCESS_WRITE | ACCESS_USER), { pf: PF_P | PF_W | PF_U }, `${level}: WP does not matter at CPL 3`);
  }
});

test('NX: XD = 1 at any level forbids fetches when EFER.NXE = 1, with I/D in the error code (SDM 4.6.1, 4.7)', () => {
  for (const level of ['pml4e', 'pdpte', 'pde', 'pte'] as const) {
    const mem = memory();
    build4(mem, LA, { [level]: DEFAULTS[level] | XD });
    const w = long4(mem);
    assert.deepEqual(go(w, LA, ACCESS_FETCH), { pf: PF_P | PF_ID }, level);
    assert.deepEqual(go(w, LA, ACCESS_FETCH | ACCESS_USER), { pf: PF_P | PF_ID | PF_U }, level);
    assert.equal(go(w, LA, ACCESS_READ | ACCESS_USER), Number(FRAME) + 0xabc);
    assert.equal(w.result.perms & PERM_EXEC, 0);
    // NXE = 0: bit 63 is reserved instead (Tables 4-15 to 4-20).
    const nonx = long4(mem, { efer: EFER_LME | EFER_LMA });
    assert.deepEqual(go(nonx, LA, ACCESS_READ), { pf: PF_P | PF_RSVD }, level);
    assert.deepEqual(go(nonx, LA, ACCESS_FETCH), { pf: PF_P | PF_RSVD }, `${level}: I/D only with NXE = 1 (or SMEP)`);
  }
});

test('SMEP: supervisor fetches from user-mode pages fault when CR4.SMEP = 1 (SDM 4.6.1)', () => {
  const mem = memory();
  build4(mem, LA);
  assert.equal(go(long4(mem), LA, ACCESS_FETCH), Number(FRAME) + 0xabc, 'SMEP = 0');
  const smep = long4(mem, { cr4: CR4_PAE | CR4_SMEP, efer: EFER_LME | EFER_LMA });
  assert.deepEqual(go(smep, LA, ACCESS_FETCH), { pf: PF_P | PF_ID }, 'I/D because SMEP = 1, though NXE = 0');
  assert.equal(go(smep, LA, ACCESS_FETCH | ACCESS_USER), Number(FRAME) + 0xabc, 'user fetches are unaffected');
  assert.equal(go(smep, LA, ACCESS_READ), Number(FRAME) + 0xabc, 'supervisor data reads are unaffected');
  const mem2 = memory();
  build4(mem2, LA, { pte: FRAME | P | RW });
  assert.equal(go(long4(mem2, { cr4: CR4_PAE | CR4_SMEP }), LA, ACCESS_FETCH), Number(FRAME) + 0xabc, 'supervisor page');
});

test('SMAP: supervisor data accesses to user-mode pages fault unless explicit with RFLAGS.AC = 1 (SDM 4.6.1)', () => {
  const mem = memory();
  const c = build4(mem, LA);
  const w = long4(mem, { cr4: CR4_PAE | CR4_SMAP });
  assert.deepEqual(go(w, LA, ACCESS_READ), { pf: PF_P });
  assert.deepEqual(go(w, LA, ACCESS_WRITE), { pf: PF_P | PF_W });
  assert.equal(read64(mem, c.pte) & A, 0n, 'no accessed flag on a SMAP fault');
  assert.equal(go(w, LA, ACCESS_READ | ACCESS_AC), Number(FRAME) + 0xabc);
  assert.equal(go(w, LA, ACCESS_WRITE | ACCESS_AC), Number(FRAME) + 0xabc);
  assert.deepEqual(go(w, LA, ACCESS_READ | ACCESS_AC | ACCESS_IMPLICIT), { pf: PF_P }, 'implicit: AC does not help');
  assert.deepEqual(go(w, LA, ACCESS_READ | ACCESS_AC | ACCESS_IMPLICIT | ACCESS_USER), { pf: PF_P }, 'implicit at CPL 3');
  assert.equal(go(w, LA, ACCESS_USER | ACCESS_WRITE), Number(FRAME) + 0xabc, 'user accesses are unaffected');
  assert.equal(go(w, LA, ACCESS_FETCH), Number(FRAME) + 0xabc, 'fetches are SMEP\'s business');
  assert.equal(go(w, LA, accessFlags({ ac: true })), Number(FRAME) + 0xabc);

  set64(mem, c.pte, FRAME | P | US);
  assert.deepEqual(go(w, LA, ACCESS_WRITE | ACCESS_AC), { pf: PF_P | PF_W }, 'AC = 1 with WP = 1: read-only still applies');
  const nowp = long4(mem, { cr0: CR0_PG | CR0_PE, cr4: CR4_PAE | CR4_SMAP });
  assert.equal(go(nowp, LA, ACCESS_WRITE | ACCESS_AC), Number(FRAME) + 0xabc, 'AC = 1 with WP = 0');
  assert.deepEqual(go(nowp, LA, ACCESS_WRITE), { pf: PF_P | PF_W }, 'AC = 0 with WP = 0');

  set64(mem, c.pde, BigInt(PT) | P | RW); // supervisor page now
  assert.equal(go(w, LA, ACCESS_READ), Number(FRAME) + 0xabc, 'SMAP does not touch supervisor-mode pages');
});

test('reserved bits: PS in a PML4E, address bits at or above MAXPHYADDR (SDM 4.5.4, Table 4-15; 4.7)', () => {
  const mem = memory();
  let c = build4(mem, LA, { pml4e: BigInt(PDPT) | PRESENT_RW_US | PS });
  const w = long4(mem);
  assert.deepEqual(go(w, LA, ACCESS_READ), { pf: PF_P | PF_RSVD });
  assert.deepEqual(go(w, LA, ACCESS_WRITE | ACCESS_USER), { pf: PF_P | PF_RSVD | PF_W | PF_U });
  assert.deepEqual(go(w, LA, ACCESS_FETCH), { pf: PF_P | PF_RSVD | PF_ID });
  assert.equal(read64(mem, c.pml4e) & A, 0n);

  c = build4(mem, LA, { pde: BigInt(PT) | PRESENT_RW_US | (1n << 46n) });
  assert.deepEqual(go(w, LA, ACCESS_READ), { pf: PF_P | PF_RSVD }, 'bit 46 in a PDE with MAXPHYADDR = 46');
  assert.equal(read64(mem, c.pde) & A, 0n);
  c = build4(mem, LA, { pte: FRAME | PRESENT_RW_US | (1n << 46n) });
  assert.deepEqual(go(w, LA, ACCESS_READ), { pf: PF_P | PF_RSVD }, 'bit 46 in a PTE with MAXPHYADDR = 46');
  const wide = long4(mem, { maxPhysAddr: 52 });
  assert.equal(go(wide, LA, ACCESS_READ), 2 ** 46 + Number(FRAME) + 0xabc, 'MAXPHYADDR = 52: bit 46 is an address bit');
  set64(mem, c.pte, FRAME | PRESENT_RW_US);
  set64(mem, c.pde, BigInt(PT) | PRESENT_RW_US | (1n << 46n)); // the page table is now at 2^46 + PT
  assert.throws(() => wide.translate(...halves(LA), ACCESS_READ), /hits no RAM/, 'entries outside RAM: PhysicalAccessError');

  c = build4(mem, LA, { pte: FRAME | PRESENT_RW_US | (1n << 51n) });
  assert.deepEqual(go(w, LA, ACCESS_READ), { pf: PF_P | PF_RSVD }, 'bit 51 in a PTE');
  set64(mem, c.pte, FRAME | PRESENT_RW_US | (0x7ffn << 52n)); // bits 62:52 are ignored (PK off)
  assert.equal(go(w, LA, ACCESS_READ), Number(FRAME) + 0xabc);
  assert.equal(read64(mem, c.pte), FRAME | PRESENT_RW_US | (0x7ffn << 52n) | A, 'A set, high word kept');
  const w36 = long4(mem, { maxPhysAddr: 36 });
  assert.deepEqual(go(w36, LA, ACCESS_READ), { pf: PF_P | PF_RSVD }, `frame ${FRAME.toString(16)} is above 2^36`);
});

test('accessed flags are set along the walk, dirty only in the final entry and only on writes (SDM 4.8)', () => {
  const mem = memory();
  const c = build4(mem, LA);
  const w = long4(mem);
  mem.writes = [];
  assert.equal(go(w, LA, ACCESS_READ), Number(FRAME) + 0xabc);
  for (const k of ['pml4e', 'pdpte', 'pde', 'pte'] as const) assert.equal(read64(mem, c[k]) & (A | D), A, k);
  assert.deepEqual(mem.writes, [[c.pml4e, 4], [c.pdpte, 4], [c.pde, 4], [c.pte, 4]], 'one 4-byte write of the low word each');
  assert.equal(w.result.dirty, false);

  mem.writes = [];
  assert.equal(go(w, LA, ACCESS_READ), Number(FRAME) + 0xabc);
  assert.deepEqual(mem.writes, [], 'flags already set: nothing written');

  assert.equal(go(w, LA, ACCESS_WRITE), Number(FRAME) + 0xabc);
  assert.deepEqual(mem.writes, [[c.pte, 4]]);
  for (const k of ['pml4e', 'pdpte', 'pde'] as const) assert.equal(read64(mem, c[k]) & D, 0n, `${k}: no dirty flag above the leaf`);
  assert.equal(read64(mem, c.pte) & (A | D), A | D);
  assert.equal(w.result.dirty, true);
  go(w, LA, ACCESS_READ);
  assert.equal(w.result.perms & PERM_DIRTY, PERM_DIRTY, 'reads report the dirty flag the entry has');

  // A write straight to a fresh page sets A and D together, in one write.
  const mem2 = memory();
  const c2 = build4(mem2, LA);
  const w2 = long4(mem2);
  mem2.writes = [];
  go(w2, LA, ACCESS_WRITE | ACCESS_USER);
  assert.equal(read64(mem2, c2.pte), FRAME | PRESENT_RW_US | A | D);
  assert.deepEqual(mem2.writes.filter(([a]) => a === c2.pte), [[c2.pte, 4]]);
});

test('faulting accesses leave the faulting entry alone; entries above it are accessed (SDM 4.7, 4.8)', () => {
  // Not-present PTE.
  let mem = memory();
  let c = build4(mem, LA, { pte: FRAME | RW | US });
  assert.deepEqual(go(long4(mem), LA, ACCESS_WRITE), { pf: PF_W });
  for (const k of ['pml4e', 'pdpte', 'pde'] as const) assert.equal(read64(mem, c[k]) & A, A, k);
  assert.equal(read64(mem, c.pte), FRAME | RW | US);

  // Reserved bit in the PDE: its own A stays clear, the PTE is never read or changed.
  mem = memory();
  c = build4(mem, LA, { pde: BigInt(PT) | PRESENT_RW_US | (1n << 48n) });
  assert.deepEqual(go(long4(mem), LA, ACCESS_READ), { pf: PF_P | PF_RSVD });
  assert.equal(read64(mem, c.pml4e) & A, A);
  assert.equal(read64(mem, c.pdpte) & A, A);
  assert.equal(read64(mem, c.pde), BigInt(PT) | PRESENT_RW_US | (1n << 48n));
  assert.equal(read64(mem, c.pte), FRAME | PRESENT_RW_US);

  // Protection fault: the final entry gets neither A nor D.
  mem = memory();
  c = build4(mem, LA, { pte: FRAME | P | US });
  assert.deepEqual(go(long4(mem), LA, ACCESS_WRITE | ACCESS_USER), { pf: PF_P | PF_W | PF_U });
  assert.equal(read64(mem, c.pte), FRAME | P | US);

  // A probe (debugger) sets nothing at all.
  mem = memory();
  c = build4(mem, LA);
  mem.writes = [];
  assert.equal(go(long4(mem), LA, ACCESS_WRITE | ACCESS_NO_AD), Number(FRAME) + 0xabc);
  assert.deepEqual(mem.writes, []);
});

// ---- 5-level paging (SDM 4.5) ------------------------------------------------------------

test('5-level paging: PML5 from CR3, index from bits 56:48; PS in a PML5E is reserved (SDM 4.5.4, Table 4-14)', () => {
  const mem = memory();
  const la = 0x0123_4567_89ab_cdefn;
  const pml5e = PML5 + 8 * index(la, 5);
  set64(mem, pml5e, BigInt(PML4) | PRESENT_RW_US);
  const c = build4(mem, la);
  const w = new PageWalker(mem);
  w.configure({ cr0: CR0_PG | CR0_PE, cr3: PML5, cr4: CR4_PAE | CR4_LA57, efer: EFER_LME | EFER_LMA | EFER_NXE });
  assert.equal(w.mode, PagingMode.Level5);
  assert.equal(go(w, la, ACCESS_READ), Number(FRAME) + 0xdef);
  assert.equal(read64(mem, pml5e) & A, A);
  assert.equal(read64(mem, c.pte) & A, A);
  set64(mem, pml5e, BigInt(PML4) | PRESENT_RW_US | PS);
  assert.deepEqual(go(w, la, ACCESS_READ), { pf: PF_P | PF_RSVD });
  set64(mem, pml5e, 0n);
  assert.deepEqual(go(w, la, ACCESS_USER), { pf: PF_U });
});

// ---- what a TLB gets ---------------------------------------------------------------------

test('rights of a walk can be re-checked without a walk (accessError, allowedKinds) (SDM 4.6, 4.10.2)', () => {
  const mem = memory();
  build4(mem, LA, { pde: BigInt(PT) | P | US });
  const w = long4(mem, { cr4: CR4_PAE | CR4_SMAP });
  const result = w.result;
  go(w, LA, ACCESS_USER);
  assert.equal(w.result, result, 'one result object, reused');
  const perms = w.result.perms;
  assert.equal(perms, PERM_USER | PERM_EXEC);
  assert.equal(w.accessError(perms, ACCESS_USER), 0);
  assert.equal(w.accessError(perms, ACCESS_USER | ACCESS_WRITE), PF_P | PF_W | PF_U);
  assert.equal(w.accessError(perms, ACCESS_READ), PF_P, 'SMAP');
  assert.equal(w.accessError(perms, ACCESS_READ | ACCESS_AC), 0);
  assert.equal(w.allowedKinds(perms), KIND_X | KIND_UR | KIND_UX);
  assert.equal(w.allowedKinds(perms | PERM_WRITE), KIND_X | KIND_UR | KIND_UX, 'no write kinds until the page is dirty');
  assert.equal(w.allowedKinds(PERM_WRITE | PERM_EXEC | PERM_DIRTY), KIND_R | KIND_W | KIND_X);
});

test('options are validated', () => {
  const mem = memory();
  assert.throws(() => new PageWalker(mem, { maxPhysAddr: 31 }), RangeError);
  assert.throws(() => new PageWalker(mem, { maxPhysAddr: 53 }), RangeError);
  assert.throws(() => loadPdptes(mem, 0, 64), RangeError);
  const ctrl: PagingControl = { cr0: 0, cr3: 0, cr4: 0, efer: 0 };
  assert.doesNotThrow(() => new PageWalker(mem, { maxPhysAddr: 52 }).configure(ctrl));
});
