import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CheckContext, CheckDefinition, Phase } from '../../../src/checks/check.js';
import { CONFIRM_MS, FIRST_RETRY_MS, probe, systemClock } from '../../../src/checks/probe.js';
import { defineCheck } from '../../../src/checks/spec.js';
import type { ExecOptions } from '../../../src/lxd/lxd.js';
import { FakeClock } from '../../support/fake-clock.js';
import { execResult, FakeLxd, isSystemdCheck, isUnitCheck, systemdOutput, unitOutput } from '../../support/fake-lxd.js';

// The one probe loop: timeouts per attempt, the deadline, settle, confirmation of a pass, and
// interrupts, with exact attempts, waits and messages.

const ref = { remote: null, name: 'web1', project: null };

function context(lxd: FakeLxd, phase: Phase = 'after-update', signal?: AbortSignal): CheckContext {
  return { lxd, ref, phase, baselineFailedUnits: [], ...(signal ? { signal } : {}) };
}

function check(text: string, timing: Partial<CheckDefinition['timing']> = {}, required = true): CheckDefinition {
  return defineCheck(text, { timing, required });
}

/** The timeouts the probe gave each exec attempt. */
const timeouts = (lxd: FakeLxd) => lxd.calls.filter((c) => c.method === 'exec').map((c) => (c.args[2] as ExecOptions).timeoutMs);

/** A FakeClock that also records the signal each sleep was given. */
class SignalClock extends FakeClock {
  readonly signals: Array<AbortSignal | undefined> = [];
  override async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.signals.push(signal);
    return super.sleep(ms);
  }
}

describe('each attempt is bounded by its timeout and by what is left of the deadline', () => {
  it('gets the check timeout while the deadline is far, then what remains of it', async () => {
    const lxd = new FakeLxd();
    for (let i = 0; i < 10; i += 1) lxd.expect('exec', () => execResult({ exitCode: 1 }));
    const clock = new FakeClock();
    const result = await probe(check('exec:false', { timeoutMs: 10_000, intervalMs: 2_000, deadlineMs: 15_000 }), context(lxd), clock);
    lxd.assertDone();
    // Attempts at 0, 250, 750, 1750, 3750, … 13750 ms: the pauses double from FIRST_RETRY_MS up to the interval.
    expect(timeouts(lxd)).toEqual([10_000, 10_000, 10_000, 10_000, 10_000, 9_250, 7_250, 5_250, 3_250, 1_250]);
    expect(result).toMatchObject({ ok: false, attempts: 10, durationMs: 13_750, message: 'exit 1 (gave up after 10 attempts)' });
    expect(clock.sleeps).toEqual([FIRST_RETRY_MS, 500, 1_000, 2_000, 2_000, 2_000, 2_000, 2_000, 2_000]);
  });

  it('never gets less than 1 ms, even with the deadline reached', async () => {
    const clock = new FakeClock();
    const lxd = new FakeLxd();
    // Each attempt takes half the deadline; with no interval, the third starts right at it.
    for (let i = 0; i < 3; i += 1) {
      lxd.expect('exec', () => {
        clock.advance(500);
        return execResult({ exitCode: 1 });
      });
    }
    const result = await probe(check('exec:false', { timeoutMs: 10_000, intervalMs: 0, deadlineMs: 1_000 }), context(lxd), clock);
    lxd.assertDone();
    expect(timeouts(lxd)).toEqual([1_000, 500, 1]);
    expect(result).toMatchObject({ ok: false, attempts: 3, durationMs: 1_500 });
  });

  it('a check that passes at once waits for nothing, and says so in one attempt', async () => {
    const lxd = new FakeLxd().expect('exec', () => execResult());
    const clock = new FakeClock();
    const result = await probe(check('exec:true'), context(lxd), clock);
    lxd.assertDone();
    expect(result).toEqual({ name: 'exec:true', phase: 'after-update', ok: true, required: true, attempts: 1, durationMs: 0, message: 'exit 0' });
    expect(clock.sleeps).toEqual([]);
  });

  it('gives up with "1 attempt" when the deadline leaves no room for a second', async () => {
    const lxd = new FakeLxd().expect('exec', () => execResult({ exitCode: 3, stdout: 'not yet\n' }));
    const result = await probe(check('exec:x', { deadlineMs: FIRST_RETRY_MS - 1, intervalMs: 2_000 }, false), context(lxd), new FakeClock());
    lxd.assertDone();
    expect(result).toMatchObject({ ok: false, required: false, attempts: 1, message: 'exit 3: not yet (gave up after 1 attempt)' });
  });

  it('tries once more when the next attempt would start exactly at the deadline', async () => {
    const lxd = new FakeLxd().expect('exec', () => execResult({ exitCode: 1 })).expect('exec', () => execResult({ exitCode: 1 }));
    const result = await probe(check('exec:x', { deadlineMs: FIRST_RETRY_MS, intervalMs: 2_000 }), context(lxd), new FakeClock());
    lxd.assertDone();
    expect(result).toMatchObject({ attempts: 2, message: 'exit 1 (gave up after 2 attempts)' });
  });
});

