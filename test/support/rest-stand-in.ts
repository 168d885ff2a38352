import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A request the stand-in server received. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
  /** The client certificate's SHA-256 fingerprint (HTTPS), as the server saw it. */
  clientFingerprint: string | null;
}

/** What a route answers: a status and an envelope, 'hang' (never answer) or 'drop' (close the connection). */
export type Reply = { status?: number; body: unknown; etag?: string } | 'hang' | 'drop' | 'not-json';

/** A route's answer; a promise answers when it settles (an operation's wait). */
export type Route = (request: ReceivedRequest) => Reply | Promise<Reply> | undefined;

/** LXD's envelopes, as the daemon sends them. */
export const sync = (metadata: unknown, etag?: string): Reply => ({ body: { type: 'sync', status: 'Success', status_code: 200, metadata }, ...(etag ? { etag } : {}) });
export const async_ = (operation: string): Reply => ({ status: 202, body: { type: 'async', status: 'Operation created', status_code: 100, operation, metadata: { id: operation.split('/').pop() } } });
export const error = (status: number, message: string): Reply => ({ status, body: { type: 'error', error: message, error_code: status } });
/** An operation's state as its wait answers it; LXD's statuses (shared/api/status_code.go). */
export type OperationStatus = 'Pending' | 'Running' | 'Cancelling' | 'Success' | 'Failure' | 'Cancelled';
export const operation = (status: OperationStatus, err = ''): Reply => sync({ status, err });

/**
 * A stand-in LXD REST server for unit tests: answers scripted routes in order (the first route
 * that answers wins), records every request, and fails loudly on a request nobody scripted.
 */
export class RestStandIn {
  readonly received: ReceivedRequest[] = [];
  private routes: Route[] = [];
  private server: Server | null = null;

  script(...routes: Route[]): void {
    this.routes = routes;
    this.received.length = 0;
  }

  async listenUnix(socketPath: string): Promise<void> {
    this.server = createHttpServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(socketPath, resolve));
  }

  /** HTTPS on loopback with this certificate; asks for the client's certificate. Returns the port. */
  async listenHttps(cert: string, key: string): Promise<number> {
    this.server = createHttpsServer({ cert, key, requestCert: true, rejectUnauthorized: false }, (req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  /** The server, for a stand-in that also answers its upgrades (exec's websockets). */
  get httpServer(): Server {
    if (!this.server) throw new Error('the stand-in does not listen yet');
    return this.server;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const peer = (req.socket as Partial<TLSSocket>).getPeerCertificate?.();
      const request: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: text === '' ? undefined : (JSON.parse(text) as unknown),
        clientFingerprint: peer && peer.fingerprint256 ? peer.fingerprint256 : null,
      };
      this.received.push(request);
      const reply = await (this.routes.map((route) => route(request)).find((answer) => answer !== undefined) ?? error(599, `unscripted request ${request.method} ${request.url}`));
      if (reply === 'hang') return;
      if (reply === 'drop') {
        req.socket.destroy();
        return;
      }
      if (reply === 'not-json') {
        res.writeHead(502, { 'Content-Type': 'text/html' }).end('<html>bad gateway</html>');
        return;
      }
      res.writeHead(reply.status ?? 200, { 'Content-Type': 'application/json', ...(reply.etag ? { ETag: reply.etag } : {}) }).end(JSON.stringify(reply.body));
    });
  }
}

/**
 * A route answering one method and path (the query included, exactly; a trailing `*` matches any
 * rest), `times` times (default: always).
 */
export function on(method: string, url: string, reply: Reply, times = Infinity): Route {
  let left = times;
  const matches = (requested: string) => (url.endsWith('*') ? requested.startsWith(url.slice(0, -1)) : requested === url);
  return (request) => {
    if (request.method !== method || !matches(request.url) || left <= 0) return undefined;
    left -= 1;
    return reply;
  };
}

/** A self-signed certificate and key made with openssl, and their folder (removed by `remove`). */
export function selfSigned(commonName: string): { cert: string; key: string; dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'rest-cert-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${commonName}`, '-addext', `subjectAltName=DNS:${commonName}`,
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  return {
    cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    key: readFileSync(join(dir, 'key.pem'), 'utf8'),
    dir,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A certificate issued by `ca` (made by selfSigned), as a private CA would issue a server's. */
export function issuedBy(ca: { cert: string; key: string; dir: string }, commonName: string): { cert: string; dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'rest-cert-'));
  execFileSync('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${commonName}`, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'req.pem')], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'req.pem'), '-CA', join(ca.dir, 'cert.pem'), '-CAkey', join(ca.dir, 'key.pem'), '-CAcreateserial', '-days', '2', '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
