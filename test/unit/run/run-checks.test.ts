import { describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import { runChecksOnly } from '../../../src/run/run-checks.js';
import { FakeClock } from '../../support/fake-clock.js';
import { execResult, FakeLxd, isSystemdCheck, isSystemdProbe, isUnitCheck, runningContainer, systemdOutput, unitOutput } from '../../support/fake-lxd.js';

const ref = (name: string) => ({ remote: null, name, project: null });

async function check(lxd: FakeLxd, targets: Parameters<typeof runChecksOnly>[0], interrupt = new AbortController().signal) {
  const report = await runChecksOnly(targets, { lxd, clock: new FakeClock(), emit: () => {}, runId: 'r', runDir: '/nonexistent', toolVersion: 't', interrupt });
  lxd.assertDone();
  return report;
}

describe('safeupdate check', () => {
  it('exit 0 when every required check passes, phase "check", nothing changed', async () => {
    const lxd = new FakeLxd()
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => runningContainer())
      .expect('exec', () => execResult(), isSystemdProbe)
      .expect('exec', () => systemdOutput('running'), isSystemdCheck);
    const report = await check(lxd, [{ ref: ref('web1'), checks: null }]);
    expect(report).toMatchObject({ outcome: 'healthy', exitCode: 0 });
    expect(report.instances[0]!.checks).toMatchObject([{ name: 'systemd', phase: 'check', ok: true }]);
  });

  it('exit 1 when a required check fails, also beside an instance that cannot be checked (the one exit rule)', async () => {
    const lxd = new FakeLxd()
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => runningContainer())
      .expect('exec', () => unitOutput('failed', 'failed', 'i', 'exit-code'), isUnitCheck('nginx'));
    const report = await check(lxd, [{ ref: ref('web1'), checks: [defineCheck('unit:nginx')] }]);
    expect(report).toMatchObject({ outcome: 'unhealthy', exitCode: 1 });
    expect(report.instances[0]!.error?.message).toBe('check failed: unit:nginx (failed (failed), result exit-code)');

    const two = new FakeLxd()
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => runningContainer())
      .expect('exec', () => unitOutput('failed', 'failed', 'i', 'exit-code'), isUnitCheck('nginx'))
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => null);
    const both = await check(two, [{ ref: ref('web1'), checks: [defineCheck('unit:nginx')] }, { ref: ref('web2'), checks: [defineCheck('unit:nginx')] }]);
    expect(both).toMatchObject({ outcome: 'unhealthy', exitCode: 1 });
    expect(both.instances.map((i) => i.outcome)).toEqual(['unhealthy', 'not-started']);
    expect(both.instances[1]!.error).toEqual({ step: 'preflight', message: 'instance web2 does not exist' });
  });

  it('exit 3 for a stopped instance', async () => {
    const lxd = new FakeLxd().expect('checkReachable', () => undefined).expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    const report = await check(lxd, [{ ref: ref('web1'), checks: null }]);
    expect(report.exitCode).toBe(3);
    expect(report.instances[0]!.finalStatus).toBe('Stopped');
  });

  it('SIGTERM during a check ends it at once and skips the rest: exit 143, not 1', async () => {
    const controller = new AbortController();
    const lxd = new FakeLxd()
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => runningContainer())
      .expect('exec', () => {
        controller.abort('SIGTERM');
        return unitOutput('activating', 'start');
      }, isUnitCheck('nginx'));
    const report = await check(lxd, [{ ref: ref('web1'), checks: [defineCheck('unit:nginx')] }, { ref: ref('web2'), checks: null }], controller.signal);
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143, interruptedBy: 'SIGTERM' });
    expect(report.instances.map((item) => item.outcome)).toEqual(['interrupted', 'interrupted']);
    expect(report.instances[1]!.error?.message).toBe('not checked: interrupted by SIGTERM');
    // The unit check made one attempt, not one every 2 s up to its 60 s deadline.
    expect(report.instances[0]!.checks[0]).toMatchObject({ ok: false, attempts: 1 });
  });
});
