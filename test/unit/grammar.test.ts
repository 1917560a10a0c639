// The x86-asm TextMate grammar, as VS Code applies it: scope assertions in test/grammar/ checked
// by vscode-tmgrammar-test (the grammar found through package.json's contributes.grammars), on
// lines taken verbatim from the samples, on an AT&T file that GNU as assembles, and on a NASM
// file. And over the whole samples: the labels the grammar finds are the symbols nm lists.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { gnuToolsAvailable, nmSymbols, run, workDir } from '../support/gnu-tools';

const ROOT = path.resolve(__dirname, '../../..');
const FIXTURES = path.join(ROOT, 'test/grammar');
const GRAMMAR = path.join(ROOT, 'syntaxes/x86-asm.tmLanguage.json');
const toolPackage = require.resolve('vscode-tmgrammar-test/package.json');
const TOOL = path.join(path.dirname(toolPackage), 'dist/unit.js');
const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';

const VMX_INSTRUCTIONS = ['vmxon', 'vmxoff', 'vmclear', 'vmptrld', 'vmptrst', 'vmread', 'vmwrite', 'vmlaunch', 'vmresume', 'vmcall', 'vmfunc', 'invept', 'invvpid'];

function grammarTool(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [TOOL, '--compact', ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('vscode-tmgrammar-test: every scope assertion in test/grammar holds', () => {
  const fixtures = fs.readdirSync(FIXTURES).filter((f) => f.includes('.test.'));
  assert.deepEqual(fixtures.sort(), ['att-vmx.test.S', 'boot-inc.test.S', 'exit-tour.test.S', 'nasm.test.asm']);
  const r = grammarTool(['test/grammar/*.test.*']);
  assert.equal(r.status, 0, r.out);
  for (const f of fixtures) assert.match(r.out, new RegExp(`${f.replace(/\./g, '\\.')} run successfu`));
});

test('the assertions can fail: a grammar that forgets vmfunc and the debug registers fails them', () => {
  const broken = JSON.parse(fs.readFileSync(GRAMMAR, 'utf8').replace(/\|vmfunc/g, '').replace(/dr\[0-7\]/g, 'dr[8-9]'));
  const dir = fs.mkdtempSync(path.join(workDir(), 'broken-'));
  fs.writeFileSync(path.join(dir, 'broken.tmLanguage.json'), JSON.stringify(broken));
  // a manifest like ours whose grammar is the broken copy
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { contributes: { grammars: { path: string }[] } };
  manifest.contributes.grammars[0].path = './broken.tmLanguage.json';
  for (const g of manifest.contributes.grammars.slice(1)) fs.cpSync(path.join(ROOT, g.path), path.join(dir, g.path));   // the NASM grammar includes it
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest));
  const r = grammarTool(['--config', path.join(dir, 'package.json'), 'test/grammar/att-vmx.test.S']);
  assert.notEqual(r.status, 0);
  assert.match(r.out, /vmx/);
  assert.match(r.out, /register\.debug/);
});

test('the fixtures named after a sample hold only lines that are in that sample', () => {
  for (const f of ['boot-inc.test.S', 'exit-tour.test.S']) {
    const lines = fs.readFileSync(path.join(FIXTURES, f), 'utf8').split('\n');
    const sample = /"source\.x86-asm" "([^"]+)"/.exec(lines[0])?.[1];
    assert.ok(sample !== undefined, `${f}: no sample named in the header`);
    const real = new Set(fs.readFileSync(path.join(ROOT, sample), 'utf8').split('\n'));
    const code = lines.slice(1).filter((l) => !l.startsWith('#') && l.trim() !== '');
    assert.ok(code.length >= 10);
    for (const l of code) assert.ok(real.has(l), `${f}: "${l}" is not a line of ${sample}`);
  }
});

test('the AT&T fixture is real code: gcc assembles it and objdump shows every VMX instruction', { skip }, () => {
  const obj = path.join(workDir(), 'att-vmx.o');
  run('gcc', ['-c', '-o', obj, path.join(FIXTURES, 'att-vmx.test.S')]);
  const listing = run('objdump', ['-d', obj]);
  const mnemonics = new Set(listing.split('\n').map((l) => /^\s+[0-9a-f]+:\t(?:[0-9a-f]{2} )+\s*\t(\S+)/.exec(l)?.[1]).filter((m) => m !== undefined));
  for (const m of VMX_INSTRUCTIONS) assert.ok(mnemonics.has(m), `objdump shows no ${m}`);
});

