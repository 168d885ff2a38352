import { startTimer } from '../checks/probe.js';
import { formatRef } from '../lxd/names.js';
import { EXIT } from '../report/exit-codes.js';
import { emptyInstanceReport, type InstanceReport, type Outcome, type Report } from '../report/report.js';
import { describeRehearsal, refuseRehearsal, rehearse } from './rehearsal.js';
import { awaitRecovery, holdsLease, leaseLoss, mark, takeLease, takeRecord, unlock } from './steps/lock.js';
import { ahead, beside } from './steps/concurrent.js';
import { preflight } from './steps/preflight.js';
import { failedUnitsOf, requiredFailure, runChecks, soak } from './steps/checks.js';
import { readInventory, recordChanges, refuseByPolicy, simulatePackages } from './steps/packages.js';
import { aptRunOf, finishApt, lockWasHeld, prepareApt, waitForLock, withAptEnv } from './steps/dpkg.js';
import { describePlan } from './steps/plan.js';
import { restartWhenDue } from './steps/restart.js';
import { takeSnapshot } from './steps/snapshot.js';
import { describeUpdateFailure, interruptedFailure, runUpdateCommand } from './steps/update.js';
import { copyToServer, forgetUnchangedSnapshot, keepNewest } from './steps/follow-ups.js';
import { failedCopyName, rollBack, saveEvidence } from './steps/rollback.js';
import { conclude, internalError } from './steps/conclude.js';
import { beginGroup, endGroup, runScope, warn, type RunScope } from './steps/scope.js';
import type { Failure, RunContext, RunOptions } from './types.js';


/**
 * One update of one instance, top-down: preflight → baseline → snapshot → update → verify →
 * (evidence → rollback → verify) → report. Each decision is explicit here; the steps (steps/)
 * are small and do one thing. Returns the report; it never throws for an outcome.
 */
export async function runUpdate(options: RunOptions, context: RunContext): Promise<Report> {
  const { clock, interrupt } = context;
  const started = startTimer(clock);
  const item = emptyInstanceReport(formatRef(options.ref), options.ref.project);
  const scope = runScope(context, item, options.ref);
  const finish = (outcome: Outcome, failure: Failure | null = null): Promise<Report> =>
    conclude(scope, outcome, failure, {
      started,
      command: options.command,
      dryRun: options.dryRun,
      interruptedBy: interrupt.aborted ? String(interrupt.reason) : (failure?.signal ?? null),
      // An update that is kept but whose follow-up failed: updated and healthy, exit 5.
      ...(outcome === 'updated' && failure ? { exitCode: EXIT.followUpFailed } : {}),
    });

  // One run per instance at a time on this host; the record is also what `recover` reads after a crash.
  const recorded = await takeRecord(scope, options.command);
  if (!recorded.ok) return finish('not-started', recorded.failure);
  try {
    return await updateLocked(options, context, scope, item, finish);
  } catch (error) {
    const { outcome, ...failure } = internalError(scope, error);
    return finish(outcome, failure);
  } finally {
    await unlock(scope);
  }
}

type Finish = (outcome: Outcome, failure?: Failure | null) => Promise<Report>;

