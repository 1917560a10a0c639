// Running real guest programs under the VMX test host (vmx-host.ts) and reading back what a VM
// exit recorded (SDM Vol. 3C, 28.2), plus the VMM's side of an exit: advance GUEST_RIP by the
// VM-exit instruction length and VMRESUME. Instruction lengths and offsets in the tests come
// from GNU as (the assembler is the oracle for encodings), never from the emulator.
import * as assert from 'node:assert/strict';
import { assembleIntelMany } from './native-cpu';
import { GUEST_CODE, prepareGuest, vmxHost, VmxHost } from './vmx-host';
import { gate64 } from './guest-machine';

export type Controls = NonNullable<Parameters<typeof prepareGuest>[1]>;

/** Guest IDT (prepareGuest: GUEST_IDTR_BASE 0x5000, limit 0xfff) and where handlers go. */
export const GUEST_IDT = 0x5000;
export const HANDLERS = GUEST_CODE + 0x8000;

/** A guest program with one instruction of interest: where it lands and how long GNU as made it. */
export interface Program { bytes: Uint8Array; at: number; len: number }

/** `pre`, then `insn`, then `post`, assembled in one `as` run; `at` is the guest address of `insn`. */
export function program(pre: string[], insn: string, post: string[] = ['vmcall']): Program {
  const [head, one, all] = assembleIntelMany([pre.length > 0 ? pre : ['nop'], [insn], [...pre, insn, ...post]]);
  return { bytes: all, at: GUEST_CODE + (pre.length > 0 ? head.length : 0), len: one.length };
}

/** A host with a guest loaded at GUEST_CODE, launched (asserts the entry succeeded). */
export function launch(code: Uint8Array, controls: Controls = {}, setup?: (h: VmxHost) => void): VmxHost {
  const h = vmxHost();
  prepareGuest(h, controls);
  h.mem.writeBytes(GUEST_CODE, code);
  setup?.(h);
  const r = h.vmx.vmlaunch();
  assert.equal(r.kind, 'entered', h.vmx.lastEntryProblem);
  return h;
}

/** Everything an exit records that the tests check. */
export interface ExitRecord {
  reason: number;
  qualification: bigint;
  length: number;
  info: number;
  rip: bigint;
  intrInfo: number;
  intrError: number;
  guestLinear: bigint;
}

export function readExit(h: VmxHost): ExitRecord {
  return {
    reason: Number(h.read('VM_EXIT_REASON')),
    qualification: h.read('EXIT_QUALIFICATION'),
    length: Number(h.read('VM_EXIT_INSTRUCTION_LEN')),
    info: Number(h.read('VMX_INSTRUCTION_INFO')),
    rip: h.read('GUEST_RIP'),
    intrInfo: Number(h.read('VM_EXIT_INTR_INFO')),
    intrError: Number(h.read('VM_EXIT_INTR_ERROR_CODE')),
    guestLinear: h.read('GUEST_LINEAR_ADDRESS'),
  };
}

/** Runs the guest until it exits (asserts that it does, with the expected basic reason). */
export function runToExit(h: VmxHost, reason: number, budget = 100_000): ExitRecord {
  const out = h.cpu.run(budget);
  assert.deepEqual(out, { kind: 'vm-exit', reason }, `expected exit ${reason}; last entry problem: ${h.vmx.lastEntryProblem}`);
  const e = readExit(h);
  assert.equal(e.reason, reason);
  return e;
}

/** The VMM's handling: GUEST_RIP += VM-exit instruction length, then VMRESUME (asserts it entered). */
export function skipAndResume(h: VmxHost): void {
  const len = h.read('VM_EXIT_INSTRUCTION_LEN');
  h.write('GUEST_RIP', h.read('GUEST_RIP') + len);
  resume(h);
}

export function resume(h: VmxHost): void {
  const r = h.vmx.vmresume();
  assert.equal(r.kind, 'entered', h.vmx.lastEntryProblem);
}

/** The guest reached its closing VMCALL (exit 18). */
export function runToVmcall(h: VmxHost, budget = 100_000): ExitRecord {
  return runToExit(h, 18, budget);
}

/** Assembles a handler and installs a 64-bit interrupt gate for `vector` in the guest IDT. */
export function handler(h: VmxHost, vector: number, code: Uint8Array, slot = vector): number {
  const at = HANDLERS + 0x100 * slot;
  h.mem.writeBytes(at, code);
  gate64(h.mem, GUEST_IDT, vector, at);
  return at;
}

/** Interruption-information word (Table 25-17 / 28-2): vector, type, error-code valid, valid. */
export function interruption(vector: number, type: number, errorCode: boolean): number {
  return (vector | (type << 8) | (errorCode ? 1 << 11 : 0) | (1 << 31)) >>> 0;
}

export const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
