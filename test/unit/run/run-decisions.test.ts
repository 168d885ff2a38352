import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import { LxdError } from '../../../src/errors.js';
import { execResult, isCommand, isSystemdCheck, runningContainer, systemdOutput } from '../../support/fake-lxd.js';
import { RunHarness, snapshotOf } from './run-harness.js';

// Every decision of runUpdate (run-update.ts), asserted on the report: outcome, exit code, the
// failure's step and exact message, and which LXD calls were made (the fake fails on any other).

let h: RunHarness;
beforeEach(async () => {
  h = new RunHarness();
  await h.setUp();
});
afterEach(() => h.tearDown());

const SNAP = 'safeupdate-20261126-100000';

/** The state folder becomes unusable: every write into it fails from now on (ENOTDIR). */
async function breakStateFolder() {
  await rename(join(h.dir, 'instances'), join(h.dir, 'instances-gone'));
  await writeFile(join(h.dir, 'instances'), 'not a folder');
}

describe('interrupts before the update began change nothing', () => {
  it('during the preflight: exit 130, no baseline check, no snapshot', async () => {
    const controller = new AbortController();
    h.lxd.expect('checkReachable', () => undefined);
    h.lxd.expect('getInstance', () => runningContainer());
    h.lxd.expect('getSpace', () => {
      controller.abort('SIGINT');
      return { driver: 'dir', freeBytes: null, usedByInstanceBytes: null };
    });
    h.lxd.expect('exec', () => execResult(), (args) => (args[1] as string[]).join(' ') === 'test -d /run/systemd/system');
    h.finalStatus();
    const { report, item } = await h.run({}, { interrupt: controller.signal });
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 130, interruptedBy: 'SIGINT' });
    expect(item.error).toEqual({ step: 'preflight', message: 'interrupted by SIGINT before the update began; nothing was updated' });
    expect(item.checks).toEqual([]);
    await expect(readFile(h.recordPath)).rejects.toThrow('ENOENT');
  });

  it('between the recorded baseline and the snapshot: exit 143, the snapshot is never taken', async () => {
    const controller = new AbortController();
    const failing = defineCheck('exec:false', { timing: { deadlineMs: 200 } });
    h.preflight(undefined, null);
    h.lxd.expect('exec', () => execResult({ exitCode: 1 }), isCommand(['sh', '-c', 'false']));
    h.finalStatus();
    // With --force the failed baseline is a warning; the interrupt comes as it is shown.
    const { report, item } = await h.run({ checks: [failing], force: true }, {
      interrupt: controller.signal,
      emit: (event) => {
        h.events.push(event);
        if (event.type === 'warning') controller.abort('SIGTERM');
      },
    });
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143, interruptedBy: 'SIGTERM' });
    expect(item.error).toEqual({ step: 'baseline', message: 'interrupted by SIGTERM before the update began; nothing was updated' });
    expect(item.snapshot).toEqual({ name: null, expiresAt: null });
  });

  it('during a snapshot that never expires: the message says so', async () => {
    const controller = new AbortController();
    h.preflight().baselineHealthy().snapshot([], () => controller.abort('SIGHUP')).finalStatus();
    const { report, item } = await h.run({ expiryMs: null }, { interrupt: controller.signal });
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 129 });
    expect(item.error).toEqual({ step: 'snapshot', message: `interrupted by SIGHUP before the update began; nothing was updated; snapshot ${SNAP} kept (it never expires)` });
  });

  it('during a snapshot that expires: the message says when, and the step is the snapshot', async () => {
    const controller = new AbortController();
    h.preflight().baselineHealthy().snapshot([], () => controller.abort('SIGINT')).finalStatus();
    const { item } = await h.run({}, { interrupt: controller.signal });
    expect(item.error).toEqual({ step: 'snapshot', message: `interrupted by SIGINT before the update began; nothing was updated; snapshot ${SNAP} kept (it expires 2026-12-10T10:00:00.000Z)` });
  });
});

