import { serverScope } from '../lxd/dialect.js';
import { hostname } from 'node:os';
import type { InstanceRef, Lxd } from '../lxd/lxd.js';
import { systemClock } from '../checks/probe.js';
import { AwaitingRecovery, CorruptRecord, InstanceBusy, InstanceRecordFile, thisProcess } from '../state/instance-record.js';
import { hostId } from '../state/host-id.js';
import { LeaseAwaitingRecovery, LeaseBusy, UnreadableLease } from '../state/lease-takeover.js';
import { leaseLengthMs } from '../state/lease-profile.js';
import { ServerLease } from '../state/server-lease.js';
import { formatRef } from '../lxd/names.js';
import { decideRetention, type RetentionDecision, type RetentionRules } from './retention.js';

export interface PrunePlan {
  instance: string;
  ref: InstanceRef;
  decisions: RetentionDecision[];
}

export interface PruneOutcome {
  instance: string;
  deleted: string[];
  kept: Array<{ name: string; reason: string }>;
  failed: Array<{ name: string; message: string }>;
  /** Why nothing was deleted on this instance: a run holds it, or a crashed one awaits recovery. */
  skipped?: string;
}

/**
 * `prune` on one instance under its lock, as a run takes it: a run in progress may be about to
 * restore a snapshot that looks old, and a crashed run's snapshot is what `recover` needs.
 */
export async function pruneLocked(lxd: Lxd, plan: PrunePlan, stateDir: string, runId: string): Promise<PruneOutcome> {
  const ref = await lxd.resolveRef(plan.ref);
  const record = new InstanceRecordFile(stateDir, ref, serverScope(lxd.dialect, ref.remote));
  try {
    await record.acquire({ runId, host: hostname(), instance: plan.instance, ref, command: ['prune'], startedAt: new Date().toISOString(), runDir: '' });
  } catch (error) {
    if (!(error instanceof InstanceBusy || error instanceof AwaitingRecovery || error instanceof CorruptRecord)) throw error;
    return { instance: plan.instance, deleted: [], kept: [], failed: [], skipped: error.message };
  }
  // Other hosts' runs hold the server lease, not this host's record.
  const lease = new ServerLease(lxd, ref, systemClock, leaseLengthMs());
  try {
    const startedAt = new Date().toISOString();
    await lease.acquire({ runId, hostId: await hostId(stateDir), host: hostname(), ...thisProcess(), instance: plan.instance, command: ['prune'], startedAt });
    lease.startRenewing();
  } catch (error) {
    await record.release();
    if (!(error instanceof LeaseBusy || error instanceof LeaseAwaitingRecovery || error instanceof UnreadableLease)) throw error;
    return { instance: plan.instance, deleted: [], kept: [], failed: [], skipped: error.message };
  }
  try {
    return await executePrune(lxd, { ...plan, ref });
  } finally {
    await lease.release();
    await record.release();
  }
}

/** What prune would delete on one instance; reads only. Throws when the instance does not exist. */
export async function planPrune(lxd: Lxd, ref: InstanceRef, rules: RetentionRules, now: Date): Promise<PrunePlan> {
  await lxd.checkReachable(ref.remote);
  const instance = await lxd.getInstance(ref);
  if (!instance) throw new MissingInstance(`instance ${formatRef(ref)} does not exist`);
  return { instance: formatRef(ref), ref, decisions: decideRetention(await lxd.listSnapshots(ref), rules, now) };
}

/**
 * Deletes what the plan lets go. Each snapshot is checked to still be a snapshot of this instance
 * right before its deletion, and is addressed as instance/snapshot: never the instance, never a
 * snapshot safeupdate did not make.
 */
export async function executePrune(lxd: Lxd, plan: PrunePlan): Promise<PruneOutcome> {
  const outcome: PruneOutcome = { instance: plan.instance, deleted: [], kept: [], failed: [] };
  for (const decision of plan.decisions) {
    const name = decision.snapshot.name;
    if (decision.keep) {
      outcome.kept.push({ name, reason: decision.reason });
      continue;
    }
    try {
      const current = await lxd.listSnapshots(plan.ref);
      if (!current.some((snapshot) => snapshot.name === name)) throw new Error(`${plan.instance}/${name} is no longer a snapshot of ${plan.instance}`);
      await lxd.deleteSnapshot(plan.ref, name);
      outcome.deleted.push(name);
    } catch (error) {
      outcome.failed.push({ name, message: (error as Error).message });
    }
  }
  return outcome;
}

export class MissingInstance extends Error {}
