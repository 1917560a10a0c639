// Compatibility mode on the emulated CPU against this machine's CPU, case by case: the forms
// the random differential test reaches only by chance. Segmentation edges (accesses that
// straddle the data segment's limit, string runs into it, BT with a register bit offset past
// it, the null FS/GS of a Linux process, DS/ES reloads from the LDT), 16-bit addressing and
// its wrap-around, LOOPW and JCXZ counting CX, PUSHA/POPA in both sizes, POPF with the bits
// user mode may change, BOUND.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assembleIntelMany, nativeCompatUnavailableReason, NativeCase, runNative, NATIVE_DATA_ADDRESS } from '../support/native-cpu';
import { EmuRunner } from '../support/emu-runner';

const skip = nativeCompatUnavailableReason() ?? false;
const LOW32 = 0xffff_ffffn;
const STATUS_AND_DF = 0xcd5n;

function regs(): bigint[] {
  // full 64-bit values: compatibility mode sees only the low halves
  const r = new Array<bigint>(16).fill(0n).map((_, i) => 0x1111_1111_0000_0000n * BigInt(i) + 0x0102_0304n * BigInt(i + 1));
  r[3] = 0x4000n;   // ebx, esi, edi: offsets into the data segment
  r[6] = 0x6000n;
  r[7] = 0x8000n;
  r[4] = BigInt(NATIVE_DATA_ADDRESS + 0xc000); // esp: SS is flat
  return r;
}

const IMAGE = new Uint8Array(0x10000).map((_, i) => (i * 37 + 11) & 0xff);

/** Runs each snippet natively and emulated; returns the descriptions of those that differ. */
function compare(snippets: string[][]): { differences: string[]; vectors: number[] } {
  const codes = assembleIntelMany(snippets, { bits: 32 });
  const cases: NativeCase[] = snippets.map((_, k) => ({ regs: regs(), rflags: 0x801n, data: IMAGE, code: codes[k], mode: 32, dataSegment: true }));
  const native = runNative(cases);
  const emu = new EmuRunner();
  const differences: string[] = [];
  const vectors: number[] = [];
  cases.forEach((c, k) => {
    const n = native[k];
    const e = emu.run(c);
    const nv = n.signal === 0 ? -1 : n.trapNumber;
    vectors.push(nv);
    const d: string[] = [];
    if (nv !== e.vector) d.push(`vector: native ${nv} (signal ${n.signal}), emulated ${e.vector} ${e.detail}`);
    for (let r = 0; r < 16; r++) {
      if ((n.regs[r] & LOW32) !== (e.regs[r] & LOW32)) d.push(`reg ${r}: native 0x${(n.regs[r] & LOW32).toString(16)}, emulated 0x${(e.regs[r] & LOW32).toString(16)}`);
    }
    if ((n.rflags & STATUS_AND_DF) !== (e.rflags & STATUS_AND_DF)) d.push(`rflags: native 0x${n.rflags.toString(16)}, emulated 0x${e.rflags.toString(16)}`);
    if (nv === -1) {
      const b = n.data.findIndex((v, i) => v !== e.data[i]);
      if (b >= 0) d.push(`data[0x${b.toString(16)}]`);
    }
    if (d.length > 0) differences.push(`${snippets[k].join('; ')}: ${d.join('; ')}`);
  });
  return { differences, vectors };
}

test('compatibility mode: accesses at the data segment limit, inside it and straddling it', { skip }, () => {
  const snippets = [
    ['mov eax, dword ptr ds:0xfffc'], ['mov eax, dword ptr ds:0xfffd'], ['mov al, byte ptr ds:0xffff'],
    ['mov ax, word ptr ds:0xffff'], ['add word ptr es:0xffff, ax'], ['movzx eax, byte ptr ds:0xffff'],
    ['movzx eax, word ptr ds:0xffff'], ['cmpxchg8b qword ptr ds:0xfff8'], ['cmpxchg8b qword ptr ds:0xfffc'],
    ['push dword ptr ds:0xfffd'], ['pop dword ptr ds:0xfffd'], ['mov word ptr ds:0xfffe, 0', 'les eax, ds:0xfffa'], ['les eax, ds:0xfffb'],
  ];
  const { differences, vectors } = compare(snippets);
  assert.deepEqual(differences, []);
  // the CPU's own verdicts, for the record: #GP (13) exactly where the last byte passes 0xffff
  assert.deepEqual(vectors, [-1, 13, -1, 13, 13, -1, 13, -1, 13, 13, 13, -1, 13]);
});

