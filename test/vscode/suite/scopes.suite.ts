// Every scope of a stopped guest through the real `vscode` API, checked against what the hello
// guest must have computed when it reaches its first OUT (serial_init: `out dx, al` to COM1+1
// with AL = 0) in 64-bit mode: the addresses and constants come from the ELF (nm, objdump) and
// from samples/common/boot.inc's choices (its GDT selector, page tables, EFER.LME and CR0.PG),
// with the SDM's rules for what the processor then shows (EFER.LMA, exit reason 30).
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { endSession, HostTest, launchAndStop, nmAddress, workspaceRoot } from './session-helpers';

interface Var { name: string; value: string; variablesReference: number }

async function children(session: vscode.DebugSession, ref: number): Promise<Map<string, Var>> {
  const r = await session.customRequest('variables', { variablesReference: ref }) as { variables: Var[] };
  return new Map(r.variables.map((v) => [v.name, v]));
}

/** The first `out` instruction at or after `from` in the ELF, as objdump disassembles it. */
function firstOut(elf: string, from: bigint): bigint {
  const text = execFileSync('objdump', ['-d', '-M', 'intel', `--start-address=0x${from.toString(16)}`, elf], { encoding: 'utf8' });
  const line = text.split('\n').find((l) => /^\s*[0-9a-f]+:\s.*\tout\s/.test(l));
  assert.ok(line, `objdump shows no out after 0x${from.toString(16)}`);
  return BigInt(`0x${line.trim().split(':')[0]}`);
}

const num = (v: Var | undefined): bigint => {
  assert.ok(v, 'variable missing');
  return BigInt(v.value.split(' ')[0]);
};

export const tests: HostTest[] = [
  ['at hello\'s first I/O exit every scope shows what the guest computed', async () => {
    const elf = path.join(workspaceRoot(), 'samples/hello/hello.elf');
    const { stop, registers } = await launchAndStop({
      type: 'vmx', request: 'launch', name: 'hello (scopes)', program: elf, breakOnExits: ['IO_INSTRUCTION'],
    });
    const s = stop.session;
    try {
      assert.equal(stop.body.reason, 'exception');
      const outAt = firstOut(elf, nmAddress(elf, 'serial_init'));
      assert.equal(BigInt(registers.get('rip') ?? 'NaN'), outAt, 'stopped before the first OUT is handled');
      assert.equal(BigInt(registers.get('rdx') ?? 'NaN') & 0xffffn, 0x3f8n + 1n, 'DX = COM1 + 1 (IER)');
      assert.equal(BigInt(registers.get('rax') ?? 'NaN') & 0xffn, 0n, 'AL = 0');

      const trace = await s.customRequest('stackTrace', { threadId: 1 }) as { stackFrames: { id: number }[] };
      const scopes = await s.customRequest('scopes', { frameId: trace.stackFrames[0].id }) as { scopes: { name: string; variablesReference: number }[] };
      assert.deepEqual(scopes.scopes.map((x) => x.name), ['Registers', 'Segments & control', 'MSRs', 'VMCS', 'Last VM exit', 'Host stack frame']);
      const scope = async (name: string) => children(s, scopes.scopes.find((x) => x.name === name)?.variablesReference ?? -1);

      // Segments & control: boot.inc's 64-bit code selector, its PML4, PAE, PE and PG, and EFER.LME with LMA (SDM 10.8.5)
      const seg = await scope('Segments & control');
      assert.equal(num(seg.get('cs')), nmAddress(elf, 'SEL_CODE64'));
      assert.equal(num(seg.get('cr3')) & ~0xfffn, nmAddress(elf, 'pml4'));
      const cr0 = num(seg.get('cr0'));
      assert.equal(cr0 & (nmAddress(elf, 'CR0_PE') | nmAddress(elf, 'CR0_PG')), nmAddress(elf, 'CR0_PE') | nmAddress(elf, 'CR0_PG'));
      assert.equal(num(seg.get('cr4')) & nmAddress(elf, 'CR4_PAE'), nmAddress(elf, 'CR4_PAE'));
      const efer = nmAddress(elf, 'EFER_LME') | (1n << 10n);
      assert.equal(num(seg.get('efer')), efer);

      // MSRs: IA32_EFER in its group, the same value
      const msrGroups = await scope('MSRs');
      let eferMsr: Var | undefined;
      for (const g of msrGroups.values()) eferMsr ??= (await children(s, g.variablesReference)).get('IA32_EFER');
      assert.equal(num(eferMsr), efer);

      // VMCS: GUEST_RIP at the OUT, VM_EXIT_REASON 30 (SDM Appendix C)
      const vmcs = await scope('VMCS');
      const guest = await children(s, vmcs.get('Guest state')?.variablesReference ?? -1);
      assert.equal(num(guest.get('GUEST_RIP')), outAt);
      const exitInfo = await children(s, vmcs.get('Exit information')?.variablesReference ?? -1);
      assert.equal(num(exitInfo.get('VM_EXIT_REASON')) & 0xffffn, 30n);

      // Last VM exit: the reason and the qualification decoded for it (port 0x3f9, OUT, 1 byte: SDM Table 28-5)
      const last = await scope('Last VM exit');
      assert.equal(last.get('reason')?.value, 'IO_INSTRUCTION');
      assert.equal(last.get('number')?.value, '30');
      const q = num(last.get('qualification'));
      assert.equal(q >> 16n, 0x3f9n);
      assert.equal(q & 7n, 0n, 'size 1 byte');
      assert.equal((q >> 3n) & 1n, 0n, 'OUT');
      assert.match(last.get('decoded')?.value ?? '', /0x3f9/);

      // Host stack frame: the GeneralRegisters image holds the guest's RDX and RAX
      const host = await scope('Host stack frame');
      assert.equal(num(host.get('rdx')), BigInt(registers.get('rdx') ?? 'NaN'));
      assert.equal(num(host.get('rax')), BigInt(registers.get('rax') ?? 'NaN'));
    } finally {
      await endSession(s);
    }
  }],
];
