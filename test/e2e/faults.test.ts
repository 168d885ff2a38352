import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoVersion, E2E_PREFIX, launch, lxc, publish, removeAll, safeupdate, settledUnitState, snapshots, startSafeupdate, status, track, unitState, UPGRADE } from './lab.js';

afterEach(removeAll);

// 4.0's postinst hangs and ignores SIGINT, as dpkg's maintainer scripts do: a signal alone never ends it.
const HANGS = 'safeupdate-demo 4.0: postinst hangs';

describe('interrupts end in a rolled-back, reported state within a bounded time', () => {
  it('SIGINT during a hanging update: a second run meanwhile is refused naming the holder; then exit 130, 1.0 runs', async () => {
    const name = await launch('sigint');
    await publish(name, '4.0');
    const run = await startSafeupdate([name, '--json', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE]);
    await run.waitFor(HANGS);

    const second = await safeupdate([name, '--json', '--', 'true'], { SAFEUPDATE_STATE_DIR: run.stateDir });
    expect(second.exitCode).toBe(3);
    expect(second.report!.instances[0]!.error!.message).toContain(`${name} is busy: run `);
    expect(second.report!.instances[0]!.error!.message).toContain(`(pid ${run.pid},`);

    const signalled = Date.now();
    process.kill(run.pid, 'SIGINT');
    // A second Ctrl+C during the rollback does not abandon it; it says what is going on.
    await run.waitFor('▸ Stop');
    process.kill(run.pid, 'SIGINT');
    const { exitCode, stdout, stderr } = await run.result;
    expect(exitCode).toBe(130);
    expect(stderr).toContain('SIGINT received again; still stopping the update and rolling back if it had begun: a step that changes the instance is never abandoned half-way');
    expect(Date.now() - signalled).toBeLessThan(60_000);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ outcome: 'interrupted', interruptedBy: 'SIGINT' });
    expect(report.instances[0].error).toEqual({ step: 'update', message: 'interrupted by SIGINT' });
    expect(await demoVersion(name)).toBe('1.0');
    expect(await unitState(name)).toBe('active');
    // The lock is released on this exit path too.
    expect(await readdir(join(run.stateDir, 'instances'))).toEqual([]);
  });

  it('SIGTERM during the checks: exit 143, rolled back', async () => {
    const name = await launch('sigterm');
    await publish(name, '1.1');
    // Passes at baseline (1.0), then keeps failing after the update until its 60 s deadline.
    const run = await startSafeupdate([name, '--check', 'exec:dpkg-query -W -f=\'${Version}\' safeupdate-demo | grep -qx 1.0', '--', ...UPGRADE]);
    await run.waitFor('▸ Checks (after-update)');
    process.kill(run.pid, 'SIGTERM');
    const { exitCode, stdout } = await run.result;
    expect(exitCode).toBe(143);
    expect(stdout).toContain('interrupted; rolled back');
    expect(await demoVersion(name)).toBe('1.0');
    // Its only check was the version: the service may still be starting when the run ends.
    expect(await settledUnitState(name)).toBe('active');
    const [runId] = await readdir(join(run.stateDir, 'runs'));
    const report = JSON.parse(await readFile(join(run.stateDir, 'runs', runId!, 'report.json'), 'utf8'));
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143, interruptedBy: 'SIGTERM' });
    expect(report.instances[0].rollback.steps.map((s: { action: string; ok: boolean }) => `${s.action}:${s.ok}`)).toEqual(['stop:true', 'restore:true', 'start:true']);
    expect((await snapshots(name)).map((s) => s.name)).toEqual([report.instances[0].snapshot.name]);
    expect(await readdir(join(run.stateDir, 'instances'))).toEqual([]);
  });

  it('SIGHUP (the SSH session dropped): exit 129, rolled back, the report lands in the state folder', async () => {
    const name = await launch('sighup');
    await publish(name, '4.0');
    const run = await startSafeupdate([name, '--', ...UPGRADE]);
    await run.waitFor(HANGS);
    process.kill(run.pid, 'SIGHUP');
    const { exitCode } = await run.result;
    expect(exitCode).toBe(129);
    const [runId] = await readdir(join(run.stateDir, 'runs'));
    const report = JSON.parse(await readFile(join(run.stateDir, 'runs', runId!, 'report.json'), 'utf8'));
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 129, interruptedBy: 'SIGHUP' });
    expect(report.instances[0].rollback.steps.map((s: { action: string; ok: boolean }) => `${s.action}:${s.ok}`)).toEqual(['stop:true', 'restore:true', 'start:true']);
    expect(await demoVersion(name)).toBe('1.0');
    expect(await unitState(name)).toBe('active');
    expect(await status(name)).toBe('Running');
    expect(await readdir(join(run.stateDir, 'instances'))).toEqual([]);
  });
});

