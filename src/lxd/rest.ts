import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { LxdError } from '../errors.js';
import { operationPath } from './api.js';
import { endpointFor, type ClientConfig, type Endpoint } from './client-config.js';
import type { Dialect } from './dialect.js';
import type { LxdCall } from './lxd.js';
import type { ExecChannel } from './rest-exec.js';

export interface RestOptions {
  dialect: Dialect;
  config: ClientConfig;
  env: NodeJS.ProcessEnv;
  onCall: (call: LxdCall) => void;
}

export interface RestAnswer {
  metadata: unknown;
  /** The resource's ETag, for a write that must not overwrite someone else's change. */
  etag: string | null;
}

export interface RestRequest {
  body?: unknown;
  timeoutMs: number;
  /** Sent as If-Match: the write fails with 412 when the resource changed since it was read. */
  ifMatch?: string;
}

interface Envelope {
  type?: string;
  error?: string;
  error_code?: number;
  operation?: string;
  metadata?: unknown;
}

type TlsSettings = Pick<ConnectionOptions, 'cert' | 'key' | 'ca' | 'checkServerIdentity'>;

interface Operation {
  status?: string;
  err?: string;
}

/**
 * LXD's (and Incus') REST API spoken directly: over the unix socket for the local daemon, over
 * HTTPS with the client's own certificate for remotes. One request costs about a millisecond
 * where one client process costs about thirty. A request that starts an operation returns once the
 * operation has ended (as `lxc query --wait` does), and fails with the operation's error.
 */
export class RestApi {
  private readonly agents = new Map<string, HttpAgent | null>();

  constructor(private readonly options: RestOptions) {}

  get defaultRemote(): string {
    return this.options.config.defaultRemote;
  }

  /** The remote's current project, as the client would use it. */
  currentProject(remote: string): string {
    return this.options.config.remotes[remote]?.project || 'default';
  }

  /** Whether this remote is reached directly; false leaves it to the client. */
  serves(remote: string): boolean {
    return this.agentFor(remote) !== null;
  }

