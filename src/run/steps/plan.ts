import type { CheckDefinition } from '../../checks/check.js';
import { formatDuration } from '../../config/duration.js';
import { SNAPSHOT_PREFIX } from '../../lxd/names.js';
import { describeChange } from '../../packages/policy.js';
import type { InstanceReport } from '../../report/report.js';
import type { RunOptions } from '../types.js';
import { gib } from './preflight.js';
import { describeRestartPlan } from './restart.js';
import type { RunScope } from './scope.js';

export function describePlan(scope: RunScope, options: RunOptions, checks: CheckDefinition[]): string[] {
  const expiry = options.expiryMs === null ? 'never expires' : `expires in ${formatDuration(options.expiryMs)}`;
  return [
    `snapshot ${scope.item.instance} as ${options.snapshotName ?? `${SNAPSHOT_PREFIX}<UTC timestamp>`} (${expiry})`,
    `run ${JSON.stringify(options.command)} inside it (timeout ${formatDuration(options.timeoutMs)}${options.interactive ? ', interactive' : ''})`,
    checks.length ? `check ${checks.map((c) => c.name).join(', ')}` : 'no health checks: only the exit code decides',
    describeRestartPlan(options.restart),
    ...(options.soakMs === null ? [] : [`then watch the checks and systemd's restart counters for ${formatDuration(options.soakMs)} (--soak); roll back if anything fails or restarts`]),
    ...(options.keep === null ? [] : [`after success: keep the ${options.keep} newest safeupdate snapshots, delete older ones`]),
    ...(options.copyTo === null ? [] : [`after success: refresh the instance with its snapshots to ${options.copyTo}:`]),
    options.rollback ? 'on failure: collect evidence, stop, restore the snapshot, start, check again' : 'on failure: leave it as it is (--no-rollback)',
    ...(scope.item.packages?.simulated ? scope.item.packages.changes.map((change) => `would change ${describeChange(change)}`) : []),
    ...(options.policy.refuse === null ? [] : [`before the snapshot: refuse a ${options.policy.refuse === 'major' ? 'major' : 'major or minor'} upgrade${options.policy.allow.length ? ` (except ${options.policy.allow.join(', ')})` : ''}`]),
    ...scope.item.uncoveredVolumes.map((v) => `not covered by rollback: ${v.path} (device ${v.device})`),
    describeSpace(scope.item.space),
  ];
}

function describeSpace(space: InstanceReport['space']): string {
  if (!space || space.freeBytes === null) return 'space: LXD does not report the free space of the pool; cannot tell whether the snapshot fits';
  if (space.neededBytes === null) {
    return `space: pool ${space.pool} has ${gib(space.freeBytes)} free; LXD reports no disk usage for this instance (a dir pool without quota), and a snapshot there copies the whole root filesystem, so whether it fits cannot be told`;
  }
  if (space.driver !== 'dir') return `space: pool ${space.pool} (${space.driver}) has ${gib(space.freeBytes)} free; a snapshot there shares blocks and needs no space up front`;
  return `space: the snapshot copies ${gib(space.neededBytes)}; pool ${space.pool} has ${gib(space.freeBytes)} free`;
}
