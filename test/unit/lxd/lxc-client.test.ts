import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { LxcClient } from '../../../src/lxd/lxc-client.js';
import type { InstanceRef, LxdCall } from '../../../src/lxd/lxd.js';
import { processExists } from '../../support/process.js';

// LxcClient against a stand-in `lxc` (test/fixtures/lxc-stand-in.cjs): it records every call's argv,
// process group and SHELL, and answers from a script, so these tests assert the exact command lines
// the client runs and how it reads the answers, without a daemon.

const fixtures = fileURLToPath(new URL('../../fixtures/', import.meta.url));

interface Answer {
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  delayMs?: number;
  ignoreSigterm?: boolean;
  dieBy?: string;
}

interface Call {
  call: number;
  argv: string[];
  pid: number;
  ppid: number;
  pgid: number;
  parentPgid: number;
  shell: string | null;
}

let dir: string;
/** The stand-in, in a folder whose name has a space: the path must survive script(1)'s -c string. */
let binary: string;
let logFile: string;
let testNumber = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lxc-client-test-'));
  await mkdir(join(dir, 'bin dir'));
  binary = join(dir, 'bin dir', 'lxc');
  // The node running the tests, not whichever `node` PATH finds; and a mode set here, not in git.
  const source = await readFile(join(fixtures, 'lxc-stand-in.cjs'), 'utf8');
  await writeFile(binary, source.replace(/^#!.*/, `#!${process.execPath}`));
  await chmod(binary, 0o755);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  testNumber += 1;
  logFile = join(dir, `calls-${testNumber}.jsonl`);
  process.env.LXC_STAND_IN_LOG = logFile;
  process.env.LXC_STAND_IN_SCRIPT = join(dir, `answers-${testNumber}.json`);
  answer();
});

afterEach(() => {
  delete process.env.LXC_STAND_IN_LOG;
  delete process.env.LXC_STAND_IN_SCRIPT;
});

/** The stand-in's answers to the next calls, in order; a call beyond them fails (exit 99). */
function answer(...answers: Answer[]): void {
  writeFileSync(process.env.LXC_STAND_IN_SCRIPT!, JSON.stringify(answers));
}

