import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { recoverInstance } from '../../../src/run/recover.js';
import { FakeClock } from '../../support/fake-clock.js';
import { execResult, FakeLxd, isSystemdCheck, isSystemdProbe, runningContainer, systemdOutput } from '../../support/fake-lxd.js';

let dir: string;
let lxd: FakeLxd;
const ref = { remote: null, name: 'web1', project: null };
const recordPath = () => join(dir, 'instances', 'local_default_web1.json');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-recover-'));
  lxd = new FakeLxd();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function leaveRecord(phase: string, pid = 999_999_999) {
  await mkdir(join(dir, 'instances'), { recursive: true });
  await writeFile(recordPath(), JSON.stringify({ runId: 'dead-run', pid, pidStartedAt: pid === process.pid ? null : '1', instance: 'web1', ref, phase, command: ['apt-get', 'upgrade', '-y'], startedAt: 't', snapshot: 'safeupdate-20261126-100000', runDir: dir }));
}

async function recover() {
  const report = await recoverInstance(ref, null, {
    lxd, clock: new FakeClock(), emit: () => {}, runId: 'r2', runDir: join(dir, 'run'), stateDir: dir, toolVersion: 't', interrupt: new AbortController().signal,
  });
  lxd.assertDone();
  return report;
}

describe('recover', () => {
  it('with nothing recorded: exit 0, nothing touched', async () => {
    lxd.expect('getInstance', () => runningContainer());
    const report = await recover();
    expect(report).toMatchObject({ outcome: 'recovered', exitCode: 0 });
    expect(lxd.calls.map((c) => c.method)).toEqual(['getInstance']);
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
    lxd.expect('stopInstance', () => undefined);
    lxd.expect('restoreSnapshot', () => undefined, (args) => args[1] === 'safeupdate-20261126-100000', 'restore of the recorded snapshot');
    lxd.expect('startInstance', () => undefined);
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
    });
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
});
