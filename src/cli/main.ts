#!/usr/bin/env node
// Entry point of the `vmx-debug` bin: wires the process streams to runCli (src/cli/cli.ts).
import { runCli } from './cli';

// `vmx-debug tables | head` closes the pipe early: stop quietly instead of throwing EPIPE.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

void runCli(process.argv.slice(2), {
  stdout: (text) => { process.stdout.write(text); },
  stderr: (text) => { process.stderr.write(text); },
}, { showStack: process.env.VMX_DEBUG_STACK === '1' }).then((status) => {
  process.exitCode = status;
});