function records(): Array<Record<string, unknown>> {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function calls(): Call[] {
  return records().filter((entry) => entry.event === 'call') as unknown as Call[];
}

function argvs(): string[][] {
  return calls().map((call) => call.argv);
}

function finished(call: number): boolean {
  return records().some((entry) => entry.event === 'finished' && entry.call === call);
}

async function waitFor(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the stand-in');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function lxdError(promise: Promise<unknown>): Promise<LxdError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(LxdError);
  return error as LxdError;
}

const json = (value: unknown): Answer => ({ stdout: `${JSON.stringify(value)}\n` });

const local: InstanceRef = { remote: null, name: 'web1', project: null };
/** A remote, and a project that needs URL encoding in API paths and none in flags. */
const remote: InstanceRef = { remote: 'backup', name: 'web1', project: 'qa&x=1 y' };
const encodedProject = 'qa%26x%3D1%20y';

const client = () => new LxcClient({ binary });

describe('LxcClient: reads', () => {
  it('checkReachable queries /1.0 of the default remote, or REMOTE:/1.0', async () => {
    answer(json({ api_version: '1.0' }), json({ api_version: '1.0' }));
    await client().checkReachable(null);
    await client().checkReachable('backup');
    expect(argvs()).toEqual([
      ['query', '/1.0'],
      ['query', 'backup:/1.0'],
    ]);
  });

  it('defaultRemote asks the client for its default remote', async () => {
    answer({ stdout: 'labmain\n' });
    expect(await client().defaultRemote()).toBe('labmain');
    expect(argvs()).toEqual([['remote', 'get-default']]);
  });

  it('resolveRef asks for the default remote and marks the current project of its list', async () => {
    answer(
      { stdout: 'local\n' },
      { stdout: 'default,YES,YES,YES,YES,Default LXD project,12\nteam (current),YES,YES,YES,YES,,3\n' },
    );
    expect(await client().resolveRef(local)).toEqual({ remote: 'local', name: 'web1', project: 'team' });
    expect(argvs()).toEqual([
      ['remote', 'get-default'],
      ['project', 'list', 'local:', '--format', 'csv'],
    ]);
  });

  it('resolveRef lists the projects of an explicit remote, and takes "default" when none is marked', async () => {
    answer({ stdout: 'default,YES,YES,YES,YES,,12\n' });
    expect(await client().resolveRef({ remote: 'backup', name: 'web1', project: null })).toEqual({ remote: 'backup', name: 'web1', project: 'default' });
    expect(argvs()).toEqual([['project', 'list', 'backup:', '--format', 'csv']]);
  });

  it('resolveRef with an explicit project skips the project list', async () => {
    answer({ stdout: 'local\n' });
    expect(await client().resolveRef({ remote: null, name: 'web1', project: 'team' })).toEqual({ remote: 'local', name: 'web1', project: 'team' });
    expect(argvs()).toEqual([['remote', 'get-default']]);
  });

  it('resolveRef with remote and project given runs nothing', async () => {
    expect(await client().resolveRef(remote)).toEqual(remote);
    expect(calls()).toEqual([]);
  });

  it('getInstance reads the instance through the API and maps it', async () => {
    answer(
      json({
        name: 'web1',
        type: 'container',
        status: 'Running',
        ephemeral: false,
        config: { 'boot.autostart': 'true' },
        expanded_devices: { root: { type: 'disk', path: '/', pool: 'default' } },
        location: 'none',
      }),
      json({ name: 'web1', type: 'virtual-machine', status: 'Stopped', ephemeral: true, location: 'm2' }),
    );
    expect(await client().getInstance(local)).toEqual({
      name: 'web1',
      type: 'container',
      status: 'Running',
      ephemeral: false,
      devices: { root: { type: 'disk', path: '/', pool: 'default' } },
      location: null,
    });
    expect(await client().getInstance(remote)).toEqual({ name: 'web1', type: 'virtual-machine', status: 'Stopped', ephemeral: true, devices: {}, location: 'm2' });
    expect(argvs()).toEqual([
      ['query', '/1.0/instances/web1'],
      ['query', `backup:/1.0/instances/web1?project=${encodedProject}`],
    ]);
  });

  it('getInstance is null when LXD says "not found", and throws any other failure', async () => {
    answer({ stderr: 'Error: Instance not found\n', exitCode: 1 }, { stderr: 'Error: Get "http://unix.socket/1.0/instances/web1": dial unix /var/lib/lxd/unix.socket: connect: connection refused\n', exitCode: 1 });
    expect(await client().getInstance(local)).toBeNull();
    expect((await lxdError(client().getInstance(local))).kind).toBe('unreachable');
    expect(argvs()).toHaveLength(2);
  });

  it('listInstances reads one project in one call, with config and member, sorted by name', async () => {
    answer(
      json([
        { name: 'web2', type: 'container', status: 'Running', ephemeral: false, config: { 'user.role': 'web' }, location: 'm2' },
        { name: 'db1', type: 'container', status: 'Stopped', ephemeral: true, location: '' },
      ]),
      json([]),
    );
    expect(await client().listInstances('backup', 'prod')).toEqual([
      { name: 'db1', type: 'container', status: 'Stopped', ephemeral: true, devices: {}, location: null, config: {} },
      { name: 'web2', type: 'container', status: 'Running', ephemeral: false, devices: {}, location: 'm2', config: { 'user.role': 'web' } },
    ]);
    expect(await client().listInstances(null, null)).toEqual([]);
    expect(argvs()).toEqual([
      ['query', 'backup:/1.0/instances?recursion=1&project=prod'],
      ['query', '/1.0/instances?recursion=1'],
    ]);
  });

  it('listSnapshots maps expiry (the never value is null), size, and statefulness', async () => {
    answer(
      json([
        { name: 'safeupdate-1', created_at: '2026-11-01T10:00:00Z', expires_at: '2026-11-15T10:00:00Z', stateful: false, size: 4096 },
        { name: 'manual', created_at: '2026-11-02T10:00:00Z', expires_at: '0001-01-01T00:00:00Z', stateful: true, size: -1 },
        { name: 'old', created_at: '2026-10-01T10:00:00Z', stateful: false },
      ]),
      json([]),
    );
    expect(await client().listSnapshots(local)).toEqual([
      { name: 'safeupdate-1', createdAt: '2026-11-01T10:00:00Z', expiresAt: '2026-11-15T10:00:00Z', stateful: false, sizeBytes: 4096 },
      { name: 'manual', createdAt: '2026-11-02T10:00:00Z', expiresAt: null, stateful: true, sizeBytes: null },
      { name: 'old', createdAt: '2026-10-01T10:00:00Z', expiresAt: null, stateful: false, sizeBytes: null },
    ]);
    expect(await client().listSnapshots(remote)).toEqual([]);
    expect(argvs()).toEqual([
      ['query', '/1.0/instances/web1/snapshots?recursion=1'],
      ['query', `backup:/1.0/instances/web1/snapshots?project=${encodedProject}&recursion=1`],
    ]);
  });

  it('getSpace reads the pool, its resources and the instance state', async () => {
    answer(
      json({ name: 'default', driver: 'dir' }),
      json({ space: { total: 1000, used: 400 } }),
      json({ disk: { root: { usage: 250 } } }),
    );
    expect(await client().getSpace(local, 'default', null)).toEqual({ driver: 'dir', freeBytes: 600, usedByInstanceBytes: 250 });
    expect(argvs()).toEqual([
      ['query', '/1.0/storage-pools/default'],
      ['query', '/1.0/storage-pools/default/resources'],
      ['query', '/1.0/instances/web1/state'],
    ]);
  });

  it('getSpace says null where LXD does not report, and carries remote and project', async () => {
    answer(json({ driver: 'dir' }), json({}), json({ disk: { root: { usage: 0 } } }));
    expect(await client().getSpace(remote, 'my pool', null)).toEqual({ driver: 'dir', freeBytes: null, usedByInstanceBytes: null });
    expect(argvs()).toEqual([
      ['query', `backup:/1.0/storage-pools/my%20pool?project=${encodedProject}`],
      ['query', `backup:/1.0/storage-pools/my%20pool/resources?project=${encodedProject}`],
      ['query', `backup:/1.0/instances/web1/state?project=${encodedProject}`],
    ]);
  });

  it('getSpace on a cluster reads the free space of the member that holds the instance', async () => {
    answer(
      json({ driver: 'dir' }),
      json({ space: { total: 1000, used: 900 } }),
      json({ disk: {} }),
    );
    // The member comes from the instance the run has already read (its location).
    expect(await client().getSpace(remote, 'default', 'm2')).toEqual({ driver: 'dir', freeBytes: 100, usedByInstanceBytes: null });
    expect(argvs()).toEqual([
      ['query', `backup:/1.0/storage-pools/default?project=${encodedProject}`],
      ['query', `backup:/1.0/storage-pools/default/resources?project=${encodedProject}&target=m2`],
      ['query', `backup:/1.0/instances/web1/state?project=${encodedProject}`],
    ]);
  });

  it('getIPv4Addresses keeps global IPv4 addresses, not loopback, IPv6 or link-local', async () => {
    answer(
      json({
        network: {
          lo: { addresses: [{ family: 'inet', address: '127.0.0.1', scope: 'global' }] },
          eth0: {
            addresses: [
              { family: 'inet', address: '10.0.3.5', scope: 'global' },
              { family: 'inet6', address: 'fd42::5', scope: 'global' },
              { family: 'inet', address: '169.254.1.1', scope: 'link' },
            ],
          },
          eth1: { addresses: [{ family: 'inet', address: '192.168.1.9', scope: 'global' }] },
          eth2: {},
        },
      }),
      json({}),
    );
    expect(await client().getIPv4Addresses(local)).toEqual(['10.0.3.5', '192.168.1.9']);
    expect(await client().getIPv4Addresses(remote)).toEqual([]);
    expect(argvs()).toEqual([
      ['query', '/1.0/instances/web1/state'],
      ['query', `backup:/1.0/instances/web1/state?project=${encodedProject}`],
    ]);
  });

  it('getConfig returns the instance config, {} when it has none', async () => {
    answer(json({ name: 'web1', config: { 'snapshots.expiry': '2w' } }), json({ name: 'web1' }));
    expect(await client().getConfig(local)).toEqual({ 'snapshots.expiry': '2w' });
    expect(await client().getConfig(remote)).toEqual({});
    expect(argvs()).toEqual([
      ['query', '/1.0/instances/web1'],
      ['query', `backup:/1.0/instances/web1?project=${encodedProject}`],
    ]);
  });
});

describe('LxcClient: writes', () => {
  it('createSnapshot posts name, stateful false and the expiry through lxc query --wait', async () => {
    answer({}, {});
    await client().createSnapshot(local, 'safeupdate-20261126-042057', new Date('2026-12-10T04:20:57Z'));
    await client().createSnapshot(remote, 'safeupdate-keep', null);
    const [first, second] = argvs();
    expect(first!.slice(0, 5)).toEqual(['query', '--wait', '-X', 'POST', '--data']);
    expect(JSON.parse(first![5]!)).toEqual({ name: 'safeupdate-20261126-042057', stateful: false, expires_at: '2026-12-10T04:20:57.000Z' });
    expect(first!.slice(6)).toEqual(['/1.0/instances/web1/snapshots']);
    expect(first).toHaveLength(7);
    expect(JSON.parse(second![5]!)).toEqual({ name: 'safeupdate-keep', stateful: false, expires_at: '0001-01-01T00:00:00Z' });
    expect(second!.slice(6)).toEqual([`backup:/1.0/instances/web1/snapshots?project=${encodedProject}`]);
  });

  it('restoreSnapshot restores through the API (PUT restore), which LXD and Incus share', async () => {
    answer({}, {});
    await client().restoreSnapshot(local, 'safeupdate-1');
    await client().restoreSnapshot(remote, 'safeupdate-1');
    expect(argvs()).toEqual([
      ['query', '--wait', '-X', 'PUT', '--data', '{"restore":"safeupdate-1"}', '/1.0/instances/web1'],
      ['query', '--wait', '-X', 'PUT', '--data', '{"restore":"safeupdate-1"}', 'backup:/1.0/instances/web1?project=qa%26x%3D1%20y'],
    ]);
  });

  it('deleteSnapshot deletes through the API path that ends in /snapshots/<encoded name>', async () => {
    answer({}, {});
    await client().deleteSnapshot(local, 'safeupdate-1');
    await client().deleteSnapshot(remote, 'snap 1?x#y');
    expect(argvs()).toEqual([
      ['query', '--wait', '-X', 'DELETE', '/1.0/instances/web1/snapshots/safeupdate-1'],
      ['query', '--wait', '-X', 'DELETE', `backup:/1.0/instances/web1/snapshots/snap%201%3Fx%23y?project=${encodedProject}`],
    ]);
  });

  it.each(['', '/', 'a/b', '../web1'])('deleteSnapshot refuses "%s" without running lxc', async (name) => {
    const error = await lxdError(client().deleteSnapshot(local, name));
    expect(error.kind).toBe('failed');
    expect(error.message).toContain('not a snapshot name');
    expect(calls()).toEqual([]);
  });

  it('refreshCopy runs lxc copy --refresh to the same name on the remote', async () => {
    answer({}, {});
    await client().refreshCopy(local, 'labbackup');
    await client().refreshCopy(remote, 'labbackup');
    expect(argvs()).toEqual([
      ['copy', 'web1', 'labbackup:web1', '--refresh'],
      ['copy', 'backup:web1', 'labbackup:web1', '--refresh', '--project', 'qa&x=1 y', '--target-project', 'qa&x=1 y'],
    ]);
  });

  it('copyInstance copies without snapshots, then sets boot.autostart=false on the copy', async () => {
    answer({}, {}, {}, {});
    await client().copyInstance(local, 'web1-failed-20261126');
    await client().copyInstance(remote, 'web1-failed-20261126');
    expect(argvs()).toEqual([
      ['copy', 'web1', 'web1-failed-20261126', '--instance-only'],
      ['config', 'set', 'web1-failed-20261126', 'boot.autostart=false'],
      ['copy', 'backup:web1', 'backup:web1-failed-20261126', '--instance-only', '--project', 'qa&x=1 y'],
      ['config', 'set', 'backup:web1-failed-20261126', 'boot.autostart=false', '--project', 'qa&x=1 y'],
    ]);
  });

  it('copyInstance stops when the copy fails', async () => {
    answer({ stderr: 'Error: Failed creating instance from snapshot: no space left on device\n', exitCode: 1 });
    const error = await lxdError(client().copyInstance(local, 'web1-failed'));
    expect(error.kind).toBe('failed');
    expect(argvs()).toEqual([['copy', 'web1', 'web1-failed', '--instance-only']]);
  });

  it('setConfig sets every key in one call and reads nothing when nothing is unset', async () => {
    answer({});
    await client().setConfig(local, { 'snapshots.schedule': '0 3 * * *', 'snapshots.pattern': 'auto-%d', 'user.note': 'a b=c' });
    expect(argvs()).toEqual([['config', 'set', 'web1', 'snapshots.schedule=0 3 * * *', 'snapshots.pattern=auto-%d', 'user.note=a b=c']]);
  });

  it('setConfig reads the config first and unsets only the keys that are set', async () => {
    answer(json({ name: 'web1', config: { 'snapshots.schedule': '@daily', 'snapshots.expiry': '2w' } }), {}, {});
    await client().setConfig(remote, { 'snapshots.schedule': null, 'snapshots.pattern': null, 'snapshots.expiry': '7d' });
    expect(argvs()).toEqual([
      ['query', `backup:/1.0/instances/web1?project=${encodedProject}`],
      ['config', 'set', 'backup:web1', 'snapshots.expiry=7d', '--project', 'qa&x=1 y'],
      ['config', 'unset', 'backup:web1', 'snapshots.schedule', '--project', 'qa&x=1 y'],
    ]);
  });

  it('setConfig unsetting only keys that are not set makes no change at all', async () => {
    answer(json({ name: 'web1', config: { 'boot.autostart': 'true' } }));
    await client().setConfig(local, { 'snapshots.schedule': null, 'snapshots.pattern': null });
    expect(argvs()).toEqual([['query', '/1.0/instances/web1']]);
  });

  it('stopInstance stops, with --force when asked, and --timeout for a clean stop with a time limit', async () => {
    answer({}, {}, {});
    await client().stopInstance(local, { force: true });
    await client().stopInstance(remote, { force: false });
    await client().stopInstance(local, { force: false, waitMs: 90_200 });
    expect(argvs()).toEqual([
      ['stop', 'web1', '--force'],
      ['stop', 'backup:web1', '--project', 'qa&x=1 y'],
      ['stop', 'web1', '--timeout', '91'],
    ]);
  });

  it('startInstance starts', async () => {
    answer({}, {});
    await client().startInstance(local);
    await client().startInstance(remote);
    expect(argvs()).toEqual([
      ['start', 'web1'],
      ['start', 'backup:web1', '--project', 'qa&x=1 y'],
    ]);
  });

  it('reports every call to onCall with its command and outcome', async () => {
    const seen: LxdCall[] = [];
    answer({}, { stderr: 'Error: boom\n', exitCode: 1 });
    const observed = new LxcClient({ binary, onCall: (call) => seen.push(call) });
    await observed.startInstance(local);
    await observed.startInstance(local).catch(() => {});
    expect(seen.map(({ command, ok }) => ({ command, ok }))).toEqual([
      { command: [binary, 'start', 'web1'], ok: true },
      { command: [binary, 'start', 'web1'], ok: false },
    ]);
    expect(seen.every((call) => call.durationMs >= 0)).toBe(true);
  });
});

describe('LxcClient: errors', () => {
  it.each([
    ['Error: Instance not found', 'not-found', 'Instance not found'],
    ['Error: Failed to load snapshot: Instance snapshot not found', 'not-found', 'Failed to load snapshot: Instance snapshot not found'],
    [
      'Error: Get "http://unix.socket/1.0": dial unix /var/lib/lxd/unix.socket: connect: no such file or directory',
      'unreachable',
      'LXD is not reachable: Get "http://unix.socket/1.0": dial unix /var/lib/lxd/unix.socket: connect: no such file or directory',
    ],
    [
      'Error: Get "https://10.0.0.5:8443/1.0": dial tcp 10.0.0.5:8443: connect: connection refused',
      'unreachable',
      'LXD is not reachable: Get "https://10.0.0.5:8443/1.0": dial tcp 10.0.0.5:8443: connect: connection refused',
    ],
    [
      "Error: The LXD daemon doesn't appear to be started (socket path: /var/snap/lxd/common/lxd/unix.socket)",
      'unreachable',
      "LXD is not reachable: The LXD daemon doesn't appear to be started (socket path: /var/snap/lxd/common/lxd/unix.socket)",
    ],
    ['Error: Failed to create parent snapshot directory', 'failed', 'Failed to create parent snapshot directory'],
    ['Error: The instance is already running', 'failed', 'The instance is already running'],
  ] as const)('stderr %j is kind %s', async (stderr, kind, message) => {
    answer({ stderr: `${stderr}\n`, exitCode: 1 });
    const error = await lxdError(client().startInstance(local));
    expect(error.kind).toBe(kind);
    expect(error.message).toBe(message);
    expect(error.command).toEqual([binary, 'start', 'web1']);
  });

  it('a failure without stderr names the command', async () => {
    answer({ exitCode: 2 });
    const error = await lxdError(client().stopInstance(local, { force: true }));
    expect(error.kind).toBe('failed');
    expect(error.message).toBe(`${binary} stop web1 --force failed`);
  });

  it('a client that is not installed is "unreachable"', async () => {
    const missing = new LxcClient({ binary: join(dir, 'no-such-lxc') });
    const error = await lxdError(missing.checkReachable(null));
    expect(error.kind).toBe('unreachable');
    expect(error.message).toContain('not installed');
    expect((await lxdError(missing.exec(local, ['true']))).kind).toBe('unreachable');
  });
});

describe('LxcClient: time limits', () => {
  it('a call that outlasts callTimeoutMs throws a timeout at once: the client is killed with SIGKILL', async () => {
    // The stand-in ignores SIGTERM: a gentler kill would leave it running until execa's
    // forceKillAfterDelay (5 s), and this call would take 1.5 + 5 s. 1.5 s leaves the stand-in time
    // to start (and record its pid) on a loaded machine.
    answer({ delayMs: 30_000, ignoreSigterm: true });
    const started = Date.now();
    const error = await lxdError(new LxcClient({ binary, callTimeoutMs: 1500 }).checkReachable(null));
    expect(Date.now() - started).toBeLessThan(4500);
    expect(error.kind).toBe('timeout');
    expect(error.message).toBe(`LXD did not answer within 2s (${binary} query /1.0)`);
    expect(error.command).toEqual([binary, 'query', '/1.0']);
    expect(calls()).toHaveLength(1);
    expect(processExists(calls()[0]!.pid)).toBe(false);
    expect(finished(0)).toBe(false);
  }, 15_000);

  const quick = new Map<string, (client: LxcClient) => Promise<unknown>>([
    ['checkReachable', (c) => c.checkReachable(null)],
    ['getInstance', (c) => c.getInstance(local)],
    ['listSnapshots', (c) => c.listSnapshots(local)],
    ['getConfig', (c) => c.getConfig(local)],
    ['setConfig', (c) => c.setConfig(local, { 'user.a': 'b' })],
    ['stopInstance', (c) => c.stopInstance(local, { force: true })],
    ['startInstance', (c) => c.startInstance(local)],
    ['resolveRef', (c) => c.resolveRef(local)],
  ]);
  it.each([...quick.keys()])('%s is bounded by callTimeoutMs', async (method) => {
    answer({ delayMs: 30_000 });
    const error = await lxdError(quick.get(method)!(new LxcClient({ binary, callTimeoutMs: 400, storageTimeoutMs: 60_000 })));
    expect(error.kind).toBe('timeout');
  });

  const storage = new Map<string, (client: LxcClient) => Promise<unknown>>([
    ['createSnapshot', (c) => c.createSnapshot(local, 'safeupdate-1', null)],
    ['restoreSnapshot', (c) => c.restoreSnapshot(local, 'safeupdate-1')],
    ['deleteSnapshot', (c) => c.deleteSnapshot(local, 'safeupdate-1')],
    ['refreshCopy', (c) => c.refreshCopy(local, 'backup')],
    ['copyInstance', (c) => c.copyInstance(local, 'web1-failed')],
  ]);
  it.each([...storage.keys()])('%s is bounded by storageTimeoutMs, not callTimeoutMs', async (method) => {
    answer({ delayMs: 30_000 });
    const error = await lxdError(storage.get(method)!(new LxcClient({ binary, callTimeoutMs: 60_000, storageTimeoutMs: 400 })));
    expect(error.kind).toBe('timeout');
  });

  it('a restore that outlasts callTimeoutMs completes within storageTimeoutMs', async () => {
    answer({ delayMs: 1200 });
    await new LxcClient({ binary, callTimeoutMs: 300, storageTimeoutMs: 60_000 }).restoreSnapshot(local, 'safeupdate-1');
    expect(finished(0)).toBe(true);
  });
});

describe('LxcClient: exec', () => {
  const words = ['sh', '-c', 'echo "$HOME" \'quoted\' *; exit 3', 'a b', "it's", '$HOME', '*', '-n', '--', '', 'x"y', 'back\\slash', 'two\nlines'];

  it('non-interactive: -T -n, --env pairs, then -- and the argv unchanged', async () => {
    answer({ stdout: 'line 1\nline 2\n', stderr: 'warning\n' });
    const result = await client().exec(remote, words, { env: { DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8' } });
    expect(argvs()).toEqual([
      ['exec', 'backup:web1', '--project', 'qa&x=1 y', '--env', 'DEBIAN_FRONTEND=noninteractive', '--env', 'LANG=C.UTF-8', '-T', '-n', '--', ...words],
    ]);
    expect(result).toEqual({ exitCode: 0, signal: null, timedOut: false, canceled: false, stdout: 'line 1\nline 2', stderr: 'warning' });
  });

  it.each([1, 3, 100, 127])('passes exit code %i through as a result, not an error', async (exitCode) => {
    answer({ exitCode, stderr: 'E: something\n' });
    const result = await client().exec(local, ['apt-get', 'upgrade', '-y']);
    expect(result).toMatchObject({ exitCode, timedOut: false, canceled: false, stderr: 'E: something' });
    expect(argvs()).toEqual([['exec', 'web1', '-T', '-n', '--', 'apt-get', 'upgrade', '-y']]);
  });

  it('onOutput receives stdout and stderr as they come', async () => {
    answer({ stdout: 'to stdout\n', stderr: 'to stderr\n' });
    const chunks: string[] = [];
    await client().exec(local, ['true'], { onOutput: (chunk) => chunks.push(chunk) });
    expect(chunks.join('')).toContain('to stdout\n');
    expect(chunks.join('')).toContain('to stderr\n');
  });

  it('a timeout kills the client with SIGKILL: timedOut, and no exit code', async () => {
    answer({ delayMs: 30_000, ignoreSigterm: true });
    const started = Date.now();
    const result = await client().exec(local, ['sleep', '100'], { timeoutMs: 1500 });
    expect(Date.now() - started).toBeLessThan(4500);
    expect(result).toMatchObject({ exitCode: null, signal: 'SIGKILL', timedOut: true, canceled: false });
    expect(calls()).toHaveLength(1);
    expect(processExists(calls()[0]!.pid)).toBe(false);
    expect(finished(0)).toBe(false);
  }, 15_000);

  it('aborting the signal kills the client with SIGKILL: canceled, and no exit code', async () => {
    answer({ delayMs: 30_000, ignoreSigterm: true });
    const controller = new AbortController();
    const running = client().exec(local, ['sleep', '100'], { signal: controller.signal });
    // Once it has started, so that its SIGTERM handler is in place.
    await waitFor(() => calls().length === 1);
    const started = Date.now();
    controller.abort();
    const result = await running;
    expect(Date.now() - started).toBeLessThan(4500);
    expect(result).toMatchObject({ exitCode: null, signal: 'SIGKILL', timedOut: false, canceled: true });
    expect(processExists(calls()[0]!.pid)).toBe(false);
  }, 25_000);

  it('interactive without a transcript: -t, and the client stays in the terminal\'s process group', async () => {
    answer({ exitCode: 5 });
    const result = await client().exec(local, ['apt-get', 'upgrade'], { interactive: true, env: { A: '1' } });
    expect(result.exitCode).toBe(5);
    const [call] = calls();
    expect(call!.argv).toEqual(['exec', 'web1', '--env', 'A=1', '-t', '--', 'apt-get', 'upgrade']);
    // By design: the command owns the terminal, and the operator's Ctrl+C is for it.
    expect(call!.ppid).toBe(process.pid);
    expect(call!.pgid).toBe(call!.parentPgid);
  });

  describe('interactive with a transcript (through script(1))', () => {
    let savedShell: string | undefined;
    beforeEach(() => {
      savedShell = process.env.SHELL;
      // script(1) runs its -c string with $SHELL: a shell that is not POSIX sh (or not a shell at all)
      // must not see it. /bin/false would make script exit 1 without running anything.
      process.env.SHELL = '/bin/false';
    });
    afterEach(() => {
      if (savedShell === undefined) delete process.env.SHELL;
      else process.env.SHELL = savedShell;
    });

    it('every word reaches the client intact, run by /bin/sh whatever $SHELL is, and the transcript keeps the output', async () => {
      answer({ stdout: 'output for the transcript\n', exitCode: 7 });
      const transcript = join(dir, `transcript-${testNumber}.log`);
      const result = await client().exec(remote, words, { interactive: true, transcript, env: { TERM_NOTE: "it's $HOME" } });
      expect(argvs()).toEqual([['exec', 'backup:web1', '--project', 'qa&x=1 y', '--env', "TERM_NOTE=it's $HOME", '-t', '--', ...words]]);
      expect(calls()[0]!.shell).toBe('/bin/sh');
      expect(result.exitCode).toBe(7);
      expect(await readFile(transcript, 'utf8')).toContain('output for the transcript');
    });
  });
});

describe('LxcClient: process groups', () => {
  const own = new Map<string, [Answer, (client: LxcClient) => Promise<unknown>]>([
    ['checkReachable', [json({}), (c) => c.checkReachable(null)]],
    ['resolveRef', [{ stdout: 'local\n' }, (c) => c.resolveRef({ remote: null, name: 'web1', project: 'p' })]],
    ['getInstance', [json({ name: 'web1' }), (c) => c.getInstance(local)]],
    ['stopInstance', [{}, (c) => c.stopInstance(local, { force: true })]],
    ['restoreSnapshot', [{}, (c) => c.restoreSnapshot(local, 'safeupdate-1')]],
    ['startInstance', [{}, (c) => c.startInstance(local)]],
    ['createSnapshot', [{}, (c) => c.createSnapshot(local, 'safeupdate-1', null)]],
    ['deleteSnapshot', [{}, (c) => c.deleteSnapshot(local, 'safeupdate-1')]],
    ['exec (non-interactive)', [{}, (c) => c.exec(local, ['true'])]],
  ]);
  it.each([...own.keys()])('%s runs the client in its own process group', async (method) => {
    const [reply, call] = own.get(method)!;
    answer(reply);
    await call(client());
    const [recorded] = calls();
    // The parent is this test process, and the client leads a group of its own.
    expect(recorded!.ppid).toBe(process.pid);
    expect(recorded!.pgid).toBe(recorded!.pid);
    expect(recorded!.pgid).not.toBe(recorded!.parentPgid);
  });

  const RESTORE_SAFEUPDATE_1 = ['query', '--wait', '-X', 'PUT', '--data', '{"restore":"safeupdate-1"}', '/1.0/instances/web1'];

  it('a Ctrl+C at the terminal (SIGINT to the process group) does not reach an lxc restore half-way', async () => {
    answer({ delayMs: 3000 });
    // A Node child in its own group plays safeupdate at a terminal: it runs restoreSnapshot and
    // ignores SIGINT itself. The SIGINT goes to its whole group, as the terminal would send it.
    const child = spawn(process.execPath, ['--import', join(fixtures, 'ts-register.mjs'), join(fixtures, 'restore-ignoring-sigint.mjs'), binary], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => calls().length === 1 || child.exitCode !== null, 20_000);
      expect(stderr).toBe('');
      expect(argvs()).toEqual([RESTORE_SAFEUPDATE_1]);
      expect(finished(0)).toBe(false);
      process.kill(-child.pid!, 'SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
    expect(JSON.parse(stdout)).toEqual({ ok: true, sigints: 1 });
    expect(finished(0)).toBe(true);
  }, 30_000);
});

describe('LxcClient: a terminal signal caught in the fork window', () => {
  it('a client killed by SIGINT before it could detach never reached LXD: it is run once more', async () => {
    answer({ dieBy: 'SIGINT' }, { stdout: '{}' });
    const client = new LxcClient({ binary });
    await client.restoreSnapshot({ remote: null, name: 'web1', project: null }, 'snap0');
    const restore = ['query', '--wait', '-X', 'PUT', '--data', '{"restore":"snap0"}', '/1.0/instances/web1'];
    expect(argvs()).toEqual([restore, restore]);
  });

  it('only once: a second death is a failure', async () => {
    answer({ dieBy: 'SIGINT' }, { dieBy: 'SIGINT' });
    const client = new LxcClient({ binary });
    await expect(client.startInstance({ remote: null, name: 'web1', project: null })).rejects.toThrow('lxc start web1 failed');
    expect(argvs()).toHaveLength(2);
  });

  it('a signal a terminal does not send is not retried', async () => {
    answer({ dieBy: 'SIGUSR2' });
    const client = new LxcClient({ binary });
    await expect(client.startInstance({ remote: null, name: 'web1', project: null })).rejects.toThrow('failed');
    expect(argvs()).toHaveLength(1);
  });
});

