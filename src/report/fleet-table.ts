import { formatDuration } from '../config/duration.js';
import type { InstanceReport, Outcome, Report } from './report.js';

/** One instance of a run over several, as the table's row shows it. */
export interface FleetRow {
  instance: string;
  outcome: Outcome;
  snapshot: string;
  duration: string;
  checks: string;
  member: string;
}

export const FLEET_COLUMNS: Array<[keyof FleetRow, string]> = [
  ['instance', 'instance'],
  ['outcome', 'outcome'],
  ['snapshot', 'snapshot'],
  ['duration', 'duration'],
  ['checks', 'checks'],
  ['member', 'member'],
];

/**
 * The rows of a report that covers several instances (a fleet, `check` or `sync` of many), in the
 * report's order. A cell with nothing to say is `-`, so that columns never shift.
 */
export function fleetRows(report: Report): FleetRow[] {
  return report.instances.map((item) => ({
    instance: item.instance,
    outcome: item.outcome,
    snapshot: item.snapshot.name === null ? '-' : `${item.snapshot.name}${item.packages?.snapshotDeleted ? ' (deleted)' : ''}`,
    duration: item.durationMs === null ? '-' : formatDuration(item.durationMs),
    checks: describeChecks(item),
    member: item.member ?? '-',
  }));
}

/** `3 instances: 2 updated, 1 rolled-back`, outcomes in the order they first appear. */
export function fleetTotals(report: Report): string {
  const counts = new Map<Outcome, number>();
  for (const item of report.instances) counts.set(item.outcome, (counts.get(item.outcome) ?? 0) + 1);
  const n = report.instances.length;
  return `${n} instance${n === 1 ? '' : 's'}: ${[...counts].map(([outcome, count]) => `${count} ${outcome}`).join(', ')}`;
}

/**
 * The verdict of the last phase that ran (the one the outcome rests on): how many passed, and the
 * name of each required check that failed there.
 */
function describeChecks(item: InstanceReport): string {
  const last = item.checks.at(-1)?.phase;
  if (last === undefined) return '-';
  const inPhase = item.checks.filter((check) => check.phase === last);
  const failed = inPhase.filter((check) => !check.ok && check.required).map((check) => check.name);
  const passed = inPhase.filter((check) => check.ok).length;
  return `${passed}/${inPhase.length} ${last}${failed.length ? ` ✖ ${failed.join(', ')}` : ''}`;
}
