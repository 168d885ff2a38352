import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import type { InstanceRef } from '../../../src/lxd/lxd.js';
import { REHEARSAL_MARKER } from '../../../src/run/rehearsal.js';
import { decideRestart, RESTART_LIMIT_MS } from '../../../src/run/steps/restart.js';
import { renderHuman } from '../../../src/report/human.js';
import { renderMarkdown } from '../../../src/report/markdown.js';
import { execResult, isAnswerProbe, isCommand, isRestartDue, isSystemdCheck, isUnitCheck, restartDueOutput, runningContainer, startOf, stopOf, systemdOutput, unitOutput } from '../../support/fake-lxd.js';
import { COMMAND, GIB, resolved, RunHarness } from './run-harness.js';

// --restart: after a passing update, one exec reads whether a restart is due; auto restarts when it
// is, always every time, never not (a due restart is then a warning). The restart comes before the
// after-update checks, so they judge what the next boot runs; one that does not come back within
// its limit fails like a check and is rolled back.

const NOTHING = { rebootRequired: false, packages: [], processes: [] };
const REBOOT = { rebootRequired: true, packages: ['libc6'], processes: [] };
const STALE = { rebootRequired: false, packages: [], processes: [{ pid: 812, command: 'nginx', files: ['/usr/lib/libssl.so.3'] }] };

describe('whether to restart', () => {
  it.each([
    ['auto', NOTHING, false, 'not due', null],
    ['auto', REBOOT, true, 'reboot-required by libc6', null],
    ['auto', STALE, true, '1 process still runs deleted files: nginx (812) using /usr/lib/libssl.so.3', null],
    ['always', NOTHING, true, '--restart always', null],
    ['always', REBOOT, true, '--restart always; due: reboot-required by libc6', null],
    ['never', NOTHING, false, 'not due', null],
    ['never', REBOOT, false, 'due (reboot-required by libc6), not restarted (--restart never)', 'a restart is due (reboot-required by libc6), not made (--restart never): the checks judged the processes still running, not what the next start runs'],
  ] as const)('%s with %j: restart %s', (mode, due, restart, reason, warning) => {
    expect(decideRestart(mode, due)).toEqual({ restart, reason, warning });
  });

  it('auto restarts when it cannot tell: a read that failed proves nothing', () => {
    expect(decideRestart('auto', { error: 'exit 127' })).toEqual({ restart: true, reason: 'could not tell whether a restart is due (exit 127); restarting to be sure', warning: null });
  });

  it('never says it could not tell, and does not restart', () => {
    expect(decideRestart('never', { error: 'exit 127' })).toMatchObject({ restart: false, warning: 'could not tell whether a restart is due (exit 127); not restarted (--restart never)' });
  });
});

let h: RunHarness;
beforeEach(async () => {
  h = new RunHarness();
  await h.setUp();
  h.lxd.scriptRestartDue = true;
  // The server lease is renewed by a real timer, which the fake clock's jumps over a whole restart
  // limit skip: a lease longer than them keeps the run's hold, as the timer does in a real run.
  vi.stubEnv('SAFEUPDATE_LEASE_SECONDS', '3600');
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await h.tearDown();
});

const restartRead = (due: Parameters<typeof restartDueOutput>[0] = {}) => h.lxd.expect('exec', () => restartDueOutput(due), isRestartDue, 'restart-due read');
/** A clean stop (not forced: shutdown units run), a start, and the instance answering. */
function restarted({ onStart = () => {} } = {}) {
  h.lxd.expect('stopInstance', () => undefined, stopOf(resolved, false), 'clean stop');
  h.lxd.expect('startInstance', onStart, startOf(resolved));
  h.lxd.expect('exec', () => execResult(), isAnswerProbe, 'answers');
}
function rolledBack() {
  h.evidence().stop().restoreAndStart().systemdHealthy().finalStatus();
}

