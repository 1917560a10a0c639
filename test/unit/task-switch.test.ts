// Task switches with 32-bit TSSs, driven by real guest code (SDM Vol. 3A, chapter 8): JMP and
// CALL to a TSS, IRET with NT back through the link, an exception through a task gate in the
// IDT, the busy flags, NT, CR0.TS, CR3 and LDTR of the new task, the #GP/#TS checks, and the
// TASK_SWITCH intercept. TSS images and descriptors are written from the SDM's figures.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assembleIntel, nativeOracleAvailable } from '../support/native-cpu';
import { quads, readTss32, segmentDescriptor, taskGate, tssDescriptor, Tss32Fields, writeTss32 } from '../support/guest-asm';
import { GUEST_ORIGIN, KERNEL_CS, KERNEL_DS, machine, protectedModeGuest, stopOnExceptions, summary } from '../support/pm-machine';
import { Cpu, Intercept } from '../../src/hardware/cpu';
import { PhysicalMemory } from '../../src/hardware/memory';
import { Seg } from '../../src/hardware/cpu-state';
import { enterLongMode } from '../../src/vmm/long-mode-setup';
import { Insn } from '../../src/hardware/insn';

const skip = !nativeOracleAvailable() && 'needs GNU as';
const GP = 13, TS = 10;

const TSS_A = 0x18, TSS_B = 0x20, TASK_GATE = 0x28, LDT_SEL = 0x30, TSS_SMALL = 0x38, TSS_BAD_CS = 0x40;
const A_BASE = 0x20000, B_BASE = 0x21000, SMALL_BASE = 0x23000, BAD_BASE = 0x24000, LDT_BASE = 0x22000, LDT_DATA = 0x40000;
const SWITCH_AT = GUEST_ORIGIN + 0x280, TASK_B_EIP = GUEST_ORIGIN + 0x400, DONE = GUEST_ORIGIN + 0x300;
const B_CR3 = 0x12345000;
/** JMP/CALL ptr16:32 are 7 bytes: the saved EIP of the old task is SWITCH_AT + 7. */
const AFTER_SWITCH = SWITCH_AT + 7;

function gdtEntries(): bigint[] {
  return [
    tssDescriptor(A_BASE), tssDescriptor(B_BASE), taskGate(TSS_B, 0),
    segmentDescriptor({ base: LDT_BASE, limit: 0xf, type: 0x2, s: false }),
    tssDescriptor(SMALL_BASE, 0x60), tssDescriptor(BAD_BASE),
  ];
}

const TASK_B: Tss32Fields = {
  eip: TASK_B_EIP, eflags: 0x2, esp: 0x9000, cs: KERNEL_CS, ss: KERNEL_DS, ds: KERNEL_DS, es: KERNEL_DS, fs: KERNEL_DS, gs: KERNEL_DS,
  ldt: LDT_SEL, cr3: B_CR3, eax: 0xb0000000, edx: 0xb0000002, esi: 0xb0000006, edi: 0xb0000007,
};

/**
 * Task A (the prologue's context) loads TR = TSS_A and an IDT whose vector 13 is a task gate
 * to task B, sets registers and CF, then at SWITCH_AT runs `switchInsn`. Task B runs `taskB`.
 */
function guest(switchInsn: string, taskB: string[], beforeSwitch: string[] = []): string[] {
  return protectedModeGuest([
    `mov ax, ${TSS_A}`, 'ltr ax', 'lidt [idtr]',
    'mov eax, 0xa0000000', 'mov ebx, 0xa0000003', 'mov ebp, 0xa0000005',
    'push 0x3', 'popfd', // EFLAGS = CF | reserved bit 1
    ...beforeSwitch,
    'jmp switch',
    `.org 0x280`, `switch: ${switchInsn}`,
    'mov ecx, 0xa0000001', 'jmp done',
    '.org 0x300', 'done: nop', 'jmp done',
    '.org 0x400', ...taskB,
    '.org 0x600',
  ], gdtEntries(), [
    '.balign 8', 'idt:', ...quads([...new Array<bigint>(13).fill(0n), taskGate(TSS_B, 0)]), 'idt_end:',
    '.balign 4', '.word 0', 'idtr: .word idt_end - idt - 1', '.long idt',
  ]);
}

