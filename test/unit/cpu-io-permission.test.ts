// IN/OUT/INS/OUTS at CPL 3 against the I/O permission bit map of a 32-bit and a 64-bit TSS
// (SDM Vol. 1, 19.5.2): real guest code assembled by GNU as loads TR, IRETs to CPL 3 and
// tries ports that the bitmap allows and denies, single and multi-byte, straddling bitmap
// bytes, beyond the TSS limit, and with the map base outside the TSS. Which accesses reach the
// device and which raise #GP(0) through the IDT is computed here from the SDM's rule.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Intercept } from '../../src/hardware/cpu';
import { assembleIntelMany, nativeOracleAvailable } from '../support/native-cpu';
import {
  attempt, Bits, deviceValue, guestProgram, LAYOUT, loggedFaults, makeMachine, PortAccess,
} from '../support/protected-guest';

const skip = !nativeOracleAvailable() && 'needs GNU as';

/** Where the I/O map starts in the TSS (right after the 104-byte TSS) in most scenarios. */
const MAP = 0x68;
/** Ports the bitmap allows; every other port in 0-0x7f has its bit set. Byte 16 is the 0xff end byte. */
const ALLOWED = new Set<number>();
for (const [from, to] of [[0x60, 0x69], [0x6b, 0x70], [0x78, 0x7f]]) for (let p = from; p <= to; p++) ALLOWED.add(p);

function bitmap(): Uint8Array {
  const b = new Uint8Array(17).fill(0xff);
  for (let p = 0; p < 0x80; p++) if (ALLOWED.has(p)) b[p >> 3] &= ~(1 << (p & 7));
  return b;
}

/** The TSS as the test wrote it: bytes from offset 0 to the limit. */
function tssImage(mapBase: number, limit: number): Uint8Array {
  const t = new Uint8Array(limit + 1);
  t[0x66] = mapBase & 0xff;
  t[0x67] = mapBase >> 8;
  const b = bitmap();
  for (let k = 0; k < b.length && mapBase + k <= limit; k++) t[mapBase + k] = b[k];
  return t;
}

/**
 * SDM Vol. 1, 19.5.2: at CPL > IOPL every byte port of the access needs a clear bit; the
 * processor reads the two bitmap bytes from map base + port / 8, so both must lie within the
 * TSS limit, and the map base itself (offset 0x66-0x67) must too.
 */
function allowed(tss: Uint8Array, limit: number, iopl: number, port: number, size: number): boolean {
  if (3 <= iopl) return true;
  if (limit < 0x67) return false;
  const base = tss[0x66] | (tss[0x67] << 8);
  const first = base + (port >> 3);
  if (first + 1 > limit) return false;
  for (let p = port; p < port + size; p++) {
    if (((tss[base + (p >> 3)] >> (p & 7)) & 1) !== 0) return false;
  }
  return true;
}

interface IoTry {
  /** Instruction text; string forms use rCX/rSI/rDI set up from `count`. */
  insn: string;
  port: number;
  size: 1 | 2 | 4;
  out: boolean;
  /** Elements of a string form (REP count, or 1 without REP); absent for IN/OUT. */
  count?: number;
}

