// npm run test:vscode, after packaging: (1) the extension-host suite through @vscode/test-electron's
// runTests(), whose vscodeExecutablePath is our stand-in (vscode-stand-in.mjs: the VS Code server
// from code-server and headless chromium, since no desktop VS Code can be downloaded here), on
// the .vsix's extension unpacked as extensionDevelopmentPath and a workspace holding a copy of
// samples/; then (2) the UI tests (ui/run-ui.mjs) with the .vsix installed as a user installs it.
//   node test/vscode/run-tests.mjs [VSIX]      env: VMX_VSCODE_DIR (default .vscode-test/)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { ROOT, VSCODE_TEST_DIR } from './lib/server.mjs';

const require = createRequire(import.meta.url);
const { runTests } = require('@vscode/test-electron');
const { name, version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const vsix = path.resolve(process.argv[2] ?? path.join(ROOT, `${name}-${version}.vsix`));
const suite = path.join(ROOT, 'out/test/vscode/suite/index.js');
for (const f of [suite, vsix]) {
  if (!fs.existsSync(f)) { console.error(`${f} is missing: run npm run test:vscode (it builds and packages first)`); process.exit(2); }
}

// A workspace of its own (the suite changes settings there) and the extension exactly as it
// would be installed: extension/ in the zip.
const run = path.join(VSCODE_TEST_DIR, 'run');
fs.rmSync(run, { recursive: true, force: true });
fs.mkdirSync(path.join(run, 'ws'), { recursive: true });
fs.cpSync(path.join(ROOT, 'samples'), path.join(run, 'ws/samples'), { recursive: true });
const unzip = spawnSync('unzip', ['-q', vsix, '-d', path.join(run, 'vsix')], { stdio: 'inherit' });
if (unzip.status !== 0) { console.error(`unzip ${vsix} failed`); process.exit(1); }

let failed = false;
try {
  await runTests({
    vscodeExecutablePath: path.join(ROOT, 'test/vscode/vscode-stand-in.mjs'),
    extensionDevelopmentPath: path.join(run, 'vsix/extension'),
    extensionTestsPath: suite,
    launchArgs: [path.join(run, 'ws'), `--user-data-dir=${path.join(run, 'server')}`, `--extensions-dir=${path.join(run, 'server/exts')}`],
  });
} catch (e) {
  console.error(`extension-host suite: ${e instanceof Error ? e.message : String(e)}`);
  failed = true;
}

const ui = spawnSync(process.execPath, [path.join(ROOT, 'test/vscode/ui/run-ui.mjs'), vsix], { stdio: 'inherit', timeout: 600_000 });
if (ui.status !== 0) failed = true;
process.exit(failed ? 1 : 0);