function boot(lines: string[]): { mem: PhysicalMemory; cpu: Cpu } {
  const m = machine(lines);
  writeTss32(m.mem, A_BASE, {});
  writeTss32(m.mem, B_BASE, TASK_B);
  writeTss32(m.mem, BAD_BASE, { ...TASK_B, cs: KERNEL_DS });
  // LDT entry 0 (selector 0x04): data at LDT_DATA
  const ldt0 = segmentDescriptor({ base: LDT_DATA, limit: 0xfff, type: 0x3, db: true });
  m.mem.write(LDT_BASE, 4, Number(ldt0 & 0xffffffffn)); m.mem.write(LDT_BASE + 4, 4, Number(ldt0 >> 32n));
  m.mem.write(LDT_DATA, 4, 0x1d7da7a);
  m.cpu.setBreakpoints([BigInt(DONE)]);
  stopOnExceptions(m.cpu);
  return m;
}

/** The type field of the GDT descriptor for `sel` (the guest's GDT is found through GDTR). */
function gdtType(cpu: Cpu, mem: PhysicalMemory, sel: number): number {
  return (mem.read(Number(cpu.gdtrBase) + sel + 4, 4) >>> 8) & 0xf;
}

test('JMP to a TSS: old state saved, busy flags moved, new registers, CR3, LDTR, CR0.TS loaded', { skip }, () => {
  const { cpu, mem } = boot(guest(`jmp ${TSS_B}:0`, ['mov cx, 4', 'mov es, cx', 'mov ecx, dword ptr es:[0]', 'hlt']));
  assert.equal(summary(cpu.run(1000)), 'halt');
  // old task's TSS: EIP after the JMP, its registers and EFLAGS
  assert.equal(readTss32(mem, A_BASE, 'eip'), AFTER_SWITCH);
  assert.equal(readTss32(mem, A_BASE, 'eax'), 0xa0000000);
  assert.equal(readTss32(mem, A_BASE, 'ebx'), 0xa0000003);
  assert.equal(readTss32(mem, A_BASE, 'ebp'), 0xa0000005);
  assert.equal(readTss32(mem, A_BASE, 'eflags'), 0x3);
  assert.equal(readTss32(mem, A_BASE, 'cs'), KERNEL_CS);
  assert.equal(readTss32(mem, A_BASE, 'cr3'), 0, 'CR3 is not saved (static field)');
  assert.equal(readTss32(mem, B_BASE, 'link'), 0, 'JMP does not write the back link');
  // busy flags: JMP clears the old task's and sets the new task's (SDM Table 8-2)
  assert.equal(gdtType(cpu, mem, TSS_A), 0x9);
  assert.equal(gdtType(cpu, mem, TSS_B), 0xb);
  assert.equal(cpu.segSel[Seg.TR], TSS_B);
  assert.equal(cpu.cr0 & 8, 8, 'CR0.TS set');
  assert.equal(cpu.cr3, BigInt(B_CR3));
  assert.equal(cpu.segSel[Seg.LDTR], LDT_SEL);
  assert.equal(cpu.getReg(1), 0x1d7da7an, 'task B read its LDT\'s data segment');
  assert.equal(cpu.getReg(2), 0xb0000002n);
  assert.equal(cpu.getReg(7), 0xb0000007n);
  assert.equal(cpu.getReg(4), 0x9000n);
  assert.equal(cpu.flagsOther & 0x4000, 0, 'NT clear after JMP');
});

test('CALL through a task gate in the GDT switches to the TSS the gate names', { skip }, () => {
  const { cpu, mem } = boot(guest(`call ${TASK_GATE}:0`, ['iretd']));
  assert.equal(summary(cpu.run(1000)), 'breakpoint');
  assert.equal(readTss32(mem, B_BASE, 'link'), TSS_A, 'task B ran and linked back to A');
  assert.equal(readTss32(mem, B_BASE, 'eip'), TASK_B_EIP + 1, 'IRETD (1 byte) saved B after itself');
  assert.equal(cpu.segSel[Seg.TR], TSS_A);
});

