import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CheckContext } from '../../../src/checks/check.js';
import { httpAttempt } from '../../../src/checks/http-check.js';
import { tcpAttempt } from '../../../src/checks/tcp-check.js';
import { FakeLxd } from '../../support/fake-lxd.js';

// Real sockets on loopback: these kinds talk from the host, so they are tested against real servers.
const servers: Array<{ close: () => void }> = [];
afterEach(() => servers.splice(0).forEach((server) => server.close()));

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function context(lxd = new FakeLxd()): CheckContext {
  return { lxd, ref: { remote: null, name: 'web1', project: null }, phase: 'after-update', baselineFailedUnits: [] };
}

describe('the http check', () => {
  it('passes on 2xx with the expected body, looking {ip} up each attempt', async () => {
    const port = await listen(createHttpServer((_, res) => res.end('ok 1.1\n')));
    const lxd = new FakeLxd().expect('getIPv4Addresses', () => ['127.0.0.1']).expect('getIPv4Addresses', () => ['127.0.0.1']);
    const attempt = httpAttempt(`http://{ip}:${port}/health`, 'ok');
    expect(await attempt(context(lxd), 2_000)).toMatchObject({ state: 'pass', message: 'HTTP 200, body has "ok"' });
    expect(await attempt(context(lxd), 2_000)).toMatchObject({ state: 'pass' });
    lxd.assertDone();
  });

  it('fails on a wrong body, a 5xx, a refused connection, and a slow answer', async () => {
    const port = await listen(createHttpServer((req, res) => {
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 1_000);
      res.statusCode = req.url === '/broken' ? 503 : 200;
      res.end('maintenance');
    }));
    expect(await httpAttempt(`http://127.0.0.1:${port}/`, 'ok')(context(), 2_000)).toMatchObject({ state: 'retry', message: expect.stringContaining('lacks "ok"') });
    expect(await httpAttempt(`http://127.0.0.1:${port}/broken`, null)(context(), 2_000)).toMatchObject({ state: 'retry', message: `HTTP 503 from http://127.0.0.1:${port}/broken` });
    expect(await httpAttempt(`http://127.0.0.1:${port}/slow`, null)(context(), 200)).toMatchObject({ state: 'retry', message: expect.stringContaining('no answer within 0.2s') });
    const closed = await listen(createTcpServer());
    servers.pop()!.close();
    expect(await httpAttempt(`http://127.0.0.1:${closed}/`, null)(context(), 2_000)).toMatchObject({ state: 'retry', message: expect.stringContaining('ECONNREFUSED') });
  });

  it('cannot fill {ip} for an instance without an address', async () => {
    const lxd = new FakeLxd().expect('getIPv4Addresses', () => []);
    await expect(httpAttempt('http://{ip}/', null)(context(lxd), 1_000)).rejects.toThrow('web1 has no IPv4 address');
    lxd.assertDone();
  });
});

describe('the tcp check', () => {
  it('passes when the connection stays open, or the peer speaks', async () => {
    const silent = await listen(createTcpServer(() => {}));
    expect(await tcpAttempt('127.0.0.1', silent)(context(), 2_000)).toMatchObject({ state: 'pass', message: `127.0.0.1:${silent} accepts connections` });
    const banner = await listen(createTcpServer((socket) => socket.end('220 ready\r\n')));
    expect(await tcpAttempt('127.0.0.1', banner)(context(), 2_000)).toMatchObject({ state: 'pass', message: expect.stringContaining('speaks') });
  });

  it('fails when the peer closes at once without a word, as an LXD proxy with nothing behind it does', async () => {
    const proxyLike = await listen(createTcpServer((socket) => socket.destroy()));
    expect(await tcpAttempt('127.0.0.1', proxyLike)(context(), 2_000)).toMatchObject({ state: 'retry', message: expect.stringContaining('closed the connection at once') });
  });

  it('says a connection opened when the attempt ran out of time while holding it', async () => {
    const silent = await listen(createTcpServer(() => {}));
    const result = await tcpAttempt('127.0.0.1', silent)(context(), 100);
    expect(result).toEqual({
      state: 'retry',
      message: `127.0.0.1:${silent}: connected, but the attempt's time (0.1s) ran out before the connection had held 300 ms`,
    });
  });

  it('fails when nothing listens', async () => {
    const port = await listen(createTcpServer());
    servers.pop()!.close();
    expect(await tcpAttempt('127.0.0.1', port)(context(), 2_000)).toMatchObject({ state: 'retry', message: `127.0.0.1:${port}: ECONNREFUSED` });
  });
});
