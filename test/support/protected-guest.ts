// A protected-mode (32-bit) or IA-32e (64-bit) machine for guest tests that need a GDT of their
// own, a TSS, an IDT with a #GP handler, and a drop to CPL 3: the layout, descriptor encoding
// (SDM Vol. 3A, 3.4.5 and 8.2), the guest's boot code, and a device that records every port
// access. The test writes the tables as a loader would; the guest itself loads TR and IRETs.
import { PhysicalMemory } from '../../src/hardware/memory';
import { Cpu } from '../../src/hardware/cpu';
import { Seg } from '../../src/hardware/cpu-state';
import { setRflags } from '../../src/hardware/flags';
import { IoBus, IoDevice } from '../../src/hardware/io-bus';
import { loadSegmentCache } from '../../src/hardware/segments';
import { enterLongMode } from '../../src/vmm/long-mode-setup';

export type Bits = 32 | 64;

/** Physical layout (identity-mapped in IA-32e mode, paging off in protected mode). */
export const LAYOUT = {
  idt: 0x5000, gdt: 0x6000, tss: 0x7000,
  /** Fault log: the next-entry pointer at +0, entries from +0x10. */
  log: 0x8000,
  kernelStack: 0x9000, userStack: 0xb000,
  /** Guest code: boot at +0, #GP handler at +0x100, "done" (INT 0x80) at +0x180, user code at +0x200. */
  code: 0x100000,
  /** Scratch memory for string I/O and results. */
  data: 0x200000,
} as const;

export const SEL = { kernelCode: 0x08, kernelData: 0x10, userData: 0x1b, userCode: 0x23, tss: 0x28 } as const;

/** Two descriptor words from base, 20-bit limit, access byte (P DPL S type) and flags nibble (G D/B L AVL). */
export function descriptor(base: number, limit: number, access: number, flags: number): [number, number] {
  const lo = (((base & 0xffff) << 16) | (limit & 0xffff)) >>> 0;
  const hi = ((base & 0xff000000) | ((flags & 0xf) << 20) | (limit & 0xf0000) | ((access & 0xff) << 8) | ((base >>> 16) & 0xff)) >>> 0;
  return [lo, hi];
}

/** One port access as the device saw it. */
export interface PortAccess { dir: 'in' | 'out'; port: number; size: number; value: number }

/** The value the device returns for its n-th read: a different byte in each lane. */
export function deviceValue(n: number, size: number): number {
  let v = 0;
  for (let k = size - 1; k >= 0; k--) v = v * 256 + ((0x31 + 5 * n + k) & 0xff);
  return v;
}

export class RecordingDevice implements IoDevice {
  readonly log: PortAccess[] = [];
  private reads = 0;
  read(port: number, size: number): number {
    const value = deviceValue(this.reads++, size);
    this.log.push({ dir: 'in', port, size, value });
    return value;
  }
  write(port: number, size: number, value: number): void {
    this.log.push({ dir: 'out', port, size, value: value >>> 0 });
  }
}

/** The device answers ports DEVICE_FIRST .. DEVICE_FIRST + DEVICE_PORTS - 1. */
export const DEVICE_FIRST = 0x60;
export const DEVICE_PORTS = 0x30;

export interface Machine {
  bits: Bits;
  mem: PhysicalMemory;
  cpu: Cpu;
  device: RecordingDevice;
}

export interface MachineOptions {
  /** TSS limit (TR's limit) and the bytes to place at the TSS from offset 0x66 on (map base, bitmap). */
  tssLimit?: number;
  tssBytes?: Array<[number, Uint8Array]>;
  /** Further GDT entries after the TSS (each [lo, hi]); the GDT limit covers exactly these. */
  extraGdt?: Array<[number, number]>;
}

/** Number of GDT slots before `extraGdt`: null, 4 segments, and the TSS (2 slots in IA-32e mode). */
export function firstExtraSlot(bits: Bits): number {
  return bits === 64 ? 7 : 6;
}

