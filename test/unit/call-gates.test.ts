// Far CALL/JMP through call gates and far RET to an outer level, with real guest code (SDM
// Vol. 3A, 5.8.3-5.8.6; Vol. 2A CALL, JMP; Vol. 2B RET). The guest enters protected mode
// itself, loads TR, drops to ring 3 with a far RET and calls back in through gates the test
// describes; expected stacks, selectors and error codes follow the SDM rules for those inputs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { callGate, flatCode32, flatData32, loadGuest, segmentDescriptor, tssDescriptor, writeTss32 } from '../support/guest-asm';
import { GUEST_ORIGIN, machine, protectedModeGuest, stopOnExceptions, summary, KERNEL_CS, KERNEL_DS } from '../support/pm-machine';
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu } from '../../src/hardware/cpu';
import { enterLongMode } from '../../src/vmm/long-mode-setup';
import { Seg } from '../../src/hardware/cpu-state';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';

const skip = !nativeOracleAvailable() && 'needs GNU as';
const GP = 13, NP = 11, TS = 10;

// GDT layout of these guests (index 3 on); selectors are index * 8
const USER_CS = 0x18 | 3, USER_DS = 0x20 | 3, TSS_SEL = 0x28;
const GATE_RING0 = 0x30, GATE_DPL0 = 0x38, GATE_ABSENT = 0x40, GATE16 = 0x48, GATE_TO_USER = 0x50, GATE_NULL = 0x58, GATE_JMP_SAME = 0x60, SMALL_STACK = 0x68, GATE16_INNER = 0x70;
const TSS_BASE = 0x20000, RESULTS = 0x30000;
const ESP0 = 0x5000, USER_ESP = 0x6000;
/** Where the guest's pieces sit: fixed offsets so gate descriptors can name them. */
const TARGET = GUEST_ORIGIN + 0x400, TARGET16 = GUEST_ORIGIN + 0x500, DONE = GUEST_ORIGIN + 0x300, SAME = GUEST_ORIGIN + 0x600;

function gdt(overrides: Partial<Record<number, bigint>> = {}): bigint[] {
  const table: Record<number, bigint> = {
    0x18: flatCode32(3), 0x20: flatData32(3), 0x28: tssDescriptor(TSS_BASE),
    [GATE_RING0]: callGate(KERNEL_CS, TARGET, 3, 2),
    [GATE_DPL0]: callGate(KERNEL_CS, TARGET, 0, 0),
    [GATE_ABSENT]: callGate(KERNEL_CS, TARGET, 3, 0, 0xc, false),
    [GATE16]: callGate(KERNEL_CS, TARGET16, 0, 0, 0x4),
    [GATE_TO_USER]: callGate(USER_CS, TARGET, 0, 0),
    [GATE_NULL]: callGate(0, TARGET, 3, 0),
    [GATE_JMP_SAME]: callGate(USER_CS, SAME, 3, 0),
    [SMALL_STACK]: segmentDescriptor({ base: 0x200000, limit: 0xfff, type: 0x3, db: true }),
    [GATE16_INNER]: callGate(KERNEL_CS, TARGET16, 3, 1, 0x4),
    ...overrides,
  };
  const out: bigint[] = [];
  for (let sel = 0x18; sel <= GATE16_INNER; sel += 8) out.push(table[sel]);
  return out;
}

/**
 * Ring 0: LTR, then a far RET to ring 3 (pushing SS, ESP, CS, EIP of the outer level). Ring 3
 * runs `ring3`, then reaches DONE. The inner target at TARGET records what it sees in RESULTS.
 */
function ring3Guest(ring3: string[], target: string[] = [], target16: string[] = [], same: string[] = []): string[] {
  return protectedModeGuest([
    `mov ax, ${TSS_SEL}`, 'ltr ax',
    `push ${USER_DS}`, `push ${USER_ESP}`, `push ${USER_CS}`, 'push offset ring3', 'retf',
    'ring3:', ...ring3, 'jmp done',
    '.org 0x300', 'done: nop', 'jmp done',
    '.org 0x400', ...target,
    '.org 0x500', ...target16,
    '.org 0x600', ...same,
    '.org 0x700',
  ], gdt());
}

function boot(lines: string[]): { mem: PhysicalMemory; cpu: Cpu } {
  const m = machine(lines);
  writeTss32(m.mem, TSS_BASE, { esp0: ESP0, ss0: KERNEL_DS });
  m.cpu.setBreakpoints([BigInt(DONE)]);
  stopOnExceptions(m.cpu);
  return m;
}

