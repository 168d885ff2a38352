import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunContext, RunOptions } from '../../../src/run/types.js';
import { defineCheck } from '../../../src/checks/spec.js';
import { execResult, isCommand, isInventory, isSystemdCheck, settle, startOf, stopOf, systemdOutput, type HeldCall } from '../../support/fake-lxd.js';
import { expectAptFinish, expectAptPrepare, expectLockFree, isDpkgLockLook } from '../../support/fake-dpkg.js';
import { resolved, RunHarness } from './run-harness.js';

// Reads a run makes at the same time (issue 25): the preflight beside the server lease, the
// inventory before beside the baseline checks, the inventory after beside the after-update checks.
// One call is held open to show what runs meanwhile; the report and the views must still be the
// sequential run's, and a run never ends (nor changes the instance) while a read is still out.

let h: RunHarness;
beforeEach(async () => {
  h = new RunHarness();
  await h.setUp();
});
afterEach(() => h.tearDown());

const inventory = (version: string, exitCode = 0) =>
  h.lxd.expect('exec', () => execResult({ exitCode, stdout: exitCode ? '' : `dpkg\nsafeupdate-demo\t${version}\tii \n`, stderr: exitCode ? 'boom\n' : '' }), isInventory, `inventory (${version})`);
const LEASE = 'local:default/safeupdate-lock_default_web1';
const SEQUENTIAL = ['preflight', 'baseline', 'packages-before', 'snapshot', 'update', 'packages-after', 'after-update'];

/** Runs with `held` open until every call that can start has; then releases it and finishes. */
async function runHolding(held: HeldCall, options: Partial<RunOptions> = {}, context: Partial<RunContext> = {}) {
  const running = h.run({ packageReport: true, ...options }, context);
  let finished = false;
  void running.then(() => (finished = true), () => (finished = true));
  await held.started;
  await settle();
  const callsWhileHeld = h.lxd.calls.map((call) => call.method);
  const finishedWhileHeld = finished;
  const startsWhileHeld = h.stepStarts().map(([action]) => action);
  held.release();
  return { ...(await running), callsWhileHeld, finishedWhileHeld, startsWhileHeld };
}

const actions = (steps: Array<{ action: string }>) => steps.map((step) => step.action);
const eventOrder = () => h.events.flatMap((e) => (e.type === 'step-start' ? [`start ${e.action}`] : e.type === 'step-end' ? [`end ${e.step.action}`] : e.type === 'warning' ? ['warning'] : []));

