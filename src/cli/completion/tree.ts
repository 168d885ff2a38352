import { Help, type Command, type Option } from 'commander';
import type { ClientName } from '../../lxd/dialect.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** What a value (of an option or an argument) completes to. */
export type Values = { kind: 'choices'; choices: string[] } | { kind: 'file' } | { kind: 'instance' } | { kind: 'free' };

export interface OptionSpec {
  long: string | undefined;
  short: string | undefined;
  description: string;
  /** 'required': the next word is its value; 'optional': only as --opt=value; 'none': a flag. */
  takes: 'none' | 'required' | 'optional';
  values: Values;
  repeatable: boolean;
  placeholder: string;
}

export interface CommandSpec {
  /** The words that lead here: [] for the program, ['hooks', 'install'] for `hooks install`. */
  path: string[];
  description: string;
  options: OptionSpec[];
  subcommands: CommandSpec[];
  /** What its positional words complete to. */
  positional: Values | null;
}

/** The tree of a commander program: every visible command and option, the help command and options included. */
export function commandTree(program: Command): CommandSpec {
  const walk = (command: Command, path: string[]): CommandSpec => {
    const help = new Help();
    const subcommands = help.visibleCommands(command).map((sub) => {
      if (sub.name() !== 'help' || sub.commands.length > 0) return walk(sub, [...path, sub.name()]);
      // commander's implicit help command: its argument is one of its siblings.
      const siblings = help.visibleCommands(command).map((other) => other.name()).filter((name) => name !== 'help');
      return { path: [...path, 'help'], description: sub.description(), options: [], subcommands: [], positional: { kind: 'choices', choices: siblings } } satisfies CommandSpec;
    });
    const argument = command.registeredArguments[0];
    const positional: Values | null =
      argument === undefined ? null
      : argument.argChoices ? { kind: 'choices', choices: [...argument.argChoices] }
      : /instance/.test(`${argument.name()} ${argument.description}`) ? { kind: 'instance' }
      : { kind: 'free' };
    return { path, description: command.description(), options: help.visibleOptions(command).map(describeOption), subcommands, positional };
  };
  return walk(program, []);
}

function describeOption(option: Option): OptionSpec {
  const placeholder = /[<[]([^>\]]*)[>\]]/.exec(option.flags)?.[1] ?? '';
  const choices = option.argChoices ?? (/^[a-z]+(\|[a-z]+)+$/.test(placeholder) ? placeholder.split('|') : null);
  const values: Values =
    choices ? { kind: 'choices', choices: [...choices] }
    : option.optional && /^[a-z]+$/.test(placeholder) ? { kind: 'choices', choices: [placeholder] }
    : placeholder === 'file' ? { kind: 'file' }
    : placeholder === 'instance' ? { kind: 'instance' }
    : { kind: 'free' };
  return {
    long: option.long,
    short: option.short,
    description: option.description,
    takes: option.required ? 'required' : option.optional ? 'optional' : 'none',
    values,
    repeatable: Array.isArray(option.defaultValue) || /repeatable/.test(option.description),
    placeholder: placeholder.replace(/\|/g, ' or ') || 'value',
  };
}

/**
 * The program's subcommand-less form is `run` (its default command): at the top, its options and
 * its instances are offered beside the subcommands, and a first word that is not a subcommand
 * means `run`. The program's own options (--client) hold for every subcommand.
 */
export function layout(tree: CommandSpec) {
  const run = tree.subcommands.find((sub) => sub.path[0] === 'run')!;
  const global = tree.options.filter((option) => option.long !== '--version' && option.long !== '--help');
  const all: CommandSpec[] = [];
  const visit = (spec: CommandSpec) => {
    all.push(spec);
    spec.subcommands.forEach(visit);
  };
  visit(tree);
  const known = (spec: CommandSpec, options: OptionSpec[]) => options.filter((option) => !spec.options.some((own) => own.long === option.long));
  /** The options offered at a command: its own, the program's, and at the top run's too. */
  const optionsAt = (spec: CommandSpec): OptionSpec[] =>
    spec.path.length === 0 ? [...spec.options, ...known(spec, run.options)] : [...spec.options, ...known(spec, global)];
  return { run, all, optionsAt };
}


export const listInstances = (client: ClientName) => `${client} list --format csv -c n 2>/dev/null`;
export const flagsOf = (option: OptionSpec) => [option.short, option.long].filter((flag): flag is string => flag !== undefined);
export const key = (path: string[]) => path.join(' ');
/** A shell word in single quotes, for bash and zsh. */
export const sq = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

