import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { SCHEDULE_KEYS, scheduleConfig, scheduleOff } from '../../../src/snapshots/schedule.js';

const EVERY_REFUSED = (every: string) =>
  `--every "${every}": expected a cron expression with 5 fields (like "0 3 * * *") or @hourly, @daily, @weekly, @monthly, @yearly`;

function refusal(options: Parameters<typeof scheduleConfig>[0]): string {
  try {
    scheduleConfig(options);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

describe("LXD's automatic snapshots: --every", () => {
  it.each(['@hourly', '@daily', '@midnight', '@weekly', '@monthly', '@annually', '@yearly', '@startup'])('accepts the alias %s as it is', (every) => {
    expect(scheduleConfig({ every })['snapshots.schedule']).toBe(every);
  });

  it.each([
    '0 3 * * *',
    '*/15 * * * *',
    '0 0-6/2 * * *',
    '5,35 1,13 * * *',
    '0 3 1-15/3,20 * *',
    '10 3 * JAN-MAR MON-FRI',
    '0 3 * 1,6 sun',
    '0 3 * */2 1-5/2',
    '59 23 31 12 6',
    '0 1,10-20 * * *',
    '0 1,2/15 * * *',
  ])('accepts the cron expression "%s"', (every) => {
    expect(scheduleConfig({ every })['snapshots.schedule']).toBe(every);
  });

  it.each([
    ['99 99 * * *', 'minute 99 is out of range (0-59)'],
    ['0 24 * * *', 'hour 24 is out of range (0-23)'],
    ['0 3 0 * *', 'day of month 0 is out of range (1-31)'],
    ['0 3 32 * *', 'day of month 32 is out of range (1-31)'],
    ['0 3 * 13 *', 'month 13 is out of range (1-12)'],
    ['0 3 * * 8', 'day of week 8 is out of range (0-7)'],
    ['0 3 * * FOO', 'day of week FOO is not a day (0-7, SUN-SAT)'],
    ['0 3 * FOO *', 'month FOO is not a month (1-12, JAN-DEC)'],
    ['0 3 * * MON-FOO', 'day of week FOO is not a day (0-7, SUN-SAT)'],
    ['0 5-2 * * *', 'hour 5-2: the range runs backwards'],
    ['*/0 * * * *', 'minute */0: a step must be at least 1'],
  ])('refuses "%s" before LXD sees it: %s', (every, message) => {
    expect(refusal({ every })).toContain(`--every "${every}": ${message}`);
  });

  it('trims what surrounds it, and splits fields on any run of blanks', () => {
    expect(scheduleConfig({ every: '  @daily\n' })['snapshots.schedule']).toBe('@daily');
    expect(scheduleConfig({ every: ' 0  3\t* * * ' })['snapshots.schedule']).toBe('0  3\t* * *');
  });

  it.each([
    'daily',
    '@daily2',
    'x@daily',
    '@fortnightly',
    '0 3 * *',
    '0 3 * * * *',
    '',
    '   ',
    'MON 3 * * *',
    '0 3am * * *',
    '0 3 L * *',
    '0 - * * *',
    '0 /5 * * *',
    '0 3- * * *',
    '0 3/ * * *',
    '0 3, * * *',
    ',0 3 * * *',
    '0 3-4-5 * * *',
    '0 ** * * *',
    '0 3 * JAN? *',
    '0 3 * * MON;',
    '0 3 * * MON.FRI',
  ])('refuses "%s", naming it', (every) => {
    expect(refusal({ every })).toBe(EVERY_REFUSED(every));
  });
});

describe("LXD's automatic snapshots: --expiry and --pattern", () => {
  it("translates the expiry to LXD's syntax, and leaves what is not given unset", () => {
    expect(scheduleConfig({ every: '@daily', expiry: '14d', pattern: 'auto-%d' })).toStrictEqual({
      'snapshots.schedule': '@daily',
      'snapshots.expiry': '2w',
      'snapshots.pattern': 'auto-%d',
    });
    expect(scheduleConfig({ every: '@daily', expiry: '1w2d3h4m' })['snapshots.expiry']).toBe('1w 2d 3H 4M');
    expect(scheduleConfig({ every: '@daily' })).toStrictEqual({ 'snapshots.schedule': '@daily', 'snapshots.expiry': null, 'snapshots.pattern': null });
  });

  it('refuses an expiry that is not a duration, as --expiry', () => {
    expect(refusal({ every: '@daily', expiry: '3 days' })).toBe(
      '--expiry: "3 days" is not a duration; use a number with a unit, like 90s, 5m, 2h, 7d, 2w or 1h30m',
    );
    expect(refusal({ every: '@daily', expiry: '0d' })).toBe('--expiry: "0d" is zero; give a positive duration');
  });

  it('refuses a pattern with the prefix safeupdate owns', () => {
    expect(refusal({ every: '@daily', pattern: 'safeupdate-%d' })).toBe(
      '--pattern "safeupdate-%d": the "safeupdate-" prefix marks the snapshots safeupdate takes and prunes; choose another',
    );
    expect(scheduleConfig({ every: '@daily', pattern: 'auto-safeupdate-%d' })['snapshots.pattern']).toBe('auto-safeupdate-%d');
  });

  it.each(['', 'a/b', 'auto %d', 'auto\t%d', 'auto-%d\n'])('refuses the pattern %j: not a snapshot name', (pattern) => {
    expect(refusal({ every: '@daily', pattern })).toBe(`--pattern "${pattern}": not a valid snapshot name pattern`);
  });

  it('checks --every before --pattern, and --pattern before --expiry', () => {
    expect(refusal({ every: 'daily', pattern: 'a/b', expiry: 'x' })).toBe(EVERY_REFUSED('daily'));
    expect(refusal({ every: '@daily', pattern: 'a/b', expiry: 'x' })).toBe('--pattern "a/b": not a valid snapshot name pattern');
  });
});

describe('turning the schedule off', () => {
  it('unsets exactly the three keys it sets', () => {
    expect(SCHEDULE_KEYS).toEqual(['snapshots.schedule', 'snapshots.expiry', 'snapshots.pattern']);
    expect(scheduleOff()).toStrictEqual({ 'snapshots.schedule': null, 'snapshots.expiry': null, 'snapshots.pattern': null });
  });
});
