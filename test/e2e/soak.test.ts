import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoVersion, launch, lxc, publish, removeAll, safeupdate, settledUnitState, unitState, UPGRADE } from './lab.js';

// The soak on real services: the lab's demo 5.0 starts, serves, passes its check and dies 10 s
// later; 6.0 serves for 3 s, exits, and systemd starts it again (Restart=always).

const BASE = 'soak-base';
let lateDeath: string;
let restartLoop: string;

beforeAll(async () => {
  [lateDeath, restartLoop] = await Promise.all([launch('soak-late'), launch('soak-loop')]);
  await lxc('snapshot', lateDeath!, BASE);
  await Promise.all([publish(lateDeath!, '5.0'), publish(restartLoop!, '6.0')]);
}, 180_000);
afterAll(removeAll);

/** The demo unit's state once it is `wanted`, or as it is when the time is up. */
async function stateWithin(name: string, wanted: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await unitState(name);
    if (state === wanted || Date.now() > deadline) return state;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe('a service that dies 10 s after the update', () => {
  it('passes its check without --soak: updated, exit 0 (what the soak is for)', async () => {
    const run = await safeupdate([lateDeath!, '--check', 'unit:safeupdate-demo', '--json', '--', ...UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.report!.instances[0]!.soak).toBeNull();
    expect(await demoVersion(lateDeath!)).toBe('5.0');
    // And it does die afterwards.
    expect(await stateWithin(lateDeath!, 'failed', 20_000)).toBe('failed');
  }, 60_000);

  it('with --soak 30s: caught when it dies, rolled back, exit 1; the soak phase says when', async () => {
    await lxc('restore', lateDeath!, BASE);
    await publish(lateDeath!, '5.0');
    const run = await safeupdate([lateDeath!, '--check', 'unit:safeupdate-demo', '--soak', '30s', '--json', '--', ...UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(1);
    const item = run.report!.instances[0]!;
    expect(item.outcome).toBe('rolled-back');
    expect(item.error).toMatchObject({ step: 'soak', message: expect.stringMatching(/^unit:safeupdate-demo: failed \(failed\), result exit-code at \d/) });
    expect(item.soak).toMatchObject({ requestedMs: 30_000, ok: false });
    // Caught when it died (about 10 s after it started), not at the end of the soak.
    expect(item.soak!.elapsedMs).toBeLessThan(20_000);
    expect(item.soak!.samples).toBeGreaterThan(2);
    expect(await demoVersion(lateDeath!)).toBe('1.0');
    expect(await settledUnitState(lateDeath!)).toBe('active');
  }, 120_000);
});

describe('a service in a restart loop', () => {
  it('passes the default systemd check, but the restart counter catches it: rolled back, exit 1', async () => {
    const run = await safeupdate([restartLoop!, '--soak', '30s', '--json', '--', ...UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(1);
    const item = run.report!.instances[0]!;
    expect(item.checks.filter((check) => check.phase === 'after-update').every((check) => check.ok)).toBe(true);
    const soakChecks = item.checks.filter((check) => check.phase === 'soak');
    expect(soakChecks.find((check) => check.name === 'restarts')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^safeupdate-demo\.service restarted \d+ time\(s\) during the soak \(NRestarts \d+ → \d+\)/),
    });
    expect(item.error?.step).toBe('soak');
    expect(await demoVersion(restartLoop!)).toBe('1.0');
  }, 120_000);
});
