import type { CheckDefinition, Phase } from '../checks/check.js';
import { type Timer } from '../checks/probe.js';
import { formatDuration } from '../config/duration.js';
import { requireFeatures } from '../lxd/extensions.js';
import type { InstanceRef } from '../lxd/lxd.js';
import { recoverCommand, SNAPSHOT_PREFIX } from '../lxd/names.js';
import { exitCodeFor } from '../report/exit-codes.js';
import { frameReport, type InstanceReport, type Outcome, type Report } from '../report/report.js';
import { InstanceRecordFile } from '../state/instance-record.js';
import { ServerLease } from '../state/server-lease.js';
import { executePrune } from '../snapshots/prune.js';
import { decideRetention } from '../snapshots/retention.js';
import { type Inventory } from '../packages/inventory.js';
import { describeChange, type UpgradePolicy } from '../packages/policy.js';
import { checksFor, runChecks, soak } from './steps/checks.js';
import { gib, preflight } from './steps/preflight.js';
import { readInventory, recordChanges, refuseByPolicy, simulatePackages } from './steps/packages.js';
import { rollBack, saveEvidence } from './steps/rollback.js';
import { takeSnapshot } from './steps/snapshot.js';
import { runUpdateCommand } from './steps/update.js';
import { adopt, awaitRecovery, holdsLease, leaseHolder, leaseLoss, lock, mark, newLease, unlock } from './steps/lock.js';
import { beginGroup, describeError, endGroup, Refusal, runScope, step, warn, type RunScope } from './steps/scope.js';
import type { Failure, RunContext, RunOptions } from './types.js';

export { failedCopyName } from './steps/rollback.js';

/** The stages of a run: each records its step in the report and tells the views. */
export class Stages {
  readonly scope: RunScope;

  constructor(context: RunContext, item: InstanceReport, ref: InstanceRef) {
    this.scope = runScope(context, item, ref);
  }

  lock(command: string[]) {
    return lock(this.scope, command);
  }

  newLease() {
    return newLease(this.scope);
  }

  leaseHolder(command: string[]) {
    return leaseHolder(this.scope, command);
  }

  adopt(record: InstanceRecordFile | null, lease: ServerLease | null): void {
    adopt(this.scope, record, lease);
  }

  awaitRecovery(): void {
    awaitRecovery(this.scope);
  }

  unlock() {
    return unlock(this.scope);
  }

  mark(patch: Parameters<typeof mark>[1]) {
    return mark(this.scope, patch);
  }

  holdsLease() {
    return holdsLease(this.scope);
  }

  leaseLoss() {
    return leaseLoss(this.scope);
  }

  get mayHaveChanged(): boolean {
    return this.scope.changing;
  }

  /**
   * An error nobody foresaw, as an outcome: not started (exit 3) when nothing changed; else needs
   * attention (exit 4) with the record kept for `recover`. Never "rolled back" (exit 1).
   */
  internalError(error: unknown): Failure & { outcome: Outcome } {
    const message = `internal error: ${describeError(error)}`;
    if (!this.scope.changing) return { outcome: 'not-started', step: 'internal', message: `${message}; nothing changed` };
    this.awaitRecovery();
    return { outcome: 'needs-attention', step: 'internal', message: `${message}; the instance may have changed. Check it, then: ${recoverCommand(this.scope.ref)}` };
  }

  /** The instance as resolved by the lock: for records and the commands printed for a human. */
  get resolvedRef(): InstanceRef {
    return this.scope.ref;
  }

  warn(message: string): void {
    warn(this.scope, message);
  }

  preflight(options: RunOptions) {
    return preflight(this.scope, options);
  }

  checksFor(configured: CheckDefinition[] | null) {
    return checksFor(this.scope, configured);
  }

  runChecks(phase: Phase, checks: CheckDefinition[], baselineFailedUnits: string[]) {
    return runChecks(this.scope, phase, checks, baselineFailedUnits);
  }

  soak(checks: CheckDefinition[], durationMs: number, baselineFailedUnits: string[]) {
    return soak(this.scope, checks, durationMs, baselineFailedUnits);
  }

  takeSnapshot(options: RunOptions) {
    return takeSnapshot(this.scope, options);
  }

  runUpdateCommand(options: RunOptions) {
    return runUpdateCommand(this.scope, options);
  }

  saveEvidence(checks: CheckDefinition[]) {
    return saveEvidence(this.scope, checks);
  }

  readInventory(when: 'before' | 'after') {
    return readInventory(this.scope, when);
  }

