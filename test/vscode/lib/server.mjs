// The VS Code server inside code-server's npm package (VS Code 1.100.3), started privately on a
// free loopback port for one test run, and stopped by its PID. Every wait is bounded. Shared by
// the runTests() stand-in (extension-host suite) and the UI tests.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Where install-code-server.sh put code-server and playwright-core. */
export const VSCODE_TEST_DIR = process.env.VMX_VSCODE_DIR || path.join(ROOT, '.vscode-test');
const SERVER_MAIN = path.join(VSCODE_TEST_DIR, 'cs/node_modules/code-server/lib/vscode/out/server-main.js');
const START_TIMEOUT_MS = 30_000;

/** User settings that keep the workbench quiet and offline: no welcome page, tips, updates or AI panels. */
const QUIET_SETTINGS = {
  'workbench.startupEditor': 'none', 'workbench.tips.enabled': false, 'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off', 'update.mode': 'none', 'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false, 'workbench.enableExperiments': false, 'chat.disableAIFeatures': true,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'git.openRepositoryInParentFolders': 'never',   // test workspaces live inside the repository
};

export class ServerError extends Error {}

/** Code-server writes config, logs and heartbeats under XDG dirs even for --version: keep them in the test dir. */
export function serverEnv() {
  return { ...process.env, XDG_CONFIG_HOME: path.join(VSCODE_TEST_DIR, 'xdg/config'), XDG_DATA_HOME: path.join(VSCODE_TEST_DIR, 'xdg/data') };
}

function requireServer() {
  if (!fs.existsSync(SERVER_MAIN)) throw new ServerError(`${SERVER_MAIN} is missing: run test/vscode/install-code-server.sh first`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** The directories one server uses, all under `base`; settings.json written with QUIET_SETTINGS (+ `settings`). */
export function serverDirs(base, settings = {}) {
  const dirs = { base, serverData: base, userData: path.join(base, 'data'), extensions: path.join(base, 'exts'), log: path.join(base, 'server.log') };
  fs.mkdirSync(path.join(dirs.userData, 'User'), { recursive: true });
  fs.writeFileSync(path.join(dirs.userData, 'User/settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...settings }, null, 2));
  return dirs;
}

/** Installs a .vsix into the extensions dir with the server's own CLI, as `code --install-extension` would. */
export function installExtension(vsix, dirs) {
  requireServer();
  const r = spawnSync(process.execPath, [SERVER_MAIN, '--install-extension', vsix, '--extensions-dir', dirs.extensions,
    '--server-data-dir', dirs.serverData, '--user-data-dir', dirs.userData, '--accept-server-license-terms'],
  { env: serverEnv(), encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0 || !/successfully installed/.test(r.stdout)) {
    throw new ServerError(`installing ${vsix} failed (status ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  }
}

/**
 * Starts the server on a free port; resolves when it answers HTTP. --enable-smoke-test-driver
 * makes the built product honour the URL payload (extensionDevelopmentPath/extensionTestsPath).
 */
export async function startServer(dirs) {
  requireServer();
  const port = await freePort();
  const log = fs.openSync(dirs.log, 'w');
  const child = spawn(process.execPath, [SERVER_MAIN, '--host', '127.0.0.1', '--port', String(port), '--without-connection-token',
    '--accept-server-license-terms', '--enable-smoke-test-driver', '--telemetry-level', 'off', '--disable-workspace-trust',
    '--server-data-dir', dirs.serverData, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions],
  { env: serverEnv(), stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited = false;
  child.once('exit', () => { exited = true; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited) throw new ServerError(`the VS Code server exited at start; log ${dirs.log}:\n${fs.readFileSync(dirs.log, 'utf8').slice(-2000)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status < 500) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new ServerError(`the VS Code server did not answer within ${START_TIMEOUT_MS} ms; log ${dirs.log}`); }
    await new Promise((r) => setTimeout(r, 300));
  }
  return {
    url, pid: child.pid, log: dirs.log,
    /** SIGTERM by PID, then SIGKILL if it has not exited after 5 s. */
    async stop() {
      if (exited) return;
      const gone = new Promise((r) => child.once('exit', r));
      const kill = (signal) => { try { process.kill(child.pid, signal); } catch { /* exited meanwhile */ } };
      kill('SIGTERM');
      const timer = setTimeout(() => { if (!exited) kill('SIGKILL'); }, 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}
