import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyInstanceReport, frameReport } from '../../../src/report/report.js';
import { findReport, listReports, saveReport } from '../../../src/state/run-history.js';

let state: string;
beforeEach(async () => {
  state = await mkdtemp(join(tmpdir(), 'safeupdate-history-'));
});
afterEach(() => rm(state, { recursive: true, force: true }));

function report(runId: string, startedAt: number, instance: string) {
  return frameReport({ runId, toolVersion: 't', runDir: join(state, 'runs', runId) }, startedAt, 1_000, 'updated', 0, [emptyInstanceReport(instance, null)]);
}

describe('run history', () => {
  it('lists saved runs oldest first, and by instance', async () => {
    await saveReport(report('20261126T100300Z-web1-cccc', Date.parse('2026-11-26T10:03:00Z'), 'web1'));
    await saveReport(report('20261126T100100Z-web1-aaaa', Date.parse('2026-11-26T10:01:00Z'), 'web1'));
    await saveReport(report('20261126T100200Z-db1-bbbb', Date.parse('2026-11-26T10:02:00Z'), 'db1'));
    expect((await listReports(state)).map((r) => r.runId)).toEqual(['20261126T100100Z-web1-aaaa', '20261126T100200Z-db1-bbbb', '20261126T100300Z-web1-cccc']);
    expect((await listReports(state, { instance: 'web1' })).map((r) => r.runId)).toEqual(['20261126T100100Z-web1-aaaa', '20261126T100300Z-web1-cccc']);
  });

  it('finds a run by id or unambiguous prefix', async () => {
    await saveReport(report('20261126T100100Z-web1-aaaa', 0, 'web1'));
    await saveReport(report('20261126T100200Z-web1-bbbb', 1, 'web1'));
    expect(await findReport(state, '20261126T1002')).toMatchObject({ runId: '20261126T100200Z-web1-bbbb' });
    expect(await findReport(state, '20261126T10')).toBe('ambiguous');
    expect(await findReport(state, 'nope')).toBeNull();
  });

  it('has no history before the first run', async () => {
    expect(await listReports(join(state, 'missing'))).toEqual([]);
  });
});
