import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import { LxdError } from '../../../src/errors.js';
import type { ExecResult, Instance } from '../../../src/lxd/lxd.js';
import type { RunEvent } from '../../../src/run/events.js';
import { runUpdate } from '../../../src/run/run-update.js';
import type { RunOptions } from '../../../src/run/types.js';
import { chooseSnapshotName } from '../../../src/run/steps/snapshot.js';
import { failedCopyName } from '../../../src/run/steps/rollback.js';
import { FakeClock } from '../../support/fake-clock.js';
import { runOptions } from './run-harness.js';
import { execResult, FakeLxd, isCommand, isEvidence, isSystemdCheck, isSystemdProbe, isUnitCheck, restoreOf, runningContainer, startOf, stopOf, systemdOutput, unitOutput } from '../../support/fake-lxd.js';

const COMMAND = ['apt-get', 'upgrade', '-y'];
const DAY = 86_400_000;
const GIB = 2 ** 30;

let lxd: FakeLxd;
let clock: FakeClock;
let runDir: string;
let events: RunEvent[];

beforeEach(async () => {
  taken = null;
  lxd = new FakeLxd();
  clock = new FakeClock();
  runDir = await mkdtemp(join(tmpdir(), 'safeupdate-run-'));
  events = [];
});

afterEach(async () => {
  await rm(runDir, { recursive: true, force: true });
});


async function run(overrides: Partial<RunOptions> = {}, interrupt = new AbortController().signal) {
  const report = await runUpdate(runOptions(overrides), {
    lxd, clock, emit: (event) => events.push(event), runId: 'run-1', runDir, stateDir: runDir, toolVersion: '0.0.0-test', interrupt,
  });
  lxd.assertDone();
  return { report, item: report.instances[0]! };
}

// Scripted stages of a run, in the order the run makes its calls.
/** `systemd`: what the probe for the default check finds; null when checks are configured (no probe). */
function preflight(instance: Instance | null = runningContainer(), systemd: boolean | null = true) {
  lxd.expect('checkReachable', () => undefined);
  lxd.expect('getInstance', () => instance);
  if (instance?.status === 'Running' && !instance.ephemeral) {
    lxd.expect('getSpace', () => ({ driver: 'dir', freeBytes: 50 * GIB, usedByInstanceBytes: null }), (args) => args[1] === 'default', 'space in pool default');
  }
  if (systemd !== null && instance?.status === 'Running' && !instance.ephemeral) {
    lxd.expect('exec', () => execResult({ exitCode: systemd ? 0 : 1 }), isSystemdProbe, 'systemd probe');
  }
}
/** After an update or a restore a pass is confirmed by a second look a moment later. */
function systemdHealthy(failed: string[] = []) {
  baselineHealthy(failed);
  baselineHealthy(failed);
}
/** Before anything changed one look is the answer. */
function baselineHealthy(failed: string[] = []) {
  lxd.expect('exec', () => systemdOutput(failed.length ? 'degraded' : 'running', failed), isSystemdCheck, 'systemd check');
}
/** The snapshot the scripted run took: every restore must name it, on the same instance. */
let taken: string | null = null;
function snapshot(existing: string[] = []) {
  lxd.expect('listSnapshots', () => existing.map((name) => ({ name, createdAt: '', expiresAt: null, stateful: false, sizeBytes: null })));
  lxd.expect('createSnapshot', (args) => {
    taken = args[1] as string;
  }, (args) => (args[0] as { name: string }).name === 'web1' && String(args[1]).startsWith('safeupdate-') && !existing.includes(String(args[1])), 'a new safeupdate- snapshot of web1');
}
/** web1 as the run resolves it: every stop, restore and start must name it so. */
const resolved = { remote: 'local', name: 'web1', project: 'default' };
function update(result: ExecResult = execResult()) {
  lxd.expect('exec', () => result, isCommand(COMMAND), 'the update command');
}
function rollback(status = 'Running') {
  lxd.expect('exec', () => execResult({ stdout: 'evidence' }), isEvidence, 'evidence');
  lxd.expect('getInstance', () => runningContainer({ status }));
  if (status !== 'Stopped') lxd.expect('stopInstance', () => undefined, stopOf(resolved), 'forced stop');
  lxd.expect('restoreSnapshot', () => undefined, restoreOf(resolved, () => taken), 'restore of the snapshot the run took');
  lxd.expect('startInstance', () => undefined, startOf(resolved));
}
/** A failed update, its evidence, and the forced stop: the start of every rollback. */
function failedUpdateUntilStopped() {
  preflight();
  baselineHealthy();
  snapshot();
  update(execResult({ exitCode: 100 }));
  lxd.expect('exec', () => execResult(), isEvidence);
  lxd.expect('getInstance', () => runningContainer());
  lxd.expect('stopInstance', () => undefined, stopOf(resolved), 'forced stop');
}
function finalStatus(status = 'Running') {
  lxd.expect('getInstance', () => runningContainer({ status }));
}

