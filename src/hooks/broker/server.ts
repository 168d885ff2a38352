// The broker's socket: one per hooked instance, on the host, reached from inside only through the
// instance's proxy device. Requests are taken one at a time; a slow, oversized, malformed or
// flooding client is cut off and logged on the host. The client inside waits in one blocking read
// while the snapshot is taken: nothing of the hook forks or exits while LXD freezes the container.
import { createServer, type Server, type Socket } from 'node:net';
import { answerLine, MAX_REQUEST_BYTES, parseRequest, printable, type BrokerAnswer } from './protocol.js';
import { handleRequest, Refused, type HandleDeps } from './handle.js';

/** A client must send its whole request line within this. */
export const REQUEST_DEADLINE_MS = 5_000;
/** Connections open at once beyond the one being served; more are closed at once. */
const MAX_WAITING = 4;
/** Requests per minute, refused or not, before every further one is refused unread. */
export const REQUESTS_PER_MINUTE = 30;
/** Refusals logged per minute; past that one line says how many more there were. */
const LOGGED_REFUSALS_PER_MINUTE = 20;

export interface BrokerLog {
  (level: 'info' | 'warning', message: string): void;
}

export interface ServeOptions {
  deps: HandleDeps;
  log: BrokerLog;
  /** Exit after this long without a connection (socket activation starts the broker again); null: never. */
  idleMs: number | null;
  onIdle?: () => void;
  /**
   * The registration as install left it, read again for every request: an install that changed it
   * (expiry, limits, a new volatile.uuid) or an uninstall counts at once, not at the broker's next start.
   */
  reloadRegistration?: () => Promise<HandleDeps['registration'] | null>;
}

/** Counts within a sliding minute. */
class PerMinute {
  private times: number[] = [];
  constructor(private readonly now: () => number) {}
  add(): number {
    const now = this.now();
    this.times = this.times.filter((at) => now - at < 60_000);
    this.times.push(now);
    return this.times.length;
  }
}

export function brokerServer(options: ServeOptions): Server {
  const { deps, log } = options;
  const clock = () => performance.now();
  const requests = new PerMinute(clock);
  const refusals = new PerMinute(clock);
  let open = 0;
  let queue: Promise<void> = Promise.resolve();
  let idle: NodeJS.Timeout | undefined;
  const name = deps.registration.instance;

  const armIdle = () => {
    if (options.idleMs === null) return;
    clearTimeout(idle);
    idle = setTimeout(() => {
      if (open === 0) options.onIdle?.();
      else armIdle();
    }, options.idleMs);
    idle.unref?.();
  };

  let floodLogged = -Infinity;
  const refuse = (socket: Socket, reason: string, flood = false) => {
    // A flood is always logged, once a minute, whatever the refusals before it.
    if (flood && clock() - floodLogged >= 60_000) {
      floodLogged = clock();
      log('warning', `${name}: refused: ${reason}; every request is refused until a minute passes`);
      return reply(socket, { ok: false, error: reason });
    }
    const count = refusals.add();
    if (count <= LOGGED_REFUSALS_PER_MINUTE) log('warning', `${name}: refused: ${reason}`);
    else if (count === LOGGED_REFUSALS_PER_MINUTE + 1) log('warning', `${name}: more than ${LOGGED_REFUSALS_PER_MINUTE} refusals this minute; further ones are not logged until it passes`);
    reply(socket, { ok: false, error: reason });
  };

  const server = createServer({ allowHalfOpen: false }, (socket) => {
    armIdle();
    open++;
    socket.once('close', () => {
      open--;
      armIdle();
    });
    socket.on('error', () => socket.destroy());
    if (requests.add() > REQUESTS_PER_MINUTE) return refuse(socket, `more than ${REQUESTS_PER_MINUTE} requests in a minute`, true);
    if (open > MAX_WAITING + 1) return refuse(socket, `more than ${MAX_WAITING + 1} connections at once`);
    readLine(socket).then(
      (line) => {
        queue = queue.then(() => serve(socket, line));
      },
      (error: Error) => refuse(socket, error.message),
    );
  });

  const serve = async (socket: Socket, line: string): Promise<void> => {
    if (socket.destroyed) return;
    let request;
    try {
      request = parseRequest(line);
    } catch (error) {
      return refuse(socket, `${(error as Error).message}: ${printable(line, 120)}`);
    }
    try {
      if (options.reloadRegistration) {
        const current = await options.reloadRegistration();
        if (!current) return refuse(socket, `${request.request} for run ${request.run}: the hook is no longer registered on this host (uninstalled)`);
        deps.registration = current;
      }
      const answer = await handleRequest(deps, request);
      const done = request.request === 'result' ? "recorded the checks' result" : answer.ok && answer.reused ? `already took snapshot ${answer.snapshot}` : answer.ok ? `took snapshot ${answer.snapshot}` : '';
      log('info', `${name}: ${request.request} for run ${request.run}: ${done}`);
      reply(socket, answer);
    } catch (error) {
      if (error instanceof Refused) return refuse(socket, `${request.request} for run ${request.run}: ${error.message}`);
      const message = error instanceof Error ? error.message : String(error);
      log('warning', `${name}: ${request.request} for run ${request.run} failed: ${message}`);
      reply(socket, { ok: false, error: `the host could not do it: ${message}` });
    }
  };

  armIdle();
  return server;
}

/**
 * The answer, then the connection is closed on this side once it is flushed: a connection refused
 * unread (a flood, too many at once) never emits 'end' with its request left unread, and would
 * otherwise stay open and counted for good.
 */
function reply(socket: Socket, answer: BrokerAnswer): void {
  if (!socket.destroyed) socket.end(answerLine(answer), () => socket.destroy());
}

/** The request line: its bytes up to the first newline, within the size and time bounds. */
function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (error: Error | null, line?: string) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.pause();
      if (error) reject(error);
      else resolve(line!);
    };
    const timer = setTimeout(() => done(new Error(`no complete request within ${REQUEST_DEADLINE_MS / 1000}s (a slow client)`)), REQUEST_DEADLINE_MS);
    const onData = (chunk: Buffer) => {
      const newline = chunk.indexOf(0x0a);
      const take = newline < 0 ? chunk : chunk.subarray(0, newline);
      size += take.length;
      if (size > MAX_REQUEST_BYTES) return done(new Error(`a request over ${MAX_REQUEST_BYTES} bytes`));
      chunks.push(take);
      if (newline >= 0) done(null, Buffer.concat(chunks).toString('utf8'));
    };
    const onEnd = () => done(new Error('the connection ended before a complete request'));
    socket.on('data', onData);
    socket.on('end', onEnd);
  });
}
