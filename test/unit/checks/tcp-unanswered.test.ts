import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CheckContext } from '../../../src/checks/check.js';
import { tcpAttempt } from '../../../src/checks/tcp-check.js';
import { FakeLxd } from '../../support/fake-lxd.js';

// A port whose server does not answer at all (a firewall that drops, a host gone): the connection
// never opens. Played by a listener with a queue of two that never accepts: once two
// connections fill the queue, the kernel drops further attempts and they hang.

let server: ChildProcess | null = null;
let fillers: Socket[] = [];
afterEach(() => {
  for (const socket of fillers.splice(0)) socket.destroy();
  server?.kill('SIGKILL');
  server = null;
});

async function unansweredPort(): Promise<number> {
  server = spawn(process.execPath, ['-e', `
    const s = require('node:net').createServer();
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(s.address().port + '\\n');
      // Never accept: the event loop stops here.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    server!.stdout!.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim())));
    server!.once('exit', () => reject(new Error('the listener ended')));
  });
  for (let i = 0; i < 2; i += 1) {
    const socket = connect({ host: '127.0.0.1', port });
    fillers.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
  }
  return port;
}

const context: CheckContext = { lxd: new FakeLxd(), ref: { remote: null, name: 'web1', project: null }, phase: 'after-update', baselineFailedUnits: [] };

describe('the tcp check against a port that never answers', () => {
  it('gives up when the attempt\'s time is up, and says that nothing connected', async () => {
    const port = await unansweredPort();
    const started = Date.now();
    expect(await tcpAttempt('127.0.0.1', port)(context, 400)).toEqual({ state: 'retry', message: `127.0.0.1:${port}: no connection within 0.4s` });
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
