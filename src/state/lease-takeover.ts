import { randomBytes } from 'node:crypto';
import type { InstanceRef, Lxd, ProfileRef } from '../lxd/lxd.js';
import { recoverCommand } from '../lxd/names.js';
import { describeHolder, KEY, type Lease } from './lease-profile.js';

export class LeaseBusy extends Error {
  constructor(readonly holder: Lease, profile: string) {
    super(
      `${holder.instance} is busy: ${describeHolder(holder)} holds the server lease ${profile}, ${holder.phase}` +
        `${holder.expiresAt ? `; it expires ${holder.expiresAt} unless renewed` : ''}`,
    );
  }
}

export class LeaseAwaitingRecovery extends Error {
  constructor(readonly holder: Lease, profile: string, ref: InstanceRef) {
    const why = holder.expiresAt === null ? 'ended needing attention' : `stopped renewing its server lease ${profile} while ${holder.phase}`;
    super(
      `${holder.instance} awaits recovery: ${describeHolder(holder)} ${why}` +
        `${holder.snapshot ? ` with snapshot ${holder.snapshot}` : ''}; nothing changed now. Run: ${recoverCommand(ref)}`,
    );
  }
}

/** A lease profile whose keys are not safeupdate's: edited by hand, or not ours at all. */
export class UnreadableLease extends Error {
  constructor(profile: string, ref: InstanceRef, detail: string) {
    super(`the server lease ${profile} is unreadable (${detail}); check it (lxc profile show ${profile}), then clear it: ${recoverCommand(ref)} --forget`);
  }
}

/**
 * Takes a stale lease off the server: renamed to a name only this process uses (of two takers,
 * one rename wins), checked to be the lease that was judged, then deleted. false: someone else
 * got there first.
 */
export async function seize(lxd: Lxd, profile: ProfileRef, stale: Lease): Promise<boolean> {
  const aside = `${profile.name}_takeover-${randomBytes(4).toString('hex')}`;
  if (!(await lxd.renameProfile(profile, aside))) return false;
  const asideRef = { ...profile, name: aside };
  const taken = await lxd.getProfile(asideRef);
  const sameRun = taken !== null && taken.config[`${KEY}runId`] === stale.runId && taken.config[`${KEY}hostId`] === stale.hostId;
  if (!sameRun) {
    // Another taker replaced the stale lease between the look and the rename: this was its live
    // lease. Put it back; if the name was taken meanwhile, that taker's next renewal finds it lost.
    if (!(await lxd.renameProfile(asideRef, profile.name).catch(() => false))) await lxd.deleteProfile(asideRef);
    return false;
  }
  await lxd.deleteProfile(asideRef);
  return true;
}