  async request(remote: string, method: string, path: string, request: RestRequest): Promise<RestAnswer> {
    // Deadlines and durations on the monotonic clock: a step of the wall clock must not cut a wait short.
    const deadline = performance.now() + request.timeoutMs;
    const answer = await this.send(remote, method, path, request.body, request.timeoutMs, request.ifMatch ? { ifMatch: request.ifMatch } : {});
    if (answer.envelope.type !== 'async' || !answer.envelope.operation) return { metadata: answer.envelope.metadata, etag: answer.etag };
    // A restricted certificate reaches an operation only through its project.
    const project = new URLSearchParams(path.split('?')[1] ?? '').get('project');
    const projectParam = project === null ? '' : `&project=${encodeURIComponent(project)}`;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) throw this.timeout(remote, method, path, request.timeoutMs);
      // One wait until the operation ends, bounded here at the call's deadline: a server-side
      // timeout would be answered by newer LXD with an error ("context deadline exceeded") while the
      // operation goes on, which must never read as the operation having failed.
      const waited = await this.send(remote, 'GET', `${operationPath(answer.envelope.operation)}/wait?timeout=-1${projectParam}`, undefined, left);
      const operation = (waited.envelope.metadata ?? {}) as Operation;
      if (operation.status === 'Success') return { metadata: operation, etag: null };
      if (operation.status === 'Failure' || operation.status === 'Cancelled') {
        throw classify(operation.err || `${method} ${path}: operation ${operation.status.toLowerCase()}`, 500, [remote, method, path]);
      }
    }
  }

  /**
   * A file's bytes as the server reads it inside the instance (`GET .../files?path=`), never more
   * than `maxBytes`; null when there is no such file. Only regular files: the server answers a
   * symlink with its target, which is refused here, as is a folder.
   */
  readFile(remote: string, path: string, limits: { maxBytes: number; timeoutMs: number }): Promise<string | null> {
    const agent = this.agentFor(remote);
    const endpoint = this.endpoints.get(remote);
    if (!agent || !endpoint) throw new LxdError(`remote "${remote}" is not reached directly`, 'failed', [remote, 'GET', path]);
    const command = [`${remote}:`, 'GET', path];
    return new Promise((resolve, reject) => {
      const settle = settleOnce(command, this.options.onCall, () => {
        clearTimeout(timer);
        req.destroy();
      });
      const req = (endpoint.kind === 'unix'
        ? httpRequest({ method: 'GET', agent, socketPath: endpoint.socketPath, path, host: 'unix.socket' })
        : httpsRequest(new URL(path, endpoint.url), { method: 'GET', agent }));
      req.on('response', (res: IncomingMessage) => {
        const status = res.statusCode ?? 500;
        if (status === 404) return settle(true, () => resolve(null));
        const type = String(res.headers['x-lxd-type'] ?? res.headers['x-incus-type'] ?? 'file');
        if (status >= 400 || type !== 'file') {
          return settle(false, () => reject(new LxdError(`${this.server} answered GET ${path} with HTTP ${status} (${type})`, 'failed', command, { httpStatus: status })));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limits.maxBytes) return settle(false, () => reject(new LxdError(`${path}: more than ${limits.maxBytes} bytes`, 'failed', command)));
          chunks.push(chunk);
        });
        res.on('error', (error) => settle(false, () => reject(this.unreachable(remote, error, command))));
        res.on('end', () => settle(true, () => resolve(Buffer.concat(chunks).toString('utf8'))));
      });
      const timer = setTimeout(() => settle(false, () => reject(this.timeout(remote, 'GET', path, limits.timeoutMs))), limits.timeoutMs);
      req.on('error', (error) => settle(false, () => reject(this.unreachable(remote, error, command))));
      req.end();
    });
  }

  /**
   * What an exec needs of this remote (see runExec): its requests, which it records as one call
   * itself, and where its websockets connect, with the same socket or TLS identity as a request.
   */
  execChannel(remote: string): ExecChannel {
    const agent = this.agentFor(remote);
    const endpoint = this.endpoints.get(remote);
    if (!agent || !endpoint) throw new LxdError(`remote "${remote}" is not reached directly`, 'failed', [remote, 'exec']);
    return {
      server: this.server,
      remote,
      send: async (method, path, body, timeoutMs, signal) => (await this.send(remote, method, path, body, timeoutMs, { record: false, ...(signal ? { signal } : {}) })).envelope,
      // ws takes a unix socket as `ws+unix:SOCKET:PATH`; over HTTPS the request's own TLS settings.
      socket: (path) => endpoint.kind === 'unix'
        ? { address: `ws+unix:${endpoint.socketPath}:${path}`, tls: {} }
        : { address: new URL(path, endpoint.url).href.replace(/^https:/, 'wss:'), tls: this.tls.get(remote) ?? {} },
      record: this.options.onCall,
    };
  }

  /**
   * `record: false`: a part of a larger call that records itself (an exec). `signal` ends the wait
   * for an answer (the request is dropped), as a timeout does.
   */
  private send(remote: string, method: string, path: string, body: unknown, timeoutMs: number, extra: { ifMatch?: string; record?: boolean; signal?: AbortSignal } = {}): Promise<{ envelope: Envelope; etag: string | null }> {
    const { ifMatch, record = true, signal } = extra;
    const agent = this.agentFor(remote);
    const endpoint = this.endpoints.get(remote);
    if (!agent || !endpoint) throw new LxdError(`remote "${remote}" is not reached directly`, 'failed', [remote, method, path]);
    const command = [`${remote}:`, method, path];
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string | number> = {
      ...(data === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) }),
      ...(ifMatch ? { 'If-Match': ifMatch } : {}),
    };
    return new Promise((resolve, reject) => {
      const settle = settleOnce(command, record ? this.options.onCall : () => {}, () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      });
      const onResponse = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => settle(false, () => reject(this.unreachable(remote, error, command))));
        res.on('end', () => {
          const status = res.statusCode ?? 500;
          let envelope: Envelope;
          try {
            envelope = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Envelope;
          } catch {
            settle(false, () => reject(new LxdError(`${this.server} answered ${method} ${path} with HTTP ${status} and no JSON`, 'failed', command)));
            return;
          }
          if (envelope.type === 'error' || status >= 400) {
            settle(false, () => reject(classify(envelope.error || `${method} ${path}: HTTP ${status}`, envelope.error_code ?? status, command)));
            return;
          }
          const etag = res.headers.etag ?? null;
          settle(true, () => resolve({ envelope, etag }));
        });
      };
      const options = { method, headers, agent };
      const req = endpoint.kind === 'unix'
        ? httpRequest({ ...options, socketPath: endpoint.socketPath, path, host: 'unix.socket' }, onResponse)
        : httpsRequest(new URL(path, endpoint.url), options, onResponse);
      // A daemon that accepts and never answers must give an error, not a hang.
      const timer = setTimeout(() => {
        settle(false, () => reject(this.timeout(remote, method, path, timeoutMs)));
        req.destroy();
      }, timeoutMs);
      const onAbort = () => {
        settle(false, () => reject(new LxdError(`${method} ${path}: given up`, 'failed', command)));
        req.destroy();
      };
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (error) => settle(false, () => reject(this.unreachable(remote, error, command))));
      req.end(data);
    });
  }

  private readonly endpoints = new Map<string, Endpoint>();
  /** The HTTPS remotes' TLS settings, for the websockets of an exec. */
  private readonly tls = new Map<string, TlsSettings>();

  private agentFor(remote: string): HttpAgent | null {
    if (this.agents.has(remote)) return this.agents.get(remote)!;
    const endpoint = endpointFor(this.options.dialect, this.options.config, remote, this.options.env);
    let agent: HttpAgent | null = null;
    // No cap on sockets: a fleet's runs each hold one while they wait on an operation, and a request
    // queued behind them in Node would time out without LXD ever having seen it.
    if (endpoint?.kind === 'unix') agent = new HttpAgent({ keepAlive: true });
    if (endpoint?.kind === 'https') {
      const tls = tlsSettings(endpoint);
      if (tls) {
        this.tls.set(remote, tls);
        agent = new HttpsAgent({ keepAlive: true, ...tls });
      }
    }
    if (endpoint && agent) this.endpoints.set(remote, endpoint);
    this.agents.set(remote, agent);
    return agent;
  }

  private get server(): string {
    return this.options.dialect.server;
  }

  private timeout(remote: string, method: string, path: string, timeoutMs: number): LxdError {
    return new LxdError(`${this.server} did not answer within ${Math.round(timeoutMs / 1000)}s (${remote}: ${method} ${path})`, 'timeout', [`${remote}:`, method, path]);
  }

  private unreachable(remote: string, error: Error, command: string[]): LxdError {
    const endpoint = this.endpoints.get(remote);
    const where = endpoint?.kind === 'unix' ? `socket ${endpoint.socketPath}` : endpoint ? endpoint.url.origin : remote;
    return new LxdError(`${this.server} is not reachable: ${error.message} (${remote}: at ${where})`, 'unreachable', command, { cause: error });
  }
}

