import { describe, expect, it } from 'vitest';
import { decideRetention } from '../../../src/snapshots/retention.js';
import { scheduleConfig, scheduleOff } from '../../../src/snapshots/schedule.js';
import { UsageError } from '../../../src/errors.js';

const snap = (name: string, createdAt: string) => ({ name, createdAt, expiresAt: null, stateful: false, sizeBytes: null });
const now = new Date('2026-11-26T12:00:00Z');
const SNAPS = [
  snap('safeupdate-a', '2026-11-26T10:00:00Z'),
  snap('safeupdate-b', '2026-11-26T08:00:00Z'),
  snap('safeupdate-c', '2026-11-25T08:00:00Z'),
  snap('safeupdate-d', '2026-11-18T08:00:00Z'),
  snap('safeupdate-e', '2026-10-10T08:00:00Z'),
  snap('before-migration', '2026-01-01T00:00:00Z'),
];
const deleted = (rules: Parameters<typeof decideRetention>[1]) =>
  decideRetention(SNAPS, rules, now).filter((d) => !d.keep).map((d) => d.snapshot.name).sort();

describe('retention', () => {
  it('never lets go of a snapshot safeupdate did not make', () => {
    expect(decideRetention(SNAPS, { keepLast: 1 }, now).find((d) => d.snapshot.name === 'before-migration')).toMatchObject({ keep: true, reason: 'not made by safeupdate' });
  });

  it('keeps the last n', () => {
    expect(deleted({ keepLast: 2 })).toEqual(['safeupdate-c', 'safeupdate-d', 'safeupdate-e']);
  });

  it('keeps the newest of each day, week and month', () => {
    expect(deleted({ keepDaily: 2 })).toEqual(['safeupdate-b', 'safeupdate-d', 'safeupdate-e']);
    expect(deleted({ keepWeekly: 2 })).toEqual(['safeupdate-b', 'safeupdate-c', 'safeupdate-e']);
    expect(deleted({ keepMonthly: 2 })).toEqual(['safeupdate-b', 'safeupdate-c', 'safeupdate-d']);
  });

  it('with --older-than, deletes only what is older, and rules still keep', () => {
    expect(deleted({ olderThanMs: 7 * 86_400_000 })).toEqual(['safeupdate-d', 'safeupdate-e']);
    expect(deleted({ olderThanMs: 7 * 86_400_000, keepMonthly: 2 })).toEqual(['safeupdate-d']);
  });
});

describe('schedule', () => {
  it("translates to LXD's keys and expiry syntax", () => {
    expect(scheduleConfig({ every: '@daily', expiry: '14d', pattern: 'auto-%d' })).toEqual({
      'snapshots.schedule': '@daily', 'snapshots.expiry': '2w', 'snapshots.pattern': 'auto-%d',
    });
    expect(scheduleConfig({ every: '0 3 * * 1-5', expiry: '1h30m' })['snapshots.expiry']).toBe('1H 30M');
    expect(scheduleOff()).toEqual({ 'snapshots.schedule': null, 'snapshots.expiry': null, 'snapshots.pattern': null });
  });

  it.each([
    [{ every: 'daily' }, '--every "daily"'],
    [{ every: '0 3 * *' }, '--every "0 3 * *"'],
    [{ every: '@daily', expiry: '3 days' }, '--expiry: "3 days"'],
    [{ every: '@daily', pattern: 'safeupdate-%d' }, 'marks the snapshots safeupdate takes'],
    [{ every: '@daily', pattern: 'a/b' }, 'not a valid snapshot name pattern'],
  ])('refuses %j', (options, message) => {
    expect(() => scheduleConfig(options)).toThrow(UsageError);
    expect(() => scheduleConfig(options)).toThrow(message);
  });
});