const TRIES: IoTry[] = [
  { insn: 'in al, 0x60', port: 0x60, size: 1, out: false },
  { insn: 'out 0x61, al', port: 0x61, size: 1, out: true },
  { insn: 'in ax, dx', port: 0x66, size: 2, out: false },
  { insn: 'in eax, dx', port: 0x66, size: 4, out: false }, // 0x66-0x69: two bitmap bytes, all clear
  { insn: 'in eax, dx', port: 0x68, size: 4, out: false }, // reaches 0x6a (denied)
  { insn: 'out dx, al', port: 0x6a, size: 1, out: true },
  { insn: 'out dx, ax', port: 0x6b, size: 2, out: true },
  { insn: 'in ax, dx', port: 0x6f, size: 2, out: false }, // 0x6f and 0x70 in two bytes
  { insn: 'out dx, eax', port: 0x6f, size: 4, out: true }, // reaches 0x71 (denied)
  { insn: 'in al, dx', port: 0x7f, size: 1, out: false }, // reads bitmap bytes 15 and 16
  { insn: 'in ax, dx', port: 0x7f, size: 2, out: false }, // 0x80 is in the 0xff end byte
  { insn: 'in al, dx', port: 0x80, size: 1, out: false },
  { insn: 'in al, dx', port: 0x88, size: 1, out: false }, // bitmap byte 17: beyond the limit
  { insn: 'rep insb', port: 0x62, size: 1, out: false, count: 3 },
  { insn: 'outsw', port: 0x6a, size: 2, out: true, count: 1 },
  { insn: 'rep outsb', port: 0x6b, size: 1, out: true, count: 2 },
  { insn: 'insd', port: 0x6e, size: 4, out: false, count: 1 }, // reaches 0x71
  { insn: 'rep outsd', port: 0x6c, size: 4, out: true, count: 2 },
  { insn: 'rep insw', port: 0x7e, size: 2, out: false, count: 2 },
];

const bufferOf = (id: number) => LAYOUT.data + 0x100 * id;
const outValue = (id: number) => (0x4c3b2a19 + id * 0x01020304) >>> 0;
const mask = (size: number) => (size === 4 ? 0xffffffff : (1 << (8 * size)) - 1);
/** Bytes OUTS sends from each attempt's buffer. */
const sourceByte = (id: number, k: number) => (0x90 + 3 * id + k) & 0xff;
/** The little-endian value of `size` source bytes from byte `from` of an attempt's buffer. */
function sourceValue(id: number, from: number, size: number): number {
  let v = 0;
  for (let k = size - 1; k >= 0; k--) v = v * 256 + sourceByte(id, from + k);
  return v;
}

function userCode(bits: Bits): string[] {
  return TRIES.flatMap((t, id) => {
    const setup = [`mov edx, ${t.port}`, `mov eax, ${outValue(id)}`];
    if (t.count !== undefined) setup.push(`mov ecx, ${t.count}`, `mov esi, ${bufferOf(id)}`, `mov edi, ${bufferOf(id)}`);
    return attempt(bits, id, setup, t.insn);
  });
}

interface Scenario { name: string; mapBase: number; limit: number; iopl: number }

const SCENARIOS: Scenario[] = [
  { name: 'bitmap with its 0xff end byte inside the limit', mapBase: MAP, limit: MAP + 16, iopl: 0 },
  { name: 'limit ends at the last bitmap byte (the second byte read is beyond it)', mapBase: MAP, limit: MAP + 15, iopl: 0 },
  { name: 'map base beyond the TSS limit: every port denied', mapBase: 0x1000, limit: MAP + 16, iopl: 0 },
  { name: 'IOPL 3: the bitmap is not consulted', mapBase: 0x1000, limit: MAP + 16, iopl: 3 },
];

const programs = new Map<string, Uint8Array>();
function program(bits: Bits, iopl: number): Uint8Array {
  const key = `${bits}/${iopl}`;
  if (!programs.has(key)) {
    const [a32i0, a32i3, a64i0, a64i3] = assembleIntelMany([
      guestProgram(32, userCode(32), 0), guestProgram(32, userCode(32), 3),
      guestProgram(64, userCode(64), 0), guestProgram(64, userCode(64), 3),
    ]);
    programs.set('32/0', a32i0); programs.set('32/3', a32i3); programs.set('64/0', a64i0); programs.set('64/3', a64i3);
  }
  return programs.get(key) as Uint8Array;
}