test('far RET to ring 3 pops SS:ESP and makes DPL-0 data segment registers null', { skip }, () => {
  const { cpu } = boot(ring3Guest([]));
  assert.equal(summary(cpu.run(1000)), 'breakpoint');
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.segSel[Seg.CS], USER_CS);
  assert.equal(cpu.segSel[Seg.SS], USER_DS);
  assert.equal(cpu.getReg(4), BigInt(USER_ESP), 'ESP popped from the ring-0 stack');
  for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS]) assert.equal(cpu.segSel[s], 0, `segment ${s} (DPL 0 data) is null at CPL 3`);
});

test('CALL through a call gate to ring 0: stack from the TSS, 2 parameters copied, RET imm back to ring 3', { skip }, () => {
  const { cpu, mem } = boot(ring3Guest([
    `mov ax, ${USER_DS}`, 'mov ds, ax', 'mov es, ax',
    'push 0x1111', 'push 0x2222',
    `call ${GATE_RING0 | 3}:0`,
    'mov ebx, esp',
  ], [
    // ring 0: record ESP, the frame and the selectors, load ES with ring-0 data, return
    `mov dword ptr [${RESULTS}], esp`,
    ...[0, 4, 8, 12, 16, 20].map((o, k) => `mov eax, dword ptr [esp + ${o}]\nmov dword ptr [${RESULTS + 4 + 4 * k}], eax`).flatMap((s) => s.split('\n')),
    'mov eax, cs', `mov dword ptr [${RESULTS + 28}], eax`,
    'mov eax, ss', `mov dword ptr [${RESULTS + 32}], eax`,
    `mov ax, ${KERNEL_DS}`, 'mov es, ax',
    'retf 8',
  ]));
  assert.equal(summary(cpu.run(1000)), 'breakpoint');
  const r = (k: number) => mem.read(RESULTS + 4 * k, 4);
  // SDM Figure 5-13: the inner stack holds old SS, old ESP, the parameters, old CS, return EIP
  const callerEsp = USER_ESP - 8;
  assert.equal(r(0), ESP0 - 4 * (2 + 2 + 2), 'ESP in the gate target: ESP0 less six dwords');
  assert.equal(r(2), USER_CS, '[ESP+4] = caller CS');
  assert.equal(r(3), 0x2222, '[ESP+8] = the last parameter pushed');
  assert.equal(r(4), 0x1111, '[ESP+12] = the first parameter pushed');
  assert.equal(r(5), callerEsp, '[ESP+16] = caller ESP');
  assert.equal(r(6), USER_DS, '[ESP+20] = caller SS');
  assert.equal(r(7), KERNEL_CS, 'CS = gate selector with RPL = new CPL 0');
  assert.equal(r(8), KERNEL_DS, 'SS = SS0 from the TSS');
  // back in ring 3: RET 8 released the parameters on both stacks
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.getReg(3), BigInt(USER_ESP), 'caller ESP after RET 8 = before the pushes');
  assert.equal(cpu.segSel[Seg.ES], 0, 'ES (ring-0 data) made null by the return to ring 3');
  assert.equal(cpu.segSel[Seg.DS], USER_DS, 'DS (ring-3 data) kept');
  // the return address the gate pushed is the instruction after the CALL
  const retEip = r(1);
  const ring3 = mem.read(retEip, 2);
  assert.equal(ring3, 0xe389, 'the return EIP points at "mov ebx, esp" (89 E3)');
});

test('call-gate privilege checks give #GP/#NP with the selector as error code (SDM Vol. 2A CALL)', { skip }, () => {
  const run = (insn: string, ring0 = false) => {
    const lines = ring0
      ? protectedModeGuest([`mov ax, ${TSS_SEL}`, 'ltr ax', insn, 'jmp done', '.org 0x300', 'done: nop', 'jmp done', '.org 0x400', 'retf', '.org 0x700'], gdt())
      : ring3Guest([insn], ['retf 8']);
    return boot(lines).cpu.run(1000);
  };
  assert.equal(summary(run(`call ${GATE_DPL0 | 3}:0`)), `exception ${GP} (${GATE_DPL0})`, 'gate DPL 0 < CPL 3');
  assert.equal(summary(run(`call ${GATE_RING0}:0`, false)), 'breakpoint', 'RPL 0 at CPL 3: max(CPL, RPL) = 3 <= DPL 3');
  assert.equal(summary(run(`call ${GATE_ABSENT | 3}:0`)), `exception ${NP} (${GATE_ABSENT})`, 'gate not present');
  assert.equal(summary(run(`call ${GATE_NULL | 3}:0`)), `exception ${GP} (0)`, 'gate with a null code selector');
  assert.equal(summary(run(`call ${GATE_TO_USER}:0`, true)), `exception ${GP} (${USER_CS & 0xfffc})`, 'target DPL 3 > CPL 0');
  assert.equal(summary(run(`jmp ${GATE_RING0 | 3}:0`)), `exception ${GP} (${KERNEL_CS})`, 'JMP cannot change privilege: non-conforming DPL 0 != CPL 3');
});

