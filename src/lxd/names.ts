import { UsageError } from '../errors.js';
import type { InstanceRef } from './lxd.js';

// LXD's rules for instance names: host names, 1–63 characters of ASCII letters, digits and
// hyphens, starting with a letter and not ending with a hyphen.
const INSTANCE_NAME = /^[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const REMOTE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export const SNAPSHOT_PREFIX = 'safeupdate-';

/** Parses `[remote:]name` as the operator typed it. */
export function parseInstanceRef(text: string, project: string | null = null): InstanceRef {
  const colon = text.indexOf(':');
  const remote = colon >= 0 ? text.slice(0, colon) : null;
  const name = colon >= 0 ? text.slice(colon + 1) : text;
  if (remote !== null && !REMOTE_NAME.test(remote)) {
    throw new UsageError(`instance "${text}": "${remote}" is not a valid remote name`);
  }
  if (!INSTANCE_NAME.test(name)) {
    throw new UsageError(
      `instance "${text}": not a valid LXD instance name (1-63 ASCII letters, digits and hyphens, starting with a letter, not ending with a hyphen)`,
    );
  }
  if (project !== null && !PROJECT_NAME.test(project)) {
    throw new UsageError(`--project "${project}": not a valid LXD project name`);
  }
  return { remote, name, project };
}

/** Snapshot names are always addressed with their instance, so `/` would change what is addressed. */
export function validateSnapshotName(name: string): string {
  if (name === '' || name === '.' || name === '..' || name.length > 63 || /[\s/\p{Cc}]/u.test(name)) {
    throw new UsageError(
      `snapshot name "${name}": not valid (1-63 characters, no "/", spaces or control characters, not "." or "..")`,
    );
  }
  return name;
}

/** Every snapshot safeupdate takes carries its prefix: that is how it knows which ones it owns. */
export function ownSnapshotName(requested: string): string {
  validateSnapshotName(requested);
  return validateSnapshotName(requested.startsWith(SNAPSHOT_PREFIX) ? requested : SNAPSHOT_PREFIX + requested);
}

export function formatRef(ref: InstanceRef): string {
  return ref.remote === null ? ref.name : `${ref.remote}:${ref.name}`;
}

/** A ref as a complete command-line argument pair: remote prefix and --project, where known. */
export function formatRefWithProject(ref: InstanceRef): string {
  return `${formatRef(ref)}${ref.project === null ? '' : ` --project ${ref.project}`}`;
}

/** What to type to recover this instance after a crash. */
export function recoverCommand(ref: InstanceRef): string {
  return `safeupdate recover ${formatRefWithProject(ref)}`;
}
