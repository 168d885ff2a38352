import type { ClientName } from '../lxd/dialect.js';
import { bashScript } from './completion/bash.js';
import { fishScript } from './completion/fish.js';
import type { CommandSpec, Shell } from './completion/tree.js';
import { zshScript } from './completion/zsh.js';

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

export function completionScript(shell: Shell, tree: CommandSpec, client: ClientName = 'lxc'): string {
  if (shell === 'bash') return bashScript(tree, client);
  if (shell === 'zsh') return zshScript(tree, client);
  return fishScript(tree, client);
}
