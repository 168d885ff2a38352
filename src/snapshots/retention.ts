import type { Snapshot } from '../lxd/lxd.js';
import { SNAPSHOT_PREFIX } from '../lxd/names.js';

export interface RetentionRules {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  /** Only snapshots older than this may go. */
  olderThanMs?: number;
  /**
   * The snapshot the current run just took: counted as the newest whatever its `created_at` says
   * (a host clock that stepped back makes it look old), and never deleted.
   */
  current?: string;
}

export interface RetentionDecision {
  snapshot: Snapshot;
  keep: boolean;
  /** Why it is kept or may go, for the listing. */
  reason: string;
}

/**
 * Which of an instance's snapshots `prune` may delete, as Borg and lxd-snapper decide it: only
 * snapshots safeupdate made are candidates; one is deleted only when no keep rule keeps it and,
 * with `olderThanMs`, it is older than that. Buckets (day, ISO week, month) are in UTC, and each
 * keeps its newest snapshot.
 */
export function decideRetention(snapshots: Snapshot[], rules: RetentionRules, now: Date): RetentionDecision[] {
  const isCurrent = (s: Snapshot) => s.name === rules.current;
  const own = snapshots
    .filter((s) => s.name.startsWith(SNAPSHOT_PREFIX))
    .sort((a, b) => Number(isCurrent(b)) - Number(isCurrent(a)) || Date.parse(b.createdAt) - Date.parse(a.createdAt));
  const kept = new Map<string, string>();
  const keep = (snapshot: Snapshot, reason: string) => {
    if (!kept.has(snapshot.name)) kept.set(snapshot.name, reason);
  };
  own.filter(isCurrent).forEach((s) => keep(s, 'taken by this run'));
  own.slice(0, rules.keepLast ?? 0).forEach((s, i) => keep(s, `keep-last ${i + 1}`));
  for (const [rule, count, bucket] of [
    ['keep-daily', rules.keepDaily, (d: Date) => d.toISOString().slice(0, 10)],
    ['keep-weekly', rules.keepWeekly, isoWeek],
    ['keep-monthly', rules.keepMonthly, (d: Date) => d.toISOString().slice(0, 7)],
  ] as const) {
    if (!count) continue;
    const seen = new Set<string>();
    for (const snapshot of own) {
      const key = bucket(new Date(snapshot.createdAt));
      if (seen.has(key)) continue;
      seen.add(key);
      if (seen.size > count) break;
      keep(snapshot, `${rule} ${key}`);
    }
  }
  const decisions = own.map((snapshot): RetentionDecision => {
    const reason = kept.get(snapshot.name);
    if (reason) return { snapshot, keep: true, reason };
    const age = now.getTime() - Date.parse(snapshot.createdAt);
    if (rules.olderThanMs !== undefined && age <= rules.olderThanMs) return { snapshot, keep: true, reason: 'not older than --older-than' };
    return { snapshot, keep: false, reason: 'no rule keeps it' };
  });
  const foreign = snapshots
    .filter((s) => !s.name.startsWith(SNAPSHOT_PREFIX))
    .map((snapshot): RetentionDecision => ({ snapshot, keep: true, reason: 'not made by safeupdate' }));
  return [...decisions, ...foreign];
}

function isoWeek(date: Date): string {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}
