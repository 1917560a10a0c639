// Command-line parsing for `vmx-debug`, with no third-party parser. Each command declares its
// arguments and options as data (a CommandSpec); parseInvocation checks argv against those
// declarations strictly and throws a UsageError that names the offending word. A new command
// (`run <program>` …) only adds a spec and a module; nothing here changes.
//
// Grammar:  vmx-debug [global options] <command> [options and arguments, in any order] [-- words]
//   global options: -h/--help, -V/--version (also accepted after the command)
//   options:        --name, --name=value, --name value, -x, -x value
//   `--`            ends option parsing: every later word is an argument, even one starting with '-'

/** Bad input from the user: printed as one line on stderr, exit status 2, never a stack trace. */
export class UsageError extends Error {
  /** The command whose usage the message refers to, when one was recognised. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/** One positional argument of a command. */
export interface PositionalSpec {
  /** Shown in usage as <name> (required) or [name] (optional). */
  readonly name: string;
  readonly description: string;
  /** May be left out; only trailing positionals may be optional. */
  readonly optional?: boolean;
  /** Takes every remaining argument word (zero or more); last positional only. */
  readonly rest?: boolean;
  /** The only words accepted; anything else is a UsageError naming the word. */
  readonly choices?: readonly string[];
  /** What a bad choice is called in the error message ("table" → "unknown table 'x'"). */
  readonly noun?: string;
}

/** One option of a command: a flag (`--json`), or one that takes a value (`--max-steps N`). */
export interface OptionSpec {
  /** Long name without the dashes. */
  readonly name: string;
  /** One-letter alias without the dash. */
  readonly short?: string;
  readonly description: string;
  /** Placeholder for the option's value in usage; absent for a flag. */
  readonly value?: string;
}

/** A command as data: what the parser checks and what help prints. */
export interface CommandSpec {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Paragraphs printed under the usage line of `help <command>`. */
  readonly description?: string;
  readonly positionals: readonly PositionalSpec[];
  readonly options: readonly OptionSpec[];
  readonly examples?: readonly string[];
}

/** Options every command accepts; handled by the parser itself. */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = Object.freeze([
  { name: 'help', short: 'h', description: 'Show usage (of the command, when one is given)' },
  { name: 'version', short: 'V', description: "Print vmx-debug's version" },
]);

/** The words of one command invocation, checked against its spec. */
export class ParsedArgs {
  readonly spec: CommandSpec;
  private readonly positionalValues: ReadonlyMap<string, readonly string[]>;
  private readonly optionValues: ReadonlyMap<string, string | true>;

  constructor(spec: CommandSpec, positionals: ReadonlyMap<string, readonly string[]>,
    options: ReadonlyMap<string, string | true>) {
    this.spec = spec;
    this.positionalValues = positionals;
    this.optionValues = options;
  }

  /** The word given for a single positional; undefined when an optional one was left out. */
  positional(name: string): string | undefined {
    const p = this.positionalSpec(name);
    if (p.rest === true) throw new Error(`positional '${name}' of '${this.spec.name}' takes many words: use rest()`);
    return this.positionalValues.get(name)?.[0];
  }

  /** The words a `rest` positional collected (possibly none). */
  rest(name: string): readonly string[] {
    const p = this.positionalSpec(name);
    if (p.rest !== true) throw new Error(`positional '${name}' of '${this.spec.name}' is a single word: use positional()`);
    return this.positionalValues.get(name) ?? [];
  }

  /** Whether a flag was given. */
  flag(name: string): boolean {
    const o = this.optionSpec(name);
    if (o.value !== undefined) throw new Error(`option '--${name}' of '${this.spec.name}' takes a value: use option()`);
    return this.optionValues.has(name);
  }

