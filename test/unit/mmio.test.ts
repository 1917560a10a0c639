// MMIO behind EPT: a guest's MOVs to the HPET window (0xFED00000, unmapped in EPT) are EPT
// violations the VMM completes on the device by decoding the instruction, and the guest reads
// what the HPET specification (rev. 1.0a, 2.3) says those registers hold.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { Machine } from '../../src/vmm/machine';
import { loadFlatBinary } from '../../src/vmm/guest-image';
import { HPET_PERIOD_FS } from '../../src/vmm/devices/hpet';
import { emulateMmio, MmioDevice } from '../../src/vmm/mmio';

const skip = !nativeOracleAvailable() && 'needs GNU as';
const OUT = 0x8000;

function run(body: string[]): { m: Machine; out: (k: number) => bigint; exits: Array<{ name: string; gpa: bigint; q: bigint }> } {
  const m = new Machine({ memoryMiB: 16 });
  m.load(loadFlatBinary(assembleIntel([...body, 'mov eax, 2', 'xor edi, edi', 'vmcall']), 0x100000));
  m.start(0x100000n, 'long');
  const exits: Array<{ name: string; gpa: bigint; q: bigint }> = [];
  const end = m.run(1_000_000, { onExit: (e) => exits.push({ name: e.info.name, gpa: e.info.guestPhysical, q: e.info.qualification }) });
  assert.deepEqual(end, { kind: 'shutdown', exitCode: 0, how: 'hypercall' });
  return { m, out: (k) => m.mem.read64(OUT + 8 * k), exits };
}

test('the HPET through EPT violations: capabilities, enabling the counter, the counter advancing, a comparator written and read back', { skip }, () => {
  const g = run([
    'mov rbx, 0xfed00000',
    'mov eax, [rbx]', `mov [${OUT}], rax`, // GCAP_ID low: revision, timers, counter size, vendor
    'mov eax, [rbx + 4]', `mov [${OUT + 8}], rax`, // GCAP_ID high: period in fs
    'mov rcx, [rbx + 0xf0]', `mov [${OUT + 16}], rcx`, // counter while disabled
    'mov dword ptr [rbx + 0x10], 1', // ENABLE_CNF
    'mov ecx, 1000', '1:', 'dec ecx', 'jnz 1b',
    'mov rdx, [rbx + 0xf0]', `mov [${OUT + 24}], rdx`,
    'mov rax, 0x123456789', 'mov [rbx + 0x108], rax', 'mov rsi, [rbx + 0x108]', `mov [${OUT + 32}], rsi`,
    'movzx edi, byte ptr [rbx + 2]', `mov [${OUT + 40}], rdi`,
  ]);
  assert.equal(g.out(0) & 0xffn, 1n, 'REV_ID 1');
  assert.equal((g.out(0) >> 8n) & 0x1fn, 2n, 'NUM_TIM_CAP: three timers');
  assert.equal((g.out(0) >> 13n) & 1n, 1n, 'COUNT_SIZE_CAP: 64-bit counter');
  assert.equal((g.out(0) >> 16n) & 0xffffn, 0x8086n, 'vendor');
  assert.equal(g.out(1), BigInt(HPET_PERIOD_FS), 'the period a 14.31818 MHz counter has');
  assert.equal(g.out(2), 0n, 'the counter does not run before ENABLE_CNF');
  // 2001 loop instructions at one tick per 7 instructions, give or take the reads around them
  assert.ok(g.out(3) >= 2001n / 7n && g.out(3) <= 2100n / 7n, `counter ${g.out(3)}`);
  assert.equal(g.out(4), 0x123456789n, 'timer 0 comparator');
  assert.equal(g.out(5), 0x86n, 'MOVZX of the vendor ID\'s low byte');
  const mmio = g.exits.filter((e) => e.name === 'EPT_VIOLATION');
  assert.equal(mmio.length, 8, 'one EPT violation per device access');
  assert.deepEqual(mmio.map((e) => Number(e.gpa - 0xfed00000n)), [0, 4, 0xf0, 0x10, 0xf0, 0x108, 0x108, 2]);
  assert.equal(mmio[3].q & 7n, 2n, 'the ENABLE write is a data write');
  assert.equal(mmio[0].q & 7n, 1n, 'the capability read is a data read');
});

test('an access to a hole with no device still ends the run with a clear error', { skip }, () => {
  const m = new Machine({ memoryMiB: 16 });
  m.load(loadFlatBinary(assembleIntel(['mov eax, [0xfeb00000]', 'hlt']), 0x100000));
  m.start(0x100000n, 'long');
  const end = m.run(1000);
  assert.equal(end.kind, 'error');
  assert.match((end as { message: string }).message, /guest-physical 0xfeb00000 \(read\), outside its RAM and every device/);
});

test('MMIO emulation refuses what it does not emulate, naming the instruction', () => {
  const dev: MmioDevice = { name: 'probe', read: () => 0n, write: () => undefined };
  const window = { base: 0x1000, size: 0x100, device: dev };
  const regs = { get: () => 0n, set: () => undefined };
  assert.match(String(emulateMmio(Uint8Array.of(0x01, 0x03), 64, 0x1000, window, regs)), /'add' .* is not emulated/); // add [rbx], eax
  assert.match(String(emulateMmio(Uint8Array.of(0x0f), 64, 0x1000, window, regs)), /could not be decoded/);
  assert.equal(emulateMmio(Uint8Array.of(0x89, 0x03), 64, 0x1000, window, regs), 2, 'mov [rbx], eax: two bytes');
});
