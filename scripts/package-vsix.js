// Makes the .vsix from the bundles in dist/ (npm run package builds them first) with @vscode/vsce.
// The bundles hold every dependency, so vsce is told not to collect node_modules; .vscodeignore
// keeps sources, tests and dev files out. Output: vmx-debug-<version>.vsix, or the path given.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const { name, version } = require(path.join(root, 'package.json'));
const out = path.resolve(process.argv[2] ?? path.join(root, `${name}-${version}.vsix`));
const vsce = require.resolve('@vscode/vsce/vsce');
const r = spawnSync(process.execPath, [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--no-git-tag-version', '--no-update-package-json', '-o', out],
  { cwd: root, stdio: 'inherit' });
process.exitCode = r.status ?? 1;