describe('a healthy update', () => {
  it('snapshots with an expiry, runs the command non-interactively, checks, and exits 0', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update(execResult({ stdout: 'Setting up demo (1.1)\n' }));
    systemdHealthy();
    finalStatus();
    const { report, item } = await run();

    expect(report.outcome).toBe('updated');
    expect(report.exitCode).toBe(0);
    const [, name, expiresAt] = lxd.calls.find((c) => c.method === 'createSnapshot')!.args as [unknown, string, Date];
    expect(name).toBe('safeupdate-20261126-100000');
    expect(expiresAt.getTime() - clock.now()).toBeGreaterThan(14 * DAY - 10_000);
    expect(item.snapshot).toEqual({ name, expiresAt: expiresAt.toISOString() });
    const updateCall = lxd.calls.find((c) => c.method === 'exec' && isCommand(COMMAND)(c.args))!;
    expect(updateCall.args[2]).toMatchObject({ env: { DEBIAN_FRONTEND: 'noninteractive' }, interactive: false, timeoutMs: 3_600_000 });
    expect(item.checks.map((c) => [c.name, c.phase, c.ok])).toEqual([['systemd', 'baseline', true], ['systemd', 'after-update', true]]);
    expect(item.rollback).toEqual({ performed: false, steps: [] });
    expect(item.update).toMatchObject({ exitCode: 0, timedOut: false });
    expect(await readFile(item.update.logFile!, 'utf8')).toContain('Setting up demo (1.1)');
    expect(events.filter((e) => e.type === 'step-end').map((e) => e.type === 'step-end' && e.step.action)).toEqual(['preflight', 'baseline', 'snapshot', 'update', 'after-update']);
  });

  it('passes --env variables and, interactive, leaves the terminal to the command', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update();
    systemdHealthy();
    finalStatus();
    await run({ interactive: true, env: { HTTP_PROXY: 'http://127.0.0.1:3128' } });
    const updateCall = lxd.calls.find((c) => c.method === 'exec' && isCommand(COMMAND)(c.args))!;
    expect(updateCall.args[2]).toMatchObject({ env: { HTTP_PROXY: 'http://127.0.0.1:3128' }, interactive: true });
    expect((updateCall.args[2] as { env: object }).env).not.toHaveProperty('DEBIAN_FRONTEND');
    expect(events).toContainEqual({ type: 'update-owns-terminal', owns: true });
  });

  it('never expires the snapshot with --no-expiry, and keeps an explicit name', async () => {
    preflight();
    baselineHealthy();
    snapshot(['safeupdate-other']);
    update();
    systemdHealthy();
    finalStatus();
    const { item } = await run({ expiryMs: null, snapshotName: 'safeupdate-before-php8' });
    expect(lxd.calls.find((c) => c.method === 'createSnapshot')!.args.slice(1)).toEqual(['safeupdate-before-php8', null]);
    expect(item.snapshot.expiresAt).toBeNull();
  });
});

describe('a failed update is rolled back', () => {
  it('on a non-zero exit: collects evidence, stops, restores, starts, verifies, exits 1', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update(execResult({ exitCode: 100, stderr: 'E: Sub-process /usr/bin/dpkg returned an error code (1)' }));
    rollback();
    systemdHealthy();
    finalStatus();
    const { report, item } = await run();

    expect(report.outcome).toBe('rolled-back');
    expect(report.exitCode).toBe(1);
    expect(item.update.exitCode).toBe(100);
    expect(item.error).toEqual({ step: 'update', message: 'the update command exited 100' });
    expect(item.rollback.performed).toBe(true);
    expect(item.rollback.steps.map((s) => [s.action, s.ok])).toEqual([['stop', true], ['restore', true], ['start', true]]);
    expect(lxd.calls.find((c) => c.method === 'restoreSnapshot')!.args[1]).toBe(item.snapshot.name);
    expect(item.checks.map((c) => c.phase)).toEqual(['baseline', 'after-rollback']);
    expect(await readFile(join(item.evidenceDir!, 'instance.txt'), 'utf8')).toContain('evidence');
    // Views are told which steps make up the rollback, before they start, and when it is over.
    const group = events.findIndex((e) => e.type === 'group-start');
    expect(events[group]).toEqual({ type: 'group-start', title: `Roll back to ${item.snapshot.name}`, actions: ['evidence', 'stop', 'restore', 'start', 'after-rollback'] });
    expect(events.slice(group).filter((e) => e.type === 'step-end').map((e) => e.type === 'step-end' && e.step.action)).toEqual(['evidence', 'stop', 'restore', 'start', 'after-rollback']);
    expect(events.at(-1)).toEqual({ type: 'group-end' });
  });

  it('when a unit check fails after an update that apt reported as successful', async () => {
    preflight(undefined, null);
    lxd.expect('exec', () => unitOutput('active', 'running'), isUnitCheck('nginx'));
    snapshot();
    update();
    lxd.expect('exec', () => unitOutput('failed', 'failed', 'inv-2', 'exit-code'), isUnitCheck('nginx'));
    rollback();
    lxd.expect('exec', () => unitOutput('activating', 'start'), isUnitCheck('nginx'));
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-3'), isUnitCheck('nginx'));
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-3'), isUnitCheck('nginx'));
    finalStatus();
    lxd.expect('exec', () => execResult(), () => false, 'nothing more');
    const { report, item } = await runExpectingLeftover({ checks: [defineCheck('unit:nginx')] });

    expect(report.exitCode).toBe(1);
    expect(item.error?.message).toContain('unit:nginx (failed (failed), result exit-code)');
    const afterRollback = item.checks.find((c) => c.phase === 'after-rollback')!;
    expect(afterRollback).toMatchObject({ ok: true, attempts: 3 });
  });

  it('when the update times out: no exit code, timedOut, rolled back', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update(execResult({ exitCode: null, signal: 'SIGKILL', timedOut: true }));
    rollback();
    systemdHealthy();
    finalStatus();
    const { report, item } = await run({ timeoutMs: 90_000 });
    expect(report.exitCode).toBe(1);
    expect(item.update).toMatchObject({ exitCode: null, signal: 'SIGKILL', timedOut: true });
    expect(item.error?.message).toBe('the update command did not finish within 1m30s (--timeout)');
  });

  it('skips the stop when the update left the instance stopped', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update(execResult({ exitCode: 255 }));
    rollback('Stopped');
    systemdHealthy();
    finalStatus();
    const { item } = await run();
    expect(item.rollback.steps.map((s) => s.action)).toEqual(['stop', 'restore', 'start']);
    expect(lxd.calls.some((c) => c.method === 'stopInstance')).toBe(false);
  });
});

// Used where the script ends with a sentinel that must stay unused.
async function runExpectingLeftover(overrides: Partial<RunOptions>) {
  const report = await runUpdate(runOptions(overrides), {
    lxd, clock, emit: (event) => events.push(event), runId: 'run-1', runDir, stateDir: runDir, toolVersion: '0.0.0-test', interrupt: new AbortController().signal,
  });
  expect(lxd.unexpected).toEqual([]);
  return { report, item: report.instances[0]! };
}

