// Guest-physical (`phys:0x…`) and host-physical (`host:0x…`) memory references through the
// protocol, against the adapter process on the committed hello sample, and loadedSources.
// Oracles: nm and objdump on hello.elf (where boot.inc puts its page tables and what it writes
// into them, the loaded bytes), the SDM's EPT format (Vol. 3C, 29.3.2) for walking the tables
// from host memory, and the VMCS region's revision identifier (25.2).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { gnuToolsAvailable, readelfProgramHeaders, run } from '../support/gnu-tools';
import { normalize } from '../support/objdump';
import {
  elfBytes, HELLO, HELLO_DIR, helloListing64, launchAndStop, scopeVariables, startAdapter, stopAdapter, symbol, topFrame, VSCODE_INITIALIZE,
} from '../support/dap';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 60_000 };
const hex = (v: bigint): string => `0x${v.toString(16)}`;
const MEMORY_MB = 4;

async function read(dc: DebugClient, memoryReference: string, count: number, offset?: number): Promise<{ bytes: number[]; unreadable: number; address: string }> {
  const r = await dc.send('readMemory', { memoryReference, count, offset }) as DebugProtocol.ReadMemoryResponse;
  const body = r.body!;
  return { bytes: [...Buffer.from(body.data ?? '', 'base64')], unreadable: body.unreadableBytes ?? 0, address: body.address };
}

const u64 = (b: number[]): bigint => b.reduce((acc, x, k) => acc | (BigInt(x) << BigInt(8 * k)), 0n);

async function groupVariables(dc: DebugClient, scope: string, group: string): Promise<Map<string, DebugProtocol.Variable>> {
  const g = (await scopeVariables(dc, scope)).get(group);
  assert.ok(g !== undefined, `${group} under ${scope}`);
  const vars = await dc.variablesRequest({ variablesReference: g.variablesReference });
  return new Map(vars.body.variables.map((v) => [v.name, v]));
}

/** hello stopped at main (64-bit, paging on), with MEMORY_MB of RAM. */
async function atMain(dc: DebugClient): Promise<void> {
  await launchAndStop(dc, { program: HELLO, memoryMB: MEMORY_MB }, () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'main' }] }));
  assert.equal(BigInt((await topFrame(dc)).instructionPointerReference!), symbol('main'));
}

test('CR3 opens guest-physical memory: the PML4 boot.inc built, and hello\'s bytes where its segments were loaded', T, async () => {
  const dc = await startAdapter();
  try {
    await atMain(dc);
    const segs = await scopeVariables(dc, 'Segments & control');
    // boot.inc: mov eax, offset pml4; mov cr3, eax
    assert.equal(segs.get('cr3')?.memoryReference, `phys:${hex(symbol('pml4'))}`);
    assert.match(segs.get('cr2')?.memoryReference ?? '', /^0x/, 'CR2 holds a linear address');
    // boot.inc: mov dword ptr [pml4], offset pdpt + PTE_PRESENT_WRITABLE (the tables were cleared
    // first); the processor has since set the entry's accessed flag, bit 5 (SDM Vol. 3A, 4.8)
    const pml4e = await read(dc, segs.get('cr3')!.memoryReference!, 8);
    assert.equal(u64(pml4e.bytes) & ~0x20n, symbol('pdpt') + symbol('PTE_PRESENT_WRITABLE'));
    assert.equal(pml4e.unreadable, 0);

    // the ELF's load segment: physical address = virtual (readelf), so main's bytes are at phys:main
    const load = readelfProgramHeaders(HELLO).find((p) => p.type === 'LOAD' && p.vaddr <= symbol('main') && symbol('main') < p.vaddr + p.filesz);
    assert.ok(load !== undefined);
    const main = symbol('main') - load.vaddr + load.paddr;
    // (objdump -s lines are 16-byte aligned: compare from the line that holds main)
    const line = (symbol('main') & ~0xfn) - load.vaddr + load.paddr;
    const code = await read(dc, `phys:${hex(line)}`, 32);
    assert.deepEqual(code.bytes, elfBytes(symbol('main') & ~0xfn, 32));
    const viaOffset = await read(dc, `phys:${hex(line - 4n)}`, 32, 4);
    assert.deepEqual(viaOffset.bytes, code.bytes, 'offset is added to the reference');

    // disassemble from a physical reference decodes what objdump lists at main (without symbols:
    // the image's symbols are guest-linear addresses)
    const dis = await dc.disassembleRequest({ memoryReference: `phys:${hex(main)}`, instructionCount: 3 });
    const expected = helloListing64().filter((e) => e.address >= symbol('main')).slice(0, 3);
    assert.deepEqual(dis.body!.instructions.map((i) => [BigInt(i.address), i.instructionBytes, normalize(i.instruction).split(' ')[0]]),
      expected.map((e) => [e.address - load.vaddr + load.paddr, e.bytes.map((b) => b.toString(16).padStart(2, '0')).join(' '), normalize(e.text).split(' ')[0]]));
  } finally {
    await stopAdapter(dc);
  }
});

