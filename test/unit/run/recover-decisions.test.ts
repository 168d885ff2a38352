import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import { LxdError } from '../../../src/errors.js';
import type { RunEvent } from '../../../src/run/events.js';
import { recoverInstance, recoveryPlan } from '../../../src/run/recover.js';
import type { RunContext } from '../../../src/run/types.js';
import type { InstanceRef } from '../../../src/lxd/lxd.js';
import type { InstanceRecord, RunPhase } from '../../../src/state/instance-record.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeLxd, isSystemdCheck, restoreOf, runningContainer, startOf, stopOf, systemdOutput } from '../../support/fake-lxd.js';
import { leaveLease } from '../../support/leases.js';

// `safeupdate recover` after a crash: what it plans from the record, and what it reports.

let dir: string;
let lxd: FakeLxd;
let events: RunEvent[];
const SNAP = 'safeupdate-20261126-100000';
const COMMAND = ['apt-get', 'upgrade', '-y'];
/** As the CLI passes it: resolved to remote and project. */
const ref: InstanceRef = { remote: 'local', name: 'web1', project: 'default' };
const recordPath = () => join(dir, 'instances', 'local_default_web1.json');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-recover-d-'));
  lxd = new FakeLxd();
  events = [];
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const record = (phase: RunPhase, extra: Partial<InstanceRecord> = {}): InstanceRecord => ({
  runId: 'dead-run', pid: 999_999_999, pidStartedAt: '1', host: 'h', instance: 'web1', ref, command: COMMAND, startedAt: 't', phase,
  snapshot: phase === 'preparing' ? null : SNAP, runDir: dir, ...extra,
});

/** What a killed run leaves: its record here and, for a readable one, its lease on the server (on `remote` as recover is given it). */
async function leave(content: InstanceRecord | string, remote: string | null = 'local') {
  await mkdir(join(dir, 'instances'), { recursive: true });
  await writeFile(recordPath(), typeof content === 'string' ? content : JSON.stringify(content));
  if (typeof content !== 'string') leaveLease(lxd, content, remote);
}

async function recover(options: { interrupt?: AbortSignal; checks?: Parameters<typeof recoverInstance>[1]; context?: Partial<RunContext>; at?: InstanceRef } = {}) {
  const report = await recoverInstance(options.at ?? ref, options.checks ?? null, {
    lxd, clock: new FakeClock(), emit: (event) => events.push(event), runId: 'r2', runDir: join(dir, 'run'), stateDir: dir, toolVersion: 't',
    interrupt: options.interrupt ?? new AbortController().signal, ...options.context,
  });
  lxd.assertDone();
  return { report, item: report.instances[0]! };
}

describe('recoveryPlan', () => {
  it('says what recovery means for each phase a run can end in', () => {
    expect(recoveryPlan(null)).toBe('nothing to recover');
    expect(recoveryPlan(record('preparing'))).toBe('run dead-run (host h) ended before the update began: nothing in the instance changed; clear its record');
    expect(recoveryPlan(record('snapshotting'))).toBe('run dead-run (host h) ended before the update began: nothing in the instance changed; clear its record');
    expect(recoveryPlan(record('updating'))).toBe(`run dead-run (host h) ended while updating ["apt-get","upgrade","-y"]: stop, restore ${SNAP}, start, and check`);
    expect(recoveryPlan(record('rolling-back'))).toBe(`run dead-run (host h) ended while rolling-back ["apt-get","upgrade","-y"]: stop, restore ${SNAP}, start, and check`);
  });
});

