import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import { LxdError } from '../../../src/errors.js';
import type { ExecOptions } from '../../../src/lxd/lxd.js';
import { emptyInstanceReport } from '../../../src/report/report.js';
import { mark } from '../../../src/run/steps/lock.js';
import { failedCopyName } from '../../../src/run/steps/rollback.js';
import { runScope } from '../../../src/run/steps/scope.js';
import { AwaitingRecovery, CorruptRecord, InstanceBusy, InstanceRecordFile, type InstanceRecord } from '../../../src/state/instance-record.js';
import { execResult, isCommand, isEvidence, isUnitCheck, restoreOf, runningContainer, startOf, stopOf, systemdOutput, unitOutput } from '../../support/fake-lxd.js';
import { COMMAND, GIB, resolved, RunHarness, snapshotOf } from './run-harness.js';

// The steps of a run (steps/) as the report and the views see them: each step's action, title,
// outcome, duration and message; the update's log; the plan of a dry run; the lock's refusals.

let h: RunHarness;
beforeEach(async () => {
  h = new RunHarness();
  await h.setUp();
});
afterEach(() => h.tearDown());

const SNAP = 'safeupdate-20261126-100000';

describe('a run that is rolled back, step by step', () => {
  it('tells the views each step with its title, and records each with its duration and message', async () => {
    h.preflight().baselineHealthy().snapshot();
    h.update(() => {
      h.clock.advance(5_000);
      return execResult({ exitCode: 100 });
    });
    h.evidence();
    h.lxd.expect('getInstance', () => runningContainer());
    h.lxd.expect('stopInstance', () => {
      h.clock.advance(700);
    }, stopOf(resolved));
    h.restoreAndStart().systemdHealthy().finalStatus();
    const { report, item } = await h.run();

    expect(h.stepStarts()).toEqual([
      ['preflight', 'Preflight web1'],
      ['baseline', 'Checks (baseline)'],
      ['snapshot', 'Snapshot'],
      ['update', 'Update: apt-get upgrade -y'],
      ['evidence', 'Collect evidence'],
      ['stop', 'Stop web1'],
      ['restore', `Restore ${SNAP}`],
      ['start', 'Start web1'],
      ['after-rollback', 'Checks (after-rollback)'],
    ]);
    const evidenceFile = join(h.dir, 'web1', 'evidence', 'instance.txt');
    expect(item.steps).toEqual([
      { action: 'preflight', ok: true, durationMs: 0, message: 'Running container' },
      { action: 'baseline', ok: true, durationMs: 0, message: '1 check(s) passed' },
      { action: 'snapshot', ok: true, durationMs: 0, message: `${SNAP}, expires 2026-12-10T10:00:00.000Z` },
      { action: 'update', ok: false, durationMs: 5_000, message: 'exit 100' },
      { action: 'evidence', ok: true, durationMs: 0, message: evidenceFile },
      { action: 'stop', ok: true, durationMs: 700, message: 'done' },
      { action: 'restore', ok: true, durationMs: 0, message: 'done' },
      { action: 'start', ok: true, durationMs: 0, message: 'done' },
      { action: 'after-rollback', ok: true, durationMs: 1_000, message: '1 check(s) passed' },
    ]);
    expect(item.rollback.steps).toEqual(item.steps.slice(5, 8));
    expect(item.update.durationMs).toBe(5_000);
    expect(item.evidenceDir).toBe(join(h.dir, 'web1', 'evidence'));
    expect(report.durationMs).toBe(6_700);
    // Each check result is told to the views as it comes.
    expect(h.events.filter((e) => e.type === 'check').map((e) => e.type === 'check' && e.result)).toEqual(item.checks);
    // Nothing went wrong beside the update: no warnings.
    expect(item.warnings).toEqual([]);
    expect(h.warnings()).toEqual([]);
  });

  it('step-end events carry the same records as the report', async () => {
    h.preflight(undefined, false).snapshot().update().finalStatus();
    const { item } = await h.run();
    expect(h.events.flatMap((e) => (e.type === 'step-end' ? [e.step] : []))).toEqual(item.steps);
    // No checks: no check steps at all, not even empty ones.
    expect(item.steps.map((s) => s.action)).toEqual(['preflight', 'snapshot', 'update']);
    expect(item.steps.at(-1)).toMatchObject({ ok: true, message: 'exit 0' });
  });

  it('a snapshot that never expires says so in its step', async () => {
    h.preflight(undefined, false).snapshot().update().finalStatus();
    const { item } = await h.run({ expiryMs: null });
    expect(item.steps.find((s) => s.action === 'snapshot')?.message).toBe(`safeupdate-20261126-100000, never expires`);
  });

  it.each([
    ['timed out', execResult({ exitCode: null, signal: 'SIGKILL', timedOut: true })],
    ['exit SIGKILL', execResult({ exitCode: null, signal: 'SIGKILL' })],
  ])('the update step says "%s"', async (message, result) => {
    h.preflight(undefined, false).snapshot().update(result).evidence().stop().restoreAndStart().finalStatus();
    const { item } = await h.run();
    expect(item.steps.find((s) => s.action === 'update')).toMatchObject({ ok: false, message });
  });

  it('an interrupted update says "interrupted"', async () => {
    const controller = new AbortController();
    h.preflight(undefined, false).snapshot();
    h.update(() => {
      controller.abort('SIGINT');
      return execResult({ exitCode: null, signal: 'SIGKILL', canceled: true });
    });
    h.evidence().stop().restoreAndStart().finalStatus();
    const { item } = await h.run({}, { interrupt: controller.signal });
    expect(item.steps.find((s) => s.action === 'update')).toMatchObject({ ok: false, message: 'interrupted' });
  });
});

