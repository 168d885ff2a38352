import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { INCUS } from '../../../src/lxd/dialect.js';
import { FEATURES, missingFeatures, requireFeatures, USED_EXTENSIONS } from '../../../src/lxd/extensions.js';
import type { ServerApi } from '../../../src/lxd/lxd.js';
import { syncInstances } from '../../../src/run/sync.js';
import { runCli } from '../../support/cli.js';
import { FakeClock } from '../../support/fake-clock.js';
import { execResult, FakeLxd, FULL_API, stopOf } from '../../support/fake-lxd.js';
import { resolved, RunHarness } from './run-harness.js';

// The server's API extensions, read at preflight (one GET /1.0): a feature whose extension the
// server lacks is refused before anything changes (exit 3), naming the extension and the feature.

let h: RunHarness;
beforeEach(async () => {
  h = new RunHarness();
  await h.setUp();
});
afterEach(() => h.tearDown());

const without = (...missing: string[]): ServerApi => ({ server: 'lxd', version: '3.0.3', extensions: USED_EXTENSIONS.filter((name) => !missing.includes(name)) });

describe('the run refuses at preflight, before anything changes', () => {
  it('a server without snapshot_expiry_creation: exit 3, nothing else asked of it', async () => {
    h.lxd.expect('checkReachable', () => without('snapshot_expiry_creation'));
    h.finalStatus();
    const { report, item } = await h.run();
    expect(report).toMatchObject({ outcome: 'not-started', exitCode: 3 });
    expect(item.error).toEqual({
      step: 'preflight',
      message: 'the server local: (lxd 3.0.3) lacks the API extension "snapshot_expiry_creation" (needed for a snapshot\'s own expiry, set when it is taken: every run\'s snapshot, and the hook\'s); ' +
        'nothing changed. Upgrade the server, or leave out the option that needs it',
    });
    expect(item.snapshot.name).toBeNull();
  });

  it('--no-expiry too: "never" is an expiry the snapshot carries, else snapshots.expiry would apply', async () => {
    h.lxd.expect('checkReachable', () => without('snapshot_expiry_creation'));
    h.finalStatus();
    const { report } = await h.run({ expiryMs: null });
    expect(report.exitCode).toBe(3);
  });

  it.each([
    [{ copyTo: 'backup' }, 'container_incremental_copy'],
    [{ keepFailed: true }, 'container_only_migration'],
  ] as const)('%j on a server without %s: exit 3, naming both', async (options, extension) => {
    h.lxd.expect('checkReachable', () => without(extension));
    h.finalStatus();
    const { report, item } = await h.run(options);
    expect(report.exitCode).toBe(3);
    expect(item.error?.message).toContain(`lacks the API extension "${extension}"`);
  });

  it('the same server without those options: the run goes on', async () => {
    h.lxd.expect('checkReachable', () => without('container_incremental_copy', 'container_only_migration', 'proxy'));
    h.lxd.expect('getInstance', () => null);
    h.finalStatus(null);
    const { item } = await h.run();
    expect(item.error).toEqual({ step: 'preflight', message: 'instance web1 does not exist' });
  });

  it('several missing: all named, in one refusal', () => {
    expect(() => requireFeatures(without('instances', 'snapshot_expiry_creation'), ['instances', 'snapshotExpiry'], 'the server'))
      .toThrow(/lacks the API extensions "instances" \(needed for the \/1\.0\/instances API every command uses\), "snapshot_expiry_creation" \(needed for /);
  });

  it('a refusal is an LxdError of kind unsupported, which every command reports as could not start', () => {
    const error = (() => {
      try {
        requireFeatures({ server: null, version: null, extensions: [] }, ['schedule'], 'the server backup:');
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(LxdError);
    expect(error).toMatchObject({ kind: 'unsupported', message: expect.stringMatching(/^the server backup: \(version unknown\) lacks the API extension "snapshot_scheduling" \(needed for snapshots.schedule/) });
  });
});

describe('the snapshot server is asked at the copy', () => {
  it('--copy-to a server without container_incremental_copy: updated, the copy refused, exit 5', async () => {
    h.preflight().baselineHealthy().snapshot().update().systemdHealthy();
    h.lxd.expect('checkReachable', () => without('container_incremental_copy'), (args) => args[0] === 'backup', 'the snapshot server');
    h.finalStatus();
    const { report, item } = await h.run({ copyTo: 'backup' });
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 5 });
    expect(item.copy).toMatchObject({ ok: false, message: expect.stringContaining('the snapshot server backup: (lxd 3.0.3) lacks the API extension "container_incremental_copy"') });
  });

  it('sync to such a server: every instance not started, exit 3, the extension named', async () => {
    const lxd = new FakeLxd().expect('checkReachable', () => without('container_incremental_copy'), (args) => args[0] === 'backup');
    const dir = await mkdtemp(join(tmpdir(), 'safeupdate-sync-'));
    const report = await syncInstances([{ remote: null, name: 'web1', project: null }], 'backup', {
      lxd, clock: new FakeClock(), emit: () => {}, runId: 'r', runDir: dir, stateDir: dir, toolVersion: 't', interrupt: new AbortController().signal,
    });
    lxd.assertDone();
    expect(report.exitCode).toBe(3);
    expect(report.instances[0]!.error?.message).toMatch(/^the snapshot server backup: \(lxd 3\.0\.3\) lacks the API extension "container_incremental_copy"/);
  });
});

describe('schedule asks for what it sets', () => {
  it('@daily on a server without snapshot_schedule_aliases: exit 3, nothing set', async () => {
    const lxd = new FakeLxd().expect('checkReachable', () => without('snapshot_schedule_aliases'));
    const run = await runCli(['schedule', 'web1', '--every', '@daily'], { lxd });
    lxd.assertDone();
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^safeupdate: the server \(lxd 3\.0\.3\) lacks the API extension "snapshot_schedule_aliases" \(needed for a schedule alias such as @daily/);
  });

  it.each([
    [['--every', '0 3 * * *'], 'snapshot_scheduling'],
    [['--every', '0 3 * * *', '--expiry', '14d'], 'snapshot_expiry'],
  ])('%j on a server without %s: exit 3', async (args, extension) => {
    const lxd = new FakeLxd().expect('checkReachable', () => without(extension));
    const run = await runCli(['schedule', 'web1', ...args], { lxd });
    lxd.assertDone();
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`lacks the API extension "${extension}"`);
  });

  it('a cron schedule with an expiry on a server without aliases: not asked for, so set', async () => {
    const lxd = new FakeLxd()
      .expect('checkReachable', () => without('snapshot_schedule_aliases'))
      .expect('getInstance', () => ({ name: 'web1', type: 'container', status: 'Running', ephemeral: false, devices: {} }))
      .expect('setConfig', () => undefined, (args) => (args[1] as Record<string, string | null>)['snapshots.expiry'] === '2w', 'setConfig with the expiry')
      .expect('getConfig', () => ({ 'snapshots.schedule': '0 3 * * *', 'snapshots.expiry': '2w' }));
    const run = await runCli(['schedule', 'web1', '--every', '0 3 * * *', '--expiry', '14d'], { lxd });
    lxd.assertDone();
    expect(run.code, run.stderr).toBe(0);
  });
});

describe('the table of features', () => {
  it('names each extension once, as LXD and Incus list them', () => {
    expect(new Set(USED_EXTENSIONS).size).toBe(Object.keys(FEATURES).length);
    expect(USED_EXTENSIONS).toEqual(expect.arrayContaining(['snapshot_expiry_creation', 'container_incremental_copy', 'snapshot_scheduling', 'proxy', 'certificate_project']));
  });

  it('missingFeatures keeps the order asked and ignores extensions it was not asked about', () => {
    expect(missingFeatures(without('proxy', 'snapshot_scheduling'), ['schedule', 'instances', 'proxyDevice'])).toEqual(['schedule', 'proxyDevice']);
    expect(missingFeatures(FULL_API, Object.keys(FEATURES) as Array<keyof typeof FEATURES>)).toEqual([]);
  });
});

describe('on Incus, the commands to finish by hand are incus commands', () => {
  it('a failed stop names incus snapshot restore', async () => {
    h.lxd.dialect = INCUS;
    h.preflight(undefined, false).snapshot().update(execResult({ exitCode: 1 })).evidence();
    h.lxd.expect('getInstance', () => ({ name: 'web1', type: 'container', status: 'Running', ephemeral: false, devices: {} }));
    h.lxd.expect('stopInstance', () => {
      throw new LxdError('The instance is busy', 'failed', []);
    }, stopOf(resolved));
    h.finalStatus();
    const { report, item } = await h.run();
    const s = 'safeupdate-20261126-100000';
    expect(report).toMatchObject({ client: 'incus', exitCode: 4 });
    expect(item.error?.message).toContain(
      `To finish by hand: incus stop --force local:web1 --project default && incus snapshot restore local:web1 ${s} --project default && incus start local:web1 --project default`,
    );
  });
});
