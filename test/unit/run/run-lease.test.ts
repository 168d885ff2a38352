import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execResult, isSystemdCheck, runningContainer, stopOf, systemdOutput } from '../../support/fake-lxd.js';
import { resolved, RunHarness } from './run-harness.js';

// The server lease as a run sees it (runUpdate through its steps): the lock other hosts respect.

let h: RunHarness;
beforeEach(async () => {
  h = new RunHarness();
  await h.setUp();
});
afterEach(() => h.tearDown());

const KEY = 'local:default/safeupdate-lock_default_web1';
const SNAP = 'safeupdate-20261126-100000';
const lease = () => h.lxd.profiles.get(KEY)?.config;

function otherHost(phase: string, renewedAt: number) {
  h.lxd.profiles.set(KEY, {
    description: '', usedBy: [], etag: null,
    config: {
      'user.safeupdate.runId': 'run-b', 'user.safeupdate.hostId': 'other-host', 'user.safeupdate.host': 'ci-b', 'user.safeupdate.pid': '4242',
      'user.safeupdate.instance': 'web1', 'user.safeupdate.startedAt': 't0', 'user.safeupdate.phase': phase, 'user.safeupdate.snapshot': '',
      'user.safeupdate.renewedAt': new Date(renewedAt).toISOString(), 'user.safeupdate.expiresAt': new Date(renewedAt + 60_000).toISOString(),
    },
  });
}

