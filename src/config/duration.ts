import { UsageError } from '../errors.js';

const UNIT_MS = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;
type Unit = keyof typeof UNIT_MS;
const ORDER: Unit[] = ['w', 'd', 'h', 'm', 's'];
const GRAMMAR = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/**
 * One duration grammar for every option and config key: `90s`, `5m`, `2h`, `7d`, `2w`, and
 * combinations from the largest unit down (`1h30m`). `m` is always minutes.
 */
export function parseDuration(text: string, what: string): number {
  const match = GRAMMAR.exec(text);
  if (!text || !match || match.slice(1).every((part) => part === undefined)) {
    throw new UsageError(`${what}: "${text}" is not a duration; use a number with a unit, like 90s, 5m, 2h, 7d, 2w or 1h30m`);
  }
  const ms = ORDER.reduce((sum, unit, i) => sum + Number(match[i + 1] ?? 0) * UNIT_MS[unit], 0);
  if (ms === 0) throw new UsageError(`${what}: "${text}" is zero; give a positive duration`);
  return ms;
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
