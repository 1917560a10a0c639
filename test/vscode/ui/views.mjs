// Reading and steering the Run and Debug views through the DOM, the way a user sees them. One
// function per view; a check for a new view (VM exits, MSRs ...) is one more function here.
// Lists in the workbench are virtual (only rows in sight exist in the DOM), so readers scroll.
export const UI_TIMEOUT_MS = 20_000;
const SCROLL_STEP_PX = 110;
const MAX_SCROLLS = 40;

/**
 * The header of a view by its title (e.g. "Variables", "Call Stack", "VM exits"). A view with a
 * description reads "TITLE - DESCRIPTION Section" (the VM exits view's "260 exits").
 */
const headerSelector = (title) => `.pane-header:is([aria-label="${title} Section"], [aria-label^="${title} - "])`;

function header(page, title) {
  return page.locator(`.part.sidebar ${headerSelector(title)}`);
}

/** The pane of a view by its header's title. */
export function pane(page, title) {
  return page.locator('.part.sidebar .pane').filter({ has: page.locator(headerSelector(title)) });
}

/** Opens Run and Debug (Ctrl+Shift+D): VS Code 1.13x no longer opens it by itself on a stop. */
export async function openRunAndDebug(page) {
  await page.keyboard.press('Control+Shift+D');
  await pane(page, 'Call Stack').waitFor({ timeout: UI_TIMEOUT_MS });
}

/** Collapses a view so the others get its room (for screenshots); no-op when already collapsed. */
export async function collapse(page, title) {
  const h = header(page, title);
  if (await h.getAttribute('aria-expanded') === 'true') await h.click();
}

/**
 * Scrolls a view's list from the top, reading the rows in sight with `read` (a function run in
 * the page on the row elements, giving one record with a `key` per row), until `done(records)`
 * holds for every row seen so far; returns those records (once each, in the order first seen).
 * Leaves the last wanted row in sight.
 */
async function scanList(page, view, read, done) {
  const list = view.locator('.monaco-list').first();
  await list.waitFor({ timeout: UI_TIMEOUT_MS });
  // the pointer goes over the list before every turn of the wheel: views move while others open or close
  const wheel = async (dy) => {
    const box = await list.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + Math.min(box.height / 2, 40));
    await page.mouse.wheel(0, dy);
  };
  // up to the first row: one big wheel turn does not always get there, so turn until row 0 shows
  for (let i = 0; i <= MAX_SCROLLS && await list.locator('.monaco-list-row[data-index="0"]').count() === 0; i++) {
    await wheel(-20 * SCROLL_STEP_PX);
    await page.waitForTimeout(60);
  }
  const seen = new Map();
  for (let i = 0; i <= MAX_SCROLLS; i++) {
    await page.waitForTimeout(120);
    for (const record of await list.locator('.monaco-list-row').evaluateAll(read)) {
      if (!seen.has(record.key)) seen.set(record.key, record);
    }
    if (done([...seen.values()])) break;
    await wheel(SCROLL_STEP_PX);
  }
  return [...seen.values()];
}

/** scanList on the rows' aria-labels: the labels seen, until `done(labels)`. */
async function scanRows(page, view, done) {
  const read = (rows) => rows.map((r) => ({ key: r.getAttribute('aria-label') ?? '' }));
  return (await scanList(page, view, read, (records) => done(records.map((r) => r.key)))).map((r) => r.key);
}

/** Moves the pointer off the sidebar, so that no hover covers a view in a screenshot. */
export async function restPointer(page) {
  await page.mouse.move(1000, 700);
}

/**
 * The rows of a tree view an extension contributes (VM exits, MSRs), by its title, in list order,
 * read until every label in `wanted` is among them (or to the end with wanted = 'all'):
 * { label, description, checked (true, false, or undefined without a checkbox), expanded
 * (likewise without children), level (1 = top) }. Their aria-labels are the items' tooltips,
 * so the label and description are read as drawn.
 */
export async function readTree(page, title, wanted = []) {
  const read = (rows) => rows.map((r) => {
    const box = r.querySelector('.custom-view-tree-node-item-checkbox');
    const expanded = r.getAttribute('aria-expanded');
    return {
      key: Number(r.getAttribute('data-index')),
      label: r.querySelector('.label-name')?.textContent ?? '',
      description: r.querySelector('.label-description')?.textContent ?? '',
      checked: box === null ? undefined : box.getAttribute('aria-checked') === 'true',
      expanded: expanded === null ? undefined : expanded === 'true',
      level: Number(r.getAttribute('aria-level')),
      last: r.getAttribute('data-last-element') === 'true',
    };
  });
  const done = wanted === 'all' ? (seen) => seen.some((r) => r.last) : (seen) => wanted.every((w) => seen.some((r) => r.label === w));
  const rows = await scanList(page, pane(page, title), read, done);
  return rows.sort((a, b) => a.key - b.key).map((r) => ({ label: r.label, description: r.description, checked: r.checked, expanded: r.expanded, level: r.level }));
}

/** Scrolls a contributed tree view until row `label` is in sight; an error naming the rows seen when it has none. */
async function revealTreeRow(page, title, label) {
  const rows = await readTree(page, title, [label]);
  if (!rows.some((r) => r.label === label)) throw new Error(`${title} view: no row ${label} (rows: ${rows.map((r) => r.label).join(' | ')})`);
}

