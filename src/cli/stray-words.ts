import { UsageError } from '../errors.js';

// What the run's command line can hold that is not an instance: a subcommand mistyped, an
// option unknown, or the update command without its "--". Each is refused with what was meant,
// before anything is read or changed.

/**
 * The candidate closest to `word` by edit distance (a swap of two neighbours counts once, as in
 * `histroy`), if it is close enough to be a typo: at most 2 edits, and most of the word kept.
 */
export function closest(word: string, candidates: readonly string[]): string | null {
  let best: { candidate: string; distance: number } | null = null;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    const kept = (Math.max(word.length, candidate.length) - distance) / Math.max(word.length, candidate.length);
    if (distance > 0 && distance <= 2 && kept > 0.5 && (best === null || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate ?? null;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j += 1) d[0]![j] = j;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

export function missingSeparator(instance: string): UsageError {
  return new UsageError(`missing "--" before the update command, as in: safeupdate ${instance} -- apt-get upgrade -y`);
}

/**
 * The run takes unknown options as words (commander would otherwise say "unknown option '-y'" of
 * apt's own option, hiding the forgotten "--"); this decides what they were:
 * - no "--" and a first word close to a subcommand (`snapshot web1`, `histroy`): a typo of it,
 *   unless `run` was typed (then it names an instance);
 * - no "--" and more words than an instance: the update command without its "--";
 * - with "--", a word before it that starts with "-": an unknown option, with the closest known one.
 */
export function refuseStrayWords(words: readonly string[], command: readonly string[] | null, known: { subcommands: readonly string[]; options: readonly string[]; explicitRun: boolean }): void {
  const [first] = words;
  if (command === null && first !== undefined && !first.startsWith('-')) {
    const meant = known.explicitRun ? null : closest(first, known.subcommands);
    if (meant) throw new UsageError(`unknown command "${first}" (did you mean ${meant}?); to update an instance of that name: safeupdate run ${first} -- <command>`);
    if (words.length > 1) throw missingSeparator(first);
  }
  const option = words.find((word) => word.startsWith('-'));
  if (option === undefined) return;
  const name = option.replace(/=.*$/, '');
  const meant = name.startsWith('--') ? closest(name, known.options) : null;
  throw new UsageError(`unknown option '${option}'${meant ? ` (did you mean ${meant}?)` : ''}`);
}
