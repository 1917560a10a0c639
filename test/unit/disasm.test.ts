// The disassembly text against GNU objdump on this machine: instructions assembled by GNU as
// (random ones in 64-bit mode, hand-picked system instructions, 16- and 32-bit code) are
// disassembled by src/hardware/disasm.ts and by `objdump -D -b binary -M intel` from the same
// bytes, and the two texts must agree up to whitespace. VMX_DISASM_CASES=N runs more random
// instructions; VMX_DISASM_SEED picks another seed.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assembleIntelMany, nativeOracleAvailable } from '../support/native-cpu';
import { normalize, objdump, objdumpAvailable, parseObjdump } from '../support/objdump';
import { Rng } from '../support/insn-gen';
import { randomInstruction } from '../support/disasm-gen';
import { disassemble, DisassembledInsn } from '../../src/hardware/disasm';
import { BufferSource, decodeInsn } from '../../src/hardware/decoder';
import { CpuFault, Vector } from '../../src/hardware/cpu';

const skip = !(nativeOracleAvailable() && objdumpAvailable()) && 'needs GNU as and objdump';
const CASES = Number(process.env.VMX_DISASM_CASES ?? 20000);
const SEED = Number(process.env.VMX_DISASM_SEED ?? 1);

/**
 * Where we knowingly print something other than objdump, and why. Each entry: the objdump
 * text (normalized) matched by `objdump`, and what we print instead.
 */
const DEVIATIONS: Array<{ objdump: RegExp; ours: (o: string) => string; why: string }> = [
  { objdump: /xchg ax,ax$/, ours: (o) => o.replace('xchg ax,ax', 'nop'), why: '66 90 is the two-byte NOP (SDM Vol. 2B, NOP); the decoder executes it as one' },
  {
    objdump: /^rex\.W (jmp|call) FWORD PTR/, ours: (o) => o.replace(/^rex\.W (\w+) FWORD/, '$1 TBYTE'),
    why: 'with REX.W, FF /3 and FF /5 take an m16:64 far pointer on Intel CPUs (SDM Vol. 2A, CALL/JMP); objdump follows AMD, which ignores REX.W there',
  },
  { objdump: /^bnd /, ours: (o) => o.replace(/^bnd /, 'repnz '), why: 'MPX is not emulated, so F2 before a branch is an ignored REPNE prefix, not BND' },
  {
    objdump: /^data16 jmp 0x[0-9a-f]+$/, ours: (o) => `jmpw 0x${(parseInt(o.slice(o.indexOf('0x') + 2), 16) & 0xffff).toString(16)}`,
    why: 'a JMP with 16-bit operand size truncates EIP to 16 bits (SDM Vol. 2A, JMP); objdump does not truncate the short form',
  },
];

interface Mismatch { source: string; bytes: string; objdump: string; ours: string }

/**
 * Assembles each snippet (one instruction, in `mode`), disassembles all of them from one
 * buffer with both disassemblers, and returns the snippets whose text or length differs.
 */
