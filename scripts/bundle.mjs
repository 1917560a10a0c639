// Bundles the extension and the debug adapter, each into one file under dist/, so the packaged
// extension loads without node_modules. `vscode` is the only module left outside: the editor
// supplies it to the extension host (the adapter never imports it).
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// resolved the CommonJS way, so NODE_PATH is honoured as for every other tool here
const esbuild = createRequire(import.meta.url)('esbuild');
const common = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: false, logLevel: 'warning', absWorkingDir: root };

try {
  await Promise.all([
    esbuild.build({ ...common, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] }),
    esbuild.build({ ...common, entryPoints: ['debug-adapter/main.ts'], outfile: 'dist/adapter.js' }),
  ]);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
}
