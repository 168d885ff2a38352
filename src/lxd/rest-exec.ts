import { StringDecoder } from 'node:string_decoder';
import type { ConnectionOptions } from 'node:tls';
import type { WebSocket } from 'ws';
import { LxdError } from '../errors.js';
import { operationPath, withQuery } from './api.js';
import type { ExecOptions, ExecResult, LxdCall } from './lxd.js';

/** ws loads with the first exec: `--help`, and a run that execs nothing, never read it. */
const loadWs = () => import('ws');

/** After the kill: long enough for LXD to reap the command and end its operation, short for an operator's Ctrl+C. */
const KILL_GRACE_MS = 5_000;
/** After the exit: the last output may still be on its way on the other sockets. */
const DRAIN_MS = 5_000;
/** One wait request's bound; a longer command is waited on again. Timers cannot hold Infinity. */
const WAIT_SLICE_MS = 10 * 60_000;
/**
 * What is kept of each stream, its end: the instance decides how much it writes, and the host must
 * not hold all of it (execa, behind the client, stopped at 100 MB). Readers want the end (a check's
 * last line) or a small whole (an inventory); everything still reaches `onOutput` as it comes.
 */
export const KEPT_OUTPUT_CHARS = 8 * 1024 * 1024;
/** SIGKILL, as LXD forwards it to the command inside the instance. */
const SIGKILL = 9;

/** What an exec needs of the REST API for one remote (RestApi.execChannel). */
export interface ExecChannel {
  server: string;
  remote: string;
  /** One request of the exec, not recorded on its own; rejects with an LxdError. */
  send(method: string, path: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<{ operation?: string; metadata?: unknown }>;
  /** Where ws connects for an API path, and with which TLS settings (none over the unix socket). */
  socket(path: string): { address: string; tls: ConnectionOptions };
  record(call: LxdCall): void;
}

interface OperationAnswer {
  id?: string;
  status?: string;
  err?: string;
  metadata?: { fds?: Record<string, string>; return?: number } | null;
}

/**
 * How an exec ended: the command's exit (with LXD's error where it also failed the operation, as
 * for a command that is not there: 127), our timeout or cancel, or LXD's failure to run it.
 */
type Ending = { kind: 'exit'; code: number; error?: string } | { kind: 'timeout' } | { kind: 'canceled' } | { kind: 'failed'; message: string };

/**
 * A non-interactive command run through the REST API, as `lxc exec -T -n` runs it, without a
 * client process: `POST .../exec` with `wait-for-websocket`, then the operation's websockets
 * (stdin, stdout, stderr, control) and a wait on the operation for the exit code. LXD starts the
 * command once stdin, stdout and stderr are connected. The result is the client transport's.
 */
export async function runExec(channel: ExecChannel, path: string, argv: readonly string[], options: ExecOptions, callTimeoutMs: number): Promise<ExecResult> {
  const started = performance.now();
  const output = new Output(options.onOutput);
  const ending = await execute(channel, path, argv, options, callTimeoutMs, output, started);
  const { stdout, stderr } = output.end();
  // As the client says LXD's error (the instance stopped, the daemon gone, no such command): "Error: …".
  const error = ending.kind === 'failed' ? ending.message : ending.kind === 'exit' ? ending.error : undefined;
  channel.record({ command: [`${channel.remote}:`, 'POST', path], durationMs: Math.round(performance.now() - started), ok: ending.kind === 'exit' && ending.code === 0, process: false });
  return {
    // LXD's failure to run the command at all is the client's exit 1.
    exitCode: ending.kind === 'exit' ? ending.code : ending.kind === 'failed' ? 1 : null,
    // LXD reports a command ended by a signal as 128 + the signal, as a shell does; the client too.
    signal: null,
    timedOut: ending.kind === 'timeout',
    canceled: ending.kind === 'canceled',
    stdout,
    stderr: error ? `${stderr}Error: ${error}\n` : stderr,
  };
}

async function execute(channel: ExecChannel, path: string, argv: readonly string[], options: ExecOptions, callTimeoutMs: number, output: Output, started: number): Promise<Ending> {
  if (options.signal?.aborted) return { kind: 'canceled' };
  // Everything this exec waits on ends with it: timers, listeners, the wait request, the sockets.
  const finished = new AbortController();
  const sockets: WebSocket[] = [];
  const stopped = new Promise<Ending>((resolve) => {
    // 0 or none: no deadline, as with the client.
    if (options.timeoutMs) {
      const timer = setTimeout(() => resolve({ kind: 'timeout' }), Math.max(0, started + options.timeoutMs - performance.now()));
      finished.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    }
    options.signal?.addEventListener('abort', () => resolve({ kind: 'canceled' }), { once: true, signal: finished.signal });
  });
  try {
    const { WebSocket } = await loadWs();
    const bound = Math.min(callTimeoutMs, options.timeoutMs || callTimeoutMs);
    // TERM as the client sends it (even without a terminal), so that a command sees what it saw through `lxc exec`.
    const environment = { ...(process.env.TERM ? { TERM: process.env.TERM } : {}), ...options.env };
    const body = { command: argv, environment, 'wait-for-websocket': true, interactive: false, 'record-output': false };
    const created = await race(channel.send('POST', path, body, bound, finished.signal), stopped);
    if ('kind' in created) return created;
    const operation = created.operation && operationPath(created.operation);
    const fds = (created.metadata as OperationAnswer | undefined)?.metadata?.fds;
    if (!operation || !fds?.['0'] || !fds['1'] || !fds['2'] || !fds.control) return { kind: 'failed', message: `${channel.server} answered the exec without its websockets` };
    // A restricted certificate reaches an operation only through its project.
    const projectName = new URLSearchParams(path.split('?')[1] ?? '').get('project');
    const project = projectName === null ? '' : `project=${encodeURIComponent(projectName)}`;
    const connect = (secret: string) => {
      const { address, tls } = channel.socket(withQuery(`${operation}/websocket`, `secret=${encodeURIComponent(secret)}`, project));
      const socket = new WebSocket(address, { ...tls, perMessageDeflate: false, handshakeTimeout: bound });
      // Errors are read where they matter (opening, the output); one after the end must not throw.
      socket.on('error', () => {});
      sockets.push(socket);
      return socket;
    };
    const control = connect(fds.control);
    const stdin = connect(fds['0']);
    const streams = [output.follow(connect(fds['1']), 'stdout'), output.follow(connect(fds['2']), 'stderr')];
    // stdin reads EOF at once (`-n`): an empty text message is LXD's end of a stream, as its client sends it.
    stdin.on('open', () => stdin.send('', () => stdin.close(1000)));
    const opened = await race(Promise.all(sockets.map(opening)), stopped);
    if (!Array.isArray(opened)) return opened;
    const exited = waitOperation(channel, operation, project, finished.signal);
    const first = await race(exited, stopped);
    if (first.kind === 'timeout' || first.kind === 'canceled') {
      // LXD kills the command inside; waiting for its operation to end says it is gone.
      control.send(JSON.stringify({ command: 'signal', signal: SIGKILL }), () => {});
      await race(exited, delay(KILL_GRACE_MS, finished.signal));
      return first;
    }
    await race(Promise.all(streams), delay(DRAIN_MS, finished.signal));
    return first;
  } catch (error) {
    return { kind: 'failed', message: error instanceof Error ? error.message : String(error) };
  } finally {
    finished.abort();
    // Dropped, not closed: a control socket that drops makes LXD kill a command still running.
    for (const socket of sockets) socket.terminate();
  }
}

/** The operation's end: its exit code, or LXD's failure. */
async function waitOperation(channel: ExecChannel, operation: string, project: string, signal: AbortSignal): Promise<Ending> {
  for (;;) {
    let answer: OperationAnswer;
    try {
      answer = ((await channel.send('GET', withQuery(`${operation}/wait`, 'timeout=-1', project), undefined, WAIT_SLICE_MS, signal)).metadata ?? {}) as OperationAnswer;
    } catch (error) {
      if (error instanceof LxdError && error.kind === 'timeout' && !signal.aborted) continue;
      const message = error instanceof Error ? error.message : String(error);
      // Incus answers the wait of a failed operation with its error alone; the operation itself
      // still tells the exit code (127 for a command that is not there).
      if (!(error instanceof LxdError && error.httpStatus !== null) || signal.aborted) return { kind: 'failed', message };
      answer = await channel.send('GET', withQuery(operation, project), undefined, WAIT_SLICE_MS, signal)
        .then((read) => (read.metadata ?? {}) as OperationAnswer, () => ({ status: 'Failure', err: message }));
    }
    const code = answer.metadata?.return;
    if (answer.status === 'Success' && typeof code === 'number') return { kind: 'exit', code };
    if (answer.status === 'Success' || answer.status === 'Failure' || answer.status === 'Cancelled') {
      const message = answer.err || `exec: operation ${String(answer.status).toLowerCase()}`;
      // -1: LXD's own "no exit code", the command never ran or was not waited on.
      return typeof code === 'number' && code >= 0 ? { kind: 'exit', code, error: message } : { kind: 'failed', message };
    }
  }
}

/** The command's output as it comes, per stream, decoded without splitting a character. */
class Output {
  private readonly text = { stdout: '', stderr: '' };
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };

