import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { parseClientConfig } from '../../../src/lxd/client-config.js';
import { INCUS, LXC } from '../../../src/lxd/dialect.js';
import { LxcClient } from '../../../src/lxd/lxc-client.js';
import type { LxdCall } from '../../../src/lxd/lxd.js';
import { RestApi } from '../../../src/lxd/rest.js';
import { async_, error, issuedBy, on, operation, RestStandIn, selfSigned, sync, type OperationStatus } from '../../support/rest-stand-in.js';

// The access layer speaking the REST API directly, against a stand-in server: over a unix socket
// (the local daemon) and over HTTPS with the client's certificate and a pinned server certificate.
// The client binary given does not exist: a call that fell back to it would fail "not installed".

let dir: string;
const unix = new RestStandIn();
const calls: LxdCall[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rest-test-'));
  await unix.listenUnix(join(dir, 'unix.socket'));
});
afterAll(async () => {
  await unix.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  calls.length = 0;
});

function localApi(options: { timeoutMs?: number; dialect?: typeof LXC } = {}) {
  const dialect = options.dialect ?? LXC;
  const config = parseClientConfig(dialect, dir, { remotes: { local: { project: 'qa' } } }, {});
  const api = new RestApi({ dialect, config, env: { [dialect.daemonDirEnv]: dir }, onCall: (call) => calls.push(call) });
  return new LxcClient({ dialect, binary: join(dir, 'no-such-client'), api: async () => api, ...(options.timeoutMs ? { callTimeoutMs: options.timeoutMs } : {}) });
}

const web1 = { remote: null, name: 'web1', project: 'qa' };
const OP = '/1.0/operations/0c1e';

