import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runFleet } from '../../../src/fleet/run-fleet.js';
import { selectInstances } from '../../../src/fleet/selection.js';
import type { InstanceRef, ListedInstance } from '../../../src/lxd/lxd.js';
import { FakeClock } from '../../support/fake-clock.js';
import { execResult, FakeLxd, isCommand, isSystemdCheck, isSystemdProbe, runningContainer, systemdOutput } from '../../support/fake-lxd.js';
import { COMMAND, GIB, runOptions } from '../run/run-harness.js';

// Issue 25: a fleet's cost in LXD calls must not grow with its size. Each instance's run makes the
// same calls whatever the fleet (no listing of every instance per instance, no lease reads of the
// others'); the fleet adds one listing per remote and project. The bench measures the same on a
// real daemon (scripts/bench/fleet.mjs); this keeps it so without one.

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-fleet-calls-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const named = (ref: InstanceRef) => (args: unknown[]) => (args[0] as InstanceRef).name === ref.name;

/** A healthy update of one instance, as the run makes its calls (run-update.test.ts has each stage). */
function scriptHealthyRun(lxd: FakeLxd, ref: InstanceRef): void {
  const of = named(ref);
  lxd.expect('checkReachable', () => undefined);
  lxd.expect('getInstance', () => runningContainer({ name: ref.name }), of);
  lxd.expect('getSpace', () => ({ driver: 'btrfs', freeBytes: 50 * GIB, usedByInstanceBytes: null }), of);
  lxd.expect('exec', () => execResult(), (args) => of(args) && isSystemdProbe(args), 'systemd probe');
  lxd.expect('exec', () => systemdOutput('running'), (args) => of(args) && isSystemdCheck(args), 'baseline systemd check');
  lxd.expect('listSnapshots', () => [], of);
  lxd.expect('createSnapshot', () => undefined, of);
  lxd.expect('exec', () => execResult(), (args) => of(args) && isCommand(COMMAND)(args), 'the update command');
  // After an update a pass is confirmed by a second look a moment later.
  lxd.expect('exec', () => systemdOutput('running'), (args) => of(args) && isSystemdCheck(args), 'systemd check');
  lxd.expect('exec', () => systemdOutput('running'), (args) => of(args) && isSystemdCheck(args), 'systemd check, again');
  lxd.expect('getInstance', () => runningContainer({ name: ref.name }), of);
}

/** The calls a fleet of `size` healthy instances makes, by method. */
async function callsOfFleet(size: number): Promise<Map<string, number>> {
  const lxd = new FakeLxd();
  const names = Array.from({ length: size }, (_, i) => `web${i}`);
  lxd.expect('listInstances', () => names.map((name): ListedInstance => ({ ...runningContainer({ name }), config: {} })));
  // One at a time (--parallel 1): the fake takes its calls in the scripted order.
  for (const name of names) scriptHealthyRun(lxd, { remote: 'local', project: 'default', name });
  const selection = await selectInstances(lxd, { names, all: [], exclude: [], where: [], project: null }, {});
  const context = { lxd, clock: new FakeClock(), emit: () => {}, runId: 'run-1', runDir: dir, stateDir: dir, toolVersion: '0.0.0-test', interrupt: new AbortController().signal };
  const report = await runFleet(selection, () => runOptions(), { command: COMMAND, dryRun: false }, { parallel: 1, canary: 0, maxFailures: null, perMember: null }, context, () => {});
  lxd.assertDone();
  expect(report.instances.map((item) => item.outcome)).toEqual(names.map(() => 'updated'));
  const counts = new Map<string, number>();
  for (const call of lxd.calls) counts.set(call.method, (counts.get(call.method) ?? 0) + 1);
  return counts;
}

describe('the LXD calls of a fleet', () => {
  it('are the same per instance for 1, 8 and 32 instances, plus one listing for the whole fleet', async () => {
    const one = await callsOfFleet(1);
    for (const size of [8, 32]) {
      const many = await callsOfFleet(size);
      expect(many.get('listInstances')).toBe(1);
      const perInstance = Object.fromEntries([...many].filter(([method]) => method !== 'listInstances').map(([method, count]) => [method, count / size]));
      expect(perInstance).toEqual(Object.fromEntries([...one].filter(([method]) => method !== 'listInstances')));
    }
    // The lease (a profile per instance) is read and written a fixed number of times per run, never per other instance.
    expect(one.get('getProfile')).toBeGreaterThan(0);
  });
});
