import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labOn, removeAll, safeupdate, UPGRADE } from './lab.js';

// The core stories against a real Incus daemon (6.0 LTS, beside LXD: scripts/lab up), driven
// through the `incus` client. One container goes through them in order, as an operator's would:
// a good update, a broken one and a failed postinst that are rolled back, then its snapshots listed
// and pruned.

const incus = labOn('incus');
const DAY = 86_400_000;
let name: string;
let good: string;
let broken: string;
let postinst: string;

beforeAll(async () => {
  const daemon = await execa('incus', ['query', '/1.0'], { reject: false, stdin: 'ignore' });
  if (daemon.exitCode !== 0) throw new Error(`Incus is not reachable (${daemon.stderr || daemon.message}); run: scripts/lab up`);
  name = await incus.launch('incus');
});
afterAll(removeAll);

describe('an operator on Incus updates a container', () => {
  it('--client incus: a healthy upgrade 1.0 → 1.1 is kept (exit 0), with its snapshot and expiry on Incus', async () => {
    await incus.publish(name, '1.1');
    const run = await safeupdate(['--client', 'incus', name, '--json', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.report).toMatchObject({ client: 'incus', outcome: 'updated', exitCode: 0 });
    expect(await incus.demoVersion(name)).toBe('1.1');
    expect(await incus.unitState(name)).toBe('active');
    // Incus' socket carries every call, the commands run inside included (exec's websockets).
    expect(run.report!.lxd, JSON.stringify(run.report!.lxd)).toMatchObject({ processes: 0 });
    good = run.report!.instances[0]!.snapshot.name!;
    // Read back from Incus itself: the snapshot and the expiry set on it at creation.
    const [taken] = await incus.snapshots(name);
    expect(taken!.name).toBe(good);
    const expiresIn = Date.parse(taken!.expires_at) - Date.now();
    expect(expiresIn).toBeGreaterThan(14 * DAY - 120_000);
    expect(expiresIn).toBeLessThanOrEqual(14 * DAY);
  });

  it('SAFEUPDATE_CLIENT=incus: a service that a "successful" upgrade (2.0) leaves dead is rolled back (exit 1), 1.1 runs again', async () => {
    await incus.publish(name, '2.0');
    const run = await safeupdate([name, '--json', '--', ...UPGRADE], { SAFEUPDATE_CLIENT: 'incus' });

    expect(run.exitCode, run.stderr).toBe(1);
    const item = run.report!.instances[0]!;
    expect(item.update.exitCode).toBe(0);
    expect(item.error).toEqual({ step: 'after-update', message: 'check failed: systemd (failed units: safeupdate-demo.service)' });
    expect(item.rollback.steps.map((s) => `${s.action}:${s.ok}`)).toEqual(['stop:true', 'restore:true', 'start:true']);
    expect(item.checks.find((c) => c.phase === 'after-rollback')).toMatchObject({ name: 'systemd', ok: true });
    expect(await incus.demoVersion(name)).toBe('1.1');
    expect(await incus.settledUnitState(name)).toBe('active');
    expect(await incus.status(name)).toBe('Running');
    broken = item.snapshot.name!;
    expect((await incus.snapshots(name)).map((s) => s.name)).toEqual([good, broken]);
  });

  it('a failing postinst (3.0) is rolled back: exit 1, apt\'s exit code reported, dpkg clean again', async () => {
    await incus.publish(name, '3.0');
    const run = await safeupdate(['--client', 'incus', name, '--json', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(1);
    const item = run.report!.instances[0]!;
    expect(item.update.exitCode).toBe(100);
    expect(item.error).toEqual({ step: 'update', message: 'the update command exited 100' });
    expect(await incus.demoVersion(name)).toBe('1.1');
    expect(await incus.run('exec', name, '--', 'dpkg', '--audit')).toBe('');
    postinst = item.snapshot.name!;
  });

  it('snapshots lists them; prune --keep-last 1 deletes the older safeupdate snapshots and never one it did not take', async () => {
    await incus.run('snapshot', 'create', name, 'manual');
    const listed = await safeupdate(['--client', 'incus', 'snapshots', name, '--json']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    const rows = (JSON.parse(listed.stdout) as { snapshots: Array<{ name: string; madeBySafeupdate: boolean }> }).snapshots;
    expect(rows.map((s) => `${s.name}:${s.madeBySafeupdate}`)).toEqual([`${good}:true`, `${broken}:true`, `${postinst}:true`, 'manual:false']);

    const pruned = await safeupdate(['prune', name, '--keep-last', '1', '--yes'], { SAFEUPDATE_CLIENT: 'incus' });
    expect(pruned.exitCode, pruned.stderr).toBe(0);
    expect((await incus.snapshots(name)).map((s) => s.name)).toEqual([postinst, 'manual']);
  });

  it('a stopped instance is refused (exit 3) with the incus command that starts it', async () => {
    await incus.run('stop', '--force', name);
    const run = await safeupdate(['--client', 'incus', name, '--', ...UPGRADE]);
    expect(run.exitCode, run.stderr).toBe(3);
    expect(run.stdout).toContain(`start it first (incus start local:${name} --project default)`);
  });
});
