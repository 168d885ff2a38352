import { startTimer } from '../checks/probe.js';
import { serverScope } from '../lxd/dialect.js';
import { describeFailedChecks, type CheckDefinition } from '../checks/check.js';
import { formatRef, recoverCommand } from '../lxd/names.js';
import type { InstanceRef } from '../lxd/lxd.js';
import { emptyInstanceReport, type Outcome, type Report } from '../report/report.js';
import { LxdError } from '../errors.js';
import { CorruptRecord, InstanceBusy, InstanceRecordFile, type InstanceRecord } from '../state/instance-record.js';
import { LeaseBusy, UnreadableLease } from '../state/lease-takeover.js';
import type { Lease } from '../state/lease-profile.js';
import { describeDisposal, disposeCopy } from './rehearsal.js';
import { checksFor, runChecks } from './steps/checks.js';
import { conclude, internalError } from './steps/conclude.js';
import { adopt, awaitRecovery, leaseHolder, newLease, unlock } from './steps/lock.js';
import { rollBack } from './steps/rollback.js';
import { runScope, warn, type RunScope } from './steps/scope.js';
import type { Failure, RunContext } from './types.js';

/** Where a crashed run stopped decides what recovery means. */
export function recoveryPlan(record: Pick<InstanceRecord, 'runId' | 'host' | 'phase' | 'command' | 'snapshot' | 'rehearsalCopy'> | null): string {
  if (!record) return 'nothing to recover';
  const run = `run ${record.runId} (host ${record.host})`;
  if (record.phase === 'preparing' || record.phase === 'snapshotting') {
    const copy = record.rehearsalCopy ? `; delete its rehearsal copy ${record.rehearsalCopy} if it still carries the run's marker` : '';
    return `${run} ended before the update began: nothing in the instance changed; clear its record${copy}`;
  }
  return `${run} ended while ${record.phase} ${JSON.stringify(record.command)}: stop, restore ${record.snapshot}, start, and check`;
}

/** What a run on another host left: its server lease stands in for the record this host never had. */
function recordFromLease(lease: Lease, ref: InstanceRef): InstanceRecord {
  const { runId, pid, pidStartedAt, host, instance, command, startedAt, phase, snapshot, baseline } = lease;
  return { runId, pid, pidStartedAt, host, instance, ref, command, startedAt, phase, snapshot, runDir: '', ...(baseline ? { baseline } : {}) };
}

/**
 * Which run `recover` finishes. The server's lease speaks for the instance, this host's record only
 * for this host's run: a record whose run the lease no longer names is out of date (another host
 * recovered that run, or its lease was forgotten), and restoring its snapshot again would undo
 * whatever came after. A lease this host wrote last (a recover here that failed) still agrees with
 * the record: every process here holds the record before it writes the lease.
 */
export function chooseRun(
  local: InstanceRecord | null,
  lease: Lease | null,
  ref: InstanceRef,
  myHostId: string,
): { record: InstanceRecord | null; outdated: string | null; refusal: string | null } {
  const fromLease = lease && recordFromLease(lease, ref);
  if (!local || (lease && (lease.runId === local.runId || lease.hostId === myHostId))) return { record: local ?? fromLease, outdated: null, refusal: null };
  const mine = `this host's record of run ${local.runId} (${local.phase}${local.snapshot ? `, snapshot ${local.snapshot}` : ''}) is out of date`;
  if (lease) return { record: fromLease, outdated: `${mine}: the server lease names run ${lease.runId} (host ${lease.host}), which came after it; that run is the one recovered, and the record is cleared`, refusal: null };
  // Nothing to restore: clearing the record is all its recovery would do anyway.
  if (!changedInstance(local)) return { record: local, outdated: null, refusal: null };
  return {
    record: null,
    outdated: null,
    refusal: `${mine}: the server holds no lease for it, so another host has recovered that run (or its lease was forgotten), and restoring ${local.snapshot} now could undo what came after. ` +
      `Nothing changed. Check ${local.instance}, then clear the record: ${recoverCommand(ref)} --forget`,
  };
}

/** From `updating` on, the instance may have changed: only a restore brings it back. */
function changedInstance(record: Pick<InstanceRecord, 'phase'>): boolean {
  return record.phase !== 'preparing' && record.phase !== 'snapshotting';
}

/**
 * `safeupdate recover`: finishes the job of a run that was killed (SIGKILL, power loss). If the
 * update had begun, rolls back to the recorded snapshot and checks; otherwise clears the record.
 * The record is kept when the rollback fails, so that no new run starts on an unknown state.
 */