test('guest-physical reads past RAM or in a device hole answer unreadableBytes; writes need allowPartial', T, async () => {
  const dc = await startAdapter();
  try {
    await atMain(dc);
    const end = BigInt(MEMORY_MB) << 20n; // the RAM the launch asked for
    const tail = await read(dc, `phys:${hex(end - 8n)}`, 24);
    assert.equal(tail.bytes.length, 8);
    assert.equal(tail.unreadable, 16);
    // the HPET's page (IA-PC HPET spec: 0xFED00000) is a device, not RAM: nothing is read from it
    const hpet = await read(dc, 'phys:0xfed00000', 16);
    assert.deepEqual([hpet.bytes.length, hpet.unreadable], [0, 16]);

    await assert.rejects(dc.send('writeMemory', { memoryReference: `phys:${hex(end - 1n)}`, data: Buffer.from('xy').toString('base64') }),
      new RegExp(`cannot write 2 bytes at guest-physical ${hex(end - 1n)}: ${hex(end)} is not mapped by EPT to RAM \\(nothing was written\\)`));
    const partial = await dc.send('writeMemory', { memoryReference: `phys:${hex(end - 1n)}`, data: Buffer.from('xy').toString('base64'), allowPartial: true }) as DebugProtocol.WriteMemoryResponse;
    assert.equal(partial.body?.bytesWritten, 1);
    assert.deepEqual((await read(dc, `phys:${hex(end - 1n)}`, 1)).bytes, ['x'.charCodeAt(0)]);

    // a physical write is what the guest then reads (hello maps its first 2 MiB one to one)
    await dc.send('writeMemory', { memoryReference: `phys:${hex(symbol('message'))}`, data: Buffer.from('J').toString('base64') });
    const r = await dc.evaluateRequest({ expression: `byte [${symbol('message')}]`, context: 'watch' });
    assert.equal(BigInt(r.body.result), BigInt('J'.charCodeAt(0)));
    await assert.rejects(dc.send('readMemory', { memoryReference: 'phys:zz', count: 4 }), /'phys:zz' is not an address/);
  } finally {
    await stopAdapter(dc);
  }
});

