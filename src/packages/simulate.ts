import { classifyBump } from './versions.js';
import type { PackageChange } from './inventory.js';

const APT = /^(?:\/usr\/bin\/)?(apt|apt-get)$/;
/** apt options whose value is the next word: `-t bookworm-backports` names no action. */
const TAKES_VALUE = new Set(['-o', '--option', '-c', '--config-file', '-t', '--target-release', '--default-release', '-a', '--host-architecture']);
const SIMULATED = new Set(['upgrade', 'dist-upgrade', 'full-upgrade', 'install', 'remove', 'purge', 'autoremove']);

/**
 * The same apt command with `-s` (simulate), or why there is none. Only a direct apt or apt-get
 * call is simulated: a shell line can do anything before or after it, and guessing at it would be
 * a plan that is not the update's.
 */
export function simulationOf(command: readonly string[]): { argv: string[] } | { reason: string } {
  const [binary = '', ...args] = command;
  if (!APT.test(binary)) {
    return { reason: `only a direct apt or apt-get command can be simulated, not "${command.join(' ')}" (run apt-get update first, then give the apt-get command itself)` };
  }
  const action = args.find((arg, i) => !arg.startsWith('-') && !TAKES_VALUE.has(args[i - 1] ?? ''));
  if (action === undefined || !SIMULATED.has(action)) return { reason: `apt ${action ?? '(no action)'} changes no packages that can be simulated` };
  return { argv: [binary, '-s', ...args] };
}

/**
 * `apt-get -s` prints what it would do, one line per package: `Inst name [old] (new …)` for an
 * upgrade, `Inst name (new …)` for a new package, `Remv name [old]` or `Purg name [old]`.
 */
export function parseSimulation(output: string): PackageChange[] {
  const changes = new Map<string, PackageChange>();
  for (const line of output.split('\n')) {
    const install = /^Inst (\S+) (?:\[([^\]]+)\] )?\((\S+)/.exec(line);
    if (install) {
      const [, name, from = null, to] = install as unknown as [string, string, string | undefined, string];
      // A reinstall of the same version changes nothing.
      if (from === to) continue;
      changes.set(name, from === null
        ? { name, kind: 'added', from: null, to, bump: null }
        : { name, kind: 'changed', from, to, bump: classifyBump('dpkg', from, to) });
      continue;
    }
    const removal = /^(?:Remv|Purg) (\S+)(?: \[([^\]]+)\])?/.exec(line);
    if (removal) changes.set(removal[1]!, { name: removal[1]!, kind: 'removed', from: removal[2] ?? null, to: null, bump: null });
  }
  return [...changes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
