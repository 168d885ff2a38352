import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, toLxdExpiry } from '../../../src/config/duration.js';
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
