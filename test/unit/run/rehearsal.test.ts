import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import type { DeviceConfig, ExecOptions, InstanceRef } from '../../../src/lxd/lxd.js';
import { neutraliseDevices, REHEARSAL_MARKER, rehearsalName, splitChecks } from '../../../src/run/rehearsal.js';
import { expectAptFinish, expectAptPrepare, expectLockFree, isAptPrepare } from '../../support/fake-dpkg.js';
import { execResult, isCommand, isSystemdCheck, runningContainer, systemdOutput } from '../../support/fake-lxd.js';
import { COMMAND, GIB, RunHarness } from './run-harness.js';

const COPY = 'web1-rehearsal-run-1';
const onCopy = (args: unknown[]) => (args[0] as InstanceRef).name === COPY;
const onReal = (args: unknown[]) => (args[0] as InstanceRef).name === 'web1';
const BTRFS = { driver: 'btrfs', freeBytes: 50 * GIB as number | null, usedByInstanceBytes: 2 * GIB as number | null };

const DEVICES: Record<string, DeviceConfig> = {
  root: { type: 'disk', path: '/', pool: 'fast' },
  web: { type: 'proxy', listen: 'tcp:0.0.0.0:80', connect: 'tcp:127.0.0.1:80' },
  eth0: { type: 'nic', network: 'lxdbr0', 'ipv4.address': '10.0.0.5', hwaddr: '00:16:3e:00:00:01' },
  eth1: { type: 'nic', network: 'lxdbr1' },
  data: { type: 'disk', path: '/srv', source: '/tank/web1' },
  ro: { type: 'disk', path: '/etc/ca', source: '/etc/ssl/certs', readonly: 'true' },
};

let h: RunHarness;
beforeEach(async () => {
  h = new RunHarness();
  await h.setUp();
});
afterEach(() => h.tearDown());

/** Preflight, baseline and snapshot of web1 on a copy-on-write pool, with the default systemd check. */
function upToSnapshot(): RunHarness {
  return h.preflight(runningContainer({ devices: DEVICES }), true, BTRFS).baselineHealthy().snapshot();
}

/** The copy made from the run's snapshot, started, and healthy before its update. */
function copyStarted(): void {
  h.lxd.expect('getInstance', () => runningContainer({ devices: DEVICES }), onReal, 'read web1 for its devices');
  h.lxd.expect('copyFromSnapshot', () => undefined, (args) => args[1] === h.taken && args[2] === COPY, `copyFromSnapshot(web1/<taken>, ${COPY})`);
  h.lxd.expect('startInstance', () => undefined, onCopy, `start ${COPY}`);
  h.lxd.expect('exec', () => systemdOutput('running'), (args) => onCopy(args) && isSystemdCheck(args), 'systemd check on the copy (baseline)');
}

function copyUpdated(afterUpdate: 'healthy' | 'failed'): void {
  h.lxd.expect('exec', () => execResult({ stdout: 'Setting up demo (2.0)\n' }), (args) => onCopy(args) && isCommand(COMMAND)(args), 'the update command on the copy');
  const look = () => systemdOutput(afterUpdate === 'healthy' ? 'running' : 'degraded', afterUpdate === 'healthy' ? [] : ['demo.service']);
  h.lxd.expect('exec', look, (args) => onCopy(args) && isSystemdCheck(args), 'systemd check on the copy');
  if (afterUpdate === 'healthy') h.lxd.expect('exec', look, (args) => onCopy(args) && isSystemdCheck(args), 'systemd check on the copy (confirmation)');
}

/** `during`: what else happens while the copy is stopped (an interrupt). */
function copyStopped(marker = 'run-1', during = () => {}): void {
  h.lxd.expect('getInstance', () => runningContainer({ name: COPY }), onCopy, `read ${COPY}`);
  h.lxd.expect('getConfig', () => ({ [REHEARSAL_MARKER]: marker }), onCopy, `marker of ${COPY}`);
  if (marker === 'run-1') h.lxd.expect('stopInstance', during, onCopy, `stop ${COPY}`);
}

function copyDeleted(answer: unknown = { deleted: true }, during = () => {}): void {
  h.lxd.expect('deleteMarkedInstance', () => (during(), answer), (args) => onCopy(args) && JSON.stringify(args[1]) === JSON.stringify({ key: REHEARSAL_MARKER, value: 'run-1' }), `guarded delete of ${COPY}`);
}