describe('settle', () => {
  it('waits before the first attempt after an update, interruptibly, and the deadline starts after it', async () => {
    const controller = new AbortController();
    const lxd = new FakeLxd();
    for (let i = 0; i < 3; i += 1) lxd.expect('exec', () => execResult({ exitCode: 1 }));
    const clock = new SignalClock();
    const result = await probe(check('exec:x', { settleMs: 10_000, deadlineMs: 750, intervalMs: 2_000 }), context(lxd, 'after-update', controller.signal), clock);
    lxd.assertDone();
    expect(clock.sleeps).toEqual([10_000, FIRST_RETRY_MS, 500]);
    expect(clock.signals).toEqual([controller.signal, controller.signal, controller.signal]);
    // The duration includes the settle.
    expect(result).toMatchObject({ attempts: 3, durationMs: 10_750 });
  });

  it.each<Phase>(['baseline', 'after-rollback', 'check'])('does not wait in phase %s', async (phase) => {
    const lxd = new FakeLxd().expect('exec', () => execResult());
    const clock = new FakeClock();
    await probe(check('exec:true', { settleMs: 10_000 }), context(lxd, phase), clock);
    expect(clock.sleeps).toEqual([]);
  });

  it('with none configured, does not sleep at all after an update', async () => {
    const lxd = new FakeLxd().expect('exec', () => execResult());
    const clock = new FakeClock();
    await probe(check('exec:true'), context(lxd, 'after-update'), clock);
    expect(clock.sleeps).toEqual([]);
  });
});

describe('a pass that must be confirmed', () => {
  it.each<Phase>(['baseline', 'check'])('is final at the first look in phase %s, where nothing of ours is changing', async (phase) => {
    const lxd = new FakeLxd().expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'));
    const clock = new FakeClock();
    const result = await probe(check('unit:nginx'), context(lxd, phase), clock);
    lxd.assertDone();
    expect(clock.sleeps).toEqual([]);
    expect(result).toMatchObject({ ok: true, attempts: 1, message: 'active (running)' });
  });

  it('is looked at again after a rollback, as after an update', async () => {
    const lxd = new FakeLxd()
      .expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'))
      .expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'));
    const clock = new FakeClock();
    const result = await probe(check('unit:nginx'), context(lxd, 'after-rollback'), clock);
    lxd.assertDone();
    expect(clock.sleeps).toEqual([CONFIRM_MS]);
    expect(result).toMatchObject({ ok: true, attempts: 2 });
  });

  it('is confirmed by a second look exactly a second later with the same invocation', async () => {
    const lxd = new FakeLxd()
      .expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'))
      .expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'));
    const clock = new FakeClock();
    const result = await probe(check('unit:nginx'), context(lxd), clock);
    lxd.assertDone();
    expect(clock.sleeps).toEqual([CONFIRM_MS]);
    expect(result).toMatchObject({ ok: true, attempts: 2, durationMs: 1_000, message: 'active (running)' });
  });

  it('with a short interval, looks every interval until a second has passed since the first pass', async () => {
    const lxd = new FakeLxd();
    for (let i = 0; i < 3; i += 1) lxd.expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'));
    const clock = new FakeClock();
    const result = await probe(check('unit:nginx', { intervalMs: 500 }), context(lxd), clock);
    lxd.assertDone();
    expect(clock.sleeps).toEqual([500, 500]);
    expect(result).toMatchObject({ ok: true, attempts: 3 });
  });

  it('starts over when a look in between did not pass', async () => {
    const lxd = new FakeLxd()
      .expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'))
      .expect('exec', () => unitOutput('activating', 'start', 'a'), isUnitCheck('nginx'))
      .expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'))
      .expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'));
    const clock = new FakeClock();
    const result = await probe(check('unit:nginx'), context(lxd), clock);
    lxd.assertDone();
    expect(clock.sleeps).toEqual([1_000, FIRST_RETRY_MS, 1_000]);
    expect(result).toMatchObject({ ok: true, attempts: 4 });
  });

  it('starts over from the new invocation when the service restarted, and measures the second from it', async () => {
    const lxd = new FakeLxd()
      .expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'))
      .expect('exec', () => unitOutput('active', 'running', 'b'), isUnitCheck('nginx'))
      .expect('exec', () => unitOutput('active', 'running', 'b'), isUnitCheck('nginx'))
      .expect('exec', () => unitOutput('active', 'running', 'b'), isUnitCheck('nginx'));
    const clock = new FakeClock();
    const result = await probe(check('unit:nginx', { intervalMs: 600 }), context(lxd), clock);
    lxd.assertDone();
    // The first pass of b is at 600 ms: not confirmed at 1200 ms, less than a second after it, but at 1800 ms.
    expect(clock.sleeps).toEqual([600, 600, 600]);
    expect(result).toMatchObject({ ok: true, attempts: 4, durationMs: 1_800 });
  });

  it('a pass that cannot be confirmed before the deadline is a failure that says so', async () => {
    const lxd = new FakeLxd().expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'));
    const result = await probe(check('unit:nginx', { deadlineMs: 999 }), context(lxd), new FakeClock());
    lxd.assertDone();
    expect(result).toMatchObject({ ok: false, attempts: 1, message: 'active (running), but not steady (gave up after 1 attempt)' });
  });

  it('systemd\'s pass keeps the failed units it saw, for the next phase', async () => {
    const lxd = new FakeLxd()
      .expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck)
      .expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck);
    const result = await probe(check('systemd'), { ...context(lxd, 'after-update'), baselineFailedUnits: ['old.service'] }, new FakeClock());
    expect(result).toMatchObject({ ok: true, failedUnits: ['old.service'], message: 'degraded, no new failed units (already failed before: old.service)' });
  });

  it('a check without failed units reports none', async () => {
    const lxd = new FakeLxd().expect('exec', () => execResult());
    const result = await probe(check('exec:true'), context(lxd), new FakeClock());
    expect(result).not.toHaveProperty('failedUnits');
  });
});

