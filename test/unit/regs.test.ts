// GeneralRegisters: the seed's register order, sub-register semantics, and the byte layout
// of the save_regs_to_stack! image (x86_vcpu src/regs.rs; SDM Vol. 2A Table 2-2 numbering).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { GeneralRegisters, GPR_NAMES, STACK_IMAGE_SIZE } from '../../src/regs';

test('registers are held in SDM register-number order, RSP excluded', () => {
  assert.deepEqual(GPR_NAMES.slice(0, 8), ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi']);
  const regs = new GeneralRegisters();
  for (let i = 0; i < 16; i++) if (i !== 4) regs.setRegOfIndex(i, BigInt(i) * 0x1111_1111_1111_1111n);
  assert.deepEqual(regs.entries().map(([n]) => n), GPR_NAMES.filter((n) => n !== 'rsp'));
  assert.equal(regs.get('rbx'), 3n * 0x1111_1111_1111_1111n);
  assert.equal(regs.get('r15'), 0xffff_ffff_ffff_ffffn);
});

test('exact 64-bit values round-trip, including ones beyond 2^53', () => {
  const regs = new GeneralRegisters();
  for (const v of [0n, 1n, 0x1f_ffff_ffff_ffffn, 0x20_0000_0000_0001n, 0x8000_0000_0000_0000n, (1n << 64n) - 1n]) {
    regs.setRegOfIndex(9, v);
    assert.equal(regs.getRegOfIndex(9), v);
  }
  regs.setRegOfIndex(0, -1n);
  assert.equal(regs.getRegOfIndex(0), (1n << 64n) - 1n, 'negative values are taken as two\'s complement');
});

test('index 4 (RSP) and indices outside 0-15 are errors that say why', () => {
  const regs = new GeneralRegisters();
  assert.throws(() => regs.getRegOfIndex(4), /RSP.*VMCS/);
  assert.throws(() => regs.setRegOfIndex(4, 1n), /RSP/);
  for (const bad of [-1, 16, 1.5, NaN]) {
    assert.throws(() => regs.getRegOfIndex(bad), /outside 0-15/);
    assert.throws(() => regs.setRegOfIndex(bad, 0n), /outside 0-15/);
  }
  assert.throws(() => regs.setRegOfIndex(0, 1n << 64n), /does not fit in 64 bits/);
  assert.throws(() => regs.setRegOfIndex(0, 2 ** 60), /not an exact integer/);
  assert.throws(() => regs.get('esp'), /RSP/);
  assert.throws(() => regs.get('xmm0'), /names no general register/);
});

test('32-bit writes zero-extend; 16-bit and 8-bit writes, AH included, do not', () => {
  const regs = new GeneralRegisters();
  const all = 0x1122_3344_5566_7788n;
  regs.setRegOfIndex(0, all);
  regs.set('eax', 0xaabbccdd);
  assert.equal(regs.get('rax'), 0xaabbccddn);

  regs.setRegOfIndex(0, all);
  regs.set('ax', 0xbeef);
  assert.equal(regs.get('rax'), 0x1122_3344_5566_beefn);
  regs.set('al', 0x01);
  assert.equal(regs.get('rax'), 0x1122_3344_5566_be01n);
  regs.set('ah', 0x02);
  assert.equal(regs.get('rax'), 0x1122_3344_5566_0201n);
  assert.equal(regs.get('ah'), 0x02n);
  assert.equal(regs.get('eax'), 0x5566_0201n);

  regs.setRegOfIndex(9, all);
  regs.set('r9d', 5);
  assert.equal(regs.get('r9'), 5n);
  regs.setRegOfIndex(9, all);
  regs.set('r9w', 0xffff);
  regs.set('r9b', 0);
  assert.equal(regs.get('r9'), 0x1122_3344_5566_ff00n);
  regs.set('BH', 0x7f);
  assert.equal(regs.get('rbx'), 0x7f00n, 'names are case-insensitive');
  assert.throws(() => regs.set('al', 0x100), /does not fit in 8 bits/);
});

test('stack image: rax at 0, the 8-byte gap at 32, r15 at 120, little-endian', () => {
  const regs = new GeneralRegisters();
  for (let i = 0; i < 16; i++) if (i !== 4) regs.setRegOfIndex(i, 0x0102_0304_0506_0700n + BigInt(i));
  const image = regs.toStackImage();
  assert.equal(image.length, STACK_IMAGE_SIZE);
  assert.deepEqual([...image.subarray(0, 8)], [0x00, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]);
  assert.deepEqual([...image.subarray(32, 40)], [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...image.subarray(40, 48)], [0x05, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01], 'rbp follows the gap');
  assert.deepEqual([...image.subarray(120, 128)], [0x0f, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]);
});

test('fromStackImage reads the image back and ignores the gap', () => {
  const regs = new GeneralRegisters();
  for (let i = 0; i < 16; i++) if (i !== 4) regs.setRegOfIndex(i, (BigInt(i + 1) << 56n) | BigInt(i));
  const image = regs.toStackImage();
  image.fill(0xcc, 32, 40); // garbage where RSP would be, as on a real stack
  const back = GeneralRegisters.fromStackImage(image);
  assert.deepEqual(back.entries(), regs.entries());
  // a view into a larger buffer at an offset works too
  const big = new Uint8Array(256);
  big.set(image, 64);
  assert.deepEqual(GeneralRegisters.fromStackImage(big.subarray(64, 192)).entries(), regs.entries());
  assert.throws(() => GeneralRegisters.fromStackImage(new Uint8Array(127)), /128 bytes, got 127/);
});
