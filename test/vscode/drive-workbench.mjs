// Opens the VS Code workbench in headless chromium with the payload that makes it load the
// extension under development and run its tests in the extension host, then waits (bounded)
// for the workbench to call window.codeAutomationExit(code): the mechanism @vscode/test-web uses.
// env: SERVER_URL, WORKSPACE, EXT_DEV, EXT_TESTS; CHROMIUM (default /usr/bin/chromium); TIMEOUT_S (default 180)
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as util from 'node:util';

const { chromium } = createRequire(import.meta.url)('playwright-core');   // NODE_PATH: the pinned copy
const server = new URL(process.env.SERVER_URL);
const remote = (p) => `vscode-remote://${server.host}${path.resolve(p)}`;   // paths on the server side
const payload = [['extensionDevelopmentPath', remote(process.env.EXT_DEV)], ['extensionTestsPath', remote(process.env.EXT_TESTS)]];
const url = `${server.origin}/?folder=${encodeURIComponent(path.resolve(process.env.WORKSPACE))}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
// the workbench's own chatter that says nothing about the suite
const NOISE = /Failed to load resource|%c INFO|getaddrinfo|ENOTFOUND|vsda|\[Service|Resolv|Creating|Updating|ChatSession|AccountPolicy/;

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-debug-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let code = 'timeout';
try {
  const page = ctx.pages()[0] ?? await ctx.newPage();
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  await page.exposeFunction('codeAutomationLog', (type, args) => {
    const text = util.format(...(args ?? []));
    if (!NOISE.test(text)) console.log(text);
  });
  await page.exposeFunction('codeAutomationExit', (c) => finish(c));
  page.on('console', (m) => { const t = m.text(); if (!NOISE.test(t)) console.log('[browser]', t.slice(0, 500)); });
  await page.goto(url);
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), 1000 * (Number(process.env.TIMEOUT_S) || 180)); });
  code = await Promise.race([finished, timeout]);
  clearTimeout(timer);
} finally {
  await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
console.log(code === 'timeout' ? 'extension tests: no result before the timeout' : `extension tests: exit code ${code}`);
process.exit(code === 0 ? 0 : 1);
