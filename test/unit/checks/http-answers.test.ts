import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CheckContext } from '../../../src/checks/check.js';
import { httpAttempt } from '../../../src/checks/http-check.js';
import { FakeLxd } from '../../support/fake-lxd.js';

// The http check against real servers on loopback that answer in every way a service may:
// each status class, a body in pieces, a connection cut mid-answer, certificates that fail.

const servers: Array<{ close: () => void }> = [];
afterEach(() => servers.splice(0).forEach((server) => server.close()));

async function listen(server: Server | ReturnType<typeof createHttpServer> | ReturnType<typeof createHttpsServer>): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const context: CheckContext = { lxd: new FakeLxd(), ref: { remote: null, name: 'web1', project: null }, phase: 'after-update', baselineFailedUnits: [] };

describe('the status', () => {
  it.each([[200, 'pass'], [204, 'pass'], [299, 'pass'], [300, 'retry'], [404, 'retry'], [503, 'retry']])('%i: %s', async (status, state) => {
    const port = await listen(createHttpServer((_, res) => {
      res.statusCode = status;
      res.end();
    }));
    const url = `http://127.0.0.1:${port}/`;
    expect(await httpAttempt(url, null)(context, 2_000)).toEqual(state === 'pass' ? { state, message: `HTTP ${status}` } : { state, message: `HTTP ${status} from ${url}` });
  });
});

describe('the body', () => {
  it('without an expected text, any body passes, and the message says nothing of it', async () => {
    const port = await listen(createHttpServer((_, res) => res.end('null')));
    expect(await httpAttempt(`http://127.0.0.1:${port}/`, null)(context, 2_000)).toEqual({ state: 'pass', message: 'HTTP 200' });
    const empty = await listen(createHttpServer((_, res) => res.end('')));
    expect(await httpAttempt(`http://127.0.0.1:${empty}/`, null)(context, 2_000)).toEqual({ state: 'pass', message: 'HTTP 200' });
  });

  it('an expected text that arrives split across pieces is found', async () => {
    const port = await listen(createHttpServer((_, res) => {
      res.write('status: o');
      setTimeout(() => res.end('k\n'), 30);
    }));
    expect(await httpAttempt(`http://127.0.0.1:${port}/`, 'ok')(context, 2_000)).toEqual({ state: 'pass', message: 'HTTP 200, body has "ok"' });
  });

  it('an empty body lacks any expected text', async () => {
    const port = await listen(createHttpServer((_, res) => res.end()));
    const url = `http://127.0.0.1:${port}/`;
    expect(await httpAttempt(url, 'a')(context, 2_000)).toEqual({ state: 'retry', message: `HTTP 200 from ${url}, but the body lacks "a"` });
  });

  it('a body that lacks it is retried, with the status and the URL', async () => {
    const port = await listen(createHttpServer((_, res) => res.end('maintenance')));
    const url = `http://127.0.0.1:${port}/`;
    expect(await httpAttempt(url, 'ok')(context, 2_000)).toEqual({ state: 'retry', message: `HTTP 200 from ${url}, but the body lacks "ok"` });
  });
});

describe('connections that fail', () => {
  it('refused: the code alone', async () => {
    const port = await listen(createTcpServer());
    servers.pop()!.close();
    const url = `http://127.0.0.1:${port}/`;
    expect(await httpAttempt(url, null)(context, 2_000)).toEqual({ state: 'retry', message: `${url}: ECONNREFUSED` });
  });

  it('cut in the middle of the answer: the reset, not a half body taken for an answer', async () => {
    const port = await listen(createTcpServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok, partial');
      setTimeout(() => socket.destroy(), 30);
    }));
    const url = `http://127.0.0.1:${port}/`;
    expect(await httpAttempt(url, 'ok')(context, 2_000)).toEqual({ state: 'retry', message: `${url}: ECONNRESET` });
  });

  it('not HTTP at all: the parser\'s code', async () => {
    const port = await listen(createTcpServer((socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n\r\n')));
    const url = `http://127.0.0.1:${port}/`;
    expect(await httpAttempt(url, null)(context, 2_000)).toEqual({ state: 'retry', message: `${url}: HPE_INVALID_CONSTANT` });
  });

  it('silent: bounded by the attempt\'s time, headers and body together', async () => {
    const port = await listen(createHttpServer((_, res) => {
      res.write('ok');
      // The body never ends.
    }));
    const url = `http://127.0.0.1:${port}/`;
    const started = Date.now();
    expect(await httpAttempt(url, 'ok')(context, 300)).toEqual({ state: 'retry', message: `${url}: no answer within 0.3s` });
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('certificates that fail for another reason than trust', () => {
  let dir: string;
  let ca: string;
  let caFile: string;

  async function openssl(...args: string[]) {
    await execa('openssl', args, { cwd: dir });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safeupdate-http-certs-'));
    await writeFile(join(dir, 'index.txt'), '');
    await writeFile(join(dir, 'serial'), '01\n');
    await writeFile(join(dir, 'ca.cnf'), [
      '[ ca ]', 'default_ca = test', '[ test ]', 'dir = .', 'database = ./index.txt', 'serial = ./serial', 'new_certs_dir = .',
      'default_md = sha256', 'policy = any', 'copy_extensions = copy', '[ any ]', 'commonName = supplied', '',
    ].join('\n'));
    await openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=test ca', '-keyout', 'ca.key', '-out', 'ca.pem');
    for (const [name, dates] of [['expired', ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z']], ['current', ['-days', '2']]] as const) {
      await openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', `${name}.key`, '-out', `${name}.csr`);
      await openssl('ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', ...dates, '-in', `${name}.csr`, '-out', `${name}.pem`);
    }
    caFile = join(dir, 'ca.pem');
    ca = await readFile(caFile, 'utf8');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function serving(name: string): Promise<number> {
    const [key, cert] = await Promise.all([readFile(join(dir, `${name}.key`), 'utf8'), readFile(join(dir, `${name}.pem`), 'utf8')]);
    return listen(createHttpsServer({ key, cert }, (_, res) => res.end('ok')));
  }

  it('a certificate from the trusted CA passes', async () => {
    const port = await serving('current');
    expect(await httpAttempt(`https://127.0.0.1:${port}/`, 'ok', { ca, caFile })(context, 2_000)).toEqual({ state: 'pass', message: 'HTTP 200, body has "ok"' });
  });

  it('an expired one: the code and what it means', async () => {
    const port = await serving('expired');
    const url = `https://127.0.0.1:${port}/`;
    expect(await httpAttempt(url, null, { ca, caFile })(context, 2_000)).toEqual({ state: 'retry', message: `${url}: CERT_HAS_EXPIRED (certificate has expired)` });
  });

  it('one for another name: the code, and the names it has', async () => {
    const port = await serving('current');
    const url = `https://localhost:${port}/`;
    expect(await httpAttempt(url, null, { ca, caFile })(context, 2_000)).toEqual({
      state: 'retry',
      message: `${url}: ERR_TLS_CERT_ALTNAME_INVALID (Hostname/IP does not match certificate's altnames: Host: localhost. is not cert's CN: current)`,
    });
  });
});