describe('reads at the same time, reported in the sequential order', () => {
  it('the inventory before is read while the baseline check is still out; the report and the views keep the order', async () => {
    h.preflight();
    h.lxd.together(() => (h.baselineHealthy(), inventory('1.0')));
    h.snapshot().update();
    h.lxd.together(() => (inventory('1.1'), h.systemdHealthy()));
    h.finalStatus();
    const baseline = h.lxd.holdNext('exec', isSystemdCheck);
    const { item, callsWhileHeld, startsWhileHeld } = await runHolding(baseline);

    expect(h.lxd.calls.filter((call) => call.method === 'exec').findIndex((call) => isInventory(call.args))).toBeLessThan(3);
    expect(callsWhileHeld.filter((method) => method === 'exec')).toHaveLength(3); // probe, the held check, the inventory
    // Its step is not shown before its turn, though it has ended.
    expect(startsWhileHeld).toEqual(['preflight', 'baseline']);
    expect(actions(item.steps)).toEqual(SEQUENTIAL);
    expect(h.stepStarts().map(([action]) => action)).toEqual(SEQUENTIAL);
    expect(eventOrder().slice(0, 6)).toEqual(['start preflight', 'end preflight', 'start baseline', 'end baseline', 'start packages-before', 'end packages-before']);
    expect(item.packages?.changes).toEqual([{ name: 'safeupdate-demo', kind: 'changed', from: '1.0', to: '1.1', bump: 'minor' }]);
  });

  it('the preflight reads while the server lease is still being taken, and is reported after it', async () => {
    h.preflight().baselineHealthy().snapshot().update().systemdHealthy().finalStatus();
    const lease = h.lxd.holdNext('createProfile');
    const { report, item, callsWhileHeld, startsWhileHeld } = await runHolding(lease, { packageReport: false });

    expect(callsWhileHeld).toEqual(expect.arrayContaining(['checkReachable', 'getInstance', 'getSpace']));
    expect(startsWhileHeld).toEqual([]);
    expect(report.exitCode).toBe(0);
    expect(actions(item.steps)).toEqual(['preflight', 'baseline', 'snapshot', 'update', 'after-update']);
  });

  it('the inventory after is read while the after-update checks run; they are shown once it has ended, after it', async () => {
    h.preflight();
    h.lxd.together(() => (h.baselineHealthy(), inventory('1.0')));
    h.snapshot().update();
    h.lxd.together(() => (inventory('1.1'), h.systemdHealthy()));
    h.finalStatus();
    let inventories = 0;
    const after = h.lxd.holdNext('exec', (args) => isInventory(args) && ++inventories === 2);
    const { item, callsWhileHeld, startsWhileHeld } = await runHolding(after);

    // The two looks of the after-update check were made while the inventory was out.
    expect(callsWhileHeld.filter((method) => method === 'exec').length).toBe(3 + 1 + 1 + 2 + 1); // probe, baseline, inventory, update, inventory, checks, restart look
    expect(startsWhileHeld).toEqual(['preflight', 'baseline', 'packages-before', 'snapshot', 'update', 'packages-after']);
    expect(actions(item.steps)).toEqual(SEQUENTIAL);
    expect(eventOrder().slice(-4)).toEqual(['start packages-after', 'end packages-after', 'start after-update', 'end after-update']);
  });

  it('an inventory that fails while the baseline is out: its warning comes at its turn, as in the sequential run', async () => {
    h.preflight();
    h.lxd.together(() => (h.baselineHealthy(), inventory('1.0', 2)));
    h.snapshot().update().systemdHealthy().finalStatus();
    const baseline = h.lxd.holdNext('exec', isSystemdCheck);
    const { report, item } = await runHolding(baseline);

    expect(report.exitCode).toBe(0);
    expect(item.steps.find((step) => step.action === 'packages-before')).toMatchObject({ ok: false });
    expect(item.warnings).toEqual(['could not read the installed packages before the update: the inventory exited 2: boom; the report lists no package changes']);
    expect(eventOrder().slice(0, 7)).toEqual(['start preflight', 'end preflight', 'start baseline', 'end baseline', 'start packages-before', 'end packages-before', 'warning']);
    expect(item.packages).toBeNull();
  });
  it("another apt held dpkg's lock: the inventory read beside the baseline is read again after the wait, and only that one counts", async () => {
    h.preflight(undefined, null);
    inventory('1.0');
    h.lxd.expect('exec', () => execResult({ stdout: 'held /var/lib/dpkg/lock-frontend 412 /usr/bin/python3 /usr/bin/unattended-upgrade\n' }), isDpkgLockLook, 'held');
    expectLockFree(h.lxd);
    inventory('1.1');
    h.snapshot();
    expectAptPrepare(h.lxd);
    h.update();
    h.lxd.together(() => (inventory('1.2'), expectAptFinish(h.lxd)));
    h.finalStatus();
    const { item } = await h.run({ packageReport: true, apt: { lockTimeoutMs: 60_000 }, checks: [] });

    expect(item.packages?.changes).toEqual([{ name: 'safeupdate-demo', kind: 'changed', from: '1.1', to: '1.2', bump: 'minor' }]);
    expect(actions(item.steps)).toEqual(['preflight', 'dpkg-lock', 'packages-before', 'snapshot', 'apt-config', 'update', 'packages-after', 'conffiles']);
  });
});