/** The row of a contributed tree view whose label is `label` (once it is in sight). */
function treeRow(page, title, label) {
  const exact = new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  return pane(page, title).locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: exact }) });
}

/** Expands the row `label` of a contributed tree view (a click on its twistie), e.g. an MSR to see its fields. */
export async function expandTreeRow(page, title, label) {
  await revealTreeRow(page, title, label);
  const row = treeRow(page, title, label);
  if (await row.getAttribute('aria-expanded') !== 'true') await row.locator('.monaco-tl-twistie').click();
  await row.and(page.locator('[aria-expanded="true"]')).waitFor({ timeout: UI_TIMEOUT_MS });
}

/**
 * Ticks (`on`) or clears the checkbox of row `label` of a contributed tree view with a click, as
 * a user does. A click can land while the view is being redrawn (a stop, an update) and be lost,
 * so it is clicked again (at most `tries` times) until the box shows the state asked for.
 */
export async function setTreeCheckbox(page, title, label, on, tries = 3) {
  const want = String(on);
  for (let i = 0; i < tries; i++) {
    await revealTreeRow(page, title, label);
    const box = treeRow(page, title, label).locator('.custom-view-tree-node-item-checkbox');
    if (await box.getAttribute('aria-checked') === want) return;
    await box.click();
    try {
      await treeRow(page, title, label).locator(`.custom-view-tree-node-item-checkbox[aria-checked="${want}"]`).waitFor({ timeout: 5000 });
      return;
    } catch {
      console.log(`    ${title}: the click on ${label}'s checkbox did not take within 5 s (try ${i + 1} of ${tries})`);
    }
  }
  throw new Error(`${title}: ${label}'s checkbox is not ${on ? 'ticked' : 'clear'} after ${tries} clicks`);
}

/** A view's description as its header shows it (e.g. "260 exits" for VM exits); '' when none. */
export async function viewDescription(page, title) {
  const label = await header(page, title).getAttribute('aria-label') ?? '';
  const m = new RegExp(`^${title} - (.*) Section$`).exec(label);
  return m === null ? '' : m[1];
}

/**
 * The VM exits view: its title's description, the "Last exit" row (label, description) and one
 * entry per exit-reason row: name -> { count (the description), checked }, read to the end.
 */
export async function readExitsView(page) {
  const rows = await readTree(page, 'VM exits', 'all');
  const last = rows.find((r) => r.label.startsWith('Last exit: '));
  const reasons = new Map(rows.filter((r) => r !== last).map((r) => [r.label, { count: Number(r.description), checked: r.checked }]));
  return { description: await viewDescription(page, 'VM exits'), last, reasons, rows };
}

/**
 * The MSRs view: groups (level 1) with their MSRs (level 2: name -> value) and the fields of the
 * expanded MSRs (level 3: "MSR.FIELD" -> value), read until every label in `wanted` is seen.
 */
export async function readMsrsView(page, wanted = []) {
  const rows = await readTree(page, 'MSRs', wanted);
  const groups = [];
  const values = new Map();
  let msr;
  for (const r of rows) {
    if (r.level === 1) groups.push(r.label);
    else if (r.level === 2) { msr = r.label; values.set(r.label, r.description); } else if (r.level === 3) values.set(`${msr}.${r.label}`, r.description);
  }
  return { groups, values, rows };
}

/** Expands a collapsed view of the sidebar (a click on its header), e.g. one a helper contributes. */
export async function openView(page, title) {
  const h = header(page, title);
  await h.waitFor({ timeout: UI_TIMEOUT_MS });
  if (await h.getAttribute('aria-expanded') !== 'true') await h.click();
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

/** Waits (bounded) until the Breakpoints view shows the exception filter `label` ticked (`on`) or not. */
export async function waitForExitFilter(page, label, on, timeout = UI_TIMEOUT_MS) {
  const view = pane(page, 'Breakpoints');
  await scanRows(page, view, (seen) => seen.includes(label));
  await view.locator(`.monaco-list-row[role="checkbox"][aria-label="${label}"][aria-checked="${on}"]`).waitFor({ timeout });
}

/**
 * F5 at a stop, until the Call Stack says paused for `to` (regexp). A key pressed while focus is
 * moving between views can be lost, so F5 is pressed again (at most `tries` times) only while
 * the Call Stack still shows the stop it was pressed at (`from`). The Call Stack is opened first:
 * collapsed, its header keeps the message of the stop it was collapsed at.
 */
export async function continueUntilPause(page, from, to, tries = 3) {
  await openView(page, 'Call Stack');
  for (let i = 0; i < tries; i++) {
    await page.keyboard.press('F5');
    try {
      await waitForPause(page, to, 10_000);
      return;
    } catch {
      const still = await pane(page, 'Call Stack').locator('.call-stack-state-message', { hasText: from }).count();
      if (still === 0) {
        await waitForPause(page, to);   // it ran: the stop is on its way
        return;
      }
      console.log(`    F5 did not continue from ${from} within 10 s (try ${i + 1} of ${tries})`);
    }
  }
  throw new Error(`F5 did not continue from ${from} (${tries} tries)`);
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