test('";" separates statements in GNU as, as the grammar scopes it: objdump shows both halves of each such line of the fixture', { skip }, () => {
  const obj = path.join(workDir(), 'att-vmx-sep.o');
  run('gcc', ['-c', '-o', obj, path.join(FIXTURES, 'att-vmx.test.S')]);
  const listing = run('objdump', ['-d', '--disassemble=sep_demo', obj]);
  const mnemonics = listing.split('\n').map((l) => /^\s+[0-9a-f]+:\t(?:[0-9a-f]{2} )+\s*\t(\S+)/.exec(l)?.[1]).filter((m) => m !== undefined);
  // movl %eax,%ebx; incl %ecx / cpuid;vmcall / (Intel) mov eax,ebx ; inc ecx / ret
  assert.deepEqual(mnemonics, ['mov', 'inc', 'cpuid', 'vmcall', 'mov', 'inc', 'ret']);
});

// The parts of vscode-textmate and vscode-oniguruma used here (they come with the grammar tool).
interface Token { startIndex: number; endIndex: number; scopes: string[] }
interface Grammar { tokenizeLine(line: string, stack: unknown): { tokens: Token[]; ruleStack: unknown } }
interface TextMate {
  INITIAL: unknown;
  Registry: new (options: object) => { loadGrammar(scope: string): Promise<Grammar | null> };
  parseRawGrammar(text: string, file: string): object;
}
interface Oniguruma {
  loadWASM(data: ArrayBuffer): Promise<void>;
  OnigScanner: new (patterns: string[]) => object;
  OnigString: new (text: string) => object;
}

/** The grammar loaded as VS Code loads it (vscode-textmate with the oniguruma WASM). */
async function loadGrammar(): Promise<{ grammar: Grammar; INITIAL: unknown }> {
  const req = createRequire(toolPackage);   // the engine the grammar tool itself uses
  const textmate = req('vscode-textmate') as TextMate;
  const onig = req('vscode-oniguruma') as Oniguruma;
  const wasm = fs.readFileSync(path.join(path.dirname(req.resolve('vscode-oniguruma')), 'onig.wasm'));
  await onig.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({ createOnigScanner: (s: string[]) => new onig.OnigScanner(s), createOnigString: (s: string) => new onig.OnigString(s) }),
    loadGrammar: async () => textmate.parseRawGrammar(fs.readFileSync(GRAMMAR, 'utf8'), GRAMMAR),
  });
  const grammar = await registry.loadGrammar('source.x86-asm');
  assert.ok(grammar);
  return { grammar, INITIAL: textmate.INITIAL };
}

/** Names the grammar scopes as label definitions in `files`. */
async function labelsInSources(files: string[]): Promise<Set<string>> {
  const { grammar, INITIAL } = await loadGrammar();
  const labels = new Set<string>();
  for (const file of files) {
    let stack = INITIAL;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const r = grammar.tokenizeLine(line, stack);
      stack = r.ruleStack;
      for (const t of r.tokens) if (t.scopes.includes('entity.name.function.label.x86-asm')) labels.add(line.slice(t.startIndex, t.endIndex));
    }
  }
  return labels;
}

for (const sample of ['hello', 'exit-tour']) {
  test(`${sample}: the labels the grammar finds in the sources are exactly the symbols nm lists for the ELF`, { skip }, async () => {
    const files = [`samples/${sample}/${sample}.S`, 'samples/common/boot.inc', 'samples/common/serial.inc'].map((f) => path.join(ROOT, f));
    // assembler-local labels (.L…, and macro labels with \@) never reach the symbol table
    const found = [...await labelsInSources(files)].filter((l) => !l.startsWith('.L')).sort();
    // absolute symbols (a/A) are .set constants and linker-script values, not labels
    const nm = nmSymbols(path.join(ROOT, `samples/${sample}/${sample}.elf`)).filter((s) => s.address !== undefined && !/[aA]/.test(s.letter)).map((s) => s.name).sort();
    assert.ok(nm.length > 10);
    assert.deepEqual(found, nm);
  });
}
