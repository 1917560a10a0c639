// Bundles the extension and the debug adapter, each into one file under dist/, so the packaged
// extension loads without node_modules. `vscode` is the only module left outside: the editor
// supplies it to the extension host (the adapter never imports it).
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
const common = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: false, logLevel: 'warning', absWorkingDir: root };

Promise.all([
  esbuild.build({ ...common, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] }),
  esbuild.build({ ...common, entryPoints: ['debug-adapter/main.ts'], outfile: 'dist/adapter.js' }),
]).catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
