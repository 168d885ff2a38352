import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExecResult } from '../../../src/lxd/lxd.js';
import { renderHuman } from '../../../src/report/human.js';
import { renderMarkdown } from '../../../src/report/markdown.js';
import { execResult, isCommand, isInventory } from '../../support/fake-lxd.js';
import { RunHarness } from './run-harness.js';

// The package report and the upgrade policy inside a run: what is read, simulated, refused and
// deleted, in which order, and what the report and its views say.

let h: RunHarness;
beforeEach(async () => {
  h = new RunHarness();
  await h.setUp();
});
afterEach(() => h.tearDown());

const dpkg = (entries: Record<string, string>) => execResult({ stdout: `dpkg\n${Object.entries(entries).map(([name, version]) => `${name}\t${version}\tii \n`).join('')}` });
const inventory = (result: ExecResult) => h.lxd.expect('exec', () => result, isInventory, 'the package inventory');
const simulation = (stdout: string, exitCode = 0) =>
  h.lxd.expect('exec', () => execResult({ stdout, exitCode, stderr: exitCode ? 'E: Unable to locate package nope\n' : '' }), isCommand(['apt-get', '-s', 'upgrade', '-y']), 'apt-get -s');
/** The baseline checks and the inventory before: read at the same time. */
const baselineAnd = (result: ExecResult) => h.lxd.together(() => (h.baselineHealthy(), inventory(result)));
/** The inventory after and the after-update checks: read at the same time. */
const checkedAnd = (result: ExecResult) => h.lxd.together(() => (inventory(result), h.systemdHealthy()));
const MAJOR = 'Inst safeupdate-demo [1.0] (2.0 localhost [all])\nConf safeupdate-demo (2.0 localhost [all])\n';

