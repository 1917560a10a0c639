// Every command of `vmx-debug`, in the order help lists them. Adding a command: write its
// module (spec + run) and add it here.
import { checkSpec } from './args';
import { Command } from './command';
import { decodeMsrCommand } from './decode';
import { disasmCommand } from './disasm';
import { exitReasonCommand } from './exit-reason';
import { tablesCommand } from './tables';
import { runCommand } from './run';

export const COMMANDS: readonly Command[] = Object.freeze([runCommand, tablesCommand, decodeMsrCommand, exitReasonCommand, disasmCommand]);

for (const c of COMMANDS) checkSpec(c.spec);
