import { createHash } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { UsageError } from '../errors.js';

/** The command-line clients safeupdate drives: LXD's `lxc` and Incus' `incus`. */
export type ClientName = 'lxc' | 'incus';

/**
 * What differs between the two clients. The access layer reads, and takes, restores and deletes
 * snapshots, through the REST API both servers share (`lxc query`, `incus query`); the other
 * commands it runs take the same words in both. The snapshot commands are where the clients part
 * (Incus moved them under `incus snapshot`), and that matters for the commands printed for a
 * human, who types them in the client they use.
 */
export interface Dialect {
  client: ClientName;
  /** The variable naming the local daemon's folder (its unix socket), and its default. */
  daemonDirEnv: 'LXD_DIR' | 'INCUS_DIR';
  daemonDir: string;
  /** The server's name in messages. */
  server: 'LXD' | 'Incus';
  /** The variable naming the client's configuration folder (remotes, certificates), and its default. */
  configEnv: 'LXD_CONF' | 'INCUS_CONF';
  configDir: string;
  /** The client's arguments that restore a snapshot. */
  restore(instance: string, snapshot: string): string[];
}

export const LXC: Dialect = {
  client: 'lxc',
  daemonDirEnv: 'LXD_DIR',
  daemonDir: '/var/lib/lxd',
  server: 'LXD',
  configEnv: 'LXD_CONF',
  configDir: '~/.config/lxc',
  restore: (instance, snapshot) => ['restore', instance, snapshot],
};

export const INCUS: Dialect = {
  client: 'incus',
  daemonDirEnv: 'INCUS_DIR',
  daemonDir: '/var/lib/incus',
  server: 'Incus',
  configEnv: 'INCUS_CONF',
  configDir: '~/.config/incus',
  restore: (instance, snapshot) => ['snapshot', 'restore', instance, snapshot],
};

const DIALECTS: Record<ClientName, Dialect> = { lxc: LXC, incus: INCUS };

/**
 * Which servers a remote name means, for keys kept on this host (the per-instance records): the
 * same name is another server under the other client (both call their own daemon `local`), and
 * `local` is another daemon when the daemon folder is not the default one. '' for LXD's default,
 * so that records kept before this existed are still found.
 */
export function serverScope(dialect: Dialect, remote: string | null, env: NodeJS.ProcessEnv = process.env): string {
  const client = dialect.client === 'lxc' ? '' : `${dialect.client}-`;
  // The daemon folder says which daemon `local` (the unix socket) is; other remotes are addresses.
  const dir = (remote ?? 'local') === 'local' ? env[dialect.daemonDirEnv]?.replace(/\/+$/, '') : undefined;
  if (!dir || dir === dialect.daemonDir || (dialect.client === 'lxc' && dir === SNAP_LXD_DIR)) return client;
  return `${client}${createHash('sha256').update(dir).digest('hex').slice(0, 8)}-`;
}

/** The snap's daemon folder: the default daemon too, where LXD comes from the snap. */
const SNAP_LXD_DIR = '/var/snap/lxd/common/lxd';

/** A command as the operator types it in this client: `incus snapshot restore web1 snap`. */
export function commandLine(dialect: Dialect, args: readonly string[]): string {
  return [dialect.client, ...args].join(' ');
}

export function dialectOf(client: ClientName | undefined): Dialect {
  // Reports written before Incus support name no client: they were lxc's.
  return DIALECTS[client ?? 'lxc'];
}

/**
 * The client to drive: `--client`, else `SAFEUPDATE_CLIENT`, else `lxc` when it is installed, else
 * `incus` when that is. With both installed and nothing said, `lxc`: the tool's first home, and
 * what an operator who added Incus beside LXD most likely still means.
 */
export function chooseClient(given: string | undefined, env: NodeJS.ProcessEnv, installed = (binary: string) => onPath(binary, env.PATH)): Dialect {
  const named = given ?? (env.SAFEUPDATE_CLIENT || undefined);
  if (named !== undefined) {
    if (named === 'lxc' || named === 'incus') return DIALECTS[named];
    const source = given !== undefined ? '--client' : 'SAFEUPDATE_CLIENT';
    throw new UsageError(`${source} "${named}": must be lxc or incus`);
  }
  if (installed('lxc')) return LXC;
  return installed('incus') ? INCUS : LXC;
}

function onPath(binary: string, path = ''): boolean {
  return path.split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