describe('a crash of safeupdate itself', () => {
  it('kill -9 during the update: the next run refuses (exit 3), recover rolls back (exit 0), 1.0 runs', async () => {
    const name = await launch('kill9');
    await publish(name, '4.0');
    const run = await startSafeupdate([name, '--check', 'unit:safeupdate-demo', '--', ...UPGRADE]);
    await run.waitFor(HANGS);
    process.kill(run.pid, 'SIGKILL');
    await run.result;
    const env = { SAFEUPDATE_STATE_DIR: run.stateDir };

    const next = await safeupdate([name, '--json', '--', ...UPGRADE], env);
    expect(next.exitCode).toBe(3);
    // Complete: following it addresses this instance whatever the client's current project is.
    expect(next.report!.instances[0]!.error!.message).toContain(`safeupdate recover local:${name} --project default`);

    const unconfirmed = await safeupdate(['recover', name], env);
    expect(unconfirmed.exitCode).toBe(2);
    expect(unconfirmed.stderr).toContain('--yes');

    const recovered = await safeupdate(['recover', name, '--yes', '--json', '--check', 'unit:safeupdate-demo'], env);
    expect(recovered.exitCode, recovered.stderr).toBe(0);
    expect(recovered.report!.instances[0]!.rollback.steps.map((s) => `${s.action}:${s.ok}`)).toEqual(['stop:true', 'restore:true', 'start:true']);
    expect(await demoVersion(name)).toBe('1.0');
    expect(await unitState(name)).toBe('active');
    expect(await readdir(join(run.stateDir, 'instances'))).toEqual([]);

    const again = await safeupdate(['recover', name], env);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('recovered');
  });
});

describe('a rollback that cannot work', () => {
  it('the snapshot deleted behind safeupdate\'s back: exit 4, the state and the commands to fix it by hand', async () => {
    const name = await launch('nosnap');
    await publish(name, '4.0');
    const run = await startSafeupdate([name, '--json', '--timeout', '15s', '--', ...UPGRADE]);
    await run.waitFor(HANGS);
    const [taken] = await snapshots(name);
    await lxc('delete', `${name}/${taken!.name}`);
    expect(await status(name)).toBe('Running');

    const { exitCode, stdout } = await run.result;
    expect(exitCode).toBe(4);
    const item = JSON.parse(stdout).instances[0];
    expect(item.outcome).toBe('needs-attention');
    expect(item.error.step).toBe('restore');
    expect(item.error.message).toContain(`lxc restore local:${name} ${taken!.name} --project default && lxc start local:${name} --project default`);
    expect(item.finalStatus).toBe('Stopped');
    // Nothing deleted the instance itself.
    expect(await status(name)).toBe('Stopped');
    // The record stays: no run starts on this state until a human has recovered it.
    const refused = await safeupdate([name, '--json', '--', 'true'], { SAFEUPDATE_STATE_DIR: run.stateDir });
    expect(refused.exitCode).toBe(3);
    expect(refused.report!.instances[0]!.error!.message).toContain(`${name} awaits recovery`);
    await execa('lxc', ['start', name]);
  });
});

describe('--keep-failed', () => {
  it('keeps the broken state as a stopped copy that never starts, then rolls back', async () => {
    const name = await launch('keepfailed');
    await publish(name, '2.0');
    const run = await safeupdate([name, '--json', '--keep-failed', '--', ...UPGRADE]);
    const copy = run.report?.instances[0]?.keptFailedCopy;
    if (copy) track(copy);
    expect(run.exitCode, run.stderr).toBe(1);
    expect(copy).toMatch(new RegExp(`^${name}-failed-\\d{14}$`));
    expect(await status(copy!)).toBe('Stopped');
    expect(await lxc('config', 'get', copy!, 'boot.autostart')).toBe('false');
    expect(await snapshots(copy!)).toEqual([]);
    // The copy holds the broken version; the instance runs the old one again.
    const dpkgStatus = await lxc('file', 'pull', `${copy}/var/lib/dpkg/status`, '-');
    expect(dpkgStatus).toMatch(/Package: safeupdate-demo\nStatus: install ok installed[\s\S]*?Version: 2\.0/);
    expect(await demoVersion(name)).toBe('1.0');
  });
});