function compare(snippets: string[], mode: 16 | 32 | 64, vma = 0n): { compared: number; mismatches: Mismatch[] } {
  const directive = mode === 16 ? '.code16' : mode === 32 ? '.code32' : '.code64';
  const assembled = assembleIntelMany(snippets.map((s) => [directive, ...s.split(';')]));
  const total = assembled.reduce((n, b) => n + b.length, 0);
  const buf = new Uint8Array(total);
  const starts: number[] = [];
  let off = 0;
  for (const b of assembled) { starts.push(off); buf.set(b, off); off += b.length; }
  const theirs = new Map(objdump(buf, mode, vma).map((e) => [e.address, e]));
  const ours = new Map<bigint, DisassembledInsn>(disassemble(buf, vma, mode).map((e) => [e.address, e]));
  const mismatches: Mismatch[] = [];
  snippets.forEach((source, k) => {
    const end = starts[k] + assembled[k].length;
    for (let a = starts[k]; a < end;) {
      const at = vma + BigInt(a);
      const t = theirs.get(at);
      const o = ours.get(at);
      const hexBytes = Array.from(buf.subarray(a, Math.min(end, a + 15)), (x) => x.toString(16).padStart(2, '0')).join(' ');
      if (t === undefined || o === undefined) {
        mismatches.push({ source, bytes: hexBytes, objdump: t?.text ?? '(no entry)', ours: o?.text ?? '(no entry)' });
        break;
      }
      let expected = t.text;
      for (const d of DEVIATIONS) if (d.objdump.test(expected)) expected = d.ours(expected);
      const got = normalize(o.text);
      if (got !== expected || o.length !== t.bytes.length) {
        mismatches.push({ source, bytes: hexBytes, objdump: `${t.text} [${t.bytes.length}]`, ours: `${got} [${o.length}]` });
        break;
      }
      a += o.length;
    }
  });
  return { compared: snippets.length, mismatches };
}

function report(m: Mismatch[]): string {
  return m.slice(0, 40).map((x) => `  ${x.source}\n    bytes   ${x.bytes}\n    objdump ${x.objdump}\n    ours    ${x.ours}`).join('\n');
}

function expectSame(snippets: string[], mode: 16 | 32 | 64, vma = 0n): void {
  const r = compare(snippets, mode, vma);
  assert.equal(r.mismatches.length, 0, `${r.mismatches.length} of ${r.compared} differ from objdump:\n${report(r.mismatches)}`);
}

test(`${CASES} random 64-bit instructions print as objdump prints them (seed ${SEED})`, { skip }, () => {
  const rng = new Rng(SEED);
  const lines: string[] = [];
  for (let k = 0; k < CASES; k++) lines.push(randomInstruction(rng));
  expectSame(lines, 64, 0xffff_8000_0010_0000n);
});