describe('the record must be written before anything changes', () => {
  it('a baseline that cannot be recorded: exit 3 at the baseline step, no snapshot', async () => {
    h.preflight(undefined, null);
    h.lxd.expect('exec', async () => {
      await breakStateFolder();
      return execResult();
    }, isCommand(['sh', '-c', 'true']));
    h.finalStatus();
    const { report, item } = await h.run({ checks: [defineCheck('exec:true')] });
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error?.step).toBe('baseline');
    expect(item.error?.message).toMatch(new RegExp(`^could not write the record ${h.recordPath}: ENOTDIR: not a directory, \\w+ '.*\\.tmp'; nothing changed$`));
    expect(item.snapshot.name).toBeNull();
  });

  it('a snapshot that cannot be recorded is not taken: exit 3 at the snapshot step', async () => {
    h.preflight().baselineHealthy();
    h.lxd.expect('listSnapshots', async () => {
      await breakStateFolder();
      return [];
    });
    h.finalStatus();
    const { report, item } = await h.run();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error?.step).toBe('snapshot');
    expect(item.error?.message).toMatch(
      new RegExp(`^snapshot failed: could not write the record ${h.recordPath}: ENOTDIR: .*; not taking a snapshot that a crash could leave unaccounted for$`),
    );
    expect(item.snapshot.name).toBeNull();
  });

  it('an update that cannot be recorded does not start: exit 3 at the update step, the snapshot kept', async () => {
    h.preflight().baselineHealthy().snapshot([], breakStateFolder).finalStatus();
    const { report, item } = await h.run();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3, interruptedBy: null });
    expect(item.error?.step).toBe('update');
    expect(item.error?.message).toMatch(/^could not write the record .*: ENOTDIR: .*; not starting the update, which a crash could then leave unrecoverable$/);
    expect(item.snapshot.name).toBe(SNAP);
    expect(item.update.logFile).toBeNull();
  });

  it('the record names the snapshot while it is taken, then the update while it runs', async () => {
    let atSnapshot: unknown;
    let atUpdate: unknown;
    h.preflight().baselineHealthy();
    h.snapshot([], async () => {
      atSnapshot = JSON.parse(await readFile(h.recordPath, 'utf8'));
    });
    h.update(async () => {
      atUpdate = JSON.parse(await readFile(h.recordPath, 'utf8'));
      return execResult();
    });
    h.systemdHealthy().finalStatus();
    await h.run();
    expect(atSnapshot).toMatchObject({ phase: 'snapshotting', snapshot: SNAP, baseline: { failedUnits: [], passedChecks: ['systemd'] } });
    expect(atUpdate).toMatchObject({ phase: 'updating', snapshot: SNAP });
  });
});

