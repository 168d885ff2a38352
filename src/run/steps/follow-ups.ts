import { requireFeatures } from '../../lxd/extensions.js';
import { executePrune } from '../../snapshots/prune.js';
import { decideRetention } from '../../snapshots/retention.js';
import { holdsLease } from './lock.js';
import { describeError, Refusal, step, warn, type RunScope } from './scope.js';

/** Deletes this run's own snapshot of an update that changed no package, through prune's snapshot-only path. */
export async function forgetUnchangedSnapshot(scope: RunScope, name: string): Promise<boolean> {
  if (!(await holdsLease(scope))) return false;
  const outcome = await step(scope, 'forget-snapshot', `Delete ${name}: no package changed`, async () => {
    const plan = { instance: scope.item.instance, ref: scope.ref, decisions: [{ snapshot: { name, createdAt: '', expiresAt: null, stateful: false, sizeBytes: null }, keep: false, reason: 'no package changed' }] };
    const result = await executePrune(scope.context.lxd, plan);
    if (result.failed.length) throw new Refusal(result.failed[0]!.message);
    return { message: `deleted ${name} (--keep-unchanged keeps it)` };
  });
  if (outcome.ok && scope.item.packages) scope.item.packages.snapshotDeleted = true;
  if (!outcome.ok) warn(scope, `no package changed, but the snapshot ${name} could not be deleted: ${outcome.message}`);
  return outcome.ok;
}

/** `--keep N`: deletes the older safeupdate snapshots of this instance, never `current`; true when all went. */
export async function keepNewest(scope: RunScope, count: number, current: string): Promise<boolean> {
  if (!(await holdsLease(scope))) return false;
  const { lxd, clock } = scope.context;
  // The step's own outcome decides: a listing that fails is a failed follow-up too, not only a deletion.
  const kept = await step(scope, 'keep', `Keep the ${count} newest safeupdate snapshots`, async () => {
    const snapshots = await lxd.listSnapshots(scope.ref).catch((error: unknown) => {
      warn(scope, `could not list the snapshots of ${scope.item.instance} to keep the ${count} newest: ${describeError(error)}`);
      throw error;
    });
    const plan = { instance: scope.item.instance, ref: scope.ref, decisions: decideRetention(snapshots, { keepLast: count, current }, new Date(clock.now())) };
    const outcome = await executePrune(lxd, plan);
    for (const failed of outcome.failed) warn(scope, `could not delete ${scope.item.instance}/${failed.name}: ${failed.message}`);
    if (outcome.failed.length) throw new Refusal(`${outcome.failed.length} snapshot(s) could not be deleted`);
    return { message: outcome.deleted.length ? `deleted ${outcome.deleted.join(', ')}` : 'nothing to delete' };
  });
  return kept.ok;
}

/** Refreshes the instance with its snapshots to the snapshot server; true when it went through. */
export async function copyToServer(scope: RunScope, remote: string): Promise<boolean> {
  if (!(await holdsLease(scope))) return false;
  const { lxd, clock } = scope.context;
  const started = clock.monotonic();
  const remoteRef = { ...scope.ref, remote };
  const outcome = await step(scope, 'copy', `Copy to ${remote}:`, async () => {
    requireFeatures(await lxd.checkReachable(remote), ['refreshCopy'], `the snapshot server ${remote}:`);
    const before = (await lxd.getInstance(remoteRef)) ? new Set((await lxd.listSnapshots(remoteRef)).map((s) => s.name)) : new Set<string>();
    await lxd.refreshCopy(scope.ref, remote);
    const sent = (await lxd.listSnapshots(remoteRef)).map((s) => s.name).filter((name) => !before.has(name));
    return { sent, message: sent.length ? `sent ${sent.join(', ')}` : 'up to date' };
  });
  scope.item.copy = {
    remote,
    ok: outcome.ok,
    durationMs: clock.monotonic() - started,
    transferredSnapshots: outcome.ok ? outcome.value.sent : [],
    message: outcome.message,
  };
  if (!outcome.ok) warn(scope, `copy to ${remote}: failed: ${outcome.message}`);
  return outcome.ok;
}
