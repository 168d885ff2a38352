import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoVersion, launch, lxc, publish, removeAll, safeupdate, snapshots, UPGRADE } from './lab.js';

// What changed: the package report, apt's simulation, the upgrade policy and the snapshot of an
// update that changed nothing, on one lab container whose apt repository each story sets.

let name: string;
beforeAll(async () => {
  name = await launch('packages');
}, 120_000);
afterAll(removeAll);

/** Serves these demo versions and refreshes apt's lists, as an operator does before a direct apt-get call. */
async function offer(...versions: string[]): Promise<void> {
  await publish(name, ...versions);
  await lxc('exec', name, '--', 'apt-get', 'update', '-q');
}

const APT_UPGRADE = ['apt-get', 'upgrade', '-y'];
const snapshotNames = async () => (await snapshots(name)).map((snapshot) => snapshot.name).sort();

describe('what an update changes, and what may', () => {
  it('a dry run lists what apt would change, 1.0 → 1.1 as minor, and changes nothing', async () => {
    await offer('1.1');
    const before = await snapshotNames();
    const run = await safeupdate([name, '--dry-run', '--json', '--', ...APT_UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(0);
    const item = run.report!.instances[0]!;
    expect(item.packages).toMatchObject({ simulated: true, changes: [{ name: 'safeupdate-demo', kind: 'changed', from: '1.0', to: '1.1', bump: 'minor' }] });
    expect(item.plan).toContain('would change safeupdate-demo 1.0 → 1.1 (minor)');
    expect(await snapshotNames()).toEqual(before);
    expect(await demoVersion(name)).toBe('1.0');
  });

  it('--refuse major refuses 1.0 → 2.0 before any snapshot: exit 3, nothing changed, the package named', async () => {
    await offer('2.0');
    const before = await snapshotNames();
    const run = await safeupdate([name, '--refuse', 'major', '--json', '--', ...APT_UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(3);
    expect(run.report!.instances[0]!.error).toEqual({
      step: 'simulate', message: 'refused by --refuse major: safeupdate-demo 1.0 → 2.0 (major); nothing changed (--allow safeupdate-demo lets it through)',
    });
    expect(await snapshotNames()).toEqual(before);
    expect(await demoVersion(name)).toBe('1.0');
  });

  it('an upgrade that changes no package says so and leaves no new snapshot; --keep-unchanged keeps it', async () => {
    await offer('1.0');
    const before = await snapshotNames();
    const run = await safeupdate([name, '--json', '--', ...APT_UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(0);
    const item = run.report!.instances[0]!;
    expect(item.packages).toMatchObject({ simulated: false, manager: 'dpkg', changes: [], snapshotDeleted: true });
    expect(await snapshotNames()).toEqual(before);

    const kept = await safeupdate([name, '--keep-unchanged', '--json', '--', ...APT_UPGRADE]);
    expect(kept.exitCode, kept.stderr).toBe(0);
    expect(await snapshotNames()).toEqual([...before, kept.report!.instances[0]!.snapshot.name!].sort());
  });

  it('a real upgrade 1.0 → 1.1 is reported as a minor bump, and its snapshot stays', async () => {
    await offer('1.1');
    const run = await safeupdate([name, '--json', '--', ...UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(0);
    const item = run.report!.instances[0]!;
    expect(item.packages).toMatchObject({
      simulated: false, snapshotDeleted: false, counts: { major: 0, minor: 1, patch: 0, other: 0 },
      changes: [{ name: 'safeupdate-demo', kind: 'changed', from: '1.0', to: '1.1', bump: 'minor' }],
    });
    expect(await snapshotNames()).toContain(item.snapshot.name);
    expect(await demoVersion(name)).toBe('1.1');
  });

  it('--allow lets a refused major through: 2.0 is installed, its service dies, the run rolls back and reports the bump', async () => {
    await offer('2.0');
    const run = await safeupdate([name, '--refuse', 'major', '--allow', 'safeupdate-*', '--json', '--check', 'unit:safeupdate-demo', '--', ...APT_UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(1);
    const item = run.report!.instances[0]!;
    expect(item.outcome).toBe('rolled-back');
    expect(item.packages?.changes).toEqual([{ name: 'safeupdate-demo', kind: 'changed', from: '1.1', to: '2.0', bump: 'major' }]);
    expect(await demoVersion(name)).toBe('1.1');
  });
});