test('JMP through a call gate at the same privilege level lands on the gate offset, pushing nothing', { skip }, () => {
  const { cpu } = boot(ring3Guest([`jmp ${GATE_JMP_SAME | 3}:0x1234`], [], [], ['mov ecx, esp', 'jmp done']));
  assert.equal(summary(cpu.run(1000)), 'breakpoint');
  assert.equal(cpu.getReg(1), BigInt(USER_ESP), 'the offset in the instruction is ignored; nothing pushed');
  assert.equal(cpu.segSel[Seg.CS], USER_CS);
});

test('a 16-bit call gate pushes 16-bit CS and IP and ignores the upper offset bits', { skip }, () => {
  // from ring 0, same privilege: the gate's 16-bit offset is TARGET16 & 0xFFFF (the guest lies below 64 KiB)
  const lines = protectedModeGuest([`mov ax, ${TSS_SEL}`, 'ltr ax', 'mov ebx, esp', 'jmp callsite', '.org 0x280', `callsite: call ${GATE16}:0`, 'jmp done',
    '.org 0x300', 'done: nop', 'jmp done', '.org 0x500', 'mov ecx, esp', 'movzx edx, word ptr [esp]', 'movzx esi, word ptr [esp + 2]', 'jmp done', '.org 0x700'], gdt());
  const { cpu } = boot(lines);
  assert.equal(summary(cpu.run(1000)), 'breakpoint');
  assert.equal(cpu.getReg(1), cpu.getReg(3) - 4n, 'two words pushed');
  assert.equal(cpu.getReg(6), BigInt(KERNEL_CS), 'CS word');
  // CALL ptr16:32 is 7 bytes (9A, 4-byte offset, 2-byte selector): the return IP follows it
  assert.equal(cpu.getReg(2), BigInt((GUEST_ORIGIN + 0x280 + 7) & 0xffff), 'IP word');
  assert.equal(cpu.ip[0], DONE);
});

test('a 16-bit call gate to ring 0 copies its parameter as a word and pushes a 16-bit frame', { skip }, () => {
  const { cpu, mem } = boot(ring3Guest([`mov ax, ${USER_DS}`, 'mov ds, ax', 'push 0xbeef', 'jmp callsite', '.org 0x250', `callsite: call ${GATE16_INNER | 3}:0`], [], [
    'mov ebx, esp', ...[0, 2, 4, 6, 8].map((o) => `movzx eax, word ptr [esp + ${o}]\nmov dword ptr [${RESULTS} + ${2 * o}], eax`).flatMap((x) => x.split('\n')), 'jmp done',
  ]));
  assert.equal(summary(cpu.run(1000)), 'breakpoint');
  const w = (o: number) => mem.read(RESULTS + 2 * o, 4);
  assert.equal(cpu.getReg(3), BigInt(ESP0 - 2 * (2 + 1 + 2)), 'five words on the ring-0 stack');
  assert.equal(w(0), (GUEST_ORIGIN + 0x250 + 7) & 0xffff, 'return IP (16 bits)');
  assert.equal(w(2), USER_CS, 'caller CS');
  assert.equal(w(4), 0xbeef, 'the parameter, one word');
  assert.equal(w(6), (USER_ESP - 4) & 0xffff, 'caller SP (16 bits)');
  assert.equal(w(8), USER_DS, 'caller SS');
  assert.equal(cpu.cpl, 0);
});

test('an inner stack selector in the TSS that is not ring-0 writable data raises #TS(selector)', { skip }, () => {
  const m = boot(ring3Guest([`call ${GATE_RING0 | 3}:0`], ['retf 8']));
  writeTss32(m.mem, TSS_BASE, { esp0: ESP0, ss0: USER_DS });
  assert.equal(summary(m.cpu.run(1000)), `exception ${TS} (${USER_DS & 0xfffc})`);
  assert.equal(m.cpu.cpl, 3, 'the fault is taken in the caller, nothing changed');
  assert.equal(m.cpu.getReg(4), BigInt(USER_ESP));
});

