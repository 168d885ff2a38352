import { afterEach, describe, expect, it } from 'vitest';
import { BACKUP_REMOTE, demoVersion, launch, lxc, publish, removeAll, safeupdate, snapshots, status, track, uniqueName, UPGRADE } from './lab.js';

afterEach(removeAll);

const names = async (instance: string) => (await snapshots(instance)).map((s) => s.name).sort();

describe('the snapshot lifecycle never deletes an instance', () => {
  it('prune on a stopped instance deletes only older safeupdate snapshots; dry run and no confirmation change nothing', async () => {
    const name = await launch('prune');
    for (const snap of ['safeupdate-1', 'safeupdate-2', 'safeupdate-3', 'manual-keep']) await lxc('snapshot', name, snap);
    await lxc('stop', '--force', name);

    const dry = await safeupdate(['prune', name, '--keep-last', '1', '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stderr).toContain('would delete safeupdate-1');
    expect(await names(name)).toEqual(['manual-keep', 'safeupdate-1', 'safeupdate-2', 'safeupdate-3']);

    const unconfirmed = await safeupdate(['prune', name, '--keep-last', '1']);
    expect(unconfirmed.exitCode).toBe(2);
    expect(unconfirmed.stderr).toContain('--yes');
    expect((await names(name)).length).toBe(4);

    for (const [args, code] of [
      [['prune', `${name}/safeupdate-1`, '--keep-last', '1', '--yes'], 2],
      [['prune', '', '--keep-last', '1', '--yes'], 2],
      [['prune', name, '--yes'], 2],
      [['prune', name, '--keep-last', '0', '--yes'], 2],
      [['prune', uniqueName('absent'), '--keep-last', '1', '--yes'], 3],
    ] as const) {
      const run = await safeupdate([...args]);
      expect(run.exitCode, args.join(' ')).toBe(code);
    }
    expect((await names(name)).length).toBe(4);

    const pruned = await safeupdate(['prune', name, '--keep-last', '1', '--yes', '--json']);
    expect(pruned.exitCode, pruned.stderr).toBe(0);
    expect(JSON.parse(pruned.stdout).instances[0].deleted.sort()).toEqual(['safeupdate-1', 'safeupdate-2']);
    expect(await names(name)).toEqual(['manual-keep', 'safeupdate-3']);
    expect(await status(name)).toBe('Stopped');
  });

  it('rollback restores a named snapshot of this instance only, after confirmation', async () => {
    const name = await launch('rollback');
    const other = await launch('other');
    await lxc('snapshot', other, 'safeupdate-elsewhere');
    await publish(name, '1.1');
    const updated = await safeupdate([name, '--json', '--', ...UPGRADE]);
    expect(updated.exitCode, updated.stderr).toBe(0);
    const taken = updated.report!.instances[0]!.snapshot.name!;
    expect(await demoVersion(name)).toBe('1.1');

    const listed = await safeupdate(['snapshots', name, '--json']);
    expect(JSON.parse(listed.stdout).snapshots).toMatchObject([{ name: taken, madeBySafeupdate: true }]);

    expect((await safeupdate(['rollback', name])).exitCode).toBe(2);
    expect((await safeupdate(['rollback', name, 'a/b', '--yes'])).exitCode).toBe(2);
    expect((await safeupdate(['rollback', name, 'safeupdate-elsewhere', '--yes'])).exitCode).toBe(3);
    expect((await safeupdate(['rollback', name, '', '--yes'])).exitCode).toBe(2);
    // A name that is an instance, not a snapshot of this one: refused, and both instances live on.
    expect((await safeupdate(['rollback', name, other, '--yes'])).exitCode).toBe(3);
    expect((await safeupdate(['prune', other, name, '--keep-last', '1', '--yes'])).exitCode).toBe(0);
    expect(await status(other)).toBe('Running');
    expect(await names(other)).toEqual(['safeupdate-elsewhere']);
    expect(await demoVersion(name)).toBe('1.1');

    const restored = await safeupdate(['rollback', name, '--yes', '--json', '--check', 'unit:safeupdate-demo']);
    expect(restored.exitCode, restored.stderr).toBe(0);
    expect(restored.report!.instances[0]!.snapshot.name).toBe(taken);
    expect(await demoVersion(name)).toBe('1.0');
    expect(await status(name)).toBe('Running');
    expect(await status(other)).toBe('Running');

    await lxc('stop', '--force', name);
    const stopped = await safeupdate(['rollback', name, taken, '--yes']);
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    expect(await status(name)).toBe('Stopped');
  });

  it('--keep 1 on a run keeps only the newest safeupdate snapshot', async () => {
    const name = await launch('keep');
    await lxc('snapshot', name, 'safeupdate-older');
    await publish(name, '1.1');
    const run = await safeupdate([name, '--keep', '1', '--json', '--', ...UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(await names(name)).toEqual([run.report!.instances[0]!.snapshot.name]);
  });
});

describe("LXD's own scheduled snapshots", () => {
  it('schedule sets, shows and removes snapshots.schedule, expiry and pattern; bad values set nothing', async () => {
    const name = await launch('schedule');
    const set = await safeupdate(['schedule', name, '--every', '@daily', '--expiry', '14d', '--pattern', 'auto-%d']);
    expect(set.exitCode, set.stderr).toBe(0);
    expect(await lxc('config', 'get', name, 'snapshots.schedule')).toBe('@daily');
    expect(await lxc('config', 'get', name, 'snapshots.expiry')).toBe('2w');
    expect(await lxc('config', 'get', name, 'snapshots.pattern')).toBe('auto-%d');

    for (const args of [['--every', 'sometimes'], ['--every', '@daily', '--expiry', '2 weeks'], ['--every', '@daily', '--pattern', 'safeupdate-%d']]) {
      const bad = await safeupdate(['schedule', name, ...args]);
      expect(bad.exitCode, args.join(' ')).toBe(2);
    }
    expect(await lxc('config', 'get', name, 'snapshots.schedule')).toBe('@daily');

    const off = await safeupdate(['schedule', name, '--off']);
    expect(off.exitCode, off.stderr).toBe(0);
    expect(await lxc('config', 'get', name, 'snapshots.schedule')).toBe('');
    expect(await lxc('config', 'get', name, 'snapshots.expiry')).toBe('');

    // docs/snapshots.md's own example sets no pattern; the client refuses to unset a key that is not set,
    // so only what is there is unset, and --off twice is fine.
    const noPattern = await safeupdate(['schedule', name, '--every', '0 3 * * 1-5', '--expiry', '36h']);
    expect(noPattern.exitCode, noPattern.stderr).toBe(0);
    expect(await lxc('config', 'get', name, 'snapshots.expiry')).toBe('1d 12H');
    for (const attempt of [1, 2]) {
      const again = await safeupdate(['schedule', name, '--off']);
      expect(again.exitCode, `--off #${attempt}: ${again.stderr}`).toBe(0);
    }
    expect(await lxc('config', 'get', name, 'snapshots.schedule')).toBe('');
  });
});

describe('a snapshot server (a second LXD daemon on loopback)', () => {
  it('--copy-to refreshes the instance with its new snapshot after a good update; sync sends only what is missing', async () => {
    const name = await launch('copyto');
    track(`${BACKUP_REMOTE}:${name}`);
    await publish(name, '1.1');
    const run = await safeupdate([name, '--json', '--copy-to', `${BACKUP_REMOTE}:`, '--', ...UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(0);
    const taken = run.report!.instances[0]!.snapshot.name!;
    expect(run.report!.instances[0]!.copy).toMatchObject({ remote: BACKUP_REMOTE, ok: true, transferredSnapshots: [taken] });
    expect(await names(`${BACKUP_REMOTE}:${name}`)).toEqual([taken]);

    await lxc('snapshot', name, 'safeupdate-later');
    const sync = await safeupdate(['sync', name, `${BACKUP_REMOTE}:`, '--json']);
    expect(sync.exitCode, sync.stderr).toBe(0);
    expect(sync.report!.instances[0]!.copy!.transferredSnapshots).toEqual(['safeupdate-later']);
    expect(sync.report!.instances[0]!.copy!.durationMs).toBeGreaterThan(0);
    expect(await names(`${BACKUP_REMOTE}:${name}`)).toEqual(['safeupdate-later', taken].sort());
  });

  it('an unreachable snapshot server does not undo a good update: exit 5; sync to it: exit 3', async () => {
    const name = await launch('nocopy');
    await publish(name, '1.1');
    const run = await safeupdate([name, '--json', '--copy-to', 'nosuchserver:', '--', ...UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(5);
    expect(run.report!.outcome).toBe('updated');
    expect(run.report!.instances[0]!.copy!.ok).toBe(false);
    expect(await demoVersion(name)).toBe('1.1');
    const sync = await safeupdate(['sync', name, 'nosuchserver:']);
    expect(sync.exitCode).toBe(3);
    expect(sync.stdout).toContain('nosuchserver: is not reachable');
  });
});