describe('a run with --rehearse', () => {
  it('updates the real instance only after the copy passed, and deletes the copy first', async () => {
    upToSnapshot();
    copyStarted();
    copyUpdated('healthy');
    copyStopped();
    copyDeleted();
    h.update().systemdHealthy().finalStatus();

    const { report, item } = await h.run({ rehearse: 'on' });

    expect(report).toMatchObject({ outcome: 'updated', exitCode: 0 });
    expect(item.rehearsal).toMatchObject({ copy: COPY, verdict: 'healthy', copyDeleted: true, checksOnCopy: ['systemd'] });
    const create = h.lxd.calls.find((c) => c.method === 'copyFromSnapshot')!;
    // The marker and the masks are part of the one request that creates the copy.
    expect(create.args[3]).toEqual({
      config: { [REHEARSAL_MARKER]: 'run-1', 'boot.autostart': 'false', 'snapshots.schedule': '' },
      devices: {
        web: { type: 'none' },
        eth0: { type: 'nic', network: 'lxdbr0' },
        data: { type: 'disk', path: '/srv', source: '/tank/web1', readonly: 'true' },
      },
    });
    // The real instance's update comes after the copy is gone.
    const order = h.lxd.calls.map((c) => c.method);
    expect(order.indexOf('deleteMarkedInstance')).toBeLessThan(order.lastIndexOf('exec'));
  });

  it('a failure on the copy refuses the update: exit 1, the real instance never touched, the copy deleted, its evidence reported', async () => {
    upToSnapshot();
    copyStarted();
    copyUpdated('failed');
    copyStopped();
    copyDeleted();
    h.finalStatus();

    const { report, item } = await h.run({ rehearse: 'on' });

    expect(report).toMatchObject({ outcome: 'refused-by-rehearsal', exitCode: 1 });
    expect(item.error!.message).toContain(`the update failed on the copy ${COPY}`);
    expect(item.error!.message).toContain('nothing was updated');
    expect(h.lxd.calls.filter((c) => onReal(c.args) && ['exec', 'stopInstance', 'restoreSnapshot'].includes(c.method)).map((c) => c.method))
      .toEqual(['exec', 'exec']); // the systemd probe and the baseline check; nothing else ran on web1
    expect(item.rollback.performed).toBe(false);
    expect(item.rehearsal).toMatchObject({ verdict: 'failed', copyDeleted: true });
    expect(item.rehearsal!.checks.map((c) => `${c.phase}:${c.ok}`)).toEqual(['baseline:true', 'after-update:false']);
    expect(item.rehearsal!.logTail.join('\n')).toContain('Setting up demo (2.0)');
    expect(await readFile(item.rehearsal!.update.logFile!, 'utf8')).toContain('Setting up demo (2.0)');
  });

  it('a copy whose marker was changed is neither stopped nor deleted, and the report says what to do', async () => {
    upToSnapshot();
    copyStarted();
    copyUpdated('failed');
    copyStopped('someone-else');
    h.finalStatus();

    const { report, item } = await h.run({ rehearse: 'on' });

    expect(report.exitCode).toBe(1);
    expect(item.rehearsal!.copyDeleted).toBe(false);
    expect(item.warnings.join('\n')).toContain(`the rehearsal copy ${COPY} was left alone`);
    expect(item.warnings.join('\n')).toContain(`lxc delete --force local:${COPY} --project default`);
  });

  it('a marker changed between the stop and the delete: the guarded delete refuses, and that is reported', async () => {
    upToSnapshot();
    copyStarted();
    copyUpdated('healthy');
    copyStopped();
    copyDeleted({ deleted: false, gone: false, found: 'someone-else' });
    h.update().systemdHealthy().finalStatus();

    const { report, item } = await h.run({ rehearse: 'on' });

    expect(report.exitCode).toBe(0);
    expect(item.rehearsal!.copyDeleted).toBe(false);
    expect(item.warnings.join('\n')).toContain('was left alone');
  });

  it('--keep-failed keeps the failed copy stopped instead of deleting it', async () => {
    upToSnapshot();
    copyStarted();
    copyUpdated('failed');
    copyStopped();
    h.finalStatus();

    const { report, item } = await h.run({ rehearse: 'on', keepFailed: true });

    expect(report.exitCode).toBe(1);
    expect(item.keptFailedCopy).toBe(COPY);
    expect(item.rehearsal).toMatchObject({ copyKept: true, copyDeleted: false });
  });

  it('an interrupt during the copy\'s update deletes the copy and leaves the instance as it was', async () => {
    const controller = new AbortController();
    upToSnapshot();
    copyStarted();
    h.lxd.expect('exec', () => {
      controller.abort('SIGINT');
      return execResult({ exitCode: null, canceled: true });
    }, (args) => onCopy(args) && isCommand(COMMAND)(args), 'the update command on the copy, interrupted');
    copyStopped();
    copyDeleted();
    h.finalStatus();

    const { report, item } = await h.run({ rehearse: 'on' }, { interrupt: controller.signal });

    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 130 });
    expect(item.error!.message).toContain('nothing was updated');
    expect(item.rehearsal).toMatchObject({ verdict: 'interrupted', copyDeleted: true });
  });

  it.each(['stopped', 'deleted'])('an interrupt while the passed copy is being %s ends the run before the real instance is touched: exit 130, nothing updated', async (when) => {
    const controller = new AbortController();
    const interrupt = () => controller.abort('SIGINT');
    upToSnapshot();
    copyStarted();
    copyUpdated('healthy');
    copyStopped('run-1', when === 'stopped' ? interrupt : undefined);
    copyDeleted(undefined, when === 'deleted' ? interrupt : undefined);
    h.finalStatus();

    const { report, item } = await h.run({ rehearse: 'on' }, { interrupt: controller.signal });

    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 130, interruptedBy: 'SIGINT' });
    expect(item.error!.message).toContain('nothing was updated');
    expect(item.error!.message).toContain(`snapshot ${h.taken} kept`);
    // Only the probe and the baseline check ran on web1: no update, no stop, no restore, no start.
    expect(h.lxd.calls.filter((c) => onReal(c.args) && ['exec', 'stopInstance', 'restoreSnapshot', 'startInstance'].includes(c.method)).map((c) => c.method)).toEqual(['exec', 'exec']);
    expect(item.rollback.performed).toBe(false);
    expect(item.rehearsal).toMatchObject({ verdict: 'healthy', copyDeleted: true });
  });

  it('an update command that cannot even be run on the copy judges nothing: exit 3, not a refusal', async () => {
    upToSnapshot();
    copyStarted();
    h.lxd.expect('exec', () => Promise.reject(new Error('websocket closed')), (args) => onCopy(args) && isCommand(COMMAND)(args), 'the update command on the copy');
    copyStopped();
    copyDeleted();
    h.finalStatus();

    const { report, item } = await h.run({ rehearse: 'on' });

    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.rehearsal).toMatchObject({ verdict: 'inconclusive', copyDeleted: true });
    expect(item.error!.message).toMatch(/could not run the update command: websocket closed; nothing was updated$/);
  });

  it('a copy that cannot be deleted is reported with the command that deletes it', async () => {
    upToSnapshot();
    copyStarted();
    copyUpdated('failed');
    copyStopped();
    h.lxd.expect('deleteMarkedInstance', () => Promise.reject(new Error('disk I/O error')), onCopy);
    h.finalStatus();

    const { item } = await h.run({ rehearse: 'on' });

    expect(item.rehearsal!.copyDeleted).toBe(false);
    expect(item.warnings.join('\n')).toMatch(/could not be stopped or deleted.*lxc delete --force local:web1-rehearsal-run-1/);
  });
});

