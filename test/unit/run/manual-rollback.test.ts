import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CheckDefinition } from '../../../src/checks/check.js';
import { defineCheck } from '../../../src/checks/spec.js';
import { LxdError } from '../../../src/errors.js';
import { emptyInstanceReport, frameReport } from '../../../src/report/report.js';
import { manualRollback, newestOwnSnapshot } from '../../../src/run/manual-rollback.js';
import { InstanceBusy, InstanceRecordFile } from '../../../src/state/instance-record.js';
import { FakeClock } from '../../support/fake-clock.js';
import { execResult, FakeLxd, isCommand, isSystemdCheck, restoreOf, runningContainer, startOf, stopOf, systemdOutput } from '../../support/fake-lxd.js';

const snap = (name: string, createdAt: string) => ({ name, createdAt, expiresAt: null, stateful: false, sizeBytes: null });
const ref = { remote: null, name: 'web1', project: null };
// What the lock resolves `web1` to: the client's current remote and project (FakeLxd.current).
const resolved = { remote: 'local', name: 'web1', project: 'default' };
const isResolved = (args: unknown[]) => JSON.stringify(args[0]) === JSON.stringify(resolved);
const SNAPSHOTS = [snap('safeupdate-20261120-100000', '2026-11-20T10:00:00Z'), snap('safeupdate-20261125-100000', '2026-11-25T10:00:00Z')];
const TARGET = 'safeupdate-20261120-100000';
// One attempt: the deadline passes before a second would be due.
const once = (text: string): CheckDefinition => defineCheck(text, { timing: { deadlineMs: 200, intervalMs: 2_000 } });

let dir: string;
let lxd: FakeLxd;
const recordPath = () => join(dir, 'instances', 'local_default_web1.json');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-rollback-'));
  lxd = new FakeLxd();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function rollback(options: { start?: boolean; checks?: CheckDefinition[] | null; snapshot?: string; interrupt?: AbortSignal } = {}) {
  const report = await manualRollback(ref, options.snapshot ?? TARGET, { start: options.start ?? false, checks: options.checks ?? [once('exec:true')] }, {
    lxd, clock: new FakeClock(), emit: () => {}, runId: 'r', runDir: join(dir, 'runs', 'r'), stateDir: dir, toolVersion: 't',
    interrupt: options.interrupt ?? new AbortController().signal,
  });
  lxd.assertDone();
  return report;
}

/** The preflight reads: the instance, then its snapshots, both on the resolved ref. */
function preflight(status: 'Running' | 'Stopped') {
  lxd.expect('getInstance', () => runningContainer({ status }), isResolved, 'the instance, resolved');
  lxd.expect('listSnapshots', () => SNAPSHOTS, isResolved, 'its snapshots');
}

/** A saved report of the run that took the snapshot: what its baseline checks found. */
async function saveBaselineRun(checks: Array<{ name: string; ok: boolean; failedUnits?: string[] }>) {
  const item = emptyInstanceReport('web1', null);
  item.snapshot = { name: TARGET, expiresAt: null };
  item.checks = checks.map((c) => ({ phase: 'baseline', required: true, attempts: 1, durationMs: 5, message: 'm', ...c }));
  const report = frameReport({ runId: 'old', toolVersion: 't', runDir: join(dir, 'runs', 'old') }, 0, 1, 'updated', 0, [item]);
  await mkdir(report.runDir, { recursive: true });
  await writeFile(join(report.runDir, 'report.json'), JSON.stringify(report));
}

describe('the default snapshot to roll back to', () => {
  it("is the newest one safeupdate took, whatever the order and however new the others' are", () => {
    expect(newestOwnSnapshot([...SNAPSHOTS, snap('manual', '2026-11-26T00:00:00Z')])?.name).toBe('safeupdate-20261125-100000');
    expect(newestOwnSnapshot([...SNAPSHOTS].reverse())?.name).toBe('safeupdate-20261125-100000');
  });

  it('is none when safeupdate took none', () => {
    expect(newestOwnSnapshot([snap('manual', '2026-11-26T00:00:00Z'), snap('x-safeupdate-1', '2026-11-26T00:00:00Z')])).toBeNull();
    expect(newestOwnSnapshot([])).toBeNull();
  });
});

