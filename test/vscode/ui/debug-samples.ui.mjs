// A newcomer's first session, through the workbench's DOM: samples/ opened as the folder, F5
// (its .vscode/launch.json debugs hello, stopped at entry), the registers in Variables, one F10,
// an exit-reason break on CPUID ticked in Breakpoints and hit by exit-tour, the MSRs scope and
// the MSRs view, the VM exits view at that stop, then a click in it that moves the break from
// CPUID to CR_ACCESS and F5 to the next stop. Expected values come from the ELF files (nm,
// objdump's line table), the boot code's and exit-tour's sources and the SDM, not from the
// emulator. Each step ends in a checked screenshot (01-05 are the walkthrough's).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import gnu from '../../../out/test/support/gnu-tools.js';
import tourSource from '../../../out/test/support/exit-tour-source.js';
import {
  collapse, continueUntilPause, exceptionWidgetText, expand, expandTreeRow, fold, openRunAndDebug, openView, readExitsView, readMsrsView,
  readTree, readVariables, restPointer, selectLaunchConfiguration, setTreeCheckbox, startDebugging, tickExitFilter, UI_TIMEOUT_MS, waitForExitFilter,
  waitForPause, waitForVariable,
} from './views.mjs';

const hex = (n) => `0x${n.toString(16)}`;
/** IA32_EFER bits (SDM Vol. 3A, 2.2.1 "Extended Feature Enable Register"): LMA is bit 10, set by the CPU when paging turns on with LME. */
const EFER_LMA = 1n << 10n;
/** Every IA32_EFER field by its bit (SDM Vol. 3A, 2.2.1, Figure 2-4 / Vol. 4, Table 2-2). */
const EFER_FIELDS = { SCE: 0n, LME: 8n, LMA: 10n, NXE: 11n };
/** The group both the Variables view's MSRs scope and the MSRs view list IA32_EFER in. */
const EFER_GROUP = 'Processor control';
/** Basic exit reason numbers of the exits the tour stops at (SDM Vol. 3D, Appendix C). */
const EXIT_REASON_NUMBERS = { CPUID: 10, CR_ACCESS: 28 };
/** Exit reasons the tour provokes (samples/exit-tour/README.md): the VM exits view must offer each. */
const TOUR_REASONS = ['CPUID', 'CR_ACCESS', 'XSETBV', 'IO_INSTRUCTION', 'MSR_WRITE', 'MSR_READ', 'INVD', 'EPT_VIOLATION', 'VMCALL', 'VMON',
  'EXTERNAL_INTERRUPT', 'HLT', 'INTERRUPT_WINDOW'];
const FIRST_STOP_TIMEOUT_MS = 60_000;   // the first F5 also activates the extension

function symbol(elf, name) {
  const s = gnu.nmSymbols(elf).find((x) => x.name === name);
  assert.ok(s?.address !== undefined, `nm finds no ${name} in ${elf}`);
  return s.address;
}

/** Where F10 from `address` lands: the first address of the next line in objdump's decoded line table. */
function nextLineAddress(elf, address) {
  const rows = gnu.objdumpDecodedLines(elf).filter((r) => r.line !== undefined).sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const here = rows.find((r) => r.address === address);
  assert.ok(here, `objdump has no line at ${hex(address)}`);
  const next = rows.find((r) => r.address > address && r.line !== here.line);
  assert.ok(next, `objdump has no line after ${hex(address)}`);
  return next.address;
}

/** A `.set NAME, VALUE` constant of the boot code, as the source gives it. */
function bootConstant(workspace, name) {
  const m = new RegExp(`^\\s*\\.set\\s+${name}\\s*,\\s*(0x[0-9a-f]+|\\d+)`, 'mi').exec(fs.readFileSync(path.join(workspace, 'common/boot.inc'), 'utf8'));
  assert.ok(m, `common/boot.inc sets no ${name}`);
  return BigInt(m[1]);
}

/**
 * The VM exits view as it must be at a stop on exit `last` at `rip`: a checkbox on every reason
 * row, exactly the `ticked` ones checked, each reason's count as `counts` says (0 when absent),
 * and the title's total their sum.
 */
