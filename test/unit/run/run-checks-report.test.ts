import { describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import { FIRST_RETRY_MS } from '../../../src/checks/probe.js';
import { LxdError } from '../../../src/errors.js';
import type { RunEvent } from '../../../src/run/events.js';
import { runChecksOnly, type CheckTarget } from '../../../src/run/run-checks.js';
import { FakeClock } from '../../support/fake-clock.js';
import { execResult, FakeLxd, isSystemdCheck, isSystemdProbe, isUnitCheck, runningContainer, systemdOutput, unitOutput } from '../../support/fake-lxd.js';

// `safeupdate check`: what the report and the views are told, step by step, for each instance.

const ref = (name: string) => ({ remote: null, name, project: null });

async function check(lxd: FakeLxd, targets: CheckTarget[], interrupt = new AbortController().signal, clock = new FakeClock()) {
  const events: RunEvent[] = [];
  const report = await runChecksOnly(targets, { lxd, clock, emit: (event) => events.push(event), runId: 'r', runDir: '/nonexistent', toolVersion: 't', interrupt });
  lxd.assertDone();
  return { report, events };
}

describe('safeupdate check, as the views see it', () => {
  it('a healthy instance: a step per instance with its title, each check result, and the step with its duration', async () => {
    const clock = new FakeClock();
    // Nothing of ours is changing the instance: one look that takes 300 ms is the answer.
    const lxd = new FakeLxd()
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => runningContainer())
      .expect('exec', () => {
        clock.advance(300);
        return systemdOutput('running');
      }, isSystemdCheck);
    const { report, events } = await check(lxd, [{ ref: ref('web1'), checks: [defineCheck('systemd')] }], undefined, clock);
    const item = report.instances[0]!;
    expect(events).toEqual([
      { type: 'step-start', action: 'check', title: 'Check web1' },
      { type: 'check', result: item.checks[0] },
      { type: 'step-end', step: { action: 'check', ok: true, durationMs: 300, message: '1 check(s) passed' } },
    ]);
    expect(item.steps).toEqual([{ action: 'check', ok: true, durationMs: 300, message: '1 check(s) passed' }]);
    expect(item).toMatchObject({ outcome: 'healthy', finalStatus: 'Running', error: null, warnings: [] });
    expect(report.durationMs).toBe(300);
  });

  it('an unhealthy instance: the step fails with what failed', async () => {
    const lxd = new FakeLxd()
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => runningContainer())
      .expect('exec', () => unitOutput('failed', 'failed', 'i', 'exit-code'), isUnitCheck('nginx'));
    const { report, events } = await check(lxd, [{ ref: ref('web1'), checks: [defineCheck('unit:nginx')] }]);
    const message = 'check failed: unit:nginx (failed (failed), result exit-code)';
    expect(report.instances[0]!.error).toEqual({ step: 'check', message });
    expect(events.at(-1)).toEqual({ type: 'step-end', step: { action: 'check', ok: false, durationMs: 0, message } });
  });

  it.each([
    ['Stopped', 'instance web1 is stopped, not running'],
    ['Frozen', 'instance web1 is frozen, not running'],
  ])('a %s instance cannot be checked: exit 3 with its status', async (status, message) => {
    const lxd = new FakeLxd().expect('checkReachable', () => undefined).expect('getInstance', () => runningContainer({ status }));
    const { report, events } = await check(lxd, [{ ref: ref('web1'), checks: null }]);
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(report.instances[0]).toMatchObject({ finalStatus: status, error: { step: 'preflight', message } });
    expect(events.at(-1)).toEqual({ type: 'step-end', step: { action: 'check', ok: false, durationMs: 0, message } });
  });

  it('a missing instance: its status is "missing"', async () => {
    const lxd = new FakeLxd().expect('checkReachable', () => undefined).expect('getInstance', () => null);
    const { report } = await check(lxd, [{ ref: ref('web1'), checks: null }]);
    expect(report.instances[0]).toMatchObject({ outcome: 'not-started', finalStatus: 'missing', error: { step: 'preflight', message: 'instance web1 does not exist' } });
  });

  it('LXD unreachable: exit 3 with LXD\'s words', async () => {
    const lxd = new FakeLxd().expect('checkReachable', () => {
      throw new LxdError('LXD is not reachable: connection refused', 'unreachable', []);
    });
    const { report } = await check(lxd, [{ ref: ref('web1'), checks: null }]);
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(report.instances[0]!.error).toEqual({ step: 'preflight', message: 'LXD is not reachable: connection refused' });
  });

  it('an error nobody foresaw is not turned into "could not check"', async () => {
    const lxd = new FakeLxd().expect('checkReachable', () => undefined).expect('getInstance', () => {
      throw new TypeError('undefined is not a function');
    });
    await expect(runChecksOnly([{ ref: ref('web1'), checks: null }], {
      lxd, clock: new FakeClock(), emit: () => {}, runId: 'r', runDir: '/x', toolVersion: 't', interrupt: new AbortController().signal,
    })).rejects.toThrow(TypeError);
  });

  it('an instance without systemd and without checks: healthy, with nothing checked, and a warning', async () => {
    const lxd = new FakeLxd()
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => runningContainer())
      .expect('exec', () => execResult({ exitCode: 1 }), isSystemdProbe);
    const { report, events } = await check(lxd, [{ ref: ref('web1'), checks: null }]);
    expect(report).toMatchObject({ outcome: 'healthy', exitCode: 0 });
    expect(report.instances[0]!.warnings).toEqual(['no health checks configured and the instance does not run systemd: nothing to check']);
    expect(events.at(-1)).toEqual({ type: 'step-end', step: { action: 'check', ok: true, durationMs: 0, message: '0 check(s) passed' } });
  });

  it('an interrupt during an instance\'s checks: that instance says so at its step', async () => {
    const controller = new AbortController();
    const lxd = new FakeLxd()
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => runningContainer())
      .expect('exec', () => {
        controller.abort('SIGINT');
        return unitOutput('activating', 'start');
      }, isUnitCheck('nginx'));
    const { report, events } = await check(lxd, [{ ref: ref('web1'), checks: [defineCheck('unit:nginx')] }], controller.signal);
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 130, interruptedBy: 'SIGINT' });
    expect(report.instances[0]!.error).toEqual({ step: 'check', message: 'interrupted by SIGINT' });
    expect(events.at(-1)).toEqual({ type: 'step-end', step: { action: 'check', ok: false, durationMs: FIRST_RETRY_MS, message: 'interrupted by SIGINT' } });
  });

  it('an instance not reached before the interrupt is not checked at all, and says so at the check step', async () => {
    const controller = new AbortController();
    controller.abort('SIGHUP');
    const { report, events } = await check(new FakeLxd(), [{ ref: ref('web1'), checks: null }], controller.signal);
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 129 });
    expect(report.instances[0]).toMatchObject({ outcome: 'interrupted', error: { step: 'check', message: 'not checked: interrupted by SIGHUP' }, steps: [] });
    expect(events).toEqual([]);
  });

  it('the report\'s duration covers every instance', async () => {
    const clock = new FakeClock();
    const lxd = new FakeLxd()
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => runningContainer())
      .expect('exec', () => {
        clock.advance(300);
        return execResult();
      })
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => runningContainer({ name: 'web2' }))
      .expect('exec', () => {
        clock.advance(200);
        return execResult();
      });
    const { report } = await check(lxd, [{ ref: ref('web1'), checks: [defineCheck('exec:true')] }, { ref: ref('web2'), checks: [defineCheck('exec:true')] }], undefined, clock);
    expect(report.durationMs).toBe(500);
    expect(report.instances.map((item) => item.steps[0]!.durationMs)).toEqual([300, 200]);
  });
});
