import { describe, expect, it } from 'vitest';
import { decideRetention, type RetentionRules } from '../../../src/snapshots/retention.js';

const snap = (name: string, createdAt: string) => ({ name, createdAt, expiresAt: null, stateful: false, sizeBytes: null });
const now = new Date('2026-11-26T12:00:00Z');
// Oldest first, with a snapshot safeupdate did not make among them: the order given must not matter.
const SNAPS = [
  snap('safeupdate-e', '2026-10-10T08:00:00Z'),
  snap('safeupdate-d', '2026-11-18T08:00:00Z'),
  snap('manual', '2026-11-19T08:00:00Z'),
  snap('safeupdate-c', '2026-11-25T08:00:00Z'),
  snap('safeupdate-b', '2026-11-26T08:00:00Z'),
  snap('safeupdate-a', '2026-11-26T10:00:00Z'),
];
const decide = (rules: RetentionRules, snapshots = SNAPS) =>
  decideRetention(snapshots, rules, now).map((d) => [d.snapshot.name, d.keep, d.reason]);

describe('retention decisions', () => {
  it('lists its own snapshots newest first, each with the first rule that keeps it, then the foreign ones', () => {
    expect(decide({ keepLast: 1, keepDaily: 2, keepWeekly: 2, keepMonthly: 2 })).toEqual([
      ['safeupdate-a', true, 'keep-last 1'],
      ['safeupdate-b', false, 'no rule keeps it'],
      ['safeupdate-c', true, 'keep-daily 2026-11-25'],
      ['safeupdate-d', true, 'keep-weekly 2026-W47'],
      ['safeupdate-e', true, 'keep-monthly 2026-10'],
      ['manual', true, 'not made by safeupdate'],
    ]);
  });

  it('numbers keep-last from the newest', () => {
    expect(decide({ keepLast: 3 }).slice(0, 4)).toEqual([
      ['safeupdate-a', true, 'keep-last 1'],
      ['safeupdate-b', true, 'keep-last 2'],
      ['safeupdate-c', true, 'keep-last 3'],
      ['safeupdate-d', false, 'no rule keeps it'],
    ]);
  });

  it('a count of zero keeps nothing by that rule', () => {
    expect(decide({ keepLast: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 }).filter(([, keep]) => keep)).toEqual([['manual', true, 'not made by safeupdate']]);
  });

  it('each bucket keeps its newest snapshot, and as many buckets as asked', () => {
    expect(decide({ keepDaily: 3 }).slice(0, 5)).toEqual([
      ['safeupdate-a', true, 'keep-daily 2026-11-26'],
      ['safeupdate-b', false, 'no rule keeps it'],
      ['safeupdate-c', true, 'keep-daily 2026-11-25'],
      ['safeupdate-d', true, 'keep-daily 2026-11-18'],
      ['safeupdate-e', false, 'no rule keeps it'],
    ]);
    expect(decide({ keepMonthly: 1 }).slice(0, 2)).toEqual([
      ['safeupdate-a', true, 'keep-monthly 2026-11'],
      ['safeupdate-b', false, 'no rule keeps it'],
    ]);
  });

  it('--older-than keeps what is exactly that old, and lets older go', () => {
    const day = 86_400_000;
    // safeupdate-c is exactly 28 hours old.
    expect(decide({ olderThanMs: 28 * 3_600_000 }).slice(0, 4)).toEqual([
      ['safeupdate-a', true, 'not older than --older-than'],
      ['safeupdate-b', true, 'not older than --older-than'],
      ['safeupdate-c', true, 'not older than --older-than'],
      ['safeupdate-d', false, 'no rule keeps it'],
    ]);
    expect(decide({ olderThanMs: 28 * 3_600_000 - 1 })[2]).toEqual(['safeupdate-c', false, 'no rule keeps it']);
    expect(decide({ olderThanMs: 60 * day, keepLast: 1 })[0]).toEqual(['safeupdate-a', true, 'keep-last 1']);
  });

  it('without rules, every snapshot of its own may go (the caller requires at least one rule)', () => {
    expect(decide({}).filter(([, keep]) => !keep).map(([name]) => name)).toEqual(['safeupdate-a', 'safeupdate-b', 'safeupdate-c', 'safeupdate-d', 'safeupdate-e']);
  });

  it('only a name that starts with the prefix is its own', () => {
    const decisions = decide({}, [snap('x-safeupdate-', '2026-11-01T00:00:00Z'), snap('Safeupdate-a', '2026-11-01T00:00:00Z')]);
    expect(decisions).toEqual([
      ['x-safeupdate-', true, 'not made by safeupdate'],
      ['Safeupdate-a', true, 'not made by safeupdate'],
    ]);
  });
});

