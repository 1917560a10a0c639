// The VM-exit round trip after its speed-ups (issue 4): VMREAD/VMWRITE on 32-bit word pairs
// keep the instructions' width rules and VMX status handling; the vCPU's word-based CPUID and
// RIP advance compute what the SDM says; and the TLB flush that VM entry performs without VPID
// (SDM Vol. 3C, 29.4.3.3) still drops every translation, however it is done.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { CpuFault } from '../../src/hardware/cpu';
import { getRflags } from '../../src/hardware/flags';
import { PhysicalMemory } from '../../src/hardware/memory';
import { ACCESS_READ, PageWalker, PagingControl, PagingMode } from '../../src/hardware/paging';
import { Tlb, TLB_SIZE } from '../../src/hardware/tlb';
import { VmxUnit } from '../../src/hardware/vmx/vmx-unit';
import { defaultVmxCapabilities } from '../../src/hardware/vmx/capabilities';
import { cpuidLookup, defaultCpuid } from '../../src/hardware/cpuid';
import { vmreadWords, vmwriteWords } from '../../src/vmx/wrappers';
import { VmxFail } from '../../src/vmx/instructions';
import { vmcsFieldByName } from '../../src/vmx/vmcs-fields';
import { Machine } from '../../src/vmm/machine';
import { loadFlatBinary } from '../../src/vmm/guest-image';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { VMCS_REGION, vmxHost, VmxHost, VMXON_REGION } from '../support/vmx-host';

const skip = !nativeOracleAvailable() && 'needs GNU as';
const CF = 0x1, ZF = 0x40, STATUS = 0x8d5;
const enc = (name: string): number => {
  const f = vmcsFieldByName(name);
  if (f === undefined) throw new Error(name);
  return f.encoding;
};
const M64 = (1n << 64n) - 1n;

function current(): VmxHost {
  const h = vmxHost();
  h.vmx.vmxon(VMXON_REGION);
  h.vmx.vmclear(VMCS_REGION);
  h.vmx.vmptrld(VMCS_REGION);
  return h;
}

const words = (v: bigint): [number, number] => [Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0];
const big = (w: Int32Array): bigint => (BigInt(w[1] >>> 0) << 32n) | BigInt(w[0] >>> 0);

test('VMWRITE/VMREAD as word pairs keep each field\'s width (16, 32, 64, natural) and agree with the BigInt instructions', () => {
  const h = current();
  const value = 0x8765_4321_fedc_ba98n;
  const cases: Array<[string, bigint]> = [
    ['GUEST_ES_SELECTOR', value & 0xffffn], ['GUEST_ES_LIMIT', value & 0xffffffffn],
    ['IO_BITMAP_A', value], ['GUEST_RIP', value],
  ];
  const out = new Int32Array(2);
  for (const [name, expected] of cases) {
    const [lo, hi] = words(value);
    h.vmx.vmwriteWords(enc(name), lo, hi);
    assert.equal(getRflags(h.cpu) & STATUS, 0, `${name}: VMsucceed`);
    assert.equal(h.vmx.vmread(enc(name)), expected, `${name} through the BigInt VMREAD`);
    assert.equal(h.vmx.vmreadWords(enc(name), out), true);
    assert.equal(big(out), expected, `${name} through the word VMREAD`);
  }
  // the high half of a 64-bit field (encoding bit 0 = 1): VMWRITE changes bits 63:32 only, VMREAD gives them in bits 31:0
  h.vmx.vmwrite(enc('IO_BITMAP_A'), 0x1111_2222_3333_4444n);
  h.vmx.vmwriteWords(enc('IO_BITMAP_A') | 1, 0x5555_6666, 0x7777);
  assert.equal(h.vmx.vmread(enc('IO_BITMAP_A')), 0x5555_6666_3333_4444n);
  h.vmx.vmreadWords(enc('IO_BITMAP_A') | 1, out);
  assert.deepEqual([out[0] >>> 0, out[1]], [0x5555_6666, 0]);
});

