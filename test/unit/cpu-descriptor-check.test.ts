// LAR, LSL, VERR and VERW in guest code assembled by GNU as, in protected mode and in IA-32e
// mode, at CPL 0 and CPL 3, over a GDT the test builds: code and data segments of every kind
// and DPL, a not-present segment, every system type at DPL 0 and 3, selectors with every RPL,
// null and beyond-limit selectors. The expected ZF and destination of each are computed here
// from the rules of SDM Vol. 2A "LAR" and "LSL" (with their descriptor-type tables) and
// Vol. 2B "VERR/VERW".
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu } from '../../src/hardware/cpu';
import { assembleIntel, assembleIntelMany, nativeOracleAvailable } from '../support/native-cpu';
import { Bits, descriptor, firstExtraSlot, guestProgram, LAYOUT, makeMachine } from '../support/protected-guest';

const skip = !nativeOracleAvailable() && 'needs GNU as';

interface Spec {
  /** Access byte: P, DPL, S, type. */
  access: number;
  /** Flags nibble: G, D/B, L, AVL. */
  flags: number;
  /** The 20-bit limit field. */
  limit: number;
  /** Type field of the upper half of a 16-byte system descriptor (IA-32e mode only). */
  upperType?: number;
}

function specs(bits: Bits): Spec[] {
  const out: Spec[] = [];
  let k = 0;
  const next = () => { k++; return { flags: (k * 5) & 0xf, limit: (0x1234 + 0x3001 * k) & 0xfffff }; };
  // code and data: read-only, read/write, accessed, expand-down, execute-only, execute/read, conforming
  for (const type of [0x0, 0x2, 0x3, 0x4, 0x6, 0x8, 0xa, 0xb, 0xc, 0xe]) {
    for (let dpl = 0; dpl < 4; dpl++) out.push({ access: 0x90 | (dpl << 5) | type, ...next() });
  }
  out.push({ access: 0x70 | 0x2, ...next() }); // not present, DPL 3 data: the checks do not look at P
  for (const dpl of [0, 3]) {
    for (let type = 0; type < 16; type++) out.push({ access: 0x80 | (dpl << 5) | type, ...next(), upperType: 0 });
  }
  if (bits === 64) out.push({ access: 0xe9, ...next(), upperType: 0x5 }); // a 64-bit TSS whose upper half is not type 0
  out.push({ access: 0xeb, ...next(), upperType: 0 }); // last in the GDT: in IA-32e mode its upper half is beyond the limit
  return out;
}

/** An LDT at this address holds a copy of every third code/data spec, from LDT slot 0 on. */
const LDT_ADDRESS = 0x4000;

interface Table {
  specs: Spec[];
  /** GDT slot of each spec. */
  slots: number[];
  gdt: Array<[number, number]>;
  limit: number;
  ldtSelector: number;
  ldtSpecs: Spec[];
}

/**
 * The extra GDT entries: first the LDT's descriptor, then the specs. System descriptors take
 * two slots in IA-32e mode, except the last spec, whose upper half is left beyond the limit.
 */
function table(bits: Bits): Table {
  const all = specs(bits);
  const ldtSpecs = all.filter((s, n) => (s.access & 0x10) !== 0 && n % 3 === 0);
  const gdt: Array<[number, number]> = [descriptor(LDT_ADDRESS, 8 * ldtSpecs.length - 1, 0x82, 0)];
  if (bits === 64) gdt.push([0, 0]);
  const slots: number[] = [];
  all.forEach((s, n) => {
    slots.push(firstExtraSlot(bits) + gdt.length);
    gdt.push(descriptor(0x1000 * n, s.limit, s.access, s.flags));
    const last = n === all.length - 1;
    if (bits === 64 && (s.access & 0x10) === 0 && !last) gdt.push([0, (s.upperType ?? 0) << 8]);
  });
  return { specs: all, slots, gdt, limit: 8 * (firstExtraSlot(bits) + gdt.length) - 1, ldtSelector: 8 * firstExtraSlot(bits), ldtSpecs };
}

type Op = 'lar16' | 'lar32' | 'lar64' | 'lsl16' | 'lsl32' | 'lsl64' | 'lar32m' | 'verr' | 'verwm';

