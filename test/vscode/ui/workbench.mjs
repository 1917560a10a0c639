// A VS Code server with the packaged extension installed (as a user installs a .vsix, not as an
// extension under development) and chromium on a workspace folder: what every UI test needs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bounded, NOISE, withBrowser } from '../lib/browser.mjs';
import { installExtension, serverDirs, startServer } from '../lib/server.mjs';

export const VIEWPORT = { width: 1280, height: 800 };
const WORKBENCH_TIMEOUT_MS = 60_000;
/**
 * Trees draw the parents of the rows in sight a second time on top (sticky scroll): the DOM then
 * holds two rows with one label, and the wheel over them does not reach the list. Off for tests.
 */
const UI_SETTINGS = { 'workbench.tree.enableStickyScroll': false };

/** Runs `use({ page, workspace })` in a fresh server + browser with `vsix` installed; everything is stopped afterwards. */
export async function withWorkbench({ base, vsix, workspace }, use) {
  fs.rmSync(base, { recursive: true, force: true });
  const dirs = serverDirs(base, UI_SETTINGS);
  installExtension(vsix, dirs);
  const server = await startServer(dirs);
  try {
    return await withBrowser({ viewport: VIEWPORT }, async (ctx) => {
      const page = ctx.pages()[0] ?? await ctx.newPage();
      page.on('console', (m) => { if (m.type() === 'error' && !NOISE.test(m.text())) console.log('[browser error]', m.text().slice(0, 300)); });
      await page.goto(`${server.url}/?folder=${encodeURIComponent(path.resolve(workspace))}`);
      await bounded(page.locator('.monaco-workbench .part.activitybar').waitFor({ timeout: WORKBENCH_TIMEOUT_MS }), WORKBENCH_TIMEOUT_MS + 1000, 'the workbench to load');
      return await use({ page, workspace });
    });
  } finally {
    await server.stop();
  }
}
