// The `vmx-debug` command line: the built bin run as a child process, its real output checked
// against the engine's tables, plus the argument parser and runCli in-process (a stand-in
// `run` command shows that value options and rest arguments are ready for the next commands).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CommandSpec, parseInvocation, ParsedArgs, UsageError } from '../../src/cli/args';
import { runCli } from '../../src/cli/cli';
import { Command } from '../../src/cli/command';
import { formatTable, Output } from '../../src/cli/output';
import { numberRanges, TABLE_NAMES } from '../../src/cli/tables';
import { parseUnsigned } from '../../src/cli/numbers';
import { ALL_MSRS } from '../../src/msr';
import { CONTROL_SETS } from '../../src/vmx/controls';
import { EXIT_REASONS, VM_INSTRUCTION_ERRORS } from '../../src/vmx/definitions';
import { VMCS_FIELDS } from '../../src/vmx/vmcs-fields';

const MAIN = path.join(__dirname, '../../src/cli/main.js');
const PACKAGE_JSON = path.join(__dirname, '../../../package.json');

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(...args: string[]): Run {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs and expects success with nothing on stderr. */
function ok(...args: string[]): string {
  const r = cli(...args);
  assert.equal(r.stderr, '', `stderr of vmx-debug ${args.join(' ')}`);
  assert.equal(r.status, 0, `exit status of vmx-debug ${args.join(' ')}`);
  return r.stdout;
}

type JsonLine = Record<string, unknown>;

function jsonLines(stdout: string): JsonLine[] {
  const lines = stdout.split('\n');
  assert.equal(lines.pop(), '', 'output ends with a newline');
  return lines.map((l, i) => {
    try {
      return JSON.parse(l) as JsonLine;
    } catch {
      throw new assert.AssertionError({ message: `line ${i + 1} is not JSON: ${l}` });
    }
  });
}

const STACK_LINE = /^\s+at .+[(:]\d+/m;

// ---- build -------------------------------------------------------------------------------

test('the built bin starts with a node shebang', () => {
  assert.match(fs.readFileSync(MAIN, 'utf8').split('\n')[0], /^#!\/usr\/bin\/env node$/);
});

// ---- tables --------------------------------------------------------------------------------

test('tables prints every table, aligned, by default', () => {
  const out = ok('tables');
  assert.equal(ok('tables', 'all'), out);
  assert.match(out, /^\s+10 {2}CPUID\s+Guest executed CPUID$/m);
  assert.match(out, /^\s+48 {2}EPT_VIOLATION\s+EPT violation/m);
  assert.match(out, /^\s+0x681e\s+natural\s+guest\s+GUEST_RIP\s+Guest RIP$/m);
  assert.match(out, /^\s+0xc0000080\s+IA32_EFER\s+Extended feature enables$/m);
  assert.match(out, /fields: SCE\[0\] LME\[8\] LMA\[10\] NXE\[11\]$/m);
  assert.match(out, /fields: revisionId\[30:0\] regionSize\[44:32\]/);
  assert.match(out, /^\s+28\s+INVALID_INVEPT_INVVPID_OPERAND\s+Invalid operand to INVEPT\/INVVPID$/m);
  assert.match(out, /^\s+3\s+HardException\s+0, 5-21\s+8, 10-14, 17, 21\s+Hardware exception$/m);
  assert.match(out, /^\s+14\s+#PF\s+HardException\s+yes$/m);
  assert.match(out, /vectors 22-31 are reserved and map to no type/);
  assert.match(out, /^\s+7\s+unrestricted guest\s+The guest may run unpaged/m);
  for (const set of CONTROL_SETS) assert.ok(out.includes(`(${set.vmcsField})`), set.vmcsField);
  assert.doesNotMatch(out, / +$/m, 'no trailing spaces');
});

test('tables NAME prints only that table', () => {
  const exits = ok('tables', 'exit-reasons');
  const rows = exits.split('\n').filter((l) => /^\s+\d+ {2}[A-Z]/.test(l));
  assert.equal(rows.length, EXIT_REASONS.length);
  assert.doesNotMatch(exits, /GUEST_RIP/);
  const vmcs = ok('tables', 'vmcs');
  assert.equal(vmcs.split('\n').filter((l) => /^\s+0x[0-9a-f]{4} /.test(l)).length, VMCS_FIELDS.length);
  assert.doesNotMatch(vmcs, /EPT_VIOLATION\s+EPT violation/);
  for (const m of ALL_MSRS) assert.ok(ok('tables', 'msrs').includes(m.name), m.name);
  const errors = ok('tables', 'errors');
  for (const e of VM_INSTRUCTION_ERRORS) assert.ok(errors.includes(e.text), e.text);
});

test('tables --json prints one parseable object per line, 64-bit numbers as 0x strings', () => {
  const records = jsonLines(ok('tables', '--json'));
  const count = (table: string) => records.filter((r) => r.table === table).length;
  assert.equal(count('exit-reasons'), EXIT_REASONS.length);
  assert.equal(count('vmcs'), VMCS_FIELDS.length);
  assert.equal(count('msrs'), ALL_MSRS.length);
  assert.equal(count('errors'), VM_INSTRUCTION_ERRORS.length);
  assert.equal(count('interruption-types'), 8);
  assert.equal(count('controls'), CONTROL_SETS.reduce((n, s) => n + s.bits.length, 0));
  assert.deepEqual(new Set(records.map((r) => r.table)), new Set(TABLE_NAMES));

  assert.deepEqual(records.find((r) => r.name === 'CPUID'),
    { table: 'exit-reasons', number: 10, name: 'CPUID', description: 'Guest executed CPUID' });
  assert.equal(records.find((r) => r.table === 'exit-reasons' && r.number === 48)?.name, 'EPT_VIOLATION');
  const rip = records.find((r) => r.table === 'vmcs' && r.name === 'GUEST_RIP');
  assert.equal(rip?.encoding, '0x681e');
  assert.equal(rip?.width, 'natural');
  const efer = records.find((r) => r.table === 'msrs' && r.name === 'IA32_EFER');
  assert.equal(efer?.address, '0xc0000080');
  assert.deepEqual((efer?.fields as JsonLine[]).map((f) => `${String(f.name)}[${String(f.bits)}]`),
    ['SCE[0]', 'LME[8]', 'LMA[10]', 'NXE[11]']);
  for (const r of records.filter((x) => x.table === 'msrs')) assert.match(String(r.address), /^0x[0-9a-f]+$/);
  const hard = records.find((r) => r.table === 'interruption-types' && r.name === 'HardException');
  assert.deepEqual(hard?.errorCodeVectors, [8, 10, 11, 12, 13, 14, 17, 21]);
});

test('each table name works alone, in text and JSON', () => {
  for (const name of TABLE_NAMES) {
    assert.notEqual(ok('tables', name).length, 0, name);
    const records = jsonLines(ok('tables', name, '--json'));
    assert.ok(records.length > 0, name);
    assert.ok(records.every((r) => r.table === name), name);
  }
  // Options may come before the argument too.
  assert.equal(ok('tables', '--json', 'errors'), ok('tables', 'errors', '--json'));
});

// ---- decode-msr ----------------------------------------------------------------------------

test('decode-msr IA32_EFER 0xd01 names the four flags', () => {
  const out = ok('decode-msr', 'IA32_EFER', '0xd01');
  assert.match(out, /^IA32_EFER \(0xc0000080\) = 0x0000000000000d01$/m);
  for (const f of ['SCE', 'LME', 'LMA', 'NXE']) assert.match(out, new RegExp(`^\\s+${f}=1\\s`, 'm'), f);
  // By address, in decimal, and in any case: the same decoding.
  assert.equal(ok('decode-msr', '0xc0000080', '3329'), out);
  assert.equal(ok('decode-msr', 'ia32_efer', '0xD01'), out);
  assert.match(ok('decode-msr', 'IA32_EFER', '0x901'), /^\s+LMA=0\s/m);
  assert.match(ok('decode-msr', 'IA32_EFER', '0x10d01'), /set bits no field describes: 0x10000/);

  const [json] = jsonLines(ok('decode-msr', 'IA32_EFER', '0xd01', '--json'));
  assert.equal(json.msr, 'IA32_EFER');
  assert.equal(json.address, '0xc0000080');
  assert.equal(json.value, '0xd01');
  assert.deepEqual((json.fields as JsonLine[]).map((f) => [f.name, f.value]), [['SCE', 1], ['LME', 1], ['LMA', 1], ['NXE', 1]]);
});

test('decode-msr IA32_VMX_BASIC splits revision, region size and memory type', () => {
  const out = ok('decode-msr', 'IA32_VMX_BASIC', '0xda040000000004');
  assert.match(out, /^\s+revisionId=4\s+30:0\s/m);
  assert.match(out, /^\s+regionSize=0x400 \(1024\)\s+44:32\s/m);
  assert.match(out, /^\s+memType=6 \(WB\)\s+53:50\s/m);
  assert.match(out, /^\s+insOutsInfo=1\s/m);
  assert.match(out, /^\s+trueControls=1\s/m);
  assert.match(out, /^\s+physAddrWidth32=0\s/m);

  const [json] = jsonLines(ok('decode-msr', '0x480', '0xda_0400_0000_0004', '--json'));
  assert.equal(json.value, '0xda040000000004');
  const memType = (json.fields as JsonLine[]).find((f) => f.name === 'memType');
  assert.deepEqual([memType?.value, memType?.meaning], [6, 'WB']);
});

test('decode-msr of an MSR without fields, and of a 64-bit field', () => {
  assert.match(ok('decode-msr', 'IA32_LSTAR', '0xffffffff81000000'), /describes no fields of IA32_LSTAR/);
  const [json] = jsonLines(ok('decode-msr', 'IA32_LSTAR', '0xffffffff81000000', '--json'));
  assert.deepEqual(json.fields, []);
  assert.equal(json.value, '0xffffffff81000000');
});

// ---- exit-reason -----------------------------------------------------------------------------

test('exit-reason by number or name', () => {
  assert.equal(ok('exit-reason', '10'), 'CPUID(10): Guest executed CPUID\n');
  assert.match(ok('exit-reason', '0x30'), /^EPT_VIOLATION\(48\): /);
  assert.match(ok('exit-reason', 'ept_violation'), /^EPT_VIOLATION\(48\): /);
  assert.match(ok('exit-reason', 'VMXON'), /^VMON\(27\): /); // Linux spelling
  assert.match(ok('exit-reason', '90'), /^UNKNOWN\(90\): /);
  assert.deepEqual(jsonLines(ok('exit-reason', '90', '--json')),
    [{ number: 90, name: 'UNKNOWN(90)', known: false, description: null }]);
  assert.deepEqual(jsonLines(ok('exit-reason', 'cpuid', '--json')),
    [{ number: 10, name: 'CPUID', known: true, description: 'Guest executed CPUID' }]);
});

test('exit-reason reads a whole exit-reason field with its flags', () => {
  const out = ok('exit-reason', '0x80000021');
  assert.match(out, /^INVALID_GUEST_STATE\(33\): /);
  assert.match(out, /flags: VM-entry failure$/m);
  const [json] = jsonLines(ok('exit-reason', '0x80000021', '--json'));
  assert.deepEqual(json.flags, ['VM-entry failure']);
  assert.equal(json.field, '0x80000021');
});

// ---- bad input -------------------------------------------------------------------------------

test('bad input: a message naming the bad word on stderr, exit status 2, no stack', () => {
  const cases: Array<[string[], string]> = [
    [[], 'no command given'],
    [['frobnicate'], "'frobnicate'"],
    [['tabels'], "did you mean 'tables'"],
    [['tables', 'bogus'], "unknown table 'bogus'"],
    [['tables', 'vmcs', 'extra'], "'extra'"],
    [['tables', '--jsno'], "'--jsno'"],
    [['tables', '--json=yes'], "'--json' takes no value"],
    [['--json', 'tables'], "'--json' goes after the command name"],
    [['--frob'], "'--frob'"],
    [['decode-msr'], '<msr>'],
    [['decode-msr', 'IA32_EFER'], '<value>'],
    [['decode-msr', 'IA32_EFR', '1'], "unknown MSR name 'IA32_EFR'"],
    [['decode-msr', '0x1234', '1'], "unknown MSR address '0x1234'"],
    [['decode-msr', 'IA32_EFER', '0xzz'], "'0xzz'"],
    [['decode-msr', 'IA32_EFER', '12a'], "'12a'"],
    [['decode-msr', 'IA32_EFER', '-1'], "'-1'"],
    [['decode-msr', 'IA32_EFER', '0x1_0000_0000_0000_0000'], 'does not fit in 64 bits'],
    [['decode-msr', '0xc0000080x', '1'], "'0xc0000080x'"],
    [['exit-reason'], '<reason>'],
    [['exit-reason', 'NOT_A_REASON'], "unknown exit reason name 'NOT_A_REASON'"],
    [['exit-reason', '1O'], "'1O'"],
    [['exit-reason', '0x1_0000_0000'], 'does not fit in 32 bits'],
    [['help', 'frobnicate'], "'frobnicate'"],
  ];
  for (const [args, expected] of cases) {
    const r = cli(...args);
    const what = `vmx-debug ${args.join(' ')}`;
    assert.equal(r.status, 2, `${what}: exit status`);
    assert.equal(r.stdout, '', `${what}: stdout`);
    assert.ok(r.stderr.startsWith('vmx-debug: '), `${what}: ${r.stderr}`);
    assert.ok(r.stderr.includes(expected), `${what}: expected ${expected} in ${r.stderr}`);
    assert.doesNotMatch(r.stderr, STACK_LINE, what);
    assert.ok(r.stderr.split('\n').length <= 3, `${what}: short message`);
  }
});

// ---- help and version ------------------------------------------------------------------------

test('--version prints package.json version', () => {
  const pkg = JSON.parse(fs.readFileSync(PACKAGE_JSON, 'utf8')) as { version: string };
  assert.equal(ok('--version'), `${pkg.version}\n`);
  assert.equal(ok('-V'), `${pkg.version}\n`);
});

test('--help and help print usage listing every command', () => {
  const usage = ok('--help');
  assert.equal(ok('help'), usage);
  assert.equal(ok('-h'), usage);
  assert.match(usage, /^Usage:$/m);
  for (const name of ['tables', 'decode-msr', 'exit-reason', 'help']) assert.match(usage, new RegExp(`^  ${name} `, 'm'), name);

  const tablesUsage = ok('help', 'tables');
  assert.match(tablesUsage, /^Usage: vmx-debug tables \[options\] \[table\]$/m);
  assert.match(tablesUsage, /--json/);
  for (const name of TABLE_NAMES) assert.ok(tablesUsage.includes(name), name);
  assert.equal(ok('tables', '--help'), tablesUsage);
  assert.equal(ok('--help', 'tables'), tablesUsage);
  assert.match(ok('help', 'decode-msr'), /^Usage: vmx-debug decode-msr \[options\] <msr> <value>$/m);
});

// ---- in-process: parser, layout, runCli ------------------------------------------------------

const RUN_SPEC: CommandSpec = {
  name: 'run',
  summary: 'Run a guest (stand-in for the parser test)',
  positionals: [
    { name: 'program', description: 'guest image' },
    { name: 'guest-args', description: 'words for the guest', rest: true },
  ],
  options: [
    { name: 'max-steps', short: 'n', value: 'N', description: 'stop after N instructions' },
    { name: 'trace', description: 'trace every instruction' },
  ],
};

function parseRun(...argv: string[]): ParsedArgs {
  const inv = parseInvocation(argv, [RUN_SPEC]);
  assert.equal(inv.kind, 'command');
  return (inv as { args: ParsedArgs }).args;
}

test('parser: value options, flags, rest arguments and --', () => {
  const a = parseRun('run', '--max-steps', '100', 'guest.bin', '--trace', 'x', 'y');
  assert.equal(a.positional('program'), 'guest.bin');
  assert.deepEqual(a.rest('guest-args'), ['x', 'y']);
  assert.equal(a.option('max-steps'), '100');
  assert.equal(a.flag('trace'), true);

  const b = parseRun('run', 'guest.bin', '-n', '5', '--', '--trace', '-n');
  assert.equal(b.option('max-steps'), '5');
  assert.equal(b.flag('trace'), false);
  assert.deepEqual(b.rest('guest-args'), ['--trace', '-n']);
  assert.equal(parseRun('run', '--max-steps=7', 'g').option('max-steps'), '7');
  assert.deepEqual(parseRun('run', 'g').rest('guest-args'), []);

  const usage = (argv: string[], message: RegExp) => assert.throws(() => parseInvocation(argv, [RUN_SPEC]),
    (e: unknown) => e instanceof UsageError && message.test(e.message));
  usage(['run'], /missing argument <program>/);
  usage(['run', 'g', '--max-steps'], /'--max-steps' needs a value/);
  usage(['run', 'g', '-n', '1', '-n', '2'], /given more than once/);
  usage(['run', 'g', '--max-step', '1'], /unknown option '--max-step'.*did you mean '--max-steps'/);
  // Asking for an undeclared name is a bug in the command, not a usage error.
  assert.throws(() => a.flag('nope'), (e: unknown) => !(e instanceof UsageError));
});

test('parser helpers: numbers, ranges, table layout', () => {
  assert.equal(parseUnsigned('0xffff_ffff_ffff_ffff', 64, 'v'), (1n << 64n) - 1n);
  assert.equal(parseUnsigned('3329', 64, 'v'), 0xd01n);
  for (const bad of ['', '0x', '1_', '_1', '0x_1', ' 1', '+1', '1e3', '0b1', '0o7', '1.0']) {
    assert.throws(() => parseUnsigned(bad, 64, 'v'), UsageError, JSON.stringify(bad));
  }
  assert.equal(numberRanges([0, 5, 6, 7, 9]), '0, 5-7, 9');
  assert.equal(numberRanges([]), '-');
  assert.deepEqual(formatTable([{ header: 'N', align: 'right' }, { header: 'NAME' }],
    [{ cells: ['1', 'a'] }, { cells: ['10', 'bb'], notes: ['note'] }]),
  ['   N  NAME', '   1  a', '  10  bb', '      note']);
});

test('runCli: async commands, JSON routing, internal errors as one line with status 1', async () => {
  let stdout = '';
  let stderr = '';
  const io = { stdout: (t: string) => { stdout += t; }, stderr: (t: string) => { stderr += t; } };
  const echo: Command = {
    spec: { name: 'echo', summary: 'echo', positionals: [{ name: 'word', description: 'w' }],
      options: [{ name: 'json', description: 'json' }] },
    async run(args: ParsedArgs, out: Output) {
      await Promise.resolve();
      if (out.json) out.record({ word: args.positional('word'), big: 1n << 63n });
      else out.line(args.positional('word'));
      return 0;
    },
  };
  const broken: Command = {
    spec: { name: 'broken', summary: 'throws', positionals: [], options: [] },
    run() { throw new Error('boom'); },
  };
  const commands = [echo, broken];
  assert.equal(await runCli(['echo', 'hi'], io, { commands }), 0);
  assert.equal(await runCli(['echo', 'hi', '--json'], io, { commands }), 0);
  assert.equal(stdout, 'hi\n{"word":"hi","big":"0x8000000000000000"}\n');
  assert.equal(await runCli(['broken'], io, { commands }), 1);
  assert.equal(stderr, 'vmx-debug: internal error: boom\n');
});