for (const bits of [32, 64] as const) {
  for (const s of SCENARIOS) {
    test(`${bits}-bit TSS, CPL 3: ${s.name}`, { skip }, () => {
      const tss = tssImage(s.mapBase, s.limit);
      const m = makeMachine(bits, { tssLimit: s.limit, tssBytes: [[0x66, tss.subarray(0x66)]] });
      m.mem.writeBytes(LAYOUT.code, program(bits, s.iopl));
      TRIES.forEach((_t, id) => { for (let k = 0; k < 16; k++) m.mem.write(bufferOf(id) + k, 1, sourceByte(id, k)); });
      let exits = 0;
      m.cpu.interceptMask = Intercept.IO;
      m.cpu.hooks = { intercept: () => { exits++; return false; } };

      const out = m.cpu.run(10_000);
      assert.equal(out.kind, 'halt', `the guest reached INT 0x80 (${JSON.stringify(out)})`);
      assert.equal(m.cpu.cpl, 0);

      // what the SDM says should have happened
      const expectedAccesses: PortAccess[] = [];
      const expectedFaults: number[] = [];
      let reads = 0;
      TRIES.forEach((t, id) => {
        if (!allowed(tss, s.limit, s.iopl, t.port, t.size)) { expectedFaults.push(id); return; }
        const n = t.count ?? 1;
        for (let e = 0; e < n; e++) {
          if (!t.out) {
            expectedAccesses.push({ dir: 'in', port: t.port, size: t.size, value: deviceValue(reads++, t.size) });
          } else if (t.count === undefined) {
            expectedAccesses.push({ dir: 'out', port: t.port, size: t.size, value: (outValue(id) & mask(t.size)) >>> 0 });
          } else {
            expectedAccesses.push({ dir: 'out', port: t.port, size: t.size, value: sourceValue(id, e * t.size, t.size) });
          }
        }
      });

      assert.deepEqual(m.device.log, expectedAccesses, 'the device saw exactly the allowed accesses, in order');
      assert.equal(exits, expectedAccesses.length, 'one VM-exit point per access that passed the permission check');
      const faults = loggedFaults(m);
      assert.deepEqual(faults.map((f) => f.id), expectedFaults, 'the denied attempts raised #GP');
      for (const f of faults) {
        assert.equal(f.vector, 13);
        assert.equal(f.errorCode, 0, `#GP(0) for attempt ${f.id}`);
        const t = TRIES[f.id];
        if (t.count !== undefined) {
          assert.equal(f.rcx, t.count, `attempt ${f.id}: no element done, rCX unchanged`);
          assert.equal(f.rsi, bufferOf(f.id), `attempt ${f.id}: rSI unchanged`);
          assert.equal(f.rdi, bufferOf(f.id), `attempt ${f.id}: rDI unchanged`);
        }
      }
      // INS stored the device's values (and a denied INS stored nothing)
      TRIES.forEach((t, id) => {
        if (t.count === undefined || t.out) return;
        const stored = m.mem.read(bufferOf(id), t.size);
        if (expectedFaults.includes(id)) assert.equal(stored, sourceValue(id, 0, t.size), `attempt ${id}: memory untouched`);
      });
      const firstIns = TRIES.findIndex((t) => t.insn === 'rep insb');
      if (!expectedFaults.includes(firstIns)) {
        const got = Array.from(m.mem.readBytes(bufferOf(firstIns), 3));
        const want = expectedAccesses.filter((a) => a.dir === 'in' && a.port === TRIES[firstIns].port).map((a) => a.value);
        assert.deepEqual(got, want, 'REP INSB stored each byte read, in order');
      }
    });
  }
}


test('a TSS limit below 0x67 (no room for the map base) denies I/O at CPL 3', { skip }, () => {
  const m = makeMachine(64, { tssLimit: 0x65 });
  m.mem.writeBytes(LAYOUT.code, assembleIntelMany([guestProgram(64, attempt(64, 7, ['mov edx, 0x60'], 'in al, dx'))])[0]);
  assert.equal(m.cpu.run(1000).kind, 'halt');
  assert.deepEqual(loggedFaults(m).map((f) => [f.id, f.vector, f.errorCode]), [[7, 13, 0]]);
  assert.deepEqual(m.device.log, []);
});
