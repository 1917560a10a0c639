// Mode transitions done by a real guest (SDM Vol. 3A, 10.9 "Mode Switching", 10.8.5
// "Initializing IA-32e Mode", 2.5 and 4.1): real mode → protected mode (CR0.PE + far jump) →
// 32-bit paging with 4-MiB pages (CR4.PSE) → PAE paging → IA-32e mode (EFER.LME, CR0.PG) in
// compatibility mode → 64-bit mode (far jump to an L=1 CS) → compatibility mode again. The test
// stops at a breakpoint after each step and checks what the SDM says the state is; then the
// #GP cases of transitions the SDM forbids.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { nativeOracleAvailable } from '../support/native-cpu';
import { flatCode32, flatCode64, flatData32, quads } from '../support/guest-asm';
import { GUEST_ORIGIN, machine, stopOnExceptions, summary } from '../support/pm-machine';
import { Ar, Seg } from '../../src/hardware/cpu-state';
import { PhysicalMemory } from '../../src/hardware/memory';

const skip = !nativeOracleAvailable() && 'needs GNU as';

// paging structures the test writes (physical addresses chosen here)
const PD32 = 0x100000, PDPT = 0x101000, PD_LOW = 0x102000, PD_1G = 0x103000, PML4 = 0x104000, PDPT64 = 0x105000;
const PS = 0x80, P = 1, RW = 2;

function writePaging(mem: PhysicalMemory): void {
  // 32-bit paging (SDM Table 4-4): 4-MiB pages; PDE 0 maps 0-4 MiB, PDE 2 maps linear 8 MiB to physical 0
  mem.write(PD32 + 0 * 4, 4, 0 | PS | RW | P);
  mem.write(PD32 + 2 * 4, 4, 0 | PS | RW | P);
  // PAE (Tables 4-8, 4-9): PDPTE 0 → PD_LOW, PDPTE 1 (linear 1 GiB) → PD_1G; both map a 2-MiB page at 0
  mem.write(PDPT + 0, 4, PD_LOW | P);
  mem.write(PDPT + 8, 4, PD_1G | P);
  mem.write(PD_LOW, 4, 0 | PS | RW | P);
  mem.write(PD_1G, 4, 0 | PS | RW | P);
  // 4-level (Tables 4-15, 4-16): PML4E 0 → PDPT64, PDPTE 0 → PD_LOW
  mem.write(PML4, 4, PDPT64 | RW | P);
  mem.write(PDPT64, 4, PD_LOW | RW | P);
}

const CP = [0x100, 0x180, 0x200, 0x280, 0x300, 0x380].map((o) => GUEST_ORIGIN + o);

const GUEST = [
  '.code16',
  'cli', 'lgdt [gdtr]', 'mov eax, cr0', 'or eax, 1', 'mov cr0, eax', 'jmp 0x08:pm32',
  '.code32',
  'pm32:', 'mov ax, 0x10', 'mov ds, ax', 'mov es, ax', 'mov ss, ax', 'mov esp, 0x7000', 'jmp cp1',
  '.org 0x100', 'cp1: nop',
  'mov eax, cr4', 'or eax, 0x10', 'mov cr4, eax',
  `mov eax, ${PD32}`, 'mov cr3, eax',
  'mov eax, cr0', 'or eax, 0x80000000', 'mov cr0, eax',
  'mov eax, dword ptr [0x800000 + 0x8000]', 'jmp cp2',
  '.org 0x180', 'cp2: nop',
  'mov ebx, cr0', 'and ebx, 0x7fffffff', 'mov cr0, ebx',
  'mov ebx, cr4', 'or ebx, 0x20', 'mov cr4, ebx',
  `mov ebx, ${PDPT}`, 'mov cr3, ebx',
  'mov ebx, cr0', 'or ebx, 0x80000000', 'mov cr0, ebx',
  'mov ebx, dword ptr [0x40000000 + 0x8000]', 'jmp cp3',
  '.org 0x200', 'cp3: nop',
  'mov eax, cr0', 'and eax, 0x7fffffff', 'mov cr0, eax',
  'mov ecx, 0xc0000080', 'rdmsr', 'or eax, 0x100', 'wrmsr',
  `mov eax, ${PML4}`, 'mov cr3, eax',
  'mov eax, cr0', 'or eax, 0x80000000', 'mov cr0, eax', 'jmp cp4',
  '.org 0x280', 'cp4: nop', 'jmp 0x18:cp5',
  '.code64',
  '.org 0x300', 'cp5: nop', 'mov rsi, 0x123456789', 'jmp fword ptr [rip + back]',
  'back: .long cp6', '.word 0x08',
  '.code32',
  '.org 0x380', 'cp6: nop', 'jmp cp6',
  '.balign 8', 'gdt:', ...quads([0n, flatCode32(), flatData32(), flatCode64()]), 'gdt_end:',
  '.balign 4', '.word 0', 'gdtr: .word gdt_end - gdt - 1', '.long gdt',
];

