// `npm run package`'s product: the .vsix holds the manifest, the two bundles, the grammar files
// and the README, nothing else (unzip lists it); unpacked away from any node_modules, the
// bundled adapter debugs the hello sample over DAP and the bundled extension loads and
// registers its adapter with only `vscode` supplied from outside.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import { gnuToolsAvailable, readelfEntry } from '../support/gnu-tools';
import { HELLO, launchAndStop, registers, stopAdapter } from '../support/dap';

const ROOT = path.resolve(__dirname, '../../..');
const skip = gnuToolsAvailable() ? false : 'GNU binutils are not installed';
/** The environment without NODE_PATH, so nothing outside the unpacked extension can be found. */
const BARE_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_PATH'));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-debug-vsix-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const vsix = path.join(dir, 'vmx-debug.vsix');
const unpacked = path.join(dir, 'unpacked');

function node(args: string[]): string {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `node ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

test('npm run package makes a .vsix of the manifest, the bundles, the grammars, the README and the walkthrough only', { skip }, () => {
  node(['scripts/bundle.mjs']);
  node(['scripts/package-vsix.mjs', vsix]);
  const entries = execFileSync('unzip', ['-Z1', vsix], { encoding: 'utf8' }).split('\n').filter((l) => l !== '').sort();
  assert.deepEqual(entries, [
    '[Content_Types].xml', 'extension.vsixmanifest', 'extension/dist/adapter.js', 'extension/dist/extension.js', 'extension/package.json',
    'extension/readme.md', 'extension/syntaxes/x86-asm.language-configuration.json', 'extension/syntaxes/x86-asm.tmLanguage.json',
    'extension/syntaxes/x86-nasm.language-configuration.json', 'extension/syntaxes/x86-nasm.tmLanguage.json',
    // the walkthrough: its pages and the screenshots they show
    ...['cpuid', 'launch', 'msrs', 'step'].map((p) => `extension/docs/walkthrough/${p}.md`),
    ...['01-entry', '02-step', '03-cpuid', '04-msrs', '05-exits-view'].map((p) => `extension/docs/media/${p}.png`),
  ].sort());
  // every picture the walkthrough's pages and the README show is in it
  const pages = fs.readdirSync(path.join(ROOT, 'docs/walkthrough')).map((f) => path.join(ROOT, 'docs/walkthrough', f));
  for (const page of [...pages, path.join(ROOT, 'README.md')]) {
    for (const m of fs.readFileSync(page, 'utf8').matchAll(/!\[[^\]]*\]\(([^)]+\.png)\)/g)) {
      const packed = `extension/${path.relative(ROOT, path.resolve(path.dirname(page), m[1])).split(path.sep).join('/')}`;
      assert.ok(entries.includes(packed), `${path.relative(ROOT, page)} shows ${m[1]}: ${packed} is in the .vsix`);
    }
  }
  execFileSync('unzip', ['-q', vsix, '-d', unpacked]);
  const packed = JSON.parse(fs.readFileSync(path.join(unpacked, 'extension/package.json'), 'utf8')) as { main: string; version: string };
  assert.equal(packed.main, './dist/extension.js');
  assert.ok(fs.existsSync(path.join(unpacked, 'extension', packed.main)));
});

test('the bundled adapter, unpacked without node_modules, stops the hello sample at its ELF entry', { skip }, async () => {
  const adapter = path.join(unpacked, 'extension/dist/adapter.js');
  assert.ok(fs.existsSync(adapter), 'run the packaging test first (same file)');
  const dc = new DebugClient(process.execPath, adapter, 'vmx', { env: BARE_ENV, cwd: dir });
  dc.defaultTimeout = 10_000;
  await dc.start();
  try {
    const stop = await launchAndStop(dc, { program: HELLO, stopOnEntry: true });
    assert.equal(stop.body.reason, 'entry');
    assert.equal((await registers(dc)).get('rip'), readelfEntry(HELLO));
  } finally {
    await stopAdapter(dc);
  }
});

test('the bundled extension loads with only `vscode` from outside and registers the inline adapter, the providers and its commands', { skip }, () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'test/support/vscode-stub.mjs'), path.join(unpacked, 'extension')],
    { cwd: dir, env: BARE_ENV, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as { registrations: unknown[]; subscriptions: number; descriptor: string; initialize: { command: string; success: boolean; filters: string[] } };
  assert.deepEqual(seen.registrations.slice(0, 3), [
    ['registerDebugAdapterDescriptorFactory', 'vmx', null],
    ['registerDebugConfigurationProvider', 'vmx', 1],
    ['registerDebugConfigurationProvider', 'vmx', 2],
  ]);
  // the hex toggle adds its launch attribute to every vmx configuration
  assert.ok(seen.registrations.some((r) => String(r) === String(['registerDebugConfigurationProvider', 'vmx', null])));
  // every command and view package.json contributes is registered when the extension activates
  const contributes = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { contributes: { commands: { command: string }[]; views: Record<string, { id: string }[]> } }).contributes;
  for (const c of contributes.commands) assert.ok(seen.registrations.some((r) => String(r) === String(['registerCommand', c.command, null])), `${c.command} is registered`);
  for (const v of Object.values(contributes.views).flat()) assert.ok(seen.registrations.some((r) => String(r) === String(['createTreeView', v.id, null])), `view ${v.id} is created`);
  // each registration is disposed with the extension
  assert.ok(seen.subscriptions >= seen.registrations.length, `${seen.subscriptions} subscriptions for ${seen.registrations.length} registrations`);
  assert.equal(seen.descriptor, 'DebugAdapterInlineImplementation');
  assert.equal(seen.initialize.command, 'initialize');
  assert.equal(seen.initialize.success, true);
  assert.ok(seen.initialize.filters.includes('CPUID') && seen.initialize.filters.includes('IO_INSTRUCTION'), seen.initialize.filters.join());
});
