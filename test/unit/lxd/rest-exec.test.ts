import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseClientConfig } from '../../../src/lxd/client-config.js';
import { LXC } from '../../../src/lxd/dialect.js';
import { LxcClient } from '../../../src/lxd/lxc-client.js';
import type { LxdCall } from '../../../src/lxd/lxd.js';
import { RestApi } from '../../../src/lxd/rest.js';
import { ExecStandIn, type ExecScript } from '../../support/exec-stand-in.js';
import { RestStandIn } from '../../support/rest-stand-in.js';

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
});

const web1 = { remote: null, name: 'web1', project: 'qa' };
const EXEC = '/1.0/instances/web1/exec?project=qa';

function client(script: ExecScript) {
  rest.script(...lxd.routes(EXEC, 'qa', script));
  const config = parseClientConfig(LXC, dir, { remotes: { local: { project: 'qa' } } }, {});
  const api = new RestApi({ dialect: LXC, config, env: { LXD_DIR: dir }, onCall: (call) => calls.push(call) });
  return new LxcClient({ binary: join(dir, 'no-such-client'), api: async () => api, onCall: (call) => calls.push(call) });
}

describe('exec over the REST API', () => {
  it('runs the command with its environment and reports its exit code as one call without a process', async () => {
    const result = await client({ exit: 3 }).exec(web1, ['sh', '-c', 'exit 3'], { env: { LC_ALL: 'C' } });
    expect(result).toEqual({ exitCode: 3, signal: null, timedOut: false, canceled: false, stdout: '', stderr: '' });
    expect(lxd.seen[0]!.body).toEqual({ command: ['sh', '-c', 'exit 3'], environment: { LC_ALL: 'C' }, 'wait-for-websocket': true, interactive: false, 'record-output': false });
    expect([...lxd.seen[0]!.connected].sort()).toEqual(['0', '1', '2', 'control']);
    expect(lxd.seen[0]!.socketQueries.every((query) => query.endsWith('&project=qa'))).toBe(true);
    expect(calls).toEqual([{ command: ['local:', 'POST', EXEC], durationMs: expect.any(Number), ok: false, process: false }]);
  });
});