test('an inner stack without room for the frame (old SS:ESP, 2 parameters, CS:EIP) raises #SS(new SS)', { skip }, () => {
  const m = boot(ring3Guest([`call ${GATE_RING0 | 3}:0`], ['retf 8']));
  const SS_FAULT = 12;
  // ESP0 = 20 leaves room for five of the six dwords the call needs (SDM Figure 5-13)
  writeTss32(m.mem, TSS_BASE, { esp0: 20, ss0: SMALL_STACK });
  assert.equal(summary(m.cpu.run(1000)), `exception ${SS_FAULT} (${SMALL_STACK})`);
  assert.equal(m.cpu.cpl, 3, 'nothing changed in the caller');
  assert.equal(m.cpu.segSel[Seg.SS], USER_DS);
  assert.equal(m.cpu.getReg(4), BigInt(USER_ESP));
  writeTss32(m.mem, TSS_BASE, { esp0: 24, ss0: SMALL_STACK });
  m.cpu.interceptMask = 0;
  assert.equal(summary(m.cpu.run(1000)), 'breakpoint', 'with room for all six the call and return go through (control)');
});

test('IA-32e mode: CALL through a 64-bit call gate from ring 3 to 64-bit ring 0 and RETFQ back', { skip }, () => {
  const mem = new PhysicalMemory(1 << 24);
  const cpu = new Cpu(mem);
  enterLongMode(cpu, { gdt: 0x1000, pml4: 0x2000, cpl: 3, gib: 1 });
  // GDT (from enterLongMode): 0x08 kernel code, 0x10 kernel data, 0x18 user data, 0x20 user code;
  // the test adds a 64-bit TSS at 0x28 (16 bytes) and a 64-bit call gate at 0x38 (16 bytes)
  const tss = 0x8000, target = 0x101000, code = 0x100000;
  const put = (at: number, v: bigint) => { mem.write(at, 4, Number(v & 0xffffffffn)); mem.write(at + 4, 4, Number(v >> 32n)); };
  put(0x1000 + 0x28, tssDescriptor(tss, 0x67, true)); put(0x1000 + 0x30, 0n);
  put(0x1000 + 0x38, callGate(0x08, target, 3, 0, 0xc)); put(0x1000 + 0x40, 0n);
  cpu.gdtrLimit = 0x47;
  mem.write(tss + 4, 4, 0x7000); mem.write(tss + 8, 4, 0); // RSP0
  cpu.segSel[Seg.TR] = 0x28; cpu.segBase[2 * Seg.TR] = tss; cpu.segBase[2 * Seg.TR + 1] = 0; cpu.segLimit[Seg.TR] = 0x67; cpu.segAr[Seg.TR] = 0x8b;
  mem.writeBytes(code, assembleIntel(['mov rsp, 0x9000', 'lcall [rip + ptr]', 'mov r15, rsp', 'mov r14, 1', 'jmp .', 'ptr: .long 0', '.word 0x3b']));
  mem.writeBytes(target, assembleIntel(['mov rax, rsp', 'mov rbx, [rsp]', 'mov rcx, [rsp + 8]', 'mov rdx, [rsp + 16]', 'mov rsi, [rsp + 24]', 'mov rdi, ss', 'mov rbp, cs', 'rex64 retf']));
  cpu.rip = BigInt(code);
  stopOnExceptions(cpu);
  const out = cpu.run(30);
  assert.equal(summary(out), 'budget');
  assert.equal(cpu.getReg(14), 1n, 'back in ring 3 after the gate call');
  assert.equal(cpu.getReg(0), 0x7000n - 32n, 'RSP0 from the TSS less four quadwords');
  // MOV RSP, imm32 is 7 bytes and CALL FAR [RIP+disp32] (FF /3) 6: the return RIP follows them
  assert.equal(cpu.getReg(3), BigInt(code + 7 + 6), '[RSP] = return RIP');
  assert.equal(cpu.getReg(1), 0x23n, '[RSP+8] = caller CS');
  assert.equal(cpu.getReg(2), 0x9000n, '[RSP+16] = caller RSP');
  assert.equal(cpu.getReg(6), 0x1bn, '[RSP+24] = caller SS');
  assert.equal(cpu.getReg(7), 0n, 'SS is a null selector with RPL = new CPL 0');
  assert.equal(cpu.getReg(5), 0x08n, 'CS = gate selector');
  assert.equal(cpu.getReg(15), 0x9000n, 'RETFQ restored ring 3\'s RSP');
  assert.equal(cpu.cpl, 3);
});