/** System and VMX instructions, prefixes, string operations and odd encodings in 64-bit mode. */
const SYSTEM_64 = [
  'mov rax, cr0', 'mov cr3, rax', 'mov cr4, r9', 'mov r10, cr2', 'mov cr8, rax', 'mov rax, cr8', 'mov dr7, rcx', 'mov rbx, dr6',
  'lgdt [rax]', 'lidt [rip+0x100]', 'sgdt [rsp+8]', 'sidt [r12]', 'lldt ax', 'lldt word ptr [rax]', 'ltr word ptr [rbx]', 'ltr r8w',
  'sldt eax', 'sldt rax', 'sldt ax', 'sldt word ptr [rax]', 'str ecx', 'str word ptr [rdi]', 'smsw eax', 'smsw rax', 'smsw word ptr [rax]', 'lmsw ax', 'lmsw word ptr [rax]',
  'invlpg [rbx]', 'invlpg byte ptr [rip+8]', 'clts', 'invd', 'wbinvd', 'hlt', 'cli', 'sti', 'swapgs', 'rdtscp', 'rdmsr', 'wrmsr', 'rdpmc', 'cpuid', 'rdtsc',
  'vmxon qword ptr [rax]', 'vmxoff', 'vmclear qword ptr [rbx+8]', 'vmptrld qword ptr [rcx]', 'vmptrst qword ptr [rdx]', 'vmread rax, rbx', 'vmread qword ptr [rsp], rdi',
  'vmwrite r8, r9', 'vmwrite rax, qword ptr [rcx]', 'vmlaunch', 'vmresume', 'vmcall', 'vmfunc',
  'invept rax, oword ptr [rbx]', 'invvpid r9, oword ptr [rip+0x40]', 'invept rcx, oword ptr [rsp+8]',
  'in al, dx', 'in ax, dx', 'in eax, dx', 'in al, 0x60', 'in eax, 0xff', 'out dx, al', 'out dx, ax', 'out dx, eax', 'out 0x80, al', 'out 0x21, ax',
  'insb', 'insw', 'insd', 'outsb', 'outsw', 'outsd', 'rep insb', 'rep outsd',
  'rep movsb', 'rep movsw', 'rep movsd', 'rep movsq', 'rep stosb', 'rep stosq', 'repe cmpsb', 'repne cmpsq', 'repe scasd', 'repne scasb', 'lodsb', 'lodsq',
  'fs movsb', 'movsb byte ptr es:[rdi], byte ptr fs:[rsi]', 'lods al, byte ptr gs:[rsi]', 'xlat byte ptr fs:[rbx]', 'movsb byte ptr es:[edi], byte ptr [esi]', 'stosd dword ptr es:[edi], eax',
  'lock add qword ptr [rax], 1', 'lock xadd dword ptr [rbx], ecx', 'lock cmpxchg qword ptr [rdi], rsi', 'lock cmpxchg16b xmmword ptr [rdi]', 'lock cmpxchg8b qword ptr [rdi]',
  'lock inc dword ptr [rax]', 'lock btc qword ptr [rax], rdx', 'lock bts word ptr [rax], 3', 'xchg qword ptr [rax], rbx', 'lock or byte ptr fs:[rax], 1',
  'int3', 'int 0x80', 'int1', 'iretq', 'iret', 'iretw', 'sysretq', '.byte 0x0f,0x07', 'syscall', 'ud2',
  'jmp fword ptr [rax]', 'call fword ptr [rbx+8]', '.byte 0x48,0xff,0x28', 'retf', 'retf 8', 'ret 0x10', 'enter 0x20, 0', 'enter 8, 3', 'leave',
  'pushfq', 'popfq', 'pushfw', 'popfw', 'push fs', 'push gs', 'pop fs', 'pop gs', 'push ax', 'pop r9w', 'push -1', 'push 0x7fffffff', 'push word ptr [rax]',
  'mov es, ax', 'mov ds, eax', 'mov ss, rax', 'mov fs, word ptr [rax]', 'mov ax, ds', 'mov eax, es', 'mov rax, gs', 'mov word ptr [rbx], cs',
  'lar eax, bx', 'lar rax, word ptr [rax]', 'lsl ecx, dx', 'lsl cx, word ptr [rbx]',
  'movabs rax, 0x123456789abcdef0', 'movabs al, ds:0x1122334455667788', 'movabs ds:0xfffffffffffffff0, rax', 'mov eax, dword ptr [0x10]', 'mov rax, qword ptr gs:0x28',
  'mov al, byte ptr [eax]', 'mov eax, dword ptr [eip+0x10]', 'mov rax, qword ptr [rsp]', 'mov rax, qword ptr [r12]', 'mov rax, qword ptr [rbp]', 'mov rax, qword ptr [r13]',
  'lea rax, [rip]', 'lea rax, [rax*8]', 'lea eax, [eax+eax*1]', 'nop dword ptr [rax+rax*1+0]', 'nop word ptr [rax+rax*1+0]', 'nop', 'pause', 'xchg r8, rax', 'xchg eax, ebx',
  'cbw', 'cwde', 'cdqe', 'cwd', 'cdq', 'cqo', 'fwait', 'clac', 'stac', 'xgetbv', 'xsetbv', 'monitor', 'mwait', 'rdrand eax', 'rdseed r8', 'rdrand ax',
  'tzcnt eax, ecx', 'lzcnt rax, qword ptr [rbx]', 'popcnt cx, dx', 'movbe eax, dword ptr [rbx]', 'movbe word ptr [rbx], r8w', 'adox rax, rbx', 'adcx eax, dword ptr [rcx]',
  'prefetchw byte ptr [rax]', 'prefetch byte ptr [rax]', 'prefetcht0 byte ptr [rsi+0x40]', 'prefetcht1 [rax]', 'prefetcht2 [rax]', 'prefetchnta [rax]', '.byte 0x0f,0x18,0x20', '.byte 0x0f,0x18,0xc0',
  'shl eax, 1', 'sar rax, cl', 'rol byte ptr [rax], 7', 'shld eax, ebx, cl', 'shrd rax, rbx, 63', 'imul eax, ecx, -3', 'imul rax, qword ptr [rbx], 0x1000',
  'movzx eax, ah', 'movsx r8, bl', 'movzx ecx, word ptr [rax]', 'movsxd rax, dword ptr [rcx]', 'bswap eax', 'bswap r12',
  '.byte 0xf3,0xc3', '.byte 0xf2,0xc3', '.byte 0xf3,0x48,0xa5',
  // what compilers emit: padding NOPs with redundant prefixes, CET markers, branch hints
  '.byte 0x66,0x2e,0x0f,0x1f,0x84,0,0,0,0,0', '.byte 0x66,0x66,0x2e,0x0f,0x1f,0x84,0,0,0,0,0', '.byte 0x66,0x66,0x66,0x2e,0x0f,0x1f,0x84,0,0,0,0,0',
  '.byte 0x0f,0x1f,0x40,0', '.byte 0x0f,0x1f,0x80,0,0,0,0', '.byte 0x66,0x66,0x90', 'endbr64', 'endbr32', 'notrack jmp rax', 'notrack call qword ptr [rax]',
  '.byte 0x2e,0x74,0x00', '.byte 0x3e,0x75,0x00', '.byte 0x26,0x90', '.byte 0x2e,0x48,0x8b,0x00', 'fs nop', 'gs cli',
  // SIB bytes without an index (riz), address-size prefixes nothing uses, SAL's /6 alias
  '.byte 0x8b,0x04,0x64', '.byte 0x8b,0x04,0x65,0x10,0,0,0', '.byte 0x8b,0x04,0x20', '.byte 0x8d,0x74,0x26,0x00', '.byte 0x67,0x8b,0x04,0x20', 'mov eax, dword ptr [rsp]', 'mov rax, qword ptr [r12]',
  '.byte 0x67,0xe8,0,0,0,0', '.byte 0x67,0xe2,0xfe', '.byte 0x67,0xe3,0xfe', '.byte 0x67,0xa0,0x10,0,0,0', '.byte 0x67,0x90', '.byte 0xd1,0xf0', '.byte 0xc0,0xf1,0x03',
];