describe('refusing to start changes nothing', () => {
  it.each([
    ['a missing instance', null, 'instance web1 does not exist'],
    ['a stopped instance', runningContainer({ status: 'Stopped' }), 'instance web1 is stopped, not running; start it first (lxc start local:web1 --project default)'],
    ['an ephemeral instance', runningContainer({ ephemeral: true }), 'instance web1 is ephemeral: LXD deletes it when it stops, so it cannot be rolled back'],
  ])('%s: exit 3', async (_, instance, message) => {
    preflight(instance);
    finalStatus(instance ? instance.status : 'missing');
    const { report, item } = await run();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error).toEqual({ step: 'preflight', message });
    expect(lxd.calls.map((c) => c.method)).not.toContain('createSnapshot');
  });

  it('an unreachable LXD: exit 3', async () => {
    lxd.expect('checkReachable', () => {
      throw new LxdError('LXD is not reachable: connect: no such file or directory', 'unreachable', ['lxc', 'query', '/1.0']);
    });
    lxd.expect('getInstance', () => {
      throw new LxdError('LXD is not reachable', 'unreachable', []);
    });
    const { report, item } = await run();
    expect(report.exitCode).toBe(3);
    expect(item.error?.message).toContain('LXD is not reachable');
    expect(item.finalStatus).toBeNull();
  });

  it('an unhealthy baseline: exit 3 and no snapshot', async () => {
    preflight(undefined, null);
    lxd.expect('exec', () => execResult({ exitCode: 1, stderr: 'connection refused' }), isCommand(['sh', '-c', 'curl -f localhost']));
    finalStatus();
    const check = defineCheck('exec:curl -f localhost', { timing: { deadlineMs: 200, intervalMs: 2_000 } });
    const { report, item } = await run({ checks: [check] });
    expect(report.exitCode).toBe(3);
    expect(item.error?.step).toBe('baseline');
    expect(item.error?.message).toContain('--force');
  });

  it('a failed snapshot: exit 3, the update never runs', async () => {
    preflight();
    baselineHealthy();
    lxd.expect('listSnapshots', () => []);
    lxd.expect('createSnapshot', () => {
      throw new LxdError('Failed to create parent snapshot directory', 'failed', []);
    });
    finalStatus();
    const { report, item } = await run();
    expect(report.exitCode).toBe(3);
    expect(item.error).toEqual({ step: 'snapshot', message: 'snapshot failed: Failed to create parent snapshot directory' });
  });

  it('an explicit snapshot name that exists: exit 3, never replaced', async () => {
    preflight();
    baselineHealthy();
    lxd.expect('listSnapshots', () => [{ name: 'safeupdate-x', createdAt: '', expiresAt: null, stateful: false, sizeBytes: null }]);
    finalStatus();
    const { report, item } = await run({ snapshotName: 'safeupdate-x' });
    expect(report.exitCode).toBe(3);
    expect(item.error?.message).toContain('safeupdate never replaces a snapshot');
  });
});

describe('--force with an unhealthy baseline', () => {
  it('updates, and after a rollback expects only what passed at baseline', async () => {
    const broken = defineCheck('exec:test -f /etc/broken-before');
    const unit = defineCheck('unit:nginx');
    preflight(undefined, null);
    lxd.expect('exec', () => execResult({ exitCode: 1 }), isCommand(['sh', '-c', 'test -f /etc/broken-before']));
    lxd.expect('exec', () => unitOutput('active', 'running'), isUnitCheck('nginx'));
    snapshot();
    update(execResult({ exitCode: 1 }));
    rollback();
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-9'), isUnitCheck('nginx'));
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-9'), isUnitCheck('nginx'));
    finalStatus();
    const brokenFast = { ...broken, timing: { ...broken.timing, deadlineMs: 200 } };
    const { report, item } = await run({ checks: [brokenFast, unit], force: true });
    expect(report.exitCode).toBe(1);
    expect(item.warnings[0]).toContain('updating anyway (--force)');
    expect(item.checks.filter((c) => c.phase === 'after-rollback').map((c) => c.name)).toEqual(['unit:nginx']);
  });
});

describe('when a human is needed (exit 4)', () => {
  it('--no-rollback leaves a failure in place', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update(execResult({ exitCode: 100 }));
    finalStatus();
    const { report, item } = await run({ rollback: false });
    expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
    expect(item.rollback.performed).toBe(false);
    expect(item.error?.message).toContain(`left as it is (--no-rollback), snapshot ${item.snapshot.name} kept`);
  });

  it('a failed restore keeps the record at rolling-back: the next run refuses, recover takes over', async () => {
    failedUpdateUntilStopped();
    lxd.expect('restoreSnapshot', () => {
      throw new LxdError('Snapshot not found', 'not-found', []);
    }, restoreOf(resolved, () => taken));
    finalStatus('Stopped');
    const { item } = await run();
    const record = JSON.parse(await readFile(join(runDir, 'instances', 'local_default_web1.json'), 'utf8'));
    expect(record).toMatchObject({ runId: 'run-1', phase: 'rolling-back', snapshot: item.snapshot.name });
  });

  it('a failed restore says what to run by hand', async () => {
    failedUpdateUntilStopped();
    lxd.expect('restoreSnapshot', () => {
      throw new LxdError('Snapshot not found', 'not-found', []);
    }, restoreOf(resolved, () => taken));
    finalStatus('Stopped');
    const { report, item } = await run();
    expect(report.exitCode).toBe(4);
    expect(item.error?.step).toBe('restore');
    expect(item.error?.message).toContain(`lxc restore local:web1 ${item.snapshot.name} --project default && lxc start local:web1 --project default`);
    expect(item.finalStatus).toBe('Stopped');
    expect(item.rollback.steps.map((s) => [s.action, s.ok])).toEqual([['stop', true], ['restore', false]]);
  });

  it('still unhealthy after the rollback', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update(execResult({ exitCode: 100 }));
    rollback();
    lxd.expect('exec', () => systemdOutput('degraded', ['db.service']), isSystemdCheck);
    finalStatus();
    const { report, item } = await run();
    expect(report.exitCode).toBe(4);
    expect(item.error?.message).toContain('still unhealthy: check failed: systemd (failed units: db.service)');
  });
});

