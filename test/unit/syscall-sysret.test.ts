// SYSCALL/SYSRET between ring 0 and ring 3 (SDM Vol. 2B SYSCALL, SYSRET; Vol. 3A 5.8.8): a
// guest sets EFER.SCE, STAR, LSTAR and FMASK, drops to 64-bit ring 3 with SYSRETQ, calls back
// with SYSCALL, and returns to a 32-bit compatibility-mode ring 3 with SYSRET. Selectors,
// RCX/R11 and RFLAGS are computed from the MSR values the test chose.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { nativeOracleAvailable } from '../support/native-cpu';
import { flatCode32, flatCode64, flatData32, loadGuest } from '../support/guest-asm';
import { stopOnExceptions, summary } from '../support/pm-machine';
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu } from '../../src/hardware/cpu';
import { enterLongMode } from '../../src/vmm/long-mode-setup';
import { Ar, Seg } from '../../src/hardware/cpu-state';

const skip = !nativeOracleAvailable() && 'needs GNU as';

const ORIGIN = 0x100000;
// GDT of the test: STAR[47:32] = 0x08 (kernel CS; SS = +8), STAR[63:48] = 0x18 (user: 32-bit CS
// at +0, SS at +8, 64-bit CS at +16), the layout SYSRET assumes (SDM SYSRET operation)
const GDT = [0n, flatCode64(0), flatData32(0), flatCode32(3), flatData32(3), flatCode64(3)];
const STAR_SYSCALL = 0x08, STAR_SYSRET = 0x18;
const FMASK = 0x700; // TF, IF, DF
const USER_FLAGS = 0x603; // IF, DF, CF and the reserved bit 1
const RFLAGS_SYSRET_MASK = 0x3c7fd7; // bits SYSRET takes from R11 (SDM SYSRET operation)

function boot(lines: string[]): Cpu {
  const mem = new PhysicalMemory(1 << 24);
  const cpu = new Cpu(mem);
  enterLongMode(cpu, { gdt: 0x1000, pml4: 0x2000, cpl: 0, gib: 1 });
  // let ring 3 use the identity map too: U/S in the PML4E and the 1-GiB PDPTE
  mem.write(0x2000, 4, mem.read(0x2000, 4) | 4);
  mem.write(0x3000, 4, mem.read(0x3000, 4) | 4);
  GDT.forEach((d, k) => { mem.write(0x1000 + 8 * k, 4, Number(d & 0xffffffffn)); mem.write(0x1004 + 8 * k, 4, Number(d >> 32n)); });
  cpu.gdtrLimit = 8 * GDT.length - 1;
  cpu.reconfigurePaging();
  loadGuest(mem, lines, ORIGIN);
  cpu.rip = BigInt(ORIGIN);
  return cpu;
}

const SETUP = [
  '.code64',
  'mov rsp, 0x9000',
  'mov ecx, 0xc0000080', 'rdmsr', 'or eax, 1', 'wrmsr',
  'mov ecx, 0xc0000081', 'xor eax, eax', `mov edx, ${(STAR_SYSRET << 16) | STAR_SYSCALL}`, 'wrmsr',
  'mov ecx, 0xc0000082', 'mov eax, offset entry', 'xor edx, edx', 'wrmsr',
  'mov ecx, 0xc0000084', `mov eax, ${FMASK}`, 'xor edx, edx', 'wrmsr',
];

test('SYSRETQ to 64-bit ring 3, SYSCALL to ring 0, SYSRET to 32-bit compatibility mode', { skip }, () => {
  const cpu = boot([
    ...SETUP,
    'mov rcx, offset user64', `mov r11, ${USER_FLAGS}`, 'sysretq',
    'user64:', 'mov r12, cs', 'mov r13, ss', 'mov rax, 0x1111', 'syscall', 'after_syscall: jmp .',
    'entry:', 'mov r14, rcx', 'mov r15, r11', 'pushfq', 'pop rbx', 'mov rdi, cs', 'mov rsi, ss', 'mov r8, rax',
    'mov ecx, offset user32', 'mov r11, 0x202', '.byte 0x0f, 0x07 # SYSRET with 32-bit operand size (GNU as has no unambiguous mnemonic)',
    '.code32', 'user32:', 'mov ebp, cs', 'mov edx, ss', 'done: jmp done',
  ]);
  stopOnExceptions(cpu);
  const out = cpu.run(100);
  assert.equal(summary(out), 'budget', 'spinning in ring 3 at the end');
  // ring 3, 64-bit: CS = STAR[63:48] + 16, SS = STAR[63:48] + 8, RPL 3
  assert.equal(cpu.getReg(12), BigInt((STAR_SYSRET + 16) | 3));
  assert.equal(cpu.getReg(13), BigInt((STAR_SYSRET + 8) | 3));
  // SYSCALL: RCX = next RIP, R11 = RFLAGS, RFLAGS &= ~FMASK, CS = STAR[47:32], SS = +8
  const afterSyscall = cpu.getReg(14);
  assert.equal(cpu.mem.read(Number(afterSyscall) - 2, 2), 0x050f, 'RCX points just after the SYSCALL (0F 05)');
  assert.equal(cpu.getReg(15), BigInt(USER_FLAGS & RFLAGS_SYSRET_MASK | 2), 'R11 = RFLAGS of ring 3 (as SYSRETQ set them from R11)');
  assert.equal(cpu.getReg(3), BigInt((USER_FLAGS & RFLAGS_SYSRET_MASK & ~FMASK) | 2), 'RFLAGS in the kernel: FMASK bits cleared');
  assert.equal(cpu.getReg(7), BigInt(STAR_SYSCALL));
  assert.equal(cpu.getReg(6), BigInt(STAR_SYSCALL + 8));
  assert.equal(cpu.getReg(8), 0x1111n, 'RAX passed through');
  // SYSRET (32-bit operand size): CS = STAR[63:48], SS = +8, compatibility mode, RIP = ECX
  assert.equal(cpu.getReg(5), BigInt(STAR_SYSRET | 3));
  assert.equal(cpu.getReg(2), BigInt((STAR_SYSRET + 8) | 3));
  assert.equal(cpu.cpl, 3);
  assert.equal(cpu.decodeMode(), 32);
  assert.equal(cpu.segAr[Seg.CS] & Ar.L, 0);
  assert.equal((cpu.segAr[Seg.SS] >> Ar.DPL_SHIFT) & 3, 3, 'SS.DPL = 3 after SYSRET');
  assert.equal(cpu.flagsOther & 0x200, 0x200, 'RFLAGS from R11 (IF)');
});

test('SYSRET at CPL 3 raises #GP(0); SYSCALL with EFER.SCE clear raises #UD', { skip }, () => {
  const cpu = boot([...SETUP, 'mov rcx, offset user64', `mov r11, ${USER_FLAGS}`, 'sysretq', 'user64:', 'sysretq', 'entry: hlt']);
  stopOnExceptions(cpu);
  assert.equal(summary(cpu.run(100)), 'exception 13 (0)');
  assert.equal(cpu.cpl, 3);
  const ud = boot(['.code64', 'syscall', 'entry: hlt']);
  stopOnExceptions(ud);
  assert.equal(summary(ud.run(10)), 'exception 6 (-1)');
});