test('word VMREAD/VMWRITE fail as the instructions do: VMfailInvalid without a VMCS, VMfailValid(12) for an unknown field, (13) for a read-only one, #UD outside VMX operation', () => {
  const out = new Int32Array(2);
  const h = vmxHost();
  assert.throws(() => h.vmx.vmreadWords(enc('GUEST_RIP'), out), (e: unknown) => e instanceof CpuFault && e.vector === 6);
  h.vmx.vmxon(VMXON_REGION);
  assert.equal(h.vmx.vmreadWords(enc('GUEST_RIP'), out), false);
  assert.equal(getRflags(h.cpu) & STATUS, CF, 'no current VMCS: VMfailInvalid');
  assert.throws(() => vmreadWords(h.vmx, enc('GUEST_RIP'), out), (e: unknown) => e instanceof VmxFail && e.kind === 'invalid');
  h.vmx.vmclear(VMCS_REGION);
  h.vmx.vmptrld(VMCS_REGION);
  assert.equal(h.vmx.vmreadWords(0x7ffe, out), false);
  assert.equal(getRflags(h.cpu) & STATUS, ZF);
  assert.equal(h.vmx.vmread(enc('VM_INSTRUCTION_ERROR')), 12n);
  assert.throws(() => vmwriteWords(h.vmx, 0x7ffe, 1, 0), (e: unknown) => e instanceof VmxFail && e.kind === 'valid' && e.error?.number === 12);
  // a processor without IA32_VMX_MISC bit 29 refuses writes to the exit-information fields
  const caps = defaultVmxCapabilities();
  const other = vmxHost();
  const strict = new VmxUnit(other.cpu, { ...caps, misc: caps.misc & ~(1n << 29n) });
  other.cpu.msrs.wrmsr(0x3a, 5n);
  strict.vmxon(VMXON_REGION);
  strict.vmptrld(VMCS_REGION);
  strict.vmwriteWords(enc('VM_EXIT_REASON'), 10, 0);
  assert.equal(getRflags(other.cpu) & STATUS, ZF);
  assert.equal(strict.vmread(enc('VM_INSTRUCTION_ERROR')), 13n);
  assert.throws(() => vmwriteWords(strict, enc('VM_EXIT_REASON'), 10, 0), (e: unknown) => e instanceof VmxFail && e.error?.number === 13);
});

test('Vmcs.readNumber refuses a value a number cannot hold exactly; writeNumber refuses what is not a non-negative integer', () => {
  const m = new Machine({ memoryMiB: 1 });
  m.start(0x1000n, 'real');
  const v = m.vcpu.vmcs;
  assert.equal(v.read('VMCS_LINK_POINTER'), M64);
  assert.throws(() => v.readNumber('VMCS_LINK_POINTER'), (e: unknown) => e instanceof RangeError && /VMCS_LINK_POINTER/.test(e.message));
  v.writeNumber('GUEST_RIP', 2 ** 53 - 1);
  assert.equal(v.read('GUEST_RIP'), 2n ** 53n - 1n);
  assert.equal(v.readNumber('GUEST_RIP'), 2 ** 53 - 1);
  for (const bad of [-1, 1.5, 2 ** 53]) assert.throws(() => v.writeNumber('GUEST_RIP', bad), RangeError);
});

test('advancing RIP carries into bits 63:32 and ends blocking by STI and MOV SS (Table 25-3)', () => {
  const m = new Machine({ memoryMiB: 1 });
  m.start(0x1000n, 'real');
  const v = m.vcpu.vmcs;
  for (const [rip, length] of [[0x1_ffff_fffen, 3], [0xffff_ffff_ffff_fffen, 2], [0x1234n, 15]] as const) {
    v.write('GUEST_RIP', rip);
    v.write('GUEST_INTERRUPTIBILITY_INFO', 1 | 8);
    m.vcpu.advanceRip(length);
    assert.equal(v.read('GUEST_RIP'), (rip + BigInt(length)) & M64);
    assert.equal(v.read('GUEST_INTERRUPTIBILITY_INFO'), 8n, 'STI blocking ends, NMI blocking stays');
  }
});