describe('interrupts', () => {
  it('an interrupt before the first attempt: no attempt, and it says nothing was attempted', async () => {
    const controller = new AbortController();
    controller.abort('SIGINT');
    const lxd = new FakeLxd();
    const result = await probe(check('exec:true'), context(lxd, 'after-update', controller.signal), new FakeClock());
    lxd.assertDone();
    expect(result).toMatchObject({ ok: false, attempts: 0, message: 'interrupted (not attempted)' });
  });

  it('an interrupt during the wait ends the check with what it last saw, and the wait gets the signal', async () => {
    const controller = new AbortController();
    const lxd = new FakeLxd().expect('exec', () => execResult({ exitCode: 7, stderr: 'refused' }));
    const clock = new SignalClock();
    clock.sleep = async (ms, signal) => {
      clock.signals.push(signal);
      clock.advance(ms);
      controller.abort('SIGTERM');
    };
    const result = await probe(check('exec:curl'), context(lxd, 'after-update', controller.signal), clock);
    lxd.assertDone();
    expect(clock.signals).toEqual([controller.signal]);
    expect(result).toMatchObject({ ok: false, attempts: 1, message: 'interrupted (exit 7: refused)' });
  });

  it('the attempt itself gets the signal, so that an interrupt ends it', async () => {
    const controller = new AbortController();
    const lxd = new FakeLxd().expect('exec', () => execResult());
    await probe(check('exec:true'), context(lxd, 'after-update', controller.signal), new FakeClock());
    expect((lxd.calls[0]!.args[2] as ExecOptions).signal).toBe(controller.signal);
  });
});

describe('attempts that throw', () => {
  it('anything thrown is a retry with its message, a non-Error as text', async () => {
    const lxd = new FakeLxd()
      .expect('exec', () => {
        throw 'a string, not an Error';
      })
      .expect('exec', () => {
        throw new Error('LXD did not answer within 30s');
      });
    const result = await probe(check('exec:true', { deadlineMs: FIRST_RETRY_MS, intervalMs: 2_000 }), context(lxd), new FakeClock());
    lxd.assertDone();
    expect(result).toMatchObject({ ok: false, attempts: 2, message: 'LXD did not answer within 30s (gave up after 2 attempts)' });
  });

  it('a thrown non-Error is kept as its text', async () => {
    const lxd = new FakeLxd().expect('exec', () => {
      throw 'boom';
    });
    const result = await probe(check('exec:true', { deadlineMs: 1 }), context(lxd), new FakeClock());
    expect(result.message).toBe('boom (gave up after 1 attempt)');
  });
});