describe('how the update ended decides', () => {
  function rolledBackAfter(result: ReturnType<typeof execResult> | (() => ReturnType<typeof execResult>)) {
    h.preflight().baselineHealthy().snapshot().update(result).evidence().stop().restoreAndStart().systemdHealthy().finalStatus();
  }

  it.each([
    ['a non-zero exit', execResult({ exitCode: 100 }), 'the update command exited 100'],
    ['a death by a signal', execResult({ exitCode: null, signal: 'SIGKILL' }), 'the update command exited on SIGKILL'],
    ['the time limit', execResult({ exitCode: null, signal: 'SIGKILL', timedOut: true }), 'the update command did not finish within 1h (--timeout)'],
    ['exit 130 of a command that does not own the terminal', execResult({ exitCode: 130 }), 'the update command exited 130'],
  ])('%s: rolled back, exit 1', async (_, result, message) => {
    rolledBackAfter(result);
    const { report, item } = await h.run();
    expect(report).toMatchObject({ outcome: 'rolled-back', exitCode: 1, interruptedBy: null });
    expect(item.error).toEqual({ step: 'update', message });
  });

  it('exit 130 of a command that owns the terminal is Ctrl+C: rolled back, exit 130, interrupted by SIGINT', async () => {
    rolledBackAfter(execResult({ exitCode: 130 }));
    const { report, item } = await h.run({ interactive: true });
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 130, interruptedBy: 'SIGINT' });
    expect(item.error).toEqual({ step: 'update', message: 'interrupted by Ctrl+C (SIGINT) in the update command' });
  });

  it('an interrupt during an update that still exited 0: rolled back all the same, exit 143', async () => {
    const controller = new AbortController();
    rolledBackAfter(() => {
      controller.abort('SIGTERM');
      return execResult();
    });
    const { report, item } = await h.run({}, { interrupt: controller.signal });
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143, interruptedBy: 'SIGTERM' });
    expect(item.error).toEqual({ step: 'update', message: 'interrupted by SIGTERM' });
    expect(item.rollback.performed).toBe(true);
  });

  it('an update command that LXD could not run: rolled back, the message says why', async () => {
    rolledBackAfter(() => {
      throw new LxdError('LXD is not reachable: connection refused', 'unreachable', []);
    });
    const { report, item } = await h.run();
    expect(report).toMatchObject({ outcome: 'rolled-back', exitCode: 1 });
    expect(item.error).toEqual({ step: 'update', message: 'could not run the update command: LXD is not reachable: connection refused' });
    expect(item.update).toMatchObject({ exitCode: null, timedOut: false });
  });

  it('something thrown that is not an Error is reported as its text', async () => {
    rolledBackAfter(() => {
      throw 'the client went away';
    });
    const { item } = await h.run();
    expect(item.error).toEqual({ step: 'update', message: 'could not run the update command: the client went away' });
  });
});

describe('the checks after the update decide', () => {
  it('a failed required check: rolled back, the step is after-update and the message names the units', async () => {
    h.preflight().baselineHealthy().snapshot().update();
    h.lxd.expect('exec', () => systemdOutput('degraded', ['php-fpm.service']), isSystemdCheck);
    h.evidence().stop().restoreAndStart().systemdHealthy().finalStatus();
    const { report, item } = await h.run();
    expect(report).toMatchObject({ outcome: 'rolled-back', exitCode: 1 });
    expect(item.error).toEqual({ step: 'after-update', message: 'check failed: systemd (failed units: php-fpm.service)' });
  });

  it('an interrupt during them: rolled back, exit 130, the step is after-update', async () => {
    const controller = new AbortController();
    h.preflight().baselineHealthy().snapshot().update();
    h.lxd.expect('exec', () => {
      controller.abort('SIGINT');
      return systemdOutput('running');
    }, isSystemdCheck);
    h.evidence().stop().restoreAndStart().systemdHealthy().finalStatus();
    const { report, item } = await h.run({}, { interrupt: controller.signal });
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 130, interruptedBy: 'SIGINT' });
    expect(item.error).toEqual({ step: 'after-update', message: 'interrupted by SIGINT' });
    expect(item.checks.map((c) => [c.phase, c.ok, c.message])).toEqual([
      ['baseline', true, 'running, no new failed units'],
      ['after-update', false, 'interrupted (running, no new failed units)'],
      // The checks after a rollback are not cut short by the interrupt.
      ['after-rollback', true, 'running, no new failed units'],
    ]);
  });
});

