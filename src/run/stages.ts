import type { CheckDefinition, Phase } from '../checks/check.js';
import { type Timer } from '../checks/probe.js';
import type { InstanceRef } from '../lxd/lxd.js';
import { type InstanceReport, type Outcome } from '../report/report.js';
import { InstanceRecordFile } from '../state/instance-record.js';
import { ServerLease } from '../state/server-lease.js';
import { type Inventory } from '../packages/inventory.js';
import { type UpgradePolicy } from '../packages/policy.js';
import { checksFor, runChecks, soak } from './steps/checks.js';
import { preflight } from './steps/preflight.js';
import { readInventory, recordChanges, refuseByPolicy, simulatePackages } from './steps/packages.js';
import { rollBack, saveEvidence } from './steps/rollback.js';
import { takeSnapshot } from './steps/snapshot.js';
import { conclude, currentStatus, internalError } from './steps/conclude.js';
import { copyToServer, forgetUnchangedSnapshot, keepNewest } from './steps/follow-ups.js';
import { describePlan } from './steps/plan.js';
import { runUpdateCommand } from './steps/update.js';
import { adopt, awaitRecovery, holdsLease, leaseHolder, leaseLoss, lock, mark, newLease, unlock } from './steps/lock.js';
import { beginGroup, endGroup, runScope, step, warn, type RunScope } from './steps/scope.js';
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

  internalError(error: unknown) {
    return internalError(this.scope, error);
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

  forgetUnchangedSnapshot(name: string) {
    return forgetUnchangedSnapshot(this.scope, name);
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

  keepNewest(count: number, current: string) {
    return keepNewest(this.scope, count, current);
  }

  copyToServer(remote: string) {
    return copyToServer(this.scope, remote);
  }

  describePlan(options: RunOptions, checks: CheckDefinition[]) {
    return describePlan(this.scope, options, checks);
  }

  conclude(outcome: Outcome,
    failure: Failure | null,
    details: { started: Timer; command: string[]; dryRun?: boolean; interruptedBy?: string | null; exitCode?: number },) {
    return conclude(this.scope, outcome, failure, details);
  }

  currentStatus() {
    return currentStatus(this.scope);
  }

  step<T extends { message: string }>(action: string, title: string, run: () => Promise<T>) {
    return step(this.scope, action, title, run);
  }
}
