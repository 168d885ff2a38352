import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import { LxdError } from '../../../src/errors.js';
import { recoverInstance } from '../../../src/run/recover.js';
import { FakeClock } from '../../support/fake-clock.js';
import { execResult, FakeLxd, isSystemdCheck, isSystemdProbe, restoreOf, runningContainer, startOf, stopOf, systemdOutput } from '../../support/fake-lxd.js';
import { leaseKey, leaveLease } from '../../support/leases.js';

let dir: string;
let lxd: FakeLxd;
const ref = { remote: null, name: 'web1', project: null };
const recordPath = () => join(dir, 'instances', 'local_default_web1.json');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-recover-'));
  lxd = new FakeLxd();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** What a killed run leaves: its record here and, unless `lease` is false, its lease on the server. */
async function leaveRecord(phase: string, pid = 999_999_999, extra: Record<string, unknown> = {}, lease = true) {
  await mkdir(join(dir, 'instances'), { recursive: true });
  await writeFile(recordPath(), JSON.stringify({ runId: 'dead-run', pid, pidStartedAt: pid === process.pid ? null : '1', instance: 'web1', ref, phase, command: ['apt-get', 'upgrade', '-y'], startedAt: 't', snapshot: 'safeupdate-20261126-100000', runDir: dir, ...extra }));
  if (lease) leaveLease(lxd, { runId: 'dead-run', phase, snapshot: 'safeupdate-20261126-100000' }, null);
}

async function recover(interrupt = new AbortController().signal, checks: Parameters<typeof recoverInstance>[1] = null) {
  const report = await recoverInstance(ref, checks, {
    lxd, clock: new FakeClock(), emit: () => {}, runId: 'r2', runDir: join(dir, 'run'), stateDir: dir, toolVersion: 't', interrupt,
  });
  lxd.assertDone();
  return report;
}

