// Makes the .vsix from the bundles in dist/ (npm run package builds them first) with @vscode/vsce.
// The bundles hold every dependency, so vsce is told not to collect node_modules; .vscodeignore
// keeps sources, tests and dev files out. Output: vmx-debug-<version>.vsix, or the path given.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { name, version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const out = path.resolve(process.argv[2] ?? path.join(root, `${name}-${version}.vsix`));
for (const bundle of ['dist/extension.js', 'dist/adapter.js']) {
  if (!fs.existsSync(path.join(root, bundle))) {
    console.error(`${bundle} is missing: run npm run bundle first (npm run package does both)`);
    process.exit(1);
  }
}
const vsce = createRequire(import.meta.url).resolve('@vscode/vsce/vsce');
const r = spawnSync(process.execPath, [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license',
  '--no-update-package-json', '--no-rewrite-relative-links', '-o', out], { cwd: root, stdio: 'inherit' });
process.exitCode = r.status ?? 1;