describe('the package report', () => {
  it('reads the inventory before the snapshot and right after the command, and lists what moved', async () => {
    h.preflight();
    baselineAnd(dpkg({ 'safeupdate-demo': '1.0', adduser: '3.134' }));
    h.snapshot().update();
    checkedAnd(dpkg({ 'safeupdate-demo': '1.1', adduser: '3.134' }));
    h.finalStatus();
    const { report, item } = await h.run({ packageReport: true });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 0 });
    expect(item.packages).toEqual({
      manager: 'dpkg', simulated: false, snapshotDeleted: false,
      changes: [{ name: 'safeupdate-demo', kind: 'changed', from: '1.0', to: '1.1', bump: 'minor' }],
      counts: { major: 0, minor: 1, patch: 0, other: 0 },
    });
    expect(h.stepStarts().map(([action]) => action)).toEqual(['preflight', 'baseline', 'packages-before', 'snapshot', 'update', 'packages-after', 'after-update']);
    expect(renderHuman(report)).toContain('  packages   1 upgraded (1 minor) (dpkg)\n             safeupdate-demo 1.0 → 1.1 (minor)\n');
    expect(renderMarkdown(report)).toContain('| safeupdate-demo | changed | 1.0 | 1.1 | minor |');
  });

  it('a rolled-back update still reports what it had changed', async () => {
    h.preflight();
    baselineAnd(dpkg({ 'safeupdate-demo': '1.0' }));
    h.snapshot().update(execResult({ exitCode: 100 }));
    inventory(dpkg({ 'safeupdate-demo': '2.0' }));
    h.evidence().stop().restoreAndStart().systemdHealthy().finalStatus();
    const { report, item } = await h.run({ packageReport: true });
    expect(report.exitCode).toBe(1);
    expect(item.packages?.changes).toEqual([{ name: 'safeupdate-demo', kind: 'changed', from: '1.0', to: '2.0', bump: 'major' }]);
  });

  it('no package changed: says so and deletes its own snapshot through the snapshot-only path', async () => {
    h.preflight();
    baselineAnd(dpkg({ 'safeupdate-demo': '1.0' }));
    h.snapshot().update();
    checkedAnd(dpkg({ 'safeupdate-demo': '1.0' }));
    h.lxd.expect('listSnapshots', () => [{ name: h.taken!, createdAt: '', expiresAt: null, stateful: false, sizeBytes: null }]);
    h.lxd.expect('deleteSnapshot', () => undefined, (args) => (args[0] as { name: string }).name === 'web1' && args[1] === h.taken, 'deletes the snapshot the run took');
    h.finalStatus();
    const { report, item } = await h.run({ packageReport: true });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 0 });
    expect(item.packages).toMatchObject({ changes: [], snapshotDeleted: true });
    expect(item.steps.at(-1)).toMatchObject({ action: 'forget-snapshot', ok: true, message: `deleted ${h.taken} (--keep-unchanged keeps it)` });
    expect(renderHuman(report)).toContain('packages   no package changed; the snapshot was deleted (--keep-unchanged keeps it)');
  });

  it('--keep-unchanged keeps it', async () => {
    h.preflight();
    baselineAnd(dpkg({ a: '1.0' }));
    h.snapshot().update();
    checkedAnd(dpkg({ a: '1.0' }));
    h.finalStatus();
    const { item } = await h.run({ packageReport: true, keepUnchanged: true });
    expect(item.packages).toMatchObject({ changes: [], snapshotDeleted: false });
  });

  it('a snapshot that cannot be deleted is a failed follow-up: exit 5, the update stays', async () => {
    h.preflight();
    baselineAnd(dpkg({ a: '1.0' }));
    h.snapshot().update();
    checkedAnd(dpkg({ a: '1.0' }));
    h.lxd.expect('listSnapshots', () => []);
    h.finalStatus();
    const { report, item } = await h.run({ packageReport: true });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 5 });
    expect(item.error?.message).toBe(`updated and healthy, but deleting the unneeded snapshot ${h.taken} failed (see warnings)`);
    expect(item.warnings).toEqual([`no package changed, but the snapshot ${h.taken} could not be deleted: web1/${h.taken} is no longer a snapshot of web1`]);
  });

  it('an inventory that cannot be read is a warning, and without both inventories the snapshot is never deleted', async () => {
    h.preflight();
    baselineAnd(execResult({ stdout: 'unknown\n' }));
    h.snapshot().update();
    h.systemdHealthy().finalStatus();
    const { report, item } = await h.run({ packageReport: true });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 0 });
    expect(item.packages).toBeNull();
    expect(item.warnings).toEqual(['could not read the installed packages before the update: unknown package manager: none of dpkg, rpm or apk is installed in the instance; the report lists no package changes']);
  });

  it('an inventory that fails after the update: no report, no deletion', async () => {
    h.preflight();
    baselineAnd(dpkg({ a: '1.0' }));
    h.snapshot().update();
    checkedAnd(execResult({ exitCode: 127, stderr: 'sh: dpkg-query: not found\n' }));
    h.finalStatus();
    const { item } = await h.run({ packageReport: true });
    expect(item.packages).toBeNull();
    expect(item.warnings).toEqual(['could not read the installed packages after the update: the inventory exited 127: sh: dpkg-query: not found; the report lists no package changes']);
  });
});