describe('when one of two reads at the same time ends the run', () => {
  it('the lease refused while the preflight is out: refused as before, after the preflight ended, none of it reported', async () => {
    h.lxd.profiles.set(LEASE, otherHostsLease());
    h.preflight().finalStatus();
    const preflight = h.lxd.holdNext('getInstance');
    const { report, item, finishedWhileHeld } = await runHolding(preflight);

    expect(finishedWhileHeld).toBe(false);
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error?.step).toBe('lock');
    expect(item).toMatchObject({ steps: [], warnings: [], checks: [], space: null });
    expect(h.events).toEqual([]);
    expect(h.lxd.profiles.get(LEASE)?.config['user.safeupdate.runId']).toBe('run-b');
  });

  it('the baseline failing while the inventory is out: not started as before, after the inventory ended, which is not reported', async () => {
    h.preflight(undefined, null);
    h.lxd.together(() => (h.lxd.expect('exec', () => execResult({ exitCode: 1 }), isCommand(['sh', '-c', 'false']), 'exec:false'), inventory('1.0')));
    h.finalStatus();
    const read = h.lxd.holdNext('exec', isInventory);
    const { report, item, finishedWhileHeld } = await runHolding(read, { checks: [defineCheck('exec:false', { timing: { deadlineMs: 0 } })] });

    expect(finishedWhileHeld).toBe(false);
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error).toMatchObject({ step: 'baseline' });
    expect(actions(item.steps)).toEqual(['preflight', 'baseline']);
    expect(h.stepStarts().map(([action]) => action)).toEqual(['preflight', 'baseline']);
    expect(h.lxd.calls.map((call) => call.method)).not.toContain('createSnapshot');
  });

  it('an interrupt during the baseline while the inventory is out: interrupted before anything changed, once the inventory has ended', async () => {
    const controller = new AbortController();
    h.preflight();
    h.lxd.together(() => (h.lxd.expect('exec', () => (controller.abort('SIGINT'), systemdOutput('running')), isSystemdCheck, 'systemd check'), inventory('1.0')));
    h.finalStatus();
    const read = h.lxd.holdNext('exec', isInventory);
    const { report, item, finishedWhileHeld } = await runHolding(read, {}, { interrupt: controller.signal });

    expect(finishedWhileHeld).toBe(false);
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 130, interruptedBy: 'SIGINT' });
    expect(item.error).toMatchObject({ step: 'baseline', message: expect.stringContaining('nothing was updated') });
    expect(actions(item.steps)).toEqual(['preflight', 'baseline']);
    expect(h.lxd.calls.map((call) => call.method)).not.toContain('createSnapshot');
  });

  it('an interrupt while the baseline is out and the inventory has ended: the same, the inventory not reported', async () => {
    const controller = new AbortController();
    h.preflight();
    h.lxd.together(() => (h.lxd.expect('exec', () => (controller.abort('SIGTERM'), systemdOutput('running')), isSystemdCheck, 'systemd check'), inventory('1.0')));
    h.finalStatus();
    const { report, item } = await h.run({ packageReport: true }, { interrupt: controller.signal });

    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143 });
    expect(item.error?.step).toBe('baseline');
    expect(actions(item.steps)).toEqual(['preflight', 'baseline']);
  });

  it('a restart waits for the inventory after the update: nothing changes the instance while a read is out', async () => {
    h.preflight();
    h.lxd.together(() => (h.baselineHealthy(), inventory('1.0')));
    h.snapshot().update();
    inventory('1.1');
    h.lxd.expect('stopInstance', () => undefined, stopOf(resolved, false), 'clean stop');
    h.lxd.expect('startInstance', () => undefined, startOf(resolved));
    h.lxd.expect('exec', () => execResult(), (args) => JSON.stringify(args[1]) === '["true"]', 'answers');
    h.systemdHealthy().finalStatus();
    let inventories = 0;
    const after = h.lxd.holdNext('exec', (args) => isInventory(args) && ++inventories === 2);
    const { report, item, callsWhileHeld } = await runHolding(after, { restart: 'always' });

    expect(callsWhileHeld).not.toContain('stopInstance');
    expect(report.exitCode).toBe(0);
    expect(actions(item.steps)).toEqual(['preflight', 'baseline', 'packages-before', 'snapshot', 'update', 'packages-after', 'restart', 'after-update']);
  });
});

function otherHostsLease() {
  const now = h.clock.now();
  return {
    description: '', usedBy: [], etag: null,
    config: {
      'user.safeupdate.runId': 'run-b', 'user.safeupdate.hostId': 'other-host', 'user.safeupdate.host': 'ci-b', 'user.safeupdate.pid': '4242',
      'user.safeupdate.instance': 'web1', 'user.safeupdate.startedAt': 't0', 'user.safeupdate.phase': 'updating', 'user.safeupdate.snapshot': '',
      'user.safeupdate.renewedAt': new Date(now).toISOString(), 'user.safeupdate.expiresAt': new Date(now + 3_600_000).toISOString(),
    },
  };
}