describe('a failing LXD', () => {
  it('a hung daemon gives a clear error within the call timeout, not a hang: exit 3, nothing changed', async () => {
    const name = await launch('hung');
    const daemon = Number((await execa('pgrep', ['-xf', 'lxd --group root'])).stdout.trim().split('\n')[0]);
    process.kill(daemon, 'SIGSTOP');
    let run;
    try {
      run = await safeupdate([name, '--', ...UPGRADE], { SAFEUPDATE_LXD_TIMEOUT: '3s' });
    } finally {
      process.kill(daemon, 'SIGCONT');
    }
    expect(run.exitCode).toBe(3);
    expect(run.stdout).toContain('LXD did not answer within 3s');
    expect(run.durationMs).toBeLessThan(30_000);
    expect(await snapshots(name)).toEqual([]);
  });
});

describe('a full pool', () => {
  // A dir pool on a small loop-mounted filesystem: a snapshot there copies the whole root filesystem.
  const pool = `${E2E_PREFIX}${process.pid}-tiny`;
  const mount = `/mnt/${pool}`;
  const image = `/var/tmp/${pool}.img`;

  beforeAll(async () => {
    await execa('truncate', ['-s', '450M', image]);
    await execa('mkfs.ext4', ['-q', '-F', image]);
    await execa('mkdir', ['-p', mount]);
    await execa('mount', ['-o', 'loop', image, mount]);
    // An empty subfolder: LXD wants an empty source, and ext4 has lost+found.
    await execa('mkdir', [`${mount}/pool`]);
    await lxc('storage', 'create', pool, 'dir', `source=${mount}/pool`);
  });

  afterAll(async () => {
    await removeAll();
    await execa('lxc', ['storage', 'delete', pool], { reject: false });
    await execa('umount', [mount], { reject: false });
    await execa('rm', ['-rf', image, mount], { reject: false });
  });

  it('a snapshot that does not fit fails cleanly: exit 3, no snapshot, the instance unchanged and running', async () => {
    const name = await launch('full', pool);
    await lxc('exec', name, '--', 'dd', 'if=/dev/zero', 'of=/var/fill', 'bs=1M', 'count=150', 'status=none');
    await publish(name, '1.1');
    const dry = await safeupdate([name, '--dry-run', '--', ...UPGRADE]);
    expect(dry.stdout).toContain('cannot be told');
    const run = await safeupdate([name, '--json', '--', ...UPGRADE]);
    expect(run.exitCode, run.stdout).toBe(3);
    expect(run.report!.instances[0]!.error!.step).toBe('snapshot');
    expect(await snapshots(name)).toEqual([]);
    expect(await status(name)).toBe('Running');
    expect(await demoVersion(name)).toBe('1.0');
    expect(await lxc('exec', name, '--', 'ls', '/var/fill')).toBe('/var/fill');
  });
});

describe('Ctrl+C at the terminal reaches the whole process group', () => {
  it('during the restore: the restore is not killed with it; the rollback completes, exit 130, 1.0 runs', async () => {
    const name = await launch('pgrp');
    await publish(name, '3.0');
    // On the dir pool a restore checksums every file: 300 MB make it last a second or two, time for
    // the signal to land inside it.
    await lxc('exec', name, '--', 'dd', 'if=/dev/urandom', 'of=/var/big', 'bs=1M', 'count=300', 'status=none');
    // Its own process group, as a shell's foreground job: the terminal's SIGINT goes to every process in it.
    const run = await startSafeupdate(['-v', '--json', name, '--check', 'unit:safeupdate-demo', '--', ...UPGRADE], { ownGroup: true });
    await run.waitFor('▸ Restore');
    process.kill(-run.pid, 'SIGINT');
    const { exitCode, stdout, stderr } = await run.result;
    expect(exitCode, stderr).toBe(130);
    // The proof that the signal landed during the restore: -v logs each LXD request as it ends, and
    // the restore's (a PUT of the instance itself, not of its /state) ends after the signal's notice.
    // Through the REST API it reads `local: PUT /1.0/instances/NAME?…`, through the client
    // `lxc query --wait -X PUT --data {…} local:/1.0/instances/NAME?…`.
    const signalled = stderr.indexOf('SIGINT received');
    const restoreEnded = stderr.search(new RegExp(`PUT (--data \\S+ )?(\\S+:)?/1\\.0/instances/${name}\\?`));
    expect(signalled, stderr).toBeGreaterThan(stderr.indexOf('▸ Restore'));
    expect(restoreEnded, stderr).toBeGreaterThan(signalled);
    const item = JSON.parse(stdout).instances[0];
    expect(item.rollback.steps.map((s: { action: string; ok: boolean }) => `${s.action}:${s.ok}`)).toEqual(['stop:true', 'restore:true', 'start:true']);
    expect(await demoVersion(name)).toBe('1.0');
    expect(await unitState(name)).toBe('active');
  });

  it('during the snapshot: the snapshot completes and is kept, the update never runs, exit 130', async () => {
    const name = await launch('pgrpsnap');
    await publish(name, '1.1');
    const run = await startSafeupdate(['--json', name, '--', ...UPGRADE], { ownGroup: true });
    await run.waitFor('▸ Snapshot');
    process.kill(-run.pid, 'SIGINT');
    const { exitCode, stdout, stderr } = await run.result;
    expect(exitCode, stderr).toBe(130);
    const item = JSON.parse(stdout).instances[0];
    expect(item.error.message).toContain('before the update began; nothing was updated');
    expect(item.update.durationMs).toBeNull();
    expect((await snapshots(name)).map((s) => s.name)).toEqual([item.snapshot.name]);
    expect(await demoVersion(name)).toBe('1.0');
  });
});

