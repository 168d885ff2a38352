import type { ClientName } from '../lxd/dialect.js';

/**
 * Completion scripts: subcommands, and instance names asked of LXD at completion time (so they
 * are always current; `lxc list -c n` is the client's own, fast listing), through the client
 * safeupdate drives (`incus list -c n` for Incus).
 */
export function completionScript(shell: 'bash' | 'zsh', subcommands: string[], client: ClientName = 'lxc'): string {
  const words = subcommands.join(' ');
  const bash = `# safeupdate completion for bash: eval "$(safeupdate completion bash)"
_safeupdate() {
  local cur=\${COMP_WORDS[COMP_CWORD]}
  local i
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ \${COMP_WORDS[i]} == -- ]] && return 0
  done
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(safeupdate \${COMP_WORDS[1]} --help 2>/dev/null | grep -oE -- '--[a-z-]+' | sort -u)" -- "$cur"))
    return 0
  fi
  local instances
  instances=$(${client} list -c n --format csv 2>/dev/null)
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "${words} $instances" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$instances" -- "$cur"))
  fi
}
complete -F _safeupdate safeupdate
`;
  if (shell === 'bash') return bash;
  return `#compdef safeupdate
# safeupdate completion for zsh: eval "$(safeupdate completion zsh)"
autoload -U +X bashcompinit && bashcompinit
${bash}`;
}