describe('the upgrade policy', () => {
  it('--refuse major: a major upgrade is refused before the snapshot, naming it and the way through', async () => {
    h.preflight().baselineHealthy();
    simulation(MAJOR);
    h.finalStatus();
    const { report, item } = await h.run({ policy: { refuse: 'major', allow: [] } });
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error).toEqual({ step: 'simulate', message: 'refused by --refuse major: safeupdate-demo 1.0 → 2.0 (major); nothing changed (--allow safeupdate-demo lets it through)' });
    expect(item.packages).toMatchObject({ simulated: true, counts: { major: 1, minor: 0, patch: 0, other: 0 } });
    expect(h.lxd.calls.map((call) => call.method)).not.toContain('createSnapshot');
  });

  it('--allow lets it through; the run goes on to the snapshot', async () => {
    h.preflight().baselineHealthy();
    simulation(MAJOR);
    h.snapshot().update().systemdHealthy().finalStatus();
    const { report } = await h.run({ policy: { refuse: 'major', allow: ['safeupdate-*'] } });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 0 });
  });

  it('--refuse minor refuses a minor upgrade too', async () => {
    h.preflight().baselineHealthy();
    simulation('Inst safeupdate-demo [1.0] (1.1 localhost [all])\n');
    h.finalStatus();
    const { item } = await h.run({ policy: { refuse: 'minor', allow: [] } });
    expect(item.error?.message).toBe('refused by --refuse minor: safeupdate-demo 1.0 → 1.1 (minor); nothing changed (--allow safeupdate-demo lets it through)');
  });

  it('a command that cannot be simulated is refused under a policy, never let through unjudged', async () => {
    h.preflight().baselineHealthy().finalStatus();
    const { report, item } = await h.run({ command: ['sh', '-c', 'apt-get upgrade -y'], policy: { refuse: 'major', allow: [] } });
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error?.message).toBe("--refuse major needs apt's simulation, and there is none: only a direct apt or apt-get command can be simulated, not \"sh -c apt-get upgrade -y\" (run apt-get update first, then give the apt-get command itself); nothing changed");
  });

  it('a simulation that fails is refused too, with apt\'s words', async () => {
    h.preflight().baselineHealthy();
    simulation('', 100);
    h.finalStatus();
    const { item } = await h.run({ policy: { refuse: 'major', allow: [] } });
    expect(item.error?.message).toBe("--refuse major needs apt's simulation, and there is none: apt-get -s upgrade -y exited 100: E: Unable to locate package nope; nothing changed");
  });

  it('an interrupt during the simulation changes nothing', async () => {
    const controller = new AbortController();
    h.preflight().baselineHealthy();
    h.lxd.expect('exec', () => {
      controller.abort('SIGTERM');
      return execResult({ stdout: 'Inst safeupdate-demo [1.0] (1.0.1 localhost [all])\n' });
    }, isCommand(['apt-get', '-s', 'upgrade', '-y']));
    h.finalStatus();
    const { report, item } = await h.run({ policy: { refuse: 'major', allow: [] } }, { interrupt: controller.signal });
    expect(report).toMatchObject({ outcome: 'interrupted', exitCode: 143 });
    expect(item.error?.step).toBe('simulate');
  });
});

describe('a dry run', () => {
  it('lists what apt would change, with the bumps, and changes nothing', async () => {
    h.preflight().baselineHealthy();
    simulation(MAJOR);
    h.finalStatus();
    const { report, item } = await h.run({ dryRun: true, packageReport: true });
    expect(report).toMatchObject({ outcome: 'planned', exitCode: 0 });
    expect(item.plan).toContain('would change safeupdate-demo 1.0 → 2.0 (major)');
    expect(renderHuman(report)).toContain('packages   would change: 1 upgraded (1 major) (dpkg)');
  });

  it('says when the command cannot be simulated, and still plans', async () => {
    h.preflight().baselineHealthy().finalStatus();
    const { report, item } = await h.run({ dryRun: true, packageReport: true, command: ['sh', '-c', 'make install'] });
    expect(report.exitCode).toBe(0);
    expect(item.packages).toBeNull();
    expect(item.warnings).toEqual(['no list of would-be package changes: only a direct apt or apt-get command can be simulated, not "sh -c make install" (run apt-get update first, then give the apt-get command itself)']);
  });

  it('judges the policy as the real run would: --refuse major of a major upgrade is refused, exit 3', async () => {
    h.preflight().baselineHealthy();
    simulation(MAJOR);
    h.finalStatus();
    const { report, item } = await h.run({ dryRun: true, packageReport: true, policy: { refuse: 'major', allow: [] } });
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3, dryRun: true });
    expect(item.error?.message).toContain('refused by --refuse major: safeupdate-demo 1.0 → 2.0 (major)');
  });

  it('a command the policy cannot judge is refused in a dry run too', async () => {
    h.preflight().baselineHealthy().finalStatus();
    const { report } = await h.run({ dryRun: true, packageReport: true, command: ['sh', '-c', 'make install'], policy: { refuse: 'minor', allow: ['x'] } });
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
  });

  it('an upgrade the policy lets through is planned, exit 0, simulated once', async () => {
    h.preflight().baselineHealthy();
    simulation(MAJOR);
    h.finalStatus();
    const { report, item } = await h.run({ dryRun: true, packageReport: true, policy: { refuse: 'major', allow: ['safeupdate-*'] } });
    expect(report).toMatchObject({ outcome: 'planned', exitCode: 0 });
    expect(item.plan).toContain('would change safeupdate-demo 1.0 → 2.0 (major)');
    expect(item.plan).toContain('before the snapshot: refuse a major upgrade (except safeupdate-*)');
  });
});
