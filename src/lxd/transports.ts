import type { ClientTransport } from './client-transport.js';
import type { RestAnswer, RestApi } from './rest.js';

/** The REST API and the remote's name, when the remote is reached directly. */
export interface Direct {
  api: RestApi;
  remote: string;
}

/**
 * The one rule that picks a transport per call: the REST API where it reaches the remote (the local
 * socket, HTTPS with the client's certificate; see RestApi), else the command-line client.
 */
export class Transports {
  private api: Promise<RestApi | null> | undefined;

  constructor(
    readonly client: ClientTransport,
    private readonly loadApi: () => Promise<RestApi | null>,
    private readonly callTimeoutMs: number,
  ) {}

  /** One call, carried by the REST API where it reaches the remote, else by the client. */
  async pick<T>(remote: string | null, calls: { rest: (direct: Direct) => Promise<T>; client: (client: ClientTransport) => Promise<T> }): Promise<T> {
    const direct = await this.direct(remote);
    return direct ? calls.rest(direct) : calls.client(this.client);
  }

  async defaultRemote(): Promise<string> {
    const api = await this.restApi();
    if (api) return api.defaultRemote;
    return this.client.defaultRemote();
  }

  /** A GET with the resource's ETag, which only the direct API tells (null through the client). */
  read(remote: string | null, path: string): Promise<RestAnswer> {
    return this.pick(remote, {
      rest: (direct) => direct.api.request(direct.remote, 'GET', path, { timeoutMs: this.callTimeoutMs }),
      client: (client) => client.query(remote, path, this.callTimeoutMs),
    });
  }

  /** One API write, directly where the remote allows it, else through `lxc query`; an operation is waited on either way. */
  async request(remote: string | null, method: string, path: string, body?: unknown, timeoutMs = this.callTimeoutMs): Promise<void> {
    await this.pick(remote, {
      rest: async (direct) => {
        await direct.api.request(direct.remote, method, path, { body, timeoutMs });
      },
      client: (client) => client.queryWait(remote, method, path, body, timeoutMs),
    });
  }

  /** A change through the API where the remote is reached directly, else through the client's own command for it. */
  async write(remote: string | null, method: string, path: string, body: unknown, viaClient: (client: ClientTransport) => Promise<void>, timeoutMs = this.callTimeoutMs): Promise<void> {
    await this.pick(remote, {
      rest: async (direct) => {
        await direct.api.request(direct.remote, method, path, { body, timeoutMs });
      },
      client: viaClient,
    });
  }

  private async restApi(): Promise<RestApi | null> {
    this.api ??= this.loadApi();
    return this.api;
  }

  /** The REST API and the remote's name, when the remote is reached directly; null: through the client. */
  private async direct(remote: string | null): Promise<Direct | null> {
    const api = await this.restApi();
    if (!api) return null;
    const name = remote ?? api.defaultRemote;
    return api.serves(name) ? { api, remote: name } : null;
  }
}