test('system and VMX instructions, prefixes and string operations in 64-bit mode print as objdump prints them', { skip }, () => {
  expectSame(SYSTEM_64, 64);
});

/** 32-bit protected-mode code, with operand- and address-size prefixes. */
const CODE_32 = [
  'push eax', 'pop ebx', 'push ax', 'push es', 'pop ds', 'push cs', 'push ss', 'pop ss', 'pusha', 'popa', 'pushad', 'pushaw', 'popaw', 'pushf', 'popf', 'pushfw', 'popfw',
  'inc eax', 'dec esi', 'inc cx', 'dec word ptr [eax]', 'daa', 'das', 'aaa', 'aas', 'aam', 'aad', 'aam 16', 'aad 7', 'into',
  'bound eax, qword ptr [ebx]', 'bound ax, dword ptr [ecx+4]',
  'jmp 0x8:0x1000', 'call 0x10:0x12345678', 'jmp 0x8:0x1234', '.byte 0x66,0xea,0x34,0x12,0x08,0x00', 'jmp fword ptr [eax]', 'call dword ptr [ebx]', 'jmp ecx',
  'les eax, fword ptr [ebx]', 'lds ax, dword ptr [ecx]', 'lss esp, fword ptr [eax]', 'lfs edi, fword ptr [esi]', 'lgs bx, dword ptr [edi]',
  'mov eax, cr0', 'mov cr3, eax', 'mov cr4, edx', 'mov dr7, eax', 'mov eax, dr6', 'lgdt [eax]', 'lidt [0x1000]', 'sgdt [ebx]', 'invlpg [ecx]',
  'vmread eax, ebx', 'vmwrite ecx, dword ptr [edx]', 'vmxon qword ptr [eax]', 'vmptrld qword ptr [eax]', 'vmlaunch', 'vmcall',
  'invept eax, oword ptr [ebx]', 'invvpid edx, oword ptr [0x1000]',
  'mov al, byte ptr [0x1234]', 'mov eax, dword ptr ds:0x12345678', 'mov dword ptr fs:0x30, eax', 'mov ax, word ptr [bx+si]', 'mov eax, dword ptr [ebp-8]', 'mov eax, dword ptr [esp+4]',
  'mov eax, dword ptr [ebx+ecx*4+0x100]', 'mov ecx, dword ptr [ecx*2+0x10]', 'lea eax, [bx+di+4]', 'mov al, byte ptr es:[di]',
  'rep movsd', 'rep movsw', 'rep stosb', 'repe cmpsd', 'repne scasw', 'movsb byte ptr es:[di], byte ptr [si]', 'lodsd', 'insb', 'outsw', 'xlat',
  'in al, dx', 'out 0x80, eax', 'iret', 'iretw', 'int 0x21', 'int3', 'retf', 'retf 4', 'ret', 'ret 4', 'sysenter', 'sysexit', 'hlt',
  'add eax, -1', 'add ax, -1', 'sub esp, 0x10', 'cmp byte ptr [eax], 0x80', 'imul eax, ecx, 0x7f', 'push -1', 'push 0x12345678', 'pushw 0x1234',
  'mov es, ax', 'mov ax, ds', 'mov word ptr [eax], ss', 'arpl word ptr [eax], bx', 'arpl ax, cx', 'lock add dword ptr [eax], 1', 'cwde', 'cdq', 'cbw', 'cwd',
  '.byte 0x2e,0x74,0x00', '.byte 0x3e,0x74,0x00', '.byte 0x66,0x66,0x90', 'cs nop', 'ss cli', 'endbr32', '.byte 0x8d,0x74,0x26,0x00', '.byte 0x8d,0xb4,0x26,0,0,0,0',
  '.byte 0x67,0xe8,0,0,0,0', '.byte 0x67,0x9e', '.byte 0x67,0xa0,0x10,0x00',
  'jmp .+2', 'jmp .+0x100', 'call .+0x1000', 'jne .-10', 'je .+0x300', 'loop .', 'jecxz .', '.byte 0x67,0xe3,0xfd', '.byte 0x66,0xe8,0x00,0x01', '.byte 0x66,0xeb,0x10',
];

