import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { syncInstances } from '../../../src/run/sync.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeLxd, runningContainer } from '../../support/fake-lxd.js';

const ref = (name: string) => ({ remote: null, name, project: null });
const taken = (name: string) => ({ name, createdAt: '2026-11-26T10:00:00Z', expiresAt: null, stateful: false, sizeBytes: null });

async function sync(lxd: FakeLxd, names: string[], interrupt = new AbortController().signal) {
  const dir = await mkdtemp(join(tmpdir(), 'safeupdate-sync-'));
  const report = await syncInstances(names.map(ref), 'backup', {
    lxd, clock: new FakeClock(), emit: () => {}, runId: 'r', runDir: dir, stateDir: dir, toolVersion: 't', interrupt,
  });
  lxd.assertDone();
  return report;
}

describe('sync to a snapshot server', () => {
  it('reports the snapshots it sent: exit 0', async () => {
    const lxd = new FakeLxd()
      .expect('checkReachable', () => undefined, (a) => a[0] === 'backup', 'server reachable')
      .expect('checkReachable', () => undefined, (a) => a[0] === null, 'source reachable')
      .expect('getInstance', () => runningContainer())
      .expect('checkReachable', () => undefined, (a) => a[0] === 'backup')
      .expect('getInstance', () => runningContainer(), (a) => (a[0] as { remote: string }).remote === 'backup', 'the copy on the server')
      .expect('listSnapshots', () => [taken('safeupdate-a')])
      .expect('refreshCopy', () => undefined, (a) => a[1] === 'backup')
      .expect('listSnapshots', () => [taken('safeupdate-a'), taken('safeupdate-b')]);
    const report = await sync(lxd, ['web1']);
    expect(report).toMatchObject({ outcome: 'synced', exitCode: 0 });
    expect(report.instances[0]!.copy).toMatchObject({ remote: 'backup', ok: true, transferredSnapshots: ['safeupdate-b'] });
  });

  it('an unreachable server: exit 3, nothing copied', async () => {
    const lxd = new FakeLxd().expect('checkReachable', () => {
      throw new LxdError("LXD is not reachable: Remote backup doesn't exist", 'unreachable', []);
    });
    const report = await sync(lxd, ['web1']);
    expect(report.exitCode).toBe(3);
    expect(report.instances[0]!.error?.message).toContain('the snapshot server backup: is not reachable');
  });

  it('a failed copy beside a missing instance makes the run 1 (the one exit rule: 1 outranks 3)', async () => {
    const lxd = new FakeLxd()
      .expect('checkReachable', () => undefined)
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => runningContainer())
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => null)
      .expect('refreshCopy', () => {
        throw new LxdError('Failed instance creation: no space left', 'failed', []);
      })
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => null);
    const report = await sync(lxd, ['web1', 'web2']);
    expect(report.instances.map((i) => i.outcome)).toEqual(['sync-failed', 'not-started']);
    expect(report.exitCode).toBe(1);
    expect(report.instances[0]!.error?.message).toContain('no space left');
  });

  it('SIGINT during a copy: that copy finishes, the next is not begun, exit 130', async () => {
    const controller = new AbortController();
    const lxd = new FakeLxd()
      .expect('checkReachable', () => undefined, (a) => a[0] === 'backup', 'server reachable')
      .expect('checkReachable', () => undefined, (a) => a[0] === null, 'source reachable')
      .expect('getInstance', () => runningContainer())
      .expect('checkReachable', () => undefined, (a) => a[0] === 'backup')
      .expect('getInstance', () => null, (a) => (a[0] as { remote: string }).remote === 'backup', 'no copy on the server yet')
      .expect('refreshCopy', () => {
        controller.abort('SIGINT');
      }, (a) => (a[0] as { name: string }).name === 'web1')
      .expect('listSnapshots', () => [taken('safeupdate-a')]);
    const report = await sync(lxd, ['web1', 'db1'], controller.signal);
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 130, interruptedBy: 'SIGINT' });
    expect(report.instances.map((item) => item.outcome)).toEqual(['synced', 'interrupted']);
    expect(report.instances[1]!.error?.message).toBe('not copied: interrupted by SIGINT');
  });
});