export function makeMachine(bits: Bits, options: MachineOptions = {}): Machine {
  const io = new IoBus();
  const device = new RecordingDevice();
  io.register(DEVICE_FIRST, DEVICE_PORTS, 'recorder', device);
  const mem = new PhysicalMemory(bits === 64 ? 2 ** 32 : 1 << 24);
  const cpu = new Cpu(mem, io);
  const tssLimit = options.tssLimit ?? 0x67;
  const code = bits === 64 ? 0xa : 0xc; // flags: 64-bit code has L; 32-bit code has D and G
  const gdt: Array<[number, number]> = [
    [0, 0],
    descriptor(0, 0xfffff, 0x9b, code),
    descriptor(0, 0xfffff, 0x93, 0xc),
    descriptor(0, 0xfffff, 0xf3, 0xc),
    descriptor(0, 0xfffff, 0xfb, code),
    descriptor(LAYOUT.tss, tssLimit, 0x89, 0),
  ];
  if (bits === 64) gdt.push([0, 0]); // upper half of the 16-byte TSS descriptor
  gdt.push(...(options.extraGdt ?? []));
  gdt.forEach(([lo, hi], k) => { mem.write(LAYOUT.gdt + 8 * k, 4, lo); mem.write(LAYOUT.gdt + 8 * k + 4, 4, hi); });
  // TSS: ring-0 stack, then the caller's I/O map base and bitmap
  if (bits === 64) {
    mem.write(LAYOUT.tss + 4, 4, LAYOUT.kernelStack);
  } else {
    mem.write(LAYOUT.tss + 4, 4, LAYOUT.kernelStack);
    mem.write(LAYOUT.tss + 8, 4, SEL.kernelData);
  }
  for (const [offset, bytes] of options.tssBytes ?? []) mem.writeBytes(LAYOUT.tss + offset, bytes);
  // IDT: #GP to the handler (DPL 0), INT 0x80 to "done" (DPL 3)
  const gate = (vector: number, target: number, dpl: number) => {
    const hiBits = ((target & 0xffff0000) | 0x8e00 | (dpl << 13)) >>> 0;
    const at = LAYOUT.idt + (bits === 64 ? 16 : 8) * vector;
    mem.write(at, 4, ((SEL.kernelCode << 16) | (target & 0xffff)) >>> 0);
    mem.write(at + 4, 4, hiBits);
  };
  gate(13, LAYOUT.code + 0x100, 0);
  gate(0x80, LAYOUT.code + 0x180, 3);
  mem.write(LAYOUT.log, 4, LAYOUT.log + 0x10);

  if (bits === 64) {
    enterLongMode(cpu);
    // make the identity map user-accessible: U in PML4[0] and the four PDPT entries
    mem.write(0x2000, 4, mem.read(0x2000, 4) | 4);
    for (let n = 0; n < 4; n++) mem.write(0x3000 + 8 * n, 4, mem.read(0x3000 + 8 * n, 4) | 4);
  } else {
    cpu.cr0 = 0x11; // PE, ET
    const read = (sel: number): { lo: number; hi: number } => ({ lo: mem.read(LAYOUT.gdt + (sel & ~7), 4), hi: mem.read(LAYOUT.gdt + (sel & ~7) + 4, 4) });
    for (let s = 0; s < 6; s++) {
      const sel = s === Seg.CS ? SEL.kernelCode : SEL.kernelData;
      loadSegmentCache(cpu, s, sel, read(sel));
    }
    cpu.cpl = 0;
    setRflags(cpu, 2);
  }
  cpu.gdtrBase = BigInt(LAYOUT.gdt);
  cpu.gdtrLimit = 8 * gdt.length - 1;
  cpu.idtrBase = BigInt(LAYOUT.idt);
  cpu.idtrLimit = 256 * (bits === 64 ? 16 : 8) - 1;
  cpu.reconfigurePaging();
  cpu.flushCodeCache();
  cpu.rip = BigInt(LAYOUT.code);
  return { bits, mem, cpu, device };
}