describe('the systemd check', () => {
  it('does not blame the update for units that had failed at baseline', async () => {
    preflight();
    baselineHealthy(['motd-news.service']);
    snapshot();
    update();
    systemdHealthy(['motd-news.service']);
    finalStatus();
    const { report } = await run();
    expect(report.exitCode).toBe(0);
  });
});

describe('a non-required check', () => {
  it('fails as a warning and never causes a rollback', async () => {
    const optional = defineCheck('exec:pdnsutil check-all-zones', { required: false, timing: { deadlineMs: 200 } });
    preflight(undefined, null);
    lxd.expect('exec', () => execResult(), isCommand(['sh', '-c', 'pdnsutil check-all-zones']));
    snapshot();
    update();
    lxd.expect('exec', () => execResult({ exitCode: 1, stderr: 'zone example.org broken' }), isCommand(['sh', '-c', 'pdnsutil check-all-zones']));
    finalStatus();
    const { report, item } = await run({ checks: [optional] });
    expect(report.exitCode).toBe(0);
    expect(item.warnings).toContainEqual(expect.stringContaining('zone example.org broken'));
  });
});

describe('--dry-run', () => {
  it('prints a plan, takes no snapshot, exits 0', async () => {
    preflight();
    baselineHealthy();
    finalStatus();
    const { report, item } = await run({ dryRun: true });
    expect(report).toMatchObject({ outcome: 'planned', exitCode: 0, dryRun: true });
    expect(item.plan[0]).toContain('snapshot web1 as safeupdate-<UTC timestamp> (expires in 2w)');
    expect(item.plan[1]).toContain('"apt-get","upgrade","-y"');
  });

  it('exits 3 when a real run would refuse', async () => {
    preflight(runningContainer({ status: 'Frozen' }));
    finalStatus('Frozen');
    const { report } = await run({ dryRun: true });
    expect(report.exitCode).toBe(3);
  });
});

describe('storage that a snapshot does not cover', () => {
  it('is named in the plan and the report', async () => {
    preflight(runningContainer({
      devices: {
        root: { type: 'disk', path: '/', pool: 'default' },
        data: { type: 'disk', path: '/var/lib/postgresql', pool: 'fast', source: 'pgdata' },
        share: { type: 'disk', path: '/srv/share', source: '/mnt/share' },
      },
    }));
    baselineHealthy();
    finalStatus();
    const { item } = await run({ dryRun: true });
    expect(item.uncoveredVolumes).toEqual([
      { device: 'data', path: '/var/lib/postgresql', source: 'pgdata', pool: 'fast' },
      { device: 'share', path: '/srv/share', source: '/mnt/share', pool: null },
    ]);
    expect(item.plan).toContain('not covered by rollback: /var/lib/postgresql (device data)');
  });
});

describe('an instance without systemd and without checks', () => {
  it('lets the exit code decide, and says so', async () => {
    preflight(runningContainer(), false);
    snapshot();
    update();
    finalStatus();
    const { report, item } = await run();
    expect(report.exitCode).toBe(0);
    expect(item.checks).toEqual([]);
    expect(item.warnings[0]).toContain("only the update command's exit code decides");
  });
});

describe('an interrupt', () => {
  it('during the update rolls back and exits 143 for SIGTERM', async () => {
    const controller = new AbortController();
    preflight();
    baselineHealthy();
    snapshot();
    lxd.expect('exec', () => {
      controller.abort('SIGTERM');
      return execResult({ exitCode: null, signal: 'SIGKILL', canceled: true });
    }, isCommand(COMMAND));
    rollback();
    systemdHealthy();
    finalStatus();
    const { report, item } = await run({}, controller.signal);
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143, interruptedBy: 'SIGTERM' });
    expect(item.error).toEqual({ step: 'update', message: 'interrupted by SIGTERM' });
    expect(item.rollback.performed).toBe(true);
  });

  it('before the snapshot changes nothing and exits 130', async () => {
    const controller = new AbortController();
    preflight();
    lxd.expect('exec', () => {
      controller.abort('SIGINT');
      return systemdOutput('running');
    }, isSystemdCheck);
    finalStatus();
    const { report } = await run({}, controller.signal);
    expect(report.exitCode).toBe(130);
    expect(lxd.calls.map((c) => c.method)).not.toContain('createSnapshot');
  });
});

describe('chooseSnapshotName', () => {
  const now = new Date('2026-11-26T09:08:07Z');
  it('names by UTC time and adds a suffix rather than replacing', () => {
    expect(chooseSnapshotName(null, new Set(), now)).toBe('safeupdate-20261126-090807');
    expect(chooseSnapshotName(null, new Set(['safeupdate-20261126-090807', 'safeupdate-20261126-090807-2']), now)).toBe('safeupdate-20261126-090807-3');
    expect(chooseSnapshotName('safeupdate-a', new Set(['safeupdate-a']), now)).toBeNull();
  });
});

