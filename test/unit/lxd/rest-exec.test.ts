import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { parseClientConfig } from '../../../src/lxd/client-config.js';
import { LXC } from '../../../src/lxd/dialect.js';
import { LxcClient } from '../../../src/lxd/lxc-client.js';
import { KEPT_OUTPUT_CHARS } from '../../../src/lxd/rest-exec.js';
import type { LxdCall } from '../../../src/lxd/lxd.js';
import { RestApi } from '../../../src/lxd/rest.js';
import { ExecStandIn, type ExecScript } from '../../support/exec-stand-in.js';
import { RestStandIn, selfSigned } from '../../support/rest-stand-in.js';

// A non-interactive exec through the REST API and its websockets, against a stand-in daemon on a
// unix socket. The client binary given does not exist: an exec that fell back to it would fail.

let dir: string;
const rest = new RestStandIn();
let lxd: ExecStandIn;
const calls: LxdCall[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rest-exec-test-'));
  await rest.listenUnix(join(dir, 'unix.socket'));
  lxd = new ExecStandIn(rest);
});
afterAll(async () => {
  await lxd.close();
  await rest.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  calls.length = 0;
  lxd.seen.length = 0;
  vi.unstubAllEnvs();
});

const web1 = { remote: null, name: 'web1', project: 'qa' };
const EXEC = '/1.0/instances/web1/exec?project=qa';
const KILL = { command: 'signal', signal: 9 };

function client(script: ExecScript) {
  rest.script(...lxd.routes(EXEC, 'qa', script));
  const config = parseClientConfig(LXC, dir, { remotes: { local: { project: 'qa' } } }, {});
  const api = new RestApi({ dialect: LXC, config, env: { LXD_DIR: dir }, onCall: (call) => calls.push(call) });
  return new LxcClient({ binary: join(dir, 'no-such-client'), api: async () => api, onCall: (call) => calls.push(call) });
}

const ran = () => ({ exitCode: 0, signal: null, timedOut: false, canceled: false, stdout: '', stderr: '' });

