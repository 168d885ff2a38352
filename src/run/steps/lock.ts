import { hostname } from 'node:os';
import { LxdError } from '../../errors.js';
import { serverScope } from '../../lxd/dialect.js';
import { recoverCommand } from '../../lxd/names.js';
import { AwaitingRecovery, CorruptRecord, InstanceBusy, InstanceRecordFile, thisProcess, type InstanceRecord } from '../../state/instance-record.js';
import { hostId } from '../../state/host-id.js';
import { LeaseAwaitingRecovery, LeaseBusy, UnreadableLease } from '../../state/lease-takeover.js';
import { leaseLengthMs, type LeaseHolder } from '../../state/lease-profile.js';
import { ServerLease } from '../../state/server-lease.js';
import { describeLeaseLoss } from '../lease-loss.js';
import type { Failure } from '../types.js';
import { describeError, warn, type RunScope } from './scope.js';

/** Takes the instance's lock: this host's record (`takeRecord`), then the server lease (`takeLease`). */
export async function lock(scope: RunScope, command: string[]): Promise<{ ok: true } | { ok: false; failure: Failure }> {
  const recorded = await takeRecord(scope, command);
  if (!recorded.ok) return recorded;
  const leased = await takeLease(scope, command);
  if (!leased.ok) await unlock(scope);
  return leased;
}

/**
 * Takes this host's record of the run, the lock a crashed run leaves for `recover`. The
 * instance is first resolved to its remote and project, so that `web1` and `web1 --project prod`
 * take the same lock when prod is the client's current project.
 */
export async function takeRecord(scope: RunScope, command: string[]): Promise<{ ok: true } | { ok: false; failure: Failure }> {
  const { runId, runDir, clock, lxd } = scope.context;
  try {
    scope.ref = await lxd.resolveRef(scope.ref);
    scope.item.project = scope.ref.project;
    const record = new InstanceRecordFile(scope.context.stateDir, scope.ref, serverScope(lxd.dialect, scope.ref.remote));
    const { clearedStale } = await record.acquire({
      runId, host: hostname(), instance: scope.item.instance, ref: scope.ref, command, startedAt: new Date(clock.now()).toISOString(), runDir,
    });
    scope.record = record;
    if (clearedStale) warn(scope, `cleared the record of run ${clearedStale.runId}, which ended before it changed anything`);
  } catch (error) {
    if (error instanceof InstanceBusy || error instanceof AwaitingRecovery || error instanceof CorruptRecord || error instanceof LxdError) {
      return { ok: false, failure: { step: 'lock', message: error.message } };
    }
    // The state folder is unusable (full, read-only, not a folder): no lock, so no run.
    return { ok: false, failure: { step: 'lock', message: `cannot take the lock in ${scope.context.stateDir}: ${describeError(error)}; nothing changed` } };
  }
  return { ok: true };
}

/** The server lease, after this host's record: other hosts driving the same instance wait for it. */
export async function takeLease(scope: RunScope, command: string[]): Promise<{ ok: true } | { ok: false; failure: Failure }> {
  const lease = newLease(scope);
  try {
    const { tookOver } = await lease.acquire(await leaseHolder(scope, command));
    scope.lease = lease;
    lease.startRenewing();
    if (tookOver) {
      warn(scope, `took over the server lease of run ${tookOver.runId} on host ${tookOver.host} (pid ${tookOver.pid}), which stopped renewing it at ${tookOver.renewedAt} before it changed anything`);
    }
    return { ok: true };
  } catch (error) {
    if (error instanceof LeaseBusy || error instanceof LeaseAwaitingRecovery || error instanceof UnreadableLease) {
      return { ok: false, failure: { step: 'lock', message: error.message } };
    }
    // A client restricted to a project without its own profiles may not create one in `default`.
    return { ok: false, failure: { step: 'lock', message: `cannot take the server lease ${lease.profile.name} for ${scope.item.instance} (project ${scope.ref.project}): ${describeError(error)}; nothing changed` } };
  }
}

