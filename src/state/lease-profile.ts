import type { InstanceRef } from '../lxd/lxd.js';
import type { BaselineRecord, InstanceRecord, RunPhase } from './instance-record.js';

export const KEY = 'user.safeupdate.';
const DEFAULT_LEASE_MS = 60_000;

/** The lease length: `SAFEUPDATE_LEASE_SECONDS` (tests shorten it), else 60 s. */
export function leaseLengthMs(env: NodeJS.ProcessEnv = process.env): number {
  const seconds = Number(env.SAFEUPDATE_LEASE_SECONDS);
  return env.SAFEUPDATE_LEASE_SECONDS && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : DEFAULT_LEASE_MS;
}

/** What the lease says about its run: what another host's `recover` needs. */
export interface Lease {
  runId: string;
  /** Random per state folder, so that two hosts with the same name are told apart. */
  hostId: string;
  host: string;
  pid: number;
  pidStartedAt: string | null;
  instance: string;
  command: string[];
  startedAt: string;
  phase: RunPhase;
  snapshot: string | null;
  baseline?: BaselineRecord;
  renewedAt: string;
  /** null: kept for a human (the run ended needing attention); it never expires. */
  expiresAt: string | null;
}

export type LeaseHolder = Pick<InstanceRecord, 'runId' | 'pid' | 'pidStartedAt' | 'host' | 'instance' | 'command' | 'startedAt'> & { hostId: string };

export function describeHolder(lease: Lease): string {
  return `run ${lease.runId} on host ${lease.host} (pid ${lease.pid}, started ${lease.startedAt})`;
}

/** The profile's name: `_` cannot occur in an instance name, so project and instance stay apart. */
export function leaseProfileName(ref: InstanceRef): string {
  return `safeupdate-lock_${ref.project ?? 'default'}_${ref.name}`;
}

export function describeLease(lease: Lease, profile: string): string {
  return `safeupdate lock of ${lease.instance}: ${describeHolder(lease)}; see ${KEY}* (lxc profile show ${profile})`;
}

/** The keys to write: all of them, or the times plus the patched ones. */
export function encode(lease: Lease, only?: string[]): Record<string, string> {
  const all: Record<string, string> = {
    runId: lease.runId,
    hostId: lease.hostId,
    host: lease.host,
    pid: String(lease.pid),
    pidStartedAt: lease.pidStartedAt ?? '',
    instance: lease.instance,
    command: JSON.stringify(lease.command),
    startedAt: lease.startedAt,
    phase: lease.phase,
    snapshot: lease.snapshot ?? '',
    baseline: lease.baseline ? JSON.stringify(lease.baseline) : '',
    renewedAt: lease.renewedAt,
    expiresAt: lease.expiresAt ?? '',
  };
  const keys = only ? ['renewedAt', 'expiresAt', ...only] : Object.keys(all);
  return Object.fromEntries(keys.map((key) => [`${KEY}${key}`, all[key]!]));
}

export function decode(config: Record<string, string>): Lease {
  const get = (key: string) => config[`${KEY}${key}`] ?? '';
  const pid = Number(get('pid'));
  if (!get('runId') || !get('hostId') || !Number.isInteger(pid) || !get('phase')) throw new Error(`${KEY}runId, hostId, pid or phase missing`);
  return {
    runId: get('runId'),
    hostId: get('hostId'),
    host: get('host'),
    pid,
    pidStartedAt: get('pidStartedAt') || null,
    instance: get('instance'),
    command: JSON.parse(get('command') || '[]') as string[],
    startedAt: get('startedAt'),
    phase: get('phase') as RunPhase,
    snapshot: get('snapshot') || null,
    ...(get('baseline') ? { baseline: JSON.parse(get('baseline')) as BaselineRecord } : {}),
    renewedAt: get('renewedAt'),
    expiresAt: get('expiresAt') || null,
  };
}
