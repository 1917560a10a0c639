// A long-mode guest that reports what it sees of its processor's configuration: CPUID leaves
// and MSRs, read with CPUID, RDMSR and RDTSCP, left in registers at a VMCALL SHUTDOWN hypercall
// (rax = 2, rdi = 0). Run it with --mode long --load-address GUEST_ORIGIN.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assembleGuest } from './guest-asm';

export const GUEST_ORIGIN = 0x100000;

/** Where each reading is left when the guest makes its VMCALL. */
export const REPORTS = {
  r8: 'CPUID.1:ECX',
  r10: 'CPUID.(7,0):EBX',
  r11: 'CPUID.40000000H:EAX',
  r12: 'RDMSR IA32_TSC_AUX',
  r13: 'RDTSCP ECX (IA32_TSC_AUX)',
  r14: 'RDMSR IA32_KERNEL_GSBASE',
  r15: 'RDMSR IA32_PAT',
  rsi: 'RDMSR IA32_FS_BASE',
} as const;

const rdmsr64 = (msr: number, into: string): string[] => [`mov ecx, ${msr}`, 'rdmsr', 'shl rdx, 32', 'or rax, rdx', `mov ${into}, rax`];

export const REPORT_GUEST = [
  'mov eax, 1', 'cpuid', 'mov r8d, ecx',
  'mov eax, 7', 'xor ecx, ecx', 'cpuid', 'mov r10d, ebx',
  'mov eax, 0x40000000', 'cpuid', 'mov r11d, eax',
  'mov ecx, 0xc0000103', 'rdmsr', 'mov r12d, eax',
  'rdtscp', 'mov r13d, ecx',
  ...rdmsr64(0xc0000102, 'r14'),
  ...rdmsr64(0x277, 'r15'),
  ...rdmsr64(0xc0000100, 'rsi'),
  'mov eax, 2', 'xor edi, edi', 'vmcall',
];

/**
 * Sets CR4.OSXSAVE and asks for XCR0 = x87 | SSE (3) with XSETBV, which a VMM must refuse
 * with #GP unless CPUID.(0DH,0):EAX reports both states; then powers off with exit code 7.
 * With no IDT, the #GP ends the guest in a triple fault.
 */
export const XSETBV_GUEST = [
  'mov rax, cr4', 'or eax, 0x40000', 'mov cr4, rax',
  'xor ecx, ecx', 'xor edx, edx', 'mov eax, 3', 'xsetbv',
  'mov eax, 2', 'mov edi, 7', 'vmcall',
];

/** Assembles `lines` at GUEST_ORIGIN into a flat binary in a new temporary directory. */
export function writeGuest(lines: string[], name = 'guest.bin'): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-cfg-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, assembleGuest(lines, GUEST_ORIGIN));
  return { dir, file };
}