async function updateLocked(options: RunOptions, context: RunContext, scope: RunScope, item: InstanceReport, finish: Finish): Promise<Report> {
  const { clock, interrupt } = context;
  const nothingChanged = (step: string) => finish('interrupted', { step, message: `interrupted by ${String(interrupt.reason)} before the update began; nothing was updated` });

  // The server lease keeps other hosts off the instance. The preflight only reads, so it starts
  // beside the lease, and counts (in the report too) once the lease is held.
  const preflightRead = ahead(scope, (early) => preflight(early, options));
  const leased = await takeLease(scope, options.command);
  if (!leased.ok) return finish('not-started', leased.failure);
  // Preflight: read-only; anything wrong here means nothing was changed.
  const ready = await preflightRead.turn();
  if ('failure' in ready) return finish('not-started', ready.failure);
  const checks = ready.checks;
  if (interrupt.aborted) return nothingChanged('preflight');
  // A dry run refuses too: its exit code is the one the real run would have before changing anything.
  const poolRefusal = refuseRehearsal(options.rehearse, item.space, item.instance);
  if (poolRefusal) return finish('not-started', { step: 'preflight', message: poolRefusal });

  // The inventory before only reads: it is read beside the baseline checks, and counts at its turn.
  const inventoryAhead = options.packageReport && !options.dryRun ? ahead(scope, (early) => readInventory(early, 'before')) : null;
  const baseline = await runChecks(scope, 'baseline', checks, []);
  if (interrupt.aborted) return nothingChanged('baseline');
  const baselineFailure = requiredFailure('baseline', baseline);
  if (baselineFailure && !options.force) {
    return finish('not-started', { ...baselineFailure, message: `${baselineFailure.message}; not updating an unhealthy instance (--force to update anyway)` });
  }
  if (baselineFailure) warn(scope, `${baselineFailure.message}; updating anyway (--force)`);
  // A policy is enforced before anything changes: a command it cannot judge is refused, not let
  // through. A dry run judges it too: it exits with the code the real run would have.
  const { policy } = options;
  if (policy.refuse !== null) {
    const refusal = await refuseByPolicy(scope, options.command, { ...policy, refuse: policy.refuse });
    if (refusal) return finish('not-started', refusal);
    if (interrupt.aborted) return nothingChanged('simulate');
  }
  if (options.dryRun) {
    // apt can tell what it would change without changing it (the policy may have asked already);
    // other commands are run blind.
    const simulated = options.packageReport && !item.packages?.simulated ? await simulatePackages(scope, options.command) : null;
    if (simulated && 'reason' in simulated) warn(scope, `no list of would-be package changes: ${simulated.reason}`);
    item.plan = [...describePlan(scope, options, checks), ...describeRehearsal(options.rehearse, item.space, item.instance, checks)];
    return finish('planned');
  }
  // What the baseline found is what `recover` judges against after a crash.
  const passedChecks = baseline.filter((result) => result.ok).map((result) => result.name);
  const unrecorded = await mark(scope, { baseline: { failedUnits: failedUnitsOf(baseline), passedChecks } });
  if (unrecorded) return finish('not-started', { step: 'baseline', message: `${unrecorded}; nothing changed` });
  if (interrupt.aborted) return nothingChanged('baseline');
  // dpkg (steps/dpkg.ts): a snapshot taken while another apt runs is no baseline; a lock still held at the bound: nothing changed, exit 3.
  const aptRun = aptRunOf(options);
  const lockHeld = aptRun && (await waitForLock(scope, aptRun.lockTimeoutMs));
  if (lockHeld) return finish('not-started', lockHeld);
  if (interrupt.aborted) return nothingChanged('dpkg-lock');
  // Another apt that held dpkg's lock meanwhile may have changed packages since: read again, since its changes are not the update's.
  const packagesBefore = inventoryAhead && (lockWasHeld(item) ? await readInventory(scope, 'before') : await inventoryAhead.turn());

  const snapshot = await takeSnapshot(scope, options);
  if ('failure' in snapshot) return finish('not-started', snapshot.failure);
  const snapshotKept = (step: string) => {
    const expiry = item.snapshot.expiresAt ? `it expires ${item.snapshot.expiresAt}` : 'it never expires';
    return finish('interrupted', { step, message: `interrupted by ${String(interrupt.reason)} before the update began; nothing was updated; snapshot ${snapshot.name} kept (${expiry})` });
  };
  if (interrupt.aborted) return snapshotKept('snapshot');

  if (options.rehearse !== 'off') {
    const rehearsal = await rehearse(options, context, scope, item, { ref: scope.ref, snapshot: snapshot.name, checks, passedAtBaseline: passedChecks });
    // Refused or not, the snapshot stays (with its expiry): it is the state the copy was made from.
    if (!rehearsal.ok) return finish(rehearsal.outcome, rehearsal.failure);
    // The copy passed, but an interrupt can still come while it is stopped and deleted.
    if (interrupt.aborted) return snapshotKept('rehearsal');
  }

  // From here on the instance may have changed: every failure ends in a rollback or a report that says so.
  // dpkg (steps/dpkg.ts): an unattended apt keeps locally modified conffiles (APT_CONFIG); the conffiles are read around the update.
  const apt = aptRun && (await prepareApt(scope, options, { lockTimeoutMs: aptRun.lockTimeoutMs, readConffiles: options.packageReport }));
  const updated = await runUpdateCommand(scope, withAptEnv(options, apt));
  // Not started: an interrupt caught at the last moment (runUpdateCommand refuses to start then), or a record that could not be written.
  if (!scope.changing) return interrupt.aborted ? snapshotKept('update') : finish('not-started', updated as Failure);
  let failure = describeUpdateFailure(updated, options, interrupt);
  // Read right after the command, so that a rolled-back update still reports what it had changed.
  // It only reads: the conffiles, the look for a due restart and the after-update checks go on
  // beside it; a restart waits for it, and it has ended before the soak or a rollback.
  const inventoryAfter = packagesBefore && !interrupt.aborted ? beside(scope, (now) => readInventory(now, 'after')) : null;
  if (apt && !interrupt.aborted) await finishApt(scope, apt);
  // --restart: when the update left the instance due a restart, the checks judge the next boot, not the old processes.
  if (!failure) failure = await restartWhenDue(scope, options.restart);
  if (!failure) {
    const afterUpdate = await runChecks(scope, 'after-update', checks, failedUnitsOf(baseline));
    failure = interrupt.aborted ? interruptedFailure('after-update', interrupt) : requiredFailure('after-update', afterUpdate);
  }
  const packagesAfter = inventoryAfter && (await inventoryAfter.done());
  const changes = packagesBefore && packagesAfter ? recordChanges(scope, packagesBefore, packagesAfter) : null;
  // Healthy once is not healthy for good: a service that dies or restarts later fails the soak, and is rolled back like a failed check.
  if (!failure && options.soakMs !== null) {
    const soaked = await soak(scope, checks, options.soakMs, failedUnitsOf(baseline));
    failure = interrupt.aborted ? interruptedFailure('soak', interrupt) : soaked;
  }
  // Another host may hold the instance by now (its `recover`): a run that lost its lease changes nothing more.
  if (!(await holdsLease(scope))) return finish('needs-attention', await leaseLoss(scope));
  if (!failure) {
    // Follow-ups that fail do not undo a good update: exit 5 says so.
    const followUps: string[] = [];
    // Only a change proven absent (both inventories read) lets the run drop its own snapshot.
    if (changes?.length === 0 && !options.keepUnchanged && !(await forgetUnchangedSnapshot(scope, snapshot.name))) followUps.push(`deleting the unneeded snapshot ${snapshot.name}`);
    if (options.keep !== null && !(await keepNewest(scope, options.keep, snapshot.name))) followUps.push('pruning old snapshots');
    if (options.copyTo !== null && !(await copyToServer(scope, options.copyTo))) followUps.push(`the copy to ${options.copyTo}:`);
    return finish('updated', followUps.length ? { step: 'follow-up', message: `updated and healthy, but ${followUps.join(' and ')} failed (see warnings)` } : null);
  }

  if (!options.rollback) {
    return finish('needs-attention', { ...failure, message: `${failure.message}; left as it is (--no-rollback), snapshot ${snapshot.name} kept` });
  }
  // What passed at baseline must pass again; with --force that is all the proof there can be.
  const expected = checks.filter((check) => passedChecks.includes(check.name));
  const keepFailedAs = options.keepFailed ? failedCopyName(options.ref.name, new Date(clock.now())) : null;
  beginGroup(scope, `Roll back to ${snapshot.name}`, [
    'evidence', 'stop', ...(keepFailedAs ? ['keep-failed'] : []), 'restore', 'start', ...(expected.length ? ['after-rollback'] : []),
  ]);
  await saveEvidence(scope, checks);
  const restored = await rollBack(scope, snapshot.name, { keepFailedAs });
  const afterRollback = restored.ok ? await runChecks(scope, 'after-rollback', expected, failedUnitsOf(baseline)) : [];
  endGroup(scope);
  if (!restored.ok) {
    awaitRecovery(scope);
    return finish('needs-attention', restored.failure);
  }
  const stillBroken = requiredFailure('after-rollback', afterRollback);
  if (stillBroken) {
    awaitRecovery(scope);
    return finish('needs-attention', { step: 'after-rollback', message: `rolled back to ${snapshot.name} but still unhealthy: ${stillBroken.message}` });
  }
  return finish(interrupt.aborted || failure.signal ? 'interrupted' : 'rolled-back', failure);
}
