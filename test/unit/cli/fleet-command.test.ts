import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ListedInstance } from '../../../src/lxd/lxd.js';
import { runCli } from '../../support/cli.js';
import { FakeLxd, runningContainer } from '../../support/fake-lxd.js';

// A fleet at the command line over the scripted fake: what it reads from the config file and
// what it refuses before anything starts.

const listed = (name: string): ListedInstance => ({ ...runningContainer({ name }), config: {} });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-fleet-cli-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function cli(args: string[], lxd: FakeLxd, config: string) {
  await writeFile(join(dir, 'safeupdate.yaml'), config);
  const split = args.indexOf('--');
  return runCli([...args.slice(0, split), '--config', join(dir, 'safeupdate.yaml'), ...args.slice(split)], { lxd, env: { SAFEUPDATE_STATE_DIR: dir } });
}

/** A dry run's calls for one instance with no checks: preflight, then the plan and the status it ends in. */
function dryRun(lxd: FakeLxd, remote: string, name: string) {
  const isIt = (args: unknown[]) => (args[0] as { name: string }).name === name;
  lxd.expect('checkReachable', () => undefined, (args) => args[0] === remote, `checkReachable(${remote})`);
  lxd.expect('getInstance', () => runningContainer({ name }), isIt, `getInstance(${name})`);
  lxd.expect('getSpace', () => ({ driver: 'btrfs', freeBytes: null, usedByInstanceBytes: null }));
  lxd.expect('getInstance', () => runningContainer({ name }), isIt, `final status of ${name}`);
}

const plans = (stdout: string): Record<string, string[]> => Object.fromEntries(JSON.parse(stdout).instances.map((item: { instance: string; plan: string[] }) => [item.instance, item.plan]));

describe('a fleet reads each instance\'s config section as a single run does', () => {
  it('backup:db1 gets the "backup:db1" section (its expiry and keep), not the "db1" one nor the defaults', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => [listed('db1'), listed('db2')], (args) => args[0] === 'backup');
    dryRun(lxd, 'backup', 'db1');
    dryRun(lxd, 'backup', 'db2');
    const config = [
      'defaults:', '  checks: []', '  expiry: 14d',
      'instances:', '  db1:', '    expiry: 1d', '    keep: 5',
      '  "backup:db1":', '    expiry: 5d', '    keep: 3', '',
    ].join('\n');
    const { code, stdout, stderr } = await cli(['backup:db1', 'backup:db2', '--dry-run', '--no-package-report', '--json', '--', 'true'], lxd, config);
    lxd.assertDone();
    expect(code, stderr).toBe(0);
    const plan = plans(stdout);
    expect(plan['backup:db1']).toEqual(expect.arrayContaining([expect.stringContaining('(expires in 5d)'), expect.stringContaining('keep the 3 newest')]));
    expect(plan['backup:db2']).toEqual(expect.arrayContaining([expect.stringContaining('(expires in 2w)')]));
    expect(plan['backup:db2']!.join('\n')).not.toContain('keep the');
  });
});

describe('--restart in a fleet', () => {
  it('is each instance\'s own: from its config section, else the flag, else auto', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => [listed('web1'), listed('db1'), listed('db2')], (args) => args[0] === 'local');
    for (const name of ['web1', 'db1', 'db2']) dryRun(lxd, 'local', name);
    const config = 'defaults:\n  checks: []\ninstances:\n  db1:\n    restart: never\n  db2:\n    restart: always\n';
    const { code, stdout, stderr } = await cli(['web1', 'db1', 'db2', '--dry-run', '--no-package-report', '--json', '--', 'true'], lxd, config);
    lxd.assertDone();
    expect(code, stderr).toBe(0);
    const restartLine = (plan: string[] | undefined) => plan!.find((line) => line.includes('--restart'));
    const plan = plans(stdout);
    expect(restartLine(plan.web1)).toContain('(--restart auto)');
    expect(restartLine(plan.db1)).toContain('(--restart never)');
    expect(restartLine(plan.db2)).toContain('(--restart always)');
  });

  it('the flag wins over every section', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => [listed('db1'), listed('db2')], (args) => args[0] === 'local');
    for (const name of ['db1', 'db2']) dryRun(lxd, 'local', name);
    const config = 'defaults:\n  checks: []\ninstances:\n  db1:\n    restart: never\n';
    const { code, stdout, stderr } = await cli(['db1', 'db2', '--restart', 'always', '--dry-run', '--no-package-report', '--json', '--', 'true'], lxd, config);
    lxd.assertDone();
    expect(code, stderr).toBe(0);
    for (const plan of Object.values(plans(stdout))) expect(plan.join('\n')).toContain('(--restart always)');
  });
});

describe('a fleet dry run exits with the code the real run would have', () => {
  it.each([['--canary', '1'], ['--max-failures', '1']])('healthy with %s %s: every instance planned, exit 0', async (flag, value) => {
    const lxd = new FakeLxd().expect('listInstances', () => [listed('web1'), listed('web2')], (args) => args[0] === 'local');
    dryRun(lxd, 'local', 'web1');
    dryRun(lxd, 'local', 'web2');
    const { code, stdout, stderr } = await cli(['web1', 'web2', flag, value, '--dry-run', '--no-package-report', '--json', '--', 'true'], lxd, 'defaults:\n  checks: []\n');
    lxd.assertDone();
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ outcome: 'planned', exitCode: 0 });
    expect(Object.keys(plans(stdout))).toEqual(['web1', 'web2']);
  });
});

describe('a fleet refuses what a single run refuses, before anything starts', () => {
  it.each([
    [['web1', 'web2', '--copy-to', 'local:', '--', 'true'], '', '--copy-to "local:": that is where local:web1 lives'],
    [['web1', 'backup:db1', '--', 'true'], 'instances:\n  "backup:db1":\n    copy-to: "backup:"\n', '--copy-to "backup:": that is where backup:db1 lives'],
  ])('%j onto the instances\' own remote: exit 2', async (args, config, message) => {
    const lxd = new FakeLxd()
      .expect('listInstances', () => [listed('web1'), listed('web2')], (call) => call[0] === 'local')
      .expect('listInstances', () => [listed('db1')], (call) => call[0] === 'backup');
    const { code, stderr } = await cli(args, lxd, config);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    // Selected, never started: no instance was read, locked or changed.
    expect(lxd.calls.map((call) => call.method).filter((method) => !['resolveRef', 'listInstances', 'defaultRemote'].includes(method))).toEqual([]);
  });
});
