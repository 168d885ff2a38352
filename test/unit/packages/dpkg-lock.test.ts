import { describe, expect, it } from 'vitest';
import { parseLockProbe, waitForDpkgLock, type LockProbe } from '../../../src/packages/dpkg-lock.js';
import { FakeClock } from '../../support/fake-clock.js';

const HELD: LockProbe = { state: 'held', holders: [{ lock: '/var/lib/dpkg/lock-frontend', pid: 139, command: 'apt-get upgrade' }] };

describe("dpkg's lock", () => {
  it('reads who holds which lock, or that it is free, or that there is no dpkg, or why it cannot tell', () => {
    expect(parseLockProbe('held /var/lib/dpkg/lock-frontend 139 apt-get upgrade\nheld /var/lib/dpkg/lock 140 /usr/bin/dpkg --configure -a\n')).toEqual({
      state: 'held',
      holders: [
        { lock: '/var/lib/dpkg/lock-frontend', pid: 139, command: 'apt-get upgrade' },
        { lock: '/var/lib/dpkg/lock', pid: 140, command: '/usr/bin/dpkg --configure -a' },
      ],
    });
    expect(parseLockProbe('held /var/lib/dpkg/lock -1 \n')).toEqual({ state: 'held', holders: [{ lock: '/var/lib/dpkg/lock', pid: -1, command: '' }] });
    expect(parseLockProbe('free\n')).toEqual({ state: 'free' });
    expect(parseLockProbe('no-dpkg\n')).toEqual({ state: 'no-dpkg' });
    expect(parseLockProbe('unknown /proc/locks cannot be read\n')).toEqual({ state: 'unknown', reason: '/proc/locks cannot be read' });
    expect(parseLockProbe('')).toEqual({ state: 'unknown', reason: 'unexpected answer: (nothing)' });
  });

  it('free at the first look: no wait at all', async () => {
    const clock = new FakeClock();
    expect(await waitForDpkgLock(async () => ({ state: 'free' }), clock, 60_000)).toEqual({ state: 'free', waitedMs: 0, holders: [] });
    expect(clock.sleeps).toEqual([]);
  });

  it('held, then free: the wait is how long it was held, and the holder is kept for the report', async () => {
    const clock = new FakeClock();
    const looks: LockProbe[] = [HELD, HELD, HELD, { state: 'free' }];
    const heard: number[] = [];
    const wait = await waitForDpkgLock(async () => looks.shift()!, clock, 60_000, { onHeld: (_, waited) => heard.push(waited) });
    expect(wait).toEqual({ state: 'free', waitedMs: 3_000, holders: HELD.holders });
    expect(heard).toEqual([0, 1_000, 2_000]);
  });

  it('still held at the bound: held, after exactly the bound (the last sleep is cut to it)', async () => {
    const clock = new FakeClock();
    const wait = await waitForDpkgLock(async () => HELD, clock, 2_500);
    expect(wait).toEqual({ state: 'held', waitedMs: 2_500, holders: HELD.holders });
    expect(clock.sleeps).toEqual([1_000, 1_000, 500]);
  });

  it('a look that cannot tell ends the wait as unknown, with the reason', async () => {
    const looks: LockProbe[] = [HELD, { state: 'unknown', reason: 'the look exited 1' }];
    expect(await waitForDpkgLock(async () => looks.shift()!, new FakeClock(), 60_000)).toEqual({ state: 'unknown', waitedMs: 1_000, holders: HELD.holders, reason: 'the look exited 1' });
  });

  it('an interrupt ends the wait', async () => {
    const controller = new AbortController();
    const wait = await waitForDpkgLock(async () => HELD, new FakeClock(), 60_000, { signal: controller.signal, onHeld: () => controller.abort('SIGINT') });
    expect(wait.state).toBe('interrupted');
  });
});
