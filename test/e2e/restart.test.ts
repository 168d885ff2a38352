import { afterEach, describe, expect, it } from 'vitest';
import { demoVersion, launch, lxc, publish, removeAll, safeupdate, settledUnitState, status, UPGRADE } from './lab.js';

// Updates that break only at the next start. safeupdate-demo 7.0 installs fine and its postinst does
// not restart the service: it leaves /run/reboot-required instead, so the running 1.0 keeps serving
// and every check passes, until the next start, where 7.0's unit fails. 7.1 does the same but starts
// fine. (scripts/lab)

afterEach(removeAll);

const CHECK = ['--check', 'unit:safeupdate-demo'];
const rebootRequired = async (name: string) => (await lxc('exec', name, '--', 'sh', '-c', 'test -e /run/reboot-required && echo yes || echo no')).trim();

describe('an update that breaks only at the next start', () => {
  it('with --restart never, 7.0 passes and is kept, with a warning that a restart is due; the next restart shows it broken', async () => {
    const name = await launch('restart-never');
    await publish(name, '7.0');
    const run = await safeupdate([name, '--json', ...CHECK, '--restart', 'never', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(0);
    expect(await demoVersion(name)).toBe('7.0');
    const item = run.report!.instances[0]!;
    expect(item.restart).toMatchObject({ mode: 'never', due: true, rebootRequired: true, packages: ['safeupdate-demo'], restarted: false });
    expect(item.warnings.join('\n')).toContain('a restart is due (reboot-required by safeupdate-demo), not made (--restart never)');
    expect(item.steps.map((s) => s.action)).not.toContain('restart');

    // What the operator would find at the next reboot, long after the snapshot expired.
    await lxc('restart', name);
    expect(await settledUnitState(name)).toBe('failed');
  });

  it('with --restart auto, 7.0 is restarted before the checks, fails them, and is rolled back: exit 1, 1.0 runs again', async () => {
    const name = await launch('restart-auto');
    await publish(name, '7.0');
    const run = await safeupdate([name, '--json', ...CHECK, '--restart', 'auto', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.report!.outcome).toBe('rolled-back');
    const item = run.report!.instances[0]!;
    expect(item.restart).toMatchObject({ mode: 'auto', due: true, packages: ['safeupdate-demo'], restarted: true, cameBack: true });
    expect(item.error!.step).toBe('after-update');
    expect(item.steps.map((s) => s.action)).toEqual(expect.arrayContaining(['update', 'restart', 'after-update', 'stop', 'restore', 'start', 'after-rollback']));
    expect(item.steps.findIndex((s) => s.action === 'restart')).toBeLessThan(item.steps.findIndex((s) => s.action === 'after-update'));
    expect(await demoVersion(name)).toBe('1.0');
    expect(await settledUnitState(name)).toBe('active');
    expect(await status(name)).toBe('Running');
  });
});

describe('a good update that is due a restart', () => {
  it('7.1 leaves reboot-required: restarted once, healthy after it, kept: exit 0', async () => {
    const name = await launch('restart-good');
    await publish(name, '7.1');
    const run = await safeupdate([name, '--json', ...CHECK, '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(0);
    const item = run.report!.instances[0]!;
    // The default is auto.
    expect(item.restart).toMatchObject({ mode: 'auto', due: true, rebootRequired: true, packages: ['safeupdate-demo'], restarted: true, cameBack: true });
    expect(item.restart!.durationMs).toBeGreaterThan(0);
    expect(item.steps.filter((s) => s.action === 'restart')).toHaveLength(1);
    expect(await demoVersion(name)).toBe('7.1');
    expect(await settledUnitState(name)).toBe('active');
    // /run is emptied by a start: the marker is gone because the instance really restarted.
    expect(await rebootRequired(name)).toBe('no');
  });

  it('a binary replaced under the running service (what an upgrade of busybox does) is found in /proc and restarted', async () => {
    const name = await launch('restart-maps');
    // dpkg's way: the new file is renamed over the old one, which the running httpd keeps mapped.
    const replace = ['sh', '-c', 'cp /bin/busybox /bin/busybox.new && mv /bin/busybox.new /bin/busybox'];
    const run = await safeupdate([name, '--json', ...CHECK, '--no-package-report', '--', ...replace]);

    expect(run.exitCode, run.stderr).toBe(0);
    const item = run.report!.instances[0]!;
    expect(item.restart).toMatchObject({ mode: 'auto', due: true, rebootRequired: false, restarted: true, cameBack: true });
    expect(item.restart!.processes).toContainEqual(expect.objectContaining({ command: 'busybox', files: ['/usr/bin/busybox'] }));
    expect(await settledUnitState(name)).toBe('active');
  });
});