  /** The value of an option that takes one; undefined when it was not given. */
  option(name: string): string | undefined {
    const o = this.optionSpec(name);
    if (o.value === undefined) throw new Error(`option '--${name}' of '${this.spec.name}' is a flag: use flag()`);
    const v = this.optionValues.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  /** Whether the command declares this option (the shared --json convention asks). */
  declares(name: string): boolean {
    return this.spec.options.some((o) => o.name === name);
  }

  // Asking for an undeclared name is a bug in a command module, not bad input.
  private positionalSpec(name: string): PositionalSpec {
    const p = this.spec.positionals.find((x) => x.name === name);
    if (p === undefined) throw new Error(`command '${this.spec.name}' declares no positional '${name}'`);
    return p;
  }

  private optionSpec(name: string): OptionSpec {
    const o = this.spec.options.find((x) => x.name === name);
    if (o === undefined) throw new Error(`command '${this.spec.name}' declares no option '--${name}'`);
    return o;
  }
}

/** What the command line asks for. */
export type Invocation =
  | { readonly kind: 'help'; readonly command?: CommandSpec }
  | { readonly kind: 'version' }
  | { readonly kind: 'command'; readonly args: ParsedArgs };

/** The name of the built-in help command (`vmx-debug help [command]`). */
export const HELP_COMMAND = 'help';

/** `-x`, `--name`, `--`; not `-` alone and not a negative number (`-1` is an argument the command rejects). */
function isOptionWord(word: string): boolean {
  return word.length > 1 && word.startsWith('-') && !/^-[0-9]/.test(word);
}

/** `'--name=value'` → `['--name', 'value']`; anything else → `[word, undefined]`. */
function splitInlineValue(word: string): [string, string | undefined] {
  if (word.startsWith('--')) {
    const eq = word.indexOf('=');
    if (eq > 2) return [word.slice(0, eq), word.slice(eq + 1)];
  }
  return [word, undefined];
}

function findOption(options: readonly OptionSpec[], key: string): OptionSpec | undefined {
  if (key.startsWith('--')) return options.find((o) => o.name === key.slice(2));
  if (key.length === 2) return options.find((o) => o.short === key.slice(1));
  return undefined;
}

function optionLabel(o: OptionSpec): string {
  return `--${o.name}`;
}

/** Edit distance, to suggest the command or name someone probably meant. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** `" (did you mean 'x'?)"` when one candidate is close to `word`, else `""`. */
export function suggestion(word: string, candidates: readonly string[]): string {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(w.length / 3)));
  return best !== undefined && bestDistance <= limit ? ` (did you mean '${best}'?)` : '';
}

/** `'a', 'b' or 'c'`-style list for messages. */
function choiceList(choices: readonly string[]): string {
  return choices.join(', ');
}

/** Checks that a command's spec is well formed; a bad spec is a programming error. */
export function checkSpec(spec: CommandSpec): void {
  const ps = spec.positionals;
  ps.forEach((p, i) => {
    if (p.rest === true && i !== ps.length - 1) throw new Error(`${spec.name}: rest positional '${p.name}' must be last`);
    if (p.optional === true && ps.slice(i + 1).some((q) => q.optional !== true && q.rest !== true)) {
      throw new Error(`${spec.name}: optional positional '${p.name}' is followed by a required one`);
    }
  });
  const names = new Set<string>();
  const shorts = new Set<string>();
  for (const o of [...GLOBAL_OPTIONS, ...spec.options]) {
    if (names.has(o.name)) throw new Error(`${spec.name}: option --${o.name} declared twice`);
    names.add(o.name);
    if (o.short !== undefined) {
      if (o.short.length !== 1 || shorts.has(o.short)) throw new Error(`${spec.name}: bad or repeated short option -${o.short}`);
      shorts.add(o.short);
    }
  }
}

/**
 * Reads argv (without the node and script words) against the commands. Throws UsageError for
 * anything it does not accept: no command, an unknown command or option, a missing or extra
 * argument, a word outside a positional's choices, an option value missing or not wanted.
 */
