import { describeFailedChecks, type CheckDefinition } from '../checks/check.js';
import type { InstanceRef, Snapshot } from '../lxd/lxd.js';
import { formatRef, SNAPSHOT_PREFIX } from '../lxd/names.js';
import { emptyInstanceReport, type Outcome, type Report } from '../report/report.js';
import { Stages } from '../run/stages.js';
import type { Failure, RunContext } from '../run/types.js';

/** The snapshot a manual rollback goes back to by default: the newest one safeupdate took. */
export function newestOwnSnapshot(snapshots: Snapshot[]): Snapshot | null {
  return snapshots.filter((s) => s.name.startsWith(SNAPSHOT_PREFIX)).sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0] ?? null;
}

/**
 * `safeupdate rollback`: restore a snapshot of this instance by hand, then verify. A running
 * instance ends running (stop, restore, start, checks); a stopped one stays stopped unless `start`.
 * Exit 0 restored (and healthy if running), 3 no such snapshot, 4 restore failed or unhealthy.
 */
export async function manualRollback(
  ref: InstanceRef,
  snapshotName: string,
  options: { start: boolean; checks: CheckDefinition[] | null },
  context: RunContext,
): Promise<Report> {
  const { lxd, clock } = context;
  const started = clock.now();
  const item = emptyInstanceReport(formatRef(ref), ref.project);
  const stage = new Stages(context, item, ref);
  const finish = (outcome: Outcome, failure: Failure | null): Promise<Report> =>
    stage.conclude(outcome, failure, { startedAt: started, command: ['rollback', snapshotName] });

  const locked = await stage.lock(['rollback', snapshotName]);
  if (!locked.ok) return finish('not-started', locked.failure);
  try {
    const instance = await lxd.getInstance(ref);
    if (!instance) return finish('not-started', { step: 'preflight', message: `instance ${item.instance} does not exist` });
    // Only a snapshot of this very instance, looked up by its bare name.
    if (!(await lxd.listSnapshots(ref)).some((s) => s.name === snapshotName)) {
      return finish('not-started', { step: 'preflight', message: `${item.instance} has no snapshot named ${snapshotName} (list them: safeupdate snapshots ${item.instance})` });
    }
    item.snapshot = { name: snapshotName, expiresAt: null };
    const endsRunning = instance.status === 'Running' || options.start;
    const restored = await stage.rollBack(snapshotName, { start: endsRunning });
    if (!restored.ok) return finish('needs-attention', restored.failure);
    if (!endsRunning) return finish('restored', null);
    const results = await stage.runChecks('after-rollback', await stage.checksFor(options.checks), []);
    const failed = describeFailedChecks(results);
    if (failed) return finish('needs-attention', { step: 'after-rollback', message: `restored ${snapshotName} but unhealthy: ${failed}` });
    return finish('restored', null);
  } finally {
    await stage.unlock();
  }
}
