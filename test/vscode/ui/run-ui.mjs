// Runs every test/vscode/ui/*.ui.mjs: each gets a fresh copy of samples/ opened as the folder
// in a VS Code server with the packaged extension installed, and a `shot(name)` that saves a
// screenshot under .vscode-test/screenshots/ and checks it (size, not blank). A test module
// exports `title` and `run({ page, workspace, shot })`; `shot(name, recheck)` re-runs the
// step's assertions (`recheck`) after taking the picture; `{ forDocs: false }` keeps it out of docs/. With UPDATE_DOCS_MEDIA=1 the screenshots
// of passing tests are copied to docs/media/ (the README's and the walkthrough's pictures).
//   node test/vscode/ui/run-ui.mjs VSIX
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import png from '../../../out/test/vscode/ui/png-check.js';
import { ROOT, VSCODE_TEST_DIR } from '../lib/server.mjs';
import { bounded } from '../lib/browser.mjs';
import { VIEWPORT, withWorkbench } from './workbench.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TEST_TIMEOUT_MS = 240_000;
const SHOTS = path.join(VSCODE_TEST_DIR, 'screenshots');
const DOCS_MEDIA = path.join(ROOT, 'docs/media');

const vsix = process.argv[2];
if (vsix === undefined || !fs.existsSync(vsix)) {
  console.error(`usage: node test/vscode/ui/run-ui.mjs VSIX (${vsix ?? 'no .vsix given'} does not exist; npm run package makes it)`);
  process.exit(2);
}
fs.rmSync(SHOTS, { recursive: true, force: true });
fs.mkdirSync(SHOTS, { recursive: true });

let failed = 0;
const files = fs.readdirSync(HERE).filter((f) => f.endsWith('.ui.mjs')).sort();
for (const file of files) {
  const test = await import(path.join(HERE, file));
  const base = path.join(VSCODE_TEST_DIR, 'ui', path.basename(file, '.ui.mjs'));
  const workspace = path.join(base, 'samples');
  fs.rmSync(base, { recursive: true, force: true });
  fs.mkdirSync(base, { recursive: true });
  fs.cpSync(path.join(ROOT, 'samples'), workspace, { recursive: true });
  const shots = [];
  const started = Date.now();
  try {
    await withWorkbench({ base: path.join(base, 'server'), vsix, workspace }, async ({ page }) => {
      // `recheck` runs the step's DOM assertions again once the picture is taken, so the picture shows what they saw
      const shot = async (name, recheck, { forDocs = true } = {}) => {
        await page.waitForTimeout(400);   // let the last repaint land
        const file = path.join(SHOTS, `${name}.png`);
        await page.screenshot({ path: file });
        await recheck();
        const s = png.checkScreenshot(fs.readFileSync(file), VIEWPORT);
        if (forDocs) shots.push(file);
        console.log(`    screenshot ${path.relative(ROOT, file)}: ${s.width}x${s.height}, ${s.colours} colours, commonest ${(100 * s.dominantShare).toFixed(1)}%`);
      };
      try {
        await bounded(test.run({ page, workspace, shot }), TEST_TIMEOUT_MS, file);
      } catch (e) {
        await page.screenshot({ path: path.join(SHOTS, `${path.basename(file, '.ui.mjs')}-failure.png`) }).catch(() => {});
        throw e;
      }
    });
    console.log(`  ok   ${test.title} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    if (process.env.UPDATE_DOCS_MEDIA === '1' && shots.length > 0) {
      fs.mkdirSync(DOCS_MEDIA, { recursive: true });
      for (const s of shots) fs.copyFileSync(s, path.join(DOCS_MEDIA, path.basename(s)));
      console.log(`    copied ${shots.length} screenshots to ${path.relative(ROOT, DOCS_MEDIA)}/`);
    }
  } catch (e) {
    failed++;
    console.log(`  FAIL ${test.title}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    console.log(`    screenshots: ${SHOTS}; server log: ${path.join(base, 'server/server.log')}`);
  }
}
console.log(`UI tests: ${files.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 && files.length > 0 ? 0 : 1);