  recordChanges(before: Inventory, after: Inventory) {
    return recordChanges(this.scope, before, after);
  }

  simulatePackages(command: string[]) {
    return simulatePackages(this.scope, command);
  }

  refuseByPolicy(command: string[], policy: UpgradePolicy & { refuse: NonNullable<UpgradePolicy['refuse']> }) {
    return refuseByPolicy(this.scope, command, policy);
  }

  /** Deletes this run's own snapshot of an update that changed no package, through prune's snapshot-only path. */
  async forgetUnchangedSnapshot(name: string): Promise<boolean> {
    if (!(await this.holdsLease())) return false;
    const outcome = await this.step('forget-snapshot', `Delete ${name}: no package changed`, async () => {
      const plan = { instance: this.scope.item.instance, ref: this.scope.ref, decisions: [{ snapshot: { name, createdAt: '', expiresAt: null, stateful: false, sizeBytes: null }, keep: false, reason: 'no package changed' }] };
      const result = await executePrune(this.scope.context.lxd, plan);
      if (result.failed.length) throw new Refusal(result.failed[0]!.message);
      return { message: `deleted ${name} (--keep-unchanged keeps it)` };
    });
    if (outcome.ok && this.scope.item.packages) this.scope.item.packages.snapshotDeleted = true;
    if (!outcome.ok) this.warn(`no package changed, but the snapshot ${name} could not be deleted: ${outcome.message}`);
    return outcome.ok;
  }

  beginGroup(title: string, actions: string[]): void {
    beginGroup(this.scope, title, actions);
  }

  endGroup(): void {
    endGroup(this.scope);
  }

  rollBack(snapshot: string, options: { keepFailedAs?: string | null; start?: boolean } = {}) {
    return rollBack(this.scope, snapshot, options);
  }

  /** `--keep N`: deletes the older safeupdate snapshots of this instance, never `current`; true when all went. */
  async keepNewest(count: number, current: string): Promise<boolean> {
    if (!(await this.holdsLease())) return false;
    const { lxd, clock } = this.scope.context;
    // The step's own outcome decides: a listing that fails is a failed follow-up too, not only a deletion.
    const kept = await this.step('keep', `Keep the ${count} newest safeupdate snapshots`, async () => {
      const snapshots = await lxd.listSnapshots(this.scope.ref).catch((error: unknown) => {
        this.warn(`could not list the snapshots of ${this.scope.item.instance} to keep the ${count} newest: ${describeError(error)}`);
        throw error;
      });
      const plan = { instance: this.scope.item.instance, ref: this.scope.ref, decisions: decideRetention(snapshots, { keepLast: count, current }, new Date(clock.now())) };
      const outcome = await executePrune(lxd, plan);
      for (const failed of outcome.failed) this.warn(`could not delete ${this.scope.item.instance}/${failed.name}: ${failed.message}`);
      if (outcome.failed.length) throw new Refusal(`${outcome.failed.length} snapshot(s) could not be deleted`);
      return { message: outcome.deleted.length ? `deleted ${outcome.deleted.join(', ')}` : 'nothing to delete' };
    });
    return kept.ok;
  }

  /** Refreshes the instance with its snapshots to the snapshot server; true when it went through. */
  async copyToServer(remote: string): Promise<boolean> {
    if (!(await this.holdsLease())) return false;
    const { lxd, clock } = this.scope.context;
    const started = clock.monotonic();
    const remoteRef = { ...this.scope.ref, remote };
    const outcome = await this.step('copy', `Copy to ${remote}:`, async () => {
      requireFeatures(await lxd.checkReachable(remote), ['refreshCopy'], `the snapshot server ${remote}:`);
      const before = (await lxd.getInstance(remoteRef)) ? new Set((await lxd.listSnapshots(remoteRef)).map((s) => s.name)) : new Set<string>();
      await lxd.refreshCopy(this.scope.ref, remote);
      const sent = (await lxd.listSnapshots(remoteRef)).map((s) => s.name).filter((name) => !before.has(name));
      return { sent, message: sent.length ? `sent ${sent.join(', ')}` : 'up to date' };
    });
    this.scope.item.copy = {
      remote,
      ok: outcome.ok,
      durationMs: clock.monotonic() - started,
      transferredSnapshots: outcome.ok ? outcome.value.sent : [],
      message: outcome.message,
    };
    if (!outcome.ok) this.warn(`copy to ${remote}: failed: ${outcome.message}`);
    return outcome.ok;
  }