test('CALL to a TSS sets NT and the back link; IRET returns to the caller task', { skip }, () => {
  const { cpu, mem } = boot(guest(`call ${TSS_B}:0`, ['pushfd', 'pop edx', 'mov edi, dword ptr [0x21000]', 'iretd']));
  assert.equal(summary(cpu.run(1000)), 'breakpoint');
  assert.equal(readTss32(mem, B_BASE, 'link'), TSS_A, 'back link = caller\'s TSS selector');
  assert.equal(readTss32(mem, B_BASE, 'edx') & 0x4000, 0x4000, 'task B ran with NT set');
  assert.equal(readTss32(mem, B_BASE, 'eflags') & 0x4000, 0, 'IRET saved task B with NT clear');
  assert.equal(readTss32(mem, B_BASE, 'edi'), TSS_A, 'task B could read its link');
  // back in task A, after the CALL, with A's registers reloaded from its TSS
  assert.equal(cpu.segSel[Seg.TR], TSS_A);
  assert.equal(cpu.getReg(1), 0xa0000001n, 'A continued after the CALL');
  assert.equal(cpu.getReg(0), 0xa0000000n);
  assert.equal(cpu.getReg(3), 0xa0000003n);
  assert.equal(gdtType(cpu, mem, TSS_A), 0xb, 'A stayed busy');
  assert.equal(gdtType(cpu, mem, TSS_B), 0x9, 'IRET freed B');
  assert.equal(cpu.flagsOther & 0x4000, 0, 'A\'s own NT was clear');
});

test('#GP through a task gate in the IDT: switch to task B, error code on B\'s stack, link to A', { skip }, () => {
  // loading DS with a selector beyond the GDT limit: #GP(selector)
  const { cpu, mem } = boot(guest('mov ds, dx', ['pop ecx', 'hlt'], ['mov edx, 0x1f8']));
  assert.equal(summary(cpu.run(1000)), 'exception 13 (504)', 'stopped before delivery first');
  // deliver it this time: run without the exception hook
  cpu.interceptMask = 0;
  assert.equal(summary(cpu.run(1000)), 'halt');
  assert.equal(cpu.getReg(1), 0x1f8n, 'error code popped by task B');
  assert.equal(cpu.getReg(4), 0x9000n, 'the error code was the only thing pushed');
  assert.equal(readTss32(mem, A_BASE, 'eip'), SWITCH_AT, 'a fault saves the faulting instruction\'s EIP');
  assert.equal(readTss32(mem, B_BASE, 'link'), TSS_A);
  assert.equal(cpu.flagsOther & 0x4000, 0x4000, 'NT set in the handler task');
  assert.equal(gdtType(cpu, mem, TSS_A), 0xb);
  assert.equal(gdtType(cpu, mem, TSS_B), 0xb);
});

test('INT n through a task gate: saved EIP is the next instruction, no error code pushed', { skip }, () => {
  const { cpu, mem } = boot(guest('int 13', ['hlt']));
  assert.equal(summary(cpu.run(1000)), 'halt');
  assert.equal(cpu.segSel[Seg.TR], TSS_B);
  assert.equal(readTss32(mem, A_BASE, 'eip'), SWITCH_AT + 2, 'INT imm8 is 2 bytes (CD 0D)');
  assert.equal(cpu.getReg(4), 0x9000n, 'nothing pushed on task B\'s stack');
  assert.equal(readTss32(mem, B_BASE, 'link'), TSS_A);
});

test('task-switch checks: busy TSS #GP, limit below 0x67 #TS, bad CS in the new task #TS delivered there', { skip }, () => {
  const busy = boot(guest(`jmp ${TSS_A}:0`, ['hlt']));
  assert.equal(summary(busy.cpu.run(1000)), `exception ${GP} (${TSS_A})`, 'JMP to the busy current TSS');
  const small = boot(guest(`jmp ${TSS_SMALL}:0`, ['hlt']));
  assert.equal(summary(small.cpu.run(1000)), `exception ${TS} (${TSS_SMALL})`, 'TSS limit 0x60 < 0x67');
  assert.equal(small.cpu.segSel[Seg.TR], TSS_A, 'nothing switched');
  const bad = boot(guest(`jmp ${TSS_BAD_CS}:0`, ['hlt']));
  assert.equal(summary(bad.cpu.run(1000)), `exception ${TS} (${KERNEL_DS})`, 'new task CS names a data segment');
  assert.equal(bad.cpu.segSel[Seg.TR], TSS_BAD_CS, 'the fault belongs to the new task: TR already switched');
  assert.equal(bad.cpu.rip, BigInt(TASK_B_EIP), 'and RIP is the new task\'s');
  // the same TSS descriptor with other bad fields in the TSS image (SDM Table 8-1)
  const badWith = (f: Tss32Fields) => {
    const m = boot(guest(`jmp ${TSS_BAD_CS}:0`, ['hlt']));
    writeTss32(m.mem, BAD_BASE, { ...TASK_B, ...f });
    return summary(m.cpu.run(1000));
  };
  assert.equal(badWith({ ss: KERNEL_CS }), `exception ${TS} (${KERNEL_CS})`, 'SS names a code segment');
  assert.equal(badWith({ ldt: KERNEL_DS }), `exception ${TS} (${KERNEL_DS})`, 'LDT selector names a data segment');
  assert.equal(badWith({ ds: LDT_SEL }), `exception ${TS} (${LDT_SEL})`, 'DS names a system descriptor');
  assert.equal(badWith({}), 'halt', 'the same TSS with valid fields switches (control)');
});

