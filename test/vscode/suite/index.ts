// Runs inside VS Code's extension host (extensionTestsPath): every `*.suite.js` beside this file
// exports `tests`, run here one after another (the host only needs run() to resolve or reject).
// Each file holds one subject; shared helpers are in session-helpers.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostTest } from './session-helpers';

export async function run(): Promise<void> {
  const files = fs.readdirSync(__dirname).filter((f) => f.endsWith('.suite.js')).sort();
  let failed = 0;
  let total = 0;
  for (const file of files) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { tests } = require(path.join(__dirname, file)) as { tests: HostTest[] };
    console.log(file);
    for (const [name, body] of tests) {
      total++;
      try {
        await body();
        console.log(`  ok   ${name}`);
      } catch (e) {
        failed++;
        console.log(`  FAIL ${name}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      }
    }
  }
  console.log(`${total - failed} passed, ${failed} failed`);
  if (failed > 0 || total === 0) throw new Error(`${failed} of ${total} extension-host tests failed`);
}