describe('the per-instance record (lock)', () => {
  const recordPath = () => join(runDir, 'instances', 'local_default_web1.json');

  it('records the phase and snapshot before the update runs, and is gone after the run', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    let during: { phase: string; snapshot: string; pid: number } | undefined;
    lxd.expect('exec', async () => {
      during = JSON.parse(await readFile(recordPath(), 'utf8'));
      return execResult();
    }, isCommand(COMMAND));
    systemdHealthy();
    finalStatus();
    const { item } = await run();
    expect(during).toMatchObject({ phase: 'updating', snapshot: item.snapshot.name, pid: process.pid });
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('a second run while one holds the instance: exit 3 naming the holder, nothing called but the status', async () => {
    await mkdir(join(runDir, 'instances'), { recursive: true });
    await writeFile(recordPath(), JSON.stringify({ runId: 'other-run', pid: process.pid, pidStartedAt: null, instance: 'web1', phase: 'updating', command: ['apt-get', 'upgrade'], startedAt: '2026-11-26T09:00:00Z', snapshot: 's' }));
    finalStatus();
    const { report, item } = await run();
    expect(report.exitCode).toBe(3);
    expect(item.error?.step).toBe('lock');
    expect(item.error?.message).toContain(`web1 is busy: run other-run (pid ${process.pid}`);
    // The holder's record is left alone.
    expect(JSON.parse(await readFile(recordPath(), 'utf8')).runId).toBe('other-run');
  });

  it('a record left by a killed run that had begun the update: exit 3, run recover', async () => {
    await mkdir(join(runDir, 'instances'), { recursive: true });
    await writeFile(recordPath(), JSON.stringify({ runId: 'dead-run', pid: 999_999_999, pidStartedAt: '1', instance: 'web1', phase: 'updating', command: ['x'], startedAt: 't', snapshot: 'safeupdate-s' }));
    finalStatus();
    const { report, item } = await run();
    expect(report.exitCode).toBe(3);
    expect(item.error?.message).toContain('web1 awaits recovery: run dead-run');
    // Complete, remote and project included: following it must address this very instance.
    expect(item.error?.message).toContain('safeupdate recover local:web1 --project default');
  });

  it('a stale record of a run that changed nothing is cleared with a warning', async () => {
    await mkdir(join(runDir, 'instances'), { recursive: true });
    await writeFile(recordPath(), JSON.stringify({ runId: 'dead-run', pid: 999_999_999, pidStartedAt: '1', instance: 'web1', phase: 'preparing', command: ['x'], startedAt: 't', snapshot: null }));
    preflight();
    baselineHealthy();
    finalStatus();
    const { report, item } = await run({ dryRun: true });
    expect(report.exitCode).toBe(0);
    expect(item.warnings[0]).toContain('cleared the record of run dead-run');
  });
});

describe('space for the snapshot', () => {
  it('refuses with exit 3 when LXD says the snapshot would not fit', async () => {
    lxd.expect('checkReachable', () => undefined);
    lxd.expect('getInstance', () => runningContainer({ devices: { root: { type: 'disk', path: '/', pool: 'small' } } }));
    lxd.expect('getSpace', () => ({ driver: 'dir', freeBytes: 1 * GIB, usedByInstanceBytes: 3 * GIB }), (args) => args[1] === 'small', 'space in pool small');
    finalStatus();
    const { report, item } = await run();
    expect(report.exitCode).toBe(3);
    expect(item.error?.message).toBe('the snapshot would not fit: web1 uses 3.0 GiB, which a snapshot on the dir pool small copies, and the pool has 1.0 GiB free');
  });

  it('does not refuse on a copy-on-write pool, where a snapshot shares blocks', async () => {
    lxd.expect('checkReachable', () => undefined);
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('getSpace', () => ({ driver: 'btrfs', freeBytes: 1 * GIB, usedByInstanceBytes: 3 * GIB }));
    lxd.expect('exec', () => execResult(), isSystemdProbe);
    baselineHealthy();
    finalStatus();
    const { report, item } = await run({ dryRun: true });
    expect(report.exitCode).toBe(0);
    expect(item.plan.at(-1)).toContain('shares blocks and needs no space up front');
  });

  it('says in the plan when LXD does not report the usage, rather than guess', async () => {
    preflight();
    baselineHealthy();
    finalStatus();
    const { item } = await run({ dryRun: true });
    expect(item.plan.at(-1)).toContain('LXD reports no disk usage for this instance');
    expect(item.space).toEqual({ pool: 'default', driver: 'dir', freeBytes: 50 * GIB, neededBytes: null });
  });
});

describe('--keep-failed', () => {
  it('copies the stopped broken state before the restore', async () => {
    failedUpdateUntilStopped();
    lxd.expect('copyInstance', () => undefined, (args) => args[1] === 'web1-failed-20261126100000', 'the post-mortem copy');
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(resolved, () => taken), 'restore of the snapshot the run took');
    lxd.expect('startInstance', () => undefined, startOf(resolved));
    systemdHealthy();
    finalStatus();
    const { report, item } = await run({ keepFailed: true });
    expect(report.exitCode).toBe(1);
    expect(item.keptFailedCopy).toBe('web1-failed-20261126100000');
    expect(item.rollback.steps.map((s) => s.action)).toEqual(['stop', 'keep-failed', 'restore', 'start']);
  });

  it('a failed copy is a warning; the rollback goes on', async () => {
    failedUpdateUntilStopped();
    lxd.expect('copyInstance', () => {
      throw new LxdError('No space left on device', 'failed', []);
    });
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(resolved, () => taken), 'restore of the snapshot the run took');
    lxd.expect('startInstance', () => undefined, startOf(resolved));
    systemdHealthy();
    finalStatus();
    const { report, item } = await run({ keepFailed: true });
    expect(report.exitCode).toBe(1);
    expect(item.keptFailedCopy).toBeNull();
    expect(item.warnings).toContain('could not keep the failed state: No space left on device');
  });

  it('names the copy within 63 characters', () => {
    const name = failedCopyName(`a${'b'.repeat(62)}`, new Date('2026-11-26T09:08:07Z'));
    expect(name).toHaveLength(63);
    expect(name).toMatch(/^ab+-failed-20261126090807$/);
  });
});