test('CPUID answered by the vCPU clears bits 63:32 of RAX, RBX, RCX and RDX and takes the leaf and subleaf from EAX and ECX only', { skip }, () => {
  const OUT = 0x8000;
  const m = new Machine({ memoryMiB: 16 });
  const code = assembleIntel([
    'mov rax, 0xffffffff00000007', 'mov rcx, 0xabcdef0000000000', 'mov rbx, -1', 'mov rdx, -1', 'cpuid',
    `mov [${OUT}], rax`, `mov [${OUT + 8}], rbx`, `mov [${OUT + 16}], rcx`, `mov [${OUT + 24}], rdx`,
    'mov eax, 2', 'xor edi, edi', 'vmcall', 'hlt',
  ]);
  m.load(loadFlatBinary(code, 0x100000));
  m.start(0x100000n, 'long');
  assert.deepEqual(m.run(10_000), { kind: 'shutdown', exitCode: 0, how: 'hypercall' });
  const expected = cpuidLookup(defaultCpuid(), 7, 0).map((x) => BigInt(x >>> 0));
  assert.deepEqual([0, 1, 2, 3].map((k) => m.mem.read64(OUT + 8 * k)), [expected[0], expected[1], expected[2], expected[3]]);
});

/**
 * A long-mode guest on its own 4-level tables with 4-KiB pages at linear 0x400000: it reads the
 * qword there, optionally exits (CPUID), reads it again. Meanwhile the PTE is pointed at another
 * page without INVLPG, by the host during the exit or by the guest itself.
 */
function remapGuest(exitBetween: boolean): { first: bigint; second: bigint } {
  const PML4 = 0x200000, PDPT = 0x201000, PD = 0x202000, PT = 0x203000, PAGE_A = 0x300000, PAGE_B = 0x301000, OUT = 0x8000;
  const m = new Machine({ memoryMiB: 16 });
  const mem = m.mem;
  const entry = (at: number, value: number) => { mem.write(at, 4, value >>> 0); mem.write(at + 4, 4, 0); };
  entry(PML4, PDPT | 3);
  entry(PDPT, PD | 3);
  entry(PD, 0x000000 | 0x83); // 0-2 MiB: identity, 2-MiB page (code, results)
  entry(PD + 8, 0x200000 | 0x83); // 2-4 MiB: identity (the tables themselves)
  entry(PD + 16, PT | 3); // 4-6 MiB: 4-KiB pages
  entry(PT, PAGE_A | 3);
  mem.write(PAGE_A, 4, 0xaaaa_0001); mem.write(PAGE_B, 4, 0xbbbb_0002);
  const code = assembleIntel([
    `mov eax, ${PML4}`, 'mov cr3, rax',
    'mov r9, [0x400000]',
    ...(exitBetween ? ['xor eax, eax', 'cpuid'] : [`mov dword ptr [${PT}], ${PAGE_B | 3}`]),
    'mov r10, [0x400000]',
    `mov [${OUT}], r9`, `mov [${OUT + 8}], r10`,
    'mov eax, 2', 'xor edi, edi', 'vmcall', 'hlt',
  ]);
  m.load(loadFlatBinary(code, 0x100000));
  m.start(0x100000n, 'long');
  const end = m.run(10_000, { onExit: (e) => { if (e.info.name === 'CPUID') entry(PT, PAGE_B | 3); } });
  assert.deepEqual(end, { kind: 'shutdown', exitCode: 0, how: 'hypercall' });
  return { first: m.mem.read64(OUT), second: m.mem.read64(OUT + 8) };
}

