// How the extension turns a configuration's program into the file the adapter opens, without
// the editor: ${workspaceFolder}, relative paths, and which files are ELF (the real samples).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isElfHeader, resolveProgramPath, sampleProgramIn, SAMPLE_PROGRAM } from '../../src/extension/launch-paths';

const ROOT = path.resolve(__dirname, '../../..');

test('${workspaceFolder}, its old spelling ${workspaceRoot}, and relative paths resolve against the folder', () => {
  assert.equal(resolveProgramPath('${workspaceFolder}/samples/hello/hello.elf', '/ws'), '/ws/samples/hello/hello.elf');
  assert.equal(resolveProgramPath('${workspaceRoot}/a.elf', '/ws'), '/ws/a.elf');
  assert.equal(resolveProgramPath('samples/../guest.elf', '/ws'), '/ws/guest.elf');
  assert.equal(resolveProgramPath('/abs/guest.elf', '/ws'), '/abs/guest.elf');
  assert.equal(resolveProgramPath('guest.elf', undefined), 'guest.elf');
  assert.equal(resolveProgramPath('${workspaceFolder}/x.elf', undefined), '${workspaceFolder}/x.elf');
});

test('the default program is the hello sample, and it exists', () => {
  assert.ok(fs.statSync(resolveProgramPath(SAMPLE_PROGRAM, ROOT)).isFile());
});

test('the default program is found from the repository folder and from samples/ opened as the folder', () => {
  assert.equal(sampleProgramIn(ROOT), path.join(ROOT, 'samples/hello/hello.elf'));
  assert.equal(sampleProgramIn(path.join(ROOT, 'samples')), path.join(ROOT, 'samples/hello/hello.elf'));
  assert.equal(sampleProgramIn('/nonexistent'), '/nonexistent/samples/hello/hello.elf', 'neither exists: the repository layout is named');
});

test('samples/.vscode/launch.json: F5 on samples/ debugs hello, stopped at its entry; every program it names exists', () => {
  const samples = path.join(ROOT, 'samples');
  const launch = JSON.parse(fs.readFileSync(path.join(samples, '.vscode/launch.json'), 'utf8')) as { configurations: Record<string, unknown>[] };
  const [first] = launch.configurations;
  assert.equal(first.type, 'vmx');
  assert.equal(first.stopOnEntry, true);
  assert.equal(resolveProgramPath(String(first.program), samples), path.join(samples, 'hello/hello.elf'));
  for (const c of launch.configurations) {
    assert.ok(isElfHeader(fs.readFileSync(resolveProgramPath(String(c.program), samples)).subarray(0, 4)), `${String(c.name)}: ${String(c.program)}`);
  }
});

test('ELF detection: the samples\' .elf files are ELF, their flat .bin images and sources are not', () => {
  const head = (f: string) => fs.readFileSync(path.join(ROOT, f)).subarray(0, 16);
  assert.equal(isElfHeader(head('samples/hello/hello.elf')), true);
  assert.equal(isElfHeader(head('samples/exit-tour/exit-tour.elf')), true);
  assert.equal(isElfHeader(head('samples/hello/hello.bin')), false);
  assert.equal(isElfHeader(head('samples/hello/hello.S')), false);
  assert.equal(isElfHeader(new Uint8Array([0x7f, 0x45, 0x4c])), false);
});
