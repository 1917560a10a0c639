// Runs one command line: parse, dispatch, and map failures to exit statuses. Bad input
// (UsageError) is one line on stderr and status 2; any other error is a bug, reported as one
// line on stderr and status 1 (the stack only with VMX_DEBUG_STACK=1). Never calls
// process.exit, so output is flushed and tests can run it in-process.
import { parseInvocation, UsageError } from './args';
import { Command } from './command';
import { COMMANDS } from './commands';
import { commandHelp, generalHelp, PROGRAM } from './help';
import { CliIo, Output } from './output';
import { packageVersion } from './version';

export const EXIT_OK = 0;
export const EXIT_INTERNAL_ERROR = 1;
export const EXIT_USAGE = 2;

export interface RunCliOptions {
  readonly commands?: readonly Command[];
  /** Print stacks of internal errors. */
  readonly showStack?: boolean;
}

/** Runs `vmx-debug` with `argv` (the words after the script) and resolves to the exit status. */
export async function runCli(argv: readonly string[], io: CliIo, options: RunCliOptions = {}): Promise<number> {
  const commands = options.commands ?? COMMANDS;
  const specs = commands.map((c) => c.spec);
  try {
    const invocation = parseInvocation(argv, specs);
    switch (invocation.kind) {
      case 'version':
        io.stdout(`${packageVersion()}\n`);
        return EXIT_OK;
      case 'help':
        io.stdout(invocation.command === undefined ? generalHelp(specs) : commandHelp(invocation.command));
        return EXIT_OK;
      case 'command': {
        const { args } = invocation;
        const command = commands.find((c) => c.spec === args.spec);
        if (command === undefined) throw new Error(`no implementation for command '${args.spec.name}'`);
        const json = args.declares('json') && args.flag('json');
        return await command.run(args, new Output(io, json));
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`${PROGRAM}: ${err.message}\n`);
      const helpWord = err.command === undefined ? '--help' : `help ${err.command}`;
      io.stderr(`Run '${PROGRAM} ${helpWord}' for usage.\n`);
      return EXIT_USAGE;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr(`${PROGRAM}: internal error: ${message}\n`);
    if (options.showStack === true && err instanceof Error && err.stack !== undefined) io.stderr(`${err.stack}\n`);
    return EXIT_INTERNAL_ERROR;
  }
}
