// Page-level protection seen by real guests under 32-bit paging and PAE paging (SDM Vol. 3A,
// 4.6 "Access Rights" and 4.7 "Page-Fault Exceptions"): user and supervisor reads and writes
// of supervisor-only, read-only and not-present pages, with CR0.WP set and clear. The guest's
// #PF handler (ring 0, through an interrupt gate and the TSS stack) reads CR2 and the error
// code; the expected values are the SDM's rules applied to the page bits the test chose.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { nativeOracleAvailable } from '../support/native-cpu';
import { flatCode32, flatData32, interruptGate32, quads, tssDescriptor, writeTss32 } from '../support/guest-asm';
import { GUEST_ORIGIN, KERNEL_CS, KERNEL_DS, machine, summary } from '../support/pm-machine';
import { protectedModeGuest } from '../support/pm-machine';
import { PhysicalMemory } from '../../src/hardware/memory';

const skip = !nativeOracleAvailable() && 'needs GNU as';

const USER_CS = 0x18 | 3, USER_DS = 0x20 | 3, TSS_SEL = 0x28;
const TSS_BASE = 0x20000, HANDLER = GUEST_ORIGIN + 0x400, DONE = GUEST_ORIGIN + 0x300, PROBE = GUEST_ORIGIN + 0x280;

interface PageBits { p: boolean; rw: boolean; us: boolean }
const PAGES: Array<{ name: string; at: number; bits: PageBits }> = [
  { name: 'supervisor RW', at: 0x200000, bits: { p: true, rw: true, us: false } },
  { name: 'user read-only', at: 0x201000, bits: { p: true, rw: false, us: true } },
  { name: 'not present', at: 0x202000, bits: { p: false, rw: true, us: true } },
  { name: 'supervisor read-only', at: 0x203000, bits: { p: true, rw: false, us: false } },
  { name: 'user RW', at: 0x204000, bits: { p: true, rw: true, us: true } },
];

/** SDM 4.6.1 and 4.7: the #PF error code for the access, or undefined when it is allowed. */
function expectedError(b: PageBits, write: boolean, user: boolean, wp: boolean): number | undefined {
  const w = write ? 2 : 0, u = user ? 4 : 0;
  if (!b.p) return w | u;
  if (user && !b.us) return 1 | w | u;
  if (write && !b.rw && (user || wp)) return 1 | w | u;
  return undefined;
}

function pte(phys: number, b: PageBits): number {
  return (phys | (b.p ? 1 : 0) | (b.rw ? 2 : 0) | (b.us ? 4 : 0)) >>> 0;
}

/** The first 4 MiB identity-mapped with 4-KiB pages, user RW, except the test pages. */
function pageBitsAt(phys: number): PageBits {
  return PAGES.find((p) => p.at === phys)?.bits ?? { p: true, rw: true, us: true };
}

const PD32 = 0x100000, PT32 = 0x101000;
const PDPT = 0x102000, PD_PAE = 0x103000, PT_PAE = 0x104000; // two PTs: 0x104000, 0x105000

function writeTables(mem: PhysicalMemory, pae: boolean): number {
  if (!pae) {
    mem.write(PD32, 4, PT32 | 7);
    for (let k = 0; k < 1024; k++) mem.write(PT32 + 4 * k, 4, pte(k * 4096, pageBitsAt(k * 4096)));
    return PD32;
  }
  mem.write(PDPT, 4, PD_PAE | 1);
  for (let t = 0; t < 2; t++) {
    mem.write(PD_PAE + 8 * t, 4, (PT_PAE + 0x1000 * t) | 7);
    for (let k = 0; k < 512; k++) {
      const phys = (t * 512 + k) * 4096;
      mem.write(PT_PAE + 0x1000 * t + 8 * k, 4, pte(phys, pageBitsAt(phys)));
    }
  }
  return PDPT;
}

