// Reading and steering the Run and Debug views through the DOM, the way a user sees them. One
// function per view; a check for a new view (VM exits, MSRs ...) is one more function here.
// Lists in the workbench are virtual (only rows in sight exist in the DOM), so readers scroll.
export const UI_TIMEOUT_MS = 20_000;
const SCROLL_STEP_PX = 110;
const MAX_SCROLLS = 40;

/** The pane of a view by its header's title (e.g. "Variables", "Call Stack", "Breakpoints"). */
export function pane(page, title) {
  return page.locator('.part.sidebar .pane').filter({ has: page.locator(`.pane-header[aria-label="${title} Section"]`) });
}

/** Opens Run and Debug (Ctrl+Shift+D): VS Code 1.13x no longer opens it by itself on a stop. */
export async function openRunAndDebug(page) {
  await page.keyboard.press('Control+Shift+D');
  await pane(page, 'Call Stack').waitFor({ timeout: UI_TIMEOUT_MS });
}

/** Collapses a view so the others get its room (for screenshots); no-op when already collapsed. */
export async function collapse(page, title) {
  const header = page.locator(`.part.sidebar .pane-header[aria-label="${title} Section"]`);
  if (await header.getAttribute('aria-expanded') === 'true') await header.click();
}

/**
 * Scrolls a view's list from the top until `done(labels)` holds for the aria-labels of every row
 * seen so far; returns those labels (in order, once each). Leaves the last wanted row in sight.
 */
async function scanRows(page, view, done) {
  const list = view.locator('.monaco-list').first();
  await list.waitFor({ timeout: UI_TIMEOUT_MS });
  const box = await list.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + Math.min(box.height / 2, 40));
  await page.mouse.wheel(0, -100_000);
  const seen = [];
  for (let i = 0; i <= MAX_SCROLLS; i++) {
    await page.waitForTimeout(120);
    for (const label of await list.locator('.monaco-list-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('aria-label') ?? ''))) {
      if (!seen.includes(label)) seen.push(label);
    }
    if (done(seen)) return seen;
    await page.mouse.wheel(0, SCROLL_STEP_PX);
  }
  return seen;
}

/**
 * The rows (aria-labels) of any tree view in the sidebar, by its title, read until every string
 * in `wanted` is among them. A check for a contributed view (VM exits, MSRs) is then a few lines:
 * `await openView(page, 'VM Exits'); const rows = await readView(page, 'VM Exits', ['CPUID']);`.
 */
export async function readView(page, title, wanted = []) {
  return scanRows(page, pane(page, title), (seen) => wanted.every((w) => seen.some((l) => l.includes(w))));
}

/** Expands a collapsed view of the sidebar (a click on its header), e.g. one a helper contributes. */
export async function openView(page, title) {
  const header = page.locator(`.part.sidebar .pane-header[aria-label="${title} Section"]`);
  await header.waitFor({ timeout: UI_TIMEOUT_MS });
  if (await header.getAttribute('aria-expanded') !== 'true') await header.click();
}

/** Waits (bounded) until the Call Stack says paused for `reason` (regexp). */
export async function waitForPause(page, reason, timeout = UI_TIMEOUT_MS) {
  await pane(page, 'Call Stack').locator('.call-stack-state-message', { hasText: reason }).waitFor({ timeout });
}

/**
 * Variables view: the scopes shown and the variables (name -> value) under the expanded ones,
 * read until every name in `names` is seen. Rows read "name, value V" in their aria-label.
 */
export async function readVariables(page, names) {
  const labels = await scanRows(page, pane(page, 'Variables'), (seen) => names.every((n) => seen.some((l) => l.startsWith(`${n}, value `))));
  const scopes = labels.filter((l) => l.startsWith('Scope ')).map((l) => l.slice('Scope '.length));
  const values = new Map();
  for (const l of labels) {
    const m = /^(\S+), value (.*)$/.exec(l);
    if (m !== null) values.set(m[1], m[2]);
  }
  return { scopes, values };
}

