import { describe, expect, it } from 'vitest';
import { FleetBoard } from '../../../src/cli/fleet-task-list.js';
import { emptyInstanceReport, type InstanceReport } from '../../../src/report/report.js';

const ended = (instance: string, partial: Partial<InstanceReport>): InstanceReport => ({ ...emptyInstanceReport(instance, null), ...partial });

describe('the fleet task list, one group per instance', () => {
  it('shows each instance waiting, then its current step, its ended steps as lines, and how it ended', () => {
    const board = new FleetBoard(['web1', 'backup:db1']);
    expect([...board.rows.values()].map((row) => row.title)).toEqual(['web1: waiting', 'backup:db1: waiting']);
    board.apply('web1', { type: 'step-start', action: 'snapshot', title: 'Snapshot web1' });
    board.apply('web1', { type: 'step-end', step: { action: 'snapshot', ok: true, durationMs: 350, message: 'safeupdate-x' } });
    board.apply('web1', { type: 'check', result: { name: 'systemd', phase: 'after-update', ok: false, required: true, attempts: 1, durationMs: 5, message: 'bad' } });
    board.apply('web1', { type: 'output', chunk: 'Reading package lists\n' });
    board.apply('web1', { type: 'step-end', step: { action: 'after-update', ok: false, durationMs: 1_200, message: '' } });
    board.apply('web1', { type: 'group-start', title: 'Roll back to safeupdate-x', actions: ['stop'] });
    board.apply('web1', { type: 'warning', message: 'low disk' });
    const row = board.rows.get('web1')!;
    expect(board.apply('web1', { type: 'output', chunk: 'more\n' })).toBeNull();
    expect(row.title).toBe('web1: Snapshot web1');
    expect(row.lines).toEqual(['✔ snapshot (350ms, safeupdate-x)', '✖ after-update (1.2s)', '▸ Roll back to safeupdate-x', '! low disk']);
    expect(row.ended).toBeNull();

    board.apply('web1', { type: 'finished', item: ended('web1', { outcome: 'rolled-back', durationMs: 9_000, error: { step: 'after-update', message: 'checks failed' } }) });
    expect(row.title).toBe('web1: update failed; rolled back and healthy again in 9s (after-update: checks failed)');
    expect(row.ended?.ok).toBe(false);
    // Nothing moves a group that has ended, nor one that is not on the board.
    expect(board.apply('web1', { type: 'warning', message: 'late' })).toBeNull();
    expect(board.apply('web9', { type: 'warning', message: 'stray' })).toBeNull();
    expect(row.lines).toHaveLength(4);
  });

  it('updated and skipped are fine; an update kept with a failed follow-up, a not-started one are not', () => {
    const board = new FleetBoard(['a', 'b', 'c', 'd', 'e']);
    board.apply('a', { type: 'finished', item: ended('a', { outcome: 'updated' }) });
    board.apply('b', { type: 'finished', item: ended('b', { outcome: 'skipped' }) });
    board.apply('c', { type: 'finished', item: ended('c', { outcome: 'updated', error: { step: 'follow-up', message: 'prune failed' } }) });
    board.apply('d', { type: 'finished', item: ended('d', { outcome: 'not-started', error: { step: 'selection', message: 'it is Stopped' } }) });
    board.apply('e', { type: 'finished', item: ended('e', { outcome: 'planned' }) });
    expect([...board.rows.values()].map((row) => [row.title, row.ended?.ok])).toEqual([
      ['a: updated and healthy', true],
      ['b: skipped; the fleet stopped before it; nothing changed', true],
      ['c: updated and healthy (follow-up: prune failed)', true],
      ['d: not started; nothing changed (selection: it is Stopped)', false],
      ['e: dry run; nothing changed', true],
    ]);
  });
});