function opLine(bits: Bits, op: Op): string {
  const mem = bits === 64 ? 'word ptr [rbx]' : 'word ptr [ebx]';
  switch (op) {
    case 'lar16': return 'lar ax, cx';
    case 'lar32': return 'lar eax, cx';
    case 'lar64': return 'lar rax, cx';
    case 'lsl16': return 'lsl ax, cx';
    case 'lsl32': return 'lsl eax, cx';
    case 'lsl64': return 'lsl rax, cx';
    case 'lar32m': return `lar eax, ${mem}`;
    case 'verr': return 'verr cx';
    case 'verwm': return `verw ${mem}`;
  }
}

const OPS: Record<Bits, Op[]> = {
  64: ['lar16', 'lar32', 'lar64', 'lsl16', 'lsl32', 'lsl64', 'lar32m', 'verr', 'verwm'],
  32: ['lar16', 'lar32', 'lsl16', 'lsl32', 'lar32m', 'verr', 'verwm'],
};
const SENTINEL: Record<Bits, bigint> = { 64: 0x1122334455667788n, 32: 0x55667788n };
const SCRATCH = LAYOUT.data + 0x100000;

function selectors(t: Table): number[] {
  const out = [0x0, 0x3]; // null, whatever the RPL
  for (const slot of t.slots) for (let rpl = 0; rpl < 4; rpl++) out.push((slot << 3) | rpl);
  const beyond = (t.limit + 1) & ~7;
  out.push(beyond, beyond | 3);
  // TI = 1: with no LDT loaded these all fail; LDT index 0 is an ordinary entry, not null
  for (let index = 0; index <= t.ldtSpecs.length; index++) for (let rpl = 0; rpl < 4; rpl++) out.push((index << 3) | 4 | rpl);
  return out;
}

function userLines(bits: Bits, sels: number[]): string[] {
  const lines = [`mov edi, ${LAYOUT.data}`, `mov ebx, ${SCRATCH}`];
  const w = bits === 64 ? 8 : 4;
  const [rdi, rax] = bits === 64 ? ['rdi', 'rax'] : ['edi', 'eax'];
  for (const sel of sels) {
    for (const op of OPS[bits]) {
      lines.push(`mov ecx, ${sel}`, `mov word ptr [${bits === 64 ? 'rbx' : 'ebx'}], cx`,
        bits === 64 ? `movabs rax, ${SENTINEL[64]}` : `mov eax, ${SENTINEL[32]}`,
        opLine(bits, op), 'setz dl', `mov ${bits === 64 ? 'qword' : 'dword'} ptr [${rdi}], ${rax}`, `mov byte ptr [${rdi} + ${w}], dl`, `add ${rdi}, ${2 * w}`);
    }
  }
  return lines;
}

// ---- the SDM's rules ----------------------------------------------------------------------

/** System types each instruction accepts (SDM Vol. 2A, LAR Table "Segment and Gate Types", LSL Table "Segment and Gate Descriptor Types"). */
const LAR_SYSTEM = { legacy: [0x1, 0x2, 0x3, 0x4, 0x5, 0x9, 0xb, 0xc], ia32e: [0x9, 0xb, 0xc] };
const LSL_SYSTEM = { legacy: [0x1, 0x2, 0x3, 0x9, 0xb], ia32e: [0x0, 0x2, 0x9, 0xb] };

function expected(bits: Bits, cpl: number, t: Table, withLdt: boolean, sel: number, op: Op): { zf: boolean; value: bigint } {
  const sentinel = SENTINEL[bits];
  const fail = { zf: false, value: sentinel };
  const index = sel >> 3;
  const inLdt = (sel & 4) !== 0;
  if (inLdt && (!withLdt || 8 * index + 7 > 8 * t.ldtSpecs.length - 1)) return fail;
  if (!inLdt && ((sel & 0xfffc) === 0 || 8 * index + 7 > t.limit)) return fail;
  const s = inLdt ? t.ldtSpecs[index] : t.specs[t.slots.indexOf(index)];
  const system = (s.access & 0x10) === 0;
  const type = s.access & 0xf;
  const dpl = (s.access >> 5) & 3;
  const code = !system && (type & 8) !== 0;
  const conforming = code && (type & 4) !== 0;
  const visible = conforming || (dpl >= cpl && dpl >= (sel & 3));
  const size = op.endsWith('16') ? 2 : op.endsWith('64') ? 8 : 4;
  const merge = (v: number): bigint => (size === 2 ? (sentinel & ~0xffffn) | BigInt(v & 0xffff) : BigInt(v >>> 0));
  if (op.startsWith('lar') || op.startsWith('lsl')) {
    const lar = op.startsWith('lar');
    let typeOk = !system || (lar ? LAR_SYSTEM : LSL_SYSTEM)[bits === 64 ? 'ia32e' : 'legacy'].includes(type);
    // IA-32e mode: LDT/TSS/call-gate descriptors are 16 bytes, all inside the table, upper type 0
    if (system && bits === 64 && type !== 0) typeOk = typeOk && 8 * index + 15 <= t.limit && s.upperType === 0;
    if (!typeOk || !visible) return fail;
    if (lar) return { zf: true, value: merge(size === 2 ? s.access << 8 : (s.flags << 20) | (s.access << 8)) };
    const limit = (s.flags & 8) !== 0 ? s.limit * 4096 + 0xfff : s.limit;
    return { zf: true, value: merge(limit) };
  }
  const ok = op === 'verr' ? !system && (!code || (type & 2) !== 0) : !system && !code && (type & 2) !== 0;
  return { zf: ok && visible, value: sentinel };
}

