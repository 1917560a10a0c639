// The launch attributes cpuid, msrs and disableControls through the protocol, against the adapter
// process: a guest assembled by GNU as reads CPUID and MSRs and makes a VMCALL, where the session
// stops (breakOnExits); its registers must hold what the attributes chose. Bad values are launch
// errors naming the attribute and the bad part, and the adapter answers the next request.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { gnuToolsAvailable } from '../support/gnu-tools';
import { HELLO, launchAndStop, registers, startAdapter, stopAdapter, VSCODE_INITIALIZE } from '../support/dap';
import { GUEST_ORIGIN, REPORT_GUEST, writeGuest } from '../support/cpu-config-guest';

const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
const T = { skip, timeout: 30_000 };

test('launch with cpuid and msrs: at the guest\'s VMCALL its registers hold the chosen CPUID values and MSRs', T, async () => {
  const { dir, file } = writeGuest(REPORT_GUEST);
  const dc = await startAdapter();
  try {
    const stopped = await launchAndStop(dc, {
      program: file, mode: 'long', loadAddress: `0x${GUEST_ORIGIN.toString(16)}`, breakOnExits: ['VMCALL'],
      cpuid: { '0x1': { ecx: '0x80000001' }, '0x7.0': { ebx: 0x12345 }, '0x40000000': { eax: '0x40000001' } },
      msrs: { IA32_TSC_AUX: '0x5', '0xc0000102': '0xffff800000001000', IA32_PAT: '0x0606060606060606', IA32_FS_BASE: 4096 },
    });
    assert.equal(stopped.body.reason, 'exception');
    assert.match(stopped.body.text ?? '', /VMCALL/);
    const r = await registers(dc);
    assert.equal(r.get('r8'), 0x80000001n, 'CPUID.1:ECX exactly as given');
    assert.equal(r.get('r10'), 0x12345n);
    assert.equal(r.get('r11'), 0x40000001n);
    assert.equal(r.get('r12'), 5n);
    assert.equal(r.get('r13'), 5n, 'RDTSCP returns IA32_TSC_AUX');
    assert.equal(r.get('r14'), 0xffff800000001000n);
    assert.equal(r.get('r15'), 0x0606060606060606n);
    assert.equal(r.get('rsi'), 4096n);
    // the debugger's MSR view agrees with what the guest read
    assert.equal(BigInt((await dc.evaluateRequest({ expression: 'msr(IA32_TSC_AUX)', context: 'watch' })).body.result), 5n);
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** The allowed-1 half of a control capability MSR (bits 63:32, SDM Vol. 3D, A.3), read through evaluate. */
async function allowed1(dc: Awaited<ReturnType<typeof startAdapter>>, msr: string): Promise<bigint> {
  return BigInt((await dc.evaluateRequest({ expression: `msr(${msr})`, context: 'watch' })).body.result) >> 32n;
}

test('launch with disableControls: the capability MSRs no longer allow those controls, as with --disable-controls', T, async () => {
  const RDTSC_EXITING = 1n << 12n, WBINVD_EXITING = 1n << 6n; // SDM Vol. 3C, Tables 25-6 and 25-7
  for (const disable of [undefined, ['RDTSC exiting', 'secondary:WBINVD exiting']]) {
    const dc = await startAdapter();
    try {
      await launchAndStop(dc, { program: HELLO, stopOnEntry: true, ...(disable === undefined ? {} : { disableControls: disable }) });
      const primary = await allowed1(dc, 'IA32_VMX_TRUE_PROCBASED_CTLS');
      const secondary = await allowed1(dc, 'IA32_VMX_PROCBASED_CTLS2');
      assert.equal(primary & RDTSC_EXITING, disable === undefined ? RDTSC_EXITING : 0n, `RDTSC exiting with ${JSON.stringify(disable)}`);
      assert.equal(secondary & WBINVD_EXITING, disable === undefined ? WBINVD_EXITING : 0n, `WBINVD exiting with ${JSON.stringify(disable)}`);
    } finally {
      await stopAdapter(dc);
    }
  }
});

test('bad cpuid, msrs and disableControls are launch errors naming the attribute and the bad part; the adapter lives on', T, async () => {
  const { dir, file } = writeGuest(REPORT_GUEST);
  const dc = await startAdapter();
  try {
    await dc.initializeRequest(VSCODE_INITIALIZE);
    const base = { program: file, mode: 'long', loadAddress: `0x${GUEST_ORIGIN.toString(16)}` };
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ cpuid: 'leaf 1' }, /launch attribute 'cpuid': expected an object keyed by leaf/],
      [{ cpuid: { '0x7': { ebx: 0 } } }, /launch attribute 'cpuid': leaf 0x7 has subleaves/],
      [{ cpuid: { 'one': { ebx: 0 } } }, /launch attribute 'cpuid': leaf "one" is not a leaf number/],
      [{ cpuid: { '0x1': { ecx: 'many' } } }, /launch attribute 'cpuid': leaf 0x1 ecx: "many" is not a number/],
      [{ cpuid: { '0x1': { ecx: { set: '0x20' } } } }, /launch attribute 'cpuid': leaf 0x1 ecx sets bit 5 \(VMX\)/],
      [{ msrs: { IA32_NOTHING: 1 } }, /launch attribute 'msrs': "IA32_NOTHING" is not the name of an MSR/],
      [{ msrs: { IA32_TSC_AUX: [1] } }, /launch attribute 'msrs': IA32_TSC_AUX: \[1\] is not a number/],
      [{ msrs: { IA32_TSC_AUX: '0x100000000' } }, /launch attribute 'msrs': WRMSR would raise #GP: write of IA32_TSC_AUX \(0xc0000103\) rejected: reserved bits set/],
      [{ msrs: { IA32_EFER: 0 } }, /launch attribute 'msrs': IA32_EFER = 0x0 is refused: EFER.LMA must equal "IA-32e mode guest" \(1\)/],
      [{ disableControls: 'RDTSC exiting' }, /launch attribute 'disableControls': expected a list of VMX control names/],
      [{ disableControls: ['warp drive'] }, /launch attribute 'disableControls': no VMX control named 'warp drive'/],
      [{ disableControls: ['load IA32_PAT'] }, /launch attribute 'disableControls': 'load IA32_PAT' names a control in several fields/],
      [{ disableControls: ['unrestricted guest'] }, /launch attribute 'disableControls': this processor cannot run the guest as x86_vcpu sets it up: cannot set 'unrestricted guest'/],
    ];
    for (const [extra, message] of bad) {
      await assert.rejects(dc.launchRequest({ ...base, ...extra } as DebugProtocol.LaunchRequestArguments), message);
      const threads = await dc.threadsRequest();
      assert.equal(threads.body.threads.length, 1, 'the adapter still answers');
    }
  } finally {
    await stopAdapter(dc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