test('32-bit code prints as objdump -m i386 prints it', { skip }, () => {
  expectSame(CODE_32, 32, 0x40_0000n);
});

/** 16-bit real-mode code: 16-bit addressing forms, far pointers, 32-bit prefixes. */
const CODE_16 = [
  'mov ax, word ptr [bx+si+4]', 'mov al, byte ptr [bp-2]', 'mov word ptr [0x1234], 5', 'mov ax, word ptr [bx+di]', 'mov ax, word ptr [bp+si+0x100]', 'mov ax, word ptr [bp+di-0x80]',
  'mov ax, word ptr [si]', 'mov ax, word ptr [di+2]', 'mov ax, word ptr [bp]', 'mov ax, word ptr [bx]', 'mov ax, word ptr [bx+0x7fff]', 'mov ax, word ptr [bx-0x8000]',
  'mov al, byte ptr fs:[di]', 'mov ax, word ptr cs:[bx]', 'mov ax, word ptr ss:[0x10]', 'mov eax, dword ptr [ebx+ecx*2]', 'mov ax, word ptr [eax]',
  'jmp 0x8:0x1000', 'call 0x0:0x7c00', '.byte 0x66,0xea,0x78,0x56,0x34,0x12,0x10,0x00', 'jmp dword ptr [bx]', 'call word ptr [bx]', 'jmp ax', 'jmp fword ptr [bx]',
  'lgdt [si]', 'lidt [bx+4]', 'mov eax, cr0', 'mov cr0, eax', 'lmsw ax', 'smsw ax', 'ltr ax', 'sgdt [0x500]',
  'add ax, -1', 'push -1', 'push 0x1234', 'push eax', 'push es', 'pop ds', 'pushf', 'pushfd', 'popf', 'popfd', 'pusha', 'popad', 'iret', 'iretd',
  'rep movsw', 'movsd', 'rep stosb', 'lodsb', 'repe cmpsb', 'scasw', 'insw', 'outsb', 'xlat',
  'les ax, dword ptr [bx]', 'lss esp, fword ptr [bx]', 'lds si, dword ptr [bp+2]', 'in ax, dx', 'out 0x60, al', 'aam 10', 'aad', 'daa', 'inc ax', 'dec si', 'int 0x10', 'retf 4', 'retf', 'ret',
  'xchg ax, bx', 'xchg eax, ecx', 'cbw', 'cwde', 'cwd', 'cdq', 'mov es, ax', 'mov ax, cs', 'mov ss, word ptr [bx]', 'hlt', 'cli', 'sti',
  'jmp .+0x10', 'call .+0x100', 'loop .', 'jcxz .', 'jecxz .', 'jne .+0x80', 'je .-0x40', 'jmp .+0x1000', '.byte 0x66,0xe9,0x00,0x00,0x01,0x00',
];

