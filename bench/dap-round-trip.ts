// The debugger's speed as a user feels it, through the protocol against the adapter process:
// the time from `launch` to the first `stopped` event, and one instruction step followed by
// what VS Code asks after every stop (stackTrace, scopes, variables of every scope), as median
// and 95th percentile. Part of `npm run bench`; alone: `npm run bench:dap` (readable) or `-- --json`.
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { BenchError } from './guest';
import { Report } from './report';

const ROOT = path.resolve(__dirname, '../..');
const ADAPTER = path.join(ROOT, 'out/debug-adapter/main.js');
const HELLO = path.join(ROOT, 'samples/hello/hello.elf');
/** Launches timed and step round trips measured; `--quick` divides both by 5. */
export interface DapCounts { launches: number; steps: number }
export const DAP_FULL: DapCounts = { launches: 10, steps: 300 };
export const DAP_QUICK: DapCounts = { launches: 2, steps: 60 };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function session<T>(work: (dc: DebugClient) => Promise<T>): Promise<T> {
  const dc = new DebugClient(process.execPath, ADAPTER, 'vmx');
  dc.defaultTimeout = 20_000;
  await dc.start();
  try {
    return await work(dc);
  } finally {
    await dc.stop();
  }
}

/** launch → first stopped (stopOnEntry), the process already running. */
async function launchToStop(dc: DebugClient): Promise<number> {
  await dc.initializeRequest();
  const stopped = dc.waitForEvent('stopped');
  const initialized = dc.waitForEvent('initialized');
  const t0 = performance.now();
  await dc.launchRequest({ program: HELLO, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments);
  await initialized;
  await dc.configurationDoneRequest();
  const ev = await stopped as DebugProtocol.StoppedEvent;
  const ms = performance.now() - t0;
  if (ev.body.reason !== 'entry') throw new BenchError(`first stop was '${ev.body.reason}', not entry`);
  return ms;
}

/** Both DAP figures, into `report`. */
export async function runDapBench(report: Report, counts: DapCounts = DAP_FULL): Promise<void> {
  const LAUNCHES = counts.launches;
  const STEPS = counts.steps;
  const launches: number[] = [];
  for (let k = 0; k < LAUNCHES; k++) launches.push(await session(launchToStop));
  launches.sort((a, b) => a - b);
  report.figure('dap-launch-to-stop', percentile(launches, 0.5), 'ms', `median of ${LAUNCHES}; p95 ${percentile(launches, 0.95).toFixed(1)} ms`);

  const rounds = await session(async (dc) => {
    await launchToStop(dc);
    const times: number[] = [];
    let rip = '';
    let stuck = 0;
    for (let k = 0; k < STEPS; k++) {
      const t0 = performance.now();
      const stopped = dc.waitForEvent('stopped');
      await dc.nextRequest({ threadId: 1, granularity: 'instruction' });
      await stopped;
      const st = await dc.stackTraceRequest({ threadId: 1 });
      const scopes = await dc.scopesRequest({ frameId: st.body.stackFrames[0].id });
      for (const s of scopes.body.scopes) await dc.variablesRequest({ variablesReference: s.variablesReference });
      times.push(performance.now() - t0);
      const now = st.body.stackFrames[0].instructionPointerReference ?? '';
      // a REP string instruction may take a few steps (one chunk of iterations each) before RIP moves on
      stuck = now === rip ? stuck + 1 : 0;
      if (stuck > 8) throw new BenchError(`steps did not move RIP from ${rip}`);
      rip = now;
    }
    return times;
  });
  rounds.sort((a, b) => a - b);
  report.figure('dap-step-round-trip', percentile(rounds, 0.5), 'ms',
    `median of ${STEPS} x (next + stackTrace + scopes + variables of every scope); p95 ${percentile(rounds, 0.95).toFixed(1)} ms`);
}

async function main(argv: string[]): Promise<void> {
  const unknown = argv.filter((a) => a !== '--json' && a !== '--quick');
  if (unknown.length > 0) throw new BenchError(`unknown argument ${unknown.join(' ')} (use --json, --quick)`);
  await runDapBench(new Report(argv.includes('--json')), argv.includes('--quick') ? DAP_QUICK : DAP_FULL);
}

// run by itself (npm run bench:dap); bench/main.ts imports it
if (require.main === module) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`bench: error: ${e instanceof BenchError ? e.message : (e instanceof Error ? e.stack : String(e))}\n`);
    process.exitCode = 1;
  });
}
