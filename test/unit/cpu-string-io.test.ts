// REP INS/OUTS in guest code assembled by GNU as: every element width, both DF values, 16-,
// 32- and 64-bit address sizes (with pointer wrap-around at the address size), ES for INS
// whatever the prefix, a segment override for the OUTS source, the VM-exit point before every
// element, and a long REP that yields with RIP still on the instruction (SDM Vol. 2A "INS",
// Vol. 2B "OUTS" and "REP"). Expected memory, registers and port sequences are computed here.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Intercept } from '../../src/hardware/cpu';
import { assembleIntelMany, nativeOracleAvailable } from '../support/native-cpu';
import {
  Bits, descriptor, deviceValue, guestProgram, LAYOUT, makeMachine, Machine, PortAccess,
} from '../support/protected-guest';

const skip = !nativeOracleAvailable() && 'needs GNU as';

const PORT = 0x64;
const COUNT = 5;
/** Segment bases the 32-bit guests use: ES (selector 0x33) and FS (selector 0x3b). */
const ES_BASE = 0x30000;
const FS_BASE = 0x38000;
/** Bits above the address size that a 16-bit-address REP must leave alone in ECX/ESI/EDI. */
const ECX_HIGH = 0xabcd0000;
const PTR_HIGH = 0x55aa0000;

interface Case {
  name: string;
  bits: Bits;
  asize: 2 | 4 | 8;
  ins: boolean;
  size: 1 | 2 | 4;
  df: 0 | 1;
  /** Starting rSI/rDI offset. */
  start: number;
  /** Source segment override for OUTS, or a (ignored) FS prefix on INS. */
  fs?: boolean;
}

const SUFFIX = { 1: 'b', 2: 'w', 4: 'd' } as const;
const PTR = { 1: 'byte', 2: 'word', 4: 'dword' } as const;

function instruction(c: Case): string[] {
  const prefix = c.asize === 2 ? 'addr16 ' : c.asize === 4 && c.bits === 64 ? 'addr32 ' : '';
  if (c.ins) return [...(c.fs ? ['.byte 0x64'] : []), `${prefix}rep ins${SUFFIX[c.size]}`];
  if (!c.fs) return [`${prefix}rep outs${SUFFIX[c.size]}`];
  const reg = c.asize === 2 ? 'si' : c.asize === 4 ? 'esi' : 'rsi';
  return [`rep outs dx, ${PTR[c.size]} ptr fs:[${reg}]`];
}

function guestLines(c: Case): string[] {
  const high = c.asize === 2 ? PTR_HIGH : 0;
  const segs = c.bits === 32
    ? ['mov ax, 0x33', 'mov es, ax', 'mov ax, 0x3b', 'mov fs, ax']
    : ['mov ecx, 0xc0000100', `mov eax, ${FS_BASE}`, 'xor edx, edx', 'wrmsr'];
  return [
    ...segs,
    c.df ? 'std' : 'cld',
    `mov edx, ${PORT}`,
    `mov ecx, ${(c.asize === 2 ? ECX_HIGH : 0) + COUNT}`,
    `mov esi, ${(high | c.start) >>> 0}`,
    `mov edi, ${(high | c.start) >>> 0}`,
    ...instruction(c),
  ];
}