describe('over the local unix socket', () => {
  it('reads: the remote and project come from the client config, a GET is one request', async () => {
    unix.script(on('GET', '/1.0/instances/web1?project=qa', sync({ name: 'web1', type: 'container', status: 'Running', ephemeral: false, location: 'none', expanded_devices: { root: { type: 'disk', pool: 'default', path: '/' } } })));
    const client = localApi();
    expect(await client.resolveRef({ remote: null, name: 'web1', project: null })).toEqual({ remote: 'local', name: 'web1', project: 'qa' });
    expect(await client.defaultRemote()).toBe('local');
    expect(await client.getInstance(web1)).toEqual({ name: 'web1', type: 'container', status: 'Running', ephemeral: false, location: null, devices: { root: { type: 'disk', pool: 'default', path: '/' } } });
    expect(unix.received.map((request) => `${request.method} ${request.url}`)).toEqual(['GET /1.0/instances/web1?project=qa']);
    expect(calls).toEqual([{ command: ['local:', 'GET', '/1.0/instances/web1?project=qa'], durationMs: expect.any(Number), ok: true, process: false }]);
  });

  it('a missing instance is null (404), as with the client', async () => {
    unix.script(on('GET', '/1.0/instances/web1?project=qa', error(404, 'Instance not found')));
    expect(await localApi().getInstance(web1)).toBeNull();
    expect(calls[0]).toMatchObject({ ok: false, process: false });
  });

  it('a snapshot is one POST, then its operation is waited on in the same project', async () => {
    unix.script(on('POST', '/1.0/instances/web1/snapshots?project=qa', async_(OP)), on('GET', `${OP}/wait?timeout=-1&project=qa`, operation('Success')));
    await localApi().createSnapshot(web1, 'safeupdate-1', new Date('2026-12-01T00:00:00Z'));
    expect(unix.received.map((request) => [request.method, request.url, request.body])).toEqual([
      ['POST', '/1.0/instances/web1/snapshots?project=qa', { name: 'safeupdate-1', stateful: false, expires_at: '2026-12-01T00:00:00.000Z' }],
      ['GET', `${OP}/wait?timeout=-1&project=qa`, undefined],
    ]);
  });

  it('an operation said to be still running is waited on again', async () => {
    unix.script(on('PUT', '/1.0/instances/web1?project=qa', async_(OP)), on('GET', `${OP}/wait?timeout=-1&project=qa`, operation('Running'), 2), on('GET', `${OP}/wait?timeout=-1&project=qa`, operation('Success')));
    await localApi().restoreSnapshot(web1, 'safeupdate-1');
    expect(unix.received.map((request) => request.method)).toEqual(['PUT', 'GET', 'GET', 'GET']);
    expect(unix.received[0]!.body).toEqual({ restore: 'safeupdate-1' });
  });

  it("a failed operation throws the operation's error", async () => {
    unix.script(on('PUT', '/1.0/instances/web1/state?project=qa', async_(OP)), on('GET', `${OP}/wait?*`, operation('Failure', 'Failed to start: boom')));
    const failure = await localApi().startInstance(web1).catch((caught: unknown) => caught);
    expect(failure).toBeInstanceOf(LxdError);
    expect(failure).toMatchObject({ kind: 'failed', message: 'Failed to start: boom' });
    expect(unix.received[0]!.body).toEqual({ action: 'start', timeout: -1 });
  });

  // Every status an operation's wait can answer. A restore that LXD cancelled must be an error at
  // once, not waited on until its deadline and then reported as a timeout.
  describe('every status of an operation', () => {
    const restore = (timeoutMs = 5_000) =>
      new LxcClient({ binary: join(dir, 'no-such-client'), storageTimeoutMs: timeoutMs, api: async () => new RestApi({ dialect: LXC, config: parseClientConfig(LXC, dir, { remotes: { local: { project: 'qa' } } }, {}), env: { LXD_DIR: dir }, onCall: () => {} }) })
        .restoreSnapshot(web1, 'safeupdate-1');

    it.each<[OperationStatus, string]>([
      ['Failure', 'Failed to restore: no space left on device'],
      ['Cancelled', 'Operation cancelled by request'],
      ['Cancelled', ''],
    ])('%s ends the call at once with an error of kind failed (err %j)', async (status, err) => {
      unix.script(on('PUT', '/1.0/instances/web1?project=qa', async_(OP)), on('GET', `${OP}/wait?timeout=-1&project=qa`, operation(status, err)));
      const failure = await restore().catch((caught: unknown) => caught);
      expect(failure).toBeInstanceOf(LxdError);
      expect(failure).toMatchObject({ kind: 'failed', message: err || `PUT /1.0/instances/web1?project=qa: operation ${status.toLowerCase()}` });
      // One wait: the end of the operation was read once, not waited out.
      expect(unix.received.map((request) => request.method)).toEqual(['PUT', 'GET']);
    });

    it('Success ends the call with its result', async () => {
      unix.script(on('PUT', '/1.0/instances/web1?project=qa', async_(OP)), on('GET', `${OP}/wait?timeout=-1&project=qa`, operation('Success')));
      await expect(restore()).resolves.toBeUndefined();
      expect(unix.received.map((request) => request.method)).toEqual(['PUT', 'GET']);
    });

    it.each<OperationStatus>(['Pending', 'Running', 'Cancelling'])('%s is not an end: the operation is waited on again', async (status) => {
      unix.script(on('PUT', '/1.0/instances/web1?project=qa', async_(OP)), on('GET', `${OP}/wait?timeout=-1&project=qa`, operation(status), 1), on('GET', `${OP}/wait?timeout=-1&project=qa`, operation('Success')));
      await expect(restore()).resolves.toBeUndefined();
      expect(unix.received.map((request) => request.method)).toEqual(['PUT', 'GET', 'GET']);
    });

    it('Cancelling and then Cancelled: an error, not a timeout', async () => {
      unix.script(on('PUT', '/1.0/instances/web1?project=qa', async_(OP)), on('GET', `${OP}/wait?timeout=-1&project=qa`, operation('Cancelling'), 1), on('GET', `${OP}/wait?timeout=-1&project=qa`, operation('Cancelled')));
      await expect(restore(60_000)).rejects.toMatchObject({ kind: 'failed', message: 'PUT /1.0/instances/web1?project=qa: operation cancelled' });
    });
  });

  it('an operation URL that carries its project (a cluster member forwarding the request) is waited on, not read', async () => {
    unix.script(on('POST', '/1.0/instances/web1/snapshots?project=qa', async_(`${OP}?project=qa`)), on('GET', `${OP}/wait?timeout=-1&project=qa`, operation('Success')));
    await localApi().createSnapshot(web1, 'safeupdate-1', null);
    expect(unix.received.map((request) => request.url)).toEqual(['/1.0/instances/web1/snapshots?project=qa', `${OP}/wait?timeout=-1&project=qa`]);
  });

  it('a request without a project waits on its operation without one (never "project=null")', async () => {
    unix.script(on('PUT', '/1.0/instances/web1/state', async_(OP)), on('GET', `${OP}/wait?timeout=-1`, operation('Success')));
    await localApi().startInstance({ remote: null, name: 'web1', project: null });
    expect(unix.received.map((request) => request.url)).toEqual(['/1.0/instances/web1/state', `${OP}/wait?timeout=-1`]);
  });

  it('stop says force as asked', async () => {
    unix.script(on('PUT', '/1.0/instances/web1/state?project=qa', async_(OP)), on('GET', `${OP}/wait?*`, operation('Success')));
    await localApi().stopInstance(web1, { force: true });
    await localApi().stopInstance(web1, { force: false });
    await localApi().stopInstance(web1, { force: false, waitMs: 90_200 });
    expect(unix.received.filter((request) => request.method === 'PUT').map((request) => request.body)).toEqual([
      { action: 'stop', force: true, timeout: -1 },
      { action: 'stop', force: false, timeout: -1 },
      // A clean stop with a time limit: LXD gives up after whole seconds, rounded up.
      { action: 'stop', force: false, timeout: 91 },
    ]);
  });

  it('a 404 is not-found whatever its words; an error envelope is an error whatever its HTTP status', async () => {
    unix.script(on('GET', '/1.0/instances/web1?project=qa', error(404, 'No such object')), on('GET', '/1.0', { status: 200, body: { type: 'error', error: 'odd', error_code: 500 } }));
    expect(await localApi().getInstance(web1)).toBeNull();
    await expect(localApi().checkReachable(null)).rejects.toMatchObject({ kind: 'failed', message: 'odd', httpStatus: 500 });
  });

  it('a remote the config does not name has the default project', async () => {
    const api = new RestApi({ dialect: LXC, config: parseClientConfig(LXC, dir, {}, {}), env: {}, onCall: () => {} });
    expect(api.currentProject('nosuch')).toBe('default');
    expect(api.serves('nosuch')).toBe(false);
  });

  it("the daemon's refusal is kind failed, with the daemon's words", async () => {
    unix.script(on('PUT', '/1.0/instances/web1/state?project=qa', error(400, 'The instance is already running')));
    await expect(localApi().startInstance(web1)).rejects.toMatchObject({ kind: 'failed', message: 'The instance is already running', httpStatus: 400 });
  });

  it('an answer that is not JSON is a failure that says so', async () => {
    unix.script(on('GET', '/1.0', 'not-json'));
    await expect(localApi().checkReachable(null)).rejects.toMatchObject({ kind: 'failed', message: 'LXD answered GET /1.0 with HTTP 502 and no JSON' });
  });

  it('a daemon that never answers is a timeout at the call bound, not a hang', async () => {
    unix.script(on('GET', '/1.0', 'hang'));
    const started = Date.now();
    await expect(localApi({ timeoutMs: 300 }).checkReachable(null)).rejects.toMatchObject({ kind: 'timeout', message: 'LXD did not answer within 0s (local: GET /1.0)' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('an operation that outlasts the bound is a timeout', async () => {
    // The wait has no server-side timeout (newer LXD answers one that runs out with an error while
    // the operation goes on): the call's own deadline ends it.
    unix.script(on('DELETE', '/1.0/instances/web1/snapshots/s1?project=qa', async_(OP)), on('GET', `${OP}/wait?timeout=-1&project=qa`, 'hang'));
    const client = new LxcClient({ binary: join(dir, 'no-such-client'), storageTimeoutMs: 1_500, api: async () => new RestApi({ dialect: LXC, config: parseClientConfig(LXC, dir, { remotes: { local: { project: 'qa' } } }, {}), env: { LXD_DIR: dir }, onCall: () => {} }) });
    await expect(client.deleteSnapshot(web1, 's1')).rejects.toMatchObject({ kind: 'timeout' });
  });

  it('a socket nobody listens on is unreachable, and says where it looked; no socket at all is left to the client', async () => {
    await mkdir(join(dir, 'stale'), { recursive: true });
    await writeFile(join(dir, 'stale', 'unix.socket'), '');
    const config = parseClientConfig(LXC, dir, {}, {});
    const client = (lxdDir: string) => new LxcClient({ binary: join(dir, 'no-such-client'), api: async () => new RestApi({ dialect: LXC, config, env: { LXD_DIR: lxdDir }, onCall: () => {} }) });
    await expect(client(join(dir, 'stale')).checkReachable(null)).rejects.toMatchObject({ kind: 'unreachable', message: expect.stringContaining(`(local: at socket ${join(dir, 'stale', 'unix.socket')})`) });
    await expect(client(join(dir, 'gone')).checkReachable(null)).rejects.toMatchObject({ kind: 'unreachable', message: expect.stringContaining('not installed') });
  });

  it('setConfig writes back what it read with If-Match (description, devices and profiles kept, unset keys removed), and reads again after a lost race (412)', async () => {
    const instance = (config: Record<string, string>) => ({ name: 'web1', architecture: 'x86_64', config, devices: { eth0: { type: 'none' } }, ephemeral: false, profiles: ['default'], stateful: false, description: 'd', status: 'Running' });
    unix.script(
      on('GET', '/1.0/instances/web1?project=qa', sync(instance({ a: '1', gone: 'x' }), '"e1"'), 1),
      on('GET', '/1.0/instances/web1?project=qa', sync(instance({ a: '2', gone: 'x' }), '"e2"')),
      (request) => (request.method === 'PUT' && request.headers['if-match'] === '"e1"' ? error(412, "ETag doesn't match") : undefined),
      on('PUT', '/1.0/instances/web1?project=qa', async_(OP)),
      on('GET', `${OP}/wait?*`, operation('Success')),
    );
    await localApi().setConfig(web1, { b: 'new', gone: null });
    const puts = unix.received.filter((request) => request.method === 'PUT');
    expect(puts.map((request) => request.headers['if-match'])).toEqual(['"e1"', '"e2"']);
    expect(puts[1]!.body).toEqual({ architecture: 'x86_64', config: { a: '2', b: 'new' }, devices: { eth0: { type: 'none' } }, ephemeral: false, profiles: ['default'], stateful: false, description: 'd' });
  });

  it('setConfig gives up after three lost races', async () => {
    unix.script(on('GET', '/1.0/instances/web1?project=qa', sync({ config: {} }, '"e"')), on('PUT', '/1.0/instances/web1?project=qa', error(412, "ETag doesn't match")));
    await expect(localApi().setConfig(web1, { a: '1' })).rejects.toMatchObject({ httpStatus: 412 });
    expect(unix.received.filter((request) => request.method === 'PUT')).toHaveLength(3);
  });

  it("a profile write carries the ETag of the caller's read, and a changed profile refuses it (412)", async () => {
    const profile = { remote: null, project: 'qa', name: 'safeupdate-lock_qa_web1' };
    const path = '/1.0/profiles/safeupdate-lock_qa_web1?project=qa';
    unix.script(
      on('GET', path, sync({ name: profile.name, description: 'held', config: { 'user.a': '1' }, used_by: [] }, '"p1"')),
      (request) => (request.method === 'PATCH' && request.headers['if-match'] !== undefined && request.headers['if-match'] !== '"p1"' ? error(412, "ETag doesn't match") : undefined),
      on('PATCH', path, sync({})),
    );
    const client = localApi();
    const read = await client.getProfile(profile);
    expect(read).toEqual({ description: 'held', config: { 'user.a': '1' }, usedBy: [], etag: '"p1"' });
    await client.setProfileConfig(profile, { 'user.b': '2' }, read!.etag);
    expect(unix.received[1]).toMatchObject({ method: 'PATCH', headers: { 'if-match': '"p1"' }, body: { config: { 'user.b': '2' } } });
    await expect(client.setProfileConfig(profile, { 'user.b': '3' }, '"stale"')).rejects.toMatchObject({ httpStatus: 412 });
    // Without an ETag the write is unconditional.
    await client.setProfileConfig(profile, { 'user.b': '4' });
    expect(unix.received[3]!.headers['if-match']).toBeUndefined();
  });

  it('profile rename and delete go through the API; a profile that is gone is no error', async () => {
    const profile = { remote: null, project: 'qa', name: 'lock' };
    unix.script(on('POST', '/1.0/profiles/lock?project=qa', error(404, 'Profile not found')), on('DELETE', '/1.0/profiles/lock?project=qa', error(404, 'Profile not found')));
    expect(await localApi().renameProfile(profile, 'taken')).toBe(false);
    await localApi().deleteProfile(profile);
    expect(unix.received[0]!.body).toEqual({ name: 'taken' });
  });

  it("Incus: the same API on Incus' socket", async () => {
    unix.script(on('GET', '/1.0', sync({ api_extensions: ['instances'], environment: { server: 'incus', server_version: '6.0.0' } })));
    expect(await localApi({ dialect: INCUS }).checkReachable(null)).toEqual({ server: 'incus', version: '6.0.0', extensions: ['instances'] });
  });
});

describe('over HTTPS with the client certificate', () => {
  const https = new RestStandIn();
  const server = selfSigned('lxd-server');
  const impostor = selfSigned('lxd-server');
  const clientCert = selfSigned('safeupdate-client');
  const issued = issuedBy(server, 'lxd-leaf');
  let conf: string;
  let port = 0;

  beforeAll(async () => {
    port = await https.listenHttps(server.cert, server.key);
    conf = join(dir, 'conf');
    await mkdir(join(conf, 'servercerts'), { recursive: true });
    await writeFile(join(conf, 'client.crt'), clientCert.cert);
    await writeFile(join(conf, 'client.key'), clientCert.key);
  });
  afterAll(async () => {
    await https.close();
    for (const made of [server, impostor, clientCert, issued]) made.remove();
  });

  function remoteClient() {
    const config = parseClientConfig(LXC, conf, { 'default-remote': 'backup', remotes: { backup: { addr: `https://127.0.0.1:${port}`, protocol: 'lxd', project: 'prod' } } }, {});
    return new LxcClient({ binary: join(dir, 'no-such-client'), api: async () => new RestApi({ dialect: LXC, config, env: {}, onCall: (call) => calls.push(call) }) });
  }

  it('the pinned server certificate is accepted (an IP it does not name), and the client presents its own', async () => {
    await writeFile(join(conf, 'servercerts', 'backup.crt'), server.cert);
    https.script(on('GET', '/1.0/instances?recursion=1&project=prod', sync([{ name: 'db1', type: 'container', status: 'Running', ephemeral: false, config: { 'user.x': '1' } }])));
    const client = remoteClient();
    const ref = await client.resolveRef({ remote: null, name: 'db1', project: null });
    expect(ref).toEqual({ remote: 'backup', name: 'db1', project: 'prod' });
    expect((await client.listInstances('backup', 'prod')).map((instance) => instance.name)).toEqual(['db1']);
    expect(https.received[0]!.clientFingerprint).toBe(new X509Certificate(clientCert.cert).fingerprint256);
    expect(calls[0]).toMatchObject({ command: ['backup:', 'GET', '/1.0/instances?recursion=1&project=prod'], process: false });
  });

  it('a server whose certificate is not the stored one is unreachable, and nothing is sent', async () => {
    await writeFile(join(conf, 'servercerts', 'backup.crt'), impostor.cert);
    https.script(on('GET', '/1.0', sync({})));
    await expect(remoteClient().checkReachable('backup')).rejects.toMatchObject({ kind: 'unreachable' });
    expect(https.received).toEqual([]);
  });

  it('without a stored certificate, or with one issued by a CA, the remote is left to the client', async () => {
    https.script(on('GET', '/1.0', sync({})));
    await rm(join(conf, 'servercerts', 'backup.crt'), { force: true });
    await expect(remoteClient().checkReachable('backup')).rejects.toMatchObject({ kind: 'unreachable', message: expect.stringContaining('not installed') });
    await writeFile(join(conf, 'servercerts', 'backup.crt'), issued.cert);
    await expect(remoteClient().checkReachable('backup')).rejects.toMatchObject({ kind: 'unreachable', message: expect.stringContaining('not installed') });
    expect(https.received).toEqual([]);
  });

  it('a remote that is not reached directly (simplestreams) goes to the client', async () => {
    const config = parseClientConfig(LXC, conf, { remotes: { images: { addr: 'https://images.example', protocol: 'simplestreams', public: true } } }, {});
    const client = new LxcClient({ binary: join(dir, 'no-such-client'), api: async () => new RestApi({ dialect: LXC, config, env: {}, onCall: () => {} }) });
    await expect(client.checkReachable('images')).rejects.toMatchObject({ kind: 'unreachable', message: expect.stringContaining('not installed') });
  });
});