  constructor(private readonly onOutput: ((chunk: string) => void) | undefined) {}

  /** Resolves when the stream ends: LXD's empty text message, or the socket's close. */
  follow(socket: WebSocket, stream: 'stdout' | 'stderr'): Promise<void> {
    return new Promise((resolve) => {
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) return resolve();
        this.add(stream, this.decoders[stream].write(data));
      });
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
  }

  end(): { stdout: string; stderr: string } {
    this.add('stdout', this.decoders.stdout.end());
    this.add('stderr', this.decoders.stderr.end());
    return { stdout: this.kept('stdout'), stderr: this.kept('stderr') };
  }

  private add(stream: 'stdout' | 'stderr', chunk: string): void {
    if (chunk === '') return;
    this.text[stream] += chunk;
    // Cut back to the bound only past twice it, so that a flood costs one copy per bound, not per message.
    if (this.text[stream].length > 2 * KEPT_OUTPUT_CHARS) this.text[stream] = this.text[stream].slice(-KEPT_OUTPUT_CHARS);
    this.onOutput?.(chunk);
  }

  /** Each stream's end, within the bound. */
  private kept(stream: 'stdout' | 'stderr'): string {
    return this.text[stream].length > KEPT_OUTPUT_CHARS ? this.text[stream].slice(-KEPT_OUTPUT_CHARS) : this.text[stream];
  }
}

function opening(socket: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', (error) => reject(new Error(`the exec's websocket: ${error.message}`, { cause: error })));
  });
}

/** The first of two to settle; a rejection of `work` is thrown. */
function race<T, U>(work: Promise<T>, other: Promise<U>): Promise<T | U> {
  return Promise.race([work, other]);
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