test('16-bit code prints as objdump -m i8086 prints it', { skip }, () => {
  expectSame(CODE_16, 16, 0x7c00n);
});

/** Runs a tool and returns its stdout; a failure names the tool and its message. */
function run(tool: string, args: string[]): string {
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) throw new Error(`${tool} ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

test('symbolized branch and RIP-relative targets print as objdump prints them for a linked ELF with nm\'s symbols', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-debug-disasm-'));
  try {
    const src = path.join(dir, 'guest.s');
    fs.writeFileSync(src, [
      '.intel_syntax noprefix', '.text', '.globl _start', '_start:',
      '  call helper', '  jmp .Lnext', '.Lnext:', '  lea rax, [rip+table]', '  mov rcx, qword ptr [rip+table+16]', '  jne helper+3',
      '  call qword ptr [rip+ptrs]', '  je _start', '  loop .Lnext', '  mov eax, dword ptr [rip+table+0x1c]', '  ret',
      'helper:', '  nop', '  nop', '  nop', '  nop', '  jmp _start', '  ret',
      '.data', 'table: .quad 1, 2, 3, 4', 'ptrs: .quad helper', '',
    ].join('\n'));
    run('as', ['--64', '-o', path.join(dir, 'guest.o'), src]);
    const elf = path.join(dir, 'guest.elf');
    run('ld', ['-o', elf, '-Ttext=0x401000', '-Tdata=0x402000', path.join(dir, 'guest.o')]);
    run('objcopy', ['-O', 'binary', '-j', '.text', elf, path.join(dir, 'text.bin')]);
    const text = new Uint8Array(fs.readFileSync(path.join(dir, 'text.bin')));
    const symbols = run('nm', [elf]).split('\n').map((l) => /^([0-9a-f]+) [TtDd] (\S+)$/.exec(l)).filter((m) => m !== null)
      .map((m) => ({ address: BigInt(`0x${m[1]}`), name: m[2] })).sort((a, b) => (a.address < b.address ? -1 : 1));
    const symbolize = (a: bigint) => {
      const s = symbols.filter((x) => x.address <= a).pop();
      return s === undefined ? undefined : { name: s.name, offset: a - s.address };
    };
    const expected = parseObjdump(run('objdump', ['-d', '-M', 'intel', '-w', '-j', '.text', elf]));
    const ours = disassemble(text, 0x401000n, 64, { symbolize });
    assert.deepEqual(ours.map((e) => `${e.address.toString(16)}: ${normalize(e.text)}`), expected.map((e) => `${e.address.toString(16)}: ${e.text}`));
    assert.ok(expected.some((e) => e.text.includes('<table+0x10>')) && expected.some((e) => e.text.includes('<helper+0x3>')), 'the oracle shows symbol offsets');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('opcodes invalid in 64-bit mode print (bad), one byte each, as objdump prints them', { skip }, () => {
  const invalid = [0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0xce, 0xd4, 0xd5, 0xd6];
  expectSame(invalid.map((b) => `.byte 0x${b.toString(16)}; nop`), 64);
  const ours = disassemble(Uint8Array.from(invalid), 0n, 64);
  assert.deepEqual(ours.map((e) => [e.text, e.length]), invalid.map(() => ['(bad)', 1]));
});

test('disassemble never throws: random bytes in every mode are covered by entries, (bad) ones one byte long', () => {
  const rng = new Rng(7);
  const bytes = new Uint8Array(1 << 16);
  for (let k = 0; k < bytes.length; k++) bytes[k] = rng.int(256);
  for (const mode of [16, 32, 64] as const) {
    const out = disassemble(bytes, 0xfff0n, mode);
    let next = 0xfff0n;
    for (const e of out) {
      assert.equal(e.address, next, 'entries are contiguous');
      assert.equal(e.bytes.length, e.length);
      assert.ok(e.length >= 1 && e.length <= 15);
      if (e.text === '(bad)') assert.equal(e.length, 1);
      next += BigInt(e.length);
    }
    assert.equal(next, 0xfff0n + BigInt(bytes.length), `mode ${mode}: every byte belongs to one entry`);
  }
});

test('a truncated last instruction gives (bad) for its first byte and decoding goes on after it', () => {
  // 48 b8 = MOVABS RAX, imm64 with only two of its eight immediate bytes; then 90 = NOP fits
  const out = disassemble(Uint8Array.from([0x90, 0x48, 0xb8, 0x90]), 0x1000n, 64);
  assert.deepEqual(out.map((e) => [e.address, e.length, e.text]), [
    [0x1000n, 1, 'nop'], [0x1001n, 1, '(bad)'], [0x1002n, 1, '(bad)'], [0x1003n, 1, 'nop'],
  ]);
  assert.deepEqual(disassemble(new Uint8Array(0), 0n, 64), []);
});

test('a far CALL or JMP through a register (FF /3, FF /5 with mod = 3) is undefined: (bad), and #UD when executed', () => {
  for (const modrm of [0xd8, 0xe8]) {
    for (const mode of [16, 32, 64] as const) {
      assert.equal(disassemble(Uint8Array.from([0xff, modrm]), 0n, mode)[0].text, '(bad)', `ff ${modrm.toString(16)} in ${mode}-bit mode`);
      const insn = decodeInsn(new BufferSource(Uint8Array.from([0xff, modrm]), 0), mode, 0, 0);
      assert.throws(() => insn.exec(undefined as never, insn), (e: unknown) => e instanceof CpuFault && e.vector === Vector.UD);
    }
  }
});

test('SSE, AVX and x87 instructions the CPU does not execute keep their true length, so the listing stays in step', { skip }, () => {
  const lines = [
    'movups xmm0, xmm1', 'movaps xmm2, xmmword ptr [rax+0x10]', 'paddd xmm0, xmm1', 'pshufd xmm0, xmm1, 0x1b', 'cmpps xmm0, xmm1, 2', 'shufps xmm3, xmmword ptr [rip+0x40], 1',
    'movdqa xmm8, xmmword ptr [r9+r10*4+0x100]', 'pxor xmm0, xmm0', 'movq xmm0, rax', 'emms', 'pslld xmm1, 4', 'pextrw eax, xmm1, 3', 'pinsrw xmm1, eax, 2', 'movnti dword ptr [rax], eax',
    'pshufb xmm0, xmm1', 'palignr xmm0, xmm1, 4', 'pcmpistri xmm0, xmmword ptr [rax], 0x0c', 'crc32 eax, byte ptr [rbx]', 'mfence', 'lfence', 'sfence', 'clflush byte ptr [rax]', 'fxsave [rsp]', 'ldmxcsr dword ptr [rax]',
    'vaddps ymm0, ymm1, ymm2', 'vmovdqu ymm3, ymmword ptr [rax+0x20]', 'vpxor xmm0, xmm0, xmm0', 'vzeroupper', 'vpshufd ymm0, ymm1, 0x1b', 'vpermq ymm0, ymm1, 0x4e', 'vpshufb ymm0, ymm1, ymmword ptr [r8+0x40]',
    'vmovaps xmm9, xmm10', 'vblendps ymm0, ymm1, ymm2, 5',
    'vaddps zmm0, zmm1, zmm2', 'vmovdqu64 zmm3, zmmword ptr [rax+0x40]', 'vpxorq zmm0{k1}, zmm1, zmm2',
    'fld dword ptr [rax]', 'fadd st, st(1)', 'fstp qword ptr [rsp+8]', 'fninit', 'fnstsw ax', 'fxch st(3)', 'fild word ptr [rbx]',
  ];
  const assembled = assembleIntelMany(lines.map((l) => [l, 'nop']));
  for (const [k, code] of assembled.entries()) {
    const theirs = objdump(code, 64);
    const ours = disassemble(code, 0n, 64);
    assert.deepEqual(ours.map((e) => e.length), theirs.map((e) => e.bytes.length), `${lines[k]}: lengths (objdump: ${theirs.map((e) => e.text).join('; ')})`);
    assert.match(ours[0].text, /^\((sse|vex|evex|x87)\)$/, `${lines[k]}: shown as not decoded`);
    assert.equal(ours[1].text, 'nop', `${lines[k]}: the next instruction starts where objdump's does`);
  }
});