function checkExitsView(view, { last, rip, ticked, counts }) {
  assert.equal(view.last?.label, `Last exit: ${last} (${EXIT_REASON_NUMBERS[last]})`, 'the "Last exit" row names the stop\'s reason');
  assert.match(view.last?.description ?? '', new RegExp(`^rip=${rip}\\b`), 'the "Last exit" row is at the stop\'s rip');
  for (const r of TOUR_REASONS) assert.ok(view.reasons.has(r), `the VM exits view lists ${r}`);
  for (const [name, row] of view.reasons) {
    assert.equal(typeof row.checked, 'boolean', `${name} has a checkbox`);
    assert.equal(row.checked, ticked.includes(name), `${name} is ${ticked.includes(name) ? '' : 'not '}ticked`);
    assert.equal(row.count, counts[name] ?? 0, `${name}: count`);
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  assert.equal(view.description, `${total} exit${total === 1 ? '' : 's'}`, 'the title counts every exit');
}

/** The exits exit-tour has made at its stop on the instruction after `label` (from its source). */
function tourCounts(workspace, label) {
  const counts = tourSource.exitTourCountsAt(workspace, label);
  assert.ok(Object.values(counts).every((n) => Number.isInteger(n) && n >= 0));
  return counts;
}

export const title = 'F5 on samples/: registers at entry, a step, a break on CPUID, the MSRs, the VM exits view and a click in it';

export async function run({ page, workspace, shot }) {
  const hello = path.join(workspace, 'hello/hello.elf');
  const tour = path.join(workspace, 'exit-tour/exit-tour.elf');
  const entry = symbol(hello, '_start');

  await openRunAndDebug(page);
  await collapse(page, 'Watch');   // room for the registers
  await startDebugging(page);
  await waitForPause(page, /Paused on entry/, FIRST_STOP_TIMEOUT_MS);
  const atEntry = await readVariables(page, ['rax', 'rip']);
  assert.equal(atEntry.scopes[0], 'Registers', `scopes: ${atEntry.scopes.join(', ')}`);
  assert.equal(atEntry.values.get('rip'), hex(entry), 'rip at entry = nm _start');
  assert.match(atEntry.values.get('rax') ?? '', /^0x[0-9a-f]+$/, 'rax is shown in hex');
  await shot('01-entry', async () => {
    await waitForPause(page, /Paused on entry/, 1000);
    await waitForVariable(page, 'rip', hex(entry), 1000);
  });

  const next = nextLineAddress(hello, entry);
  await page.keyboard.press('F10');
  await waitForPause(page, /Paused on step/);
  await waitForVariable(page, 'rip', hex(next));
  await shot('02-step', () => waitForVariable(page, 'rip', hex(next), 1000));

  await tickExitFilter(page, 'CPUID');
  await page.keyboard.press('Shift+F5');
  await page.locator('.part.sidebar .call-stack-state-message').waitFor({ state: 'hidden', timeout: UI_TIMEOUT_MS });
  await selectLaunchConfiguration(page, 'exit-tour');
  await startDebugging(page);
  // the Call Stack header shows the stop's description, the editor's exception widget its exceptionId
  await waitForPause(page, /VM exit CPUID \(10\)/);
  const widget = await exceptionWidgetText(page);
  assert.match(widget, /Exception has occurred: CPUID/, `exception widget: ${widget}`);
  const atCpuid = hex(symbol(tour, 'tour_cpuid_leaf1'));
  await waitForVariable(page, 'rip', atCpuid);
  await shot('03-cpuid', async () => {
    assert.match(await exceptionWidgetText(page), /Exception has occurred: CPUID/);
    await waitForVariable(page, 'rip', atCpuid, 1000);
  });

  // the MSRs: the Variables view's scope, then the MSRs view with IA32_EFER's decoded fields
  await collapse(page, 'Breakpoints');
  await collapse(page, 'Loaded Scripts');
  await fold(page, 'Registers');   // room for the MSRs
  await expand(page, 'MSRs');
  await expand(page, EFER_GROUP);
  const efer = (await readVariables(page, ['IA32_EFER'])).values.get('IA32_EFER');
  const eferValue = bootConstant(workspace, 'EFER_LME') | EFER_LMA;
  assert.equal(efer, hex(eferValue), 'IA32_EFER = LME (boot.inc) | LMA (the CPU, paging on)');
  await openView(page, 'MSRs');
  await expandTreeRow(page, 'MSRs', 'IA32_EFER');
  const checkMsrsView = async () => {
    const view = await readMsrsView(page, Object.keys(EFER_FIELDS));
    assert.ok(view.groups.includes(EFER_GROUP), `MSRs view groups: ${view.groups.join(', ')}`);
    const group = view.rows.findLast((r) => r.level === 1 && view.rows.indexOf(r) < view.rows.findIndex((x) => x.label === 'IA32_EFER'));
    assert.equal(group?.label, EFER_GROUP, 'IA32_EFER is in the group the Variables view shows it in');
    assert.equal(view.values.get('IA32_EFER'), hex(eferValue), 'the MSRs view agrees: IA32_EFER = LME | LMA');
    for (const [field, bit] of Object.entries(EFER_FIELDS)) {
      const shown = view.values.get(`IA32_EFER.${field}`) ?? '(not shown)';
      assert.equal(BigInt(shown.split(/\s/)[0]), (eferValue >> bit) & 1n, `IA32_EFER.${field} (bit ${bit}) shows ${shown}`);
    }
  };
  await checkMsrsView();
  await collapse(page, 'Call Stack');   // its header still shows the stop; room for both views
  await readTree(page, 'MSRs');   // from the top: the group, IA32_EFER and its fields
  await restPointer(page);
  await shot('04-msrs', async () => {
    await waitForVariable(page, 'IA32_EFER', hex(eferValue), 1000);
    await checkMsrsView();
  });

  // the VM exits view at the CPUID stop: every reason with a checkbox, CPUID ticked (in the
  // Breakpoints view, above) and counted, the last exit CPUID at tour_cpuid_leaf1
  await collapse(page, 'Variables');
  await collapse(page, 'MSRs');
  await openView(page, 'VM exits');
  const expectAtCpuid = tourCounts(workspace, 'tour_cpuid_leaf1');
  const checkExitsAtCpuid = async () => checkExitsView(await readExitsView(page), {
    last: 'CPUID', rip: atCpuid, ticked: ['CPUID'], counts: expectAtCpuid,
  });
  await checkExitsAtCpuid();
  await readTree(page, 'VM exits');   // back to the top: the last exit, then the reasons
  await restPointer(page);
  await shot('05-exits-view', checkExitsAtCpuid);

  // clicks in the VM exits view: CPUID cleared, CR_ACCESS ticked (after its two CPUID steps the
  // tour's next kind of exit besides COM1's I/O); the Breakpoints view follows (the view's sync),
  // and F5 runs past the second CPUID to the MOV to CR0
  await openView(page, 'Breakpoints');
  await setTreeCheckbox(page, 'VM exits', 'CPUID', false);
  await waitForExitFilter(page, 'CPUID', false);
  await setTreeCheckbox(page, 'VM exits', 'CR_ACCESS', true);
  await waitForExitFilter(page, 'CR_ACCESS', true);
  await continueUntilPause(page, /VM exit CPUID \(10\)/, /VM exit CR_ACCESS \(28\)/);
  const atMovCr0 = hex(symbol(tour, 'tour_mov_cr0'));
  const checkExitsAtCr0 = async () => checkExitsView(await readExitsView(page), {
    last: 'CR_ACCESS', rip: atMovCr0, ticked: ['CR_ACCESS'], counts: tourCounts(workspace, 'tour_mov_cr0'),
  });
  await checkExitsAtCr0();
  await collapse(page, 'Breakpoints');
  await readTree(page, 'VM exits', ['CR_ACCESS']);
  await restPointer(page);
  await shot('06-exits-next', checkExitsAtCr0, { forDocs: false });
  await page.keyboard.press('Shift+F5');
}