/**
 * A request's one ending: the first of its answer, its error and its timer counts (the call is
 * recorded once, with its monotonic duration); the others are ignored.
 */
function settleOnce(command: string[], onCall: (call: LxdCall) => void, cleanup: () => void): (ok: boolean, outcome: () => void) => void {
  const started = performance.now();
  let settled = false;
  return (ok, outcome) => {
    if (settled) return;
    settled = true;
    cleanup();
    onCall({ command, durationMs: Math.round(performance.now() - started), ok, process: false });
    outcome();
  };
}

/**
 * The client's TLS: its own certificate, and the server's self-signed certificate from
 * `servercerts/` pinned exactly (the address is usually an IP the certificate does not name, so the
 * name is not checked, the certificate itself is). null, and so the client, when a file cannot be
 * read or the stored certificate is issued by a CA: Node cannot trust a leaf without its chain,
 * where the client compares the certificate itself.
 */
function tlsSettings(endpoint: Extract<Endpoint, { kind: 'https' }>): TlsSettings | null {
  try {
    // Read once per remote and run, when its first request is made.
    const cert = readFileSync(endpoint.clientCert, 'utf8');
    const key = readFileSync(endpoint.clientKey, 'utf8');
    const pinned = readFileSync(endpoint.serverCert, 'utf8');
    const stored = new X509Certificate(pinned);
    if (!stored.checkIssued(stored)) return null;
    const fingerprint = stored.fingerprint256;
    return {
      cert,
      key,
      ca: pinned,
      checkServerIdentity: (_host: string, peer: PeerCertificate) =>
        peer.fingerprint256 === fingerprint ? undefined : new Error(`the server's certificate (${peer.fingerprint256}) is not the one stored in ${endpoint.serverCert} (${fingerprint})`),
    };
  } catch {
    return null;
  }
}

/** The daemon's own words, sorted as the client's are: 404 (and "not found") is `not-found`. */
function classify(message: string, code: number, command: string[]): LxdError {
  const notFound = code === 404 || /not found|does not exist/i.test(message);
  return new LxdError(message, notFound ? 'not-found' : 'failed', command, { httpStatus: code });
}