describe('the checks step', () => {
  it('fails when a required check fails, counting only those; a failing optional check is a warning', async () => {
    const required = defineCheck('exec:a', { timing: { deadlineMs: 1 } });
    const optional = defineCheck('exec:b', { required: false, timing: { deadlineMs: 1 } });
    const passing = defineCheck('exec:c');
    h.preflight(undefined, null);
    h.lxd.expect('exec', () => execResult({ exitCode: 1 }), isCommand(['sh', '-c', 'a']));
    h.lxd.expect('exec', () => execResult({ exitCode: 2 }), isCommand(['sh', '-c', 'b']));
    h.lxd.expect('exec', () => execResult(), isCommand(['sh', '-c', 'c']));
    h.finalStatus();
    const { report, item } = await h.run({ checks: [required, optional, passing] });
    expect(report.exitCode).toBe(3);
    expect(item.steps.find((s) => s.action === 'baseline')).toMatchObject({ ok: false, message: '1 of 3 required check(s) failed' });
    expect(item.warnings).toEqual(['check exec:b failed (baseline, not required): exit 2 (gave up after 1 attempt)']);
    expect(h.warnings()).toEqual(item.warnings);
  });

  it('passes when only an optional check fails, counting every check', async () => {
    const optional = defineCheck('exec:b', { required: false, timing: { deadlineMs: 1 } });
    h.preflight(undefined, null);
    h.lxd.expect('exec', () => execResult({ exitCode: 2 }), isCommand(['sh', '-c', 'b']));
    h.finalStatus();
    const { item } = await h.run({ checks: [optional], dryRun: true });
    expect(item.steps.find((s) => s.action === 'baseline')).toMatchObject({ ok: true, message: '1 check(s) passed' });
  });
});

