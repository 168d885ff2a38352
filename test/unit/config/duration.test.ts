import { describe, expect, it } from 'vitest';
import { EXPIRY_LIMIT, formatDuration, parseDuration, TIMER_LIMIT, toLxdExpiry } from '../../../src/config/duration.js';
import { UsageError } from '../../../src/errors.js';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['1h30m', 5_400_000],
    ['1d12h', 129_600_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text, '--timeout')).toBe(ms);
  });

  it.each(['', '5', 'm', '5M', '1.5h', '-1h', '30m1h', '1 h', '0s', '1y', '5mo', '1h 30m'])('"%s" is bad input naming the value', (text) => {
    expect(() => parseDuration(text, '--expiry')).toThrow(UsageError);
    expect(() => parseDuration(text, '--expiry')).toThrow(`--expiry: "${text}"`);
  });
});

describe('formatDuration', () => {
  it('is short and readable', () => {
    expect(formatDuration(450)).toBe('450ms');
    expect(formatDuration(2_340)).toBe('2.3s');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(14 * 86_400_000)).toBe('2w');
  });
});

describe('toLxdExpiry', () => {
  it("writes LXD's syntax, where M is minutes and H hours", () => {
    expect(toLxdExpiry(parseDuration('1h30m', 'x'))).toBe('1H 30M');
    expect(toLxdExpiry(parseDuration('14d', 'x'))).toBe('2w');
    expect(toLxdExpiry(parseDuration('90s', 'x'))).toBe('2M');
    expect(toLxdExpiry(parseDuration('1w2d3h4m', 'x'))).toBe('1w 2d 3H 4M');
  });
});

describe('bounds on durations', () => {
  it('refuses a duration past the maximum, naming the limit', () => {
    expect(parseDuration('24d', '--timeout', TIMER_LIMIT)).toBe(24 * 86_400_000);
    expect(() => parseDuration('25d', '--timeout', TIMER_LIMIT)).toThrow(UsageError);
    expect(() => parseDuration('25d', '--timeout', TIMER_LIMIT)).toThrow('--timeout: "25d" is too long; at most 24d');
    expect(() => parseDuration('3w3d1s', '--timeout', TIMER_LIMIT)).toThrow('at most 24d');
    expect(parseDuration('5200w', '--expiry', EXPIRY_LIMIT)).toBe(5_200 * 604_800_000);
    expect(() => parseDuration('999999999w', '--expiry', EXPIRY_LIMIT)).toThrow('--expiry: "999999999w" is too long; at most 5200w (about 100 years)');
  });

  it('keeps the timer limit within what setTimeout can wait, and the expiry limit a valid date', () => {
    expect(TIMER_LIMIT.ms).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(Number.isNaN(new Date(Date.now() + EXPIRY_LIMIT.ms).getTime())).toBe(false);
  });

  it('refuses digits that overflow a number, with or without a maximum', () => {
    const huge = `${'9'.repeat(400)}s`;
    expect(() => parseDuration(huge, '--older-than')).toThrow(UsageError);
    expect(() => parseDuration(huge, '--older-than')).toThrow('is too large a number');
    expect(() => parseDuration('99999999999999999999w', '--older-than')).toThrow('is too large a number');
    expect(() => parseDuration(huge, '--timeout', TIMER_LIMIT)).toThrow('at most 24d');
  });
});