test('real → protected → 32-bit paging (4 MiB) → PAE → IA-32e compatibility → 64-bit → compatibility', { skip }, () => {
  const { cpu, mem } = machine(GUEST);
  writePaging(mem);
  cpu.setBreakpoints(CP.map(BigInt));
  const imageWord = BigInt(mem.read(GUEST_ORIGIN, 4));
  const stepTo = (k: number) => {
    assert.equal(summary(cpu.run(1000)), 'breakpoint', `reach checkpoint ${k + 1}`);
    assert.equal(cpu.rip, BigInt(CP[k]));
  };
  assert.equal(cpu.decodeMode(), 16, 'power-on: real mode');

  stepTo(0); // protected mode, no paging
  assert.equal(cpu.cr0 & 1, 1, 'CR0.PE');
  assert.equal(cpu.cr0 >>> 31, 0, 'CR0.PG clear');
  assert.equal(cpu.segSel[Seg.CS], 0x08, 'CS loaded by the far jump');
  assert.equal((cpu.segAr[Seg.CS] & Ar.DB) !== 0, true, 'CS.D = 1: 32-bit code');
  assert.equal(cpu.decodeMode(), 32);
  assert.equal(cpu.cpl, 0);

  stepTo(1); // 32-bit paging with a 4-MiB page aliasing linear 8 MiB to physical 0
  assert.equal(cpu.cr0 >>> 31, 1);
  assert.equal(cpu.cr4 & 0x30, 0x10, 'PSE on, PAE off: 32-bit paging');
  assert.equal(cpu.getReg(0), imageWord, 'linear 0x808000 read physical 0x8000 through the 4-MiB PDE 2');

  stepTo(2); // PAE paging: linear 1 GiB aliases physical 0 through PDPTE 1
  assert.equal(cpu.cr4 & 0x20, 0x20);
  assert.equal(cpu.efer & 0x400, 0, 'not IA-32e: LMA clear');
  assert.equal(cpu.getReg(3), imageWord, 'linear 0x40008000 read physical 0x8000 through PDPTE 1');

  stepTo(3); // paging on with LME: LMA set, CS still 32-bit → compatibility mode
  assert.equal(cpu.efer & 0x500, 0x500, 'EFER.LME and EFER.LMA');
  assert.equal(cpu.segAr[Seg.CS] & Ar.L, 0, 'CS.L = 0');
  assert.equal(cpu.decodeMode(), 32, 'compatibility mode runs 32-bit code');

  stepTo(4); // far jump to the L=1 code segment
  assert.equal(cpu.segSel[Seg.CS], 0x18);
  assert.notEqual(cpu.segAr[Seg.CS] & Ar.L, 0);
  assert.equal(cpu.decodeMode(), 64);

  stepTo(5); // far jump through memory back to the 32-bit segment
  assert.equal(cpu.getReg(6), 0x123456789n, 'MOV RSI, imm64 ran as 64-bit code');
  assert.equal(cpu.segSel[Seg.CS], 0x08);
  assert.equal(cpu.efer & 0x400, 0x400, 'still IA-32e mode');
  assert.equal(cpu.decodeMode(), 32, 'compatibility mode again');
});