describe('a state folder that fills up during the run', () => {
  let mount: string | null = null;
  afterEach(async () => {
    if (mount) await execa('umount', ['-l', mount], { reject: false });
    mount = null;
  });

  it('the rollback still runs: exit 1, 1.0 runs again, the warnings say what could not be written', async () => {
    const name = await launch('fullstate');
    await publish(name, '3.0');
    mount = await mkdtemp(join(tmpdir(), 'safeupdate-full-'));
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mount]);
    // The update waits a moment so that the folder is full before it writes, then writes more than a page.
    const run = await startSafeupdate(['--json', name, '--check', 'unit:safeupdate-demo', '--', 'sh', '-c', 'sleep 3; seq 1 20000; apt-get update -q && apt-get upgrade -y'], { stateDir: mount });
    await run.waitFor('▸ Update');
    await execa('sh', ['-c', `dd if=/dev/zero of=${mount}/filler bs=4k 2>/dev/null; sync`], { reject: false });
    const { exitCode, stdout, stderr } = await run.result;
    expect(exitCode, stderr).toBe(1);
    const item = JSON.parse(stdout).instances[0];
    expect(item.outcome).toBe('rolled-back');
    expect(item.warnings.join('\n')).toContain('update.log is incomplete');
    expect(item.warnings.join('\n')).toMatch(/could not write the record .*ENOSPC.*rolling back regardless/);
    expect(await demoVersion(name)).toBe('1.0');
    expect(await unitState(name)).toBe('active');
    // Concluded in a state that needs no recovery: the record is gone, so the next run may start.
    expect((await readdir(join(mount, 'instances'))).filter((f) => f.endsWith('.json'))).toEqual([]);
  });
});

describe('two runs racing on a stale record', () => {
  it('started together on an instance whose last run died before changing anything: one runs, the other is refused', async () => {
    const name = await launch('race');
    const stateDir = await mkdtemp(join(tmpdir(), 'safeupdate-e2e-'));
    await mkdir(join(stateDir, 'instances'));
    const stale = join(stateDir, 'instances', `local_default_${name}.json`);
    for (let trial = 0; trial < 3; trial += 1) {
      await writeFile(stale, JSON.stringify({ runId: 'dead', pid: 999_999_999, pidStartedAt: '1', host: 'h', instance: name, phase: 'preparing', command: ['x'], startedAt: 't', snapshot: null, runDir: stateDir }));
      const both = await Promise.all([1, 2].map(() => safeupdate([name, '--dry-run', '--json', '--', 'true'], { SAFEUPDATE_STATE_DIR: stateDir })));
      expect(both.map((run) => run.exitCode).sort()).toEqual([0, 3]);
      expect(both.find((run) => run.exitCode === 3)!.report!.instances[0]!.error!.message).toContain(`${name} is busy: run `);
    }
  });
});

describe('an interrupt of safeupdate check', () => {
  it('SIGTERM during a failing check ends it at once: exit 143, not 1 after the deadline', async () => {
    const name = await launch('checkterm');
    const run = await startSafeupdate(['check', name, '--check', 'exec:false']);
    await run.waitFor('▸ Check');
    const signalled = Date.now();
    process.kill(run.pid, 'SIGTERM');
    const { exitCode, stdout, stderr } = await run.result;
    expect(exitCode, stderr).toBe(143);
    expect(stderr).toContain('SIGTERM received; stopping the checks; nothing is changed');
    expect(stdout).toContain('interrupted');
    // Within a few attempts, not the check's 60 s deadline.
    expect(Date.now() - signalled).toBeLessThan(15_000);
  });
});

