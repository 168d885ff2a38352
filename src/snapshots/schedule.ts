import { EXPIRY_LIMIT, parseDuration, toLxdExpiry } from '../config/duration.js';
import { UsageError } from '../errors.js';
import type { Feature } from '../lxd/extensions.js';
import { SNAPSHOT_PREFIX } from '../lxd/names.js';

export const SCHEDULE_KEYS = ['snapshots.schedule', 'snapshots.expiry', 'snapshots.pattern'] as const;

const ALIASES = /^@(hourly|daily|midnight|weekly|monthly|annually|yearly|startup)$/;

const EVERY_EXPECTED = 'expected a cron expression with 5 fields (like "0 3 * * *") or @hourly, @daily, @weekly, @monthly, @yearly';

/** The five fields of a cron expression: what each holds, so that LXD never sees one out of range. */
const CRON_FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'], kind: 'a month' },
  // 0 and 7 are both Sunday.
  { name: 'day of week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'], kind: 'a day' },
] as const;

/**
 * LXD's own automatic snapshots: safeupdate validates and translates, LXD does the work.
 * Durations are translated to LXD's expiry syntax (`M` minutes, `H` hours).
 */
export function scheduleConfig(options: { every: string; expiry?: string; pattern?: string }): Record<string, string | null> {
  const every = options.every.trim();
  const fields = every.split(/\s+/);
  if (!ALIASES.test(every)) {
    if (fields.length !== 5) throw new UsageError(`--every "${options.every}": ${EVERY_EXPECTED}`);
    fields.forEach((field, i) => {
      const problem = cronFieldProblem(field, CRON_FIELDS[i]!);
      if (problem) throw new UsageError(`--every "${options.every}": ${problem === 'shape' ? EVERY_EXPECTED : problem}`);
    });
  }
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

type CronField = (typeof CRON_FIELDS)[number];

// The shape of a field: `*`, a value or a range, each with an optional /step, in a list; names only
// where the field has them. A field of another shape gets the general message.
const CRON_FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;
const CRON_NAMED_FIELD = /^(\*|\w+(-\w+)?)(\/\d+)?(,(\*|\w+(-\w+)?)(\/\d+)?)*$/;

/** What is wrong with one field, or null; `shape` when it is not even a cron field. */
function cronFieldProblem(field: string, spec: CronField): string | null {
  if (!('names' in spec ? CRON_NAMED_FIELD : CRON_FIELD).test(field)) return 'shape';
  for (const part of field.split(',')) {
    const [range = '', step] = part.split('/');
    if (step !== undefined && Number(step) < 1) return `${spec.name} ${part}: a step must be at least 1`;
    if (range === '*') continue;
    const values: number[] = [];
    for (const bound of range.split('-')) {
      const value = cronValue(bound, spec);
      if (typeof value === 'string') return value;
      values.push(value);
    }
    if (values.length === 2 && values[0]! > values[1]!) return `${spec.name} ${range}: the range runs backwards`;
  }
  return null;
}

function cronValue(text: string, spec: CronField): number | string {
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    return value < spec.min || value > spec.max ? `${spec.name} ${text} is out of range (${spec.min}-${spec.max})` : value;
  }
  // Only a named field reaches here (the shape allows letters nowhere else).
  const names: readonly string[] = 'names' in spec ? spec.names : [];
  const index = names.indexOf(text.toUpperCase());
  if (index < 0) return `${spec.name} ${text} is not ${'kind' in spec ? spec.kind : 'valid'} (${spec.min}-${spec.max}, ${names[0]}-${names.at(-1)})`;
  return index + spec.min;
}