describe('safeupdate rollback', () => {
  it('a running instance: stop (forced), restore, start, check; exit 0, and the lock is released', async () => {
    preflight('Running');
    lxd.expect('getInstance', () => runningContainer(), isResolved, 'status before the stop');
    lxd.expect('stopInstance', () => undefined, (a) => isResolved(a) && (a[1] as { force: boolean }).force === true, 'forced stop');
    lxd.expect('restoreSnapshot', () => undefined, (a) => isResolved(a) && a[1] === TARGET, 'restore of the named snapshot');
    lxd.expect('startInstance', () => undefined, isResolved);
    lxd.expect('exec', () => execResult(), isCommand(['sh', '-c', 'true']), 'the check');
    lxd.expect('getInstance', () => runningContainer(), isResolved, 'status at the end');
    const report = await rollback();
    expect(report).toMatchObject({ outcome: 'restored', exitCode: 0, command: ['rollback', TARGET], interruptedBy: null });
    const item = report.instances[0]!;
    expect(item.snapshot).toEqual({ name: TARGET, expiresAt: null });
    expect(item.rollback.steps.map((s) => [s.action, s.ok])).toEqual([['stop', true], ['restore', true], ['start', true]]);
    expect(item.checks.map((c) => [c.name, c.phase, c.ok])).toEqual([['exec:true', 'after-rollback', true]]);
    expect(item).toMatchObject({ error: null, finalStatus: 'Running', project: 'default' });
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('holds the lock while it restores: another run sees the rollback and is refused', async () => {
    let refusal: unknown = null;
    preflight('Stopped');
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    lxd.expect('restoreSnapshot', async () => {
      refusal = await new InstanceRecordFile(dir, resolved)
        .acquire({ runId: 'other', host: 'h', instance: 'web1', ref: resolved, command: ['apt-get', 'upgrade'], startedAt: 't', runDir: '' })
        .catch((error: unknown) => error);
    }, restoreOf(resolved, TARGET));
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    await rollback();
    expect(refusal).toBeInstanceOf(InstanceBusy);
    expect((refusal as InstanceBusy).holder).toMatchObject({ runId: 'r', command: ['rollback', TARGET], phase: 'rolling-back' });
  });

  it('a stopped instance stays stopped: restored, not started, not checked', async () => {
    preflight('Stopped');
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }), isResolved, 'status before the stop');
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(resolved, TARGET));
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }), isResolved, 'status at the end');
    const report = await rollback();
    expect(report).toMatchObject({ outcome: 'restored', exitCode: 0 });
    expect(report.instances[0]!.rollback.steps.map((s) => s.action)).toEqual(['stop', 'restore']);
    expect(report.instances[0]!.checks).toEqual([]);
    expect(report.instances[0]!.finalStatus).toBe('Stopped');
  });

  it('a stopped instance with --start is started and checked', async () => {
    preflight('Stopped');
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(resolved, TARGET));
    lxd.expect('startInstance', () => undefined, startOf(resolved));
    lxd.expect('exec', () => execResult(), isCommand(['sh', '-c', 'true']));
    lxd.expect('getInstance', () => runningContainer());
    const report = await rollback({ start: true });
    expect(report).toMatchObject({ outcome: 'restored', exitCode: 0 });
    expect(report.instances[0]!.rollback.steps.map((s) => s.action)).toEqual(['stop', 'restore', 'start']);
    expect(report.instances[0]!.checks).toHaveLength(1);
  });

  it('a missing instance: exit 3, nothing touched', async () => {
    lxd.expect('getInstance', () => null, isResolved);
    lxd.expect('getInstance', () => null, isResolved, 'status at the end');
    const report = await rollback();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(report.instances[0]!.error).toEqual({ step: 'preflight', message: 'instance web1 does not exist' });
    expect(report.instances[0]!.finalStatus).toBe('missing');
    expect(report.instances[0]!.rollback.performed).toBe(false);
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('a snapshot this instance does not have: exit 3, naming it and how to list them', async () => {
    preflight('Running');
    lxd.expect('getInstance', () => runningContainer());
    const report = await rollback({ snapshot: 'safeupdate-20261101-000000' });
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3, command: ['rollback', 'safeupdate-20261101-000000'] });
    expect(report.instances[0]!.error).toEqual({
      step: 'preflight',
      message: 'web1 has no snapshot named safeupdate-20261101-000000 (list them: safeupdate snapshots local:web1 --project default)',
    });
    expect(report.instances[0]!.snapshot.name).toBeNull();
  });

  it('interrupted before the restore began: nothing changed, exit 130', async () => {
    const controller = new AbortController();
    controller.abort('SIGINT');
    preflight('Running');
    lxd.expect('getInstance', () => runningContainer());
    const report = await rollback({ interrupt: controller.signal });
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 130, interruptedBy: 'SIGINT' });
    expect(report.instances[0]!.error).toEqual({ step: 'preflight', message: 'interrupted by SIGINT before the restore began; nothing changed' });
    expect(report.instances[0]!.rollback.performed).toBe(false);
  });

  it('interrupted during the restore: the restore and its checks finish, and the outcome says interrupted', async () => {
    const controller = new AbortController();
    preflight('Running');
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('stopInstance', () => undefined, stopOf(resolved));
    lxd.expect('restoreSnapshot', () => {
      controller.abort('SIGTERM');
    }, restoreOf(resolved, TARGET));
    lxd.expect('startInstance', () => undefined, startOf(resolved));
    lxd.expect('exec', () => execResult(), isCommand(['sh', '-c', 'true']), 'the check still runs');
    lxd.expect('getInstance', () => runningContainer());
    const report = await rollback({ interrupt: controller.signal });
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143, interruptedBy: 'SIGTERM' });
    expect(report.instances[0]!.checks.map((c) => c.ok)).toEqual([true]);
  });

  it('interrupted while restoring a stopped instance: interrupted, exit 143', async () => {
    const controller = new AbortController();
    preflight('Stopped');
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    lxd.expect('restoreSnapshot', () => {
      controller.abort('SIGTERM');
    }, restoreOf(resolved, TARGET));
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    const report = await rollback({ interrupt: controller.signal });
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143 });
  });

  it('a restore that fails needs a human: exit 4, with the step and the commands to finish by hand', async () => {
    preflight('Running');
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('stopInstance', () => undefined, stopOf(resolved));
    lxd.expect('restoreSnapshot', () => {
      throw new LxdError('Instance snapshot not found', 'not-found', []);
    }, restoreOf(resolved, TARGET));
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    const report = await rollback();
    expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
    expect(report.instances[0]!.error?.step).toBe('restore');
    expect(report.instances[0]!.error?.message).toBe(
      `rollback failed at restore: Instance snapshot not found. The snapshot ${TARGET} is kept. To finish by hand: ` +
        `lxc restore local:web1 ${TARGET} --project default && lxc start local:web1 --project default`,
    );
    expect(report.instances[0]!.finalStatus).toBe('Stopped');
  });

  it('unhealthy after the restore: exit 4, naming the failed check', async () => {
    preflight('Running');
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('stopInstance', () => undefined, stopOf(resolved));
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(resolved, TARGET));
    lxd.expect('startInstance', () => undefined, startOf(resolved));
    lxd.expect('exec', () => execResult({ exitCode: 1, stderr: 'zone broken\n' }), isCommand(['sh', '-c', 'pdnsutil check']));
    lxd.expect('getInstance', () => runningContainer());
    const report = await rollback({ checks: [once('exec:pdnsutil check')] });
    expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
    expect(report.instances[0]!.error).toEqual({
      step: 'after-rollback',
      message: `restored ${TARGET} but unhealthy: check failed: exec:pdnsutil check (exit 1: zone broken (gave up after 1 attempt))`,
    });
  });

  describe('a rollback that fails keeps the lock and the server lease for recover, as a failed run does', () => {
    const LEASE = 'local:default/safeupdate-lock_default_web1';
    async function expectKeptFor(snapshot: string) {
      expect(JSON.parse(await readFile(recordPath(), 'utf8'))).toMatchObject({ runId: 'r', phase: 'rolling-back', snapshot });
      expect(lxd.profiles.get(LEASE)?.config).toMatchObject({
        'user.safeupdate.runId': 'r', 'user.safeupdate.phase': 'rolling-back', 'user.safeupdate.snapshot': snapshot, 'user.safeupdate.expiresAt': '',
      });
    }

    it('at the restore', async () => {
      preflight('Running');
      lxd.expect('getInstance', () => runningContainer(), isResolved);
      lxd.expect('stopInstance', () => undefined, (args) => isResolved(args) && (args[1] as { force: boolean }).force, 'forced stop');
      lxd.expect('restoreSnapshot', () => Promise.reject(new LxdError('Instance snapshot not found', 'not-found', [])), (args) => isResolved(args) && args[1] === TARGET);
      lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
      expect(await rollback()).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
      await expectKeptFor(TARGET);
    });

    it('at the start, with another snapshot than the default', async () => {
      const other = 'safeupdate-20261125-100000';
      preflight('Running');
      lxd.expect('getInstance', () => runningContainer(), isResolved);
      lxd.expect('stopInstance', () => undefined, (args) => isResolved(args) && (args[1] as { force: boolean }).force, 'forced stop');
      lxd.expect('restoreSnapshot', () => undefined, (args) => isResolved(args) && args[1] === other);
      lxd.expect('startInstance', () => Promise.reject(new LxdError('Failed to start', 'failed', [])), isResolved);
      lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
      const report = await rollback({ snapshot: other });
      expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
      expect(report.instances[0]!.error?.step).toBe('start');
      await expectKeptFor(other);
    });

    it('unhealthy after the restore', async () => {
      preflight('Running');
      lxd.expect('getInstance', () => runningContainer(), isResolved);
      lxd.expect('stopInstance', () => undefined, (args) => isResolved(args) && (args[1] as { force: boolean }).force, 'forced stop');
      lxd.expect('restoreSnapshot', () => undefined, (args) => isResolved(args) && args[1] === TARGET);
      lxd.expect('startInstance', () => undefined, isResolved);
      lxd.expect('exec', () => execResult({ exitCode: 1 }), isCommand(['sh', '-c', 'pdnsutil check']));
      lxd.expect('getInstance', () => runningContainer());
      expect(await rollback({ checks: [once('exec:pdnsutil check')] })).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
      await expectKeptFor(TARGET);
    });
  });

  it("judges health against the baseline of the run that took the snapshot: only what passed then must pass, and its failed units don't count", async () => {
    await saveBaselineRun([
      { name: 'systemd', ok: true, failedUnits: ['old.service'] },
      { name: 'exec:flaky', ok: false },
    ]);
    preflight('Running');
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('stopInstance', () => undefined, stopOf(resolved));
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(resolved, TARGET));
    lxd.expect('startInstance', () => undefined, startOf(resolved));
    lxd.expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck, 'systemd: only the unit that had failed before');
    lxd.expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck, 'systemd: confirmed');
    lxd.expect('getInstance', () => runningContainer());
    const report = await rollback({ checks: [defineCheck('systemd'), once('exec:flaky')] });
    expect(report).toMatchObject({ outcome: 'restored', exitCode: 0 });
    expect(report.instances[0]!.checks.map((c) => [c.name, c.ok, c.message])).toEqual([
      ['systemd', true, 'degraded, no new failed units (already failed before: old.service)'],
    ]);
  });

  it('without a recorded baseline (a snapshot made by hand), every check must pass and every failed unit counts', async () => {
    preflight('Running');
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('stopInstance', () => undefined, stopOf(resolved));
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(resolved, TARGET));
    lxd.expect('startInstance', () => undefined, startOf(resolved));
    lxd.expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck);
    lxd.expect('getInstance', () => runningContainer());
    const report = await rollback({ checks: [defineCheck('systemd')] });
    expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
    expect(report.instances[0]!.error?.message).toBe(`restored ${TARGET} but unhealthy: check failed: systemd (failed units: old.service)`);
  });

  it('another run holds the instance: exit 3, naming the holder, nothing touched', async () => {
    const holder = new InstanceRecordFile(dir, resolved);
    await holder.acquire({ runId: 'other-run', host: 'h', instance: 'web1', ref: resolved, command: ['apt-get', 'upgrade'], startedAt: '2026-11-26T09:00:00.000Z', runDir: '' });
    lxd.expect('getInstance', () => runningContainer(), isResolved, 'status for the report');
    const report = await rollback();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(report.instances[0]!.error?.step).toBe('lock');
    expect(report.instances[0]!.error?.message).toContain('web1 is busy: run other-run');
    expect(JSON.parse(await readFile(recordPath(), 'utf8')).runId).toBe('other-run');
    await holder.release();
  });

  it('an unforeseen error before anything changed: exit 3, an internal error, and the lock is released', async () => {
    lxd.expect('getInstance', () => {
      throw new TypeError('cannot read the instance');
    });
    lxd.expect('getInstance', () => runningContainer());
    const report = await rollback();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(report.instances[0]!.error).toEqual({ step: 'internal', message: 'internal error: cannot read the instance; nothing changed' });
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });
});
