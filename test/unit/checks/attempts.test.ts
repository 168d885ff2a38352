import { describe, expect, it } from 'vitest';
import { describeFailedChecks, type CheckContext, type CheckResult, type Phase } from '../../../src/checks/check.js';
import { execAttempt, lastLine } from '../../../src/checks/exec-check.js';
import { systemdAttempt } from '../../../src/checks/systemd-check.js';
import { parseProperties, unitAttempt } from '../../../src/checks/unit-check.js';
import type { ExecOptions, ExecResult } from '../../../src/lxd/lxd.js';
import { execResult, FakeLxd, systemdOutput } from '../../support/fake-lxd.js';

// One attempt of each kind that runs inside the instance: what it asks LXD to run, with which
// bounds, and how it reads the answer into pass, retry (may still pass) or fail (definite).

const ref = { remote: 'local', name: 'web1', project: 'default' };

function context(lxd: FakeLxd, phase: Phase = 'after-update', baselineFailedUnits: string[] = [], signal?: AbortSignal): CheckContext {
  return { lxd, ref, phase, baselineFailedUnits, ...(signal ? { signal } : {}) };
}

function answering(result: ExecResult): FakeLxd {
  return new FakeLxd().expect('exec', () => result);
}

const call = (lxd: FakeLxd) => ({ ref: lxd.calls[0]!.args[0], argv: lxd.calls[0]!.args[1] as string[], options: lxd.calls[0]!.args[2] as ExecOptions });

describe('exec', () => {
  it('runs the command with sh -c inside the instance, bounded, and passes on exit 0', async () => {
    const controller = new AbortController();
    const lxd = answering(execResult());
    expect(await execAttempt('test -f /ok && echo yes')(context(lxd, 'after-update', [], controller.signal), 2_500)).toEqual({ state: 'pass', message: 'exit 0' });
    expect(call(lxd)).toEqual({ ref, argv: ['sh', '-c', 'test -f /ok && echo yes'], options: { timeoutMs: 2_500, signal: controller.signal } });
  });

  it('without a signal, passes none', async () => {
    const lxd = answering(execResult());
    await execAttempt('true')(context(lxd), 1_000);
    expect(call(lxd).options).toEqual({ timeoutMs: 1_000 });
  });

  it.each<[string, Partial<ExecResult>, string]>([
    ['the last line of stderr', { exitCode: 7, stdout: 'out\n', stderr: '  curl: (7) first\n   curl: (7) refused  \n' }, 'exit 7: curl: (7) refused'],
    ['stdout when stderr is empty', { exitCode: 1, stdout: 'one\n  two  \n\n' }, 'exit 1: two'],
    ['only the exit when both are empty', { exitCode: 3, stdout: ' \n', stderr: '' }, 'exit 3'],
    ['the signal when there is no exit code', { exitCode: null, signal: 'SIGKILL' }, 'exit SIGKILL'],
    ['the time limit', { exitCode: null, signal: 'SIGKILL', timedOut: true, stderr: 'partial' }, 'no answer within 2.5s: partial'],
  ])('retries a failure, saying %s', async (_, result, message) => {
    expect(await execAttempt('x')(context(answering(execResult(result))), 2_500)).toEqual({ state: 'retry', message });
  });

  it('lastLine is the last non-blank line, trimmed', () => {
    expect(lastLine('a\n  b  \n')).toBe('b');
    expect(lastLine('')).toBe('');
    expect(lastLine('only')).toBe('only');
  });
});

