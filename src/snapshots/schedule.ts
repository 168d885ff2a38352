import { EXPIRY_LIMIT, parseDuration, toLxdExpiry } from '../config/duration.js';
import { UsageError } from '../errors.js';
import type { Feature } from '../lxd/extensions.js';
import { SNAPSHOT_PREFIX } from '../lxd/names.js';

export const SCHEDULE_KEYS = ['snapshots.schedule', 'snapshots.expiry', 'snapshots.pattern'] as const;

const ALIASES = /^@(hourly|daily|midnight|weekly|monthly|annually|yearly|startup)$/;
const CRON_FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;
const CRON_NAMED_FIELD = /^[A-Za-z0-9*,/-]+$/;

/**
 * LXD's own automatic snapshots: safeupdate validates and translates, LXD does the work.
 * Durations are translated to LXD's expiry syntax (`M` minutes, `H` hours).
 */
export function scheduleConfig(options: { every: string; expiry?: string; pattern?: string }): Record<string, string | null> {
  const every = options.every.trim();
  const fields = every.split(/\s+/);
  const valid = ALIASES.test(every) || (fields.length === 5 && fields.every((field, i) => (i >= 3 ? CRON_NAMED_FIELD : CRON_FIELD).test(field)));
  if (!valid) throw new UsageError(`--every "${options.every}": expected a cron expression with 5 fields (like "0 3 * * *") or @hourly, @daily, @weekly, @monthly, @yearly`);
  if (options.pattern !== undefined) {
    if (options.pattern.startsWith(SNAPSHOT_PREFIX)) {
      throw new UsageError(`--pattern "${options.pattern}": the "${SNAPSHOT_PREFIX}" prefix marks the snapshots safeupdate takes and prunes; choose another`);
    }
    if (options.pattern === '' || options.pattern.includes('/') || /\s/.test(options.pattern)) {
      throw new UsageError(`--pattern "${options.pattern}": not a valid snapshot name pattern`);
    }
  }
  return {
    'snapshots.schedule': every,
    'snapshots.expiry': options.expiry === undefined ? null : toLxdExpiry(parseDuration(options.expiry, '--expiry', EXPIRY_LIMIT)),
    'snapshots.pattern': options.pattern ?? null,
  };
}

export function scheduleOff(): Record<string, string | null> {
  return Object.fromEntries(SCHEDULE_KEYS.map((key) => [key, null]));
}

/** What setting these keys asks of the server; unsetting asks nothing. */
export function scheduleFeatures(entries: Record<string, string | null>): Feature[] {
  const every = entries['snapshots.schedule'];
  if (every === null || every === undefined) return [];
  return ['schedule', ...(entries['snapshots.expiry'] ? ['scheduleExpiry' as const] : []), ...(every.startsWith('@') ? ['scheduleAliases' as const] : [])];
}