describe('a run with --restart', () => {
  it('auto, reboot-required: restarts once between the update and the checks, and reports why and how long', async () => {
    h.preflight().baselineHealthy().snapshot().update();
    restartRead({ packages: ['safeupdate-demo', 'libc6'] });
    restarted({ onStart: () => h.clock.advance(1_500) });
    h.systemdHealthy().finalStatus();

    const { report, item } = await h.run({ restart: 'auto' });

    expect(report).toMatchObject({ outcome: 'updated', exitCode: 0 });
    expect(item.steps.map((s) => s.action)).toEqual(['preflight', 'baseline', 'snapshot', 'update', 'restart', 'after-update']);
    expect(item.restart).toEqual({
      mode: 'auto', due: true, rebootRequired: true, packages: ['safeupdate-demo', 'libc6'], processes: [], restarted: true, cameBack: true,
      durationMs: 1_500, limitMs: RESTART_LIMIT_MS, message: 'reboot-required by safeupdate-demo, libc6',
    });
    expect(h.stepStarts()).toContainEqual(['restart', 'Restart web1 (reboot-required by safeupdate-demo, libc6)']);
    expect(renderHuman(report)).toContain('  restart    ✔ restarted, back in 1.5s: reboot-required by safeupdate-demo, libc6');
    expect(renderMarkdown(report)).toContain('**Restart:** ✔ restarted, back in 1.5s: reboot-required by safeupdate-demo, libc6');
  });

  it('the clean stop may take the whole restart limit (LXD gives up after it), not only the call\'s own bound', async () => {
    h.preflight().baselineHealthy().snapshot().update();
    restartRead({ packages: ['libc6'] });
    const stops: unknown[] = [];
    h.lxd.expect('stopInstance', (args) => stops.push(args[1]), stopOf(resolved, false), 'clean stop');
    h.lxd.expect('startInstance', () => undefined, startOf(resolved));
    h.lxd.expect('exec', () => execResult(), isAnswerProbe, 'answers');
    h.systemdHealthy().finalStatus();

    expect((await h.run({ restart: 'auto' })).report.exitCode).toBe(0);
    expect(stops).toEqual([{ force: false, waitMs: RESTART_LIMIT_MS }]);
  });

  it('auto, processes running deleted files: restarts, and names them', async () => {
    h.preflight().baselineHealthy().snapshot().update();
    restartRead({ maps: [[49, 'busybox', '/usr/bin/busybox']] });
    restarted();
    h.systemdHealthy().finalStatus();

    const { report, item } = await h.run({ restart: 'auto' });

    expect(report.exitCode).toBe(0);
    expect(item.restart).toMatchObject({ due: true, restarted: true, cameBack: true, processes: [{ pid: 49, command: 'busybox', files: ['/usr/bin/busybox'] }] });
    expect(renderHuman(report)).toContain('\n             busybox (pid 49) runs deleted /usr/bin/busybox');
  });

  it('auto, nothing due: no restart, and nothing about it in the human summary', async () => {
    h.preflight().baselineHealthy().snapshot().update();
    restartRead();
    h.systemdHealthy().finalStatus();

    const { report, item } = await h.run({ restart: 'auto' });

    expect(report.exitCode).toBe(0);
    expect(item.restart).toMatchObject({ mode: 'auto', due: false, restarted: false, cameBack: null, durationMs: null, message: 'not due' });
    expect(h.lxd.calls.map((c) => c.method)).not.toContain('stopInstance');
    expect(renderHuman(report)).not.toContain('restart');
  });

  it('always, nothing due: restarts all the same', async () => {
    h.preflight().baselineHealthy().snapshot().update();
    restartRead();
    restarted();
    h.systemdHealthy().finalStatus();

    const { item } = await h.run({ restart: 'always' });

    expect(item.restart).toMatchObject({ mode: 'always', due: false, restarted: true, cameBack: true, message: '--restart always' });
  });

  it('never, but due: no restart, a warning, exit 0, and the summary says it is due', async () => {
    h.preflight().baselineHealthy().snapshot().update();
    restartRead({ packages: ['safeupdate-demo'] });
    h.systemdHealthy().finalStatus();

    const { report, item } = await h.run({ restart: 'never' });

    expect(report).toMatchObject({ outcome: 'updated', exitCode: 0 });
    expect(item.restart).toMatchObject({ mode: 'never', due: true, restarted: false, packages: ['safeupdate-demo'] });
    expect(item.warnings).toEqual(['a restart is due (reboot-required by safeupdate-demo), not made (--restart never): the checks judged the processes still running, not what the next start runs']);
    expect(renderHuman(report)).toContain('  restart    ! due (reboot-required by safeupdate-demo), not restarted (--restart never)');
  });

  it('auto, and the read fails: restarts to be sure', async () => {
    h.preflight().baselineHealthy().snapshot().update();
    h.lxd.expect('exec', () => execResult({ exitCode: 127, stderr: 'sh: not found' }), isRestartDue, 'restart-due read');
    restarted();
    h.systemdHealthy().finalStatus();

    const { item } = await h.run({ restart: 'auto' });

    expect(item.restart).toMatchObject({ due: null, restarted: true, message: 'could not tell whether a restart is due (the check exited 127: sh: not found); restarting to be sure' });
  });

  it('an update that breaks only at the next start fails its checks after the restart, and is rolled back: exit 1', async () => {
    const checks = [defineCheck('unit:demo', { timing: { deadlineMs: 5_000 } })];
    h.preflight(undefined, null).lxd.expect('exec', () => unitOutput('active', 'running'), isUnitCheck('demo'), 'baseline unit check');
    h.snapshot().update();
    restartRead({ packages: ['demo'] });
    restarted();
    h.lxd.expect('exec', () => unitOutput('failed', 'failed', 'inv-2', 'exit-code'), isUnitCheck('demo'), 'after-update unit check');
    h.evidence().stop().restoreAndStart();
    h.lxd.expect('exec', () => unitOutput('active', 'running', 'inv-3'), isUnitCheck('demo'), 'after-rollback unit check');
    h.lxd.expect('exec', () => unitOutput('active', 'running', 'inv-3'), isUnitCheck('demo'), 'after-rollback unit check (confirmation)');
    h.finalStatus();

    const { report, item } = await h.run({ restart: 'auto', checks });

    expect(report).toMatchObject({ outcome: 'rolled-back', exitCode: 1 });
    expect(item.error).toMatchObject({ step: 'after-update' });
    expect(item.restart).toMatchObject({ restarted: true, cameBack: true });
    expect(item.steps.map((s) => s.action)).toEqual(['preflight', 'baseline', 'snapshot', 'update', 'restart', 'after-update', 'evidence', 'stop', 'restore', 'start', 'after-rollback']);
  });

  it('a restart that does not come back within its limit counts as a failed check: rolled back, exit 1', async () => {
    h.preflight().baselineHealthy().snapshot().update();
    restartRead({ packages: ['libc6'] });
    h.lxd.expect('stopInstance', () => undefined, stopOf(resolved, false), 'clean stop');
    // The start takes longer than the whole limit.
    h.lxd.expect('startInstance', () => h.clock.advance(RESTART_LIMIT_MS + 1_000), startOf(resolved));
    rolledBack();

    const { report, item } = await h.run({ restart: 'auto' });

    expect(report).toMatchObject({ outcome: 'rolled-back', exitCode: 1 });
    expect(item.error!.step).toBe('restart');
    expect(item.error!.message).toBe('the restart after the update did not come back within 2m: started after 2m1s, past the limit of 2m');
    expect(item.restart).toMatchObject({ restarted: true, cameBack: false, durationMs: RESTART_LIMIT_MS + 1_000 });
    // No after-update checks judged an instance that had not come back.
    expect(item.checks.map((c) => c.phase)).toEqual(['baseline', 'after-rollback']);
    expect(renderHuman(report)).toContain('  restart    ✖ restarted, not back within 2m: reboot-required by libc6; did not come back: started after 2m1s, past the limit of 2m');
  });

  it('an instance that starts but never answers: asked every 500 ms until the limit, then rolled back', async () => {
    h.preflight().baselineHealthy().snapshot().update();
    restartRead({ packages: ['libc6'] });
    h.lxd.expect('stopInstance', () => undefined, stopOf(resolved, false), 'clean stop');
    h.lxd.expect('startInstance', () => undefined, startOf(resolved));
    // At 0, 0.5 s, … 120 s: 241 looks.
    for (let look = 0; look < 241; look += 1) h.lxd.expect('exec', () => execResult({ exitCode: 255, stderr: 'Error: Instance is not running' }), isAnswerProbe, `answers? (${look})`);
    rolledBack();

    const { report, item } = await h.run({ restart: 'auto' });

    expect(report.exitCode).toBe(1);
    expect(item.error!.message).toContain('started, but does not answer (exec exited 255: Error: Instance is not running)');
    expect(h.clock.sleeps.filter((ms) => ms === 500)).toHaveLength(240);
  });

  it('a clean stop that fails is a restart that did not come back: rolled back', async () => {
    h.preflight().baselineHealthy().snapshot().update();
    restartRead({ packages: ['libc6'] });
    h.lxd.expect('stopInstance', () => {
      throw new Error('lxd did not answer within 30s (stop web1)');
    }, stopOf(resolved, false), 'clean stop');
    h.evidence();
    h.lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    h.restoreAndStart().systemdHealthy().finalStatus();

    const { report, item } = await h.run({ restart: 'auto' });

    expect(report.exitCode).toBe(1);
    expect(item.error!.message).toContain('lxd did not answer within 30s (stop web1)');
  });

  it('comes before the soak: the soak watches what the restart started', async () => {
    const isTrue = isCommand(['sh', '-c', 'true']);
    h.preflight(undefined, null).lxd.expect('exec', () => execResult(), isTrue, 'baseline');
    h.snapshot().update();
    restartRead({ packages: ['libc6'] });
    restarted();
    h.lxd.expect('exec', () => execResult(), isTrue, 'after-update');
    // A 1 s soak looks at once and as it ends.
    h.lxd.expect('exec', () => execResult(), isTrue, 'soak look');
    h.lxd.expect('exec', () => execResult(), isTrue, 'soak look');
    h.finalStatus();

    const { report, item } = await h.run({ restart: 'auto', soakMs: 1_000, checks: [defineCheck('exec:true')] });

    expect(report.exitCode).toBe(0);
    expect(item.steps.map((s) => s.action)).toEqual(['preflight', 'baseline', 'snapshot', 'update', 'restart', 'after-update', 'soak']);
  });

  it('a failed update is not restarted, nor read', async () => {
    h.preflight().baselineHealthy().snapshot().update(execResult({ exitCode: 100 }));
    rolledBack();

    const { item } = await h.run({ restart: 'always' });

    expect(item.restart).toBeUndefined();
    expect(h.lxd.calls.some((c) => c.method === 'exec' && isRestartDue(c.args))).toBe(false);
  });

  it('an interrupt during the restart ends the run and rolls back', async () => {
    const controller = new AbortController();
    h.preflight().baselineHealthy().snapshot().update();
    restartRead({ packages: ['libc6'] });
    h.lxd.expect('stopInstance', () => controller.abort('SIGTERM'), stopOf(resolved, false), 'clean stop');
    h.lxd.expect('startInstance', () => undefined, startOf(resolved));
    rolledBack();

    const { report, item } = await h.run({ restart: 'auto' }, { interrupt: controller.signal });

    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143 });
    expect(item.error).toEqual({ step: 'restart', message: 'interrupted by SIGTERM' });
    expect(item.rollback.performed).toBe(true);
  });
});

