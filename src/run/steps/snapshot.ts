import { SNAPSHOT_PREFIX } from '../../lxd/names.js';
import type { Failure, RunOptions } from '../types.js';
import { mark } from './lock.js';
import { Refusal, step, type RunScope } from './scope.js';

export async function takeSnapshot(scope: RunScope, options: RunOptions): Promise<{ name: string } | { failure: Failure }> {
  const { lxd, clock } = scope.context;
  const outcome = await step(scope, 'snapshot', 'Snapshot', async () => {
    const existing = new Set((await lxd.listSnapshots(scope.ref)).map((s) => s.name));
    const name = chooseSnapshotName(options.snapshotName, existing, new Date(clock.now()));
    if (name === null) throw new Refusal(`snapshot ${options.snapshotName} already exists on ${scope.item.instance}; safeupdate never replaces a snapshot`);
    // Whole seconds: the expiry is read by people and compared by scripts.
    const expiresAt = options.expiryMs === null ? null : new Date(Math.floor((clock.now() + options.expiryMs) / 1000) * 1000);
    const unrecorded = await mark(scope, { phase: 'snapshotting', snapshot: name });
    if (unrecorded) throw new Refusal(`${unrecorded}; not taking a snapshot that a crash could leave unaccounted for`);
    await lxd.createSnapshot(scope.ref, name, expiresAt);
    scope.item.snapshot = { name, expiresAt: expiresAt?.toISOString() ?? null };
    return { name, message: `${name}, ${expiresAt ? `expires ${expiresAt.toISOString()}` : 'never expires'}` };
  });
  if (!outcome.ok) return { failure: { step: 'snapshot', message: `snapshot failed: ${outcome.message}` } };
  return { name: outcome.value.name };
}

export function chooseSnapshotName(requested: string | null, existing: Set<string>, now: Date): string | null {
  if (requested !== null) return existing.has(requested) ? null : requested;
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const base = `${SNAPSHOT_PREFIX}${stamp}`;
  if (!existing.has(base)) return base;
  for (let suffix = 2; ; suffix += 1) if (!existing.has(`${base}-${suffix}`)) return `${base}-${suffix}`;
}