describe('--rehearse on a dir pool', () => {
  const dir = (used: number | null, free: number) => ({ driver: 'dir', freeBytes: free, usedByInstanceBytes: used });

  it('without =force is refused before anything changes: exit 3, no snapshot, no copy', async () => {
    h.preflight(runningContainer(), true, dir(2 * GIB, 50 * GIB)).finalStatus();
    const { report, item } = await h.run({ rehearse: 'on' });
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error!.message).toMatch(/dir pool.*full copy.*--rehearse=force/);
  });

  it('with =force is refused when the snapshot and the copy would not fit', async () => {
    h.preflight(runningContainer(), true, dir(30 * GIB, 50 * GIB)).finalStatus();
    const { report, item } = await h.run({ rehearse: 'force' });
    expect(report.exitCode).toBe(3);
    expect(item.error!.message).toContain('would need 60.0 GiB');
  });

  it('a dry run refuses as the real run would (exit 3); with =force it says what the rehearsal would do', async () => {
    h.preflight(runningContainer(), true, dir(2 * GIB, 50 * GIB)).finalStatus();
    expect((await h.run({ rehearse: 'on', dryRun: true })).report.exitCode).toBe(3);
    h.preflight(runningContainer(), true, dir(2 * GIB, 50 * GIB)).baselineHealthy().finalStatus();
    const { report, item } = await h.run({ rehearse: 'force', dryRun: true });
    expect(report.exitCode).toBe(0);
    expect(item.plan.join('\n')).toContain('rehearse first: copy the snapshot to web1-rehearsal-<run id>');
    expect(item.plan.join('\n')).toContain('the checks (systemd)');
  });
});