test('IA-32e mode: a 64-bit call gate called from compatibility mode pushes 64-bit values on the 64-bit inner stack', { skip }, () => {
  const mem = new PhysicalMemory(1 << 24);
  const cpu = new Cpu(mem);
  enterLongMode(cpu, { gdt: 0x1000, pml4: 0x2000, cpl: 3, gib: 1 });
  const tss = 0x8000, origin = 0x100000;
  const put = (at: number, v: bigint) => { mem.write(at, 4, Number(v & 0xffffffffn)); mem.write(at + 4, 4, Number(v >> 32n)); };
  // enterLongMode's GDT plus: 0x28 64-bit TSS, 0x38 64-bit call gate (16 bytes each), 0x48 32-bit ring-3 code
  put(0x1000 + 0x28, tssDescriptor(tss, 0x67, true)); put(0x1000 + 0x30, 0n);
  put(0x1000 + 0x48, flatCode32(3));
  cpu.gdtrLimit = 0x4f;
  mem.write(tss + 4, 4, 0x7000); mem.write(tss + 8, 4, 0);
  cpu.segSel[Seg.TR] = 0x28; cpu.segBase[2 * Seg.TR] = tss; cpu.segBase[2 * Seg.TR + 1] = 0; cpu.segLimit[Seg.TR] = 0x67; cpu.segAr[Seg.TR] = 0x8b;
  const target = origin + 0x200;
  put(0x1000 + 0x38, callGate(0x08, target, 3, 0, 0xc)); put(0x1000 + 0x40, 0n);
  loadGuest(mem, [
    '.code64', 'mov rsp, 0x9000', 'jmp fword ptr [rip + to_compat]', 'to_compat: .long compat', '.word 0x4b',
    '.code32', 'compat: mov esp, 0x9800', 'call 0x3b:0', 'after: mov edi, esp', 'mov ebp, cs', 'spin: jmp spin',
    '.code64', '.org 0x200', 'mov rax, rsp', 'mov rbx, [rsp]', 'mov rcx, [rsp + 8]', 'mov rdx, [rsp + 16]', 'mov rsi, [rsp + 24]', 'rex64 retf',
  ], origin);
  cpu.rip = BigInt(origin);
  stopOnExceptions(cpu);
  assert.equal(summary(cpu.run(40)), 'budget');
  assert.equal(cpu.getReg(0), 0x7000n - 32n, 'four quadwords on RSP0');
  assert.equal(cpu.getReg(1), 0x4bn, 'caller CS (compatibility mode)');
  assert.equal(cpu.getReg(2), 0x9800n, 'caller ESP, zero-extended');
  assert.equal(cpu.getReg(6), 0x1bn, 'caller SS');
  assert.equal(cpu.getReg(7), 0x9800n, 'RETFQ restored the caller\'s stack');
  assert.equal(cpu.getReg(5), 0x4bn, 'back in the compatibility-mode segment');
  assert.equal(cpu.decodeMode(), 32);
  // CALL ptr16:32 is 7 bytes; the return RIP is the instruction after it
  assert.equal(mem.read(Number(cpu.getReg(3)), 2), 0xe789, 'return RIP points at "mov edi, esp" (89 E7)');
});

test('IRETD to ring 3 also makes DPL-0 data segment registers null and keeps a DPL-3 one', { skip }, () => {
  const lines = protectedModeGuest([
    `mov ax, ${TSS_SEL}`, 'ltr ax', `mov ax, ${USER_DS}`, 'mov fs, ax',
    `push ${USER_DS}`, `push ${USER_ESP}`, 'push 0x2', `push ${USER_CS}`, 'push offset ring3', 'iretd',
    'ring3: jmp done', '.org 0x300', 'done: nop', 'jmp done', '.org 0x700',
  ], gdt());
  const { cpu } = boot(lines);
  assert.equal(summary(cpu.run(1000)), 'breakpoint');
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.getReg(4), BigInt(USER_ESP));
  assert.equal(cpu.segSel[Seg.DS], 0, 'DS (DPL 0) null');
  assert.equal(cpu.segSel[Seg.ES], 0, 'ES (DPL 0) null');
  assert.equal(cpu.segSel[Seg.FS], USER_DS, 'FS (DPL 3) kept');
});