for (const opt of ['-O0', '-O2', '-Os']) test(`compiler output (the native oracle's C source, cc ${opt}) prints as objdump prints it`, { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-debug-disasm-cc-'));
  try {
    const src = path.resolve(__dirname, '../../../test/native/oracle.c');
    const obj = path.join(dir, 'oracle.o');
    const cc = spawnSync('cc', ['--version']).status === 0 ? 'cc' : 'gcc';
    run(cc, [opt, '-fcf-protection=full', '-c', '-o', obj, src]);
    run('objcopy', ['-O', 'binary', '-j', '.text', obj, path.join(dir, 'text.bin')]);
    const text = new Uint8Array(fs.readFileSync(path.join(dir, 'text.bin')));
    const theirs = objdump(text, 64);
    const ours = disassemble(text, 0n, 64);
    const differ: string[] = [];
    let notDecoded = 0;
    theirs.forEach((t, k) => {
      const o = ours[k];
      let expected = t.text;
      for (const d of DEVIATIONS) if (d.objdump.test(expected)) expected = d.ours(expected);
      // x87/SSE/AVX are not decoded; only their length must agree
      const placeholder = o !== undefined && /^\((sse|vex|evex|x87)\)$/.test(o.text);
      if (placeholder) notDecoded++;
      if (o === undefined || o.address !== t.address || o.length !== t.bytes.length || (!placeholder && normalize(o.text) !== expected)) {
        differ.push(`${t.address.toString(16)}: objdump ${t.text} [${t.bytes.length}]; ours ${o?.text ?? '(none)'} [${o?.length ?? 0}]`);
      }
    });
    assert.ok(theirs.length > 200, `a real amount of code (${theirs.length} instructions)`);
    assert.ok(notDecoded < theirs.length / 10, `mostly decoded (${notDecoded} not)`);
    assert.equal(ours.length, theirs.length);
    assert.deepEqual(differ.slice(0, 20), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