describe('recoverInstance', () => {
  it('with nothing recorded: recovered, with no command, no snapshot and no plan', async () => {
    lxd.expect('getInstance', () => runningContainer());
    const { report, item } = await recover();
    expect(report).toMatchObject({ outcome: 'recovered', exitCode: 0, command: [], dryRun: false, interruptedBy: null });
    expect(item.snapshot).toEqual({ name: null, expiresAt: null });
    expect(item.plan).toEqual([]);
    expect(item.error).toBeNull();
  });

  it('a run that ended while preparing: the record is cleared and LXD only asked for the status', async () => {
    await leave(record('preparing'));
    lxd.expect('getInstance', () => runningContainer());
    const { report, item } = await recover();
    expect(report).toMatchObject({ outcome: 'recovered', exitCode: 0, command: COMMAND });
    expect(item.plan).toEqual(['run dead-run (host h) ended before the update began: nothing in the instance changed; clear its record']);
    expect(item.rollback.performed).toBe(false);
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('a record that cannot be read for another reason than corruption is not an outcome: it is thrown', async () => {
    await mkdir(recordPath(), { recursive: true });
    await expect(recoverInstance(ref, null, {
      lxd, clock: new FakeClock(), emit: () => {}, runId: 'r2', runDir: dir, stateDir: dir, toolVersion: 't', interrupt: new AbortController().signal,
    })).rejects.toMatchObject({ code: 'EISDIR' });
  });

  it('a live holder: not started, at the lock step', async () => {
    await leave(record('updating', { pid: process.pid, pidStartedAt: null }));
    lxd.expect('getInstance', () => runningContainer());
    const { report, item } = await recover();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error).toEqual({ step: 'lock', message: `web1 is busy: run dead-run (pid ${process.pid}, started t) is updating it with ["apt-get","upgrade","-y"]` });
  });

  it('interrupted before the rollback: the exact step and message, the record left for the next recover', async () => {
    await leave(record('updating'));
    const controller = new AbortController();
    controller.abort('SIGTERM');
    lxd.expect('getInstance', () => runningContainer());
    const { report, item } = await recover({ interrupt: controller.signal });
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143, interruptedBy: 'SIGTERM', command: COMMAND });
    expect(item.error).toEqual({ step: 'recover', message: 'interrupted by SIGTERM before the rollback began; nothing changed' });
    expect(JSON.parse(await readFile(recordPath(), 'utf8'))).toMatchObject({ runId: 'dead-run', phase: 'updating' });
  });

  it('a rollback that works but leaves it unhealthy: exit 4 at after-rollback, naming the snapshot, the record kept', async () => {
    await leave(record('updating', { baseline: { failedUnits: [], passedChecks: ['systemd'] } }));
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('stopInstance', () => undefined, stopOf(ref));
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(ref, SNAP));
    lxd.expect('startInstance', () => undefined, startOf(ref));
    lxd.expect('exec', () => systemdOutput('degraded', ['db.service']), isSystemdCheck);
    lxd.expect('getInstance', () => runningContainer());
    const { report, item } = await recover({ checks: [defineCheck('systemd')] });
    expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4, command: COMMAND });
    expect(item.error).toEqual({ step: 'after-rollback', message: `restored ${SNAP} but still unhealthy: check failed: systemd (failed units: db.service)` });
    expect(item.snapshot).toEqual({ name: SNAP, expiresAt: null });
    expect(JSON.parse(await readFile(recordPath(), 'utf8'))).toMatchObject({ phase: 'rolling-back', pid: process.pid });
  });

  it('a successful recovery reports the recorded snapshot and what the crashed run ran', async () => {
    await leave(record('rolling-back', { baseline: { failedUnits: [], passedChecks: ['systemd'] } }));
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    lxd.expect('restoreSnapshot', () => undefined, restoreOf(ref, SNAP));
    lxd.expect('startInstance', () => undefined, startOf(ref));
    lxd.expect('exec', () => systemdOutput('running'), isSystemdCheck);
    lxd.expect('exec', () => systemdOutput('running'), isSystemdCheck);
    lxd.expect('getInstance', () => runningContainer());
    const { report, item } = await recover({ checks: [defineCheck('systemd')] });
    expect(report).toMatchObject({ outcome: 'recovered', exitCode: 0, command: COMMAND, dryRun: false });
    expect(item.snapshot).toEqual({ name: SNAP, expiresAt: null });
    expect(item.plan).toEqual([`run dead-run (host h) ended while rolling-back ["apt-get","upgrade","-y"]: stop, restore ${SNAP}, start, and check`]);
    expect(item.checks.map((c) => [c.name, c.phase, c.ok])).toEqual([['systemd', 'after-rollback', true]]);
  });

  it('a failed restore of an instance given without remote and project: the commands by hand name it as given', async () => {
    const bare = { remote: null, name: 'web1', project: null };
    await leave(record('updating', { ref: bare }), null);
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    lxd.expect('restoreSnapshot', () => {
      throw new LxdError('Instance snapshot not found', 'not-found', []);
    }, restoreOf(bare, SNAP));
    lxd.expect('getInstance', () => runningContainer({ status: 'Stopped' }));
    const { report, item } = await recover({ at: bare });
    expect(report.exitCode).toBe(4);
    expect(item.error).toEqual({
      step: 'restore',
      message: `rollback failed at restore: Instance snapshot not found. The snapshot ${SNAP} is kept. To finish by hand: lxc restore web1 ${SNAP} && lxc start web1`,
    });
  });

  it('an internal error once the rollback began: exit 4, the instance may have changed, the record kept', async () => {
    await leave(record('updating'));
    lxd.expect('getInstance', () => runningContainer());
    const { report, item } = await recover({
      context: {
        emit: (event) => {
          if (event.type === 'step-start' && event.action === 'stop') throw new TypeError('a view broke');
        },
      },
    });
    expect(report).toMatchObject({ outcome: 'needs-attention', exitCode: 4, command: COMMAND });
    expect(item.error).toEqual({
      step: 'internal',
      message: 'internal error: a view broke; the instance may have changed. Check it, then: safeupdate recover local:web1 --project default',
    });
    expect(JSON.parse(await readFile(recordPath(), 'utf8'))).toMatchObject({ phase: 'rolling-back', pid: process.pid });
  });
});
