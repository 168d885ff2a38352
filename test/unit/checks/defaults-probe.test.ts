import { describe, expect, it } from 'vitest';
import { defaultChecks, SYSTEMD_PROBE_ATTEMPTS } from '../../../src/checks/defaults.js';
import type { ExecOptions, ExecResult } from '../../../src/lxd/lxd.js';
import { execResult, FakeLxd, isSystemdProbe } from '../../support/fake-lxd.js';

// Only a definite "no" from `test -d /run/systemd/system` means no systemd; anything else that is
// not a clean exit 0 says nothing, and the systemd check runs.

const ref = { remote: 'local', name: 'web1', project: 'default' };
const NO_SYSTEMD = { checks: [], warning: 'no health checks configured and the instance does not run systemd' };

function probing(...answers: ExecResult[]): FakeLxd {
  const lxd = new FakeLxd();
  for (const answer of answers) lxd.expect('exec', () => answer, isSystemdProbe, 'systemd probe');
  return lxd;
}

describe('the systemd probe', () => {
  it('asks test -d /run/systemd/system of this instance, within 10 s', async () => {
    const lxd = probing(execResult());
    await defaultChecks(lxd, ref);
    lxd.assertDone();
    expect(lxd.calls[0]!.args[0]).toEqual(ref);
    expect(lxd.calls[0]!.args[2] as ExecOptions).toEqual({ timeoutMs: 10_000 });
  });

  it('looks at most twice', () => {
    expect(SYSTEMD_PROBE_ATTEMPTS).toBe(2);
  });

  it('a clean exit 1 whose stderr holds only a newline is still a definite no', async () => {
    const lxd = probing(execResult({ exitCode: 1, stderr: '\n' }));
    expect(await defaultChecks(lxd, ref)).toEqual(NO_SYSTEMD);
    lxd.assertDone();
  });

  it.each<[string, Partial<ExecResult>]>([
    ['exit 2 without a word', { exitCode: 2 }],
    ['exit 1 of a probe that ran out of time', { exitCode: 1, timedOut: true }],
    ['exit 1 of a probe that was interrupted', { exitCode: 1, canceled: true }],
    ['exit 1 with a signal noted', { exitCode: 1, signal: 'SIGTERM' }],
  ])('%s says nothing: after two looks, the systemd check', async (_, answer) => {
    const lxd = probing(execResult(answer), execResult(answer));
    const found = await defaultChecks(lxd, ref);
    lxd.assertDone();
    expect(found.warning).toBeNull();
    expect(found.checks.map((check) => check.name)).toEqual(['systemd']);
  });

  it('a first look that says nothing and a second that says yes: the systemd check, after exactly two looks', async () => {
    const lxd = probing(execResult({ exitCode: 2 }), execResult());
    expect((await defaultChecks(lxd, ref)).checks.map((check) => check.spec)).toEqual([{ kind: 'systemd' }]);
    lxd.assertDone();
  });
});
