import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../src/checks/check.js';
import { emptyInstanceReport, frameReport, type InstanceReport } from '../../../src/report/report.js';
import { findBaseline, findReport, listReports, saveReport } from '../../../src/state/run-history.js';

// The run history as `history`, `show` and the after-rollback checks of `rollback` read it.

let state: string;
beforeEach(async () => {
  state = await mkdtemp(join(tmpdir(), 'safeupdate-history-q-'));
});
afterEach(() => rm(state, { recursive: true, force: true }));

const at = (minute: number) => Date.parse(`2026-11-26T10:${String(minute).padStart(2, '0')}:00Z`);

function instance(name: string, snapshot: string | null, checks: Array<Partial<CheckResult>> = []): InstanceReport {
  const item = emptyInstanceReport(name, null);
  item.snapshot = { name: snapshot, expiresAt: null };
  item.checks = checks.map((check) => ({ name: 'systemd', phase: 'baseline', ok: true, required: true, attempts: 1, durationMs: 1, message: 'm', ...check }));
  return item;
}

function save(runId: string, minute: number, instances: InstanceReport[]) {
  return saveReport(frameReport({ runId, toolVersion: 't', runDir: join(state, 'runs', runId) }, at(minute), 1_000, 'updated', 0, instances));
}

describe('saveReport', () => {
  it('writes the report as indented JSON with a final newline into the run folder, made as needed', async () => {
    const file = await save('run-a', 1, [instance('web1', 'safeupdate-1')]);
    expect(file).toBe(join(state, 'runs', 'run-a', 'report.json'));
    const text = await readFile(file, 'utf8');
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).toContain('\n  "runId": "run-a",\n');
    expect(JSON.parse(text)).toMatchObject({ runId: 'run-a', instances: [{ instance: 'web1' }] });
  });
});

describe('listReports', () => {
  it('orders by start time, not by run id or by the order on disk', async () => {
    // Ids that sort the other way round from the times they started.
    const times: Array<[string, number]> = [['e', 1], ['d', 5], ['c', 2], ['b', 4], ['a', 3]];
    for (const [id, minute] of times) await save(id, minute, [instance('web1', null)]);
    expect((await listReports(state)).map((report) => report.runId)).toEqual(['e', 'c', 'a', 'b', 'd']);
  });

  it('skips folders without a report and reports that cannot be read; keeps a run that touched no instance', async () => {
    await save('good', 1, [instance('web1', null)]);
    await save('empty-fleet', 2, []);
    await mkdir(join(state, 'runs', 'crashed'), { recursive: true });
    await mkdir(join(state, 'runs', 'garbled'), { recursive: true });
    await writeFile(join(state, 'runs', 'garbled', 'report.json'), '{"runId": ');
    expect((await listReports(state)).map((report) => report.runId)).toEqual(['good', 'empty-fleet']);
  });

  it('keeps, for an instance, every run that touched it among others', async () => {
    await save('fleet', 1, [instance('db1', null), instance('web1', null)]);
    await save('db-only', 2, [instance('db1', null)]);
    await save('web-only', 3, [instance('web1', null)]);
    expect((await listReports(state, { instance: 'web1' })).map((report) => report.runId)).toEqual(['fleet', 'web-only']);
  });

  it('keeps, for a project, the runs in it; a run that named no project counts as default', async () => {
    const inProject = (name: string, project: string | null) => ({ ...instance(name, null), project });
    await save('prod-web', 1, [inProject('web1', 'prod')]);
    await save('unnamed-web', 2, [inProject('web1', null)]);
    await save('default-db', 3, [inProject('db1', 'default')]);
    await save('prod-db', 4, [inProject('db1', 'prod')]);
    expect((await listReports(state, { project: 'prod' })).map((report) => report.runId)).toEqual(['prod-web', 'prod-db']);
    expect((await listReports(state, { project: 'default' })).map((report) => report.runId)).toEqual(['unnamed-web', 'default-db']);
    expect((await listReports(state, { instance: 'web1', project: 'prod' })).map((report) => report.runId)).toEqual(['prod-web']);
    expect((await listReports(state, { instance: 'db1', project: 'staging' }))).toEqual([]);
  });
});

describe('findReport', () => {
  it('prefers the exact id over a longer id it begins', async () => {
    await save('20261126T1001', 1, [instance('web1', null)]);
    await save('20261126T1001-2', 2, [instance('web1', null)]);
    expect(await findReport(state, '20261126T1001')).toMatchObject({ runId: '20261126T1001' });
    expect(await findReport(state, '20261126T1001-')).toMatchObject({ runId: '20261126T1001-2' });
    expect(await findReport(state, '20261126T10')).toBe('ambiguous');
  });

  it('finds nothing in an empty history', async () => {
    expect(await findReport(state, 'x')).toBeNull();
  });
});

describe('findBaseline', () => {
  it('is what the baseline checks of the run that took the snapshot on that instance found', async () => {
    await save('run-1', 1, [
      // Another instance with a snapshot of the same name: not this one's.
      instance('db1', 'safeupdate-1', [{ name: 'systemd', failedUnits: ['db-old.service'] }]),
      instance('web1', 'safeupdate-1', [
        { name: 'systemd', failedUnits: ['old.service'] },
        { name: 'unit:nginx', ok: false },
        { name: 'exec:true' },
        // Later phases are not the baseline.
        { name: 'systemd', phase: 'after-update', ok: false, failedUnits: ['new.service'] },
        { name: 'unit:php', phase: 'after-rollback', ok: true },
      ]),
    ]);
    // Another snapshot of the same instance, in another run.
    await save('run-2', 2, [instance('web1', 'safeupdate-2', [{ name: 'systemd', failedUnits: ['later.service'] }])]);
    expect(await findBaseline(state, 'web1', 'safeupdate-1')).toEqual({ failedUnits: ['old.service'], passedChecks: ['systemd', 'exec:true'], judged: ['systemd', 'unit:nginx', 'exec:true'] });
    expect(await findBaseline(state, 'web1', 'safeupdate-2')).toEqual({ failedUnits: ['later.service'], passedChecks: ['systemd'], judged: ['systemd'] });
    expect(await findBaseline(state, 'db1', 'safeupdate-1')).toEqual({ failedUnits: ['db-old.service'], passedChecks: ['systemd'], judged: ['systemd'] });
  });

  it('is null for a snapshot no saved run took (one made by hand), or another instance\'s', async () => {
    await save('run-1', 1, [instance('web1', 'safeupdate-1', [{ name: 'systemd' }])]);
    expect(await findBaseline(state, 'web1', 'manual')).toBeNull();
    expect(await findBaseline(state, 'db1', 'safeupdate-1')).toBeNull();
  });

  it('a run whose baseline had no checks: nothing failed, nothing passed, nothing judged', async () => {
    await save('run-1', 1, [instance('web1', 'safeupdate-1', [{ name: 'exec:true' }])]);
    expect(await findBaseline(state, 'web1', 'safeupdate-1')).toEqual({ failedUnits: [], passedChecks: ['exec:true'], judged: ['exec:true'] });
    await save('run-2', 2, [instance('web1', 'safeupdate-2')]);
    expect(await findBaseline(state, 'web1', 'safeupdate-2')).toEqual({ failedUnits: [], passedChecks: [], judged: [] });
  });
});
