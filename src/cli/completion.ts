import { Help, type Command, type Option } from 'commander';
import type { ClientName } from '../lxd/dialect.js';

/**
 * Completion scripts for bash, zsh and fish, generated from commander's own command tree, so every
 * subcommand and option the parser knows is offered and nothing else (the old script grepped
 * `--help` for words starting with `--`, and offered `--refresh` from a description). Instance
 * names are asked of the client at completion time (`lxc list --format csv -c n`, the client's own
 * fast listing; `incus list` for Incus), so they are always current.
 *
 * Why not a library: @pnpm/tabtab and omelette both answer each TAB by starting the program again
 * (a Node start, 50–140 ms here, per keystroke) and tabtab's zsh script goes through bash's; the
 * tree is all there is to know, and three small static scripts follow from it.
 */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** What a value (of an option or an argument) completes to. */
type Values = { kind: 'choices'; choices: string[] } | { kind: 'file' } | { kind: 'instance' } | { kind: 'free' };

interface OptionSpec {
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
function layout(tree: CommandSpec) {
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

export function completionScript(shell: Shell, tree: CommandSpec, client: ClientName = 'lxc'): string {
  if (shell === 'bash') return bashScript(tree, client);
  if (shell === 'zsh') return zshScript(tree, client);
  return fishScript(tree, client);
}

const listInstances = (client: ClientName) => `${client} list --format csv -c n 2>/dev/null`;
const flagsOf = (option: OptionSpec) => [option.short, option.long].filter((flag): flag is string => flag !== undefined);
const key = (path: string[]) => path.join(' ');
/** A shell word in single quotes, for bash and zsh. */
const sq = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

function bashScript(tree: CommandSpec, client: ClientName): string {
  const { all, optionsAt } = layout(tree);
  const words = (list: string[]) => sq(list.join(' '));
  const valuesCase = (options: OptionSpec[]) => {
    const lines: string[] = [];
    for (const option of options.filter((o) => o.takes === 'required')) {
      const action =
        option.values.kind === 'choices' ? `_safeupdate_words ${words(option.values.choices)} "$cur"`
        : option.values.kind === 'file' ? '_safeupdate_files "$cur"'
        : option.values.kind === 'instance' ? '_safeupdate_words "$(_safeupdate_instances)" "$cur"'
        : ':';
      lines.push(`      ${flagsOf(option).join('|')}) ${action}; return 0 ;;`);
    }
    return lines;
  };
  const branches = all.map((spec) => {
    const options = optionsAt(spec);
    const positional: string[] = [];
    if (spec.subcommands.length > 0) positional.push(`_safeupdate_words ${words(spec.subcommands.map((sub) => sub.path.at(-1)!))} "$cur"`);
    if (spec.path.length === 0 || spec.positional?.kind === 'instance') positional.push('_safeupdate_words "$(_safeupdate_instances)" "$cur" add');
    else if (spec.positional?.kind === 'choices') positional.push(`_safeupdate_words ${words(spec.positional.choices)} "$cur" add`);
    const valued = options.filter((o) => o.takes === 'required').flatMap(flagsOf);
    return [
      `    ${sq(key(spec.path))})`,
      `      valued=${words(valued)}`,
      `      options=${words(options.flatMap(flagsOf))}`,
      '      ;;',
      `  ${sq(key(spec.path))})`,
      '    case $prev in',
      ...valuesCase(options),
      '    esac',
      '    if [[ $cur == -* ]]; then',
      '      _safeupdate_words "$options" "$cur"',
      '    else',
      ...(positional.length > 0 ? positional.map((line) => `      ${line}`) : ['      :']),
      '    fi',
      '    ;;',
    ];
  });
  const data = branches.map((lines) => lines.slice(0, 4).join('\n')).join('\n');
  const actions = branches.map((lines) => lines.slice(4).join('\n')).join('\n');
  const steps = all.filter((spec) => spec.path.length > 0).map((spec) => `      ${sq(`${key(spec.path.slice(0, -1))}/${spec.path.at(-1)}`)}) path=${sq(key(spec.path))} ;;`);
  return `# safeupdate completion for bash, generated from safeupdate's command tree:
#   eval "$(safeupdate completion bash)"      (or save it as /etc/bash_completion.d/safeupdate)

_safeupdate_instances() {
  ${listInstances(client)}
}

# _safeupdate_words WORDS CUR [add]: the words that begin with CUR (added to what is there with "add").
_safeupdate_words() {
  local -a found
  mapfile -t found < <(compgen -W "$1" -- "$2")
  if [[ \${3-} == add ]]; then COMPREPLY+=("\${found[@]}"); else COMPREPLY=("\${found[@]}"); fi
}

_safeupdate_files() {
  compopt -o filenames 2>/dev/null
  mapfile -t COMPREPLY < <(compgen -f -- "$1")
}

# The options of each command, and which of them take the next word as their value.
_safeupdate_options() {
  case $1 in
${data}
  esac
}

_safeupdate() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD - 1]}
  local path='' word valued options i
  COMPREPLY=()
  # Which command the words so far chose; after "--" comes the update command: nothing to offer.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    if [[ $word == -- ]]; then return 0; fi
    if [[ $word == -* ]]; then
      _safeupdate_options "$path"
      if [[ $word != *=* && " $valued " == *" $word "* ]]; then i=$((i + 1)); fi
      continue
    fi
    case "$path/$word" in
${steps.join('\n')}
      /*) path=run ;;
    esac
  done
  _safeupdate_options "$path"
  case $path in
${actions}
  esac
  return 0
}

complete -F _safeupdate safeupdate
`;
}

/** Text inside an _arguments spec's [description] or a _describe entry, inside single quotes. */
const zshText = (text: string) => text.replace(/\\/g, '\\\\').replace(/([[\]:])/g, '\\$1').replace(/'/g, `'\\''`);

function zshScript(tree: CommandSpec, client: ClientName): string {
  const { all, optionsAt } = layout(tree);
  const fn = (spec: CommandSpec) => ['_safeupdate', ...spec.path.map((word) => word.replace(/-/g, '_'))].join('_').replace(/^__safeupdate/, '_safeupdate');
  const action = (values: Values) =>
    values.kind === 'choices' ? `(${values.choices.join(' ')})`
    : values.kind === 'file' ? '_files'
    : values.kind === 'instance' ? '_safeupdate_instances'
    : ' ';
  const optionSpecs = (options: OptionSpec[]) =>
    options.flatMap((option) =>
      flagsOf(option).map((flag) => {
        const stop = option.long === '--help' || option.long === '--version' ? '(- *)' : option.repeatable ? '*' : '';
        const description = `[${zshText(option.description)}]`;
        if (option.takes === 'none') return `'${stop}${flag}${description}'`;
        const form = option.takes === 'optional' ? `${flag}=-` : flag.startsWith('--') ? `${flag}=` : flag;
        const colons = option.takes === 'optional' ? '::' : ':';
        return `'${stop}${form}${description}${colons}${zshText(option.placeholder)}:${action(option.values)}'`;
      }),
    );
  const functions = all.map((spec) => {
    const specs = optionSpecs(optionsAt(spec));
    if (spec.subcommands.length > 0) {
      const entries = spec.subcommands.map((sub) => `'${zshText(sub.path.at(-1)!)}:${zshText(sub.description.split(/[;:(]/)[0]!.trim())}'`);
      const dispatch = spec.subcommands.map((sub) => `        ${sub.path.at(-1)!}) ${fn(sub)} ;;`);
      const top = spec.path.length === 0;
      return `${fn(spec)}() {
  local curcontext=$curcontext state line
  typeset -A opt_args
  _arguments -C -S \\
${specs.map((s) => `    ${s} \\`).join('\n')}
    '1: :->command' \\
    '*:: :->argument'
  case $state in
    command)
      local -a commands
      commands=(${entries.join(' ')})
      _describe -t commands 'command' commands${top ? '\n      _safeupdate_instances' : ''}
      ;;
    argument)
      case $line[1] in
${dispatch.join('\n')}${top ? `\n        *) ${fn(spec.subcommands.find((sub) => sub.path[0] === 'run')!)} ;;` : ''}
      esac
      ;;
  esac
}`;
    }
    const positional = spec.positional ? [`'*:${spec.positional.kind === 'instance' ? 'instance' : 'argument'}:${action(spec.positional)}'`] : [];
    return `${fn(spec)}() {
  # After "--" comes the update command: nothing to offer.
  (( \${words[(I)--]} && \${words[(I)--]} < CURRENT )) && return 1
  _arguments -S \\
${[...specs, ...positional].map((s) => `    ${s}`).join(' \\\n')}
}`;
  });
  return `#compdef safeupdate