describe('unit', () => {
  const show = (props: Record<string, string>) => execResult({ stdout: Object.entries(props).map(([k, v]) => `${k}=${v}\n`).join('') });
  const active = { LoadState: 'loaded', ActiveState: 'active', SubState: 'running', Result: 'success', InvocationID: 'abc', NRestarts: '2' };

  it('asks systemctl show for the properties it reads, the unit after --, bounded', async () => {
    const controller = new AbortController();
    const lxd = answering(show(active));
    expect(await unitAttempt('nginx.service')(context(lxd, 'after-update', [], controller.signal), 4_000)).toEqual({
      state: 'pass', message: 'active (running)', confirmKey: 'abc/2',
    });
    expect(call(lxd)).toEqual({
      ref,
      argv: ['systemctl', 'show', '--property=LoadState,ActiveState,SubState,Result,InvocationID,NRestarts,Job', '--', 'nginx.service'],
      options: { timeoutMs: 4_000, signal: controller.signal },
    });
  });

  it('without a signal, passes none', async () => {
    const lxd = answering(show(active));
    await unitAttempt('nginx')(context(lxd), 1_000);
    expect(call(lxd).options).toEqual({ timeoutMs: 1_000 });
  });

  it('a unit that does not exist is a definite failure', async () => {
    expect(await unitAttempt('nginx')(context(answering(show({ LoadState: 'not-found', ActiveState: 'inactive', SubState: 'dead' }))), 1_000)).toEqual({
      state: 'fail', message: 'unit nginx does not exist',
    });
  });

  it('a failed unit is a definite failure with its result', async () => {
    expect(await unitAttempt('nginx')(context(answering(show({ ...active, ActiveState: 'failed', SubState: 'failed', Result: 'exit-code' }))), 1_000)).toEqual({
      state: 'fail', message: 'failed (failed), result exit-code',
    });
  });

  it.each([['activating', 'start'], ['inactive', 'dead'], ['deactivating', 'stop'], ['reloading', 'reload']])('%s (%s) is waited for after a change', async (state, sub) => {
    for (const phase of ['after-update', 'after-rollback'] as const) {
      expect(await unitAttempt('nginx')(context(answering(show({ ...active, ActiveState: state, SubState: sub, Job: '' })), phase), 1_000)).toEqual({
        state: 'retry', message: `${state} (${sub})`,
      });
    }
  });

  it.each<Phase>(['baseline', 'check'])('inactive with no job queued is final in phase %s: nothing of ours is starting it', async (phase) => {
    expect(await unitAttempt('nginx')(context(answering(show({ ...active, ActiveState: 'inactive', SubState: 'dead', Job: '' })), phase), 1_000)).toEqual({
      state: 'fail', message: 'inactive (dead), and nothing is starting it',
    });
  });

  it.each<Phase>(['baseline', 'check'])('inactive with a start job queued is waited for in phase %s', async (phase) => {
    expect(await unitAttempt('nginx')(context(answering(show({ ...active, ActiveState: 'inactive', SubState: 'dead', Job: '42' })), phase), 1_000)).toEqual({
      state: 'retry', message: 'inactive (dead)',
    });
  });

  it('when systemctl itself fails: retried, with its last word or its exit code', async () => {
    expect(await unitAttempt('nginx')(context(answering(execResult({ exitCode: 1, stderr: 'Failed to connect to bus\nSystem has not been booted with systemd\n' }))), 1_000)).toEqual({
      state: 'retry', message: 'systemctl show failed: System has not been booted with systemd',
    });
    expect(await unitAttempt('nginx')(context(answering(execResult({ exitCode: 255 }))), 1_000)).toEqual({
      state: 'retry', message: 'systemctl show failed: exit 255',
    });
  });

  it('parseProperties reads KEY=VALUE lines: the value may hold "=", a line without a key is skipped, values are trimmed', () => {
    expect(parseProperties('LoadState=loaded\r\nExecStart={ path=/usr/bin/x ; argv[]=x }\n=orphan\nnot a property\nSubState= running \n')).toEqual({
      LoadState: 'loaded', ExecStart: '{ path=/usr/bin/x ; argv[]=x }', SubState: 'running',
    });
  });
});

