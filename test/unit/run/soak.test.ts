import { describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import type { ExecResult } from '../../../src/lxd/lxd.js';
import { soak, type SoakContext } from '../../../src/run/soak.js';
import { FakeClock } from '../../support/fake-clock.js';
import { execResult, FakeLxd, isSystemdCheck, isUnitCheck, systemdOutput, unitOutput } from '../../support/fake-lxd.js';

// The soak: every check sampled at its interval, systemd's restart counters read each round, and
// the first definite problem ends it. Time is a FakeClock: a 6 s soak with 2 s intervals is four
// rounds, at 0, 2, 4 and 6 s.

const ref = { remote: null, name: 'web1', project: null };
const isRestartRead = (args: unknown[]) => (args[1] as string[])[0] === 'sh' && String((args[1] as string[])[2]).includes('--property=Id,NRestarts');
const counters = (counts: Record<string, number>): ExecResult =>
  execResult({ stdout: Object.entries(counts).map(([id, n]) => `Id=${id}\nNRestarts=${n}\n`).join('\n') });

function setUp(signal: AbortSignal = new AbortController().signal) {
  const lxd = new FakeLxd();
  const clock = new FakeClock();
  const progress: string[] = [];
  const context: SoakContext = { lxd, ref, clock, baselineFailedUnits: [], signal, progress: (message) => progress.push(message) };
  return { lxd, clock, progress, context };
}

describe('a soak that stays healthy', () => {
  it('samples each check and the restart counters every interval until the end, and says how it went', async () => {
    const { lxd, clock, context } = setUp();
    lxd.expect('exec', () => counters({ 'nginx.service': 3 }), isRestartRead);
    for (let round = 0; round < 4; round += 1) {
      lxd.expect('exec', () => unitOutput('active', 'running', 'inv-1'), isUnitCheck('nginx'));
      lxd.expect('exec', () => counters({ 'nginx.service': 3 }), isRestartRead);
    }
    const outcome = await soak([defineCheck('unit:nginx')], 6_000, context);
    lxd.assertDone();
    expect(outcome).toMatchObject({ failure: null, samples: 8, elapsedMs: 6_000 });
    expect(clock.sleeps).toEqual([2_000, 2_000, 2_000]);
    expect(outcome.results).toEqual([
      { name: 'unit:nginx', phase: 'soak', ok: true, required: true, attempts: 4, durationMs: 6_000, message: 'passed 4 sample(s) over 6s' },
      { name: 'restarts', phase: 'soak', ok: true, required: true, attempts: 4, durationMs: 6_000, message: 'no restart of nginx over 6s' },
    ]);
    // The restart read names exactly the watched unit.
    expect((lxd.calls[0]!.args[1] as string[])[2]).toBe("systemctl show --property=Id,NRestarts -- 'nginx'");
  });

  it('tells its views the time left every 5 s, and looks at least every 2 s whatever the intervals', async () => {
    const { lxd, clock, progress, context } = setUp();
    for (let look = 0; look < 2; look += 1) lxd.expect('exec', () => execResult(), (args) => (args[1] as string[]).join(' ') === 'sh -c true');
    const outcome = await soak([defineCheck('exec:true', { timing: { intervalMs: 60_000 } })], 10_000, context);
    lxd.assertDone();
    // The exec check's interval is a minute: it is looked at first, and once more as the soak ends,
    // so that nothing in the last stretch goes unseen; the loop still wakes every 2 s.
    expect(outcome).toMatchObject({ failure: null, samples: 2 });
    expect(clock.sleeps).toEqual([2_000, 2_000, 2_000, 2_000, 2_000]);
    expect(progress).toEqual(['soak: 4s left, 1 samples, healthy so far']);
    // No check says the instance runs systemd: no restart watch.
    expect(outcome.results.map((result) => result.name)).toEqual(['exec:true']);
  });
});

describe('the soak measures time on a clock that does not jump', () => {
  it.each([
    ['forward', 3_600_000],
    ['back', -3_600_000],
  ])('a step of the wall clock %s (NTP, a resumed VM) neither ends the soak early nor stretches it', async (_, step) => {
    const { lxd, clock, context } = setUp();
    lxd.expect('exec', () => counters({ 'nginx.service': 3 }), isRestartRead);
    for (let round = 0; round < 4; round += 1) {
      lxd.expect('exec', () => {
        if (round === 0) clock.stepWall(step);
        return unitOutput('active', 'running', 'inv-1');
      }, isUnitCheck('nginx'));
      lxd.expect('exec', () => counters({ 'nginx.service': 3 }), isRestartRead);
    }
    const outcome = await soak([defineCheck('unit:nginx')], 6_000, context);
    lxd.assertDone();
    expect(outcome).toMatchObject({ failure: null, samples: 8, elapsedMs: 6_000 });
    expect(clock.sleeps).toEqual([2_000, 2_000, 2_000]);
  });
});

describe('a soak that fails', () => {
  it('a unit that dies after a while: failed at once, with when', async () => {
    const { lxd, context } = setUp();
    lxd.expect('exec', () => counters({ 'demo.service': 0 }), isRestartRead);
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-1'), isUnitCheck('demo'));
    lxd.expect('exec', () => counters({ 'demo.service': 0 }), isRestartRead);
    lxd.expect('exec', () => unitOutput('failed', 'failed', 'inv-1', 'exit-code'), isUnitCheck('demo'));
    const outcome = await soak([defineCheck('unit:demo')], 30_000, context);
    lxd.assertDone();
    expect(outcome.failure).toBe('unit:demo: failed (failed), result exit-code at 2s');
    expect(outcome.results[0]).toMatchObject({ ok: false, attempts: 2, message: 'failed (failed), result exit-code at 2s' });
    expect(outcome.results[1]).toMatchObject({ name: 'restarts', ok: true });
  });

  it('a unit that restarted between two looks (another invocation) fails, though it is active again', async () => {
    const { lxd, context } = setUp();
    lxd.expect('exec', () => counters({ 'demo.service': 0 }), isRestartRead);
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-1'), isUnitCheck('demo'));
    lxd.expect('exec', () => counters({ 'demo.service': 0 }), isRestartRead);
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-2'), isUnitCheck('demo'));
    const outcome = await soak([defineCheck('unit:demo')], 30_000, context);
    lxd.assertDone();
    expect(outcome.failure).toBe('unit:demo: it restarted at 2s (was inv-1/0, now inv-2/0): active (running)');
  });

  it('a restart loop that every check sees healthy: the counter of any service that grows fails it', async () => {
    const { lxd, context } = setUp();
    lxd.expect('exec', () => counters({ 'cron.service': 0, 'demo.service': 1 }), isRestartRead);
    lxd.expect('exec', () => systemdOutput('running'), isSystemdCheck);
    lxd.expect('exec', () => counters({ 'cron.service': 0, 'demo.service': 1 }), isRestartRead);
    lxd.expect('exec', () => systemdOutput('running'), isSystemdCheck);
    lxd.expect('exec', () => counters({ 'cron.service': 0, 'demo.service': 3, 'new.service': 0 }), isRestartRead);
    const outcome = await soak([defineCheck('systemd')], 30_000, context);
    lxd.assertDone();
    expect(outcome.failure).toBe('demo.service restarted 2 time(s) during the soak (NRestarts 1 → 3) at 2s');
    expect(outcome.results).toEqual([
      expect.objectContaining({ name: 'systemd', ok: true, attempts: 2 }),
      expect.objectContaining({ name: 'restarts', ok: false, required: true, attempts: 2, message: outcome.failure }),
    ]);
    // With the systemd check, every service is watched.
    expect((lxd.calls[0]!.args[1] as string[])[2]).toContain('$(systemctl list-units --type=service --all');
  });

  it('a look that may still pass gets the check\'s deadline to pass again: back in time, the soak goes on', async () => {
    const { lxd, context } = setUp();
    lxd.expect('exec', () => counters({ 'demo.service': 0 }), isRestartRead);
    lxd.expect('exec', () => unitOutput('activating', 'start', 'inv-1'), isUnitCheck('demo'));
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-1'), isUnitCheck('demo'));
    lxd.expect('exec', () => counters({ 'demo.service': 0 }), isRestartRead);
    // The last look as the soak ends, at 100 ms.
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-1'), isUnitCheck('demo'));
    lxd.expect('exec', () => counters({ 'demo.service': 0 }), isRestartRead);
    const outcome = await soak([defineCheck('unit:demo')], 100, context);
    lxd.assertDone();
    expect(outcome).toMatchObject({ failure: null, samples: 5, elapsedMs: 100 });
    expect(outcome.results[0]).toMatchObject({ ok: true, attempts: 3 });
  });

  it('a look that may still pass and does not within the deadline fails, with both what it saw first and last', async () => {
    const { lxd, context } = setUp();
    const check = defineCheck('exec:curl -f localhost', { timing: { deadlineMs: 200 } });
    lxd.expect('exec', () => execResult({ exitCode: 7, stderr: 'refused' }));
    lxd.expect('exec', () => execResult({ exitCode: 7, stderr: 'still refused' }));
    const outcome = await soak([check], 30_000, context);
    lxd.assertDone();
    expect(outcome.failure).toBe('exec:curl -f localhost: exit 7: refused at 0ms, then exit 7: still refused (gave up after 1 attempt)');
  });

  it('a check that is not required only warns: it is not asked again, and the soak passes', async () => {
    const { lxd, context } = setUp();
    // The optional check fails its sample and the second chance its deadline gives it.
    lxd.expect('exec', () => execResult({ exitCode: 1 }), (args) => String((args[1] as string[])[2]) === 'zones');
    lxd.expect('exec', () => execResult({ exitCode: 1 }), (args) => String((args[1] as string[])[2]) === 'zones');
    lxd.expect('exec', () => execResult(), (args) => String((args[1] as string[])[2]) === 'true');
    lxd.expect('exec', () => execResult(), (args) => String((args[1] as string[])[2]) === 'true');
    const optional = defineCheck('exec:zones', { required: false, timing: { deadlineMs: 1 } });
    const outcome = await soak([optional, defineCheck('exec:true', { timing: { intervalMs: 1_000 } })], 1_000, context);
    lxd.assertDone();
    expect(outcome.failure).toBeNull();
    expect(outcome.results.map((result) => [result.name, result.ok])).toEqual([['exec:zones', false], ['exec:true', true]]);
  });
});

describe('what the restart watch covers', () => {
  // A restart watch that never compared two readings has not watched: the soak fails and says so.
  const broken = () => execResult({ exitCode: 1, stderr: 'Failed to connect to bus' });
  const noNRestarts = () => execResult({ stdout: 'Id=demo.service\n' });
  it.each([
    ['counters that cannot be read are not "no restart": read again each round, never read fails', broken, broken, '3 of 3 reads failed, last: systemctl show exited 1'],
    ['only the first read succeeds: no two readings were compared, the soak fails', () => counters({ 'demo.service': 0 }), broken, '2 of 3 reads failed, last: systemctl show exited 1'],
    ['a systemd without NRestarts (before 235) cannot be watched: the soak fails and says why', noNRestarts, noNRestarts, '3 of 3 reads failed, last: systemctl show printed no NRestarts (systemd before 235 has none)'],
  ])('%s', async (_, first, later, reads) => {
    const { lxd, context } = setUp();
    lxd.expect('exec', first, isRestartRead);
    for (let round = 0; round < 2; round += 1) {
      lxd.expect('exec', () => unitOutput('active', 'running', 'inv-1'), isUnitCheck('demo'));
      lxd.expect('exec', later, isRestartRead);
    }
    const outcome = await soak([defineCheck('unit:demo')], 2_000, context);
    lxd.assertDone();
    expect(outcome.failure).toBe(`restarts were not watched: no two readings of systemd's restart counters could be compared (${reads})`);
    expect(outcome.results[1]).toMatchObject({ name: 'restarts', ok: false, required: true, message: outcome.failure });
  });

  it('a read that fails now and then is said in the result, and the counters read later still count', async () => {
    const { lxd, context } = setUp();
    lxd.expect('exec', () => execResult({ exitCode: 1 }), isRestartRead);
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-1'), isUnitCheck('demo'));
    lxd.expect('exec', () => counters({ 'demo.service': 4 }), isRestartRead);
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-1'), isUnitCheck('demo'));
    lxd.expect('exec', () => counters({ 'demo.service': 4 }), isRestartRead);
    const outcome = await soak([defineCheck('unit:demo')], 2_000, context);
    lxd.assertDone();
    expect(outcome.failure).toBeNull();
    expect(outcome.results[1]!.message).toBe('no restart of demo over 2s (1 of 3 reads failed, last: systemctl show exited 1)');
  });

  it('does not blame the update for units that had failed before it', async () => {
    const { lxd, context: fresh } = setUp();
    const context = { ...fresh, baselineFailedUnits: ['old.service'] };
    lxd.expect('exec', () => counters({ 'demo.service': 0, 'old.service': 7 }), isRestartRead);
    lxd.expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck);
    lxd.expect('exec', () => counters({ 'demo.service': 0, 'old.service': 9 }), isRestartRead);
    const outcome = await soak([defineCheck('systemd')], 0, context);
    lxd.assertDone();
    expect(outcome.failure).toBeNull();
    expect(outcome.results.map((result) => [result.name, result.ok])).toEqual([['systemd', true], ['restarts', true]]);
  });

  it('does not watch the restarts of a unit that only a check that is not required names', async () => {
    const { lxd, context } = setUp();
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-1'), isUnitCheck('flaky'));
    const outcome = await soak([defineCheck('unit:flaky', { required: false })], 0, context);
    lxd.assertDone();
    expect(outcome.results.map((result) => result.name)).toEqual(['unit:flaky']);
  });
});

describe('an interrupted soak', () => {
  it('stops at once: no failure of its own, every result says interrupted', async () => {
    const controller = new AbortController();
    const { lxd, context } = setUp(controller.signal);
    lxd.expect('exec', () => counters({ 'demo.service': 0 }), isRestartRead);
    lxd.expect('exec', () => {
      controller.abort('SIGTERM');
      return unitOutput('active', 'running');
    }, isUnitCheck('demo'));
    const outcome = await soak([defineCheck('unit:demo')], 30_000, context);
    lxd.assertDone();
    expect(outcome.failure).toBeNull();
    expect(outcome.results.map((result) => [result.ok, result.message])).toEqual([[false, 'interrupted at 0ms'], [false, 'no restart of demo over 0ms']]);
  });
});
