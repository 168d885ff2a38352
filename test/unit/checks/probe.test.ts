import { describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import { probe } from '../../../src/checks/probe.js';
import type { CheckContext, Phase } from '../../../src/checks/check.js';
import { FakeClock } from '../../support/fake-clock.js';
import { execResult, FakeLxd, isSystemdCheck, isUnitCheck, systemdOutput, unitOutput } from '../../support/fake-lxd.js';

function context(lxd: FakeLxd, phase: Phase = 'after-update', baselineFailedUnits: string[] = []): CheckContext {
  return { lxd, ref: { remote: null, name: 'web1', project: null }, phase, baselineFailedUnits };
}

describe('the probe loop', () => {
  it('waits for an activating unit and confirms it stays up', async () => {
    const lxd = new FakeLxd()
      .expect('exec', () => unitOutput('activating', 'start'), isUnitCheck('nginx'))
      .expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'))
      .expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('nginx'));
    const clock = new FakeClock();
    const result = await probe(defineCheck('unit:nginx'), context(lxd), clock);
    lxd.assertDone();
    expect(result).toMatchObject({ ok: true, attempts: 3, message: 'active (running)', phase: 'after-update' });
    // Still starting: looked at again a quarter of a second later, not a whole interval.
    expect(clock.sleeps).toEqual([250, 1_000]);
  });

  it('does not count a service that restarted between two looks', async () => {
    const lxd = new FakeLxd()
      .expect('exec', () => unitOutput('active', 'running', 'a'), isUnitCheck('web'))
      .expect('exec', () => unitOutput('active', 'running', 'b'), isUnitCheck('web'))
      .expect('exec', () => unitOutput('failed', 'failed', 'b', 'exit-code'), isUnitCheck('web'));
    const result = await probe(defineCheck('unit:web'), context(lxd), new FakeClock());
    lxd.assertDone();
    expect(result).toMatchObject({ ok: false, attempts: 3, message: 'failed (failed), result exit-code' });
  });

  it('says "broken" at once for a failed unit, without waiting for the deadline', async () => {
    const lxd = new FakeLxd().expect('exec', () => unitOutput('failed', 'failed', 'x', 'exit-code'), isUnitCheck('web'));
    const clock = new FakeClock();
    const result = await probe(defineCheck('unit:web'), context(lxd), clock);
    lxd.assertDone();
    expect(result.ok).toBe(false);
    expect(clock.sleeps).toEqual([]);
  });

  it('gives up at the deadline with the last thing it saw', async () => {
    const lxd = new FakeLxd();
    // Attempts at 0, 0.25, 0.75, 1.75, 3.75, 5.75 and 7.75 s; the next would start after the deadline.
    for (let i = 0; i < 7; i += 1) lxd.expect('exec', () => execResult({ exitCode: 7, stderr: 'curl: (7) refused' }));
    const check = defineCheck('exec:curl -f localhost', { timing: { deadlineMs: 9_000, intervalMs: 2_000 } });
    const result = await probe(check, context(lxd), new FakeClock());
    lxd.assertDone();
    expect(result).toMatchObject({ ok: false, attempts: 7, message: 'exit 7: curl: (7) refused (gave up after 7 attempts)' });
  });

  it('settles before the first attempt after an update only', async () => {
    const check = defineCheck('exec:true', { timing: { settleMs: 10_000 } });
    const clock = new FakeClock();
    const lxd = new FakeLxd().expect('exec', () => execResult()).expect('exec', () => execResult());
    await probe(check, context(lxd, 'after-update'), clock);
    await probe(check, context(lxd, 'baseline'), clock);
    lxd.assertDone();
    expect(clock.sleeps).toEqual([10_000]);
  });

  it('stops attempting when the run is interrupted', async () => {
    const controller = new AbortController();
    const lxd = new FakeLxd().expect('exec', () => {
      controller.abort('SIGINT');
      return execResult({ exitCode: 1 });
    });
    const result = await probe(defineCheck('exec:false'), { ...context(lxd), signal: controller.signal }, new FakeClock());
    lxd.assertDone();
    expect(result).toMatchObject({ ok: false, attempts: 1 });
    expect(result.message).toMatch(/^interrupted/);
  });

  it('counts an exception from LXD as a failed attempt, not a crash', async () => {
    const lxd = new FakeLxd()
      .expect('exec', () => { throw new Error('LXD is not reachable'); })
      .expect('exec', () => execResult());
    const result = await probe(defineCheck('exec:true'), context(lxd), new FakeClock());
    lxd.assertDone();
    expect(result).toMatchObject({ ok: true, attempts: 2 });
  });
});

describe('the systemd check', () => {
  it('waits while the system is starting or jobs are queued', async () => {
    const lxd = new FakeLxd()
      .expect('exec', () => systemdOutput('starting'), isSystemdCheck)
      .expect('exec', () => systemdOutput('running', [], 2), isSystemdCheck)
      .expect('exec', () => systemdOutput('running'), isSystemdCheck)
      .expect('exec', () => systemdOutput('running'), isSystemdCheck);
    const result = await probe(defineCheck('systemd'), context(lxd), new FakeClock());
    lxd.assertDone();
    expect(result).toMatchObject({ ok: true, attempts: 4 });
  });

  it('names the units that failed since baseline, and only those', async () => {
    const lxd = new FakeLxd().expect('exec', () => systemdOutput('degraded', ['old.service', 'php-fpm.service']), isSystemdCheck);
    const result = await probe(defineCheck('systemd'), context(lxd, 'after-update', ['old.service']), new FakeClock());
    lxd.assertDone();
    expect(result).toMatchObject({ ok: false, message: 'failed units: php-fpm.service', failedUnits: ['old.service', 'php-fpm.service'] });
  });

  it('accepts a degraded system at baseline at the first look and records its failed units', async () => {
    const lxd = new FakeLxd().expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck);
    const clock = new FakeClock();
    const result = await probe(defineCheck('systemd'), context(lxd, 'baseline'), clock);
    lxd.assertDone();
    expect(clock.sleeps).toEqual([]);
    expect(result).toMatchObject({ ok: true, attempts: 1, failedUnits: ['old.service'] });
  });

  it('fails where there is no systemd', async () => {
    const lxd = new FakeLxd().expect('exec', () => execResult({ stdout: 'no-systemd\n' }), isSystemdCheck);
    const result = await probe(defineCheck('systemd'), context(lxd), new FakeClock());
    lxd.assertDone();
    expect(result).toMatchObject({ ok: false, message: 'systemd is not installed in the instance' });
  });
});