export function newLease(scope: RunScope): ServerLease {
  return new ServerLease(scope.context.lxd, scope.ref, scope.context.clock, leaseLengthMs(), (reason) => warn(scope, `${reason}; no further change is started`));
}

export async function leaseHolder(scope: RunScope, command: string[]): Promise<LeaseHolder> {
  const { runId, clock, stateDir } = scope.context;
  return {
    runId, hostId: await hostId(stateDir), host: hostname(), ...thisProcess(), instance: scope.item.instance, command,
    startedAt: new Date(clock.now()).toISOString(),
  };
}

/** Holds an existing record and lease (for `recover`, which took them over). */
export function adopt(scope: RunScope, record: InstanceRecordFile | null, lease: ServerLease | null): void {
  scope.record = record;
  scope.lease = lease;
  lease?.startRenewing();
}

/**
 * The instance is in a state no run should start from (the rollback failed, or it is unhealthy
 * after it): the record stays for `recover`, and the next run refuses until then.
 */
export function awaitRecovery(scope: RunScope): void {
  scope.keepRecord = true;
}

/** Ends the run's hold on the instance; the record is removed unless it awaits recovery. */
export async function unlock(scope: RunScope): Promise<void> {
  const record = scope.record;
  const lease = scope.lease;
  scope.record = null;
  scope.lease = null;
  try {
    if (scope.keepRecord) await lease?.keepForRecovery();
    else await lease?.release();
  } catch (error) {
    warn(scope, `could not ${scope.keepRecord ? 'keep' : 'remove'} the server lease ${lease!.profile.name}: ${describeError(error)}; ` +
      `${scope.keepRecord ? 'other hosts may start on this instance once it expires' : `it expires by itself; clear it sooner with ${recoverCommand(scope.ref)} --forget`}`);
  }
  if (!record || scope.keepRecord) return;
  try {
    await record.release();
  } catch (error) {
    warn(scope, `could not remove the record ${record.path}: ${describeError(error)}; clear it with ${recoverCommand(scope.ref)} --forget`);
  }
}

/**
 * Records how far the run got, before the step that changes things, so a crash during it is
 * covered. Returns why it could not, or null. Before anything changes the caller refuses to go
 * on without it; during a rollback it is only a warning: the rollback never waits on the disk.
 */
export async function mark(scope: RunScope, patch: Partial<Pick<InstanceRecord, 'phase' | 'snapshot' | 'baseline' | 'rehearsalCopy'>>): Promise<string | null> {
  if (scope.record) {
    try {
      await scope.record.update(patch);
    } catch (error) {
      return `could not write the record ${scope.record.path}: ${describeError(error)}`;
    }
  }
  // The copy is this host's to clean up: other hosts never need its name.
  const { rehearsalCopy, ...shared } = patch;
  return rehearsalCopy !== undefined && !Object.keys(shared).length ? null : ((await scope.lease?.mark(shared)) ?? null);
}

/**
 * Whether this run still holds its server lease, asked of the server now (a renewal), so that a
 * loss is found before the next change rather than by the next timed renewal. An error reaching
 * LXD is not a loss by itself: the lease's own expiry decides, as for every renewal.
 */
export async function holdsLease(scope: RunScope): Promise<boolean> {
  if (!scope.lease) return true;
  await scope.lease.renew().catch(() => {});
  return scope.lease.lostReason === null;
}

/** Why this run stopped after losing its lease (who holds it now, what this run had done); null while it holds it. */
export async function leaseLoss(scope: RunScope): Promise<Failure | null> {
  const reason = scope.lease?.lostReason;
  if (!reason) return null;
  return { step: 'lease', message: describeLeaseLoss(reason, await scope.lease!.describeHolderNow(), scope.item, recoverCommand(scope.ref)) };
}
