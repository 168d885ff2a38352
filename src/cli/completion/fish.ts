import type { ClientName } from '../../lxd/dialect.js';
import { flagsOf, key, layout, listInstances, type CommandSpec } from './tree.js';

const fq = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function fishScript(tree: CommandSpec, client: ClientName): string {
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