test('VM entry drops cached translations: a PTE the host changed during an exit is used when the guest resumes', { skip }, () => {
  assert.deepEqual(remapGuest(true), { first: 0xaaaa_0001n, second: 0xbbbb_0002n });
});

test('without an exit (or INVLPG) in between, the guest keeps using its cached translation after changing the PTE (SDM Vol. 3A, 4.10.4.3)', { skip }, () => {
  assert.deepEqual(remapGuest(false), { first: 0xaaaa_0001n, second: 0xaaaa_0001n });
});

test('a TLB flush drops every entry, also after more fills than the TLB has slots', () => {
  for (const fills of [3, TLB_SIZE - 1, TLB_SIZE, TLB_SIZE + 1, 3 * TLB_SIZE]) {
    const t = new Tlb();
    for (let k = 0; k < fills; k++) {
      const idx = (k * 2654435761) % TLB_SIZE; // scattered, with repeats past TLB_SIZE
      t.perm[idx] = 1;
      t.noteFill(idx);
    }
    t.flushAll();
    assert.equal(t.perm.findIndex((p) => p !== 0), -1, `${fills} fills`);
    // and the next round after the flush is tracked afresh
    t.perm[7] = 1; t.noteFill(7);
    t.flushAll();
    assert.equal(t.perm[7], 0);
  }
});

test('the page walker follows every control state it is given, when states alternate (as at VM entry and exit) and when a third replaces one', () => {
  const mem = new PhysicalMemory(32 << 20);
  const put = (at: number, value: number) => { mem.write(at, 4, value >>> 0); mem.write(at + 4, 4, 0); };
  const LINEAR = 0x400000;
  /** 4-level tables at `root` mapping LINEAR to `page` with 4-KiB pages. */
  const tables = (root: number, page: number) => {
    put(root, (root + 0x1000) | 3); put(root + 0x1000, (root + 0x2000) | 3);
    put(root + 0x2000 + 8 * 2, (root + 0x3000) | 3); put(root + 0x3000, page | 3);
  };
  const roots = [0x100000, 0x110000, 0x120000], pages = [0x200000, 0x201000, 0x202000];
  roots.forEach((r, k) => tables(r, pages[k]));
  const w = new PageWalker(mem);
  const long = (cr3: number): PagingControl => ({ cr0: 0x80000011, cr3: BigInt(cr3), cr4: 0x20, efer: 0x500 });
  for (const k of [0, 1, 0, 1, 2, 0, 2, 1, 1, 0]) {
    w.configure(long(roots[k]));
    assert.equal(w.translate(LINEAR, 0, ACCESS_READ), pages[k], `CR3 ${roots[k].toString(16)}`);
  }
  // PAE: the same CR0/CR3/CR4/EFER with other PDPTEs is another state (PDPTE 0 → a PD mapping LINEAR)
  const pd = [0x130000, 0x140000];
  pd.forEach((d, k) => { put(d + 8 * 2, (d + 0x1000) | 3); put(d + 0x1000, pages[k] | 3); });
  const pae = (k: number): PagingControl => ({ cr0: 0x80000011, cr3: 0x150000n, cr4: 0x20, efer: 0, pdptes: [BigInt(pd[k] | 1), 0n, 0n, 0n] });
  for (const k of [0, 1, 0, 1]) {
    w.configure(pae(k));
    assert.equal(w.mode, PagingMode.Pae);
    assert.equal(w.translate(LINEAR, 0, ACCESS_READ), pages[k], `PDPTE 0 → ${pd[k].toString(16)}`);
  }
  w.configure({ cr0: 0x11, cr3: 0n, cr4: 0, efer: 0 });
  assert.equal(w.mode, PagingMode.None);
  w.configure(long(roots[2]));
  assert.equal(w.translate(LINEAR, 0, ACCESS_READ), pages[2]);
});