describe('--keep after a successful update', () => {
  const taken = (name: string, createdAt: string) => ({ name, createdAt, expiresAt: null, stateful: false, sizeBytes: null });

  it('deletes the older safeupdate snapshots, never others, each checked right before', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update();
    systemdHealthy();
    const all = [taken('safeupdate-new', '2026-11-26T10:00:00Z'), taken('safeupdate-old', '2026-11-20T10:00:00Z'), taken('manual', '2026-11-01T10:00:00Z')];
    lxd.expect('listSnapshots', () => all);
    lxd.expect('listSnapshots', () => all);
    lxd.expect('deleteSnapshot', () => undefined, (args) => args[1] === 'safeupdate-old', 'delete safeupdate-old');
    finalStatus();
    const { report, item } = await run({ keep: 1 });
    expect(report.exitCode).toBe(0);
    expect(item.steps.at(-1)).toMatchObject({ action: 'keep', ok: true, message: 'deleted safeupdate-old' });
  });

  it('a failed prune is exit 5: updated and healthy, follow-up failed', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update();
    systemdHealthy();
    const all = [taken('safeupdate-new', '2026-11-26T10:00:00Z'), taken('safeupdate-old', '2026-11-20T10:00:00Z')];
    lxd.expect('listSnapshots', () => all);
    lxd.expect('listSnapshots', () => all);
    lxd.expect('deleteSnapshot', () => {
      throw new LxdError('Storage busy', 'failed', []);
    });
    finalStatus();
    const { report, item } = await run({ keep: 1 });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 5 });
    expect(item.warnings).toContain('could not delete web1/safeupdate-old: Storage busy');
  });

  it('a listing that fails is a failed follow-up too: exit 5, not 0', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update();
    systemdHealthy();
    lxd.expect('listSnapshots', () => {
      throw new LxdError('LXD did not answer within 30s', 'timeout', []);
    });
    finalStatus();
    const { report, item } = await run({ keep: 1 });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 5 });
    expect(item.error).toEqual({ step: 'follow-up', message: 'updated and healthy, but pruning old snapshots failed (see warnings)' });
    expect(item.warnings).toContain('could not list the snapshots of web1 to keep the 1 newest: LXD did not answer within 30s');
  });
});

describe('--copy-to a snapshot server after a successful update', () => {
  it('refreshes the instance and its snapshots there', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update();
    systemdHealthy();
    lxd.expect('checkReachable', () => undefined, (args) => args[0] === 'backup', 'the server answers');
    lxd.expect('getInstance', () => null, (args) => (args[0] as { remote: string }).remote === 'backup', 'no copy there yet');
    lxd.expect('refreshCopy', () => undefined, (args) => args[1] === 'backup');
    lxd.expect('listSnapshots', () => [{ name: 'safeupdate-20261126-100000', createdAt: '', expiresAt: null, stateful: false, sizeBytes: null }]);
    finalStatus();
    const { report, item } = await run({ copyTo: 'backup' });
    expect(report.exitCode).toBe(0);
    expect(item.copy).toMatchObject({ remote: 'backup', ok: true, transferredSnapshots: ['safeupdate-20261126-100000'] });
  });

  it('an unreachable server does not undo the update: exit 5, outcome updated', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update();
    systemdHealthy();
    lxd.expect('checkReachable', () => {
      throw new LxdError('LXD is not reachable: connection refused', 'unreachable', []);
    });
    finalStatus();
    const { report, item } = await run({ copyTo: 'backup' });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 5 });
    expect(item.rollback.performed).toBe(false);
    expect(item.error?.message).toBe('updated and healthy, but the copy to backup: failed (see warnings)');
    expect(item.copy).toMatchObject({ ok: false, message: 'LXD is not reachable: connection refused' });
  });
});

describe('the state folder fails, the rollback does not', () => {
  const recordPath = () => join(runDir, 'instances', 'local_default_web1.json');

  it('a record that can no longer be written during the update: the rollback still runs, exit 1, a warning says so', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    lxd.expect('exec', async () => {
      // The state folder breaks mid-run: every write into it fails from now on (ENOTDIR).
      await rename(join(runDir, 'instances'), join(runDir, 'instances-gone'));
      await writeFile(join(runDir, 'instances'), 'not a folder');
      return execResult({ exitCode: 100 });
    }, isCommand(COMMAND));
    rollback();
    systemdHealthy();
    finalStatus();
    const { report, item } = await run();
    expect(report).toMatchObject({ outcome: 'rolled-back', exitCode: 1 });
    expect(item.rollback.steps.map((s) => `${s.action}:${s.ok}`)).toEqual(['stop:true', 'restore:true', 'start:true']);
    expect(item.warnings.join('\n')).toMatch(/could not write the record .*local_default_web1\.json: .*ENOTDIR.*; rolling back regardless/);
  });

  it('a record that cannot be written before the update: the update never starts, exit 3, snapshot kept', async () => {
    preflight();
    baselineHealthy();
    lxd.expect('listSnapshots', () => []);
    lxd.expect('createSnapshot', async () => {
      await rename(join(runDir, 'instances'), join(runDir, 'instances-gone'));
      await writeFile(join(runDir, 'instances'), 'not a folder');
    });
    finalStatus();
    const { report, item } = await run();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error?.message).toMatch(/could not write the record .*; not starting the update/);
    expect(lxd.calls.some((c) => c.method === 'exec' && isCommand(COMMAND)(c.args))).toBe(false);
  });

  it('a full disk under the update log: one warning, the run goes on and concludes', async () => {
    // Every write to /dev/full fails with ENOSPC, as on a full state folder.
    await mkdir(join(runDir, 'web1'), { recursive: true });
    await symlink('/dev/full', join(runDir, 'web1', 'update.log'));
    preflight();
    baselineHealthy();
    snapshot();
    update(execResult({ exitCode: 100, stdout: 'x'.repeat(100_000) }));
    rollback();
    systemdHealthy();
    finalStatus();
    const { report, item } = await run();
    expect(report).toMatchObject({ outcome: 'rolled-back', exitCode: 1 });
    const logWarnings = item.warnings.filter((w) => w.includes('update.log is incomplete'));
    expect(logWarnings).toHaveLength(1);
    expect(logWarnings[0]).toContain('ENOSPC');
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('a state folder that is not a folder: exit 3 before LXD is touched beyond the client config', async () => {
    const file = join(runDir, 'plain-file');
    await writeFile(file, '');
    finalStatus();
    const report = await runUpdate(runOptions(), {
      lxd, clock, emit: () => {}, runId: 'run-1', runDir: join(file, 'runs', 'run-1'), stateDir: file, toolVersion: 't', interrupt: new AbortController().signal,
    });
    lxd.assertDone();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(report.instances[0]!.error?.message).toMatch(/^cannot take the lock in .*plain-file: .*(ENOTDIR|EEXIST).*; nothing changed$/);
  });

  it('a corrupt record names its file and how to clear it: exit 3, the file is left alone', async () => {
    await mkdir(join(runDir, 'instances'), { recursive: true });
    await writeFile(recordPath(), '{"runId": "half');
    finalStatus();
    const { report, item } = await run();
    expect(report.exitCode).toBe(3);
    expect(item.error?.message).toContain(`the record ${recordPath()} is unreadable`);
    expect(item.error?.message).toContain('safeupdate recover local:web1 --project default --forget');
    expect(await readFile(recordPath(), 'utf8')).toBe('{"runId": "half');
  });

  it('an empty record is corrupt too, not a crash', async () => {
    await mkdir(join(runDir, 'instances'), { recursive: true });
    await writeFile(recordPath(), '');
    finalStatus();
    const { report, item } = await run();
    expect(report.exitCode).toBe(3);
    expect(item.error?.message).toContain('is unreadable (empty)');
  });
});

