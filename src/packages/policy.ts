import type { PackageChange } from './inventory.js';

/** The bump at and above which an update is refused: `major` refuses majors, `minor` also minors. */
export type RefuseLevel = 'major' | 'minor';

export interface UpgradePolicy {
  refuse: RefuseLevel | null;
  /** Package names (globs with * and ?) exempt from the refusal. */
  allow: string[];
}

/** The changes the policy refuses. `other` is never refused: it says "cannot tell", not "big". */
export function refusedChanges(changes: PackageChange[], policy: UpgradePolicy): PackageChange[] {
  if (policy.refuse === null) return [];
  const refused = policy.refuse === 'major' ? ['major'] : ['major', 'minor'];
  const allowed = policy.allow.map(globToRegExp);
  // dpkg names a multi-arch package name:arch; a glob names the package.
  const exempt = (name: string) => allowed.some((pattern) => pattern.test(name) || pattern.test(name.replace(/:[^:]+$/, '')));
  return changes.filter((change) => change.bump !== null && refused.includes(change.bump) && !exempt(change.name));
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

export function describeChange(change: PackageChange): string {
  if (change.kind === 'added') return `${change.name} (new, ${change.to})`;
  if (change.kind === 'removed') return `${change.name} (removed, was ${change.from})`;
  return `${change.name} ${change.from} → ${change.to} (${change.bump})`;
}