// ---- the runs -----------------------------------------------------------------------------

for (const bits of [32, 64] as const) {
  for (const [cpl, withLdt] of [[0, false], [3, true]] as const) {
    test(`${bits === 64 ? 'IA-32e' : 'protected'} mode, CPL ${cpl}, ${withLdt ? 'an LDT loaded' : 'no LDT'}: LAR/LSL/VERR/VERW over every descriptor kind, DPL and RPL`, { skip }, () => {
      const t = table(bits);
      const sels = selectors(t);
      const m = makeMachine(bits, { extraGdt: t.gdt });
      assert.equal(Number(m.cpu.gdtrLimit), t.limit);
      t.ldtSpecs.forEach((s, k) => {
        const [lo, hi] = descriptor(0x1000 * k, s.limit, s.access, s.flags);
        m.mem.write(LDT_ADDRESS + 8 * k, 4, lo);
        m.mem.write(LDT_ADDRESS + 8 * k + 4, 4, hi);
      });
      const boot = withLdt ? [`mov ax, ${t.ldtSelector}`, 'lldt ax'] : [];
      const [code] = assembleIntelMany([guestProgram(bits, userLines(bits, sels), 0, cpl === 0, boot)]);
      m.mem.writeBytes(LAYOUT.code, code);
      const out = m.cpu.run(200_000);
      assert.equal(out.kind, 'halt', JSON.stringify(out));
      assert.equal(m.cpu.cpl, 0);
      const w = bits === 64 ? 8 : 4;
      let at = LAYOUT.data;
      const wrong: string[] = [];
      let set = 0, total = 0;
      for (const sel of sels) {
        for (const op of OPS[bits]) {
          const lo = m.mem.read(at, 4) >>> 0;
          const value = bits === 64 ? (BigInt(m.mem.read(at + 4, 4) >>> 0) << 32n) | BigInt(lo) : BigInt(lo);
          const zf = m.mem.read(at + w, 1) === 1;
          const want = expected(bits, cpl, t, withLdt, sel, op);
          if (zf !== want.zf || value !== want.value) {
            wrong.push(`${op} 0x${sel.toString(16)}: ZF ${+zf} value 0x${value.toString(16)}, want ZF ${+want.zf} 0x${want.value.toString(16)}`);
          }
          if (want.zf) set++;
          total++;
          at += 2 * w;
        }
      }
      assert.deepEqual(wrong, [], `${wrong.length} of ${total} results differ from the SDM rules`);
      assert.ok(set > total / 10 && set < total - total / 10, `both outcomes occur (${set} of ${total} set ZF)`);
    });
  }
}

test('LAR, LSL, VERR and VERW are #UD in real mode', { skip }, () => {
  for (const insn of ['lar ax, bx', 'lsl ax, bx', 'verr bx', 'verw bx']) {
    const mem = new PhysicalMemory(1 << 20);
    const cpu = new Cpu(mem);
    mem.writeBytes(0x7c00, assembleIntel(['.code16', 'mov dx, 1', insn, 'mov dx, 2', 'hlt', '.org 0x100', 'mov dx, 6', 'hlt']));
    mem.write(6 * 4, 2, 0x7d00);
    mem.write(6 * 4 + 2, 2, 0);
    cpu.rip = 0x7c00n;
    cpu.setReg(4, 0x7000n);
    assert.equal(cpu.run(100).kind, 'halt');
    assert.equal(cpu.getReg(2), 6n, `${insn}: the #UD handler ran`);
  }
});
