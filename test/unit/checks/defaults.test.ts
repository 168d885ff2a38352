import { describe, expect, it } from 'vitest';
import { defaultChecks } from '../../../src/checks/defaults.js';
import type { ExecResult } from '../../../src/lxd/lxd.js';
import { execResult, FakeLxd, isSystemdProbe } from '../../support/fake-lxd.js';

const ref = { remote: null, name: 'web1', project: null };

function probing(...answers: Array<() => ExecResult>): FakeLxd {
  const lxd = new FakeLxd();
  for (const answer of answers) lxd.expect('exec', answer, isSystemdProbe, 'systemd probe');
  return lxd;
}

describe('the default checks', () => {
  it('are the systemd check where /run/systemd/system exists', async () => {
    const lxd = probing(() => execResult());
    const found = await defaultChecks(lxd, ref);
    lxd.assertDone();
    expect(found).toMatchObject({ checks: [{ name: 'systemd', spec: { kind: 'systemd' } }], warning: null });
  });

  it('are none, with a warning, only when test says definitely that there is no systemd', async () => {
    const lxd = probing(() => execResult({ exitCode: 1 }));
    const found = await defaultChecks(lxd, ref);
    lxd.assertDone();
    expect(found).toEqual({ checks: [], warning: 'no health checks configured and the instance does not run systemd' });
  });

  it.each<[string, () => ExecResult]>([
    ['the probe timed out', () => execResult({ exitCode: null, signal: 'SIGKILL', timedOut: true })],
    ['the probe was killed', () => execResult({ exitCode: null, signal: 'SIGKILL' })],
    ['lxc exec failed (255)', () => execResult({ exitCode: 255, stderr: 'Error: websocket: close 1006' })],
    ['the lxc client failed with exit 1', () => execResult({ exitCode: 1, stderr: 'Error: Instance is not running' })],
    ['the command could not run (127)', () => execResult({ exitCode: 127, stderr: 'test: not found' })],
    ['LXD threw', () => { throw new Error('LXD did not answer within 30s'); }],
  ])('use the systemd check when it cannot tell: %s (after looking again)', async (_, answer) => {
    const lxd = probing(answer, answer);
    const found = await defaultChecks(lxd, ref);
    lxd.assertDone();
    expect(found).toMatchObject({ checks: [{ name: 'systemd' }], warning: null });
  });

  it('decide on a second look when the first could not tell', async () => {
    const lxd = probing(() => execResult({ exitCode: null, timedOut: true }), () => execResult({ exitCode: 1 }));
    const found = await defaultChecks(lxd, ref);
    lxd.assertDone();
    expect(found.checks).toEqual([]);
  });
});