test('compatibility mode: string runs into the limit, BT far past it, null FS/GS', { skip }, () => {
  const { differences, vectors } = compare([
    ['mov edi, 0xfff0', 'mov ecx, 20', 'rep stosb'],
    ['mov edi, 0xfff0', 'mov ecx, 20', 'rep stosd'],
    ['mov esi, 0xfff8', 'mov ecx, 20', 'rep lodsw'],
    ['mov edi, 0xfff8', 'mov ecx, 20', 'repne scasb'],
    ['mov edi, 0xfff0', 'mov ecx, 20', 'std', 'rep stosb'],
    ['mov ebx, 0xfff0', 'mov al, 0x20', 'xlatb'],
    ['mov ebx, 0xfff0', 'mov al, 0x0f', 'xlatb'],
    ['bt dword ptr ds:0xfffc, eax'],
    ['bts dword ptr [ebx], ecx'],
    ['bt word ptr [ebx], si'],
    ['mov eax, fs:[ebx]'],
    ['mov al, gs:[0]'],
    ['fs movsb'],
  ]);
  assert.deepEqual(differences, []);
  assert.deepEqual(vectors, [13, 13, 13, 13, -1, 13, -1, 13, 13, -1, 13, 13, 13]);
});

test('compatibility mode: DS/ES reloads from the LDT, null selectors, segment registers on the stack', { skip }, () => {
  const { differences, vectors } = compare([
    ['push es', 'pop ds', 'mov eax, dword ptr [ebx]'],
    ['mov ax, 4', 'mov ds, ax', 'mov eax, dword ptr [ebx]'],
    ['mov ax, 0', 'mov ds, ax', 'mov eax, dword ptr [ebx]'],
    ['mov ax, 3', 'mov es, ax', 'stosb'],
    ['mov ax, 0xf', 'mov es, ax'],
    ['mov ax, ds', 'mov ecx, es'],
    ['push 0', 'pop eax', 'push ds', 'pop ecx'],
    ['mov word ptr [ebx+4], 7', 'les ecx, [ebx]', 'mov dx, es'],
  ]);
  assert.deepEqual(differences, []);
  assert.deepEqual(vectors, [-1, -1, 13, 13, 13, -1, -1, -1]);
});

test('compatibility mode: BOUND checks a signed index against signed bounds (#BR outside)', { skip }, () => {
  const set = (size: string, lo: number, hi: number, w: number) => [`mov ${size} ptr [ebx], ${lo}`, `mov ${size} ptr [ebx+${w}], ${hi}`];
  const { differences, vectors } = compare([
    [...set('dword', -5, 5, 4), 'mov eax, -5', 'bound eax, qword ptr [ebx]'],
    [...set('dword', -5, 5, 4), 'mov eax, 5', 'bound eax, qword ptr [ebx]'],
    [...set('dword', -5, 5, 4), 'mov eax, 6', 'bound eax, qword ptr [ebx]'],
    [...set('dword', -5, 5, 4), 'mov eax, -6', 'bound eax, qword ptr [ebx]'],
    [...set('word', -16, -16, 2), 'mov ecx, 0x1fff0', 'bound cx, dword ptr [ebx]'],
    [...set('word', -16, -16, 2), 'mov cx, -15', 'bound cx, dword ptr [ebx]'],
    ['bound eax, qword ptr ds:0xfffa'],
  ]);
  assert.deepEqual(differences, []);
  assert.deepEqual(vectors, [-1, -1, 5, 5, -1, 5, 13]);
  // in 64-bit mode 0x62 is the EVEX prefix, not BOUND: this emulator has no EVEX, so #UD
  const r = new EmuRunner().run({ regs: regs(), rflags: 0n, data: IMAGE, code: new Uint8Array([0x62, 0x03]) });
  assert.equal(r.vector, 6);
});

test('compatibility mode: 16-bit addressing wraps, LOOPW and JCXZ count CX, PUSHA/POPA, POPF', { skip }, () => {
  const { differences } = compare([
    ['mov bx, 0xf000', 'mov si, 0x2000', 'mov eax, dword ptr [bx+si+0x10]', 'lea ecx, [bx+si-0x20]'],
    ['mov bp, 0x1000', 'mov ax, word ptr ds:[bp+di-2]', 'mov dx, word ptr ds:[bp+si]'],
    ['mov ecx, 0x30003', '2:', 'inc eax', 'loopw 2b'],
    ['mov ecx, 0x10000', 'jcxz 1f', 'inc eax', '1:', 'jecxz 2f', 'inc edx', '2:'],
    ['mov ecx, 0xffff0000', 'addr16 rep movsb'],
    ['mov esi, 0x1234fff0', 'mov ecx, 0x10', 'addr16 rep lodsw'],
    ['pushad', 'mov ebp, 5', 'popad'],
    ['pushaw', 'mov dword ptr [esp+8], 0x77777777', 'popaw'],
    ['popad'],
    ['push 0x217ed5', 'popfd', 'pushfd', 'pop eax'],
    ['pushw 0x7ed5', 'popfw', 'pushfw', 'pop cx'],
    ['inc eax', 'dec ecx', 'inc dx', 'dec bp', 'lahf', 'sahf'],
  ]);
  assert.deepEqual(differences, []);
});
