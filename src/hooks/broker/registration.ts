// What the host knows about a hooked instance, written by `hooks install` and read by its broker:
// the broker believes this file, never the container. Kept in the state folder, root's alone.
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClientName } from '../../lxd/dialect.js';

/** Each hooked instance's socket on the host; the proxy device in the instance connects to it. */
export const SOCKET_DIR = '/run/safeupdate/hooks';
/** A unix socket's path must fit in sun_path (108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

export interface Registration {
  /** The key: socket, unit instance and file names (`lxc.default.web1`). */
  key: string;
  client: ClientName;
  /** The daemon folder the broker talks to (the client's `local`). */
  daemonDir: string;
  project: string;
  instance: string;
  /** LXD's `volatile.uuid` at install: an instance deleted and made again under the name is another one. */
  uuid: string;
  /** How the host command names it, for the rollback command the hook prints. */
  hostInstance: string;
  hostOptions: string;
  /** null: the hook's snapshots never expire. */
  expirySeconds: number | null;
  /** At most this many hook snapshots at once; the next request is refused until some expire or are deleted. */
  maxSnapshots: number;
  /** At most this many snapshots in `rateWindowSeconds` (an apt loop inside must not fill the pool). */
  maxSnapshotsPerWindow: number;
  rateWindowSeconds: number;
  /** safeupdate's version that wrote it. */
  version: string;
}

export const REGISTRATION_DEFAULTS = { maxSnapshots: 10, maxSnapshotsPerWindow: 3, rateWindowSeconds: 600 } as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** The key of an instance on the local daemon: null when its names cannot make a safe file and unit name. */
export function registrationKey(client: ClientName, project: string, instance: string): string | null {
  if (!NAME.test(project) || !NAME.test(instance)) return null;
  const key = `${client}.${project}.${instance}`;
  return socketPath(key).length <= MAX_SOCKET_PATH ? key : null;
}

export function isKey(text: string): boolean {
  const [client, project, instance, ...rest] = text.split('.');
  return rest.length === 0 && (client === 'lxc' || client === 'incus') && registrationKey(client, project ?? '', instance ?? '') === text;
}

export function socketPath(key: string): string {
  return `${SOCKET_DIR}/${key}.sock`;
}

export function hooksStateDir(stateDir: string): string {
  return join(stateDir, 'hooks');
}

export function registrationFile(stateDir: string, key: string): string {
  return join(hooksStateDir(stateDir), `${key}.json`);
}

/** Written aside and renamed: a crash leaves the old registration or the new one, never half of one. */
export async function writeRegistration(stateDir: string, registration: Registration): Promise<void> {
  const dir = hooksStateDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const file = registrationFile(stateDir, registration.key);
  await writeFile(`${file}.new`, `${JSON.stringify(registration, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.new`, file);
}

/** null when there is none; throws when there is one that cannot be read as a registration. */
export async function readRegistration(stateDir: string, key: string): Promise<Registration | null> {
  let text: string;
  try {
    text = await readFile(registrationFile(stateDir, key), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const value = JSON.parse(text) as Partial<Registration>;
  const complete = typeof value.instance === 'string' && typeof value.project === 'string' && typeof value.uuid === 'string'
    && (value.client === 'lxc' || value.client === 'incus') && value.key === key && typeof value.daemonDir === 'string';
  if (!complete) throw new Error(`${registrationFile(stateDir, key)} is not a hook registration: run "safeupdate hooks install" again`);
  return { ...REGISTRATION_DEFAULTS, hostOptions: '', expirySeconds: null, hostInstance: value.instance!, version: '', ...value } as Registration;
}

export function isSameRegistration(a: Registration, b: Registration): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as Array<keyof Registration>);
  return [...keys].every((key) => a[key] === b[key]);
}

export async function removeRegistration(stateDir: string, key: string): Promise<void> {
  await rm(registrationFile(stateDir, key), { force: true });
}
