import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { syncInstances } from '../../../src/run/sync.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeLxd, runningContainer } from '../../support/fake-lxd.js';

const ref = (name: string) => ({ remote: null, name, project: null });
const taken = (name: string) => ({ name, createdAt: '2026-11-26T10:00:00Z', expiresAt: null, stateful: false, sizeBytes: null });
const named = (name: string) => (args: unknown[]) => (args[0] as { name: string }).name === name;

let dir: string;
let clock: FakeClock;
let lxd: FakeLxd;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-sync-'));
  clock = new FakeClock();
  lxd = new FakeLxd();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function sync(names: string[], interrupt = new AbortController().signal) {
  return syncInstances(names.map(ref), 'backup', {
    lxd, clock, emit: () => {}, runId: 'r', runDir: dir, stateDir: dir, toolVersion: 't', interrupt,
  });
}

/** The source is there, the server has no copy yet, and the refresh goes through (or fails). */
function copies(name: string, outcome: 'ok' | Error, takesMs = 0) {
  lxd
    .expect('checkReachable', () => undefined, (a) => a[0] === null, `${name}: the source answers`)
    .expect('getInstance', () => runningContainer({ name }), named(name), `${name}: exists`)
    .expect('checkReachable', () => undefined, (a) => a[0] === 'backup', `${name}: the server answers`)
    .expect('getInstance', () => null, named(name), `${name}: no copy on the server yet`)
    .expect('refreshCopy', () => {
      clock.advance(takesMs);
      if (outcome !== 'ok') throw outcome;
    }, named(name), `${name}: refresh`);
  if (outcome === 'ok') lxd.expect('listSnapshots', () => [taken('safeupdate-a')], named(name), `${name}: what the server has now`);
}

describe('sync: the report', () => {
  it('all copied: exit 0, no error on any instance, the command and the time it took', async () => {
    lxd.expect('checkReachable', () => undefined, (a) => a[0] === 'backup', 'the server answers');
    copies('web1', 'ok', 1_500);
    copies('db1', 'ok', 500);
    const report = await sync(['web1', 'db1']);
    lxd.assertDone();
    expect(report).toMatchObject({ outcome: 'synced', exitCode: 0, command: ['sync', 'backup:'], durationMs: 2_000, interruptedBy: null });
    expect(report.instances.map((i) => [i.instance, i.outcome, i.error])).toEqual([
      ['web1', 'synced', null],
      ['db1', 'synced', null],
    ]);
    expect(report.instances[0]!.copy).toMatchObject({ remote: 'backup', ok: true, durationMs: 1_500, transferredSnapshots: ['safeupdate-a'] });
  });

  it('a failed copy beside a good one: exit 1, the error on the copy step with LXD\'s message', async () => {
    lxd.expect('checkReachable', () => undefined);
    copies('web1', 'ok');
    copies('db1', new LxdError('Failed instance creation: no space left', 'failed', []));
    const report = await sync(['web1', 'db1']);
    lxd.assertDone();
    expect(report).toMatchObject({ outcome: 'sync-failed', exitCode: 1 });
    expect(report.instances[0]!.error).toBeNull();
    expect(report.instances[1]!.outcome).toBe('sync-failed');
    expect(report.instances[1]!.error).toEqual({ step: 'copy', message: 'Failed instance creation: no space left' });
  });

  it('a missing instance is a preflight error naming it', async () => {
    lxd
      .expect('checkReachable', () => undefined)
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => null);
    const report = await sync(['web9']);
    lxd.assertDone();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(report.instances[0]!.error).toEqual({ step: 'preflight', message: 'instance web9 does not exist' });
  });

  it("an unreachable source is a preflight error with LXD's message; the next instance is still copied", async () => {
    lxd
      .expect('checkReachable', () => undefined, (a) => a[0] === 'backup')
      .expect('checkReachable', () => {
        throw new LxdError('LXD is not reachable: connection refused', 'unreachable', []);
      }, (a) => a[0] === 'gone');
    copies('db1', 'ok');
    const report = await syncInstances([{ remote: 'gone', name: 'web1', project: null }, ref('db1')], 'backup', {
      lxd, clock, emit: () => {}, runId: 'r', runDir: dir, stateDir: dir, toolVersion: 't', interrupt: new AbortController().signal,
    });
    lxd.assertDone();
    expect(report.instances.map((i) => i.outcome)).toEqual(['not-started', 'synced']);
    expect(report.instances[0]!.instance).toBe('gone:web1');
    expect(report.instances[0]!.error).toEqual({ step: 'preflight', message: 'LXD is not reachable: connection refused' });
    expect(report.exitCode).toBe(3);
  });

  it('an unreachable server is named on every instance, and nothing is copied', async () => {
    lxd.expect('checkReachable', () => {
      throw new LxdError('Remote backup does not exist', 'unreachable', []);
    });
    const report = await sync(['web1', 'db1']);
    lxd.assertDone();
    expect(report.instances.map((i) => i.error)).toEqual([
      { step: 'preflight', message: 'the snapshot server backup: is not reachable: Remote backup does not exist' },
      { step: 'preflight', message: 'the snapshot server backup: is not reachable: Remote backup does not exist' },
    ]);
  });

  it('an error that is not an LXD error is not mistaken for an unreachable server or source', async () => {
    lxd.expect('checkReachable', () => {
      throw new TypeError('a bug');
    });
    await expect(sync(['web1'])).rejects.toThrow('a bug');
    lxd = new FakeLxd()
      .expect('checkReachable', () => undefined)
      .expect('checkReachable', () => {
        throw new TypeError('another bug');
      });
    await expect(sync(['web1'])).rejects.toThrow('another bug');
  });

  it('interrupted before the first copy: every instance says so on the copy step, exit 143', async () => {
    const controller = new AbortController();
    controller.abort('SIGTERM');
    lxd.expect('checkReachable', () => undefined);
    const report = await sync(['web1', 'db1'], controller.signal);
    lxd.assertDone();
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143, interruptedBy: 'SIGTERM' });
    expect(report.instances.map((i) => i.error)).toEqual([
      { step: 'copy', message: 'not copied: interrupted by SIGTERM' },
      { step: 'copy', message: 'not copied: interrupted by SIGTERM' },
    ]);
  });
});