function cases(): Case[] {
  const out: Case[] = [];
  const configs: Array<{ bits: Bits; asize: 2 | 4 | 8; start: [number, number] }> = [
    { bits: 64, asize: 8, start: [LAYOUT.data, LAYOUT.data + 0x100] },
    { bits: 64, asize: 4, start: [0xfffffffc, 0x4] }, // the pointer wraps at 32 bits
    { bits: 32, asize: 4, start: [0x1000, 0x1100] },
    { bits: 32, asize: 2, start: [0xfffc, 0x0004] }, // the pointer wraps at 16 bits
  ];
  for (const cfg of configs) {
    for (const ins of [true, false]) {
      for (const size of [1, 2, 4] as const) {
        for (const df of [0, 1] as const) {
          out.push({ name: `${cfg.bits}-bit code, ${8 * cfg.asize}-bit addresses: REP ${ins ? 'INS' : 'OUTS'}${SUFFIX[size].toUpperCase()} DF=${df}`, bits: cfg.bits, asize: cfg.asize, ins, size, df, start: cfg.start[df] });
        }
      }
    }
  }
  for (const bits of [32, 64] as const) {
    const asize = bits === 64 ? 8 : 4;
    const start = bits === 64 ? LAYOUT.data + 0x2000 : 0x2000;
    out.push({ name: `${bits}-bit code: OUTS reads from the FS override`, bits, asize, ins: false, size: 2, df: 0, start, fs: true });
    out.push({ name: `${bits}-bit code: INS writes ES:rDI despite an FS prefix`, bits, asize, ins: true, size: 2, df: 0, start, fs: true });
  }
  for (const fs of [true, false]) out.push({ name: `32-bit code, 16-bit addresses: OUTSD${fs ? ' from FS' : ''} with DF=1 wrapping below 0`, bits: 32, asize: 2, ins: false, size: 4, df: 1, start: 0x0004, fs });
  return out;
}

/** 32-bit guests get ES and FS segments with a base (selectors 0x33 and 0x3b, DPL 3). */
const EXTRA_GDT_32: Array<[number, number]> = [descriptor(ES_BASE, 0xfffff, 0xf3, 0xc), descriptor(FS_BASE, 0xfffff, 0xf3, 0xc)];

function machineFor(c: Case): Machine {
  return makeMachine(c.bits, { extraGdt: c.bits === 32 ? EXTRA_GDT_32 : [] });
}

/** Byte the test places at a source address for OUTS: a function of the linear address. */
const pattern = (linear: number) => ((linear * 7) + 3) & 0xff;

const CASES = cases();
const CODE = assembleIfPossible(CASES.map((c) => guestProgram(c.bits, guestLines(c), 0, true)));

function assembleIfPossible(snippets: string[][]): Uint8Array[] {
  return skip ? [] : assembleIntelMany(snippets);
}

CASES.forEach((c, k) => {
  test(c.name, { skip }, () => {
    const m = machineFor(c);
    m.mem.writeBytes(LAYOUT.code, CODE[k]);
    const d = c.df ? -c.size : c.size;
    // pointers wrap at the address size (the 64-bit cases stay far from any wrap)
    const offsetOf = (e: number) => (c.asize === 8 ? c.start + e * d : (c.start + e * d) & (2 ** (8 * c.asize) - 1)) >>> 0;
    // which segment base applies (SDM Vol. 3A, 3.4.4: in 64-bit mode only FS and GS have one)
    const srcBase = c.fs ? FS_BASE : 0;
    const dstBase = c.bits === 32 ? ES_BASE : 0;
    const linear = (e: number) => (c.ins ? dstBase : srcBase) + offsetOf(e);
    if (!c.ins) for (let e = 0; e < COUNT; e++) for (let b = 0; b < c.size; b++) m.mem.write(linear(e) + b, 1, pattern(linear(e) + b));

    const out = m.cpu.run(1000);
    assert.equal(out.kind, 'halt', JSON.stringify(out));

    const expected: PortAccess[] = [];
    for (let e = 0; e < COUNT; e++) {
      if (c.ins) {
        expected.push({ dir: 'in', port: PORT, size: c.size, value: deviceValue(e, c.size) });
      } else {
        let v = 0;
        for (let b = c.size - 1; b >= 0; b--) v = v * 256 + pattern(linear(e) + b);
        expected.push({ dir: 'out', port: PORT, size: c.size, value: v });
      }
    }
    assert.deepEqual(m.device.log, expected, 'the device saw each element in order');
    if (c.ins) {
      for (let e = 0; e < COUNT; e++) assert.equal(m.mem.read(linear(e), c.size), deviceValue(e, c.size), `element ${e} at 0x${linear(e).toString(16)}`);
    }
    const high = c.asize === 2 ? PTR_HIGH : 0;
    const final = BigInt(high + offsetOf(COUNT));
    const moved = c.ins ? 7 : 6, kept = c.ins ? 6 : 7;
    assert.equal(m.cpu.getReg(moved), final, `${c.ins ? 'rDI' : 'rSI'} advanced by ${COUNT} x ${d} at the address size`);
    assert.equal(m.cpu.getReg(kept), BigInt((high | c.start) >>> 0), `${c.ins ? 'rSI' : 'rDI'} unchanged`);
    assert.equal(m.cpu.getReg(1), BigInt(c.asize === 2 ? ECX_HIGH : 0), 'the count register reached 0 (bits above the address size kept)');
  });
});