describe('exec over the REST API', () => {
  it("runs the command with its environment (and the host's TERM, as the client sends it) and reports its exit code as one call without a process", async () => {
    vi.stubEnv('TERM', 'xterm-test');
    const result = await client({ exit: 3 }).exec(web1, ['sh', '-c', 'exit 3'], { env: { LC_ALL: 'C' } });
    expect(result).toEqual({ ...ran(), exitCode: 3 });
    expect(lxd.seen[0]!.body).toEqual({ command: ['sh', '-c', 'exit 3'], environment: { TERM: 'xterm-test', LC_ALL: 'C' }, 'wait-for-websocket': true, interactive: false, 'record-output': false });
    expect([...lxd.seen[0]!.connected].sort()).toEqual(['0', '1', '2', 'control']);
    expect(lxd.seen[0]!.socketQueries).toEqual(expect.arrayContaining([expect.stringMatching(/^\?secret=s-[a-z]+&project=qa$/)]));
    expect(calls).toEqual([{ command: ['local:', 'POST', EXEC], durationMs: expect.any(Number), ok: false, process: false }]);
  });

  it('an operation URL that carries its project (a cluster member forwarding the exec) is waited on and connected to without it', async () => {
    const result = await client({ output: [{ fd: 1, data: 'on m2\n' }], exit: 0, clustered: true }).exec(web1, ['hostname'], {});
    expect(result).toEqual({ ...ran(), stdout: 'on m2\n' });
    expect([...lxd.seen[0]!.connected].sort()).toEqual(['0', '1', '2', 'control']);
  });

  it('keeps only the end of a flood of output (the instance decides how much it writes), and streams all of it', async () => {
    const block = 'x'.repeat(1024 * 1024);
    const output = [...Array.from({ length: 20 }, () => ({ fd: 1 as const, data: block })), { fd: 1 as const, data: 'the last line\n' }];
    let streamed = 0;
    const result = await client({ output, exit: 0 }).exec(web1, ['yes'], { onOutput: (chunk) => (streamed += chunk.length) });
    expect(streamed).toBe(20 * block.length + 'the last line\n'.length);
    expect(result.stdout).toHaveLength(KEPT_OUTPUT_CHARS);
    expect(result.stdout.slice(-16)).toBe('xxthe last line\n');
  });

  it('streams stdout and stderr as they come, and collects each whole, a character split across messages included', async () => {
    const chunks: string[] = [];
    const e = Buffer.from('é');
    const output: ExecScript['output'] = [{ fd: 1, data: 'one\n' }, { fd: 2, data: 'warn\n' }, { fd: 1, data: e.subarray(0, 1) }, { fd: 1, data: Buffer.concat([e.subarray(1), Buffer.from('\n')]) }];
    const result = await client({ output, exit: 0 }).exec(web1, ['apt-get', 'upgrade'], { onOutput: (chunk) => chunks.push(chunk) });
    expect(result).toEqual({ ...ran(), stdout: 'one\né\n', stderr: 'warn\n' });
    // Each stream in order; the two streams are two sockets, and which comes first is not said.
    expect([...chunks].sort()).toEqual(['one\n', 'warn\n', 'é\n']);
    expect(calls).toMatchObject([{ ok: true, process: false }]);
    // Done at each stream's end-of-stream: not after the bound on output still under way (5 s).
    expect(calls[0]!.durationMs).toBeLessThan(2_000);
  });

  it("gives the command an empty stdin: LXD's end of stream at once, then the socket closed", async () => {
    await client({ exit: 0 }).exec(web1, ['cat'], {});
    await vi.waitFor(() => expect(lxd.seen[0]!.stdinClosed).toBe(true));
    expect(lxd.seen[0]!.stdin).toEqual(['']);
  });

  it('a timeout kills the command inside (signal 9 on the control socket) and is timedOut, without an exit code', async () => {
    const started = performance.now();
    const result = await client({ output: [{ fd: 1, data: 'working\n' }] }).exec(web1, ['sleep', '1000'], { timeoutMs: 300 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(result).toEqual({ ...ran(), exitCode: null, timedOut: true, stdout: 'working\n' });
    expect(lxd.seen[0]!.control).toEqual([KILL]);
  });

  it('an abort kills the command inside and is canceled; an abort before the start runs nothing', async () => {
    const interrupt = new AbortController();
    setTimeout(() => interrupt.abort('SIGINT'), 200);
    const result = await client({}).exec(web1, ['sleep', '1000'], { signal: interrupt.signal });
    expect(result).toEqual({ ...ran(), exitCode: null, canceled: true });
    expect(lxd.seen[0]!.control).toEqual([KILL]);
    expect(await client({ exit: 0 }).exec(web1, ['true'], { signal: interrupt.signal })).toEqual({ ...ran(), exitCode: null, canceled: true });
    expect(lxd.seen).toHaveLength(1);
  });

  it("a failed operation: its exit code where LXD gives one (no such command: 127), else the client's exit 1, with LXD's error", async () => {
    expect(await client({ fail: { err: 'Command not found', code: 127 } }).exec(web1, ['nosuch'], {})).toEqual({ ...ran(), exitCode: 127, stderr: 'Error: Command not found\n' });
    expect(await client({ output: [{ fd: 2, data: 'half\n' }], fail: { err: 'Failed to attach', code: -1 } }).exec(web1, ['true'], {})).toEqual({ ...ran(), exitCode: 1, stderr: 'half\nError: Failed to attach\n' });
    // Incus answers the wait with the error alone: the operation, read again, has the exit code.
    expect(await client({ fail: { err: 'Command not found', code: 127, incus: true } }).exec(web1, ['nosuch'], {})).toEqual({ ...ran(), exitCode: 127, stderr: 'Error: Command not found\n' });
  });

  it("a refused exec (the instance is not running) is the client's exit 1 with LXD's words", async () => {
    const result = await client({ refuse: { status: 400, message: 'Instance is not running' } }).exec(web1, ['true'], {});
    expect(result).toEqual({ ...ran(), exitCode: 1, stderr: 'Error: Instance is not running\n' });
    expect(calls).toMatchObject([{ command: ['local:', 'POST', EXEC], ok: false, process: false }]);
  });

  it('a daemon that goes away mid-stream: the output so far is kept, and the exec failed, saying so', async () => {
    const result = await client({ output: [{ fd: 1, data: 'partial\n' }], drop: true }).exec(web1, ['apt-get', 'upgrade'], {});
    expect(result).toMatchObject({ exitCode: 1, timedOut: false, canceled: false, stdout: 'partial\n' });
    expect(result.stderr).toMatch(/^Error: LXD is not reachable: .*socket hang up/);
  });

  it('an interactive command stays with the client (its terminal handling): no request is made', async () => {
    const failure = await client({ exit: 0 }).exec(web1, ['apt', 'upgrade'], { interactive: true }).catch((caught: unknown) => caught);
    expect(failure).toBeInstanceOf(LxdError);
    expect((failure as LxdError).message).toMatch(/no-such-client" command is not installed/);
    expect(rest.received).toEqual([]);
  });
});

describe('exec over HTTPS', () => {
  const https = new RestStandIn();
  const server = selfSigned('lxd-server');
  const clientCert = selfSigned('safeupdate-client');
  let remote: ExecStandIn;
  let conf: string;
  let port = 0;

  beforeAll(async () => {
    port = await https.listenHttps(server.cert, server.key);
    remote = new ExecStandIn(https);
    conf = join(dir, 'conf');
    await mkdir(join(conf, 'servercerts'), { recursive: true });
    await writeFile(join(conf, 'client.crt'), clientCert.cert);
    await writeFile(join(conf, 'client.key'), clientCert.key);
    await writeFile(join(conf, 'servercerts', 'backup.crt'), server.cert);
  });
  afterAll(async () => {
    await remote.close();
    await https.close();
    for (const made of [server, clientCert]) made.remove();
  });

  it("the websockets connect with the client's certificate to the pinned server, as the requests do", async () => {
    https.script(...remote.routes('/1.0/instances/db1/exec?project=prod', 'prod', { output: [{ fd: 1, data: 'ok\n' }], exit: 0 }));
    const config = parseClientConfig(LXC, conf, { 'default-remote': 'backup', remotes: { backup: { addr: `https://127.0.0.1:${port}`, protocol: 'lxd', project: 'prod' } } }, {});
    const api = new RestApi({ dialect: LXC, config, env: {}, onCall: (call) => calls.push(call) });
    const client = new LxcClient({ binary: join(dir, 'no-such-client'), api: async () => api });
    expect(await client.exec({ remote: 'backup', name: 'db1', project: 'prod' }, ['true'], {})).toEqual({ ...ran(), stdout: 'ok\n' });
    const fingerprint = new X509Certificate(clientCert.cert).fingerprint256;
    expect(remote.seen[0]!.socketFingerprints).toEqual([fingerprint, fingerprint, fingerprint, fingerprint]);
    expect(calls).toMatchObject([{ command: ['backup:', 'POST', '/1.0/instances/db1/exec?project=prod'], ok: true, process: false }]);
  });
});