  describePlan(options: RunOptions, checks: CheckDefinition[]): string[] {
    const expiry = options.expiryMs === null ? 'never expires' : `expires in ${formatDuration(options.expiryMs)}`;
    return [
      `snapshot ${this.scope.item.instance} as ${options.snapshotName ?? `${SNAPSHOT_PREFIX}<UTC timestamp>`} (${expiry})`,
      `run ${JSON.stringify(options.command)} inside it (timeout ${formatDuration(options.timeoutMs)}${options.interactive ? ', interactive' : ''})`,
      checks.length ? `check ${checks.map((c) => c.name).join(', ')}` : 'no health checks: only the exit code decides',
      ...(options.soakMs === null ? [] : [`then watch the checks and systemd's restart counters for ${formatDuration(options.soakMs)} (--soak); roll back if anything fails or restarts`]),
      ...(options.keep === null ? [] : [`after success: keep the ${options.keep} newest safeupdate snapshots, delete older ones`]),
      ...(options.copyTo === null ? [] : [`after success: refresh the instance with its snapshots to ${options.copyTo}:`]),
      options.rollback ? 'on failure: collect evidence, stop, restore the snapshot, start, check again' : 'on failure: leave it as it is (--no-rollback)',
      ...(this.scope.item.packages?.simulated ? this.scope.item.packages.changes.map((change) => `would change ${describeChange(change)}`) : []),
      ...(options.policy.refuse === null ? [] : [`before the snapshot: refuse a ${options.policy.refuse === 'major' ? 'major' : 'major or minor'} upgrade${options.policy.allow.length ? ` (except ${options.policy.allow.join(', ')})` : ''}`]),
      ...this.scope.item.uncoveredVolumes.map((v) => `not covered by rollback: ${v.path} (device ${v.device})`),
      describeSpace(this.scope.item.space),
    ];
  }

  /**
   * Ends a single-instance run: records the outcome, the failure and the instance's status now, and
   * frames the report. `exitCode` overrides the outcome's code (a failed follow-up is 5). Once the
   * instance may have changed, a lost lease overrides them all: another host may be recovering the
   * instance, so whatever this run found, a human must look (exit 4, the record kept).
   */
  async conclude(
    outcome: Outcome,
    failure: Failure | null,
    details: { started: Timer; command: string[]; dryRun?: boolean; interruptedBy?: string | null; exitCode?: number },
  ): Promise<Report> {
    const lost = this.scope.changing ? await this.leaseLoss() : null;
    if (lost) {
      this.awaitRecovery();
      [outcome, failure, details] = ['needs-attention', lost, { ...details, exitCode: exitCodeFor('needs-attention', null) }];
    }
    this.scope.item.outcome = outcome;
    this.scope.item.error = failure && { step: failure.step, message: failure.message };
    this.scope.item.finalStatus = await this.currentStatus();
    const { interrupt } = this.scope.context;
    const interruptedBy = details.interruptedBy ?? (interrupt.aborted ? String(interrupt.reason) : null);
    this.scope.item.startedAt = new Date(details.started.at).toISOString();
    this.scope.item.durationMs = details.started.elapsed();
    return frameReport(this.scope.context, details.started.at, this.scope.item.durationMs, outcome, details.exitCode ?? exitCodeFor(outcome, interruptedBy), [this.scope.item], {
      command: details.command,
      dryRun: details.dryRun ?? false,
      interruptedBy,
    });
  }

  async currentStatus(): Promise<string | null> {
    try {
      return (await this.scope.context.lxd.getInstance(this.scope.ref))?.status ?? 'missing';
    } catch {
      return null;
    }
  }

  step<T extends { message: string }>(action: string, title: string, run: () => Promise<T>) {
    return step(this.scope, action, title, run);
  }
}

function describeSpace(space: InstanceReport['space']): string {
  if (!space || space.freeBytes === null) return 'space: LXD does not report the free space of the pool; cannot tell whether the snapshot fits';
  if (space.neededBytes === null) {
    return `space: pool ${space.pool} has ${gib(space.freeBytes)} free; LXD reports no disk usage for this instance (a dir pool without quota), and a snapshot there copies the whole root filesystem, so whether it fits cannot be told`;
  }
  if (space.driver !== 'dir') return `space: pool ${space.pool} (${space.driver}) has ${gib(space.freeBytes)} free; a snapshot there shares blocks and needs no space up front`;
  return `space: the snapshot copies ${gib(space.neededBytes)}; pool ${space.pool} has ${gib(space.freeBytes)} free`;
}