describe('every kind has its attempt', () => {
  it('tcp and http look up {ip} on each attempt and say when there is none', async () => {
    const lxd = new FakeLxd().expect('getIPv4Addresses', () => []).expect('getIPv4Addresses', () => []);
    const tcp = await probe(check('tcp:{ip}:53', { deadlineMs: 1 }), context(lxd), new FakeClock());
    const http = await probe(check('http://{ip}:8080/health', { deadlineMs: 1 }), context(lxd), new FakeClock());
    lxd.assertDone();
    expect(tcp).toMatchObject({ ok: false, attempts: 1, message: 'web1 has no IPv4 address for {ip} (yet) (gave up after 1 attempt)' });
    expect(http).toMatchObject({ ok: false, attempts: 1, message: 'web1 has no IPv4 address for {ip} (yet) (gave up after 1 attempt)' });
  });

  it('exec runs the command with sh -c, unit asks systemctl show, systemd runs its script', async () => {
    const lxd = new FakeLxd()
      .expect('exec', () => execResult(), (args) => JSON.stringify(args[1]) === JSON.stringify(['sh', '-c', 'test -f /ok']))
      .expect('exec', () => unitOutput('failed', 'failed'), isUnitCheck('nginx'))
      .expect('exec', () => execResult({ stdout: 'no-systemd\n' }), isSystemdCheck);
    expect((await probe(check('exec:test -f /ok'), context(lxd), new FakeClock())).ok).toBe(true);
    expect((await probe(check('unit:nginx'), context(lxd), new FakeClock())).message).toBe('failed (failed), result success');
    expect((await probe(check('systemd'), context(lxd), new FakeClock())).message).toBe('systemd is not installed in the instance');
    lxd.assertDone();
  });
});

describe('the deadline is kept on a clock that does not jump', () => {
  it.each([
    ['forward', 3_600_000],
    ['back', -3_600_000],
  ])('a step of the wall clock %s during an attempt changes neither the attempts nor the waits', async (_, step) => {
    const timing = { timeoutMs: 10_000, intervalMs: 2_000, deadlineMs: 15_000 };
    const steady = new FakeLxd();
    for (let i = 0; i < 10; i += 1) steady.expect('exec', () => execResult({ exitCode: 1 }));
    const expected = await probe(check('exec:false', timing), context(steady), new FakeClock());

    const lxd = new FakeLxd();
    const clock = new FakeClock();
    for (let i = 0; i < 10; i += 1) {
      lxd.expect('exec', () => {
        if (i === 0) clock.stepWall(step);
        return execResult({ exitCode: 1 });
      });
    }
    const result = await probe(check('exec:false', timing), context(lxd), clock);
    expect(result.attempts).toBe(expected.attempts);
    expect(result.attempts).toBeGreaterThan(1);
    expect(result.durationMs).toBe(expected.durationMs);
    expect(timeouts(lxd)).toEqual(timeouts(steady));
  });
});

describe('the system clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('tells the time as Date does', () => {
    vi.useFakeTimers({ now: Date.parse('2026-11-26T10:00:00Z') });
    expect(systemClock.now()).toBe(Date.parse('2026-11-26T10:00:00Z'));
  });

  it('measures durations on a clock that a step of the wall clock does not move', () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-11-26T10:00:00Z') });
    const before = systemClock.monotonic();
    vi.setSystemTime(Date.parse('2026-11-26T11:00:00Z'));
    expect(systemClock.now()).toBe(Date.parse('2026-11-26T11:00:00Z'));
    expect(systemClock.monotonic() - before).toBeLessThan(1_000);
  });

  it('sleeps for the time asked, and leaves no listener on the signal', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    let woke = false;
    const sleeping = systemClock.sleep(60, controller.signal).then(() => {
      woke = true;
    });
    await vi.advanceTimersByTimeAsync(59);
    expect(woke).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await sleeping;
    expect(woke).toBe(true);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('wakes at once when the signal aborts, and leaves no timer behind that would hold the process', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const sleeping = systemClock.sleep(60_000, controller.signal);
    expect(vi.getTimerCount()).toBe(1);
    controller.abort('SIGINT');
    await sleeping;
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not sleep at all on a signal already aborted', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    controller.abort('SIGINT');
    await systemClock.sleep(60_000, controller.signal);
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('sleeps without a signal too', async () => {
    vi.useFakeTimers();
    let woke = false;
    const sleeping = systemClock.sleep(30).then(() => {
      woke = true;
    });
    await vi.advanceTimersByTimeAsync(29);
    expect(woke).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await sleeping;
    expect(woke).toBe(true);
  });
});