describe('recover', () => {
  it('with nothing recorded here and no server lease: exit 0, nothing touched', async () => {
    lxd.expect('getInstance', () => runningContainer());
    const report = await recover();
    expect(report).toMatchObject({ outcome: 'recovered', exitCode: 0 });
    expect(lxd.calls.map((c) => c.method)).toEqual(['getProfile', 'getInstance']);
  });

  it('after a crash before the update began: clears the record, touches nothing', async () => {
    await leaveRecord('snapshotting');
    lxd.expect('getInstance', () => runningContainer());
    const report = await recover();
    expect(report.exitCode).toBe(0);
    expect(report.instances[0]!.plan[0]).toContain('nothing in the instance changed');
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('after a crash during the update: stops, restores the recorded snapshot, starts, checks, clears', async () => {
    await leaveRecord('updating');
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('stopInstance', () => undefined, stopOf(ref));
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(ref, 'safeupdate-20261126-100000'), 'restore of the recorded snapshot');
    lxd.expect('startInstance', () => undefined, startOf(ref));
    lxd.expect('exec', () => execResult(), isSystemdProbe);
    lxd.expect('exec', () => systemdOutput('running'), isSystemdCheck);
    lxd.expect('exec', () => systemdOutput('running'), isSystemdCheck);
    lxd.expect('getInstance', () => runningContainer());
    const report = await recover();
    expect(report).toMatchObject({ outcome: 'recovered', exitCode: 0, command: ['apt-get', 'upgrade', '-y'] });
    expect(report.instances[0]!.rollback.steps.map((s) => s.action)).toEqual(['stop', 'restore', 'start']);
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('when the restore fails: exit 4, and the record stays so that no run starts on an unknown state', async () => {
    await leaveRecord('rolling-back');
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    lxd.expect('restoreSnapshot', () => {
      throw new LxdError('Instance snapshot not found', 'not-found', []);
    }, restoreOf(ref, 'safeupdate-20261126-100000'));
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    const report = await recover();
    expect(report.exitCode).toBe(4);
    expect(report.instances[0]!.error?.message).toContain('rollback failed at restore: Instance snapshot not found');
    expect(JSON.parse(await readFile(recordPath(), 'utf8')).pid).toBe(process.pid);
  });

  it('while the run is still alive: exit 3', async () => {
    await leaveRecord('updating', process.pid);
    lxd.expect('getInstance', () => runningContainer());
    const report = await recover();
    expect(report.exitCode).toBe(3);
    expect(report.instances[0]!.error?.message).toContain('is busy');
  });

  it('judges health by the baseline the run recorded: units that had already failed are not blamed, checks that had failed are not expected', async () => {
    await leaveRecord('updating', 999_999_999, { baseline: { failedUnits: ['old.service'], passedChecks: ['systemd'] } });
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('stopInstance', () => undefined, stopOf(ref));
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(ref, 'safeupdate-20261126-100000'));
    lxd.expect('startInstance', () => undefined, startOf(ref));
    lxd.expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck);
    lxd.expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck);
    lxd.expect('getInstance', () => runningContainer());
    // unit:nginx had failed at baseline: it is not run after the rollback.
    const report = await recover(undefined, [defineCheck('systemd'), defineCheck('unit:nginx')]);
    expect(report).toMatchObject({ outcome: 'recovered', exitCode: 0 });
    expect(report.instances[0]!.checks.map((c) => [c.name, c.ok])).toEqual([['systemd', true]]);
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('without a recorded baseline, an already failed unit still counts (older records)', async () => {
    await leaveRecord('updating');
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('stopInstance', () => undefined, stopOf(ref));
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(ref, 'safeupdate-20261126-100000'));
    lxd.expect('startInstance', () => undefined, startOf(ref));
    lxd.expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck);
    lxd.expect('getInstance', () => runningContainer());
    const report = await recover(undefined, [defineCheck('systemd')]);
    expect(report.exitCode).toBe(4);
    expect(JSON.parse(await readFile(recordPath(), 'utf8')).phase).toBe('rolling-back');
  });

  it('interrupted before the rollback began: nothing changed, the record stays, exit 130', async () => {
    await leaveRecord('updating');
    const controller = new AbortController();
    controller.abort('SIGINT');
    lxd.expect('getInstance', () => runningContainer());
    const report = await recover(controller.signal);
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 130 });
    expect(report.instances[0]!.rollback.performed).toBe(false);
    expect(JSON.parse(await readFile(recordPath(), 'utf8')).runId).toBe('dead-run');
  });

  it('interrupted during the restore: it finishes, checks, clears the record, and exits with the signal', async () => {
    await leaveRecord('updating');
    const controller = new AbortController();
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('stopInstance', () => undefined, stopOf(ref));
    lxd.expect('restoreSnapshot', () => {
      controller.abort('SIGTERM');
    }, restoreOf(ref, 'safeupdate-20261126-100000'));
    lxd.expect('startInstance', () => undefined, startOf(ref));
    lxd.expect('exec', () => systemdOutput('running'), isSystemdCheck);
    lxd.expect('exec', () => systemdOutput('running'), isSystemdCheck);
    lxd.expect('getInstance', () => runningContainer());
    const report = await recover(controller.signal, [defineCheck('systemd')]);
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143 });
    expect(report.instances[0]!.rollback.steps.map((s) => `${s.action}:${s.ok}`)).toEqual(['stop:true', 'restore:true', 'start:true']);
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('a corrupt record: exit 3 naming the file and --forget, nothing touched', async () => {
    await mkdir(join(dir, 'instances'), { recursive: true });
    await writeFile(recordPath(), '{');
    lxd.expect('getInstance', () => runningContainer());
    const report = await recover();
    expect(report.exitCode).toBe(3);
    expect(report.instances[0]!.error?.message).toContain(`the record ${recordPath()} is unreadable`);
    expect(report.instances[0]!.error?.message).toContain('--forget');
  });

  it('after a crash during a rehearsal: stops and deletes the copy that carries the run\'s marker, touches nothing else', async () => {
    const copy = 'web1-rehearsal-dead-run';
    const onCopy = (args: unknown[]) => (args[0] as { name: string }).name === copy;
    await leaveRecord('snapshotting', 999_999_999, { rehearsalCopy: copy });
    lxd.expect('getInstance', () => runningContainer({ name: copy }), onCopy, `read ${copy}`);
    lxd.expect('getConfig', () => ({ 'user.safeupdate.rehearsal': 'dead-run' }), onCopy, `marker of ${copy}`);
    lxd.expect('stopInstance', () => undefined, onCopy, `stop ${copy}`);
    lxd.expect('deleteMarkedInstance', () => ({ deleted: true }), (args) => onCopy(args) && (args[1] as { value: string }).value === 'dead-run', `guarded delete of ${copy}`);
    lxd.expect('getInstance', () => runningContainer());
    const report = await recover();
    expect(report).toMatchObject({ outcome: 'recovered', exitCode: 0 });
    expect(report.instances[0]!.plan[0]).toContain(`delete its rehearsal copy ${copy}`);
    expect(report.instances[0]!.warnings).toEqual([]);
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('after a crash during a rehearsal: a copy whose marker was changed is left alone and named', async () => {
    const copy = 'web1-rehearsal-dead-run';
    await leaveRecord('snapshotting', 999_999_999, { rehearsalCopy: copy });
    lxd.expect('getInstance', () => runningContainer({ name: copy }));
    lxd.expect('getConfig', () => ({ 'user.safeupdate.rehearsal': 'adopted' }));
    lxd.expect('getInstance', () => runningContainer());
    const report = await recover();
    expect(report.exitCode).toBe(0);
    expect(report.instances[0]!.warnings.join('\n')).toContain(`the rehearsal copy ${copy} was left alone`);
  });

  describe('this host\'s record is checked against the server lease before anything is restored', () => {
    const OLD = 'safeupdate-20261126-100000';
    const NEWER = 'safeupdate-20261127-100000';

    it('no lease left (another host has recovered that run): nothing restored, exit 3 naming --forget, the record kept', async () => {
      await leaveRecord('updating', 999_999_999, {}, false);
      lxd.expect('getInstance', () => runningContainer());
      const report = await recover();
      expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
      expect(report.instances[0]!.rollback.performed).toBe(false);
      expect(report.instances[0]!.error?.message).toContain(`this host's record of run dead-run (updating, snapshot ${OLD}) is out of date: the server holds no lease for it`);
      expect(report.instances[0]!.error?.message).toContain('safeupdate recover web1 --forget');
      expect(JSON.parse(await readFile(recordPath(), 'utf8')).runId).toBe('dead-run');
      expect(lxd.profiles.size).toBe(0);
    });

    it('the lease names a later run (kept for a human on another host): that run\'s snapshot is restored, never this host\'s older one', async () => {
      await leaveRecord('updating', 999_999_999, {}, false);
      leaveLease(lxd, { runId: 'run-b', host: 'ci-b', hostId: 'host-b-id', phase: 'rolling-back', snapshot: NEWER, expiresAt: '' }, null);
      lxd.expect('getInstance', () => runningContainer());
      lxd.expect('stopInstance', () => undefined, stopOf(ref), 'forced stop');
      lxd.expect('restoreSnapshot', () => undefined, restoreOf(ref, NEWER), `restore of ${NEWER}`);
      lxd.expect('startInstance', () => undefined, startOf(ref));
      lxd.expect('exec', () => systemdOutput('running'), isSystemdCheck);
      lxd.expect('exec', () => systemdOutput('running'), isSystemdCheck);
      lxd.expect('getInstance', () => runningContainer());
      const report = await recover(undefined, [defineCheck('systemd')]);
      expect(report).toMatchObject({ outcome: 'recovered', exitCode: 0 });
      expect(report.instances[0]!.warnings.join('\n')).toContain('the server lease names run run-b (host ci-b)');
      await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
      expect(lxd.profiles.has(leaseKey(null))).toBe(false);
    });

    it('a recover on this host that failed before, and is run again: its own lease and record agree, and the snapshot is restored', async () => {
      await leaveRecord('updating');
      lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
      lxd.expect('restoreSnapshot', () => Promise.reject(new LxdError('disk full', 'failed', [])), restoreOf(ref, 'safeupdate-20261126-100000'));
      lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
      expect((await recover()).exitCode).toBe(4);
      // That recover's process is gone by now.
      const kept = JSON.parse(await readFile(recordPath(), 'utf8'));
      await writeFile(recordPath(), JSON.stringify({ ...kept, pid: 999_999_999, pidStartedAt: '1' }));
      lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
      lxd.expect('restoreSnapshot', () => undefined, restoreOf(ref, OLD), `restore of ${OLD}`);
      lxd.expect('startInstance', () => undefined, startOf(ref));
      lxd.expect('exec', () => systemdOutput('running'), isSystemdCheck);
      lxd.expect('exec', () => systemdOutput('running'), isSystemdCheck);
      lxd.expect('getInstance', () => runningContainer());
      expect(await recover(undefined, [defineCheck('systemd')])).toMatchObject({ outcome: 'recovered', exitCode: 0 });
      await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
    });
  });
});
