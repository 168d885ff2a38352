import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import {
  allSnapshots, demoVersion, launch, lxc, publish, removeAll, safeupdate, snapshots, status, track, uniqueName, unitState, UPGRADE,
} from './lab.js';

afterEach(removeAll);

const DAY = 86_400_000;

describe('an operator updates a lab container', () => {
  it('a healthy upgrade 1.0 → 1.1 is kept: exit 0, the new version runs, the snapshot stays with its expiry', async () => {
    const name = await launch('healthy');
    await publish(name, '1.1');
    const run = await safeupdate([name, '--json', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(0);
    expect(await demoVersion(name)).toBe('1.1');
    expect(await unitState(name)).toBe('active');
    const report = run.report!;
    expect(report).toMatchObject({ schema: 1, outcome: 'updated', exitCode: 0, command: UPGRADE });
    const item = report.instances[0]!;
    expect(item.update).toMatchObject({ exitCode: 0, signal: null, timedOut: false });
    expect(item.checks.map((c) => `${c.phase}:${c.ok}`)).toEqual(['baseline:true', 'after-update:true']);
    // On the local socket every call of a non-interactive run goes straight to the REST API, the
    // commands run inside included (exec's websockets): not one `lxc` process. A bundled library
    // that failed to load (yaml, for the client's configuration) once sent every call through `lxc`
    // processes, silently.
    expect(report.lxd!.calls).toBeGreaterThan(0);
    expect(report.lxd!.processes, JSON.stringify(report.lxd)).toBe(0);

    // The expiry is read back from LXD itself, not from our report.
    const [taken] = await snapshots(name);
    expect(taken!.name).toBe(item.snapshot.name);
    expect(taken!.name).toMatch(/^safeupdate-\d{8}-\d{6}$/);
    const expiresIn = Date.parse(taken!.expires_at) - Date.now();
    expect(expiresIn).toBeGreaterThan(14 * DAY - 120_000);
    expect(expiresIn).toBeLessThanOrEqual(14 * DAY);
    expect(await readFile(item.update.logFile!, 'utf8')).toContain('Setting up safeupdate-demo (1.1)');
    expect(JSON.parse(await readFile(join(report.runDir, 'report.json'), 'utf8')).outcome).toBe('updated');
    // With --json, the command's output goes to stderr, never to stdout.
    expect(run.stderr).toContain('Setting up safeupdate-demo (1.1)');
    expect(run.stdout).not.toContain('Setting up');
  });

  it('a service that a "successful" upgrade (2.0) leaves dead is rolled back: exit 1, 1.0 runs again, evidence kept', async () => {
    const name = await launch('broken');
    await publish(name, '2.0');
    const run = await safeupdate([name, '--json', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(1);
    expect(await demoVersion(name)).toBe('1.0');
    expect(await unitState(name)).toBe('active');
    expect(await status(name)).toBe('Running');
    const item = run.report!.instances[0]!;
    expect(run.report!.outcome).toBe('rolled-back');
    // apt said success; the default systemd check caught the dead service.
    expect(item.update.exitCode).toBe(0);
    expect(item.error).toEqual({ step: 'after-update', message: 'check failed: systemd (failed units: safeupdate-demo.service)' });
    expect(item.rollback.steps.map((s) => `${s.action}:${s.ok}`)).toEqual(['stop:true', 'restore:true', 'start:true']);
    expect(item.checks.find((c) => c.phase === 'after-rollback')).toMatchObject({ name: 'systemd', ok: true });
    const evidence = await readFile(join(item.evidenceDir!, 'instance.txt'), 'utf8');
    expect(evidence).toContain('safeupdate-demo 2.0: invalid configuration');
    expect(evidence).toContain('status installed safeupdate-demo:all 2.0');
    // The snapshot is kept after a rollback.
    expect((await snapshots(name)).map((s) => s.name)).toEqual([item.snapshot.name]);
  });

  it('a failing postinst (3.0) is rolled back: exit 1, apt\'s exit code reported, 1.0 installed', async () => {
    const name = await launch('postinst');
    await publish(name, '3.0');
    const run = await safeupdate([name, '--json', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.report!.instances[0]!.update.exitCode).toBe(100);
    expect(run.report!.instances[0]!.error).toEqual({ step: 'update', message: 'the update command exited 100' });
    expect(await demoVersion(name)).toBe('1.0');
    expect(await unitState(name)).toBe('active');
    // dpkg's half-configured state is gone with the restore.
    const audit = await lxc('exec', name, '--', 'dpkg', '--audit');
    expect(audit).toBe('');
  });

  it('an update that hangs past --timeout is killed and rolled back within a bounded time', async () => {
    const name = await launch('hang');
    await publish(name, '4.0');
    const run = await safeupdate([name, '--json', '--timeout', '5s', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.report!.instances[0]!.update).toMatchObject({ exitCode: null, timedOut: true });
    expect(await demoVersion(name)).toBe('1.0');
    expect(await unitState(name)).toBe('active');
    expect(run.durationMs).toBeLessThan(60_000);
  });

  it('with --no-rollback a failure is left in place for a human: exit 4, 2.0 stays', async () => {
    const name = await launch('norollback');
    await publish(name, '2.0');
    const run = await safeupdate([name, '--json', '--no-rollback', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(4);
    expect(run.report!.outcome).toBe('needs-attention');
    expect(await demoVersion(name)).toBe('2.0');
    expect(await unitState(name)).toBe('failed');
    expect((await snapshots(name)).length).toBe(1);
  });

  it('--dry-run prints the plan, naming storage the snapshot does not cover, and changes nothing: exit 0, no snapshot', async () => {
    const name = await launch('dryrun');
    await publish(name, '1.1');
    const hostDir = await mkdtemp(join(tmpdir(), 'safeupdate-share-'));
    await lxc('config', 'device', 'add', name, 'data', 'disk', `source=${hostDir}`, 'path=/srv/data');
    const run = await safeupdate([name, '--dry-run', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('dry run; nothing changed');
    expect(run.stdout).toContain(`snapshot ${name} as safeupdate-<UTC timestamp>`);
    expect(run.stdout).toContain('not covered by rollback: /srv/data (device data)');
    expect(run.stdout).toContain('space: pool default has');
    expect(await snapshots(name)).toEqual([]);
    expect(await demoVersion(name)).toBe('1.0');
  });
});

describe('it refuses to start, and changes nothing', () => {
  it('a missing instance: exit 3, no snapshot anywhere', async () => {
    const name = uniqueName('missing');
    const run = await safeupdate([name, '--', ...UPGRADE]);
    expect(run.exitCode).toBe(3);
    expect(run.stdout).toContain(`instance ${name} does not exist`);
    // Other files' instances come and go meanwhile (they run in parallel): no snapshot of this name on the daemon.
    expect((await allSnapshots()).filter((snapshot) => snapshot.startsWith(`${name}/`))).toEqual([]);
  });

  it('a stopped instance: exit 3, still stopped, no snapshot', async () => {
    const name = await launch('stopped');
    await lxc('stop', '--force', name);
    const run = await safeupdate([name, '--', ...UPGRADE]);
    expect(run.exitCode).toBe(3);
    expect(run.stdout).toContain('is stopped, not running');
    expect(await status(name)).toBe('Stopped');
    expect(await snapshots(name)).toEqual([]);
  });

  it('an ephemeral instance (LXD deletes it when it stops): exit 3, no snapshot', async () => {
    const name = uniqueName('ephemeral');
    track(name);
    await execa('lxc', ['launch', 'safeupdate-lab', name, '--ephemeral'], { stdin: 'ignore' });
    const run = await safeupdate([name, '--', ...UPGRADE]);
    expect(run.exitCode).toBe(3);
    expect(run.stdout).toContain('is ephemeral');
    expect(await snapshots(name)).toEqual([]);
    expect(await status(name)).toBe('Running');
  });

  it('an unreachable LXD: exit 3', async () => {
    const run = await safeupdate(['web1', '--', 'true'], { LXD_DIR: '/nonexistent/lxd' });
    expect(run.exitCode).toBe(3);
    expect(run.stdout).toContain('LXD is not reachable');
  });

  it('invalid input: exit 2 before LXD is touched', async () => {
    const name = await launch('badinput');
    for (const args of [
      [name, '--expiry', '3 days', '--', ...UPGRADE],
      [name, '--snapshot-name', 'a/b', '--', ...UPGRADE],
      [name, '--check', 'nonsense:x', '--', ...UPGRADE],
      [name, ...UPGRADE],
      [name, '--'],
      [`${name}/snap`, '--', ...UPGRADE],
    ]) {
      const run = await safeupdate(args);
      expect(run.exitCode, args.join(' ')).toBe(2);
      expect(run.stderr.trim().split('\n')[0]).toMatch(/^(safeupdate: |error: )/);
    }
    expect(await snapshots(name)).toEqual([]);
    expect(await status(name)).toBe('Running');
    expect(await demoVersion(name)).toBe('1.0');
  });
});

describe('the lab itself', () => {
  it('runs the demo container from an image with no network and a local apt repository', async () => {
    const name = await launch('lab');
    const sources = await execa('lxc', ['exec', name, '--', 'cat', '/etc/apt/sources.list.d/safeupdate-lab.list']);
    expect(sources.stdout.trim()).toBe('deb [trusted=yes] file:/srv/repo ./');
    expect(await unitState(name)).toBe('active');
  });
});