describe('the rollback', () => {
  it('is announced with keep-failed, and without checks after it when nothing could be expected to pass', async () => {
    h.preflight(undefined, false).snapshot().update(execResult({ exitCode: 1 })).evidence().stop();
    h.lxd.expect('copyInstance', () => undefined, (args) => args[1] === 'web1-failed-20261126100000');
    h.restoreAndStart().finalStatus();
    const { report, item } = await h.run({ keepFailed: true });
    expect(report.exitCode).toBe(1);
    expect(h.events.find((e) => e.type === 'group-start')).toEqual({
      type: 'group-start', title: `Roll back to ${h.taken}`, actions: ['evidence', 'stop', 'keep-failed', 'restore', 'start'],
    });
    expect(item.checks).toEqual([]);
  });

  it('still unhealthy after it: exit 4 at the after-rollback step, the record kept for recover', async () => {
    h.preflight().baselineHealthy().snapshot().update(execResult({ exitCode: 100 })).evidence().stop().restoreAndStart();
    h.lxd.expect('exec', () => systemdOutput('degraded', ['db.service']), isSystemdCheck);
    h.finalStatus();
    const { report, item } = await h.run();
    expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
    expect(item.error).toEqual({ step: 'after-rollback', message: `rolled back to ${SNAP} but still unhealthy: check failed: systemd (failed units: db.service)` });
    expect(JSON.parse(await readFile(h.recordPath, 'utf8'))).toMatchObject({ runId: 'run-1', phase: 'rolling-back', snapshot: SNAP });
  });

  it('a successful one removes the record', async () => {
    h.preflight().baselineHealthy().snapshot().update(execResult({ exitCode: 100 })).evidence().stop().restoreAndStart().systemdHealthy().finalStatus();
    await h.run();
    await expect(readFile(h.recordPath)).rejects.toThrow('ENOENT');
  });
});

describe('follow-ups after a good update', () => {
  it('a prune that fails: exit 5, and the message names it', async () => {
    h.preflight().baselineHealthy().snapshot().update().systemdHealthy();
    const all = [snapshotOf(SNAP, '2026-11-26T10:00:00Z'), snapshotOf('safeupdate-old')];
    h.lxd.expect('listSnapshots', () => all);
    h.lxd.expect('listSnapshots', () => all);
    h.lxd.expect('deleteSnapshot', () => {
      throw new LxdError('Storage busy', 'failed', []);
    });
    h.finalStatus();
    const { report, item } = await h.run({ keep: 1 });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 5 });
    expect(item.error).toEqual({ step: 'follow-up', message: 'updated and healthy, but pruning old snapshots failed (see warnings)' });
  });

  it('a prune and a copy that both fail: exit 5 naming both', async () => {
    h.preflight().baselineHealthy().snapshot().update().systemdHealthy();
    const all = [snapshotOf(SNAP, '2026-11-26T10:00:00Z'), snapshotOf('safeupdate-old')];
    h.lxd.expect('listSnapshots', () => all);
    h.lxd.expect('listSnapshots', () => []);
    h.lxd.expect('checkReachable', () => {
      throw new LxdError('LXD is not reachable: connection refused', 'unreachable', []);
    }, (args) => args[0] === 'backup');
    h.finalStatus();
    const { report, item } = await h.run({ keep: 1, copyTo: 'backup' });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 5 });
    expect(item.error).toEqual({ step: 'follow-up', message: 'updated and healthy, but pruning old snapshots and the copy to backup: failed (see warnings)' });
  });
});

describe('durations are measured on a clock that does not jump', () => {
  it('a wall clock stepped back an hour during the update: every duration stays what passed, the start time stays the wall clock\'s', async () => {
    h.preflight().baselineHealthy().snapshot();
    h.update(() => {
      h.clock.advance(3_000);
      h.clock.stepWall(-3_600_000);
      return execResult();
    });
    h.systemdHealthy().finalStatus();
    const { report, item } = await h.run();
    expect(report.exitCode).toBe(0);
    expect(item.steps.find((s) => s.action === 'update')!.durationMs).toBe(3_000);
    for (const step of item.steps) expect(step.durationMs).toBeGreaterThanOrEqual(0);
    expect(report.durationMs).toBeGreaterThanOrEqual(3_000);
    expect(item.durationMs).toBe(report.durationMs);
    expect(report.startedAt).toBe('2026-11-26T10:00:00.000Z');
  });
});
