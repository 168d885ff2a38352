import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LxdError, UsageError } from '../../../src/errors.js';
import { chooseClient, commandLine, dialectOf, INCUS, LXC, type Dialect } from '../../../src/lxd/dialect.js';
import { LxcClient } from '../../../src/lxd/lxc-client.js';
import type { InstanceRef } from '../../../src/lxd/lxd.js';
import { useClientStandIns } from '../../support/lxc-stand-in.js';

// One access layer for both clients: LxcClient runs the dialect's client by its name on PATH, and
// speaks to it in the words both share (the REST API through `query` where their commands differ).
// The stand-in is installed as `incus` and, beside it, as `lxc`.

const standIn = useClientStandIns('dialect');
const { answer, calls, argvs } = standIn;

const local: InstanceRef = { remote: null, name: 'web1', project: null };
const remote: InstanceRef = { remote: 'backup', name: 'web1', project: 'prod' };

describe.each([LXC, INCUS])('LxcClient speaking $client', (dialect: Dialect) => {
  const client = () => new LxcClient({ dialect });

  it(`runs ${dialect.client} from PATH, with the same arguments for every write`, async () => {
    answer(...Array.from({ length: 11 }, () => ({})));
    const lxd = client();
    await lxd.createSnapshot(remote, 'safeupdate-1', null);
    await lxd.restoreSnapshot(remote, 'safeupdate-1');
    await lxd.deleteSnapshot(remote, 'safeupdate-1');
    await lxd.stopInstance(remote, { force: true });
    await lxd.startInstance(remote);
    await lxd.setConfig(remote, { 'boot.autostart': 'false' });
    await lxd.refreshCopy(local, 'backup');
    await lxd.copyInstance(local, 'web1-failed');
    await lxd.addDevice(local, 'safeupdate-lxd', { type: 'proxy', listen: 'tcp:127.0.0.1:1' });
    await lxd.removeDevice(local, 'safeupdate-lxd');
    expect(calls().map((call) => call.client)).toEqual(Array(11).fill(dialect.client));
    expect(argvs()).toEqual([
      ['query', '--wait', '-X', 'POST', '--data', '{"name":"safeupdate-1","stateful":false,"expires_at":"0001-01-01T00:00:00Z"}', 'backup:/1.0/instances/web1/snapshots?project=prod'],
      ['query', '--wait', '-X', 'PUT', '--data', '{"restore":"safeupdate-1"}', 'backup:/1.0/instances/web1?project=prod'],
      ['query', '--wait', '-X', 'DELETE', 'backup:/1.0/instances/web1/snapshots/safeupdate-1?project=prod'],
      ['stop', 'backup:web1', '--project', 'prod', '--force'],
      ['start', 'backup:web1', '--project', 'prod'],
      ['config', 'set', 'backup:web1', 'boot.autostart=false', '--project', 'prod'],
      ['copy', 'web1', 'backup:web1', '--refresh'],
      ['copy', 'web1', 'web1-failed', '--instance-only'],
      ['config', 'set', 'web1-failed', 'boot.autostart=false'],
      ['config', 'device', 'add', 'web1', 'safeupdate-lxd', 'proxy', 'listen=tcp:127.0.0.1:1'],
      ['config', 'device', 'remove', 'web1', 'safeupdate-lxd'],
    ]);
    // Eleven real processes: on a loaded two-core machine that can take longer than the default 5 s.
  }, 30_000);

  it('checkReachable reads the server and its API extensions in one GET /1.0', async () => {
    answer({ stdout: JSON.stringify({ api_extensions: ['instances', 'snapshot_expiry_creation'], environment: { server: dialect.client === 'lxc' ? 'lxd' : 'incus', server_version: '6.0.4' } }) });
    expect(await client().checkReachable(null)).toEqual({
      server: dialect.client === 'lxc' ? 'lxd' : 'incus', version: '6.0.4', extensions: ['instances', 'snapshot_expiry_creation'],
    });
    expect(argvs()).toEqual([['query', '/1.0']]);
  });

  it('an answer without extensions or environment is a server without extensions', async () => {
    answer({ stdout: '{}' });
    expect(await client().checkReachable('backup')).toEqual({ server: null, version: null, extensions: [] });
  });

  it(`a daemon that is not running: unreachable, named ${dialect.server}`, async () => {
    answer({ stderr: `Error: The ${dialect.client === 'lxc' ? 'LXD' : 'incus'} daemon doesn't appear to be started (socket path: /x/unix.socket)\n`, exitCode: 1 });
    const error = await client().checkReachable(null).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LxdError);
    expect(error).toMatchObject({ kind: 'unreachable' });
    expect((error as Error).message).toMatch(new RegExp(`^${dialect.server} is not reachable: The `));
  });
});

