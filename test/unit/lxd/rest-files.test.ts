import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { parseClientConfig } from '../../../src/lxd/client-config.js';
import { INCUS, LXC, type Dialect } from '../../../src/lxd/dialect.js';
import { LxcClient } from '../../../src/lxd/lxc-client.js';
import { RestApi } from '../../../src/lxd/rest.js';

// Lxd.readFile over the REST API: the broker reads a token file that the instance controls, so
// the server's answer is bounded in size and time and taken only for a regular file.

let dir: string;
let server: Server;
/** What the stand-in answers for a path: a file's content, a symlink, or silence. */
const answers = new Map<string, { type: string; content: string } | 'hang'>();
const asked: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rest-files-'));
  server = createServer((req, res) => {
    asked.push(req.url ?? '');
    const path = new URL(req.url ?? '/', 'http://x').searchParams.get('path') ?? '';
    const answer = answers.get(path);
    if (answer === 'hang') return;
    if (!answer) {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"type":"error","error":"Not Found","error_code":404}');
      return;
    }
    res.writeHead(200, { 'X-LXD-Type': answer.type, 'X-Incus-Type': answer.type, 'Content-Type': 'application/octet-stream' }).end(answer.content);
  });
  await new Promise<void>((resolve) => server.listen(join(dir, 'unix.socket'), resolve));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

function client(dialect: Dialect = LXC) {
  const config = parseClientConfig(dialect, dir, { remotes: {} }, {});
  const api = new RestApi({ dialect, config, env: { [dialect.daemonDirEnv]: dir }, onCall: () => {} });
  return new LxcClient({ dialect, binary: join(dir, 'no-such-client'), api: async () => api });
}

const web1 = { remote: null, name: 'web1', project: 'p1' };
const limits = { maxBytes: 64, timeoutMs: 500 };

describe('readFile over the unix socket', () => {
  it("reads a regular file's content, in the instance's project, with the path encoded", async () => {
    answers.set('/var/lib/x/token file', { type: 'file', content: 'abc\n' });
    asked.length = 0;
    expect(await client().readFile(web1, '/var/lib/x/token file', limits)).toBe('abc\n');
    expect(asked).toEqual(['/1.0/instances/web1/files?project=p1&path=%2Fvar%2Flib%2Fx%2Ftoken%20file']);
    expect(await client(INCUS).readFile(web1, '/var/lib/x/token file', limits)).toBe('abc\n');
  });

  it('a file that is not there is null', async () => {
    expect(await client().readFile(web1, '/nothing', limits)).toBeNull();
  });

  it('a symlink, a folder or an oversized file is refused, not followed or read whole', async () => {
    answers.set('/link', { type: 'symlink', content: '/etc/shadow' });
    answers.set('/dir', { type: 'directory', content: '' });
    answers.set('/big', { type: 'file', content: 'x'.repeat(100) });
    for (const path of ['/link', '/dir', '/big']) {
      await expect(client().readFile(web1, path, limits), path).rejects.toBeInstanceOf(LxdError);
    }
    await expect(client().readFile(web1, '/big', limits)).rejects.toThrow('more than 64 bytes');
    await expect(client().readFile(web1, '/link', limits)).rejects.toThrow('(symlink)');
  });

  it('a read that never ends (a FIFO inside) is a timeout at the bound', async () => {
    answers.set('/fifo', 'hang');
    const started = performance.now();
    const read = client().readFile(web1, '/fifo', limits);
    await expect(read).rejects.toMatchObject({ kind: 'timeout' });
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('refuses a relative path before asking anything', async () => {
    asked.length = 0;
    await expect(client().readFile(web1, 'etc/passwd', limits)).rejects.toThrow('not an absolute path');
    expect(asked).toEqual([]);
  });
});
