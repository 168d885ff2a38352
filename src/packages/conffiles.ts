/**
 * What became of locally modified conffiles that an update also changed: kept (the local file
 * stays; dpkg leaves the package's version beside it as .dpkg-dist) or replaced (the package's
 * version installed; the local one saved as .dpkg-old).
 *
 * Judged from dpkg's database and the files on disk, before and after the update, not from dpkg's
 * output: its messages are translated (a German locale says "Konfigurationsdatei"), an interactive
 * run's output is a terminal transcript, and a shell line may run dpkg more than once. dpkg records,
 * per conffile, the hash of the package's version (`dpkg-query -W -f='${Conffiles}'`); a file on
 * disk whose hash differs from it was modified locally. So: modified before, a new package hash
 * after (the distributor changed it), and the file on disk after either still the local one (kept)
 * or the package's (replaced).
 */

export interface ConffileState {
  /** path → the package's hash as dpkg recorded it, and the package. */
  recorded: Map<string, { hash: string; package: string }>;
  /** path → md5 of the file on disk, for conffiles and their .dpkg-dist/.dpkg-old beside them; absent: no such file. */
  disk: Map<string, string>;
}

export interface ConffileOutcome {
  path: string;
  package: string;
  /** kept: the local file stays; replaced: the package's version was installed; other: neither (edited at the prompt). */
  outcome: 'kept' | 'replaced' | 'other';
  /** The other version beside it: the package's (.dpkg-dist) when kept, the local one (.dpkg-old) when replaced. */
  sideFile: string | null;
}

/**
 * Lists every package's conffiles with the recorded hashes, a marker line, then md5sum of each
 * conffile and of its .dpkg-dist and .dpkg-old (missing ones leave no line). One exec, read-only.
 */
export const CONFFILES_SCRIPT = [
  `command -v dpkg-query >/dev/null 2>&1 || { echo no-dpkg; exit 0; }`,
  `list=$(dpkg-query -W -f='\${binary:Package}\\n\${Conffiles}\\n' 2>/dev/null) || exit 3`,
  `printf '%s\\n' "$list"`,
  `echo '--- on disk'`,
  `printf '%s\\n' "$list" | awk '/^ \\// { print $1; print $1 ".dpkg-dist"; print $1 ".dpkg-old" }' | tr '\\n' '\\0' | xargs -0 -r md5sum 2>/dev/null`,
  `exit 0`,
].join('\n');

/** The script's output; null where the instance has no dpkg. */
export function parseConffiles(output: string): ConffileState | null {
  if (output.trim() === 'no-dpkg') return null;
  const state: ConffileState = { recorded: new Map(), disk: new Map() };
  const marker = output.indexOf('--- on disk');
  const [listed, hashed] = marker === -1 ? [output, ''] : [output.slice(0, marker), output.slice(marker)];
  let pkg = '';
  for (const line of listed.split('\n')) {
    const conffile = /^ (\/\S+) (\S+)(?: .*)?$/.exec(line);
    if (conffile) {
      // A hash of "newconffile" is dpkg's mark during an unpack: nothing to compare.
      if (/^[0-9a-f]{32}$/.test(conffile[2]!)) state.recorded.set(conffile[1]!, { hash: conffile[2]!, package: pkg });
    } else if (line.trim() !== '') {
      pkg = line.trim();
    }
  }
  for (const line of hashed.split('\n')) {
    // md5sum escapes odd names with a leading backslash: such a path is not one dpkg listed as written.
    const sum = /^([0-9a-f]{32}) [ *](\/.*)$/.exec(line);
    if (sum) state.disk.set(sum[2]!, sum[1]!);
  }
  return state;
}

/** The conffiles that were modified locally and that the update's packages changed, and what became of each. */
export function decideConffiles(before: ConffileState, after: ConffileState): ConffileOutcome[] {
  const outcomes: ConffileOutcome[] = [];
  for (const [path, now] of after.recorded) {
    const then = before.recorded.get(path);
    if (!then || then.hash === now.hash) continue;
    const localBefore = before.disk.get(path) ?? null;
    if (localBefore === then.hash) continue;
    const onDisk = after.disk.get(path) ?? null;
    const outcome = onDisk === localBefore ? 'kept' : onDisk === now.hash ? 'replaced' : 'other';
    const side = outcome === 'kept' ? `${path}.dpkg-dist` : outcome === 'replaced' ? `${path}.dpkg-old` : null;
    const sideHash = side === null ? undefined : after.disk.get(side);
    const sideFile = side !== null && sideHash === (outcome === 'kept' ? now.hash : localBefore) ? side : null;
    outcomes.push({ path, package: now.package, outcome, sideFile });
  }
  return outcomes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
