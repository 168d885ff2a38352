import { LxdError } from '../errors.js';
import type { ServerApi } from './lxd.js';

/**
 * What safeupdate asks of a server beyond the base API, and the API extension (as the server lists
 * it in `GET /1.0` `api_extensions`; LXD and Incus share these names) each one needs. A server
 * without one would not fail loudly: an unknown JSON field such as `expires_at` is ignored, and the
 * snapshot would silently never expire. So the run refuses before it changes anything.
 */
export const FEATURES = {
  instances: { extension: 'instances', feature: 'the /1.0/instances API every command uses' },
  snapshotExpiry: { extension: 'snapshot_expiry_creation', feature: "a snapshot's own expiry, set when it is taken: every run's snapshot, and the hook's" },
  refreshCopy: { extension: 'container_incremental_copy', feature: 'a refresh copy to a snapshot server: --copy-to, sync' },
  instanceOnlyCopy: { extension: 'container_only_migration', feature: 'a copy without snapshots: --keep-failed' },
  schedule: { extension: 'snapshot_scheduling', feature: 'snapshots.schedule and snapshots.pattern: schedule' },
  scheduleExpiry: { extension: 'snapshot_expiry', feature: 'snapshots.expiry: schedule --expiry' },
  scheduleAliases: { extension: 'snapshot_schedule_aliases', feature: 'a schedule alias such as @daily: schedule --every' },
  proxyDevice: { extension: 'proxy', feature: "the proxy device through which the hook reaches the API: hooks install --mode snapshot" },
  restrictedCertificates: { extension: 'certificate_project', feature: "a client certificate restricted to one project, the hook's: hooks install --mode snapshot" },
} as const;

export type Feature = keyof typeof FEATURES;

/** Every extension safeupdate may ask for. */
export const USED_EXTENSIONS: readonly string[] = Object.values(FEATURES).map((entry) => entry.extension);

/** The features a server lacks, in the order asked. */
export function missingFeatures(api: ServerApi, features: readonly Feature[]): Feature[] {
  const present = new Set(api.extensions);
  return features.filter((feature) => !present.has(FEATURES[feature].extension));
}

/**
 * Refuses (an LxdError of kind `unsupported`, which every command reports as "could not start",
 * exit 3) when the server lacks an extension one of these features needs, naming both.
 */
export function requireFeatures(api: ServerApi, features: readonly Feature[], where: string): void {
  const missing = missingFeatures(api, features);
  if (missing.length === 0) return;
  const named = missing.map((feature) => `"${FEATURES[feature].extension}" (needed for ${FEATURES[feature].feature})`).join(', ');
  const server = [api.server, api.version].filter(Boolean).join(' ') || 'version unknown';
  throw new LxdError(
    `${where} (${server}) lacks the API extension${missing.length > 1 ? 's' : ''} ${named}; nothing changed. Upgrade the server, or leave out the option that needs it`,
    'unsupported',
    [],
  );
}

/** How a refusal names the server: by its remote where one is known. */
export function serverLabel(remote: string | null): string {
  return remote === null ? 'the server' : `the server ${remote}:`;
}