describe('Incus answers', () => {
  it('removeFile of a file that is not there ("file does not exist") is no error', async () => {
    answer({ stderr: 'Error: file does not exist\n', exitCode: 1 });
    await expect(new LxcClient({ dialect: INCUS }).removeFile(local, '/etc/safeupdate/hook.conf')).resolves.toBeUndefined();
    expect(argvs()).toEqual([['file', 'delete', 'web1/etc/safeupdate/hook.conf']]);
  });

  it('a missing snapshot ("Snapshot … does not exist") is not-found', async () => {
    answer({ stderr: 'Error: Snapshot web1/nope does not exist\n', exitCode: 1 });
    const error = await new LxcClient({ dialect: INCUS }).restoreSnapshot(local, 'nope').catch((caught: unknown) => caught);
    expect(error).toMatchObject({ kind: 'not-found', message: 'Snapshot web1/nope does not exist' });
  });

  it('an unknown remote is unreachable, not missing, and the message says where incus looks for remotes', async () => {
    answer({ stderr: 'Error: The remote "nope" doesn\'t exist\n', exitCode: 1 });
    await expect(new LxcClient({ dialect: INCUS }).checkReachable('nope')).rejects.toMatchObject({
      kind: 'unreachable',
      message: 'Incus is not reachable: The remote "nope" doesn\'t exist (incus reads its remotes from $INCUS_CONF, else ~/.config/incus)',
    });
  });
});

describe('commands printed for a human, in the client in use', () => {
  it.each([
    [LXC, 'lxc restore web1 snap'],
    [INCUS, 'incus snapshot restore web1 snap'],
  ])('%#: restore a snapshot', (dialect, restore) => {
    expect(commandLine(dialect, dialect.restore('web1', 'snap'))).toBe(restore);
  });

  it('names the configuration folder each client reads', () => {
    expect([LXC.configEnv, LXC.configDir, INCUS.configEnv, INCUS.configDir]).toEqual(['LXD_CONF', '~/.config/lxc', 'INCUS_CONF', '~/.config/incus']);
  });

  it('a report without a client (older than Incus support) was lxc\'s', () => {
    expect(dialectOf(undefined)).toBe(LXC);
    expect(dialectOf('incus')).toBe(INCUS);
  });
});

describe('which client', () => {
  const both = () => true;
  const only = (name: string) => (binary: string) => binary === name;

  it('--client decides, over SAFEUPDATE_CLIENT and what is installed', () => {
    expect(chooseClient('incus', { SAFEUPDATE_CLIENT: 'lxc' }, only('lxc'))).toBe(INCUS);
    expect(chooseClient('lxc', { SAFEUPDATE_CLIENT: 'incus' }, only('incus'))).toBe(LXC);
  });

  it('else SAFEUPDATE_CLIENT, also for a client that is not installed (its absence is then the error)', () => {
    expect(chooseClient(undefined, { SAFEUPDATE_CLIENT: 'incus' }, only('lxc'))).toBe(INCUS);
    expect(chooseClient(undefined, { SAFEUPDATE_CLIENT: 'lxc' }, both)).toBe(LXC);
  });

  it('else lxc when it is installed, incus when only that is, lxc when neither is', () => {
    expect(chooseClient(undefined, {}, both)).toBe(LXC);
    expect(chooseClient(undefined, { SAFEUPDATE_CLIENT: '' }, only('incus'))).toBe(INCUS);
    expect(chooseClient(undefined, {}, only('lxc'))).toBe(LXC);
    expect(chooseClient(undefined, {}, () => false)).toBe(LXC);
  });

  it('any other name is bad input, naming where it came from', () => {
    expect(() => chooseClient('lxd', {}, both)).toThrow(new UsageError('--client "lxd": must be lxc or incus'));
    expect(() => chooseClient(undefined, { SAFEUPDATE_CLIENT: 'LXC' }, both)).toThrow(new UsageError('SAFEUPDATE_CLIENT "LXC": must be lxc or incus'));
  });

  it('looks on PATH for an executable of that name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safeupdate-path-'));
    try {
      await writeFile(join(dir, 'incus'), '#!/bin/sh\n', { mode: 0o755 });
      // Not executable: not installed.
      await writeFile(join(dir, 'lxc'), '#!/bin/sh\n', { mode: 0o644 });
      expect(chooseClient(undefined, { PATH: `${join(dir, 'missing')}${delimiter}${delimiter}${dir}` })).toBe(INCUS);
      expect(chooseClient(undefined, { PATH: join(dir, 'missing') })).toBe(LXC);
      await chmod(join(dir, 'lxc'), 0o755);
      expect(chooseClient(undefined, { PATH: dir })).toBe(LXC);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
