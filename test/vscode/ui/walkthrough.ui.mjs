// The extension's walkthrough as a newcomer opens it (Command Palette: "Welcome: Open
// Walkthrough..."): the steps package.json declares are listed, and selecting each shows its
// page from docs/walkthrough/ with its screenshot loaded from the installed extension.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../lib/server.mjs';
import { UI_TIMEOUT_MS } from './views.mjs';
import { VIEWPORT } from './workbench.mjs';

const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const [walkthrough] = manifest.contributes.walkthroughs;

/** The images a step's page links to, as the page names them (e.g. ../media/01-entry.png -> 01-entry.png). */
function pageImages(step) {
  const text = fs.readFileSync(path.join(ROOT, step.media.markdown), 'utf8');
  const images = [...text.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => path.basename(m[1]));
  assert.ok(images.length > 0, `${step.media.markdown} shows no image`);
  return images;
}

/** Waits (bounded) until a webview frame shows an <img> whose src ends with `name` and that has loaded; returns its width. */
async function loadedImageWidth(page, name) {
  const deadline = Date.now() + UI_TIMEOUT_MS;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      const widths = await frame.locator('img').evaluateAll((imgs, n) => imgs.filter((i) => i.src.endsWith(`/docs/media/${n}`) && i.complete).map((i) => i.naturalWidth), name).catch(() => []);
      if (widths.some((w) => w > 0)) return Math.max(...widths);
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no loaded image ${name} in the walkthrough within ${UI_TIMEOUT_MS} ms`);
}

export const title = 'the walkthrough lists its steps and shows each page with its screenshot';

export async function run({ page, shot }) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: UI_TIMEOUT_MS });
  await input.fill('>Welcome: Open Walkthrough');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Open Walkthrough' }).first().waitFor({ timeout: UI_TIMEOUT_MS });
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: walkthrough.title }).first().waitFor({ timeout: UI_TIMEOUT_MS });
  await input.fill(walkthrough.title);
  await page.keyboard.press('Enter');

  const editor = page.locator('.part.editor .gettingStartedContainer');
  await editor.getByText(walkthrough.title).first().waitFor({ timeout: UI_TIMEOUT_MS });
  for (const step of walkthrough.steps) {
    const button = editor.locator('.getting-started-step', { hasText: step.title }).first();
    await button.waitFor({ timeout: UI_TIMEOUT_MS });
    await button.click();
    for (const image of pageImages(step)) {
      const width = await loadedImageWidth(page, image);
      assert.equal(width, VIEWPORT.width, `${step.id}: ${image} is a screenshot of the UI test's (${VIEWPORT.width} px wide)`);
    }
  }
  await shot('walkthrough', () => loadedImageWidth(page, pageImages(walkthrough.steps.at(-1))[0]), { forDocs: false });
}