describe('the update command and its log', () => {
  const updateOptions = () => h.lxd.calls.find((c) => c.method === 'exec' && isCommand(COMMAND)(c.args))!.args[2] as ExecOptions;

  it('non-interactive: the environment says so (unless given), the log has the command line and the output', async () => {
    const controller = new AbortController();
    h.preflight(undefined, false).snapshot().update(execResult({ stdout: 'Setting up demo (1.1)\n', stderr: 'W: a warning\n' })).finalStatus();
    const { item } = await h.run({ env: { LANG: 'C.UTF-8' }, timeoutMs: 90_000 }, { interrupt: controller.signal });
    const logFile = join(h.dir, 'web1', 'update.log');
    expect(item.update.logFile).toBe(logFile);
    expect(updateOptions()).toEqual({
      env: { DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8', SAFEUPDATE_RUN: 'run-1' }, interactive: false, timeoutMs: 90_000, signal: controller.signal, onOutput: expect.any(Function),
    });
    expect(await readFile(logFile, 'utf8')).toBe('$ apt-get upgrade -y\nSetting up demo (1.1)\nW: a warning\n');
    expect(h.events.filter((e) => e.type === 'output')).toEqual([
      { type: 'output', chunk: 'Setting up demo (1.1)\n' },
      { type: 'output', chunk: 'W: a warning\n' },
    ]);
    expect(h.events.some((e) => e.type === 'update-owns-terminal')).toBe(false);
  });

  it('an operator\'s DEBIAN_FRONTEND wins over the default', async () => {
    h.preflight(undefined, false).snapshot().update().finalStatus();
    await h.run({ env: { DEBIAN_FRONTEND: 'readline' } });
    expect(updateOptions().env).toEqual({ DEBIAN_FRONTEND: 'readline', SAFEUPDATE_RUN: 'run-1' });
  });

  it('interactive: the command owns the terminal for exactly the update, and its transcript goes beside the log', async () => {
    h.preflight(undefined, false).snapshot().update().finalStatus();
    const { item } = await h.run({ interactive: true, env: { LANG: 'C.UTF-8' } });
    const logFile = join(h.dir, 'web1', 'update.log');
    expect(updateOptions()).toMatchObject({ env: { LANG: 'C.UTF-8' }, interactive: true, transcript: `${logFile}.tty` });
    expect(updateOptions().env).not.toHaveProperty('DEBIAN_FRONTEND');
    expect(await readFile(logFile, 'utf8')).toBe(`$ apt-get upgrade -y\n(interactive: the terminal's transcript is in ${logFile}.tty)\n`);
    const around = h.events.filter((e) => e.type === 'update-owns-terminal' || (e.type === 'step-end' && e.step.action === 'update') || (e.type === 'step-start' && e.action === 'update'));
    expect(around.map((e) => (e.type === 'update-owns-terminal' ? `owns:${e.owns}` : e.type))).toEqual(['step-start', 'owns:true', 'owns:false', 'step-end']);
    expect(item.update.logFile).toBe(logFile);
  });

  it('interactive: the terminal is given back also when the update could not run', async () => {
    h.preflight(undefined, false).snapshot();
    h.update(() => {
      throw new LxdError('the "script" command is not installed', 'unreachable', []);
    });
    h.evidence().stop().restoreAndStart().finalStatus();
    const { item } = await h.run({ interactive: true });
    expect(h.events.filter((e) => e.type === 'update-owns-terminal')).toEqual([
      { type: 'update-owns-terminal', owns: true },
      { type: 'update-owns-terminal', owns: false },
    ]);
    expect(item.error?.message).toBe('could not run the update command: the "script" command is not installed');
  });

  it('the log is closed when the run ends', async () => {
    h.preflight(undefined, false).snapshot().update(execResult({ stdout: 'x\n' })).finalStatus();
    const { item } = await h.run();
    const open = await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
    expect(open).not.toContain(item.update.logFile);
  });

  it('a folder for the log that cannot be made: one warning, no transcript asked for, and the run goes on', async () => {
    const runDir = join(h.dir, 'a-file');
    await writeFile(runDir, '');
    h.preflight(undefined, false).snapshot().update().finalStatus();
    const { report, item } = await h.run({ interactive: true }, { runDir });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 0 });
    expect(updateOptions()).not.toHaveProperty('transcript');
    const logWarnings = item.warnings.filter((w) => w.startsWith("the update's log"));
    expect(logWarnings).toHaveLength(1);
    expect(logWarnings[0]).toMatch(new RegExp(`^the update's log ${join(runDir, 'web1', 'update.log')} is incomplete: ENOTDIR: not a directory, mkdir '.*'$`));
  });

  it('keeps the log of an instance on a remote in a folder named without the colon', async () => {
    h.lxd.expect('checkReachable', () => undefined, (args) => args[0] === 'backup');
    h.lxd.expect('getInstance', () => runningContainer());
    h.lxd.expect('getSpace', () => ({ driver: 'zfs', freeBytes: null, usedByInstanceBytes: null }));
    h.lxd.expect('exec', () => execResult({ exitCode: 1 }));
    h.snapshot().update().finalStatus();
    const { item } = await h.run({ ref: { remote: 'backup', name: 'web1', project: null } });
    expect(item.instance).toBe('backup:web1');
    expect(item.update.logFile).toBe(join(h.dir, 'backup_web1', 'update.log'));
  });
});