/** Runs a guest fragment and returns the exception it stops on (or the outcome). */
function outcome(lines: string[], paging = false): string {
  const { cpu, mem } = machine(lines);
  if (paging) writePaging(mem);
  stopOnExceptions(cpu);
  return summary(cpu.run(1000));
}

const TO_PM = ['.code16', 'cli', 'lgdt [gdtr]', 'mov eax, cr0', 'or eax, 1', 'mov cr0, eax', 'jmp 0x08:pm32', '.code32', 'pm32:', 'mov ax, 0x10', 'mov ds, ax', 'mov ss, ax'];
const GDT_TAIL = ['.balign 8', 'gdt:', ...quads([0n, flatCode32(), flatData32(), flatCode64()]), 'gdt_end:', '.balign 4', '.word 0', 'gdtr: .word gdt_end - gdt - 1', '.long gdt'];
const TO_LONG = [...TO_PM, 'mov eax, cr4', 'or eax, 0x20', 'mov cr4, eax', `mov eax, ${PML4}`, 'mov cr3, eax',
  'mov ecx, 0xc0000080', 'rdmsr', 'or eax, 0x100', 'wrmsr', 'mov eax, cr0', 'or eax, 0x80000000', 'mov cr0, eax', 'jmp 0x18:lm', '.code64', 'lm:'];

test('illegal transitions raise #GP(0) (SDM Vol. 2B MOV CR, Vol. 3A 10.8.5, WRMSR)', { skip }, () => {
  assert.equal(outcome(['.code16', 'mov eax, 0x80000010', 'mov cr0, eax', 'hlt']), 'exception 13 (0)', 'CR0.PG without CR0.PE');
  assert.equal(outcome(['.code16', 'mov eax, 0x60000011', 'mov cr0, eax', 'hlt']), 'halt', 'CD|NW|PE is allowed (control)');
  assert.equal(outcome(['.code16', 'mov eax, 0x20000011', 'mov cr0, eax', 'hlt']), 'exception 13 (0)', 'CR0.NW without CR0.CD');
  assert.equal(outcome([...TO_LONG, 'mov rax, cr4', 'and eax, ~0x20', 'mov cr4, rax', 'hlt', ...GDT_TAIL], true), 'exception 13 (0)', 'clearing CR4.PAE in IA-32e mode');
  assert.equal(outcome([...TO_LONG, 'hlt', ...GDT_TAIL], true), 'halt', 'the way into 64-bit mode itself is legal (control)');
  assert.equal(outcome([...TO_LONG, 'mov ecx, 0xc0000080', 'rdmsr', 'and eax, ~0x100', 'wrmsr', 'hlt', ...GDT_TAIL], true), 'exception 13 (0)', 'clearing EFER.LME while paging');
  assert.equal(outcome([...TO_PM, 'mov eax, cr4', 'or eax, 0x10', 'mov cr4, eax', `mov eax, ${PD32}`, 'mov cr3, eax', 'mov eax, cr0', 'or eax, 0x80000000', 'mov cr0, eax',
    'mov ecx, 0xc0000080', 'rdmsr', 'or eax, 0x100', 'wrmsr', 'hlt', ...GDT_TAIL], true), 'exception 13 (0)', 'setting EFER.LME while (32-bit) paging');
  assert.equal(outcome([...TO_PM, 'mov ecx, 0xc0000080', 'rdmsr', 'or eax, 0x100', 'wrmsr', `mov eax, ${PML4}`, 'mov cr3, eax',
    'mov eax, cr0', 'or eax, 0x80000000', 'mov cr0, eax', 'hlt', ...GDT_TAIL], true), 'exception 13 (0)', 'paging with LME but without PAE');
  assert.equal(outcome([...TO_LONG, 'mov rax, cr0', 'btr eax, 31', 'mov cr0, rax', 'hlt', ...GDT_TAIL], true), 'exception 13 (0)', 'clearing CR0.PG in 64-bit mode');
});
