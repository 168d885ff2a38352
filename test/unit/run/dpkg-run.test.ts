import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExecOptions } from '../../../src/lxd/lxd.js';
import { WRITE_APT_CONFIG } from '../../../src/packages/apt-options.js';
import { INVENTORY_SCRIPT } from '../../../src/packages/inventory.js';
import { renderHuman } from '../../../src/report/human.js';
import { renderJunit } from '../../../src/report/junit.js';
import { renderMarkdown } from '../../../src/report/markdown.js';
import { execResult, isCommand } from '../../support/fake-lxd.js';
import { expectAptFinish, expectAptPrepare, expectLockFree, isAptFinish, isAptPrepare, isDpkgLockLook } from '../../support/fake-dpkg.js';
import { COMMAND, RunHarness } from './run-harness.js';

// dpkg inside a run (run/steps/dpkg.ts): the lock before the snapshot, the apt options for an
// unattended apt, and the conffiles around the update; and that none of it touches other commands.

let h: RunHarness;
beforeEach(async () => {
  h = new RunHarness();
  await h.setUp();
});
afterEach(() => h.tearDown());

const APT = { lockTimeoutMs: 60_000 };
const HELD = execResult({ stdout: 'held /var/lib/dpkg/lock-frontend 412 /usr/bin/python3 /usr/bin/unattended-upgrade\n' });
const MINE = 'a'.repeat(32);
const [V80, V81] = ['8'.repeat(32), '9'.repeat(32)];
const conffiles = (recorded: string, disk: string) => `safeupdate-demo\n /etc/demo.conf ${recorded}\n--- on disk\n${disk}`;

const inventory = (version: string) =>
  h.lxd.expect('exec', () => execResult({ stdout: `dpkg\nsafeupdate-demo\t${version}\tii \n` }), (args) => (args[1] as string[])[2] === INVENTORY_SCRIPT, `inventory (${version})`);

/** The update command, recording the environment it was given. */
function updateSeeing(seen: { env?: Record<string, string> }, command = COMMAND): void {
  h.lxd.expect('exec', (args) => {
    seen.env = (args[2] as ExecOptions).env;
    return execResult();
  }, isCommand(command), 'the update command');
}

