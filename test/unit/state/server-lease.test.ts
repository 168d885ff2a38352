import { describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import type { Profile } from '../../../src/lxd/lxd.js';
import { LeaseAwaitingRecovery, LeaseBusy, UnreadableLease } from '../../../src/state/lease-takeover.js';
import { leaseLengthMs, leaseProfileName, type LeaseHolder } from '../../../src/state/lease-profile.js';
import { ServerLease } from '../../../src/state/server-lease.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeLxd } from '../../support/fake-lxd.js';

const ref = { remote: 'local', name: 'web1', project: 'prod' };
const PROFILE = 'safeupdate-lock_prod_web1';
const LENGTH = 60_000;
const DEAD_PID = 999_999_999;

function holder(overrides: Partial<LeaseHolder> = {}): LeaseHolder {
  return { runId: 'run-a', hostId: 'host-a-id', host: 'ci-a', pid: process.pid, pidStartedAt: null, instance: 'web1', command: ['apt-get', 'upgrade', '-y'], startedAt: '2026-11-26T10:00:00.000Z', ...overrides };
}

function setUp() {
  const lxd = new FakeLxd();
  const clock = new FakeClock();
  const lost: string[] = [];
  const lease = (onLost = (reason: string) => void lost.push(reason)) => new ServerLease(lxd, ref, clock, LENGTH, onLost);
  const stored = () => lxd.profiles.get(`local:prod/${PROFILE}`)?.config;
  return { lxd, clock, lost, lease, stored };
}

/** The profile another host's run left: `phase`, and renewed last at `renewedAt` (ms). */
function otherHostsLease(renewedAt: number, phase = 'preparing', extra: Record<string, string> = {}): Profile {
  return {
    description: '',
    usedBy: [],
    etag: '"other-host"',
    config: {
      'user.safeupdate.runId': 'run-b', 'user.safeupdate.hostId': 'host-b-id', 'user.safeupdate.host': 'ci-b', 'user.safeupdate.pid': String(DEAD_PID),
      'user.safeupdate.instance': 'web1', 'user.safeupdate.command': '["apt-get","upgrade","-y"]', 'user.safeupdate.startedAt': 't0',
      'user.safeupdate.phase': phase, 'user.safeupdate.snapshot': phase === 'preparing' ? '' : 'safeupdate-20261126-095900',
      'user.safeupdate.renewedAt': new Date(renewedAt).toISOString(), 'user.safeupdate.expiresAt': new Date(renewedAt + LENGTH).toISOString(), ...extra,
    },
  };
}

describe('server lease', () => {
  it('is a profile named after the project and the instance, created with the holder in its config', async () => {
    const { lxd, lease, stored, clock } = setUp();
    expect(leaseProfileName(ref)).toBe(PROFILE);
    expect(await lease().acquire(holder())).toEqual({ tookOver: null });
    expect(stored()).toMatchObject({
      'user.safeupdate.runId': 'run-a', 'user.safeupdate.hostId': 'host-a-id', 'user.safeupdate.host': 'ci-a', 'user.safeupdate.phase': 'preparing',
      'user.safeupdate.expiresAt': new Date(clock.now() + LENGTH).toISOString(),
    });
    expect(lxd.profiles.get(`local:prod/${PROFILE}`)!.description).toContain('run run-a on host ci-a');
    lxd.assertDone();
  });

  it('busy while another host holds it: refuses, naming the holder and when it expires', async () => {
    const { lxd, lease, clock } = setUp();
    lxd.profiles.set(`local:prod/${PROFILE}`, otherHostsLease(clock.now() - 10_000));
    const refusal = await lease().acquire(holder()).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(LeaseBusy);
    expect((refusal as Error).message).toBe(
      `web1 is busy: run run-b on host ci-b (pid ${DEAD_PID}, started t0) holds the server lease ${PROFILE}, preparing; it expires ${new Date(clock.now() + 50_000).toISOString()} unless renewed`,
    );
  });

  it('an expired lease whose holder had not changed anything is taken over, once past the clock margin', async () => {
    const { lxd, lease, clock, stored } = setUp();
    // Expired 10 s ago: within the quarter-length margin for clocks that disagree, still busy.
    lxd.profiles.set(`local:prod/${PROFILE}`, otherHostsLease(clock.now() - LENGTH - 10_000));
    await expect(lease().acquire(holder())).rejects.toBeInstanceOf(LeaseBusy);
    clock.advance(6_000);
    const { tookOver } = await lease().acquire(holder());
    expect(tookOver).toMatchObject({ runId: 'run-b', host: 'ci-b', phase: 'preparing' });
    expect(stored()!['user.safeupdate.runId']).toBe('run-a');
    // The stale lease was renamed aside, then deleted: nothing else is left on the server.
    expect([...lxd.profiles.keys()]).toEqual([`local:prod/${PROFILE}`]);
  });

  it('an expired lease whose holder began the update is not taken: it awaits recover', async () => {
    const { lxd, lease, clock } = setUp();
    lxd.profiles.set(`local:prod/${PROFILE}`, otherHostsLease(clock.now() - 10 * LENGTH, 'updating'));
    const refusal = await lease().acquire(holder()).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(LeaseAwaitingRecovery);
    expect((refusal as Error).message).toBe(
      `web1 awaits recovery: run run-b on host ci-b (pid ${DEAD_PID}, started t0) stopped renewing its server lease ${PROFILE} while updating with snapshot safeupdate-20261126-095900; nothing changed now. Run: safeupdate recover local:web1 --project prod`,
    );
    expect(lxd.profiles.get(`local:prod/${PROFILE}`)!.config['user.safeupdate.runId']).toBe('run-b');
  });

  it('on its own host a dead holder is known at once, without waiting for the expiry', async () => {
    const { lxd, lease, clock } = setUp();
    lxd.profiles.set(`local:prod/${PROFILE}`, otherHostsLease(clock.now(), 'preparing', { 'user.safeupdate.hostId': 'host-a-id' }));
    expect((await lease().acquire(holder())).tookOver).toMatchObject({ runId: 'run-b' });
  });

  it('a profile of that name without safeupdate keys is refused as unreadable', async () => {
    const { lxd, lease } = setUp();
    lxd.profiles.set(`local:prod/${PROFILE}`, { description: '', usedBy: [], etag: null, config: { 'user.other': 'x' } });
    await expect(lease().acquire(holder())).rejects.toBeInstanceOf(UnreadableLease);
  });

  it('renewal moves the expiry; marking records phase, snapshot and baseline', async () => {
    const { lease, clock, stored, lost } = setUp();
    const mine = lease();
    await mine.acquire(holder());
    clock.advance(15_000);
    await mine.renew();
    expect(stored()!['user.safeupdate.expiresAt']).toBe(new Date(clock.now() + LENGTH).toISOString());
    expect(await mine.mark({ phase: 'snapshotting', snapshot: 'snap1', baseline: { failedUnits: ['x.service'], passedChecks: ['systemd'] } })).toBeNull();
    expect(stored()).toMatchObject({
      'user.safeupdate.phase': 'snapshotting', 'user.safeupdate.snapshot': 'snap1', 'user.safeupdate.baseline': '{"failedUnits":["x.service"],"passedChecks":["systemd"]}',
    });
    expect(lost).toEqual([]);
  });

  it('a renewal that finds the lease someone else\'s loses it: told once, and every later mark refuses', async () => {
    const { lxd, lease, clock, lost } = setUp();
    const mine = lease();
    await mine.acquire(holder());
    lxd.profiles.set(`local:prod/${PROFILE}`, otherHostsLease(clock.now()));
    await mine.renew();
    expect(lost).toEqual([`the server lease ${PROFILE} was lost: run run-b on host ci-b (pid ${DEAD_PID}, started t0) holds it now`]);
    expect(await mine.mark({ phase: 'updating' })).toBe(lost[0]);
    expect(lxd.profiles.get(`local:prod/${PROFILE}`)!.config['user.safeupdate.phase']).toBe('preparing');
    // Release never deletes a lease that is not this run's.
    await mine.release();
    expect(lxd.profiles.has(`local:prod/${PROFILE}`)).toBe(true);
  });

  it('a renewal past its own expiry loses the lease without writing: another host may hold it by now', async () => {
    const { lxd, lease, clock, lost } = setUp();
    const mine = lease();
    await mine.acquire(holder());
    lxd.scriptProfiles = true;
    clock.advance(LENGTH + 1);
    await mine.renew();
    expect(lost[0]).toContain('was lost: it expired at');
    lxd.assertDone();
  });

  /** A lease of this run whose profile another host replaces right after each read (a stalled renewal, clocks apart). */
  async function replacedAfterRead(setup: ReturnType<typeof setUp>) {
    const mine = setup.lease();
    await mine.acquire(holder());
    const read = setup.lxd.getProfile.bind(setup.lxd);
    setup.lxd.getProfile = async (profile) => {
      const seen = await read(profile);
      setup.lxd.profiles.set(`local:prod/${PROFILE}`, { ...otherHostsLease(setup.clock.now()), etag: '"taker"' });
      return seen;
    };
    return mine;
  }
  const CHANGED = `the server lease ${PROFILE} was lost: it changed on the server after it was read (another host took it over, or the profile was edited)`;

  it('a takeover between the renewal\'s read and its write: the write carries the read\'s ETag, is refused, and the lease is lost without overwriting the taker\'s', async () => {
    const setup = setUp();
    const mine = await replacedAfterRead(setup);
    expect(await mine.mark({ phase: 'updating' })).toBe(CHANGED);
    expect(setup.lost).toHaveLength(1);
    expect(setup.stored()).toMatchObject({ 'user.safeupdate.runId': 'run-b', 'user.safeupdate.phase': 'preparing' });
  });

  it('keeping the lease for a human after it changed on the server (ETag): lost, not an error, and the other lease stays as it is', async () => {
    const setup = setUp();
    const mine = await replacedAfterRead(setup);
    await mine.keepForRecovery();
    expect(setup.lost).toEqual([CHANGED]);
    expect(setup.stored()).toMatchObject({ 'user.safeupdate.runId': 'run-b', 'user.safeupdate.expiresAt': expect.any(String) });
    expect(setup.stored()!['user.safeupdate.attention']).toBeUndefined();
  });

  it('a renewal that finds the lease gone loses it', async () => {
    const { lxd, lease, lost } = setUp();
    const mine = lease();
    await mine.acquire(holder());
    lxd.profiles.clear();
    expect(await mine.mark({ phase: 'snapshotting' })).toBe(`the server lease ${PROFILE} was lost: it is gone from the server`);
    expect(lost).toHaveLength(1);
  });

  it('release deletes the lease while it is this run\'s', async () => {
    const { lxd, lease } = setUp();
    const mine = lease();
    await mine.acquire(holder());
    await mine.release();
    expect(lxd.profiles.size).toBe(0);
  });

  it('a run that needs a human keeps its lease, never expiring, and no run takes it however old', async () => {
    const { lxd, lease, clock, stored } = setUp();
    const mine = lease();
    await mine.acquire(holder({ pid: DEAD_PID, pidStartedAt: '1' }));
    await mine.mark({ phase: 'rolling-back', snapshot: 'snap1' });
    await mine.keepForRecovery();
    expect(stored()).toMatchObject({ 'user.safeupdate.expiresAt': '', 'user.safeupdate.attention': expect.stringContaining('safeupdate recover local:web1 --project prod') });
    clock.advance(100 * LENGTH);
    const refusal = await lease().acquire(holder({ runId: 'run-c', hostId: 'host-c-id' })).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(LeaseAwaitingRecovery);
    expect((refusal as Error).message).toContain('ended needing attention with snapshot snap1');
    // `recover` on any host takes it over, keeping what the run recorded.
    const recovering = lease();
    const taken = await recovering.takeOverForRecovery(holder({ runId: 'rec', hostId: 'host-c-id' }), null);
    expect(taken).toMatchObject({ runId: 'run-a', phase: 'rolling-back', snapshot: 'snap1' });
    expect(stored()).toMatchObject({ 'user.safeupdate.runId': 'rec', 'user.safeupdate.phase': 'rolling-back', 'user.safeupdate.snapshot': 'snap1' });
    expect(lxd.profiles.size).toBe(1);
  });

  it('recover\'s takeover leaves no moment without a lease that says "needs recovery": a plain run trying after every call of it is refused', async () => {
    const { lxd, lease, clock, stored } = setUp();
    lxd.profiles.set(`local:prod/${PROFILE}`, otherHostsLease(clock.now() - 10 * LENGTH, 'updating'));
    const intruder = lease();
    const intruded: string[] = [];
    let inside = false;
    for (const method of ['getProfile', 'createProfile', 'setProfileConfig', 'renameProfile', 'deleteProfile'] as const) {
      const call = (lxd[method] as (...args: unknown[]) => Promise<unknown>).bind(lxd);
      (lxd as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
        const result = await call(...args);
        if (inside) return result;
        inside = true;
        // A plain run on another host, between this call and the next.
        await intruder.acquire(holder({ runId: 'run-c', hostId: 'host-c-id' })).then(() => intruded.push(method), () => {});
        inside = false;
        return result;
      };
    }
    const taken = await lease().takeOverForRecovery(holder({ runId: 'rec', hostId: 'host-a-id' }), null);
    expect(intruded).toEqual([]);
    expect(taken).toMatchObject({ runId: 'run-b', phase: 'updating' });
    expect(stored()).toMatchObject({ 'user.safeupdate.runId': 'rec', 'user.safeupdate.phase': 'updating', 'user.safeupdate.snapshot': 'safeupdate-20261126-095900' });
  });

  it('two recovers of one lease: the takeover is one write with the ETag of its read, so the slower one is refused and finds the other\'s lease', async () => {
    const { lxd, lease, clock, stored } = setUp();
    lxd.profiles.set(`local:prod/${PROFILE}`, otherHostsLease(clock.now() - 10 * LENGTH, 'updating'));
    const read = lxd.getProfile.bind(lxd);
    let first = true;
    lxd.getProfile = async (profile) => {
      const seen = await read(profile);
      if (first) {
        first = false;
        // The other recover's takeover lands between this read and this write.
        await lease().takeOverForRecovery(holder({ runId: 'rec-c', hostId: 'host-c-id' }), null);
      }
      return seen;
    };
    await expect(lease().takeOverForRecovery(holder({ runId: 'rec', hostId: 'host-a-id' }), null)).rejects.toBeInstanceOf(LeaseBusy);
    expect(stored()).toMatchObject({ 'user.safeupdate.runId': 'rec-c', 'user.safeupdate.phase': 'updating' });
  });

  it('recover refuses a lease that is still renewed (its run lives on another host)', async () => {
    const { lxd, lease, clock } = setUp();
    lxd.profiles.set(`local:prod/${PROFILE}`, otherHostsLease(clock.now(), 'updating'));
    await expect(lease().takeOverForRecovery(holder(), null)).rejects.toBeInstanceOf(LeaseBusy);
    expect(await lease().takeOverForRecovery(holder(), 'run-b')).toMatchObject({ runId: 'run-b' });
  });

  it('two takers of one stale lease: the rename decides, the loser finds the winner\'s lease and is busy', async () => {
    const { lxd, lease, clock } = setUp();
    lxd.scriptProfiles = true;
    const stale = otherHostsLease(clock.now() - 2 * LENGTH);
    const named = (name: string) => (args: unknown[]) => (args[0] as { name: string }).name === name;
    // The loser: its create fails, it reads the stale lease, and its rename finds the name gone
    // (the winner renamed it first); it reads again and finds the winner's fresh lease.
    const winner = otherHostsLease(clock.now(), 'preparing', { 'user.safeupdate.runId': 'run-w', 'user.safeupdate.hostId': 'host-w-id', 'user.safeupdate.host': 'ci-w' });
    lxd
      .expect('createProfile', () => false)
      .expect('getProfile', () => stale, named(PROFILE))
      .expect('renameProfile', () => false, (args) => named(PROFILE)(args) && String(args[1]).startsWith(`${PROFILE}_takeover-`), 'rename aside (lost)')
      .expect('createProfile', () => false)
      .expect('getProfile', () => winner, named(PROFILE));
    const refusal = await lease().acquire(holder()).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(LeaseBusy);
    expect((refusal as Error).message).toContain('run run-w on host ci-w');
    lxd.assertDone();
  });

  it('a taker whose rename caught a fresh lease (replaced since it looked) puts it back and tries again', async () => {
    const { lxd, lease, clock } = setUp();
    lxd.scriptProfiles = true;
    const stale = otherHostsLease(clock.now() - 2 * LENGTH);
    const fresh = otherHostsLease(clock.now(), 'preparing', { 'user.safeupdate.runId': 'run-w', 'user.safeupdate.hostId': 'host-w-id' });
    let aside = '';
    lxd
      .expect('createProfile', () => false)
      .expect('getProfile', () => stale)
      .expect('renameProfile', (args) => ((aside = String(args[1])), true))
      .expect('getProfile', () => fresh, (args) => (args[0] as { name: string }).name === aside, 'the renamed profile')
      .expect('renameProfile', () => true, (args) => (args[0] as { name: string }).name === aside && args[1] === PROFILE, 'rename back')
      .expect('createProfile', () => false)
      .expect('getProfile', () => fresh);
    await expect(lease().acquire(holder())).rejects.toBeInstanceOf(LeaseBusy);
    lxd.assertDone();
  });

  it('an error from the server while creating is not taken for busy', async () => {
    const { lxd, lease } = setUp();
    lxd.scriptProfiles = true;
    lxd.expect('createProfile', () => Promise.reject(new LxdError('not authorized', 'failed', [])));
    await expect(lease().acquire(holder())).rejects.toThrow('not authorized');
    lxd.assertDone();
  });

  it('the lease length comes from SAFEUPDATE_LEASE_SECONDS, else 60 s', () => {
    expect(leaseLengthMs({})).toBe(60_000);
    expect(leaseLengthMs({ SAFEUPDATE_LEASE_SECONDS: '4' })).toBe(4_000);
    expect(leaseLengthMs({ SAFEUPDATE_LEASE_SECONDS: 'soon' })).toBe(60_000);
  });
});

describe('server lease: what a taker may not take', () => {
  // A second line of tests for the two rules that keep a host off an instance another host may
  // have changed: the phase and the clock margin.
  it.each(['snapshotting', 'updating', 'rolling-back'])('a lease left %s is refused however long ago it expired, and stays as it was', async (phase) => {
    const { lxd, lease, clock } = setUp();
    const left = otherHostsLease(clock.now() - 100 * LENGTH, phase);
    lxd.profiles.set(`local:prod/${PROFILE}`, left);
    await expect(lease().acquire(holder())).rejects.toBeInstanceOf(LeaseAwaitingRecovery);
    expect(lxd.profiles.get(`local:prod/${PROFILE}`)).toEqual(left);
    expect([...lxd.profiles.keys()]).toEqual([`local:prod/${PROFILE}`]);
  });

  it('a dead holder on this very host that had begun the update is refused too: knowing it dead at once does not make its changes undone', async () => {
    const { lxd, lease, clock } = setUp();
    lxd.profiles.set(`local:prod/${PROFILE}`, otherHostsLease(clock.now(), 'updating', { 'user.safeupdate.hostId': 'host-a-id' }));
    await expect(lease().acquire(holder())).rejects.toBeInstanceOf(LeaseAwaitingRecovery);
    expect(lxd.profiles.get(`local:prod/${PROFILE}`)!.config['user.safeupdate.runId']).toBe('run-b');
  });

  it('the clock margin is a quarter of the lease length, and a lease exactly at its end is still busy', async () => {
    const { lxd, clock } = setUp();
    const length = 4_000;
    const shortLease = () => new ServerLease(lxd, ref, clock, length, () => {});
    const left = otherHostsLease(0, 'preparing', { 'user.safeupdate.expiresAt': new Date(clock.now() - length / 4).toISOString() });
    lxd.profiles.set(`local:prod/${PROFILE}`, left);
    await expect(shortLease().acquire(holder())).rejects.toBeInstanceOf(LeaseBusy);
    clock.advance(1);
    expect((await shortLease().acquire(holder())).tookOver).toMatchObject({ runId: 'run-b' });
  });
});
