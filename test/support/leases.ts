import type { FakeLxd } from './fake-lxd.js';

/** The profile of web1's server lease in the fake (project default), on `remote` as the code under test names it. */
export const leaseKey = (remote: string | null = 'local') => `${remote ?? ''}:default/safeupdate-lock_default_web1`;

/**
 * The server lease a run leaves beside its record when it is killed: what `recover` checks that
 * record against. Expired an hour before the fake clock's start unless `expiresAt` says otherwise
 * ('' for one kept for a human).
 */
export function leaveLease(
  lxd: FakeLxd,
  run: { runId: string; phase: string; snapshot: string | null; host?: string; hostId?: string; expiresAt?: string },
  remote: string | null = 'local',
): void {
  lxd.profiles.set(leaseKey(remote), {
    description: '', usedBy: [], etag: '"left"',
    config: {
      'user.safeupdate.runId': run.runId, 'user.safeupdate.hostId': run.hostId ?? 'dead-host-id', 'user.safeupdate.host': run.host ?? 'h',
      'user.safeupdate.pid': '999999999', 'user.safeupdate.pidStartedAt': '1', 'user.safeupdate.instance': 'web1',
      'user.safeupdate.command': '["apt-get","upgrade","-y"]', 'user.safeupdate.startedAt': 't', 'user.safeupdate.phase': run.phase,
      'user.safeupdate.snapshot': run.snapshot ?? '', 'user.safeupdate.renewedAt': '2026-11-26T08:59:00.000Z',
      'user.safeupdate.expiresAt': run.expiresAt ?? '2026-11-26T09:00:00.000Z',
    },
  });
}
