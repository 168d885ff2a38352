import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { error, sync, type Reply, type RestStandIn, type Route } from './rest-stand-in.js';

/** What the stand-in's command does once LXD would start it (stdin, stdout and stderr connected). */
export interface ExecScript {
  /** Written in order, each one binary message on its stream. */
  output?: Array<{ fd: 1 | 2; data: string | Buffer }>;
  /** Its exit code; absent: it runs until a signal comes on the control socket (exit 128 + signal). */
  exit?: number;
  /**
   * The operation fails with this error and return instead (LXD: -1 when it could not run the
   * command, 127 when there is no such command). `incus`: its wait answers as Incus' does, with the
   * error alone; a GET of the operation tells the rest.
   */
  fail?: { err: string; code: number; incus?: boolean };
  /** After the output, the daemon goes away: every websocket and the wait's connection drop. */
  drop?: boolean;
  /** The POST is refused with this status and error (the instance is not running). */
  refuse?: { status: number; message: string };
  /** The operation's URL carries its project, as a cluster member answers a forwarded request. */
  clustered?: boolean;
}

/** What the client did on the exec's sockets, as the stand-in saw it. */
export interface ExecSeen {
  body: unknown;
  /** The websockets connected, by fd ('0', '1', '2', 'control'), in order. */
  connected: string[];
  /** Messages on stdin: binary data, '' for LXD's end-of-stream (an empty text message). */
  stdin: Array<string | Buffer>;
  stdinClosed: boolean;
  /** JSON messages on the control socket. */
  control: unknown[];
  /** The query of each websocket request (secret and project). */
  socketQueries: string[];
  /** Over HTTPS: the certificate each websocket's client presented (SHA-256 fingerprint). */
  socketFingerprints: Array<string | null>;
}

const OP = '/1.0/operations/e0e1';
const SECRETS: Record<string, string> = { '0': 's-stdin', '1': 's-stdout', '2': 's-stderr', control: 's-control' };

/**
 * LXD's exec as its API does it, on a RestStandIn's server: the POST answers an operation with four
 * websocket secrets; once stdin, stdout and stderr are connected the scripted command "runs": its
 * output goes out as binary messages, each stream ends with an empty text message, and the
 * operation's wait answers with its exit code. A command without an exit runs until signalled.
 */
export class ExecStandIn {
  readonly seen: ExecSeen[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  private script: ExecScript = { exit: 0 };
  private current: { seen: ExecSeen; sockets: Map<string, WebSocket>; ended: Promise<Reply>; end: (reply: Reply) => void; state?: Reply } | null = null;

  constructor(rest: RestStandIn) {
    rest.httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
  }

  /** The routes of one exec of `instancePath` (`/1.0/instances/web1/exec?project=qa`), its wait in `project`. */
  routes(instancePath: string, project: string, script: ExecScript): Route[] {
    this.script = script;
    return [
      (request) => {
        if (request.method !== 'POST' || request.url !== instancePath) return undefined;
        if (script.refuse) return error(script.refuse.status, script.refuse.message);
        let end: (reply: Reply) => void = () => {};
        const ended = new Promise<Reply>((resolve) => (end = resolve));
        const seen: ExecSeen = { body: request.body, connected: [], stdin: [], stdinClosed: false, control: [], socketQueries: [], socketFingerprints: [] };
        this.seen.push(seen);
        this.current = { seen, sockets: new Map(), ended, end };
        return { status: 202, body: { type: 'async', status: 'Operation created', status_code: 100, operation: script.clustered ? `${OP}?project=${project}` : OP, metadata: { id: 'e0e1', class: 'websocket', status: 'Running', metadata: { fds: { ...SECRETS } } } } };
      },
      (request) => (request.method === 'GET' && request.url === `${OP}/wait?timeout=-1&project=${project}` ? this.current?.ended : undefined),
      (request) => (request.method === 'GET' && request.url === `${OP}?project=${project}` ? this.current?.state : undefined),
    ];
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '', 'http://stand-in');
    const fd = Object.entries(SECRETS).find(([, secret]) => secret === url.searchParams.get('secret'))?.[0];
    const current = this.current;
    if (!current || url.pathname !== `${OP}/websocket` || fd === undefined) {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      current.seen.connected.push(fd);
      current.seen.socketQueries.push(url.search);
      current.seen.socketFingerprints.push((req.socket as Partial<TLSSocket>).getPeerCertificate?.().fingerprint256 ?? null);
      current.sockets.set(fd, ws);
      if (fd === '0') {
        ws.on('message', (data: Buffer, isBinary: boolean) => current.seen.stdin.push(isBinary ? data : data.toString()));
        ws.on('close', () => (current.seen.stdinClosed = true));
      }
      if (fd === 'control') {
        ws.on('message', (data: Buffer) => {
          const message = JSON.parse(data.toString()) as { command?: string; signal?: number };
          current.seen.control.push(message);
          if (message.command === 'signal' && message.signal) this.finish(current, 128 + message.signal);
        });
      }
      if (['0', '1', '2'].every((required) => current.sockets.has(required))) this.run(current);
    });
  }

  private run(current: NonNullable<ExecStandIn['current']>): void {
    const script = this.script;
    for (const { fd, data } of script.output ?? []) current.sockets.get(String(fd))!.send(typeof data === 'string' ? Buffer.from(data) : data, { binary: true });
    if (script.drop) {
      for (const ws of current.sockets.values()) ws.terminate();
      current.end('drop');
      return;
    }
    if (script.fail !== undefined) this.finish(current, script.fail.code, script.fail.err);
    else if (script.exit !== undefined) this.finish(current, script.exit);
  }

  /** The command's end, as LXD's: each output stream's end-of-stream, then the operation's return. */
  private finish(current: NonNullable<ExecStandIn['current']>, code: number, err = ''): void {
    for (const fd of ['1', '2']) current.sockets.get(fd)?.send('');
    current.state = sync({ status: err ? 'Failure' : 'Success', err, metadata: { return: code } });
    current.end(this.script.fail?.incus ? error(400, err) : current.state);
  }
}