describe('neutraliseDevices', () => {
  it('masks proxies, unpins NICs, mounts shared disks read-only, and leaves the rest', () => {
    const { devices, changes } = neutraliseDevices(DEVICES);
    expect(Object.keys(devices).sort()).toEqual(['data', 'eth0', 'web']);
    expect(devices.web).toEqual({ type: 'none' });
    expect(changes).toHaveLength(3);
  });

  it('leaves a volume disk writable only when it already is read-only', () => {
    expect(neutraliseDevices({ vol: { type: 'disk', path: '/data', pool: 'fast', source: 'data' } }).devices.vol!.readonly).toBe('true');
    expect(neutraliseDevices({ vol: { type: 'disk', path: '/data', pool: 'fast', source: 'data', readonly: 'yes' } }).devices).toEqual({});
  });
});

describe('rehearsalName', () => {
  it('is <name>-rehearsal-<runId> in lower case where it fits', () => {
    expect(rehearsalName('web1', '20261126T215500Z-update-ab12')).toBe('web1-rehearsal-20261126t215500z-update-ab12');
  });

  it('drops the run id\'s label (the instance\'s name again) before anything else', () => {
    expect(rehearsalName('web-frontend-1', '20261126T215500Z-web-frontend-1-ab12')).toBe('web-frontend-1-rehearsal-20261126t215500z-web-frontend-1-ab12');
    expect(rehearsalName('web-frontend-production-1', '20261126T215500Z-web-frontend-production-1-ab12')).toBe('web-frontend-production-1-rehearsal-20261126t215500z-ab12');
  });

  it('stays a valid instance name for a long name, keeping the run id\'s random end', () => {
    const name = rehearsalName('a'.repeat(60), '20261126T215500Z-update-ab12');
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z][a-z0-9-]*[a-z0-9]$/);
    expect(name.endsWith('-rehearsal-ab12')).toBe(true);
    const medium = rehearsalName('web-frontend-production-eu-west', '20261126T215500Z-update-ab12');
    expect(medium.length).toBeLessThanOrEqual(63);
    expect(medium.startsWith('web-frontend-production-eu-west-rehearsal-')).toBe(true);
    expect(medium.endsWith('ab12')).toBe(true);
  });
});

describe('splitChecks', () => {
  it('runs in-container checks and {ip} checks on the copy, not host-side ones at fixed addresses', () => {
    const checks = ['systemd', 'unit:nginx', 'exec:true', 'http://{ip}:8080/health', 'tcp:{ip}:22', 'http://127.0.0.1:8080/', 'tcp:10.0.0.5:5432'].map((spec) => defineCheck(spec));
    const { onCopy: runs, notOnCopy } = splitChecks(checks);
    expect(runs.map((c) => c.name)).toEqual(['systemd', 'unit:nginx', 'exec:true', 'http://{ip}:8080/health', 'tcp:{ip}:22']);
    expect(notOnCopy.map((c) => c.name)).toEqual(['http://127.0.0.1:8080/', 'tcp:10.0.0.5:5432']);
  });
});

describe('a rehearsal of an apt command', () => {
  it('the copy gets the same apt options as the real instance (its own APT_CONFIG file), so that it judges the same update', async () => {
    h.preflight(runningContainer({ devices: DEVICES }), true, BTRFS).baselineHealthy();
    expectLockFree(h.lxd);
    h.snapshot();
    copyStarted();
    const copyEnv: Array<Record<string, string> | undefined> = [];
    h.lxd.expect('exec', (args) => (copyEnv.push((args[1] as string[])[4] ? { file: (args[1] as string[])[4]! } : undefined), execResult()), (args) => onCopy(args) && isAptPrepare(args), 'apt configuration written on the copy');
    h.lxd.expect('exec', (args) => (copyEnv.push((args[2] as ExecOptions).env), execResult()), (args) => onCopy(args) && isCommand(COMMAND)(args), 'the update command on the copy');
    h.lxd.expect('exec', () => systemdOutput('running'), (args) => onCopy(args) && isSystemdCheck(args), 'systemd check on the copy');
    h.lxd.expect('exec', () => systemdOutput('running'), (args) => onCopy(args) && isSystemdCheck(args), 'systemd check on the copy (confirmation)');
    copyStopped();
    copyDeleted();
    expectAptPrepare(h.lxd);
    h.update();
    expectAptFinish(h.lxd);
    h.systemdHealthy().finalStatus();

    const { report } = await h.run({ rehearse: 'on', apt: { lockTimeoutMs: 60_000 } });

    expect(report.exitCode).toBe(0);
    expect(copyEnv).toEqual([{ file: '/run/safeupdate/apt-run-1.conf' }, expect.objectContaining({ APT_CONFIG: '/run/safeupdate/apt-run-1.conf' })]);
  });
});
