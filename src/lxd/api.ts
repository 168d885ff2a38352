import type { Instance, InstanceRef, ProfileRef, ServerInfo, Snapshot, TrustedCertificate } from './lxd.js';

// LXD's paths and answers, shared by both transports: a call addresses the same resource and reads
// the same answer whichever transport carries it.

export const NEVER_EXPIRES = '0001-01-01T00:00:00Z';

export interface RawInstance {
  name: string;
  type: string;
  status: string;
  ephemeral: boolean;
  /** The cluster member that holds the instance; "none" on a server that is not clustered. */
  location?: string;
  config?: Record<string, string>;
  expanded_devices?: Record<string, Record<string, string>>;
}

export function toInstance(raw: RawInstance): Instance {
  return {
    name: raw.name,
    type: raw.type === 'virtual-machine' ? 'virtual-machine' : 'container',
    status: raw.status,
    ephemeral: raw.ephemeral,
    devices: raw.expanded_devices ?? {},
    location: raw.location && raw.location !== 'none' ? raw.location : null,
  };
}

export interface RawProfile {
  description?: string;
  config?: Record<string, string>;
  used_by?: string[];
}

export interface RawResources {
  space?: { total?: number; used?: number };
}

export interface RawState {
  disk?: Record<string, { usage?: number }>;
  network?: Record<string, { addresses?: Array<{ family: string; address: string; scope: string }> }>;
}

export interface RawSnapshot {
  name: string;
  created_at: string;
  expires_at?: string;
  stateful: boolean;
  size?: number;
}

export function toSnapshot(snapshot: RawSnapshot): Snapshot {
  return {
    name: snapshot.name,
    createdAt: snapshot.created_at,
    expiresAt: !snapshot.expires_at || snapshot.expires_at === NEVER_EXPIRES ? null : snapshot.expires_at,
    stateful: snapshot.stateful,
    sizeBytes: typeof snapshot.size === 'number' && snapshot.size >= 0 ? snapshot.size : null,
  };
}

export type RawServer = { config?: Record<string, unknown>; environment?: { certificate?: string } };

export function toServerInfo(raw: RawServer): ServerInfo {
  const address = raw.config?.['core.https_address'];
  return {
    httpsAddress: typeof address === 'string' && address !== '' ? address : null,
    certificate: raw.environment?.certificate || null,
  };
}

export type RawCertificate = Partial<TrustedCertificate> & { fingerprint: string };

export function toCertificate(entry: RawCertificate): TrustedCertificate {
  return {
    fingerprint: entry.fingerprint,
    name: entry.name ?? '',
    type: entry.type ?? 'client',
    restricted: entry.restricted ?? false,
    projects: entry.projects ?? [],
  };
}

export function profilePath(profile: ProfileRef, suffix: string): string {
  return `/1.0/profiles${suffix}${profile.project === null ? '' : `?project=${encodeURIComponent(profile.project)}`}`;
}

export function instancePath(ref: InstanceRef, suffix: string, query = ''): string {
  const params = [ref.project === null ? '' : `project=${encodeURIComponent(ref.project)}`, query].filter(Boolean).join('&');
  return `/1.0/instances/${encodeURIComponent(ref.name)}${suffix}${params ? `?${params}` : ''}`;
}

/** `path?a&b`, leaving out empty parameters. */
/**
 * An operation's path without the query a cluster member adds to it (`/1.0/operations/ID?project=…`
 * when the request was forwarded to another member): the caller appends `/wait` or `/websocket`
 * and its own query, and a query in the middle would make LXD answer a plain read of the operation.
 */
export function operationPath(url: string): string {
  return url.split('?')[0]!;
}

export function withQuery(path: string, ...params: string[]): string {
  const query = params.filter(Boolean).join('&');
  return query ? `${path}?${query}` : path;
}
