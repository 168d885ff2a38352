import { accessSync, constants, existsSync, readFileSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse } from 'yaml';
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
 * client's certificate and the server's stored certificate. null for what safeupdate leaves to the
 * client (simplestreams, another authentication, a PKI setup with `client.ca`, no stored server
 * certificate, a proxy, a socket this user cannot use, a remote it does not know).
 */
export type Endpoint =
  | { kind: 'unix'; socketPath: string }
  | { kind: 'https'; url: URL; clientCert: string; clientKey: string; serverCert: string };

/** The client's configuration folder: `$LXD_CONF` (`$INCUS_CONF`), else `~/.config/<client>`. */
export function clientConfigDir(dialect: Dialect, env: NodeJS.ProcessEnv): string {
  return env[dialect.configEnv] || join(env.HOME || homedir(), '.config', dialect.client);
}

/**
 * Whether the client on PATH is the snap's. Its wrapper sets its own configuration folder and
 * daemon folder whatever the environment says (and copies `~/.config/lxc` once, after which the
 * two drift apart): safeupdate cannot know for certain which files it reads, so it leaves every
 * call to it.
 */
export function isSnapClient(dialect: Dialect, env: NodeJS.ProcessEnv, realpath: (path: string) => string = realpathSync): boolean {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const path = join(dir, dialect.client);
    try {
      accessSync(path, constants.X_OK);
    } catch {
      continue;
    }
    // /snap/bin/lxc is a link to /usr/bin/snap, which runs the snap's wrapper.
    const target = realpath(path);
    return dir.startsWith('/snap/') || target.startsWith('/snap/') || target === '/usr/bin/snap';
  }
  return false;
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
  if (isSnapClient(dialect, env)) return null;
  const dir = clientConfigDir(dialect, env);
  let text = '';
  try {
    text = readFileSync(join(dir, 'config.yml'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return null;
  }
  try {
    return parseClientConfig(dialect, dir, text === '' ? {} : parse(text), env);
  } catch {
    return null;
  }
}

/** How one remote is reached without the client, or null (see `Endpoint`). */
export function endpointFor(dialect: Dialect, config: ClientConfig, remote: string, env: NodeJS.ProcessEnv, exists: (path: string) => boolean = existsSync, usable: (socket: string) => boolean = canUseSocket): Endpoint | null {
  const entry = config.remotes[remote];
  if (!entry) return null;
  if (entry.addr.startsWith('unix:')) {
    // A socket this user may not use is the client's to find a way around (Incus' user socket, lxd-user).
    const path = entry.addr.replace(/^unix:(\/\/)?/, '') || localSocket(dialect, env);
    return usable(path) ? { kind: 'unix', socketPath: path } : null;
  }
  if (!entry.addr.startsWith('https://') || !['lxd', 'incus'].includes(entry.protocol) || entry.authType !== 'tls') return null;
  // The client goes through a proxy where one is set; safeupdate does not.
  if (['HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy'].some((name) => env[name])) return null;
  const file = (name: string) => join(config.dir, name);
  // A PKI setup verifies the server against client.ca; a server without a stored certificate is
  // verified against the system's trust store, which Node does not read: both left to the client.
  const serverCert = file(join('servercerts', `${remote}.crt`));
  if (exists(file('client.ca')) || !exists(file('client.crt')) || !exists(file('client.key')) || !exists(serverCert)) return null;
  return { kind: 'https', url: new URL(entry.addr), clientCert: file('client.crt'), clientKey: file('client.key'), serverCert };
}

/** The local daemon's socket as the client finds it: `$LXD_SOCKET`, else `$LXD_DIR/unix.socket`, else the default folder's. */
export function localSocket(dialect: Dialect, env: NodeJS.ProcessEnv): string {
  const socket = env[dialect.client === 'lxc' ? 'LXD_SOCKET' : 'INCUS_SOCKET'];
  if (socket) return socket;
  return join(env[dialect.daemonDirEnv] || dialect.daemonDir, 'unix.socket');
}

function canUseSocket(path: string): boolean {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