describe('systemd', () => {
  const ask = (result: ExecResult, phase: Phase = 'after-update', baseline: string[] = []) => systemdAttempt(context(answering(result), phase, baseline), 5_000);

  it('runs its script with sh -c, bounded, with the signal', async () => {
    const controller = new AbortController();
    const lxd = answering(systemdOutput('running'));
    await systemdAttempt(context(lxd, 'after-update', [], controller.signal), 5_000);
    const { argv, options } = call(lxd);
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(options).toEqual({ timeoutMs: 5_000, signal: controller.signal });
    const lxd2 = answering(systemdOutput('running'));
    await systemdAttempt(context(lxd2), 5_000);
    expect(call(lxd2).options).toEqual({ timeoutMs: 5_000 });
  });

  it('a running system with nothing failed and nothing queued passes, to be confirmed', async () => {
    expect(await ask(systemdOutput('running'))).toEqual({ state: 'pass', message: 'running, no new failed units', confirmKey: 'steady', failedUnits: [] });
  });

  it('a degraded one passes when its failed units had failed at baseline, and says which, sorted', async () => {
    expect(await ask(systemdOutput('degraded', ['z.service', ' a.service ']), 'after-update', ['a.service', 'z.service'])).toEqual({
      state: 'pass', message: 'degraded, no new failed units (already failed before: a.service, z.service)', confirmKey: 'steady', failedUnits: ['a.service', 'z.service'],
    });
  });

  it('at baseline nothing is new: every failed unit is known from now on', async () => {
    expect(await ask(systemdOutput('degraded', ['b.service', 'a.service']), 'baseline')).toMatchObject({ state: 'pass', failedUnits: ['a.service', 'b.service'] });
  });

  it('units that failed since baseline are a definite failure, each named', async () => {
    expect(await ask(systemdOutput('degraded', ['old.service', 'php.service', 'db.service']), 'after-rollback', ['old.service'])).toEqual({
      state: 'fail', message: 'failed units: db.service, php.service', failedUnits: ['db.service', 'old.service', 'php.service'],
    });
  });

  it.each(['initializing', 'starting'])('a system that is %s is waited for', async (state) => {
    expect(await ask(systemdOutput(state, ['x.service']))).toEqual({ state: 'retry', message: `system is ${state}`, failedUnits: ['x.service'] });
  });

  it.each([['maintenance', 'system is maintenance'], ['stopping', 'system is stopping'], ['', 'system is not answering']])('a system that is %j is waited for', async (state, message) => {
    expect(await ask(systemdOutput(state))).toEqual({ state: 'retry', message, failedUnits: [] });
  });

  it('queued jobs are waited for, even when units failed that were known', async () => {
    expect(await ask(systemdOutput('running', [], 3))).toEqual({ state: 'retry', message: '3 systemd job(s) still queued', failedUnits: [] });
  });

  it('an answer cut short reads as running with nothing failed or queued', async () => {
    expect(await ask(execResult({ stdout: 'running\n' }))).toMatchObject({ state: 'pass', failedUnits: [] });
    expect(await ask(execResult({ stdout: 'running\n---\n---\nnot a number\n' }))).toMatchObject({ state: 'pass' });
  });

  it('a script that could not run is retried', async () => {
    expect(await ask(execResult({ exitCode: 255, stderr: 'Error: websocket: close 1006' }))).toEqual({ state: 'retry', message: 'could not ask systemd: exit 255' });
  });

  it('no systemctl: a definite failure', async () => {
    expect(await ask(execResult({ stdout: 'no-systemd\n' }))).toEqual({ state: 'fail', message: 'systemd is not installed in the instance' });
  });
});

describe('describeFailedChecks', () => {
  const result = (name: string, ok: boolean, required = true, message = 'm'): CheckResult => ({ name, phase: 'after-update', ok, required, attempts: 1, durationMs: 0, message });

  it('is null when every required check passed, whatever the optional ones did', () => {
    expect(describeFailedChecks([])).toBeNull();
    expect(describeFailedChecks([result('a', true), result('b', false, false)])).toBeNull();
  });

  it('names one failed check, or several, with what each said', () => {
    expect(describeFailedChecks([result('a', false, true, 'exit 1'), result('b', true)])).toBe('check failed: a (exit 1)');
    expect(describeFailedChecks([result('a', false, true, 'exit 1'), result('c', false, false), result('b', false, true, 'HTTP 503')])).toBe(
      'checks failed: a (exit 1); b (HTTP 503)',
    );
  });
});
