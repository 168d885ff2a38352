import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Dialect } from './dialect.js';

/** One remote of the client's `config.yml`, as the client reads it. */
export interface RemoteEntry {
  addr: string;
  protocol: string;
  authType: string;
  /** The remote's current project (`lxc project switch`); '' for `default`. */
  project: string;
  public: boolean;
}

/**
 * The client's own configuration (`lxc`'s or `incus`'s): its remotes, its default remote, and the
 * folder with its certificates. safeupdate reads the same files so that it reaches the same
 * servers, as the same client, in the same projects as the operator's client does.
 */
export interface ClientConfig {
  dir: string;
  defaultRemote: string;
  remotes: Record<string, RemoteEntry>;
}

/**
 * Where a remote is reached without the client: the local daemon's unix socket, or HTTPS with the
 * client's certificate. null for what safeupdate leaves to the client (simplestreams, another
 * authentication, a PKI setup with `client.ca`, a remote it does not know).
 */
export type Endpoint =
  | { kind: 'unix'; socketPath: string }
  | { kind: 'https'; url: URL; clientCert: string; clientKey: string; serverCert: string | null };

/** The client's configuration folder: `$LXD_CONF` (`$INCUS_CONF`), else the snap's or `~/.config/<client>`. */
export function clientConfigDir(dialect: Dialect, env: NodeJS.ProcessEnv, exists: (path: string) => boolean = existsSync): string {
  const given = env[dialect.configEnv];
  if (given) return given;
  const home = env.HOME || homedir();
  const plain = join(home, '.config', dialect.client);
  // The snap's client keeps its configuration inside the snap's folder.
  const snap = join(home, 'snap', 'lxd', 'common', 'config');
  return dialect.client === 'lxc' && !exists(plain) && exists(snap) ? snap : plain;
}

/**
 * The configuration as the client itself loads it (lxc/config/file.go): a missing file is the
 * default configuration; `local` always means the unix socket (a static remote that keeps only its
 * project from the file); `LXC_REMOTE` (`INCUS_REMOTE`) overrides the default remote; a private
 * remote without `auth_type` is `tls`.
 */
export function parseClientConfig(dialect: Dialect, dir: string, document: unknown, env: NodeJS.ProcessEnv): ClientConfig {
  const raw = (document && typeof document === 'object' ? document : {}) as { 'default-remote'?: unknown; remotes?: unknown };
  const remotes: Record<string, RemoteEntry> = {};
  const listed = raw.remotes && typeof raw.remotes === 'object' ? (raw.remotes as Record<string, Record<string, unknown>>) : {};
  for (const [name, entry] of Object.entries(listed)) {
    if (!entry || typeof entry !== 'object') continue;
    const isPublic = entry.public === true;
    remotes[name] = {
      addr: typeof entry.addr === 'string' ? entry.addr : '',
      protocol: typeof entry.protocol === 'string' && entry.protocol !== '' ? entry.protocol : dialect.client === 'lxc' ? 'lxd' : 'incus',
      authType: typeof entry.auth_type === 'string' && entry.auth_type !== '' ? entry.auth_type : isPublic ? '' : 'tls',
      project: typeof entry.project === 'string' ? entry.project : '',
      public: isPublic,
    };
  }
  remotes.local = { addr: 'unix://', protocol: dialect.client === 'lxc' ? 'lxd' : 'incus', authType: 'tls', project: remotes.local?.project ?? '', public: false };
  const fromEnv = env[dialect.client === 'lxc' ? 'LXC_REMOTE' : 'INCUS_REMOTE'];
  const fromFile = typeof raw['default-remote'] === 'string' ? raw['default-remote'] : '';
  return { dir, defaultRemote: fromEnv || fromFile || 'local', remotes };
}

/**
 * Reads the client's configuration; null when it cannot be read as the client would (unreadable,
 * not YAML): then every call goes through the client, which says what is wrong.
 */
export async function loadClientConfig(dialect: Dialect, env: NodeJS.ProcessEnv): Promise<ClientConfig | null> {
  const dir = clientConfigDir(dialect, env);
  let text = '';
  try {
    text = readFileSync(join(dir, 'config.yml'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return null;
  }
  try {
    const { parse } = await import('yaml');
    return parseClientConfig(dialect, dir, text === '' ? {} : parse(text), env);
  } catch {
    return null;
  }
}

/** How one remote is reached without the client, or null (see `Endpoint`). */
export function endpointFor(dialect: Dialect, config: ClientConfig, remote: string, env: NodeJS.ProcessEnv, exists: (path: string) => boolean = existsSync): Endpoint | null {
  const entry = config.remotes[remote];
  if (!entry) return null;
  if (entry.addr.startsWith('unix:')) {
    const path = entry.addr.replace(/^unix:(\/\/)?/, '');
    return { kind: 'unix', socketPath: path || localSocket(dialect, env, exists) };
  }
  if (!entry.addr.startsWith('https://') || !['lxd', 'incus'].includes(entry.protocol) || entry.authType !== 'tls') return null;
  const file = (name: string) => join(config.dir, name);
  // A PKI setup verifies the server against client.ca: left to the client.
  if (exists(file('client.ca')) || !exists(file('client.crt')) || !exists(file('client.key'))) return null;
  const serverCert = file(join('servercerts', `${remote}.crt`));
  return { kind: 'https', url: new URL(entry.addr), clientCert: file('client.crt'), clientKey: file('client.key'), serverCert: exists(serverCert) ? serverCert : null };
}

/** The local daemon's socket as the client finds it: `$LXD_SOCKET`, else `$LXD_DIR/unix.socket`, else the default folder's (or the snap's). */
export function localSocket(dialect: Dialect, env: NodeJS.ProcessEnv, exists: (path: string) => boolean = existsSync): string {
  const socket = env[dialect.client === 'lxc' ? 'LXD_SOCKET' : 'INCUS_SOCKET'];
  if (socket) return socket;
  const dir = env[dialect.daemonDirEnv];
  if (dir) return join(dir, 'unix.socket');
  const standard = join(dialect.daemonDir, 'unix.socket');
  const snap = '/var/snap/lxd/common/lxd/unix.socket';
  return dialect.client === 'lxc' && !exists(standard) && exists(snap) ? snap : standard;
}

/** Reads a certificate or key file named by an endpoint (synchronously: once per remote and run). */
export function readPem(path: string): string {
  return readFileSync(path, 'utf8');
}
