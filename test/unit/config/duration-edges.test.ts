import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, readDuration, TIMER_LIMIT, toLxdExpiry, tooLong } from '../../../src/config/duration.js';

// The boundaries of the duration helpers; duration.test.ts has the grammar and the limits.
describe('reading a duration', () => {
  it('adds every unit when all five are written', () => {
    expect(parseDuration('1w1d1h1m1s', '--timeout')).toBe(604_800_000 + 86_400_000 + 3_600_000 + 60_000 + 1_000);
    expect(readDuration('2w3d4h5m6s')).toBe(2 * 604_800_000 + 3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000 + 6_000);
  });

  it('leaves zero as zero and anything off the grammar as null, for the caller to decide', () => {
    expect(readDuration('0s')).toBe(0);
    expect(readDuration('')).toBeNull();
    expect(readDuration('5')).toBeNull();
  });

  it("names the timer limit and why, in the message", () => {
    expect(() => parseDuration('25d', '--timeout', TIMER_LIMIT)).toThrow(`--timeout: "25d" is too long; at most 24d (the longest Node's timers can wait)`);
    expect(tooLong('3w4d', { text: '1w', ms: 604_800_000, why: 'a week will do' })).toBe('"3w4d" is too long; at most 1w (a week will do)');
  });
});

describe('formatDuration at its boundaries', () => {
  it.each([
    [0, '0ms'],
    [999, '999ms'],
    [1_000, '1s'],
    [1_500, '1.5s'],
    [10_000, '10s'],
    [59_000, '59s'],
    [60_000, '1m'],
    [61_000, '1m1s'],
    [3_600_000, '1h'],
    [86_400_000, '1d'],
    [604_800_000, '1w'],
    [694_861_000, '1w1d1h1m1s'],
    [90_500, '1m31s'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe("LXD's expiry syntax at its boundaries", () => {
  it.each([
    [1, '1M'],
    [60_000, '1M'],
    [60_001, '2M'],
    [3_600_000, '1H'],
    [86_400_000, '1d'],
    [7 * 86_400_000, '1w'],
    [8 * 86_400_000 + 60_000, '1w 1d 1M'],
  ])('%d ms is %s', (ms, text) => {
    expect(toLxdExpiry(ms)).toBe(text);
  });
});
