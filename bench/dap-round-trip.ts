// The debugger's speed as a user feels it, through the protocol against the adapter process:
// the time from `launch` to the first `stopped` event, and one instruction step followed by
// what VS Code asks after every stop (stackTrace, scopes, variables of every scope), as median
// and 95th percentile; and, with a guest that exits every third instruction (CPUID in a loop),
// how soon `pause` stops it and how often the VM exits view's `vmxExitStats` reports arrive
// while it runs. Part of `npm run bench`; alone: `npm run bench:dap` (readable) or `-- --json`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { AsmLine, BenchError, encode } from './guest';
import { Report } from './report';

const ROOT = path.resolve(__dirname, '../..');
const ADAPTER = path.join(ROOT, 'out/debug-adapter/main.js');
const HELLO = path.join(ROOT, 'samples/hello/hello.elf');
/** Launches timed and step round trips measured; `--quick` divides both by 5. */
export interface DapCounts { launches: number; steps: number; pauses: number }
export const DAP_FULL: DapCounts = { launches: 10, steps: 300, pauses: 10 };
export const DAP_QUICK: DapCounts = { launches: 2, steps: 60, pauses: 3 };

/** Real mode at 0x8000: CPUID for ever, a VM exit every third instruction. */
const CPUID_LOOP: AsmLine[] = [
  { asm: 'again:', bytes: [] },
  { asm: 'xor eax, eax', bytes: [0x66, 0x31, 0xc0] },
  { asm: 'cpuid', bytes: [0x0f, 0xa2] },
  { asm: 'jmp again', bytes: [0xeb, 0xf9] },
];

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

  const heavy = await session((dc) => exitHeavy(dc, counts.pauses));
  report.figure('dap-pause-exit-heavy', percentile(heavy.pause, 0.5), 'ms',
    `median of ${counts.pauses} pause → stopped, guest exiting every 3rd instruction; p95 ${percentile(heavy.pause, 0.95).toFixed(1)} ms`);
  report.figure('dap-exit-stats-interval', percentile(heavy.gaps, 0.5), 'ms',
    `median gap between vmxExitStats reports while that guest runs (${heavy.gaps.length} gaps; at least 250 ms by design); max ${heavy.gaps[heavy.gaps.length - 1].toFixed(1)} ms`);
}

/** pause → stopped while CPUID_LOOP runs, `pauses` times; and the gaps between running vmxExitStats reports. */
async function exitHeavy(dc: DebugClient, pauses: number): Promise<{ pause: number[]; gaps: number[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-bench-'));
  try {
    const program = path.join(dir, 'cpuid-loop.bin');
    fs.writeFileSync(program, encode(CPUID_LOOP));
    const reports: number[] = [];
    dc.on('vmxExitStats', (e: DebugProtocol.Event) => { if ((e.body as { running?: boolean }).running === true) reports.push(performance.now()); });
    await dc.initializeRequest();
    const initialized = dc.waitForEvent('initialized');
    await dc.launchRequest({ program, loadAddress: 0x8000 } as DebugProtocol.LaunchRequestArguments);
    await initialized;
    await dc.configurationDoneRequest();
    const pause: number[] = [];
    const gaps: number[] = [];
    for (let k = 0; k < pauses; k++) {
      if (k > 0) await dc.continueRequest({ threadId: 1 });
      reports.length = 0;
      await new Promise((r) => setTimeout(r, 1000));
      for (let j = 1; j < reports.length; j++) gaps.push(reports[j] - reports[j - 1]);
      const stopped = dc.waitForEvent('stopped');
      const t0 = performance.now();
      await dc.pauseRequest({ threadId: 1 });
      const ev = await stopped as DebugProtocol.StoppedEvent;
      pause.push(performance.now() - t0);
      if (ev.body.reason !== 'pause') throw new BenchError(`the CPUID loop stopped for '${ev.body.reason}', not pause`);
    }
    if (gaps.length === 0) throw new BenchError('no vmxExitStats reports came while the CPUID loop ran');
    return { pause: pause.sort((a, b) => a - b), gaps: gaps.sort((a, b) => a - b) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
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