describe('preflight', () => {
  it('uses the pool "default" for an instance without a root disk, and fits when the need equals the free space', async () => {
    h.lxd.expect('checkReachable', () => undefined);
    h.lxd.expect('getInstance', () => runningContainer({ devices: {} }));
    h.lxd.expect('getSpace', () => ({ driver: 'dir', freeBytes: 2 * GIB, usedByInstanceBytes: 2 * GIB }), (args) => args[1] === 'default', 'space of pool default');
    h.lxd.expect('exec', () => execResult({ exitCode: 1 }));
    h.finalStatus();
    const { report, item } = await h.run({ dryRun: true });
    expect(report.exitCode).toBe(0);
    expect(item.space).toEqual({ pool: 'default', driver: 'dir', freeBytes: 2 * GIB, neededBytes: 2 * GIB });
    expect(item.plan.at(-1)).toBe('space: the snapshot copies 2.0 GiB; pool default has 2.0 GiB free');
  });

  it('does not refuse when LXD does not report the free space, and says it cannot tell', async () => {
    h.preflight(undefined, false, { driver: 'dir', freeBytes: null, usedByInstanceBytes: 3 * GIB }).finalStatus();
    const { report, item } = await h.run({ dryRun: true });
    expect(report.exitCode).toBe(0);
    expect(item.plan.at(-1)).toBe('space: LXD does not report the free space of the pool; cannot tell whether the snapshot fits');
  });

  it('names every volume the snapshot does not cover, as a warning; other devices and the root disk are covered', async () => {
    h.preflight(runningContainer({
      devices: {
        root: { type: 'disk', path: '/', pool: 'default', source: 'odd' },
        data: { type: 'disk', path: '/var/lib/postgresql', pool: 'fast', source: 'pgdata' },
        share: { type: 'disk', path: '/srv/share', source: '/mnt/share' },
        fuse: { type: 'unix-char', path: '/dev/fuse', source: '/dev/fuse' },
        eth0: { type: 'nic', network: 'lxdbr0' },
      },
    }), false).finalStatus();
    const { item } = await h.run({ dryRun: true });
    expect(item.uncoveredVolumes.map((v) => v.device)).toEqual(['data', 'share']);
    expect(item.warnings).toEqual([
      '/var/lib/postgresql (device data, volume fast/pgdata) is not in the snapshot: not covered by rollback',
      '/srv/share (device share, host path /mnt/share) is not in the snapshot: not covered by rollback',
      "no health checks configured and the instance does not run systemd: only the update command's exit code decides",
    ]);
    expect(h.warnings()).toEqual(item.warnings);
  });
});