test('REP OUTS passes the VM-exit point before every element and resumes where it stopped', { skip }, () => {
  const m = makeMachine(64);
  const [code] = assembleIntelMany([guestProgram(64, ['cld', `mov edx, ${PORT}`, 'mov ecx, 4', `mov esi, ${LAYOUT.data}`, 'rep outsb'], 0, true)]);
  m.mem.writeBytes(LAYOUT.code, code);
  m.mem.writeBytes(LAYOUT.data, Uint8Array.of(0x11, 0x22, 0x33, 0x44));
  let calls = 0;
  m.cpu.interceptMask = Intercept.IO;
  m.cpu.hooks = { intercept: (_c, what) => { assert.equal(what, Intercept.IO); return ++calls === 3; } };
  const first = m.cpu.run(1000);
  assert.deepEqual(first, { kind: 'intercept', intercept: Intercept.IO });
  assert.deepEqual(m.device.log.map((a) => a.value), [0x11, 0x22], 'two elements went out before the third exit');
  assert.equal(m.cpu.getReg(1), 2n, 'RCX counts the elements left');
  assert.equal(m.cpu.getReg(6), BigInt(LAYOUT.data + 2));
  const at = m.cpu.rip;
  assert.deepEqual(Array.from(m.mem.readBytes(Number(at), 2)), [0xf3, 0x6e], 'RIP is on the REP OUTSB');
  const second = m.cpu.run(1000);
  assert.equal(second.kind, 'halt');
  assert.deepEqual(m.device.log.map((a) => a.value), [0x11, 0x22, 0x33, 0x44]);
  assert.equal(calls, 5, 'one more exit point for each of the last two elements (the third asked twice)');
  assert.equal(m.cpu.getReg(1), 0n);
});

test('a long REP INS yields between chunks with RIP on the instruction, then completes', { skip }, () => {
  const n = 5000;
  const m = makeMachine(64);
  const [code] = assembleIntelMany([guestProgram(64, ['cld', `mov edx, ${PORT}`, `mov ecx, ${n}`, `mov edi, ${LAYOUT.data}`, 'rep insb'], 0, true)]);
  m.mem.writeBytes(LAYOUT.code, code);
  let stopOnce = true;
  m.cpu.interceptMask = Intercept.IO;
  m.cpu.hooks = { intercept: () => { const s = stopOnce; stopOnce = false; return s; } };
  assert.equal(m.cpu.run(1000).kind, 'intercept', 'stopped before the first element');
  const at = m.cpu.rip;
  assert.equal(m.cpu.run(1).kind, 'budget');
  const left = Number(m.cpu.getReg(1));
  assert.ok(left > 0 && left < n, `part of the count was done in one step (RCX ${left})`);
  assert.equal(m.cpu.rip, at, 'RIP stays on REP INSB while RCX is not 0');
  assert.equal(m.device.log.length, n - left);
  assert.equal(m.cpu.run(1000).kind, 'halt');
  assert.equal(m.device.log.length, n);
  assert.equal(m.cpu.getReg(1), 0n);
  assert.equal(m.cpu.getReg(7), BigInt(LAYOUT.data + n));
  assert.equal(m.mem.read(LAYOUT.data + n - 1, 1), deviceValue(n - 1, 1));
});