describe('a run and the server lease', () => {
  it('is taken with the record, follows the phases, and is deleted at the end', async () => {
    const phases: string[] = [];
    h.preflight().baselineHealthy();
    h.snapshot([], () => phases.push(lease()!['user.safeupdate.phase']!));
    h.update(() => (phases.push(lease()!['user.safeupdate.phase']!), execResult()));
    h.systemdHealthy().finalStatus();
    const { report } = await h.run();
    expect(report.exitCode).toBe(0);
    expect(phases).toEqual(['snapshotting', 'updating']);
    expect(h.lxd.profiles.size).toBe(0);
  });

  it('held by a run on another host: exit 3 naming it, only read from LXD, nothing of the preflight read beside it reported, this host\'s record released', async () => {
    otherHost('updating', h.clock.now());
    h.preflight(runningContainer({ devices: { root: { type: 'disk', path: '/', pool: 'default' }, data: { type: 'disk', path: '/srv', source: '/data' } } }));
    h.finalStatus();
    const { report, item } = await h.run();
    expect(new Set(h.lxd.calls.map((call) => call.method))).toEqual(new Set(['resolveRef', 'checkReachable', 'getInstance', 'getSpace', 'exec', 'createProfile', 'getProfile']));
    // As the sequential run, which never reached its preflight: no step, no space, no warning about the uncovered /srv.
    expect(item).toMatchObject({ steps: [], checks: [], warnings: [], space: null, uncoveredVolumes: [] });
    expect(h.stepStarts()).toEqual([]);
    expect(h.warnings()).toEqual([]);
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error).toEqual({
      step: 'lock',
      message: `web1 is busy: run run-b on host ci-b (pid 4242, started t0) holds the server lease safeupdate-lock_default_web1, updating; it expires ${new Date(h.clock.now() + 60_000).toISOString()} unless renewed`,
    });
    await expect(readFile(h.recordPath)).rejects.toThrow('ENOENT');
    expect(lease()!['user.safeupdate.runId']).toBe('run-b');
  });

  it('left expired by a run on another host before it changed anything: taken over, with a warning naming it', async () => {
    otherHost('preparing', h.clock.now() - 10 * 60_000);
    h.preflight().baselineHealthy().snapshot().update().systemdHealthy().finalStatus();
    const { report } = await h.run();
    expect(report.exitCode).toBe(0);
    expect(h.warnings()).toContainEqual(expect.stringMatching(/^took over the server lease of run run-b on host ci-b \(pid 4242\), which stopped renewing it at .* before it changed anything$/));
  });

  it('lost before the update (another host holds it now): the update never starts, exit 3', async () => {
    h.preflight().baselineHealthy().snapshot([], () => otherHost('preparing', h.clock.now())).finalStatus();
    const { report, item } = await h.run();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error).toEqual({
      step: 'update',
      message: 'the server lease safeupdate-lock_default_web1 was lost: run run-b on host ci-b (pid 4242, started t0) holds it now; not starting the update, which a crash could then leave unrecoverable',
    });
    expect(h.warnings()).toContain('the server lease safeupdate-lock_default_web1 was lost: run run-b on host ci-b (pid 4242, started t0) holds it now; no further change is started');
    expect(lease()!['user.safeupdate.runId']).toBe('run-b');
  });

  it('a run that ends needing a human keeps it, never expiring, for recover', async () => {
    h.preflight().baselineHealthy().snapshot().update(execResult({ exitCode: 100 })).evidence().stop().restoreAndStart();
    h.lxd.expect('exec', () => systemdOutput('degraded', ['db.service']), isSystemdCheck);
    h.finalStatus();
    const { report } = await h.run();
    expect(report.exitCode).toBe(4);
    expect(lease()).toMatchObject({ 'user.safeupdate.runId': 'run-1', 'user.safeupdate.phase': 'rolling-back', 'user.safeupdate.snapshot': SNAP, 'user.safeupdate.expiresAt': '' });
  });

  describe('lost once the update has begun (another host\'s recover holds it): nothing more is changed, exit 4', () => {
    const HOLDER = 'run run-b on host ci-b (pid 4242, started t0)';
    const recordKept = async () => expect(JSON.parse(await readFile(h.recordPath, 'utf8'))).toMatchObject({ runId: 'run-1', phase: 'updating' });

    it('a failed update is not rolled back: no evidence, stop, restore or start; the error names the holder and what this run had done', async () => {
      h.preflight().baselineHealthy().snapshot().update(() => (otherHost('rolling-back', h.clock.now()), execResult({ exitCode: 100 }))).finalStatus();
      const { report, item } = await h.run();
      expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
      expect(item.rollback.performed).toBe(false);
      expect(item.error!.step).toBe('lease');
      expect(item.error!.message).toContain(`the server lease safeupdate-lock_default_web1 was lost: ${HOLDER} holds it now`);
      expect(item.error!.message).toContain(`held now by ${HOLDER}, rolling-back`);
      expect(item.error!.message).toContain(`it had done: snapshot (${SNAP}, expires`);
      expect(item.error!.message).toContain('update (exit 100)');
      expect(lease()!['user.safeupdate.runId']).toBe('run-b');
      await recordKept();
    });

    it('a good update runs no --keep deletions and no --copy-to, and is not "updated" (exit 0)', async () => {
      h.preflight().baselineHealthy().snapshot().update(() => (otherHost('rolling-back', h.clock.now()), execResult())).systemdHealthy().finalStatus();
      const { report, item } = await h.run({ keep: 1, copyTo: 'backup' });
      expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
      expect(item.error!.message).toContain('update (exit 0)');
      expect(item.copy).toBeNull();
      await recordKept();
    });

    it('lost between the rollback\'s stop and its restore: the restore and the start never begin', async () => {
      h.preflight().baselineHealthy().snapshot().update(execResult({ exitCode: 100 })).evidence();
      h.lxd.expect('getInstance', () => runningContainer());
      h.lxd.expect('stopInstance', () => otherHost('rolling-back', h.clock.now()), stopOf(resolved), 'forced stop');
      h.finalStatus('Stopped');
      const { report, item } = await h.run();
      expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
      expect(item.rollback.steps.map((step) => step.action)).toEqual(['stop']);
      expect(item.error!.message).toContain('update (exit 100), stop (done)');
      expect(item.error!.message).toContain(`held now by ${HOLDER}, rolling-back`);
      expect(item.finalStatus).toBe('Stopped');
    });

    it('with --no-rollback: the error is the lost lease, not only the failed update', async () => {
      h.preflight().baselineHealthy().snapshot().update(() => (otherHost('rolling-back', h.clock.now()), execResult({ exitCode: 100 }))).finalStatus();
      const { report, item } = await h.run({ rollback: false });
      expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
      expect(item.error!.message).toContain(`held now by ${HOLDER}`);
    });
  });
});