/**
 * The guest: at CPL 0 it loads TR, runs `bootLines`, then IRETs to `userLines` at CPL 3 with the given IOPL
 * (or, with `stayInRing0`, runs them in place). The #GP handler appends (id, vector, error
 * code, rCX, rSI, rDI) to the log and resumes at the address in r15/EBP; id is r14/EBX.
 * User code ends with INT 0x80, whose handler halts.
 */
export function guestProgram(bits: Bits, userLines: string[], iopl = 0, stayInRing0 = false, bootLines: string[] = []): string[] {
  const user = LAYOUT.code + 0x200;
  const flags = (iopl << 12) | 2;
  if (bits === 64) {
    return [
      '.code64', 'mov ax, 0x28', 'ltr ax', 'mov rsp, 0x9000', ...bootLines,
      ...(stayInRing0 ? [`mov eax, ${user}`, 'jmp rax'] : ['push 0x1b', `push ${LAYOUT.userStack}`, `push ${flags}`, 'push 0x23', `push ${user}`, 'iretq']),
      '.org 0x100',
      'pop r12', 'mov r13, qword ptr [0x8000]', 'mov qword ptr [r13], r14', 'mov qword ptr [r13 + 8], 13',
      'mov qword ptr [r13 + 16], r12', 'mov qword ptr [r13 + 24], rcx', 'mov qword ptr [r13 + 32], rsi',
      'mov qword ptr [r13 + 40], rdi', 'add qword ptr [0x8000], 48', 'mov qword ptr [rsp], r15', 'iretq',
      '.org 0x180', 'hlt',
      '.org 0x200', ...userLines, 'int 0x80',
    ];
  }
  return [
    '.code32', 'mov ax, 0x28', 'ltr ax', 'mov esp, 0x9000', ...bootLines,
    ...(stayInRing0 ? [`mov eax, ${user}`, 'jmp eax'] : ['push 0x1b', `push ${LAYOUT.userStack}`, `push ${flags}`, 'push 0x23', `push ${user}`, 'iretd']),
    '.org 0x100',
    'push eax', 'mov eax, dword ptr [0x8000]', 'mov dword ptr [eax], ebx', 'mov dword ptr [eax + 4], 13',
    'push ecx', 'mov ecx, dword ptr [esp + 8]', 'mov dword ptr [eax + 8], ecx', 'pop ecx',
    'mov dword ptr [eax + 12], ecx', 'mov dword ptr [eax + 16], esi', 'mov dword ptr [eax + 20], edi',
    'add dword ptr [0x8000], 24', 'pop eax', 'add esp, 4', 'mov dword ptr [esp], ebp', 'iretd',
    '.org 0x180', 'hlt',
    '.org 0x200', 'mov ax, 0x1b', 'mov ds, ax', 'mov es, ax', ...userLines, 'int 0x80',
  ];
}

/**
 * Lines that run `insn` as attempt `id`: the #GP handler logs the id and resumes after it.
 * `setup` runs first (it may use any register but r12-r15 / EBX, EBP).
 */
export function attempt(bits: Bits, id: number, setup: string[], insn: string): string[] {
  if (bits === 64) return [`mov r14d, ${id}`, ...setup, 'lea r15, [rip + 1f]', insn, '1:'];
  return [`mov ebx, ${id}`, ...setup, 'call 2f', '2: pop ebp', 'add ebp, offset 1f - 2b', insn, '1:'];
}

export interface LoggedFault { id: number; vector: number; errorCode: number; rcx: number; rsi: number; rdi: number }

/** The #GP handler's log. */
export function loggedFaults(m: Machine): LoggedFault[] {
  const w = m.bits === 64 ? 8 : 4;
  const out: LoggedFault[] = [];
  const end = m.mem.read(LAYOUT.log, 4);
  for (let at = LAYOUT.log + 0x10; at < end; at += 6 * w) {
    const f = (k: number) => m.mem.read(at + k * w, 4);
    out.push({ id: f(0), vector: f(1), errorCode: f(2), rcx: f(3), rsi: f(4), rdi: f(5) });
  }
  return out;
}