describe('the plan of a dry run', () => {
  it('says everything a run would do with every option', async () => {
    h.preflight(undefined, null, { driver: 'btrfs', freeBytes: 10 * GIB, usedByInstanceBytes: null });
    h.lxd.expect('exec', () => execResult(), isCommand(['sh', '-c', 'true']));
    h.lxd.expect('exec', () => unitOutput('active', 'running'), isUnitCheck('nginx'));
    h.finalStatus();
    const { report, item } = await h.run({
      dryRun: true, checks: [defineCheck('exec:true'), defineCheck('unit:nginx')], snapshotName: 'safeupdate-before', expiryMs: 90 * 60_000,
      timeoutMs: 30 * 60_000, interactive: true, keep: 3, copyTo: 'backup', rollback: false, restart: 'always',
    });
    expect(report).toMatchObject({ outcome: 'planned', exitCode: 0, dryRun: true });
    expect(item.plan).toEqual([
      'snapshot web1 as safeupdate-before (expires in 1h30m)',
      'run ["apt-get","upgrade","-y"] inside it (timeout 30m, interactive)',
      'check exec:true, unit:nginx',
      'after the update: restart before the checks, back within 2m (--restart always)',
      'after success: keep the 3 newest safeupdate snapshots, delete older ones',
      'after success: refresh the instance with its snapshots to backup:',
      'on failure: leave it as it is (--no-rollback)',
      'space: pool default (btrfs) has 10.0 GiB free; a snapshot there shares blocks and needs no space up front',
    ]);
  });

  it('and with none of them', async () => {
    h.preflight(runningContainer({ devices: { root: { type: 'disk', path: '/', pool: 'default' }, data: { type: 'disk', path: '/data', pool: 'p', source: 'v' } } }), false).finalStatus();
    const { report, item } = await h.run({ dryRun: true, expiryMs: null });
    expect(report.dryRun).toBe(true);
    expect(item.plan).toEqual([
      'snapshot web1 as safeupdate-<UTC timestamp> (never expires)',
      'run ["apt-get","upgrade","-y"] inside it (timeout 1h)',
      'no health checks: only the exit code decides',
      'after the update: restart when due (reboot-required, or processes running deleted files) before the checks, back within 2m (--restart auto)',
      'on failure: collect evidence, stop, restore the snapshot, start, check again',
      'not covered by rollback: /data (device data)',
      'space: pool default has 50.0 GiB free; LXD reports no disk usage for this instance (a dir pool without quota), and a snapshot there copies the whole root filesystem, so whether it fits cannot be told',
    ]);
  });

  it('a real run is not a dry run in its report', async () => {
    h.preflight(undefined, false).snapshot().update().finalStatus();
    const { report } = await h.run();
    expect(report.dryRun).toBe(false);
  });
});

describe('evidence before the rollback', () => {
  it('names the units of unit checks to the evidence script, and only those', async () => {
    h.preflight(undefined, null);
    h.lxd.expect('exec', () => execResult(), isCommand(['sh', '-c', 'true']));
    h.lxd.expect('exec', () => unitOutput('active', 'running'), isUnitCheck('nginx'));
    h.snapshot().update(execResult({ exitCode: 1 }));
    h.lxd.expect('exec', () => execResult(), isEvidence);
    h.stop().restoreAndStart();
    h.lxd.expect('exec', () => execResult(), isCommand(['sh', '-c', 'true']));
    h.lxd.expect('exec', () => unitOutput('active', 'running', 'i2'), isUnitCheck('nginx'));
    h.lxd.expect('exec', () => unitOutput('active', 'running', 'i2'), isUnitCheck('nginx'));
    h.finalStatus();
    await h.run({ checks: [defineCheck('exec:true'), defineCheck('unit:nginx')] });
    const argv = h.lxd.calls.find((c) => c.method === 'exec' && isEvidence(c.args))!.args[1] as string[];
    expect(argv.slice(3)).toEqual(['safeupdate-evidence', 'nginx']);
  });

  it('incomplete evidence is a warning; the rollback goes on', async () => {
    h.preflight(undefined, false).snapshot().update(execResult({ exitCode: 1 })).evidence(execResult({ exitCode: 1, stdout: 'part' })).stop().restoreAndStart().finalStatus();
    const { report, item } = await h.run();
    expect(report.exitCode).toBe(1);
    const file = join(h.dir, 'web1', 'evidence', 'instance.txt');
    expect(item.warnings).toEqual([
      "no health checks configured and the instance does not run systemd: only the update command's exit code decides",
      `evidence: evidence incomplete (exit 1), kept what came in ${file}`,
    ]);
    expect(item.steps.find((s) => s.action === 'evidence')).toMatchObject({ ok: false });
  });
});

