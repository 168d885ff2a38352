import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { executePrune, MissingInstance, planPrune, pruneLocked, type PrunePlan } from '../../../src/snapshots/prune.js';
import { InstanceBusy, InstanceRecordFile } from '../../../src/state/instance-record.js';
import { FakeLxd, runningContainer } from '../../support/fake-lxd.js';

const ref = { remote: 'backup', name: 'web1', project: 'prod' };
const snap = (name: string, createdAt: string) => ({ name, createdAt, expiresAt: null, stateful: false, sizeBytes: null });
const now = new Date('2026-11-26T12:00:00Z');
const SNAPS = [
  snap('safeupdate-a', '2026-11-26T10:00:00Z'),
  snap('safeupdate-b', '2026-11-20T10:00:00Z'),
  snap('safeupdate-c', '2026-11-10T10:00:00Z'),
  snap('before-migration', '2026-01-01T00:00:00Z'),
];
const sameRef = (args: unknown[]) => JSON.stringify(args[0]) === JSON.stringify(ref);

describe('planning a prune (reads only)', () => {
  it('asks LXD for the instance and its snapshots on the instance remote, and decides', async () => {
    const lxd = new FakeLxd()
      .expect('checkReachable', () => undefined, (a) => a[0] === 'backup', 'the remote answers')
      .expect('getInstance', () => runningContainer(), sameRef)
      .expect('listSnapshots', () => SNAPS, sameRef);
    const plan = await planPrune(lxd, ref, { keepLast: 1 }, now);
    lxd.assertDone();
    expect(plan.instance).toBe('backup:web1');
    expect(plan.ref).toBe(ref);
    expect(plan.decisions.map((d) => [d.snapshot.name, d.keep])).toEqual([
      ['safeupdate-a', true],
      ['safeupdate-b', false],
      ['safeupdate-c', false],
      ['before-migration', true],
    ]);
  });

  it('a missing instance is an error naming it, before any snapshot is listed', async () => {
    const lxd = new FakeLxd().expect('checkReachable', () => undefined).expect('getInstance', () => null);
    const planning = planPrune(lxd, ref, { keepLast: 1 }, now);
    await expect(planning).rejects.toThrow(MissingInstance);
    await expect(planning).rejects.toThrow(/^instance backup:web1 does not exist$/);
    lxd.assertDone();
  });

  it('an unreachable remote stops it before the instance is looked up', async () => {
    const lxd = new FakeLxd().expect('checkReachable', () => {
      throw new LxdError('LXD is not reachable', 'unreachable', []);
    });
    await expect(planPrune(lxd, ref, { keepLast: 1 }, now)).rejects.toThrow('LXD is not reachable');
    lxd.assertDone();
  });
});

describe('executing a prune', () => {
  const plan = (): PrunePlan => ({
    instance: 'backup:web1',
    ref,
    decisions: [
      { snapshot: SNAPS[0]!, keep: true, reason: 'keep-last 1' },
      { snapshot: SNAPS[1]!, keep: false, reason: 'no rule keeps it' },
      { snapshot: SNAPS[2]!, keep: false, reason: 'no rule keeps it' },
      { snapshot: SNAPS[3]!, keep: true, reason: 'not made by safeupdate' },
    ],
  });

  it('deletes what may go, each checked to still be a snapshot of the instance first, and lists what it kept and why', async () => {
    const lxd = new FakeLxd()
      .expect('listSnapshots', () => SNAPS, sameRef, 'b still there?')
      .expect('deleteSnapshot', () => undefined, (a) => sameRef(a) && a[1] === 'safeupdate-b', 'delete b')
      .expect('listSnapshots', () => SNAPS.filter((s) => s.name !== 'safeupdate-b'), sameRef, 'c still there?')
      .expect('deleteSnapshot', () => undefined, (a) => sameRef(a) && a[1] === 'safeupdate-c', 'delete c');
    expect(await executePrune(lxd, plan())).toStrictEqual({
      instance: 'backup:web1',
      deleted: ['safeupdate-b', 'safeupdate-c'],
      kept: [
        { name: 'safeupdate-a', reason: 'keep-last 1' },
        { name: 'before-migration', reason: 'not made by safeupdate' },
      ],
      failed: [],
    });
    lxd.assertDone();
  });

  it('a snapshot that is gone is not deleted but reported; the next one is still tried', async () => {
    const lxd = new FakeLxd()
      .expect('listSnapshots', () => [SNAPS[0], SNAPS[2]])
      .expect('listSnapshots', () => [SNAPS[0], SNAPS[2]])
      .expect('deleteSnapshot', () => undefined, (a) => a[1] === 'safeupdate-c');
    const outcome = await executePrune(lxd, plan());
    lxd.assertDone();
    expect(outcome.deleted).toEqual(['safeupdate-c']);
    expect(outcome.failed).toEqual([{ name: 'safeupdate-b', message: 'backup:web1/safeupdate-b is no longer a snapshot of backup:web1' }]);
  });

  it("a deletion LXD refuses is reported with LXD's message, and does not stop the others", async () => {
    const lxd = new FakeLxd()
      .expect('listSnapshots', () => SNAPS)
      .expect('deleteSnapshot', () => {
        throw new LxdError('Error: snapshot is in use', 'failed', []);
      })
      .expect('listSnapshots', () => SNAPS)
      .expect('deleteSnapshot', () => undefined);
    const outcome = await executePrune(lxd, plan());
    lxd.assertDone();
    expect(outcome.failed).toEqual([{ name: 'safeupdate-b', message: 'Error: snapshot is in use' }]);
    expect(outcome.deleted).toEqual(['safeupdate-c']);
  });

  it('a plan that keeps everything makes no call to LXD', async () => {
    const lxd = new FakeLxd();
    const keepAll: PrunePlan = { ...plan(), decisions: plan().decisions.map((d) => ({ ...d, keep: true })) };
    const outcome = await executePrune(lxd, keepAll);
    lxd.assertDone();
    expect(lxd.calls).toEqual([]);
    expect(outcome.deleted).toEqual([]);
    expect(outcome.kept.map((k) => k.name)).toEqual(['safeupdate-a', 'safeupdate-b', 'safeupdate-c', 'before-migration']);
  });
});