function guest(cr3: number, pae: boolean, wp: boolean, user: boolean, probe: string): string[] {
  const cr0Bits = (0x80000000 | (wp ? 0x10000 : 0)) >>> 0;
  return protectedModeGuest([
    `mov ax, ${TSS_SEL}`, 'ltr ax', 'lidt [idtr]',
    ...(pae ? ['mov eax, cr4', 'or eax, 0x20', 'mov cr4, eax'] : []),
    `mov eax, ${cr3}`, 'mov cr3, eax',
    'mov eax, cr0', `or eax, 0x${cr0Bits.toString(16)}`, 'mov cr0, eax',
    // RETF to ring 3 makes DS (DPL 0) null, so ring 3 loads its own before the probe
    ...(user ? [`push ${USER_DS}`, 'push 0x6000', `push ${USER_CS}`, 'push offset ring3', 'retf', `ring3: mov ax, ${USER_DS}`, 'mov ds, ax'] : []),
    'jmp probe',
    '.org 0x280', `probe: ${probe}`, 'jmp done',
    '.org 0x300', 'done: nop', 'jmp done',
    // #PF handler: error code to EAX, CR2 to EBX, the faulting EIP to ECX, the CS it ran in to EDX
    '.org 0x400', 'pop eax', 'mov ebx, cr2', 'mov ecx, dword ptr [esp]', 'mov edx, dword ptr [esp + 4]', 'hlt',
    '.org 0x500',
  ], [flatCode32(3), flatData32(3), tssDescriptor(TSS_BASE)], [
    '.balign 8', 'idt:', ...quads([...new Array<bigint>(14).fill(0n), interruptGate32(KERNEL_CS, HANDLER)]), 'idt_end:',
    '.balign 4', '.word 0', 'idtr: .word idt_end - idt - 1', '.long idt',
  ]);
}

for (const pae of [false, true]) {
  for (const page of PAGES) {
    for (const user of [false, true]) {
      for (const write of [false, true]) {
        for (const wp of write && !user ? [true, false] : [true]) {
          const expect = expectedError(page.bits, write, user, wp);
          const addr = page.at + 0x10;
          const what = `${pae ? 'PAE' : '32-bit'} paging: ${user ? 'user' : 'supervisor'} ${write ? 'write' : 'read'} of a ${page.name} page${write && !user ? ` (CR0.WP=${wp ? 1 : 0})` : ''}`;
          test(`${what}: ${expect === undefined ? 'allowed' : `#PF, error code ${expect}`}`, { skip }, () => {
            const probe = write ? `mov dword ptr [0x${addr.toString(16)}], 0x5a5a` : `mov esi, dword ptr [0x${addr.toString(16)}]`;
            const m = machine(guest(pae ? PDPT : PD32, pae, wp, user, probe));
            writeTss32(m.mem, TSS_BASE, { esp0: 0x5000, ss0: KERNEL_DS });
            writeTables(m.mem, pae);
            m.mem.write(addr, 4, 0x1234);
            m.cpu.setBreakpoints([BigInt(DONE)]);
            const out = summary(m.cpu.run(2000));
            if (expect === undefined) {
              assert.equal(out, 'breakpoint');
              if (write) assert.equal(m.mem.read(addr, 4), 0x5a5a); else assert.equal(m.cpu.getReg(6), 0x1234n);
            } else {
              assert.equal(out, 'halt', 'the #PF handler ran');
              assert.equal(m.cpu.getReg(0), BigInt(expect), 'error code');
              assert.equal(m.cpu.getReg(3), BigInt(addr), 'CR2 = the faulting linear address');
              assert.equal(m.cpu.getReg(1), BigInt(PROBE), 'saved EIP = the faulting instruction');
              assert.equal(m.cpu.getReg(2), BigInt(user ? USER_CS : KERNEL_CS), 'saved CS');
              assert.equal(m.mem.read(addr, 4), 0x1234, 'memory unchanged');
            }
          });
        }
      }
    }
  }
}