const COPY = 'web1-rehearsal-run-1';
const onCopy = (args: unknown[]) => (args[0] as InstanceRef).name === COPY;
const copyRef: InstanceRef = { ...resolved, name: COPY };

describe('--restart with --rehearse', () => {
  it('the copy is restarted too: an update that breaks at the next start is refused there, the instance untouched', async () => {
    h.preflight(undefined, true, { driver: 'btrfs', freeBytes: 50 * GIB, usedByInstanceBytes: 2 * GIB }).baselineHealthy().snapshot();
    h.lxd.expect('getInstance', () => runningContainer(), (args) => (args[0] as InstanceRef).name === 'web1', 'read web1 for its devices');
    h.lxd.expect('copyFromSnapshot', () => undefined, (args) => args[2] === COPY);
    h.lxd.expect('startInstance', () => undefined, startOf(copyRef), 'start the copy');
    h.lxd.expect('exec', () => systemdOutput('running'), (args) => onCopy(args) && isSystemdCheck(args), 'baseline on the copy');
    h.lxd.expect('exec', () => execResult(), (args) => onCopy(args) && isCommand(COMMAND)(args), 'the update on the copy');
    h.lxd.expect('exec', () => restartDueOutput({ packages: ['demo'] }), (args) => onCopy(args) && isRestartDue(args), 'restart-due read on the copy');
    h.lxd.expect('stopInstance', () => undefined, stopOf(copyRef, false), 'clean stop of the copy');
    h.lxd.expect('startInstance', () => undefined, startOf(copyRef), 'start of the copy');
    h.lxd.expect('exec', () => execResult(), (args) => onCopy(args) && isAnswerProbe(args), 'the copy answers');
    h.lxd.expect('exec', () => systemdOutput('degraded', ['demo.service']), (args) => onCopy(args) && isSystemdCheck(args), 'after-update on the copy');
    h.lxd.expect('getInstance', () => runningContainer({ name: COPY }), onCopy);
    h.lxd.expect('getConfig', () => ({ [REHEARSAL_MARKER]: 'run-1' }), onCopy);
    h.lxd.expect('stopInstance', () => undefined, stopOf(copyRef), 'stop the copy');
    h.lxd.expect('deleteMarkedInstance', () => ({ deleted: true }), onCopy);
    h.finalStatus();

    const { report, item } = await h.run({ rehearse: 'on', restart: 'auto' });

    expect(report).toMatchObject({ outcome: 'refused-by-rehearsal', exitCode: 1 });
    expect(item.rehearsal!.restart).toMatchObject({ due: true, restarted: true, cameBack: true, packages: ['demo'] });
    expect(item.restart).toBeUndefined();
    // Nothing but the reads of the baseline ran on web1.
    expect(h.lxd.calls.filter((c) => (c.args[0] as InstanceRef | undefined)?.name === 'web1' && ['exec', 'stopInstance', 'startInstance'].includes(c.method))).toHaveLength(2);
    expect(renderHuman(report)).toContain('on the copy: ✔ restarted, back in 0ms: reboot-required by demo');
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'group-start', actions: expect.arrayContaining(['update', 'restart', 'after-update']) }));
  });
});
