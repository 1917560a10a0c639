// package.json as VS Code reads it: the launch schema must describe what the adapter accepts
// (every default, every breakOnExits name, the offered configurations launch for real), the
// generated exit-reason enum must be current, and the language and grammar files must exist.
/* eslint-disable @typescript-eslint/no-explicit-any -- the test walks package.json's JSON as VS Code does, untyped */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LaunchError, parseLaunchArguments } from '../../debug-adapter/launch-config';
import { ManifestError, manifestText, withGeneratedLists } from '../../scripts/manifest';
import { resolveProgramPath } from '../../src/extension/launch-paths';
import { EXIT_REASONS } from '../../src/vmx/definitions';

const ROOT = path.resolve(__dirname, '../../..');
const manifestFile = path.join(ROOT, 'package.json');
const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Record<string, any>;
const vmx = (manifest.contributes.debuggers as Record<string, any>[]).find((d) => d.type === 'vmx') ?? {};
const props = vmx.configurationAttributes.launch.properties as Record<string, Record<string, any>>;

/** A launch configuration as the extension hands it to the adapter (paths resolved). */
function asAdapterSees(config: Record<string, unknown>): Record<string, unknown> {
  return typeof config.program === 'string' ? { ...config, program: resolveProgramPath(config.program, ROOT) } : config;
}

test('package.json carries the exit-reason enum the generator writes from definitions.ts (npm run manifest)', () => {
  assert.equal(manifestText(withGeneratedLists(manifest)), fs.readFileSync(manifestFile, 'utf8'));
  assert.deepEqual(props.breakOnExits.items.enum, EXIT_REASONS.map((r) => r.name));
  assert.equal(props.breakOnExits.items.enumDescriptions.length, EXIT_REASONS.length);
});

test('the generator changes the enum when the table changes and names a manifest without the place for it', () => {
  const stale = JSON.parse(JSON.stringify(manifest)) as Record<string, any>;
  stale.contributes.debuggers[0].configurationAttributes.launch.properties.breakOnExits.items.enum = ['CPUID'];
  assert.notEqual(manifestText(stale), manifestText(withGeneratedLists(stale)));
  assert.throws(() => withGeneratedLists({ name: 'x' }), (e: unknown) => e instanceof ManifestError && /contributes/.test(e.message));
  assert.throws(() => withGeneratedLists({ contributes: { debuggers: [{ type: 'other' }] } }), (e: unknown) => e instanceof ManifestError && /vmx/.test(e.message));
});

test('every exit reason in the enum is accepted by the adapter, and a name outside it is refused', () => {
  const program = path.join(ROOT, 'samples/hello/hello.elf');
  const names = props.breakOnExits.items.enum as string[];
  assert.deepEqual(parseLaunchArguments({ program, breakOnExits: names }).breakOnExits, names);
  assert.throws(() => parseLaunchArguments({ program, breakOnExits: ['NOT_AN_EXIT'] }), LaunchError);
});

test('every launch attribute has a description; the defaults together make a launch the adapter accepts', () => {
  for (const [name, schema] of Object.entries(props)) {
    assert.ok(typeof schema.description === 'string' && schema.description.length > 10, `${name} has no description`);
  }
  const defaults = Object.fromEntries(Object.entries(props).filter(([, s]) => s.default !== undefined).map(([n, s]) => [n, s.default]));
  assert.ok('program' in defaults && 'mode' in defaults && 'memoryMB' in defaults);
  const parsed = parseLaunchArguments(asAdapterSees(defaults));
  assert.equal(parsed.mode, props.mode.default);
  assert.deepEqual([...props.mode.enum].sort(), ['long', 'protected', 'real']);
  for (const mode of props.mode.enum as string[]) assert.equal(parseLaunchArguments(asAdapterSees({ ...defaults, mode })).mode, mode);
});

test('initialConfigurations launch the sample as they stand', () => {
  assert.ok(vmx.initialConfigurations.length >= 1);
  for (const c of vmx.initialConfigurations as Record<string, unknown>[]) {
    assert.equal(c.type, 'vmx');
    assert.equal(c.request, 'launch');
    assert.doesNotThrow(() => parseLaunchArguments(asAdapterSees(c)), `${String(c.name)} does not launch`);
  }
});

test('configuration snippets are vmx launches whose attributes the schema defines', () => {
  assert.ok(vmx.configurationSnippets.length >= 2);
  for (const s of vmx.configurationSnippets as { label: string; description: string; body: Record<string, unknown> }[]) {
    assert.ok(s.label.startsWith('VMX:') && s.description !== '');
    assert.equal(s.body.type, 'vmx');
    for (const key of Object.keys(s.body)) {
      assert.ok(['type', 'request', 'name'].includes(key) || key in props, `snippet "${s.label}": ${key} is not a launch attribute`);
    }
  }
});