describe('the lock is keyed by the resolved remote and project', () => {
  it('web1 with the current project prod and web1 --project prod are the same lock', async () => {
    lxd.current = { remote: 'local', project: 'prod' };
    await mkdir(join(runDir, 'instances'), { recursive: true });
    await writeFile(join(runDir, 'instances', 'local_prod_web1.json'), JSON.stringify({ runId: 'other-run', pid: process.pid, pidStartedAt: null, instance: 'web1', phase: 'updating', command: ['x'], startedAt: 't', snapshot: 's' }));
    finalStatus();
    const { report, item } = await run();
    expect(report.exitCode).toBe(3);
    expect(item.error?.message).toContain('web1 is busy: run other-run');
    expect(item.project).toBe('prod');
  });
});

describe('an interrupt before anything changed', () => {
  it('during the baseline checks: exit 130 as interrupted, not 3 as unhealthy, no snapshot', async () => {
    const controller = new AbortController();
    preflight(runningContainer(), null);
    lxd.expect('exec', () => {
      controller.abort('SIGINT');
      return unitOutput('activating', 'start');
    }, isUnitCheck('nginx'));
    finalStatus();
    const { report, item } = await run({ checks: [defineCheck('unit:nginx')] }, controller.signal);
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 130, interruptedBy: 'SIGINT' });
    expect(item.error).toEqual({ step: 'baseline', message: 'interrupted by SIGINT before the update began; nothing was updated' });
    expect(lxd.calls.map((c) => c.method)).not.toContain('createSnapshot');
  });

  it('during the baseline checks with --force: still 130, the update never runs', async () => {
    const controller = new AbortController();
    preflight(runningContainer(), null);
    lxd.expect('exec', () => {
      controller.abort('SIGHUP');
      return unitOutput('failed', 'failed');
    }, isUnitCheck('nginx'));
    finalStatus();
    const { report } = await run({ checks: [defineCheck('unit:nginx')], force: true }, controller.signal);
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 129 });
    expect(lxd.calls.map((c) => c.method)).not.toContain('createSnapshot');
  });

  it('during the snapshot: the snapshot is kept, the update never runs, nothing is rolled back, exit 143', async () => {
    const controller = new AbortController();
    preflight();
    baselineHealthy();
    lxd.expect('listSnapshots', () => []);
    lxd.expect('createSnapshot', () => {
      controller.abort('SIGTERM');
    });
    finalStatus();
    const { report, item } = await run({}, controller.signal);
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143 });
    expect(item.error?.message).toBe(`interrupted by SIGTERM before the update began; nothing was updated; snapshot ${item.snapshot.name} kept (it expires ${item.snapshot.expiresAt})`);
    expect(item.rollback.performed).toBe(false);
    expect(lxd.calls.filter((c) => c.method === 'exec').map((c) => (c.args[1] as string[])[0])).not.toContain(COMMAND[0]);
  });
});

describe('an internal error never exits 1', () => {
  it('before anything changed: exit 3, nothing changed, the record removed', async () => {
    // The preflight reads beside the lease; the view breaks when it is told of it, at its turn.
    preflight();
    lxd.expect('getInstance', () => runningContainer());
    const report = await runUpdate(runOptions(), {
      lxd, clock, runId: 'run-1', runDir, stateDir: runDir, toolVersion: 't', interrupt: new AbortController().signal,
      emit: (event) => {
        if (event.type === 'step-start' && event.action === 'preflight') throw new TypeError('a view broke');
      },
    });
    lxd.assertDone();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(report.instances[0]!.error).toEqual({ step: 'internal', message: 'internal error: a view broke; nothing changed' });
    await expect(readFile(join(runDir, 'instances', 'local_default_web1.json'))).rejects.toThrow('ENOENT');
  });

  it('once the update began: exit 4, the record kept for recover, and the message says what to run', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update(execResult({ exitCode: 100 }));
    finalStatus();
    const report = await runUpdate(runOptions(), {
      lxd, clock, runId: 'run-1', runDir, stateDir: runDir, toolVersion: 't', interrupt: new AbortController().signal,
      emit: (event) => {
        if (event.type === 'group-start') throw new TypeError('a view broke');
      },
    });
    lxd.assertDone();
    expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
    expect(report.instances[0]!.error?.message).toBe('internal error: a view broke; the instance may have changed. Check it, then: safeupdate recover local:web1 --project default');
    const record = JSON.parse(await readFile(join(runDir, 'instances', 'local_default_web1.json'), 'utf8'));
    expect(record.phase).toBe('updating');
  });
});