describe('ISO weeks, in UTC', () => {
  const weekOf = (createdAt: string) => decide({ keepWeekly: 1 }, [snap('safeupdate-x', createdAt)])[0]![2];

  it.each([
    ['2026-11-26T12:00:00Z', 'keep-weekly 2026-W48'], // a Thursday
    ['2026-11-29T23:59:59Z', 'keep-weekly 2026-W48'], // Sunday ends the ISO week
    ['2026-11-30T00:00:00Z', 'keep-weekly 2026-W49'], // Monday begins the next
    ['2026-01-01T00:00:00Z', 'keep-weekly 2026-W01'], // 2026 begins on a Thursday: its week 1
    ['2027-01-01T00:00:00Z', 'keep-weekly 2026-W53'], // a Friday: still the last week of 2026
    ['2024-12-30T00:00:00Z', 'keep-weekly 2025-W01'], // a Monday in December: week 1 of the next year
    ['2026-03-09T00:30:00+01:00', 'keep-weekly 2026-W10'], // Sunday 23:30 UTC, Monday in the local time written
  ])('%s is in %s', (createdAt, reason) => {
    expect(weekOf(createdAt)).toBe(reason);
  });

  it('days and months are UTC too', () => {
    expect(decide({ keepDaily: 1 }, [snap('safeupdate-x', '2026-12-01T00:30:00+01:00')])[0]![2]).toBe('keep-daily 2026-11-30');
    expect(decide({ keepMonthly: 1 }, [snap('safeupdate-x', '2026-12-01T00:30:00+01:00')])[0]![2]).toBe('keep-monthly 2026-11');
  });
});

describe('the snapshot the current run just took', () => {
  // The host clock stepped back: the new snapshot looks older than the others.
  const WITH_NEW = [...SNAPS, snap('safeupdate-new', '2026-11-20T00:00:00Z')];

  it('counts as the newest for keep-last whatever its date, and says why it is kept', () => {
    expect(decide({ keepLast: 2, current: 'safeupdate-new' }, WITH_NEW).slice(0, 4)).toEqual([
      ['safeupdate-new', true, 'taken by this run'],
      ['safeupdate-a', true, 'keep-last 2'],
      ['safeupdate-b', false, 'no rule keeps it'],
      ['safeupdate-c', false, 'no rule keeps it'],
    ]);
    expect(decide({ keepLast: 1, current: 'safeupdate-new' }, WITH_NEW).filter(([, keep]) => keep).map(([name]) => name)).toEqual(['safeupdate-new', 'manual']);
  });

  it('is never deleted, even when no rule would keep it and it looks old', () => {
    expect(decide({ olderThanMs: 1, current: 'safeupdate-new' }, WITH_NEW).filter(([, keep]) => keep)).toEqual([
      ['safeupdate-new', true, 'taken by this run'],
      ['manual', true, 'not made by safeupdate'],
    ]);
  });

  it('without a current snapshot, the dates alone decide', () => {
    expect(decide({ keepLast: 1 }, WITH_NEW)[0]).toEqual(['safeupdate-a', true, 'keep-last 1']);
    expect(decide({ keepLast: 1 }, WITH_NEW).find(([name]) => name === 'safeupdate-new')).toEqual(['safeupdate-new', false, 'no rule keeps it']);
  });
});
