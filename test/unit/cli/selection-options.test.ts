import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceRef, ListedInstance } from '../../../src/lxd/lxd.js';
import { runCli } from '../../support/cli.js';
import { execResult, FakeLxd, runningContainer } from '../../support/fake-lxd.js';

// One selection for every command that takes instances: check, prune and sync choose them with
// @group, --all, --exclude and --where as a run does.

const listed = (name: string, partial: Partial<ListedInstance> = {}): ListedInstance => ({ ...runningContainer({ name }), config: {}, ...partial });
const named = (name: string) => (args: unknown[]) => (args[0] as InstanceRef).name === name;
const FLEET = [listed('web1', { config: { 'user.role': 'web' } }), listed('web2', { config: { 'user.role': 'web' }, status: 'Stopped' }), listed('db1', { config: { 'user.role': 'db' } })];

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-selection-cli-'));
  await writeFile(join(dir, 'safeupdate.yaml'), 'groups:\n  web: [web1, web2]\n');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function cli(args: string[], lxd: FakeLxd) {
  const result = await runCli([...args, '--config', join(dir, 'safeupdate.yaml')], { lxd, env: { SAFEUPDATE_STATE_DIR: dir } });
  lxd.assertDone();
  return result;
}

function healthy(lxd: FakeLxd, name: string) {
  lxd.expect('checkReachable', () => undefined);
  lxd.expect('getInstance', () => runningContainer({ name }), named(name), `getInstance(${name})`);
  lxd.expect('exec', () => execResult(), named(name), `check on ${name}`);
}

describe('check', () => {
  it('@group: its members, named as the group lists them; a stopped one could not be checked (exit 3)', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => FLEET);
    healthy(lxd, 'web1');
    const { code, stdout, stderr } = await cli(['check', '@web', '--check', 'exec:true', '--json'], lxd);
    expect(code, stderr).toBe(3);
    expect(JSON.parse(stdout).instances.map((item: { instance: string; outcome: string }) => [item.instance, item.outcome])).toEqual([['web1', 'healthy'], ['web2', 'not-started']]);
  });

  it('--all --exclude: every running instance but the one left out', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => FLEET);
    healthy(lxd, 'db1');
    const { code, stdout } = await cli(['check', '--all', '--exclude', 'web1', '--check', 'exec:true', '--json'], lxd);
    expect(code).toBe(0);
    expect(JSON.parse(stdout).instances.map((item: { instance: string }) => item.instance)).toEqual(['db1']);
  });
});

describe('prune', () => {
  it('--all --where: running and stopped instances whose config matches', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => FLEET);
    // Both planned at once: their calls interleave.
    for (const name of ['web1', 'web2']) lxd.expect('checkReachable', () => undefined, () => true, `checkReachable for ${name}`);
    for (const name of ['web1', 'web2']) lxd.expect('getInstance', () => runningContainer({ name }), named(name), `getInstance(${name})`);
    for (const name of ['web1', 'web2']) lxd.expect('listSnapshots', () => [], named(name), `listSnapshots(${name})`);
    const { code, stderr } = await cli(['prune', '--all', '--where', 'user.role=web', '--keep-last', '1', '--dry-run'], lxd);
    expect(code, stderr).toBe(0);
    expect(stderr).toBe('web1:\n  no snapshots\nweb2:\n  no snapshots\n');
  });

  it('a group member that does not exist: exit 3, nothing deleted anywhere', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => [listed('web1')]);
    const { code, stderr } = await cli(['prune', '@web', '--keep-last', '1', '--yes'], lxd);
    expect(code).toBe(3);
    expect(stderr).toContain('safeupdate: web2: no such instance; nothing deleted');
  });
});

describe('sync', () => {
  it('@group to a server: each member, stopped ones too', async () => {
    const lxd = new FakeLxd()
      .expect('listInstances', () => FLEET)
      .expect('checkReachable', () => undefined, (args) => args[0] === 'backup', 'server reachable');
    for (const name of ['web1', 'web2']) {
      lxd.expect('checkReachable', () => undefined, (args) => args[0] === null, 'source reachable');
      lxd.expect('getInstance', () => runningContainer({ name }), named(name), `getInstance(${name})`);
      lxd.expect('checkReachable', () => undefined, (args) => args[0] === 'backup');
      lxd.expect('getInstance', () => null, named(name), `${name} on the server`);
      lxd.expect('refreshCopy', () => undefined, named(name), `refreshCopy(${name})`);
      lxd.expect('listSnapshots', () => [], named(name), `listSnapshots(${name}) on the server`);
    }
    const { code, stdout, stderr } = await cli(['sync', '@web', 'backup:', '--json'], lxd);
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout).instances.map((item: { instance: string; outcome: string }) => [item.instance, item.outcome])).toEqual([['web1', 'synced'], ['web2', 'synced']]);
  });

  it('--all before the server takes it as the remote to list: said, exit 2', async () => {
    const lxd = new FakeLxd();
    const { code, stderr } = await cli(['sync', '--all', 'backup:'], lxd);
    expect(code).toBe(2);
    expect(stderr).toContain('with --all, name the server first: safeupdate sync backup: --all');
  });
});