test('a new TSS with the T flag raises #DB before the new task\'s first instruction, DR6.BT set', { skip }, () => {
  const m = boot(guest(`jmp ${TSS_B}:0`, ['hlt']));
  writeTss32(m.mem, B_BASE, { ...TASK_B, trap: 1 });
  assert.equal(summary(m.cpu.run(1000)), 'exception 1 (-1)');
  assert.equal(m.cpu.rip, BigInt(TASK_B_EIP), 'in the new task, at its first instruction');
  assert.equal(m.cpu.segSel[Seg.TR], TSS_B);
  assert.equal(m.cpu.dr[6] & 0x8000n, 0x8000n, 'DR6.BT');
  const plain = boot(guest(`jmp ${TSS_B}:0`, ['hlt']));
  assert.equal(summary(plain.cpu.run(1000)), 'halt', 'without T no #DB (control)');
  assert.equal(plain.cpu.dr[6] & 0x8000n, 0n);
});

test('TASK_SWITCH intercept: the hook sees the JMP before anything changes', { skip }, () => {
  const { cpu, mem } = boot(guest(`jmp ${TSS_B}:0`, ['hlt']));
  const seen: string[] = [];
  cpu.interceptMask |= Intercept.TASK_SWITCH;
  cpu.hooks = { intercept: (_c: Cpu, what: Intercept, insn: Insn) => { seen.push(`${what}:${insn.mnemonic}`); return what === Intercept.TASK_SWITCH; } };
  const out = cpu.run(1000);
  assert.deepEqual(out, { kind: 'intercept', intercept: Intercept.TASK_SWITCH });
  assert.deepEqual(seen, [`${Intercept.TASK_SWITCH}:jmp`]);
  assert.equal(cpu.rip, BigInt(SWITCH_AT));
  assert.equal(cpu.segSel[Seg.TR], TSS_A);
  assert.equal(gdtType(cpu, mem, TSS_B), 0x9);
});

test('IA-32e mode has no task switching: far JMP to a TSS is #GP(selector), IRETQ with NT is #GP(0)', { skip }, () => {
  const run = (lines: string[], setNt: boolean) => {
    const mem = new PhysicalMemory(1 << 24);
    const cpu = new Cpu(mem);
    enterLongMode(cpu);
    const put = (at: number, v: bigint) => { mem.write(at, 4, Number(v & 0xffffffffn)); mem.write(at + 4, 4, Number(v >> 32n)); };
    put(0x1000 + 0x28, tssDescriptor(0x8000)); put(0x1000 + 0x30, 0n);
    cpu.gdtrLimit = 0x37;
    mem.writeBytes(0x100000, assembleIntel(lines));
    cpu.rip = 0x100000n;
    if (setNt) cpu.flagsOther |= 0x4000;
    stopOnExceptions(cpu);
    return cpu.run(20);
  };
  assert.equal(summary(run(['jmp fword ptr [rip + p]', 'p: .long 0', '.word 0x28'], false)), `exception ${GP} (${0x28})`);
  assert.equal(summary(run(['mov rsp, 0x9000', 'iretq'], true)), `exception ${GP} (0)`);
});

test('TASK_SWITCH intercept for an event: an exception reaching an IDT task gate stops the run before the switch', { skip }, () => {
  const { cpu, mem } = boot(guest('mov ds, dx', ['hlt'], ['mov edx, 0x1f8']));
  const seen: string[] = [];
  cpu.interceptMask = Intercept.TASK_SWITCH; // exceptions are delivered, task switches asked about
  cpu.hooks = { intercept: (_c: Cpu, what: Intercept, insn: Insn) => { seen.push(insn.mnemonic); return what === Intercept.TASK_SWITCH; } };
  assert.deepEqual(cpu.run(1000), { kind: 'intercept', intercept: Intercept.TASK_SWITCH });
  assert.deepEqual(seen, ['mov'], 'the hook is told which instruction faulted');
  assert.equal(cpu.rip, BigInt(SWITCH_AT), 'RIP at the faulting instruction');
  assert.equal(cpu.segSel[Seg.TR], TSS_A, 'no switch happened');
  assert.equal(readTss32(mem, B_BASE, 'link'), 0);
});
