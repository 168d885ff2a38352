import type { ClientName } from '../../lxd/dialect.js';
import { flagsOf, layout, listInstances, type CommandSpec, type OptionSpec, type Values } from './tree.js';

const zshText = (text: string) => text.replace(/\\/g, '\\\\').replace(/([[\]:])/g, '\\$1').replace(/'/g, `'\\''`);

export function zshScript(tree: CommandSpec, client: ClientName): string {
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
