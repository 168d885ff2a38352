import { BUMPS } from '../packages/versions.js';
import { describeChange } from '../packages/policy.js';
import type { PackageReport } from './report.js';

/** Shown one per line; a longer list is in the JSON report. */
export const LISTED_CHANGES = 30;

/** One line on what changed, or would change: counts by kind, and changed packages by bump. */
export function summarizePackages(packages: PackageReport): string {
  const verb = packages.simulated ? 'would change' : 'changed';
  if (packages.changes.length === 0) {
    return `no package ${verb}${packages.snapshotDeleted ? '; the snapshot was deleted (--keep-unchanged keeps it)' : ''}`;
  }
  const count = (kind: string) => packages.changes.filter((change) => change.kind === kind).length;
  const bumps = BUMPS.filter((bump) => packages.counts[bump] > 0).map((bump) => `${packages.counts[bump]} ${bump}`);
  const parts = [
    `${count('changed')} upgraded${bumps.length ? ` (${bumps.join(', ')})` : ''}`,
    ...(count('added') ? [`${count('added')} added`] : []),
    ...(count('removed') ? [`${count('removed')} removed`] : []),
  ];
  return `${packages.simulated ? 'would change: ' : ''}${parts.join(', ')} (${packages.manager})`;
}

/** The changes, one per line, at most LISTED_CHANGES of them and a line saying how many more. */
export function listChanges(packages: PackageReport): string[] {
  const shown = packages.changes.slice(0, LISTED_CHANGES).map(describeChange);
  const more = packages.changes.length - shown.length;
  return more > 0 ? [...shown, `… and ${more} more (see the JSON report)`] : shown;
}