test('activation, entry points, setting, languages, grammar and breakpoints point at real things', () => {
  assert.deepEqual(manifest.activationEvents, ['onDebugResolve:vmx', 'onDebugDynamicConfigurations:vmx', 'onDebugInitialConfigurations', 'onView:vmx-debug.exits', 'onView:vmx-debug.msrs']);
  assert.equal(manifest.main, './dist/extension.js');
  assert.equal(vmx.program, './dist/adapter.js');
  const setting = manifest.contributes.configuration.properties['vmx-debug.adapter'];
  assert.deepEqual(setting.enum, ['inline', 'process']);
  assert.equal(setting.default, 'inline');

  // GNU as (AT&T or .intel_syntax; ';' separates statements) and NASM (';' starts a comment) are two languages
  const [lang, nasm] = manifest.contributes.languages as Record<string, any>[];
  assert.equal(lang.id, 'x86-asm');
  assert.deepEqual(lang.extensions, ['.S', '.s', '.inc']);
  assert.equal(nasm.id, 'x86-nasm');
  assert.deepEqual(nasm.extensions, ['.asm', '.nasm']);
  const config = JSON.parse(fs.readFileSync(path.join(ROOT, lang.configuration), 'utf8'));
  assert.equal(config.comments.lineComment, '#');
  assert.deepEqual(config.comments.blockComment, ['/*', '*/']);
  assert.ok(config.brackets.some((b: string[]) => b[0] === '[' && b[1] === ']'));
  assert.equal(JSON.parse(fs.readFileSync(path.join(ROOT, nasm.configuration), 'utf8')).comments.lineComment, ';');

  const grammars = manifest.contributes.grammars as Record<string, any>[];
  assert.deepEqual(grammars.map((g) => [g.language, g.scopeName]), [['x86-asm', 'source.x86-asm'], ['x86-nasm', 'source.x86-nasm']]);
  for (const grammar of grammars) assert.equal(JSON.parse(fs.readFileSync(path.join(ROOT, grammar.path), 'utf8')).scopeName, grammar.scopeName);
  assert.deepEqual(manifest.contributes.breakpoints.map((b: { language: string }) => b.language).sort(), ['c', 'x86-asm', 'x86-nasm']);
  assert.deepEqual(vmx.languages, ['x86-asm', 'x86-nasm']);
  // every sample source is a file of the language
  const sources = fs.readdirSync(path.join(ROOT, 'samples'), { recursive: true, encoding: 'utf8' }).filter((f) => /\.(S|inc)$/.test(f));
  assert.ok(sources.length >= 4);
  for (const f of sources) assert.ok(lang.extensions.includes(path.extname(f)), f);
});

test('every VMX control the disableControls enum offers is accepted by the adapter; a control the processor requires is refused by name', () => {
  const program = path.join(ROOT, 'samples/hello/hello.elf');
  const names = props.disableControls.items.enum as string[];
  assert.ok(names.includes('RDTSC exiting') && names.includes('exit:load IA32_PAT') && !names.includes('load IA32_PAT'), 'ambiguous names only with their field');
  assert.equal(props.disableControls.items.enumDescriptions.length, names.length);
  const full = parseLaunchArguments({ program }).vmxCapabilities;
  assert.equal(full, undefined, 'no attribute: the processor as documented');
  for (const name of names) {
    const caps = parseLaunchArguments({ program, disableControls: [name] }).vmxCapabilities;
    assert.ok(caps !== undefined, name);
  }
  assert.throws(() => parseLaunchArguments({ program, disableControls: ['CR3-load exiting'] }), (e: unknown) => e instanceof LaunchError && /'CR3-load exiting': a control the processor requires/.test(e.message));
});

test('the walkthrough: every step shows a page in docs/walkthrough/ whose images are screenshots in docs/media/', () => {
  const [walkthrough] = manifest.contributes.walkthroughs as { id: string; steps: { id: string; media: { markdown?: string } }[] }[];
  assert.deepEqual(walkthrough.steps.map((s) => s.id), ['launch', 'step', 'break-on-cpuid', 'msrs']);
  for (const step of walkthrough.steps) {
    const page = step.media.markdown;
    assert.ok(page !== undefined && page.startsWith('docs/walkthrough/'), `${step.id}: ${page}`);
    const text = fs.readFileSync(path.join(ROOT, page), 'utf8');
    const images = [...text.matchAll(/!\[[^\]]+\]\(([^)]+)\)/g)].map((m) => m[1]);
    assert.ok(images.length >= 1, `${page} shows a screenshot`);
    for (const image of images) {
      assert.match(image, /^\.\.\/media\/[\w-]+\.png$/, `${page}: ${image} is in docs/media/`);
      const bytes: Buffer = fs.readFileSync(path.resolve(path.dirname(path.join(ROOT, page)), image));
      assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], `${image} is a PNG`);
    }
  }
});

test('the VM exits view: in Run and Debug while a vmx session is focused, its menus name contributed commands', () => {
  const views = manifest.contributes.views.debug as Record<string, any>[];
  const exits = views.find((v) => v.id === 'vmx-debug.exits');
  assert.ok(exits !== undefined, 'contributes.views.debug has vmx-debug.exits');
  assert.equal(exits.name, 'VM exits');
  assert.equal(exits.when, 'debugType == vmx');
  assert.ok(manifest.activationEvents.includes(`onView:${exits.id}`));
  const commands = new Set((manifest.contributes.commands as { command: string }[]).map((c) => c.command));
  const menus = manifest.contributes.menus as Record<string, { command: string; when: string }[]>;
  for (const m of [...menus['view/title'], ...menus.commandPalette]) assert.ok(commands.has(m.command), `${m.command} is not a contributed command`);
  assert.equal(menus['view/title'].filter((m) => m.when === 'view == vmx-debug.exits').length, 2, 'Break on every / no exit reason');
});