describe('--keep and a clock that stepped back', () => {
  it('never deletes the snapshot this run took, even when it looks oldest', async () => {
    preflight();
    baselineHealthy();
    snapshot();
    update();
    systemdHealthy();
    const taken = (name: string, createdAt: string) => ({ name, createdAt, expiresAt: null, stateful: false, sizeBytes: null });
    const mine = 'safeupdate-20261126-100000';
    // The host clock stepped back a day before this run: its snapshot's created_at is the oldest.
    const all = [taken('safeupdate-b', '2026-11-26T09:00:00Z'), taken('safeupdate-a', '2026-11-25T12:00:00Z'), taken(mine, '2026-11-25T10:00:00Z')];
    lxd.expect('listSnapshots', () => all);
    lxd.expect('listSnapshots', () => all);
    lxd.expect('deleteSnapshot', () => undefined, (args) => args[1] === 'safeupdate-a', 'delete safeupdate-a');
    finalStatus();
    const { report, item } = await run({ keep: 2 });
    expect(report.exitCode).toBe(0);
    expect(item.steps.at(-1)).toMatchObject({ action: 'keep', ok: true, message: 'deleted safeupdate-a' });
    expect(lxd.calls.filter((c) => c.method === 'deleteSnapshot').map((c) => c.args[1])).toEqual(['safeupdate-a']);
  });
});

describe('the baseline is recorded for recover', () => {
  it('failed units and passed checks are in the record before the snapshot', async () => {
    preflight(runningContainer(), null);
    lxd.expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck);
    lxd.expect('exec', () => unitOutput('failed', 'failed'), isUnitCheck('nginx'));
    let recorded: unknown;
    lxd.expect('listSnapshots', async () => {
      recorded = JSON.parse(await readFile(join(runDir, 'instances', 'local_default_web1.json'), 'utf8')).baseline;
      return [];
    });
    lxd.expect('createSnapshot', (args) => {
      taken = args[1] as string;
    });
    update();
    lxd.expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck);
    lxd.expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck);
    lxd.expect('exec', () => unitOutput('failed', 'failed'), isUnitCheck('nginx'));
    lxd.expect('exec', () => execResult(), isEvidence);
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('stopInstance', () => undefined, stopOf(resolved));
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(resolved, () => taken), 'restore of the snapshot the run took');
    lxd.expect('startInstance', () => undefined, startOf(resolved));
    lxd.expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck);
    lxd.expect('exec', () => systemdOutput('degraded', ['old.service']), isSystemdCheck);
    finalStatus();
    await run({ checks: [defineCheck('systemd'), defineCheck('unit:nginx')], force: true });
    expect(recorded).toEqual({ failedUnits: ['old.service'], passedChecks: ['systemd'] });
  });
});


describe('--soak: healthy once is not enough', () => {
  const isRestartRead = (args: unknown[]) => String((args[1] as string[])[2]).includes('--property=Id,NRestarts');
  const counters = (n: number) => execResult({ stdout: `Id=nginx.service\nNRestarts=${n}\n` });
  const upToTheSoak = () => {
    preflight(undefined, null);
    lxd.expect('exec', () => unitOutput('active', 'running'), isUnitCheck('nginx'));
    snapshot();
    update();
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-2'), isUnitCheck('nginx'));
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-2'), isUnitCheck('nginx'));
    lxd.expect('exec', () => counters(0), isRestartRead);
  };

  it('a unit that dies during the soak is rolled back as a failed check would be: exit 1, the soak in the report', async () => {
    upToTheSoak();
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-2'), isUnitCheck('nginx'));
    lxd.expect('exec', () => counters(0), isRestartRead);
    lxd.expect('exec', () => unitOutput('failed', 'failed', 'inv-2', 'exit-code'), isUnitCheck('nginx'));
    rollback();
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-3'), isUnitCheck('nginx'));
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-3'), isUnitCheck('nginx'));
    finalStatus();
    const { report, item } = await run({ checks: [defineCheck('unit:nginx')], soakMs: 30_000 });
    expect(report).toMatchObject({ outcome: 'rolled-back', exitCode: 1 });
    expect(item.error).toEqual({ step: 'soak', message: 'unit:nginx: failed (failed), result exit-code at 2s' });
    expect(item.soak).toEqual({ requestedMs: 30_000, elapsedMs: 2_000, samples: 3, ok: false });
    expect(item.steps.map((step) => [step.action, step.ok])).toContainEqual(['soak', false]);
    expect(item.checks.filter((check) => check.phase === 'soak').map((check) => [check.name, check.ok])).toEqual([['unit:nginx', false], ['restarts', true]]);
  });

  it('healthy the whole time: updated, and the soak says how long and how many looks', async () => {
    upToTheSoak();
    for (let round = 0; round < 2; round += 1) {
      lxd.expect('exec', () => unitOutput('active', 'running', 'inv-2'), isUnitCheck('nginx'));
      lxd.expect('exec', () => counters(0), isRestartRead);
    }
    finalStatus();
    const { report, item } = await run({ checks: [defineCheck('unit:nginx')], soakMs: 2_000 });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 0 });
    expect(item.soak).toEqual({ requestedMs: 2_000, elapsedMs: 2_000, samples: 4, ok: true });
    expect(item.steps.find((step) => step.action === 'soak')).toMatchObject({ ok: true, message: 'healthy for 2s, 4 samples' });
  });

  it('an interrupt during the soak rolls back: interrupted, healthy again', async () => {
    const controller = new AbortController();
    upToTheSoak();
    lxd.expect('exec', () => {
      controller.abort('SIGINT');
      return unitOutput('active', 'running', 'inv-2');
    }, isUnitCheck('nginx'));
    rollback();
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-3'), isUnitCheck('nginx'));
    lxd.expect('exec', () => unitOutput('active', 'running', 'inv-3'), isUnitCheck('nginx'));
    finalStatus();
    const { report, item } = await run({ checks: [defineCheck('unit:nginx')], soakMs: 30_000 }, controller.signal);
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 130 });
    expect(item.error).toEqual({ step: 'soak', message: 'interrupted by SIGINT' });
    expect(item.soak?.ok).toBe(false);
  });
});