describe('dpkg in a run of an apt command', () => {
  it("dpkg's lock held to the bound: exit 3, no snapshot, the holder named; the views say how long it waited", async () => {
    h.preflight(undefined, null);
    for (let look = 0; look <= 60; look += 1) h.lxd.expect('exec', () => HELD, isDpkgLockLook, `dpkg's lock look ${look}`);
    h.finalStatus();
    const { report, item } = await h.run({ apt: APT, checks: [] });

    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error).toEqual({
      step: 'dpkg-lock',
      message: "dpkg's lock is still held after 1m (--lock-timeout) by process 412 (/usr/bin/python3 /usr/bin/unattended-upgrade) on /var/lib/dpkg/lock-frontend; nothing changed",
    });
    expect(item.snapshot.name).toBeNull();
    expect(item.dpkg!.lock).toEqual({ boundMs: 60_000, waitedMs: 60_000, state: 'held', holders: [{ lock: '/var/lib/dpkg/lock-frontend', pid: 412, command: '/usr/bin/python3 /usr/bin/unattended-upgrade' }] });
    expect(h.events.filter((e) => e.type === 'progress')).toHaveLength(60);
    expect(renderHuman(report)).toContain('  dpkg lock  still held after 1m (bound 1m) by process 412 (/usr/bin/python3 /usr/bin/unattended-upgrade) on /var/lib/dpkg/lock-frontend\n');
    expect(renderMarkdown(report)).toContain('- **dpkg lock:** still held after 1m');
    expect(renderJunit(report)).toContain('dpkg lock: still held after 1m');
  });

  it('held, then free: the run waits, then snapshots and updates; the wait is in the report', async () => {
    h.preflight(undefined, null);
    h.lxd.expect('exec', () => HELD, isDpkgLockLook, 'held');
    h.lxd.expect('exec', () => HELD, isDpkgLockLook, 'held');
    expectLockFree(h.lxd);
    h.snapshot();
    expectAptPrepare(h.lxd);
    h.update();
    expectAptFinish(h.lxd);
    h.finalStatus();
    const { report, item } = await h.run({ apt: APT, checks: [] });

    expect(report.exitCode).toBe(0);
    expect(item.dpkg!.lock).toMatchObject({ state: 'free', waitedMs: 2_000 });
    expect(h.stepStarts().map(([action]) => action)).toEqual(['preflight', 'dpkg-lock', 'snapshot', 'apt-config', 'update', 'conffiles']);
    expect(renderHuman(report)).toContain('  dpkg lock  waited 2s for process 412');
  });

  it('unattended: apt gets APT_CONFIG naming a file in /run with the conffile options and its lock timeout, removed after the update', async () => {
    h.preflight(undefined, null);
    expectLockFree(h.lxd);
    h.snapshot();
    let written: string[] = [];
    h.lxd.expect('exec', (args) => {
      written = args[1] as string[];
      return execResult();
    }, isAptPrepare, 'apt configuration written');
    const seen: { env?: Record<string, string> } = {};
    updateSeeing(seen);
    let removed: string[] = [];
    h.lxd.expect('exec', (args) => {
      removed = args[1] as string[];
      return execResult();
    }, isAptFinish, 'apt configuration removed');
    h.finalStatus();
    const { item } = await h.run({ apt: APT, checks: [] });

    const file = '/run/safeupdate/apt-run-1.conf';
    expect(written.slice(3)).toEqual(['safeupdate-apt-prepare', file, expect.stringContaining('DPkg::Options { "--force-confdef"; "--force-confold"; };\nDPkg::Lock::Timeout "60";\n')]);
    expect(written[2]).toContain(WRITE_APT_CONFIG);
    expect(seen.env).toEqual({ DEBIAN_FRONTEND: 'noninteractive', APT_CONFIG: file, SAFEUPDATE_RUN: 'run-1' });
    expect(removed.slice(2)).toEqual(['rm -f "$1"', 'safeupdate-apt-finish', file]);
    expect(item.dpkg).toEqual({ lock: { boundMs: 60_000, waitedMs: 0, state: 'free', holders: [] }, aptConfig: { file, dpkgOptions: ['--force-confdef', '--force-confold'], lockTimeoutSeconds: 60 }, conffiles: null });
  });

  it('reports a modified conffile the update kept, from the hashes before and after; the views name it', async () => {
    h.preflight(undefined, null);
    // The inventory is read beside the baseline (no checks here), so before the lock's look.
    inventory('8.0');
    expectLockFree(h.lxd);
    h.snapshot();
    expectAptPrepare(h.lxd, conffiles(V80, `${MINE}  /etc/demo.conf\n`));
    h.update();
    // The conffiles are read beside the inventory after the update.
    h.lxd.together(() => {
      inventory('8.1');
      expectAptFinish(h.lxd, conffiles(V81, `${MINE}  /etc/demo.conf\n${V81}  /etc/demo.conf.dpkg-dist\n`));
    });
    h.finalStatus();
    const { report, item } = await h.run({ apt: APT, checks: [], packageReport: true });

    expect(item.dpkg!.conffiles).toEqual([{ path: '/etc/demo.conf', package: 'safeupdate-demo', outcome: 'kept', sideFile: '/etc/demo.conf.dpkg-dist' }]);
    const line = "/etc/demo.conf (safeupdate-demo): kept yours; the package's version is in /etc/demo.conf.dpkg-dist";
    expect(renderHuman(report)).toContain(`  conffile   ${line}\n`);
    expect(renderMarkdown(report)).toContain(`- **Conffile:** ${line}`);
    expect(renderJunit(report)).toContain(`conffile: /etc/demo.conf (safeupdate-demo): kept yours; the package's version is in /etc/demo.conf.dpkg-dist`);
    expect(JSON.parse(JSON.stringify(report)).instances[0].dpkg.conffiles[0].outcome).toBe('kept');
  });

  it('interactive (the command owns the terminal): dpkg asks as usual, no APT_CONFIG; the conffiles are still read, to report what was answered', async () => {
    h.preflight(undefined, null);
    // The inventory is read beside the baseline (no checks here), so before the lock's look.
    inventory('8.0');
    expectLockFree(h.lxd);
    h.snapshot();
    let prepared: string[] = [];
    h.lxd.expect('exec', (args) => {
      prepared = args[1] as string[];
      return execResult({ stdout: conffiles(V80, `${MINE}  /etc/demo.conf\n`) });
    }, isAptPrepare, 'conffiles read');
    const seen: { env?: Record<string, string> } = {};
    updateSeeing(seen);
    h.lxd.together(() => {
      inventory('8.1');
      expectAptFinish(h.lxd, conffiles(V81, `${V81}  /etc/demo.conf\n${MINE}  /etc/demo.conf.dpkg-old\n`));
    });
    h.finalStatus();
    const { item } = await h.run({ apt: APT, checks: [], packageReport: true, interactive: true });

    expect(prepared[2]).not.toContain(WRITE_APT_CONFIG);
    expect(prepared[4]).toBe('');
    expect(seen.env).toEqual({ SAFEUPDATE_RUN: 'run-1' });
    expect(item.dpkg!.aptConfig).toBeNull();
    expect(item.dpkg!.conffiles).toMatchObject([{ path: '/etc/demo.conf', outcome: 'replaced', sideFile: '/etc/demo.conf.dpkg-old' }]);
  });

  it('APT_CONFIG given by --env wins: no file of ours, a warning', async () => {
    h.preflight(undefined, null);
    expectLockFree(h.lxd);
    h.snapshot();
    const seen: { env?: Record<string, string> } = {};
    updateSeeing(seen);
    h.finalStatus();
    const { item } = await h.run({ apt: APT, checks: [], env: { APT_CONFIG: '/etc/apt/mine.conf' } });

    expect(seen.env).toMatchObject({ APT_CONFIG: '/etc/apt/mine.conf' });
    expect(item.dpkg!.aptConfig).toBeNull();
    expect(item.warnings).toEqual(['APT_CONFIG is set by --env: safeupdate gives apt no conffile options and no lock timeout of its own']);
  });

  it('a dry run does not wait for the lock; its plan says what the run would do', async () => {
    h.preflight(undefined, null);
    h.finalStatus();
    const { item } = await h.run({ apt: APT, checks: [], dryRun: true });
    expect(item.plan).toContain("before the snapshot: wait up to 1m for dpkg's lock (--lock-timeout); still held then: exit 3, nothing changed");
    expect(item.plan).toContain('apt runs with --force-confdef --force-confold (APT_CONFIG): a locally modified conffile is kept');
  });
});

describe('dpkg and any other command', () => {
  it('a command that is not apt gets nothing of it: no lock look, no APT_CONFIG, no dpkg in the report', async () => {
    const command = ['sh', '-c', 'dnf upgrade -y'];
    h.preflight(undefined, null);
    h.snapshot();
    const seen: { env?: Record<string, string> } = {};
    updateSeeing(seen, command);
    h.finalStatus();
    const { item } = await h.run({ apt: APT, checks: [], command });
    expect(seen.env).toEqual({ DEBIAN_FRONTEND: 'noninteractive', SAFEUPDATE_RUN: 'run-1' });
    expect(item.dpkg).toBeUndefined();
    expect(item.plan).toEqual([]);
  });
});