export function parseInvocation(argv: readonly string[], commands: readonly CommandSpec[]): Invocation {
  const byName = new Map(commands.map((c) => [c.name, c]));
  const commandNames = [...commands.map((c) => c.name), HELP_COMMAND];
  let i = 0;
  let wantHelp = false;

  // Global options before the command.
  for (; i < argv.length && isOptionWord(argv[i]); i++) {
    const word = argv[i];
    if (word === '--') {
      i++;
      break;
    }
    const [key, inline] = splitInlineValue(word);
    const global = findOption(GLOBAL_OPTIONS, key);
    if (global === undefined) {
      const owners = commands.filter((c) => findOption(c.options, key) !== undefined);
      if (owners.length === 0) throw new UsageError(`unknown option '${key}'`);
      const later = argv.slice(i + 1).find((w) => !isOptionWord(w));
      const example = owners.find((c) => c.name === later) ?? owners[0];
      throw new UsageError(`option '${key}' goes after the command name (e.g. 'vmx-debug ${example.name} ${word}')`);
    }
    if (inline !== undefined) throw new UsageError(`option '${optionLabel(global)}' takes no value`);
    if (global.name === 'version') return { kind: 'version' };
    wantHelp = true;
  }

  if (i >= argv.length) {
    if (wantHelp) return { kind: 'help' };
    throw new UsageError('no command given');
  }

  const commandWord = argv[i++];
  if (commandWord === HELP_COMMAND) return parseHelpCommand(argv.slice(i), byName, commandNames);
  const spec = byName.get(commandWord);
  if (spec === undefined) {
    throw new UsageError(`unknown command '${commandWord}'${suggestion(commandWord, commandNames)}`);
  }
  if (wantHelp) return { kind: 'help', command: spec };
  return parseCommandWords(spec, argv.slice(i));
}

function parseHelpCommand(rest: readonly string[], byName: ReadonlyMap<string, CommandSpec>,
  commandNames: readonly string[]): Invocation {
  const words = rest.filter((w) => w !== '--help' && w !== '-h');
  const option = words.find(isOptionWord);
  if (option !== undefined) throw new UsageError(`unknown option '${option}' for '${HELP_COMMAND}'`);
  if (words.length === 0) return { kind: 'help' };
  if (words.length > 1) throw new UsageError(`unexpected argument '${words[1]}' for '${HELP_COMMAND}'`);
  if (words[0] === HELP_COMMAND) return { kind: 'help' };
  const spec = byName.get(words[0]);
  if (spec === undefined) throw new UsageError(`unknown command '${words[0]}'${suggestion(words[0], commandNames)}`);
  return { kind: 'help', command: spec };
}

function parseCommandWords(spec: CommandSpec, words: readonly string[]): Invocation {
  function fail(message: string): never {
    throw new UsageError(message, spec.name);
  }
  const options = new Map<string, string | true>();
  const positionalWords: string[] = [];
  let optionsEnded = false;

  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (optionsEnded || !isOptionWord(word)) {
      positionalWords.push(word);
      continue;
    }
    if (word === '--') {
      optionsEnded = true;
      continue;
    }
    const [key, inline] = splitInlineValue(word);
    const global = findOption(GLOBAL_OPTIONS, key);
    if (global !== undefined) {
      if (inline !== undefined) fail(`option '${optionLabel(global)}' takes no value`);
      return global.name === 'version' ? { kind: 'version' } : { kind: 'help', command: spec };
    }
    const option = findOption(spec.options, key);
    if (option === undefined) {
      const names = spec.options.map(optionLabel);
      fail(`unknown option '${key}' for '${spec.name}'${suggestion(key, names)}`);
    }
    if (option.value === undefined) {
      if (inline !== undefined) fail(`option '${optionLabel(option)}' takes no value`);
      options.set(option.name, true); // repeating a flag changes nothing
      continue;
    }
    if (options.has(option.name)) fail(`option '${optionLabel(option)}' given more than once`);
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= words.length) fail(`option '${optionLabel(option)}' needs a value (${option.value})`);
      value = words[++i];
    }
    if (value === '') fail(`option '${optionLabel(option)}' needs a value (${option.value})`);
    options.set(option.name, value);
  }

  const positionals = new Map<string, readonly string[]>();
  let next = 0;
  for (const p of spec.positionals) {
    if (p.rest === true) {
      positionals.set(p.name, positionalWords.slice(next));
      next = positionalWords.length;
      break;
    }
    if (next >= positionalWords.length) {
      if (p.optional !== true) fail(`missing argument <${p.name}>`);
      break;
    }
    const word = positionalWords[next++];
    if (p.choices !== undefined && !p.choices.includes(word)) {
      fail(`unknown ${p.noun ?? p.name} '${word}'${suggestion(word, p.choices)}; expected one of: ${choiceList(p.choices)}`);
    }
    positionals.set(p.name, [word]);
  }
  if (next < positionalWords.length) fail(`unexpected argument '${positionalWords[next]}'`);

  return { kind: 'command', args: new ParsedArgs(spec, positionals, options) };
}
