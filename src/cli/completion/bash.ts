import type { ClientName } from '../../lxd/dialect.js';
import { flagsOf, key, layout, listInstances, sq, type CommandSpec, type OptionSpec } from './tree.js';

export function bashScript(tree: CommandSpec, client: ClientName): string {
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