/** Waits (bounded) until the Variables view shows `name` = `value`; returns what it shows last. */
export async function waitForVariable(page, name, value, timeout = UI_TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  let shown;
  do {
    shown = (await readVariables(page, [name])).values.get(name);
    if (shown === value) return shown;
    await page.waitForTimeout(250);
  } while (Date.now() < deadline);
  throw new Error(`Variables view: ${name} = ${shown ?? '(not shown)'} after ${timeout} ms, ${value} expected`);
}

/** Expands a scope or a variable of the Variables view (a click on its row), as a user opens "MSRs". */
export async function expand(page, name) {
  await toggle(page, name, true);
}

/** Folds a scope or a variable of the Variables view away (a click on its row when it is open). */
export async function fold(page, name) {
  await toggle(page, name, false);
}

async function toggle(page, name, open) {
  const isRow = (l) => l === `Scope ${name}` || l === name || l.startsWith(`${name}, `);
  const labels = await scanRows(page, pane(page, 'Variables'), (seen) => seen.some(isRow));
  const label = labels.find(isRow);
  if (label === undefined) throw new Error(`Variables view: no row ${name} (rows: ${labels.join(' | ')})`);
  const row = pane(page, 'Variables').locator(`.monaco-list-row[aria-label="${label}"]`);
  if (await row.getAttribute('aria-expanded') !== String(open)) await row.locator('.monaco-tl-twistie').click();
  await pane(page, 'Variables').locator(`.monaco-list-row[aria-label="${label}"][aria-expanded="${open}"]`).waitFor({ timeout: UI_TIMEOUT_MS });
}

/** Breakpoints view: ticks the exception filter (exit reason) labelled `label`; returns whether it is ticked after. */
export async function tickExitFilter(page, label) {
  const view = pane(page, 'Breakpoints');
  await scanRows(page, view, (seen) => seen.includes(label));
  const row = view.locator(`.monaco-list-row[role="checkbox"][aria-label="${label}"]`);
  if (await row.getAttribute('aria-checked') !== 'true') await row.locator('input[type="checkbox"]').click();
  await view.locator(`.monaco-list-row[role="checkbox"][aria-label="${label}"][aria-checked="true"]`).waitFor({ timeout: UI_TIMEOUT_MS });
  return true;
}

/**
 * The exception widget VS Code draws in the editor at a stop with reason `exception`. It is drawn
 * when the top frame gets the focus; now and then (1.100) the stop focuses the frame before the
 * editor is ready and no widget appears, so the top frame is clicked once, as a user would.
 */
export async function exceptionWidgetText(page) {
  const widget = page.locator('.part.editor .exception-widget').first();
  try {
    await widget.waitFor({ timeout: 5000 });
  } catch {
    await pane(page, 'Call Stack').locator('.monaco-list-row').first().click();
    await widget.waitFor({ timeout: UI_TIMEOUT_MS });
  }
  return (await widget.innerText()).trim();
}

/** Picks a configuration in Run and Debug's launch drop-down (the start button then runs it). */
export async function selectLaunchConfiguration(page, name) {
  const select = page.locator('.part.sidebar select[aria-label="Debug Launch Configurations"]');
  await select.selectOption(name);
}

/**
 * F5, as the user presses it. Right after the workbench appears, a key can be lost while it is
 * still restoring, so F5 is pressed again (at most `tries` times) until the debug toolbar shows.
 */
export async function startDebugging(page, tries = 4) {
  const toolbar = page.locator('.debug-toolbar');
  for (let i = 0; i < tries; i++) {
    await page.keyboard.press('F5');
    try {
      await toolbar.waitFor({ state: 'visible', timeout: 15_000 });
      return;
    } catch {
      console.log(`    F5 started no session within 15 s (try ${i + 1} of ${tries})`);
    }
  }
  throw new Error(`F5 started no debug session (${tries} tries, 15 s each)`);
}