describe('the rollback steps', () => {
  it('the record says rolling-back before the stop', async () => {
    let atStop: unknown;
    h.preflight(undefined, false).snapshot().update(execResult({ exitCode: 1 })).evidence();
    h.lxd.expect('getInstance', async () => {
      atStop = JSON.parse(await readFile(h.recordPath, 'utf8'));
      return runningContainer();
    });
    h.lxd.expect('stopInstance', () => undefined, stopOf(resolved));
    h.restoreAndStart().finalStatus();
    await h.run();
    expect(atStop).toMatchObject({ phase: 'rolling-back', snapshot: 'safeupdate-20261126-100000' });
  });

  it('a failed stop: exit 4, and every command to finish by hand', async () => {
    h.preflight(undefined, false).snapshot().update(execResult({ exitCode: 1 })).evidence();
    h.lxd.expect('getInstance', () => runningContainer());
    h.lxd.expect('stopInstance', () => {
      throw new LxdError('The instance is busy', 'failed', []);
    }, stopOf(resolved));
    h.finalStatus();
    const { report, item } = await h.run();
    const s = 'safeupdate-20261126-100000';
    expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
    expect(item.error).toEqual({
      step: 'stop',
      message: `rollback failed at stop: The instance is busy. The snapshot ${s} is kept. To finish by hand: ` +
        `lxc stop --force local:web1 --project default && lxc restore local:web1 ${s} --project default && lxc start local:web1 --project default`,
    });
    expect(item.rollback.steps).toEqual([{ action: 'stop', ok: false, durationMs: 0, message: 'The instance is busy' }]);
  });

  it('a failed start: exit 4, start it and read its log', async () => {
    h.preflight(undefined, false).snapshot().update(execResult({ exitCode: 1 })).evidence().stop('Stopped');
    h.lxd.expect('restoreSnapshot', () => undefined, restoreOf(resolved, () => h.taken));
    h.lxd.expect('startInstance', () => {
      throw new LxdError('Failed to run: forkstart', 'failed', []);
    }, startOf(resolved));
    h.finalStatus('Stopped');
    const { item } = await h.run();
    expect(item.error).toEqual({
      step: 'start',
      message: 'rollback failed at start: Failed to run: forkstart. The snapshot safeupdate-20261126-100000 is kept. To finish by hand: ' +
        'lxc start local:web1 --project default && lxc info --show-log local:web1 --project default',
    });
    expect(item.finalStatus).toBe('Stopped');
  });
});

describe('--keep', () => {
  function updated() {
    h.preflight(undefined, false).snapshot().update();
  }

  it('with nothing older to delete: the step says so', async () => {
    updated();
    h.lxd.expect('listSnapshots', () => [snapshotOf('safeupdate-20261126-100000', '2026-11-26T10:00:00Z'), snapshotOf('manual')]);
    h.finalStatus();
    const { report, item } = await h.run({ keep: 1 });
    expect(report.exitCode).toBe(0);
    expect(h.stepStarts().at(-1)).toEqual(['keep', 'Keep the 1 newest safeupdate snapshots']);
    expect(item.steps.at(-1)).toMatchObject({ action: 'keep', ok: true, message: 'nothing to delete' });
  });

  it('deleting two: names both', async () => {
    updated();
    const all = [snapshotOf('safeupdate-20261126-100000', '2026-11-26T10:00:00Z'), snapshotOf('safeupdate-b', '2026-11-20T00:00:00Z'), snapshotOf('safeupdate-a', '2026-11-10T00:00:00Z')];
    h.lxd.expect('listSnapshots', () => all);
    h.lxd.expect('listSnapshots', () => all);
    h.lxd.expect('deleteSnapshot', () => undefined, (args) => args[1] === 'safeupdate-b');
    h.lxd.expect('listSnapshots', () => all);
    h.lxd.expect('deleteSnapshot', () => undefined, (args) => args[1] === 'safeupdate-a');
    h.finalStatus();
    const { item } = await h.run({ keep: 1 });
    expect(item.steps.at(-1)).toMatchObject({ action: 'keep', ok: true, message: 'deleted safeupdate-b, safeupdate-a' });
  });

  it('a deletion that fails: the step fails with a count, each failure a warning', async () => {
    updated();
    const all = [snapshotOf('safeupdate-20261126-100000', '2026-11-26T10:00:00Z'), snapshotOf('safeupdate-b')];
    h.lxd.expect('listSnapshots', () => all);
    h.lxd.expect('listSnapshots', () => all);
    h.lxd.expect('deleteSnapshot', () => {
      throw new LxdError('Storage busy', 'failed', []);
    });
    h.finalStatus();
    const { report, item } = await h.run({ keep: 1 });
    expect(report.exitCode).toBe(5);
    expect(item.steps.at(-1)).toMatchObject({ action: 'keep', ok: false, message: '1 snapshot(s) could not be deleted' });
    expect(item.warnings.at(-1)).toBe('could not delete web1/safeupdate-b: Storage busy');
  });
});