export async function recoverInstance(ref: InstanceRef, checks: CheckDefinition[] | null, context: RunContext): Promise<Report> {
  const { clock, interrupt } = context;
  const started = startTimer(clock);
  const item = emptyInstanceReport(formatRef(ref), ref.project);
  const scope = runScope(context, item, ref);
  const file = new InstanceRecordFile(context.stateDir, ref, serverScope(context.lxd.dialect, ref.remote));
  const finish = (outcome: Outcome, failure: Failure | null, command: string[] = []): Promise<Report> =>
    conclude(scope, outcome, failure, { started, command });

  let record: InstanceRecord | null;
  try {
    record = await file.takeOver();
  } catch (error) {
    if (error instanceof InstanceBusy || error instanceof CorruptRecord) return finish('not-started', { step: 'lock', message: error.message });
    throw error;
  }
  // The server lease: this host's run's, or that of a run on another host that is gone.
  const lease = newLease(scope);
  const holder = await leaseHolder(scope, record?.command ?? []);
  let leased: Lease | null;
  try {
    leased = await lease.takeOverForRecovery(holder, record?.runId ?? null);
  } catch (error) {
    if (!(error instanceof LeaseBusy || error instanceof UnreadableLease || error instanceof LxdError)) throw error;
    // The record goes back as it was: it still describes the instance.
    adopt(scope, record ? file : null, null);
    awaitRecovery(scope);
    await unlock(scope);
    return finish('not-started', { step: 'lock', message: error.message });
  }
  const local = record !== null;
  const chosen = chooseRun(record, leased, ref, holder.hostId);
  if (chosen.refusal) {
    adopt(scope, file, null);
    awaitRecovery(scope);
    await unlock(scope);
    return finish('not-started', { step: 'lock', message: chosen.refusal });
  }
  record = chosen.record;
  if (!record) return finish('recovered', null);
  // An out-of-date record is still held, so that it is cleared with the recovery.
  adopt(scope, local ? file : null, leased ? lease : null);
  if (chosen.outdated) warn(scope, chosen.outdated);
  item.plan = [recoveryPlan(record)];
  item.snapshot = { name: record.snapshot, expiresAt: null };
  try {
    // A rehearsal's copy goes first, whatever the phase: it is only ever deleted with its run's marker.
    if (record.rehearsalCopy) await removeLeftoverCopy(scope, context, { ...record.ref, name: record.rehearsalCopy }, record.runId);
    if (!changedInstance(record)) {
      await unlock(scope);
      return await finish('recovered', null, record.command);
    }
    if (interrupt.aborted) {
      // The record is left for the next recover: it has not changed, and neither has the instance.
      awaitRecovery(scope);
      return await finish('interrupted', { step: 'recover', message: `interrupted by ${String(interrupt.reason)} before the rollback began; nothing changed` }, record.command);
    }
    const restored = await rollBack(scope, record.snapshot!);
    if (!restored.ok) {
      awaitRecovery(scope);
      return await finish('needs-attention', restored.failure, record.command);
    }
    // Judged as the run would have: what passed at baseline must pass again, and units that had
    // already failed then are not blamed on the update. Only now is the instance known to run, so
    // only now can the default checks be found.
    const baseline = record.baseline;
    const all = await checksFor(scope, checks);
    const expected = baseline ? all.filter((check) => baseline.passedChecks.includes(check.name)) : all;
    const afterRollback = await runChecks(scope, 'after-rollback', expected, baseline?.failedUnits ?? []);
    const failed = describeFailedChecks(afterRollback);
    if (failed) {
      awaitRecovery(scope);
      return await finish('needs-attention', { step: 'after-rollback', message: `restored ${record.snapshot} but still unhealthy: ${failed}` }, record.command);
    }
    return await finish(interrupt.aborted ? 'interrupted' : 'recovered', null, record.command);
  } catch (error) {
    const { outcome, ...failure } = internalError(scope, error);
    return finish(outcome, failure, record.command);
  } finally {
    await unlock(scope);
  }
}

async function removeLeftoverCopy(scope: RunScope, context: RunContext, copyRef: InstanceRef, runId: string): Promise<void> {
  const end = await disposeCopy(scope, context.lxd, copyRef, runId, false);
  const warning = describeDisposal(end, copyRef, context.lxd.dialect.client);
  if (warning) warn(scope, warning);
}
