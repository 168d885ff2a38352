import { startTimer } from '../checks/probe.js';
import { describeFailedChecks, type CheckDefinition } from '../checks/check.js';
import type { InstanceRef, Snapshot } from '../lxd/lxd.js';
import { formatRef, formatRefWithProject, SNAPSHOT_PREFIX } from '../lxd/names.js';
import { emptyInstanceReport, type Outcome, type Report } from '../report/report.js';
import { checksFor, runChecks } from './steps/checks.js';
import { conclude, internalError } from './steps/conclude.js';
import { awaitRecovery, lock, unlock } from './steps/lock.js';
import { rollBack } from './steps/rollback.js';
import { runScope } from './steps/scope.js';
import type { Failure, RunContext } from './types.js';
import { findBaseline } from '../state/run-history.js';

/** The snapshot a manual rollback goes back to by default: the newest one safeupdate took. */
export function newestOwnSnapshot(snapshots: Snapshot[]): Snapshot | null {
  return snapshots.filter((s) => s.name.startsWith(SNAPSHOT_PREFIX)).sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0] ?? null;
}

/**
 * `safeupdate rollback`: restore a snapshot of this instance by hand, then verify. A running
 * instance ends running (stop, restore, start, checks); a stopped one stays stopped unless `start`.
 * Exit 0 restored (and healthy if running), 3 no such snapshot, 4 restore failed or unhealthy (the
 * record and the lease then stay for `recover`, as after a failed run).
 */
export async function manualRollback(
  ref: InstanceRef,
  snapshotName: string,
  options: { start: boolean; checks: CheckDefinition[] | null },
  context: RunContext,
): Promise<Report> {
  const { lxd, clock } = context;
  const started = startTimer(clock);
  const item = emptyInstanceReport(formatRef(ref), ref.project);
  const scope = runScope(context, item, ref);
  const finish = (outcome: Outcome, failure: Failure | null): Promise<Report> =>
    conclude(scope, outcome, failure, { started, command: ['rollback', snapshotName] });

  const locked = await lock(scope, ['rollback', snapshotName]);
  if (!locked.ok) return finish('not-started', locked.failure);
  try {
    const resolved = scope.ref;
    const instance = await lxd.getInstance(resolved);
    if (!instance) return await finish('not-started', { step: 'preflight', message: `instance ${item.instance} does not exist` });
    // Only a snapshot of this very instance, looked up by its bare name.
    const snapshot = (await lxd.listSnapshots(resolved)).find((s) => s.name === snapshotName);
    if (!snapshot) {
      return await finish('not-started', { step: 'preflight', message: `${item.instance} has no snapshot named ${snapshotName} (list them: safeupdate snapshots ${formatRefWithProject(resolved)})` });
    }
    if (context.interrupt.aborted) {
      return await finish('interrupted', { step: 'preflight', message: `interrupted by ${String(context.interrupt.reason)} before the restore began; nothing changed` });
    }
    item.snapshot = { name: snapshotName, expiresAt: snapshot.expiresAt };
    const endsRunning = instance.status === 'Running' || options.start;
    const restored = await rollBack(scope, snapshotName, { start: endsRunning });
    // As after a failed run: the record and the lease stay, naming the snapshot, so no run starts
    // on the unknown state and `recover` (any host) can finish the job.
    if (!restored.ok) {
      awaitRecovery(scope);
      return await finish('needs-attention', restored.failure);
    }
    const done: Outcome = context.interrupt.aborted ? 'interrupted' : 'restored';
    if (!endsRunning) return await finish(done, null);
    // The run that took this snapshot recorded what was healthy then: judge against that, as it would have.
    const baseline = await findBaseline(context.stateDir, item.instance, snapshotName);
    const all = await checksFor(scope, options.checks);
    const expected = baseline ? all.filter((check) => baseline.passedChecks.includes(check.name) || !baseline.judged.includes(check.name)) : all;
    const results = await runChecks(scope, 'after-rollback', expected, baseline?.failedUnits ?? []);
    const failed = describeFailedChecks(results);
    if (failed) {
      awaitRecovery(scope);
      return await finish('needs-attention', { step: 'after-rollback', message: `restored ${snapshotName} but unhealthy: ${failed}` });
    }
    return await finish(done, null);
  } catch (error) {
    const { outcome, ...failure } = internalError(scope, error);
    return finish(outcome, failure);
  } finally {
    await unlock(scope);
  }
}
