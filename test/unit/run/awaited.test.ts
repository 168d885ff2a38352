import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execResult, runningContainer, settle, type HeldCall } from '../../support/fake-lxd.js';
import { RunHarness } from './run-harness.js';

// The fake finishes every call at once, so the order in which calls start does not show whether
// each was awaited. Here one call at a time is held open: what must come after it may not start
// until it is released. A dropped `await` lets the next step start while the held one still runs.

let h: RunHarness;
let held: HeldCall | null;
/** How many calls had been made when the hold was set up: what follows is what ran around it. */
let from: number;
beforeEach(async () => {
  h = new RunHarness();
  held = null;
  from = 0;
  await h.setUp();
});
afterEach(() => h.tearDown());

/** Holds the next call of `method` open; called from the response of the call before it. */
function holdNext(method: Parameters<RunHarness['lxd']['holdNext']>[0]): void {
  from = h.lxd.calls.length;
  held = h.lxd.holdNext(method);
}

/** Runs until the held call is made and everything that can move on has; then releases it and finishes. */
async function runHoldingOpen() {
  const running = h.run();
  let finished = false;
  void running.then(() => (finished = true), () => (finished = true));
  for (let i = 0; i < 500 && !held; i++) await settle(10);
  await held!.started;
  const heldAt = h.lxd.calls.length;
  await settle();
  const whileHeld = h.lxd.calls.slice(from).map((call) => call.method);
  const afterHeld = h.lxd.calls.slice(heldAt).map((call) => call.method);
  const finishedWhileHeld = finished;
  held!.release();
  return { whileHeld, afterHeld, finishedWhileHeld, result: await running };
}

describe('each step of a rollback is awaited before the next begins', () => {
  it.each([
    ['stopInstance', 'restoreSnapshot'],
    ['restoreSnapshot', 'startInstance'],
    ['startInstance', 'exec'],
  ] as const)('%s held open: %s does not begin', async (method, next) => {
    h.preflight().baselineHealthy().snapshot().update(() => (holdNext(method), execResult({ exitCode: 100 })));
    h.evidence().stop().restoreAndStart().systemdHealthy().finalStatus();
    const { whileHeld, afterHeld, result } = await runHoldingOpen();
    expect(whileHeld.at(-1)).toBe(method);
    expect(afterHeld).not.toContain(next);
    expect(afterHeld).toEqual([]);
    expect(result.report).toMatchObject({ outcome: 'rolled-back', exitCode: 1 });
  });
});

describe('the server lease is written before the step it covers, and released before the run ends', () => {
  it('the mark that says "updating" is awaited: the update command starts only after it', async () => {
    h.preflight().baselineHealthy().snapshot([], () => holdNext('setProfileConfig'));
    h.update().systemdHealthy().finalStatus();
    const { whileHeld, afterHeld, result } = await runHoldingOpen();
    expect(whileHeld.at(-1)).toBe('setProfileConfig');
    expect(whileHeld).not.toContain('exec');
    expect(afterHeld).toEqual([]);
    expect(result.report.exitCode).toBe(0);
  });

  it('the renewal after a failed update is awaited: no evidence is read and nothing is stopped until the lease is known to be held', async () => {
    h.preflight().baselineHealthy().snapshot().update(() => (holdNext('setProfileConfig'), execResult({ exitCode: 100 })));
    h.evidence().stop().restoreAndStart().systemdHealthy().finalStatus();
    const { whileHeld, result } = await runHoldingOpen();
    expect(whileHeld).toEqual(['getProfile', 'setProfileConfig']);
    expect(result.report.exitCode).toBe(1);
  });

  it('the release is awaited: the run has not ended while the lease is still being deleted', async () => {
    h.preflight().baselineHealthy().snapshot().update().systemdHealthy();
    h.lxd.expect('getInstance', () => (holdNext('deleteProfile'), runningContainer()));
    const { whileHeld, finishedWhileHeld, result } = await runHoldingOpen();
    expect(whileHeld.at(-1)).toBe('deleteProfile');
    expect(finishedWhileHeld).toBe(false);
    expect(result.report.exitCode).toBe(0);
    expect(h.lxd.profiles.size).toBe(0);
  });
});
