#!/usr/bin/env node
// A stand-in for the VS Code executable that @vscode/test-electron's runTests() spawns (its
// vscodeExecutablePath): no desktop VS Code can be downloaded here, so the Electron-style command
// line it builds is carried out with the VS Code server from code-server and headless chromium.
//   --extensionDevelopmentPath=DIR  --extensionTestsPath=FILE   the extension and its suite (required)
//   --user-data-dir=DIR             the server's data (settings, logs); --extensions-dir=DIR its extensions
//   FOLDER                          the workspace to open (first non-option argument; launchArgs)
// Other Electron/VS Code flags (--no-sandbox, --disable-updates ...) mean nothing here and are
// ignored. Exit status: 0 when the suite passed, 1 when it failed or gave no result in time,
// 2 for a bad command line. The server is stopped by its PID however the run ends.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runSuiteInWorkbench } from './drive-workbench.mjs';
import { ServerError, serverDirs, startServer } from './lib/server.mjs';

class UsageError extends Error {}

function parse(argv) {
  const opts = { folders: [] };
  const names = { extensionDevelopmentPath: 'dev', extensionTestsPath: 'tests', 'user-data-dir': 'userData', 'extensions-dir': 'extensions' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (m === null) { opts.folders.push(a); continue; }
    const key = names[m[1]];
    if (key === undefined) continue;
    const value = m[2] ?? argv[++i];
    if (value === undefined || value === '') throw new UsageError(`--${m[1]} needs a value`);
    if (opts[key] !== undefined) throw new UsageError(`--${m[1]} given twice (one extension under development at a time)`);
    opts[key] = value;
  }
  if (opts.dev === undefined || opts.tests === undefined || opts.tests === 'undefined') {
    throw new UsageError('need --extensionDevelopmentPath=DIR and --extensionTestsPath=FILE (as runTests() passes them)');
  }
  for (const p of [opts.dev, opts.tests, ...opts.folders]) if (!fs.existsSync(p)) throw new UsageError(`${p} does not exist`);
  return opts;
}

let opts;
try {
  opts = parse(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`vscode-stand-in: ${e.message}`);
  process.exit(2);
}

const base = opts.userData ?? fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-debug-vscode-'));
const dirs = serverDirs(base);
if (opts.extensions !== undefined) dirs.extensions = opts.extensions;
let server;
try {
  server = await startServer(dirs);
} catch (e) {
  if (!(e instanceof ServerError)) throw e;
  console.error(`vscode-stand-in: ${e.message}`);
  process.exit(1);
}
let code;
try {
  code = await runSuiteInWorkbench({
    serverUrl: server.url, workspace: opts.folders[0], extensionDevelopmentPath: opts.dev, extensionTestsPath: opts.tests,
    timeoutS: Number(process.env.TIMEOUT_S) || 180,
  });
} finally {
  await server.stop();
}
console.log(code === 'timeout' ? 'extension tests: no result before the timeout' : `extension tests: exit code ${code}`);
if (code !== 0) console.log(`server log: ${server.log}`);
process.exit(code === 0 ? 0 : 1);