# safeupdate completion for zsh, generated from safeupdate's command tree: save it as _safeupdate
# in a folder of $fpath, or, after compinit: eval "$(safeupdate completion zsh)"

_safeupdate_instances() {
  local -a names
  names=(\${(f)"$(${listInstances(client)})"})
  compadd -a names
}

${functions.join('\n\n')}

if [[ $funcstack[1] == _safeupdate ]]; then
  _safeupdate "$@"
else
  compdef _safeupdate safeupdate
fi
`;
}

/** A word in single quotes, for fish. */
const fq = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fishScript(tree: CommandSpec, client: ClientName): string {
  const { all, optionsAt } = layout(tree);
  const valued = all.flatMap((spec) => optionsAt(spec).filter((o) => o.takes === 'required').flatMap(flagsOf).map((flag) => fq(`${key(spec.path)}/${flag}`)));
  const steps = all.filter((spec) => spec.path.length > 0).map((spec) => `            case ${fq(`${key(spec.path.slice(0, -1))}/${spec.path.at(-1)}`)}\n                set path ${fq(key(spec.path))}`);
  const lines: string[] = [];
  for (const spec of all) {
    const at = `-n ${fq(`__safeupdate_at ${fq(key(spec.path))}`)}`;
    for (const sub of spec.subcommands) lines.push(`complete -c safeupdate ${at} -a ${fq(sub.path.at(-1)!)} -d ${fq(sub.description)}`);
    if (spec.path.length === 0 || spec.positional?.kind === 'instance') lines.push(`complete -c safeupdate ${at} -a '(__safeupdate_instances)'`);
    else if (spec.positional?.kind === 'choices') lines.push(`complete -c safeupdate ${at} -a ${fq(spec.positional.choices.join(' '))}`);
    for (const option of optionsAt(spec)) {
      const flags = [option.short ? `-s ${option.short.slice(1)}` : '', option.long ? `-l ${option.long.slice(2)}` : ''].filter(Boolean).join(' ');
      const value =
        option.takes !== 'required' ? ''
        : option.values.kind === 'choices' ? ` -x -a ${fq(option.values.choices.join(' '))}`
        : option.values.kind === 'file' ? ' -r -F'
        : option.values.kind === 'instance' ? " -x -a '(__safeupdate_instances)'"
        : ' -x';
      lines.push(`complete -c safeupdate ${at} ${flags}${value} -d ${fq(option.description)}`);
    }
  }
  return `# safeupdate completion for fish, generated from safeupdate's command tree:
#   safeupdate completion fish > ~/.config/fish/completions/safeupdate.fish

function __safeupdate_instances
    ${listInstances(client)}
end

# The options that take the next word as their value, as "COMMAND/OPTION".
set -g __safeupdate_valued ${valued.join(' ')}

# Which command the words so far chose ("" for the program, "hooks install"); "--" after it.
function __safeupdate_path
    set -l words (commandline -opc)
    set -e words[1]
    set -l path ''
    set -l skip 0
    for word in $words
        if test $skip = 1
            set skip 0
            continue
        end
        if test "$word" = --
            printf '%s\\n' --
            return
        end
        if string match -q -- '-*' $word
            if not string match -q -- '*=*' $word; and contains -- "$path/$word" $__safeupdate_valued
                set skip 1
            end
            continue
        end
        switch "$path/$word"
${steps.join('\n')}
            case '/*'
                set path run
        end
    end
    printf '%s\\n' $path
end

function __safeupdate_at
    contains -- (__safeupdate_path) $argv
end

complete -c safeupdate -f
${lines.join('\n')}
`;
}
