import { describe, expect, it } from 'vitest';
import { fleetOutcome, runFleet } from '../../../src/fleet/run-fleet.js';
import { emptyInstanceReport, type Outcome } from '../../../src/report/report.js';
import type { RunContext, RunOptions } from '../../../src/run/types.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeLxd } from '../../support/fake-lxd.js';
import { runOptions } from '../run/run-harness.js';

function context(interrupt: AbortSignal): RunContext {
  let now = 1_000;
  return { lxd: new FakeLxd(), clock: { now: () => (now += 5), monotonic: () => (now += 5), sleep: async () => {} } as unknown as RunContext['clock'], emit: () => {}, runId: 'r1', runDir: '/tmp/none', stateDir: '/tmp/none', toolVersion: '0', interrupt };
}
const noOptions = (): RunOptions => { throw new Error('no instance should run'); };
const bounds = { parallel: 2, canary: 0, maxFailures: null, perMember: null };
const missing = { ...emptyInstanceReport('local:gone', 'default'), error: { step: 'selection', message: 'local:gone: not started: no such instance; nothing changed' } };

describe('one report for a fleet', () => {
  it('has an entry for every instance, not-started ones included, and exits 3 when nothing could run', async () => {
    const report = await runFleet({ targets: [], notStarted: [missing] }, noOptions, { command: ['true'], dryRun: false }, bounds, context(new AbortController().signal), () => {});
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3, command: ['true'], interruptedBy: null });
    expect(report.instances.map((i) => i.instance)).toEqual(['local:gone']);
  });

  it('after an interrupt starts nothing: every instance is skipped, the exit is the signal\'s', async () => {
    const controller = new AbortController();
    controller.abort('SIGTERM');
    const target = { ref: { remote: 'local', project: 'default', name: 'web1' }, label: 'local:web1', member: 'm1' };
    const report = await runFleet({ targets: [target], notStarted: [missing] }, noOptions, { command: ['true'], dryRun: false }, bounds, context(controller.signal), () => {});
    expect(report).toMatchObject({ exitCode: 143, interruptedBy: 'SIGTERM' });
    expect(report.instances.map((i) => [i.instance, i.outcome, i.member])).toEqual([['local:web1', 'skipped', 'm1'], ['local:gone', 'not-started', null]]);
  });

  it('tells its views when each instance ends, also the ones never started or skipped', async () => {
    const controller = new AbortController();
    controller.abort('SIGINT');
    const target = { ref: { remote: 'local', project: 'default', name: 'web1' }, label: 'web1', member: null };
    const ended: Array<[string, string]> = [];
    await runFleet({ targets: [target], notStarted: [missing] }, noOptions, { command: ['true'], dryRun: false }, bounds, context(controller.signal), (instance, event) => {
      if (event.type === 'finished') ended.push([instance, event.item.outcome]);
    });
    expect(ended).toEqual([['local:gone', 'not-started'], ['web1', 'skipped']]);
  });

  it('an instance that ran: named as typed, ended once in the views, timed by the clock', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safeupdate-fleet-'));
    try {
      const run = { ...context(new AbortController().signal), runDir: dir, stateDir: dir };
      (run.lxd as FakeLxd).expect('getInstance', () => null);
      const target = { ref: { remote: 'local', project: 'default', name: 'web1' }, label: 'web1', member: 'm2' };
      const ended: string[] = [];
      const progress: string[] = [];
      const report = await runFleet({ targets: [target], notStarted: [] }, () => runOptions(), { command: ['true'], dryRun: false }, bounds, run, (instance, event) => {
        if (event.type === 'finished') ended.push(`${instance} ${event.item.outcome}`);
        else progress.push(instance);
      });
      expect(ended).toEqual(['web1 not-started']);
      // The run's own progress reaches the views too, under the name the operator typed.
      expect(progress.length).toBeGreaterThan(0);
      expect(new Set(progress)).toEqual(new Set(['web1']));
      expect(report.instances.map((i) => [i.instance, i.member, i.outcome])).toEqual([['web1', 'm2', 'not-started']]);
      expect(report.durationMs).toBeGreaterThan(0);
      expect(report.durationMs).toBeLessThan(1_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the outcome of a fleet', () => {
  const of = (...outcomes: Outcome[]) => fleetOutcome(outcomes.map((outcome, i) => ({ ...emptyInstanceReport(`web${i}`, null), outcome })));

  it('is refused-by-rehearsal when every instance was refused by its rehearsal, never updated', () => {
    expect(of('refused-by-rehearsal', 'refused-by-rehearsal')).toBe('refused-by-rehearsal');
    expect(of('updated', 'refused-by-rehearsal')).toBe('refused-by-rehearsal');
  });

  it('follows the exit rule\'s order: a human, an interrupt, a rollback, then what never started', () => {
    expect(of('updated', 'rolled-back', 'refused-by-rehearsal')).toBe('rolled-back');
    expect(of('refused-by-rehearsal', 'not-started')).toBe('refused-by-rehearsal');
    expect(of('refused-by-rehearsal', 'interrupted')).toBe('interrupted');
    expect(of('planned', 'planned')).toBe('planned');
    expect(of()).toBe('updated');
  });

  it('takes the worse of any two outcomes, over the whole order', () => {
    const order: Outcome[] = ['needs-attention', 'interrupted', 'rolled-back', 'refused-by-rehearsal', 'not-started', 'skipped', 'planned', 'updated'];
    for (const [i, worse] of order.entries()) {
      expect(of(worse)).toBe(worse);
      for (const better of order.slice(i + 1)) expect([of(worse, better), of(better, worse)]).toEqual([worse, worse]);
    }
  });
});
