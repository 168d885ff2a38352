import type { InstanceRef } from '../lxd/lxd.js';
import { emptyInstanceReport, type InstanceReport } from '../report/report.js';

export interface FleetTarget {
  /** Resolved: remote and project filled in. */
  ref: InstanceRef;
  /** As the report names it: as typed (`web1`, `backup:db1`), like a single run names its instance. */
  label: string;
  /** Cluster member, from the listing; null: not limited by --per-member. */
  member: string | null;
}

export interface ScheduleOptions {
  /** At most this many in flight. */
  parallel: number;
  /** The first N run alone; any of them not ended as asked (endedAsAsked) stops the fleet. 0: no canary. */
  canary: number;
  /** Stop starting new ones once this many failed; null: never. */
  maxFailures: number | null;
  /** At most this many at once on one cluster member; null: no limit. */
  perMember: number | null;
}

/**
 * What the canary and --max-failures count as a success: the instance ended as asked, updated, or
 * in a dry run planned (a dry run must exit with the code the real run would have).
 */
export function endedAsAsked(report: InstanceReport): boolean {
  return report.outcome === 'updated' || report.outcome === 'planned';
}

/** One instance's whole run (runUpdate underneath); it must never throw for an outcome. */
export type RunOne = (target: FleetTarget) => Promise<InstanceReport>;

/**
 * Runs the targets in the given order under the bounds. Instances never started are reported
 * `skipped`; the shared AbortSignal makes the in-flight runs roll back themselves, so the scheduler
 * only has to stop starting new ones. Results come back in the targets' order.
 */
export async function schedule(targets: readonly FleetTarget[], options: ScheduleOptions, runOne: RunOne, interrupt: AbortSignal): Promise<InstanceReport[]> {
  if (options.parallel < 1 || (options.perMember !== null && options.perMember < 1)) throw new RangeError('--parallel and --per-member must be at least 1');
  const results: Array<InstanceReport | null> = targets.map(() => null);
  const waiting = targets.map((_, index) => index);
  const inFlight = new Map<number, Promise<void>>();
  const perMember = new Map<string, number>();
  let failures = 0;
  let stopped = false;

  const start = (index: number) => {
    const target = targets[index]!;
    if (target.member !== null) perMember.set(target.member, (perMember.get(target.member) ?? 0) + 1);
    const done = runOne(target).then((report) => {
      results[index] = { ...report, member: target.member };
      if (!endedAsAsked(report)) failures += 1;
    }).finally(() => {
      inFlight.delete(index);
      if (target.member !== null) perMember.set(target.member, perMember.get(target.member)! - 1);
    });
    inFlight.set(index, done);
  };

  // The canary runs alone, one after another, and has to prove itself before anything else starts.
  const canary = waiting.splice(0, Math.min(options.canary, waiting.length));
  for (const index of canary) {
    if (interrupt.aborted || stopped) break;
    start(index);
    await inFlight.get(index);
    if (!endedAsAsked(results[index]!)) stopped = true;
  }

  while (!stopped && waiting.length > 0) {
    if (interrupt.aborted || (options.maxFailures !== null && failures >= options.maxFailures)) break;
    // The first waiting instance whose member has room: order is kept within each member.
    const slot = inFlight.size < options.parallel
      ? waiting.findIndex((index) => {
          const member = targets[index]!.member;
          return member === null || options.perMember === null || (perMember.get(member) ?? 0) < options.perMember;
        })
      : -1;
    if (slot >= 0) {
      start(waiting.splice(slot, 1)[0]!);
      continue;
    }
    // A run ends on an interrupt by itself (it rolls back), so waiting for one to end is enough.
    await Promise.race(inFlight.values());
  }
  await Promise.all(inFlight.values());

  return results.map((result, index) => result ?? skipped(targets[index]!));
}

function skipped(target: FleetTarget): InstanceReport {
  return { ...emptyInstanceReport(target.label, target.ref.project), outcome: 'skipped', member: target.member };
}
