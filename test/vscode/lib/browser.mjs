// Debian's chromium, headless, driven by the pinned playwright-core that install-code-server.sh
// put under .vscode-test/tools; a throw-away profile per run (launch() refuses --user-data-dir,
// so a persistent context on a fresh directory is used instead).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { VSCODE_TEST_DIR } from './server.mjs';

/** The workbench's own chatter that says nothing about the tests. */
export const NOISE = /Failed to load resource|Manifest fetch|bad HTTP response|%c INFO|getaddrinfo|ENOTFOUND|vsda|\[Service|Resolv|Creating|Updating|ChatSession|AccountPolicy|same-origin iframe|allow-same-origin|Overwriting extension/;

function playwright() {
  const tools = path.join(VSCODE_TEST_DIR, 'tools/node_modules/');
  try {
    return createRequire(tools)('playwright-core');
  } catch {
    throw new Error(`playwright-core is not installed in ${tools}: run test/vscode/install-code-server.sh first`);
  }
}

/** Opens chromium; `use(context)` runs with it, and the browser and its profile are removed afterwards. */
export async function withBrowser(options, use) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-debug-chromium-'));
  const ctx = await playwright().chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, ...options,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    return await use(ctx);
  } finally {
    await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/** Rejects after `ms` with a message naming what was awaited. */
export async function bounded(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
