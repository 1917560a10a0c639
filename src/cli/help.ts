// Usage text, generated from the command specs so that it lists exactly what the parser accepts.
import { CommandSpec, GLOBAL_OPTIONS, HELP_COMMAND, OptionSpec, PositionalSpec } from './args';
import { formatTable } from './output';

export const PROGRAM = 'vmx-debug';

function positionalUsage(p: PositionalSpec): string {
  if (p.rest === true) return `[${p.name}...]`;
  return p.optional === true ? `[${p.name}]` : `<${p.name}>`;
}

function optionUsage(o: OptionSpec): string {
  const long = `--${o.name}${o.value === undefined ? '' : ` <${o.value}>`}`;
  return o.short === undefined ? `    ${long}` : `-${o.short}, ${long}`;
}

function optionRows(options: readonly OptionSpec[]): string[] {
  return formatTable([{ header: '' }, { header: '' }], options.map((o) => ({ cells: [optionUsage(o), o.description] })))
    .slice(1);
}

/** `vmx-debug --help` / `vmx-debug help`. */
export function generalHelp(commands: readonly CommandSpec[]): string {
  const commandRows = formatTable([{ header: '' }, { header: '' }], [
    ...commands.map((c) => ({ cells: [c.name, c.summary] })),
    { cells: [HELP_COMMAND, 'Show this usage, or one command\'s usage'] },
  ]).slice(1);
  return [
    `${PROGRAM}: headless command line of the VMX debugger (an emulated Intel VMX CPU)`,
    '',
    'Usage:',
    `  ${PROGRAM} <command> [options] [arguments]`,
    `  ${PROGRAM} ${HELP_COMMAND} [command]`,
    `  ${PROGRAM} --version`,
    '',
    'Commands:',
    ...commandRows,
    '',
    'Options (every command):',
    ...optionRows(GLOBAL_OPTIONS),
    '',
    `Run '${PROGRAM} ${HELP_COMMAND} <command>' for a command's arguments and options.`,
    'Exit status: 0 success, 2 bad command line, 1 internal error.',
    '',
  ].join('\n');
}

/** `vmx-debug help <command>` / `vmx-debug <command> --help`. */
export function commandHelp(spec: CommandSpec): string {
  const usage = [PROGRAM, spec.name];
  if (spec.options.length > 0) usage.push('[options]');
  usage.push(...spec.positionals.map(positionalUsage));
  const lines = [`Usage: ${usage.join(' ')}`, '', spec.summary];
  if (spec.description !== undefined) lines.push('', spec.description);
  if (spec.positionals.length > 0) {
    lines.push('', 'Arguments:', ...formatTable([{ header: '' }, { header: '' }],
      spec.positionals.map((p) => ({ cells: [p.name, p.description] }))).slice(1));
  }
  lines.push('', 'Options:', ...optionRows([...spec.options, ...GLOBAL_OPTIONS]));
  if (spec.examples !== undefined && spec.examples.length > 0) {
    lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  }
  lines.push('');
  return lines.join('\n');
}