describe('prune under the instance lock', () => {
  // The plan names the instance as given; the lock is keyed by what the client resolves it to.
  const given = { remote: null, name: 'web1', project: null };
  const resolved = { remote: 'local', name: 'web1', project: 'default' };
  const isResolved = (args: unknown[]) => JSON.stringify(args[0]) === JSON.stringify(resolved);
  const plan = (): PrunePlan => ({
    instance: 'web1',
    ref: given,
    decisions: [
      { snapshot: SNAPS[0]!, keep: true, reason: 'keep-last 1' },
      { snapshot: SNAPS[1]!, keep: false, reason: 'no rule keeps it' },
    ],
  });

  async function withStateDir(test: (dir: string) => Promise<void>) {
    const dir = await mkdtemp(join(tmpdir(), 'safeupdate-prune-'));
    try {
      await test(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('holds the lock while it deletes, as a prune run any other run sees, and releases it after', async () => {
    await withStateDir(async (dir) => {
      let seenWhileDeleting: unknown = null;
      const lxd = new FakeLxd()
        .expect('listSnapshots', () => SNAPS, isResolved)
        .expect('deleteSnapshot', async () => {
          seenWhileDeleting = await new InstanceRecordFile(dir, resolved)
            .acquire({ runId: 'other', host: 'h', instance: 'web1', ref: resolved, command: ['apt-get', 'upgrade'], startedAt: 't', runDir: '/x' })
            .catch((error: unknown) => error);
        }, (a) => isResolved(a) && a[1] === 'safeupdate-b');
      const outcome = await pruneLocked(lxd, plan(), dir, 'prune-run');
      lxd.assertDone();
      expect(outcome).toStrictEqual({
        instance: 'web1',
        deleted: ['safeupdate-b'],
        kept: [{ name: 'safeupdate-a', reason: 'keep-last 1' }],
        failed: [],
      });
      expect(seenWhileDeleting).toBeInstanceOf(InstanceBusy);
      expect((seenWhileDeleting as InstanceBusy).holder).toMatchObject({ runId: 'prune-run', instance: 'web1', ref: resolved, command: ['prune'], runDir: '', pid: process.pid });
      await expect(readFile(join(dir, 'instances', 'local_default_web1.json'))).rejects.toThrow('ENOENT');
    });
  });

  it('skips an instance another run holds: nothing deleted, the holder named, its record left alone', async () => {
    await withStateDir(async (dir) => {
      const holder = new InstanceRecordFile(dir, resolved);
      await holder.acquire({ runId: 'update-run', host: 'h', instance: 'web1', ref: resolved, command: ['apt-get', 'upgrade'], startedAt: '2026-11-26T09:00:00.000Z', runDir: '/x' });
      const lxd = new FakeLxd();
      const outcome = await pruneLocked(lxd, plan(), dir, 'prune-run');
      lxd.assertDone();
      expect(lxd.calls.map((c) => c.method)).toEqual(['resolveRef']);
      expect(outcome).toStrictEqual({
        instance: 'web1',
        deleted: [],
        kept: [],
        failed: [],
        skipped: `web1 is busy: run update-run (pid ${process.pid}, started 2026-11-26T09:00:00.000Z) is preparing it with ["apt-get","upgrade"]`,
      });
      expect(JSON.parse(await readFile(join(dir, 'instances', 'local_default_web1.json'), 'utf8')).runId).toBe('update-run');
      await holder.release();
    });
  });

  it("skips an instance whose crashed run awaits recovery: that run's snapshot is what recover needs", async () => {
    await withStateDir(async (dir) => {
      await mkdir(join(dir, 'instances'), { recursive: true });
      await writeFile(join(dir, 'instances', 'local_default_web1.json'), JSON.stringify({
        runId: 'crashed', pid: 999_999_999, pidStartedAt: '1', host: 'h', instance: 'web1', ref: resolved, command: ['apt-get', 'upgrade'],
        startedAt: 't', phase: 'updating', snapshot: 'safeupdate-b', runDir: '/x',
      }));
      const lxd = new FakeLxd();
      const outcome = await pruneLocked(lxd, plan(), dir, 'prune-run');
      lxd.assertDone();
      expect(outcome.deleted).toEqual([]);
      expect(outcome.skipped).toMatch(/^web1 awaits recovery: run crashed .* with snapshot safeupdate-b; run: safeupdate recover local:web1 --project default$/);
    });
  });

  it('skips an instance whose record is unreadable', async () => {
    await withStateDir(async (dir) => {
      await mkdir(join(dir, 'instances'), { recursive: true });
      await writeFile(join(dir, 'instances', 'local_default_web1.json'), '{ half a rec');
      const outcome = await pruneLocked(new FakeLxd(), plan(), dir, 'prune-run');
      expect(outcome.deleted).toEqual([]);
      expect(outcome.skipped).toContain('is unreadable');
    });
  });

  it('a state folder it cannot use is an error, not a skipped instance', async () => {
    await withStateDir(async (dir) => {
      await writeFile(join(dir, 'not-a-folder'), '');
      await expect(pruneLocked(new FakeLxd(), plan(), join(dir, 'not-a-folder'), 'prune-run')).rejects.toThrow(/ENOTDIR|EEXIST/);
    });
  });
});
