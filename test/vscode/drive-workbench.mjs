// Runs an extension-host suite in the workbench: opens it in headless chromium with the payload
// that makes it load the extension under development and run extensionTestsPath in the
// extension host, then waits (bounded) for the workbench to call window.codeAutomationExit(code),
// the mechanism @vscode/test-web uses. Resolves with that code ('timeout' when none came).
import * as path from 'node:path';
import * as util from 'node:util';
import { bounded, NOISE, withBrowser } from './lib/browser.mjs';

export async function runSuiteInWorkbench({ serverUrl, workspace, extensionDevelopmentPath, extensionTestsPath, timeoutS = 180 }) {
  const server = new URL(serverUrl);
  const remote = (p) => `vscode-remote://${server.host}${path.resolve(p)}`;   // paths on the server side
  const payload = [['extensionDevelopmentPath', remote(extensionDevelopmentPath)], ['extensionTestsPath', remote(extensionTestsPath)]];
  const folder = workspace === undefined ? '' : `folder=${encodeURIComponent(path.resolve(workspace))}&`;
  const url = `${server.origin}/?${folder}payload=${encodeURIComponent(JSON.stringify(payload))}`;
  return withBrowser({}, async (ctx) => {
    const page = ctx.pages()[0] ?? await ctx.newPage();
    let finish;
    const finished = new Promise((resolve) => { finish = resolve; });
    await page.exposeFunction('codeAutomationLog', (type, args) => {
      const text = util.format(...(args ?? []));
      if (!NOISE.test(text)) console.log(text);
    });
    await page.exposeFunction('codeAutomationExit', (c) => finish(c));
    page.on('console', (m) => { const t = m.text(); if (!NOISE.test(t)) console.log('[browser]', t.split('\n')[0].slice(0, 500)); });   // first line: workbench stacks say nothing about the suite
    await page.goto(url);
    try {
      return await bounded(finished, 1000 * timeoutS, 'extension tests');
    } catch (e) {
      console.log(e.message);
      return 'timeout';
    }
  });
}
