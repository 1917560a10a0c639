// What a command module exports: its spec (arguments and options, for the parser and help)
// and the function that runs it. Commands report bad input by throwing UsageError (exit 2).
import { CommandSpec, OptionSpec, ParsedArgs } from './args';
import { Output } from './output';

export interface Command {
  readonly spec: CommandSpec;
  /** Runs the command; resolves to the exit status. May be async (running a guest will be). */
  run(args: ParsedArgs, out: Output): number | Promise<number>;
}

/** The shared `--json` option; a command that declares it gets an Output in JSON mode. */
export const JSON_OPTION: OptionSpec = Object.freeze({
  name: 'json',
  description: 'Print one JSON object per line (64-bit values and addresses as "0x…" strings)',
});
