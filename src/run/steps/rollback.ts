import { join } from 'node:path';
import type { CheckDefinition } from '../../checks/check.js';
import { commandLine } from '../../lxd/dialect.js';
import { formatRef } from '../../lxd/names.js';
import { collectEvidence } from '../evidence.js';
import type { Failure } from '../types.js';
import { holdsLease, leaseLoss, mark } from './lock.js';
import { beginChanging, step, warn, type RunScope } from './scope.js';

export async function saveEvidence(scope: RunScope, checks: CheckDefinition[]): Promise<void> {
  const dir = join(scope.instanceDir, 'evidence');
  const units = checks.flatMap((check) => (check.spec.kind === 'unit' ? [check.spec.unit] : []));
  const outcome = await step(scope, 'evidence', 'Collect evidence', async () => {
    scope.item.evidenceDir = dir;
    return { message: await collectEvidence(scope.context.lxd, scope.ref, dir, units) };
  });
  if (!outcome.ok) warn(scope, `evidence: ${outcome.message}`);
}

/**
 * Stop, restore, start: the state is being discarded, so a forced stop is the fastest correct way.
 * With `keepFailedAs`, the stopped broken state is first copied (not snapshotted: on ZFS a restore
 * fails on, or destroys, snapshots newer than the one restored).
 */
export async function rollBack(
  scope: RunScope,
  snapshot: string,
  { keepFailedAs = null, start = true }: { keepFailedAs?: string | null; start?: boolean } = {},
): Promise<{ ok: true } | { ok: false; failure: Failure }> {
  const { lxd } = scope.context;
  // The mark renews the lease: one lost by now belongs to another host, which may be recovering the instance itself.
  // With the snapshot: a manual rollback's record names none yet, and `recover` needs it.
  const unrecorded = await mark(scope, { phase: 'rolling-back', snapshot });
  const lostBefore = await leaseLoss(scope);
  if (lostBefore) return { ok: false, failure: lostBefore };
  // Only the disk failed: the rollback never waits on it.
  if (unrecorded) warn(scope, `${unrecorded}; rolling back regardless`);
  scope.item.rollback.performed = true;
  beginChanging(scope);
  const steps: Array<[string, string, () => Promise<void>]> = [
    ['stop', `Stop ${scope.item.instance}`, async () => {
      const instance = await lxd.getInstance(scope.ref);
      if (instance && instance.status !== 'Stopped') await lxd.stopInstance(scope.ref, { force: true });
    }],
    ...(keepFailedAs === null ? [] : [['keep-failed', `Keep the failed state as ${keepFailedAs}`, async () => {
      await lxd.copyInstance(scope.ref, keepFailedAs);
      scope.item.keptFailedCopy = keepFailedAs;
    }] as [string, string, () => Promise<void>]]),
    ['restore', `Restore ${snapshot}`, () => lxd.restoreSnapshot(scope.ref, snapshot)],
    ...(start ? [['start', `Start ${scope.item.instance}`, () => lxd.startInstance(scope.ref)] as [string, string, () => Promise<void>]] : []),
  ];
  for (const [action, title, run] of steps) {
    if (!(await holdsLease(scope))) return { ok: false, failure: (await leaseLoss(scope))! };
    const outcome = await step(scope, action, title, async () => {
      await run();
      return { message: 'done' };
    });
    scope.item.rollback.steps.push(scope.item.steps.at(-1)!);
    // A post-mortem copy that fails must not hold up the rollback.
    if (!outcome.ok && action === 'keep-failed') {
      warn(scope, `could not keep the failed state: ${outcome.message}`);
      continue;
    }
    if (!outcome.ok) {
      return { ok: false, failure: { step: action, message: `rollback failed at ${action}: ${outcome.message}. ${manualFix(scope, action, snapshot)}` } };
    }
  }
  return { ok: true };
}

function manualFix(scope: RunScope, action: string, snapshot: string): string {
  const instance = formatRef(scope.ref);
  const project = scope.ref.project === null ? [] : ['--project', scope.ref.project];
  const { dialect } = scope.context.lxd;
  const [stop, restore, start, log] = [
    ['stop', '--force', instance], dialect.restore(instance, snapshot), ['start', instance], ['info', '--show-log', instance],
  ].map((args) => commandLine(dialect, [...args, ...project]));
  const commands = { stop: [stop, restore, start], restore: [restore, start], start: [start, log] }[action] ?? [];
  return `The snapshot ${snapshot} is kept. To finish by hand: ${commands.join(' && ')}`;
}

/** `<name>-failed-YYYYMMDDHHMMSS`, shortened to LXD's 63 characters. */
export function failedCopyName(instance: string, now: Date): string {
  const suffix = `-failed-${now.toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
  return `${instance.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`;
}