describe('--copy-to', () => {
  function updated() {
    h.preflight(undefined, false).snapshot().update();
  }

  it('to a server that has the instance: only the snapshots it lacked are reported as sent', async () => {
    updated();
    h.lxd.expect('checkReachable', () => undefined, (args) => args[0] === 'backup');
    h.lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }), (args) => (args[0] as { remote: string }).remote === 'backup');
    h.lxd.expect('listSnapshots', () => [snapshotOf('safeupdate-old')], (args) => (args[0] as { remote: string }).remote === 'backup');
    h.lxd.expect('refreshCopy', () => {
      h.clock.advance(4_000);
    }, (args) => (args[0] as { remote: string }).remote === 'local' && args[1] === 'backup');
    h.lxd.expect('listSnapshots', () => [snapshotOf('safeupdate-old'), snapshotOf('safeupdate-20261126-100000'), snapshotOf('safeupdate-x')]);
    h.finalStatus();
    const { report, item } = await h.run({ copyTo: 'backup' });
    expect(report.exitCode).toBe(0);
    expect(h.stepStarts().at(-1)).toEqual(['copy', 'Copy to backup:']);
    expect(item.copy).toEqual({ remote: 'backup', ok: true, durationMs: 4_000, transferredSnapshots: ['safeupdate-20261126-100000', 'safeupdate-x'], message: 'sent safeupdate-20261126-100000, safeupdate-x' });
    expect(item.warnings).toEqual(["no health checks configured and the instance does not run systemd: only the update command's exit code decides"]);
  });

  it('to a server that is up to date: says so', async () => {
    updated();
    h.lxd.expect('checkReachable', () => undefined);
    h.lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    h.lxd.expect('listSnapshots', () => [snapshotOf('safeupdate-20261126-100000')]);
    h.lxd.expect('refreshCopy', () => undefined);
    h.lxd.expect('listSnapshots', () => [snapshotOf('safeupdate-20261126-100000')]);
    h.finalStatus();
    const { item } = await h.run({ copyTo: 'backup' });
    expect(item.copy).toMatchObject({ ok: true, transferredSnapshots: [], message: 'up to date' });
  });

  it('that fails: nothing transferred, and a warning', async () => {
    updated();
    h.lxd.expect('checkReachable', () => undefined);
    h.lxd.expect('getInstance', () => null);
    h.lxd.expect('refreshCopy', () => {
      throw new LxdError('Failed instance creation: no space', 'failed', []);
    });
    h.finalStatus();
    const { report, item } = await h.run({ copyTo: 'backup' });
    expect(report.exitCode).toBe(5);
    expect(item.copy).toEqual({ remote: 'backup', ok: false, durationMs: 0, transferredSnapshots: [], message: 'Failed instance creation: no space' });
    expect(item.warnings.at(-1)).toBe('copy to backup: failed: Failed instance creation: no space');
  });
});

