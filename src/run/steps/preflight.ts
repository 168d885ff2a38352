import type { CheckDefinition } from '../../checks/check.js';
import type { Dialect } from '../../lxd/dialect.js';
import { requireFeatures, serverLabel, type Feature } from '../../lxd/extensions.js';
import type { Instance, InstanceRef } from '../../lxd/lxd.js';
import { formatRefWithProject } from '../../lxd/names.js';
import type { UncoveredVolume } from '../../report/report.js';
import type { Failure, RunOptions } from '../types.js';
import { checksFor } from './checks.js';
import { Refusal, step, warn, type RunScope } from './scope.js';

export async function preflight(scope: RunScope, options: RunOptions): Promise<{ checks: CheckDefinition[] } | { failure: Failure }> {
  const { lxd } = scope.context;
  const ref = scope.ref;
  const outcome = await step(scope, 'preflight', `Preflight ${scope.item.instance}`, async () => {
    requireFeatures(await lxd.checkReachable(ref.remote), runFeatures(options), serverLabel(ref.remote));
    const instance = await lxd.getInstance(ref);
    const refusal = refuseInstance(instance, scope.item.instance, ref, lxd.dialect);
    if (refusal) throw new Refusal(refusal);
    scope.item.uncoveredVolumes = uncoveredVolumes(instance!);
    const pool = instance!.devices.root?.pool ?? 'default';
    const space = await lxd.getSpace(ref, pool, instance!.location);
    // Only the dir driver copies the whole root filesystem; copy-on-write drivers share blocks.
    const neededBytes = space.driver === 'dir' ? space.usedByInstanceBytes : 0;
    scope.item.space = { pool, driver: space.driver, freeBytes: space.freeBytes, neededBytes };
    if (space.freeBytes !== null && neededBytes !== null && neededBytes > space.freeBytes) {
      throw new Refusal(`the snapshot would not fit: ${scope.item.instance} uses ${gib(neededBytes)}, which a snapshot on the dir pool ${pool} copies, and the pool has ${gib(space.freeBytes)} free`);
    }
    for (const volume of scope.item.uncoveredVolumes) {
      warn(scope, `${volume.path} (device ${volume.device}, ${volume.pool ? `volume ${volume.pool}/${volume.source}` : `host path ${volume.source}`}) is not in the snapshot: not covered by rollback`);
    }
    return { checks: await checksFor(scope, options.checks), message: `${instance!.status} ${instance!.type}` };
  });
  if (!outcome.ok) return { failure: { step: 'preflight', message: outcome.message } };
  return { checks: outcome.value.checks };
}

function refuseInstance(instance: Instance | null, name: string, ref: InstanceRef, dialect: Dialect): string | null {
  if (!instance) return `instance ${name} does not exist`;
  if (instance.ephemeral) return `instance ${name} is ephemeral: ${dialect.server} deletes it when it stops, so it cannot be rolled back`;
  if (instance.status !== 'Running') return `instance ${name} is ${instance.status.toLowerCase()}, not running; start it first (${dialect.client} start ${formatRefWithProject(ref)})`;
  return null;
}

/** What a run asks of the instance's server; the snapshot server's own part is asked at the copy. */
function runFeatures(options: RunOptions): Feature[] {
  return [
    'instances',
    // Every snapshot is taken with its own expires_at, also "never": without it, snapshots.expiry would apply.
    'snapshotExpiry',
    ...(options.copyTo === null ? [] : ['refreshCopy' as const]),
    ...(options.keepFailed || options.rehearse !== 'off' ? ['instanceOnlyCopy' as const] : []),
  ];
}

function uncoveredVolumes(instance: Instance): UncoveredVolume[] {
  return Object.entries(instance.devices)
    .filter(([, device]) => device.type === 'disk' && device.path !== '/' && device.source)
    .map(([device, config]) => ({ device, path: config.path ?? '', source: config.source!, pool: config.pool ?? null }));
}

export function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}
