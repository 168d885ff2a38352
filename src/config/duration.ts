import { UsageError } from '../errors.js';

const UNIT_MS = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;
type Unit = keyof typeof UNIT_MS;
const ORDER: Unit[] = ['w', 'd', 'h', 'm', 's'];
const GRAMMAR = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** The longest a duration may be where it is used, with why, for the error message. */
export interface DurationLimit {
  /** As written in messages and docs, in the duration grammar: `24d`. */
  text: string;
  ms: number;
  why: string;
}

/**
 * Every duration that ends up in a timer (`--timeout`, check timings, LXD call limits): Node's
 * setTimeout holds at most 2^31-1 ms (about 24.8 days); past that it fires after 1 ms.
 */
export const TIMER_LIMIT: DurationLimit = { text: '24d', ms: 24 * UNIT_MS.d, why: "the longest Node's timers can wait" };

/**
 * Snapshot expiry: about 100 years, well inside what JS Dates and LXD (a Go time.Duration, at
 * most about 292 years) can represent.
 */
export const EXPIRY_LIMIT: DurationLimit = { text: '5200w', ms: 5_200 * UNIT_MS.w, why: 'about 100 years' };

/**
 * One duration grammar for every option and config key: `90s`, `5m`, `2h`, `7d`, `2w`, and
 * combinations from the largest unit down (`1h30m`). `m` is always minutes. With a `max`, a longer
 * duration is bad input; without one, so is a number too large to count exactly.
 */
export function parseDuration(text: string, what: string, max?: DurationLimit): number {
  const ms = readDuration(text);
  if (ms === null) {
    throw new UsageError(`${what}: "${text}" is not a duration; use a number with a unit, like 90s, 5m, 2h, 7d, 2w or 1h30m`);
  }
  if (ms === 0) throw new UsageError(`${what}: "${text}" is zero; give a positive duration`);
  if (max && ms > max.ms) throw new UsageError(`${what}: ${tooLong(text, max)}`);
  if (!Number.isSafeInteger(ms)) throw new UsageError(`${what}: "${text}" is too large a number`);
  return ms;
}

/**
 * The milliseconds a duration as written stands for, null when it does not follow the grammar.
 * Zero stays zero; a huge digit string gives Infinity or an inexact number: the caller decides.
 */
export function readDuration(text: string): number | null {
  const match = GRAMMAR.exec(text);
  if (!text || !match || match.slice(1).every((part) => part === undefined)) return null;
  return ORDER.reduce((sum, unit, i) => sum + Number(match[i + 1] ?? 0) * UNIT_MS[unit], 0);
}

export function tooLong(text: string, max: DurationLimit): string {
  return `"${text}" is too long; at most ${max.text} (${max.why})`;
}

export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1).replace(/\.0$/, '')}s`;
  let rest = Math.round(ms / 1_000);
  const parts: string[] = [];
  for (const unit of ORDER) {
    const size = UNIT_MS[unit] / 1_000;
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

/**
 * LXD's expiry syntax (`snapshots.expiry`) differs from ours: `M` is minutes, `H` hours, `d` days,
 * `w` weeks, and `m` would be months. LXD has no seconds, so the value is rounded up to a minute.
 */
export function toLxdExpiry(ms: number): string {
  let minutes = Math.ceil(ms / 60_000);
  const parts: string[] = [];
  for (const [unit, size] of [['w', 10_080], ['d', 1_440], ['H', 60], ['M', 1]] as const) {
    if (minutes >= size) {
      parts.push(`${Math.floor(minutes / size)}${unit}`);
      minutes %= size;
    }
  }
  return parts.join(' ');
}
