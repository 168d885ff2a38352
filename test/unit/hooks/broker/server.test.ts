import { createConnection, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LxdError } from '../../../../src/errors.js';
import type { BrokerMemory } from '../../../../src/hooks/broker/memory.js';
import { MAX_REQUEST_BYTES } from '../../../../src/hooks/broker/protocol.js';
import { brokerServer, REQUEST_DEADLINE_MS, REQUESTS_PER_MINUTE } from '../../../../src/hooks/broker/server.js';
import { brokerDeps, BrokerLxd } from '../../../support/broker-lxd.js';

// The broker's socket, with real connections: one request line per connection, one answer line;
// a slow, oversized, malformed or flooding client is cut off, and every refusal is logged.

let dir: string;
let path: string;
let lxd: BrokerLxd;
let log: string[];
let memory: BrokerMemory;
let server: Server | null;
const clients: Socket[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-broker-sock-'));
  path = join(dir, 'broker.sock');
  lxd = new BrokerLxd();
  log = [];
  server = null;
});

afterEach(async () => {
  vi.useRealTimers();
  for (const client of clients.splice(0)) client.destroy();
  if (server) await new Promise((resolve) => server!.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function start(options: { idleMs?: number | null; onIdle?: () => void } = {}): Promise<void> {
  const made = brokerDeps(lxd, join(dir, 'state'));
  memory = made.deps.memory;
  server = brokerServer({ deps: made.deps, log: (level, message) => log.push(`${level} ${message}`), idleMs: options.idleMs ?? null, onIdle: options.onIdle });
  await new Promise<void>((resolve) => server!.listen(path, resolve));
}

/** A connection that sends `text` (in one write) and collects what comes back until the server closes it. */
function connect(text: string | null = null): { socket: Socket; answer: Promise<string> } {
  const socket = createConnection(path);
  clients.push(socket);
  let data = '';
  socket.on('data', (chunk) => {
    data += chunk.toString('utf8');
  });
  // A server that cuts a client off mid-write: the client sees EPIPE or a reset, and still the answer.
  socket.on('error', () => undefined);
  const answer = new Promise<string>((resolve) => socket.on('close', () => resolve(data)));
  if (text !== null) socket.write(text);
  return { socket, answer };
}

const ask = (text: string) => connect(text).answer;
const parsed = async (text: string) => JSON.parse(await ask(text)) as Record<string, unknown>;

let tokens = 0;
function request(run = 'boot:1:1'): string {
  const token = (tokens += 1).toString(16).padStart(32, '0');
  lxd.tokenQueue.push(token);
  return `${JSON.stringify({ v: 1, request: 'snapshot', run, token, command: 'apt-get upgrade', user: 'root', failedUnits: [] })}\n`;
}

/** The connections the server still holds, once what is closing has closed. */
async function held(): Promise<number> {
  for (let i = 0; i < 50; i += 1) {
    const count = await new Promise<number>((resolve) => server!.getConnections((_, n) => resolve(n)));
    if (count === 0) return 0;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return new Promise<number>((resolve) => server!.getConnections((_, n) => resolve(n)));
}

const ticks = async (count = 5) => {
  for (let i = 0; i < count; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

describe('the broker socket', () => {
  it('answers a request with one JSON line and closes; logs what it did', async () => {
    await start();
    const text = await ask(request());
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n')).toHaveLength(2);
    expect(JSON.parse(text)).toMatchObject({ ok: true, reused: false, snapshot: expect.stringMatching(/^safeupdate-hook-/) as string });
    expect(log).toEqual([expect.stringMatching(/^info web1: snapshot for run boot:1:1: took snapshot safeupdate-hook-\S+$/)]);
  });

  it('a refusal is answered with its reason, and logged as a warning', async () => {
    await start();
    const line = request();
    lxd.tokenQueue = ['f'.repeat(32)];
    const answer = await parsed(line);
    expect(answer).toEqual({ ok: false, error: expect.stringMatching(/^snapshot for run boot:1:1: the token is not in web1's/) as string });
    expect(log).toEqual([`warning web1: refused: ${answer.error as string}`]);
    expect(lxd.created).toEqual([]);
  });

  it('the host failing is no refusal: answered and logged as a failure', async () => {
    await start();
    lxd.createError = new LxdError('no space left on device', 'failed', []);
    expect(await parsed(request())).toEqual({ ok: false, error: 'the host could not do it: no space left on device' });
    expect(log).toEqual(['warning web1: snapshot for run boot:1:1 failed: no space left on device']);
  });

  it.each([
    ['invalid JSON', '{"v":1,\n', /^warning web1: refused: not JSON: \{"v":1,$/],
    ['an unknown field', `${JSON.stringify({ v: 1, request: 'snapshot', run: 'r', token: '0'.repeat(32), command: '', user: '', failedUnits: [], extra: 1 })}\n`, /^warning web1: refused: not a request: /],
    ['a control character, which the log shows flattened', '\u001b[31mred\n', /^warning web1: refused: not JSON: \?\[31mred$/],
  ])('refuses %s, logged', async (_, text, logged) => {
    await start();
    expect(await parsed(text)).toMatchObject({ ok: false });
    expect(log).toEqual([expect.stringMatching(logged)]);
    expect(lxd.calls).toEqual([]);
  });

  it(`refuses a request over ${MAX_REQUEST_BYTES} bytes unread to its end; one of exactly that size is read`, async () => {
    await start();
    expect(await parsed('x'.repeat(MAX_REQUEST_BYTES + 1))).toEqual({ ok: false, error: `a request over ${MAX_REQUEST_BYTES} bytes` });
    // Over the size in pieces, with no newline anywhere.
    const { socket, answer } = connect();
    for (let i = 0; i < 5; i += 1) socket.write('y'.repeat(4_000));
    expect(JSON.parse(await answer)).toEqual({ ok: false, error: `a request over ${MAX_REQUEST_BYTES} bytes` });
    expect(await parsed(`${'z'.repeat(MAX_REQUEST_BYTES)}\n`)).toMatchObject({ ok: false, error: expect.stringMatching(/^not JSON: z+…$/) as string });
    expect(log).toHaveLength(3);
    expect(log[0]).toBe(`warning web1: refused: a request over ${MAX_REQUEST_BYTES} bytes`);
  });

  it('refuses a connection that ends before a complete request', async () => {
    await start();
    const { socket, answer } = connect('{"v":1');
    socket.end();
    await answer;
    expect(log).toEqual(['warning web1: refused: the connection ended before a complete request']);
  });

  it(`a slow client: no complete line within ${REQUEST_DEADLINE_MS / 1000}s is cut off, refused and logged`, async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    await start();
    const { answer } = connect('{"v":1,"request":"snapshot"');
    // Until the server has the connection, with its deadline.
    for (let i = 0; i < 200 && vi.getTimerCount() === 0; i += 1) await ticks(1);
    expect(vi.getTimerCount()).toBe(1);
    let done = false;
    void answer.then(() => {
      done = true;
    });
    vi.advanceTimersByTime(REQUEST_DEADLINE_MS - 1);
    await ticks(20);
    expect(done).toBe(false);
    expect(log).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(JSON.parse(await answer)).toEqual({ ok: false, error: `no complete request within ${REQUEST_DEADLINE_MS / 1000}s (a slow client)` });
    expect(log).toEqual([`warning web1: refused: no complete request within ${REQUEST_DEADLINE_MS / 1000}s (a slow client)`]);
    expect(lxd.calls).toEqual([]);
  });

  it('the production deadline is 5s', () => {
    expect(REQUEST_DEADLINE_MS).toBe(5_000);
    expect(REQUESTS_PER_MINUTE).toBe(30);
    expect(MAX_REQUEST_BYTES).toBe(16 * 1024);
  });

  it(`more than ${REQUESTS_PER_MINUTE} requests in a minute: every further one is refused unread; the refusals logged up to 20 a minute, then one line; the flood itself is logged however many were before it`, async () => {
    await start();
    for (let i = 0; i < REQUESTS_PER_MINUTE; i += 1) {
      expect(await parsed('nonsense\n')).toMatchObject({ ok: false, error: 'not JSON: nonsense' });
    }
    // A good request is refused too, unread: LXD is not asked.
    expect(await parsed(request())).toEqual({ ok: false, error: `more than ${REQUESTS_PER_MINUTE} requests in a minute` });
    expect(lxd.calls).toEqual([]);
    expect(log.slice(0, 20)).toEqual(Array.from({ length: 20 }, () => 'warning web1: refused: not JSON: nonsense'));
    expect(log.slice(20)).toEqual([
      'warning web1: more than 20 refusals this minute; further ones are not logged until it passes',
      `warning web1: refused: more than ${REQUESTS_PER_MINUTE} requests in a minute; every request is refused until a minute passes`,
    ]);
    // The flood is logged once a minute, not once a request.
    await ask(request());
    expect(log).toHaveLength(22);
    // The connections refused unread are closed, not held: a flood does not leave the broker
    // counting them as open for good (then refusing every connection as "more than 5 at once").
    for (let i = 0; i < 6; i += 1) await ask(request());
    expect(await held()).toBe(0);
  });

  it('more than 5 connections at once: the next is refused', async () => {
    await start();
    const idle = Array.from({ length: 5 }, () => connect());
    await ticks(20);
    const refused = await parsed(request());
    expect(refused).toEqual({ ok: false, error: 'more than 5 connections at once' });
    expect(lxd.calls).toEqual([]);
    for (const { socket } of idle) socket.destroy();
    expect(await held()).toBe(0);
    // And a request after them is served (the refused one's token was never read).
    lxd.tokenQueue = [];
    expect(await parsed(request())).toMatchObject({ ok: true });
  });

  it('requests are served one at a time: two of one apt run at once take one snapshot', async () => {
    await start();
    lxd.createDelayMs = 100;
    const first = connect(request('boot:7:7'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = connect(request('boot:7:7'));
    const answers = [JSON.parse(await first.answer), JSON.parse(await second.answer)] as Array<Record<string, unknown>>;
    expect(answers.map((answer) => answer.reused)).toEqual([false, true]);
    expect(answers[1]!.snapshot).toBe(answers[0]!.snapshot);
    expect(lxd.created).toHaveLength(1);
    expect(memory.runs).toHaveLength(1);
  });

  it('leaves when idle (socket activation starts it again)', async () => {
    const onIdle = vi.fn();
    await start({ idleMs: 30, onIdle });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(onIdle).toHaveBeenCalled();
  });
});
