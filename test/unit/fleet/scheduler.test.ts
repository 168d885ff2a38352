import { describe, expect, it } from 'vitest';
import { schedule, type FleetTarget, type ScheduleOptions } from '../../../src/fleet/scheduler.js';
import { emptyInstanceReport, type InstanceReport, type Outcome } from '../../../src/report/report.js';

const target = (name: string, member: string | null = null): FleetTarget => ({ ref: { remote: 'local', project: 'default', name }, label: `local:${name}`, member });
const bounds = (partial: Partial<ScheduleOptions> = {}): ScheduleOptions => ({ parallel: 1, canary: 0, maxFailures: null, perMember: null, ...partial });

/** Runs that end when the test says so, recording what was in flight at every start. */
function controlled(outcomes: Record<string, Outcome> = {}) {
  const inFlight = new Set<string>();
  const started: string[] = [];
  const peaks: number[] = [];
  const finishers = new Map<string, () => void>();
  const runOne = (t: FleetTarget) => new Promise<InstanceReport>((resolve) => {
    inFlight.add(t.label);
    started.push(t.ref.name);
    peaks.push(inFlight.size);
    finishers.set(t.ref.name, () => {
      inFlight.delete(t.label);
      resolve({ ...emptyInstanceReport(t.label, 'default'), outcome: outcomes[t.ref.name] ?? 'updated' });
    });
  });
  return { runOne, started, peaks, finishers, inFlight };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Finishes whatever is in flight, oldest first, until the schedule ends. */
async function drive(run: ReturnType<typeof controlled>, done: Promise<unknown>): Promise<void> {
  let finished = false;
  void done.then(() => { finished = true; });
  while (!finished) {
    await tick();
    const next = run.started.find((name) => run.finishers.has(name));
    if (next) {
      const finish = run.finishers.get(next)!;
      run.finishers.delete(next);
      finish();
    }
  }
}

describe('the fleet scheduler', () => {
  it('keeps at most --parallel in flight and reports in the given order', async () => {
    const run = controlled({ b: 'rolled-back' });
    const targets = ['a', 'b', 'c', 'd', 'e'].map((name) => target(name));
    const done = schedule(targets, bounds({ parallel: 2 }), run.runOne, new AbortController().signal);
    await drive(run, done);
    const reports = await done;
    expect(Math.max(...run.peaks)).toBe(2);
    expect(run.started).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(reports.map((r) => [r.instance, r.outcome])).toEqual([
      ['local:a', 'updated'], ['local:b', 'rolled-back'], ['local:c', 'updated'], ['local:d', 'updated'], ['local:e', 'updated'],
    ]);
  });

  it('runs the canary alone and skips the rest when it did not end updated', async () => {
    const run = controlled({ a: 'rolled-back' });
    const done = schedule(['a', 'b', 'c'].map((name) => target(name)), bounds({ parallel: 3, canary: 1 }), run.runOne, new AbortController().signal);
    await drive(run, done);
    expect(run.started).toEqual(['a']);
    expect((await done).map((r) => r.outcome)).toEqual(['rolled-back', 'skipped', 'skipped']);
  });

  it('with two canaries, a first that failed keeps the second from starting', async () => {
    const run = controlled({ a: 'needs-attention' });
    const done = schedule(['a', 'b', 'c'].map((name) => target(name)), bounds({ parallel: 3, canary: 2 }), run.runOne, new AbortController().signal);
    await drive(run, done);
    expect(run.started).toEqual(['a']);
    expect((await done).map((r) => r.outcome)).toEqual(['needs-attention', 'skipped', 'skipped']);
  });

  it('an interrupt during the canary starts no further canary, even one that updated', async () => {
    const run = controlled();
    const controller = new AbortController();
    const done = schedule(['a', 'b', 'c'].map((name) => target(name)), bounds({ parallel: 3, canary: 2 }), run.runOne, controller.signal);
    await tick();
    controller.abort('SIGTERM');
    run.finishers.get('a')!();
    expect((await done).map((r) => r.outcome)).toEqual(['updated', 'skipped', 'skipped']);
    expect(run.started).toEqual(['a']);
  });

  it('lets the others go on, in parallel, after a canary that updated', async () => {
    const run = controlled();
    const done = schedule(['a', 'b', 'c'].map((name) => target(name)), bounds({ parallel: 2, canary: 1 }), run.runOne, new AbortController().signal);
    await drive(run, done);
    expect(run.peaks).toEqual([1, 1, 2]);
    expect((await done).map((r) => r.outcome)).toEqual(['updated', 'updated', 'updated']);
  });

  it('stops starting new ones at --max-failures; the ones in flight finish', async () => {
    const run = controlled({ a: 'rolled-back', b: 'needs-attention' });
    const done = schedule(['a', 'b', 'c', 'd'].map((name) => target(name)), bounds({ parallel: 2, maxFailures: 1 }), run.runOne, new AbortController().signal);
    await drive(run, done);
    expect(run.started).toEqual(['a', 'b']);
    expect((await done).map((r) => r.outcome)).toEqual(['rolled-back', 'needs-attention', 'skipped', 'skipped']);
  });

  it('a dry run\'s planned instance is no failure: the canary lets the rest go on, --max-failures counts none', async () => {
    const outcomes = { a: 'planned', b: 'planned', c: 'planned' } as const;
    const canary = controlled(outcomes);
    const first = schedule(['a', 'b', 'c'].map((name) => target(name)), bounds({ canary: 1 }), canary.runOne, new AbortController().signal);
    await drive(canary, first);
    expect((await first).map((r) => r.outcome)).toEqual(['planned', 'planned', 'planned']);
    const bounded = controlled(outcomes);
    const second = schedule(['a', 'b', 'c'].map((name) => target(name)), bounds({ maxFailures: 1 }), bounded.runOne, new AbortController().signal);
    await drive(bounded, second);
    expect((await second).map((r) => r.outcome)).toEqual(['planned', 'planned', 'planned']);
  });

  it('keeps at most --per-member on one cluster member; instances without one are not limited', async () => {
    const run = controlled();
    const perMember: Record<string, number> = {};
    const peak: Record<string, number> = {};
    const runOne = async (t: FleetTarget) => {
      const member = t.member ?? 'none';
      perMember[member] = (perMember[member] ?? 0) + 1;
      peak[member] = Math.max(peak[member] ?? 0, perMember[member]!);
      const report = await run.runOne(t);
      perMember[member]! -= 1;
      return report;
    };
    const targets = [target('a', 'm1'), target('b', 'm1'), target('c', 'm2'), target('d', 'm1'), target('e'), target('f')];
    const done = schedule(targets, bounds({ parallel: 4, perMember: 1 }), runOne, new AbortController().signal);
    await tick();
    // m1's second instance waits; the next ones that fit start in order.
    expect(run.started).toEqual(['a', 'c', 'e', 'f']);
    await drive(run, done);
    expect(peak).toEqual({ m1: 1, m2: 1, none: 2 });
    expect((await done).map((r) => [r.instance, r.member])).toEqual([
      ['local:a', 'm1'], ['local:b', 'm1'], ['local:c', 'm2'], ['local:d', 'm1'], ['local:e', null], ['local:f', null],
    ]);
  });

  it('on an interrupt starts nothing more, waits for the ones in flight, and skips the rest', async () => {
    const run = controlled();
    const controller = new AbortController();
    const done = schedule(['a', 'b', 'c', 'd'].map((name) => target(name)), bounds({ parallel: 2 }), run.runOne, controller.signal);
    await tick();
    controller.abort('SIGINT');
    await tick();
    expect(run.started).toEqual(['a', 'b']);
    let settled = false;
    void done.then(() => { settled = true; });
    await tick();
    expect(settled).toBe(false);
    run.finishers.get('a')!();
    run.finishers.get('b')!();
    expect((await done).map((r) => r.outcome)).toEqual(['updated', 'updated', 'skipped', 'skipped']);
  });

  it('refuses bounds below one rather than waiting for ever', async () => {
    await expect(schedule([target('a')], bounds({ parallel: 0 }), controlled().runOne, new AbortController().signal)).rejects.toThrow(/at least 1/);
    await expect(schedule([target('a')], bounds({ perMember: 0 }), controlled().runOne, new AbortController().signal)).rejects.toThrow(/at least 1/);
  });
});
