import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecResult, Instance, InstanceRef } from '../../../src/lxd/lxd.js';
import type { RunEvent } from '../../../src/run/events.js';
import { runUpdate } from '../../../src/run/run-update.js';
import type { RunContext, RunOptions } from '../../../src/run/types.js';
import { FakeClock } from '../../support/fake-clock.js';
import { execResult, FakeLxd, isCommand, isEvidence, isSystemdCheck, isSystemdProbe, restoreOf, runningContainer, startOf, stopOf, systemdOutput } from '../../support/fake-lxd.js';

// A scripted run for the tests of run-update.ts and the steps (steps/): the fake LXD, a clock, the events
// the run emits, and a state folder of its own. Each scripted stage adds the LXD calls the run
// makes for it, in order; anything else fails the test (FakeLxd).

export const COMMAND = ['apt-get', 'upgrade', '-y'];
export const DAY = 86_400_000;
export const GIB = 2 ** 30;

export function runOptions(overrides: Partial<RunOptions> = {}): RunOptions {
  return {
    ref: { remote: null, name: 'web1', project: null },
    command: COMMAND,
    checks: null,
    force: false,
    snapshotName: null,
    expiryMs: 14 * DAY,
    env: {},
    timeoutMs: 3_600_000,
    rollback: true,
    keepFailed: false,
    keep: null,
    copyTo: null,
    dryRun: false,
    // The package report and its policy have tests of their own (packages-run.test.ts).
    packageReport: false,
    policy: { refuse: null, allow: [] },
    keepUnchanged: false,
    soakMs: null,
    rehearse: 'off',
    restart: 'auto',
    interactive: false,
    ...overrides,
  };
}

export const snapshotOf = (name: string, createdAt = '2026-11-20T10:00:00Z') => ({ name, createdAt, expiresAt: null, stateful: false, sizeBytes: null });

export class RunHarness {
  readonly lxd = new FakeLxd();
  readonly clock = new FakeClock();
  readonly events: RunEvent[] = [];
  dir = '';
  /** The snapshot the scripted run took. */
  taken: string | null = null;

  async setUp(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'safeupdate-harness-'));
  }

  async tearDown(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  get recordPath(): string {
    return join(this.dir, 'instances', 'local_default_web1.json');
  }

  context(overrides: Partial<RunContext> = {}): RunContext {
    return {
      lxd: this.lxd, clock: this.clock, emit: (event) => this.events.push(event), runId: 'run-1', runDir: this.dir, stateDir: this.dir,
      toolVersion: '0.0.0-test', interrupt: new AbortController().signal, ...overrides,
    };
  }

  /** Runs, then fails on any LXD call that was not scripted or was scripted and not made. */
  async run(overrides: Partial<RunOptions> = {}, context: Partial<RunContext> = {}) {
    const report = await runUpdate(runOptions(overrides), this.context(context));
    this.lxd.assertDone();
    return { report, item: report.instances[0]! };
  }

  /** The actions and titles of the steps as the views were told of them. */
  stepStarts(): Array<[string, string]> {
    return this.events.flatMap((e) => (e.type === 'step-start' ? [[e.action, e.title] as [string, string]] : []));
  }

  warnings(): string[] {
    return this.events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
  }

  // Scripted stages, in the order the run makes its calls.

  /** `systemd`: what the probe for the default check finds; null when checks are configured (no probe). */
  preflight(instance: Instance = runningContainer(), systemd: boolean | null = true, space = { driver: 'dir', freeBytes: 50 * GIB as number | null, usedByInstanceBytes: null as number | null }): this {
    this.lxd.expect('checkReachable', () => undefined, (args) => args[0] === 'local', 'checkReachable(local)');
    this.lxd.expect('getInstance', () => instance);
    this.lxd.expect('getSpace', () => space);
    if (systemd !== null) this.lxd.expect('exec', () => execResult({ exitCode: systemd ? 0 : 1 }), isSystemdProbe, 'systemd probe');
    return this;
  }

  /** After an update or a restore a pass is confirmed by a second look a moment later. */
  systemdHealthy(failed: string[] = []): this {
    return this.baselineHealthy(failed).baselineHealthy(failed);
  }

  /** Before anything changed one look is the answer. */
  baselineHealthy(failed: string[] = []): this {
    this.lxd.expect('exec', () => systemdOutput(failed.length ? 'degraded' : 'running', failed), isSystemdCheck, 'systemd check');
    return this;
  }

  snapshot(existing: string[] = [], onCreate: () => unknown = () => undefined): this {
    this.lxd.expect('listSnapshots', () => existing.map((name) => snapshotOf(name)));
    this.lxd.expect('createSnapshot', (args) => {
      this.taken = args[1] as string;
      return onCreate();
    });
    return this;
  }

  update(result: ExecResult | (() => ExecResult | Promise<ExecResult>) = execResult()): this {
    this.lxd.expect('exec', typeof result === 'function' ? result : () => result, isCommand(COMMAND), 'the update command');
    return this;
  }

  evidence(result: ExecResult = execResult({ stdout: 'evidence' })): this {
    this.lxd.expect('exec', () => result, isEvidence, 'evidence');
    return this;
  }

  stop(status = 'Running'): this {
    this.lxd.expect('getInstance', () => runningContainer({ status }));
    if (status !== 'Stopped') this.lxd.expect('stopInstance', () => undefined, stopOf(resolved), 'forced stop');
    return this;
  }

  restoreAndStart(): this {
    this.lxd.expect('restoreSnapshot', () => undefined, restoreOf(resolved, () => this.taken), 'restore of the snapshot the run took');
    this.lxd.expect('startInstance', () => undefined, startOf(resolved));
    return this;
  }

  finalStatus(status: string | null = 'Running'): this {
    this.lxd.expect('getInstance', () => (status === null ? null : runningContainer({ status })));
    return this;
  }
}

export const resolved: InstanceRef = { remote: 'local', name: 'web1', project: 'default' };