test('VMCS pointers open host-physical memory: EPT_POINTER walks to hello\'s bytes, the VMCS region starts with the revision id', T, async () => {
  const dc = await startAdapter();
  try {
    // at an exit the guest-state fields are current: serial_init's first OUT, in 64-bit code with paging on
    await launchAndStop(dc, { program: HELLO, memoryMB: MEMORY_MB }, () => dc.setExceptionBreakpointsRequest({ filters: ['IO_INSTRUCTION'] }));
    const controls = await groupVariables(dc, 'VMCS', 'Controls');
    const eptp = BigInt(controls.get('EPT_POINTER')!.value);
    const PAGE = ((1n << 52n) - 1n) & ~0xfffn; // bits 51:12 hold a table's address (SDM Vol. 3C, 29.3.2)
    assert.equal(controls.get('EPT_POINTER')?.memoryReference, `host:${hex(eptp & PAGE)}`);
    for (const name of ['IO_BITMAP_A', 'IO_BITMAP_B', 'MSR_BITMAP']) {
      assert.equal(controls.get(name)?.memoryReference, `host:${hex(BigInt(controls.get(name)!.value))}`, name);
    }
    // every I/O port exits (the machine's design): bitmap A is all ones
    const bitmapA = await read(dc, controls.get('IO_BITMAP_A')!.memoryReference!, 4096);
    assert.ok(bitmapA.bytes.length === 4096 && bitmapA.bytes.every((b) => b === 0xff));

    // walk EPT for the guest-physical address of `message` by the SDM's rules, reading host memory
    const gpa = symbol('message') & ~0xfn; // (16-byte aligned, as objdump -s prints lines)
    let table = eptp & PAGE;
    let host: bigint | undefined;
    for (const [level, shift] of [[4, 39n], [3, 30n], [2, 21n], [1, 12n]] as const) {
      const entry = u64((await read(dc, `host:${hex(table + 8n * ((gpa >> shift) & 511n))}`, 8)).bytes);
      assert.notEqual(entry & 7n, 0n, `EPT level ${level} entry present`);
      const large = level !== 4 && level !== 1 && (entry & 0x80n) !== 0n;
      if (level === 1 || large) {
        const size = 1n << shift;
        host = (entry & PAGE & ~(size - 1n)) | (gpa & (size - 1n));
        break;
      }
      table = entry & PAGE;
    }
    assert.ok(host !== undefined);
    assert.deepEqual((await read(dc, `host:${hex(host)}`, 16)).bytes, elfBytes(gpa, 16));
    assert.deepEqual((await read(dc, `phys:${hex(gpa)}`, 16)).bytes, elfBytes(gpa, 16));

    // VMCS region: bits 30:0 of its first word are IA32_VMX_BASIC[30:0] (SDM Vol. 3C, 25.2)
    const vmcs = await scopeVariables(dc, 'VMCS');
    const region = vmcs.get('current VMCS')?.memoryReference;
    assert.match(region ?? '', /^host:0x[0-9a-f]+$/);
    const basic = BigInt((await dc.evaluateRequest({ expression: 'msr(IA32_VMX_BASIC)', context: 'watch' })).body.result);
    assert.equal(u64((await read(dc, region!, 4)).bytes) & 0x7fffffffn, basic & 0x7fffffffn);
    assert.match(vmcs.get('VMXON region')?.memoryReference ?? '', /^host:0x[0-9a-f]+$/);
    // linear fields keep linear references; the link pointer FFFFFFFF_FFFFFFFFH points nowhere
    const guest = await groupVariables(dc, 'VMCS', 'Guest state');
    assert.equal(guest.get('GUEST_RIP')?.memoryReference, hex(BigInt(guest.get('GUEST_RIP')!.value)));
    assert.equal(guest.get('VMCS_LINK_POINTER')?.memoryReference, undefined);
    assert.equal(guest.get('GUEST_CR3')?.memoryReference, `phys:${hex(symbol('pml4'))}`);
  } finally {
    await stopAdapter(dc);
  }
});

test('loadedSources lists the files of hello\'s DWARF line table, resolved as stack frames resolve them', T, async () => {
  const dc = await startAdapter();
  try {
    const init = await dc.initializeRequest(VSCODE_INITIALIZE);
    assert.equal(init.body?.supportsLoadedSourcesRequest, true);
    await dc.launchRequest({ program: HELLO } as DebugProtocol.LaunchRequestArguments);
    const r = await dc.send('loadedSources', {}) as DebugProtocol.LoadedSourcesResponse;
    // objdump --dwarf=decodedline heads each file's rows with its name, relative to the CU's directory
    const names = new Set<string>();
    for (const line of run('objdump', ['-w', '--dwarf=decodedline', HELLO]).split('\n')) {
      const m = /^(?:CU: )?(\S+?):(?:\[\+\+\])?$/.exec(line);
      if (m !== null && m[1] !== 'section') names.add(m[1]);
    }
    const expected = [...names].map((n) => path.resolve(HELLO_DIR, n)).sort();
    assert.ok(expected.length >= 2, `objdump names ${[...names].join(', ')}`);
    const got = r.body.sources.map((s) => s.path!).sort();
    assert.deepEqual(got, expected);
    for (const s of r.body.sources) {
      assert.ok(fs.existsSync(s.path!), `${s.path} exists`);
      assert.equal(s.name, path.basename(s.path!));
    }
  } finally {
    await stopAdapter(dc);
  }
});