describe('the lock', () => {
  const leave = async (record: Partial<InstanceRecord> | string) => {
    const file = new InstanceRecordFile(h.dir, resolved);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(h.dir, 'instances'), { recursive: true });
    await writeFile(file.path, typeof record === 'string' ? record : JSON.stringify(record));
    return file;
  };

  it('refuses with the holder\'s own words: busy', async () => {
    const holder = { runId: 'other', pid: process.pid, pidStartedAt: null, instance: 'web1', phase: 'updating' as const, command: ['x'], startedAt: 't', snapshot: 's' };
    await leave(holder);
    h.finalStatus();
    const { report, item } = await h.run();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error).toEqual({ step: 'lock', message: new InstanceBusy(holder as InstanceRecord).message });
  });

  it('awaiting recovery', async () => {
    const holder = { runId: 'dead', pid: 999_999_999, pidStartedAt: '1', instance: 'web1', phase: 'rolling-back' as const, command: ['x'], startedAt: 't', snapshot: 's' };
    await leave(holder);
    h.finalStatus();
    const { item } = await h.run();
    expect(item.error).toEqual({ step: 'lock', message: new AwaitingRecovery(holder as InstanceRecord, resolved).message });
  });

  it('a corrupt record', async () => {
    const file = await leave('');
    h.finalStatus();
    const { item } = await h.run();
    expect(item.error).toEqual({ step: 'lock', message: new CorruptRecord(file.path, resolved, 'empty').message });
  });

  it('LXD that cannot resolve the instance\'s remote: its own message', async () => {
    h.lxd.resolveRef = async () => {
      throw new LxdError('LXD is not reachable: Remote nope doesn\'t exist', 'unreachable', []);
    };
    h.finalStatus();
    const { report, item } = await h.run({ ref: { remote: 'nope', name: 'web1', project: null } });
    expect(report.exitCode).toBe(3);
    expect(item.error).toEqual({ step: 'lock', message: 'LXD is not reachable: Remote nope doesn\'t exist' });
  });

  it('a state folder that cannot hold locks: the step is the lock', async () => {
    await writeFile(join(h.dir, 'instances'), 'not a folder');
    h.finalStatus();
    const { item } = await h.run();
    expect(item.error?.step).toBe('lock');
    expect(item.error?.message).toMatch(new RegExp(`^cannot take the lock in ${h.dir}: .*; nothing changed$`));
  });

  it('a stale record of a run that changed nothing: cleared, with a warning naming it', async () => {
    await leave({ runId: 'dead', pid: 999_999_999, pidStartedAt: '1', instance: 'web1', phase: 'preparing', command: ['x'], startedAt: 't', snapshot: null });
    h.preflight(undefined, false).finalStatus();
    const { item } = await h.run({ dryRun: true });
    expect(item.warnings[0]).toBe('cleared the record of run dead, which ended before it changed anything');
    expect(h.warnings()[0]).toBe(item.warnings[0]);
  });
});

describe('an internal error after the update began', () => {
  it('is at the step "internal", exit 4', async () => {
    h.preflight(undefined, false).snapshot().update(execResult({ exitCode: 1 })).finalStatus();
    const { report, item } = await h.run({}, {
      emit: (event) => {
        if (event.type === 'group-start') throw new TypeError('a view broke');
      },
    });
    expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4 });
    expect(item.error).toEqual({ step: 'internal', message: 'internal error: a view broke; the instance may have changed. Check it, then: safeupdate recover local:web1 --project default' });
  });
});

describe('Stages on their own', () => {
  it('records nothing before the lock is taken', async () => {
    const scope = runScope(h.context(), emptyInstanceReport('web1', null), { remote: null, name: 'web1', project: null });
    expect(await mark(scope, { phase: 'updating' })).toBeNull();
    await expect(readFile(h.recordPath)).rejects.toThrow('ENOENT');
  });
});

describe('the name of a post-mortem copy', () => {
  const now = new Date('2026-11-26T09:08:07Z');

  it('keeps the hyphens inside the name', () => {
    expect(failedCopyName('web-1', now)).toBe('web-1-failed-20261126090807');
  });

  it('drops every hyphen left at the end of a shortened name', () => {
    const name = `a${'b'.repeat(38)}--${'c'.repeat(22)}`;
    expect(name).toHaveLength(63);
    expect(failedCopyName(name, now)).toBe(`a${'b'.repeat(38)}-failed-20261126090807`);
  });
});

describe('systemd output for the record', () => {
  it('a degraded baseline: the failed units it knew are not blamed after the update', async () => {
    h.preflight().baselineHealthy(['old.service']).snapshot().update();
    h.lxd.expect('exec', () => systemdOutput('degraded', ['old.service']));
    h.lxd.expect('exec', () => systemdOutput('degraded', ['old.service']));
    h.finalStatus();
    const { report } = await h.run();
    expect(report.exitCode).toBe(0);
  });
});
