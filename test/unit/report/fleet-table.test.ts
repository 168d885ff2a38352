import { describe, expect, it } from 'vitest';
import { fleetRows, fleetTotals } from '../../../src/report/fleet-table.js';
import { renderHuman } from '../../../src/report/human.js';
import { renderMarkdown } from '../../../src/report/markdown.js';
import { fleetReport, rolledBackReport, updatedReport } from './samples.js';

describe('a row per instance', () => {
  it('outcome, snapshot, duration, the last phase of checks with the failed ones named, member; - where nothing is known', () => {
    expect(fleetRows(fleetReport())).toEqual([
      { instance: 'web1', outcome: 'updated', snapshot: 'safeupdate-20261126-042057', duration: '2.8s', checks: '1/1 after-update', member: 'm1' },
      { instance: 'backup:web2', outcome: 'rolled-back', snapshot: 'safeupdate-20261126-042057', duration: '12.4s', checks: '1/1 after-rollback', member: 'm2' },
      { instance: 'web3', outcome: 'skipped', snapshot: '-', duration: '-', checks: '-', member: '-' },
    ]);
  });

  it('names each required check that failed in the last phase, not the ones that are only warnings', () => {
    const report = rolledBackReport();
    const item = report.instances[0]!;
    item.checks = item.checks.filter((check) => check.phase !== 'after-rollback');
    expect(fleetRows(report)[0]!.checks).toBe('0/3 after-update ✖ systemd, http://{ip}:8080/health');
  });

  it('totals count each outcome in the order it first appears', () => {
    const report = fleetReport();
    report.instances.push({ ...report.instances[0]!, instance: 'web4' });
    expect(fleetTotals(report)).toBe('4 instances: 2 updated, 1 rolled-back, 1 skipped');
    expect(fleetTotals(updatedReport())).toBe('1 instance: 1 updated');
  });
});

describe('the fleet table in the human summary and the Markdown summary', () => {
  it('human: aligned columns under the details, then the totals; none for a single instance', () => {
    const lines = renderHuman(fleetReport()).split('\n');
    const header = lines.findIndex((line) => line.startsWith('instance '));
    expect(lines.slice(header, header + 5)).toEqual([
      'instance     outcome      snapshot                    duration  checks              member',
      'web1         updated      safeupdate-20261126-042057  2.8s      1/1 after-update    m1',
      'backup:web2  rolled-back  safeupdate-20261126-042057  12.4s     1/1 after-rollback  m2',
      'web3         skipped      -                           -         -                   -',
      '3 instances: 1 updated, 1 rolled-back, 1 skipped',
    ]);
    expect(lines[header - 1]).toBe('');
    expect(renderHuman(updatedReport())).not.toMatch(/^instance /m);
  });

  it('human: wide characters (CJK, emoji) keep the columns aligned, by display width and not by .length', () => {
    const report = fleetReport();
    // A check named by the user (name: in the config file) and a snapshot named with --snapshot-name.
    report.instances[0]!.member = '東京1';
    report.instances[1]!.snapshot.name = 'safeupdate-🚀-release';
    const lines = renderHuman(report).split('\n');
    const header = lines.findIndex((line) => line.startsWith('instance '));
    expect(lines.slice(header, header + 4)).toEqual([
      'instance     outcome      snapshot                    duration  checks              member',
      'web1         updated      safeupdate-20261126-042057  2.8s      1/1 after-update    東京1',
      'backup:web2  rolled-back  safeupdate-🚀-release       12.4s     1/1 after-rollback  m2',
      'web3         skipped      -                           -         -                   -',
    ]);
  });

  it('human: a control character in a cell is measured as the caret notation it is shown in, so the columns stay aligned', () => {
    const report = fleetReport();
    // A cluster member's name comes from the server; an escape there must neither act nor shift the table.
    report.instances[0]!.member = 'm\x1b[2J1';
    report.instances[1]!.snapshot.name = 'snap\rshot';
    const lines = renderHuman(report).split('\n');
    const header = lines.findIndex((line) => line.startsWith('instance '));
    expect(lines.slice(header, header + 4)).toEqual([
      'instance     outcome      snapshot                    duration  checks              member',
      'web1         updated      safeupdate-20261126-042057  2.8s      1/1 after-update    m^[[2J1',
      'backup:web2  rolled-back  snap^Mshot                  12.4s     1/1 after-rollback  m2',
      'web3         skipped      -                           -         -                   -',
    ]);
  });

  it('Markdown: the totals and the table come first, cells escaped; none for a single instance', () => {
    const report = fleetReport();
    report.instances[2]!.instance = 'web|3';
    const markdown = renderMarkdown(report);
    expect(markdown.split('\n').slice(0, 7)).toEqual([
      '**3 instances: 1 updated, 1 rolled-back, 1 skipped**',
      '',
      '| instance | outcome | snapshot | duration | checks | member |',
      '| --- | --- | --- | --- | --- | --- |',
      '| web1 | updated | safeupdate-20261126-042057 | 2.8s | 1/1 after-update | m1 |',
      '| backup:web2 | rolled-back | safeupdate-20261126-042057 | 12.4s | 1/1 after-rollback | m2 |',
      '| web\\|3 | skipped | - | - | - | - |',
    ]);
    expect(renderMarkdown(updatedReport())).not.toContain('| instance |');
  });
});

describe('a snapshot the run deleted because no package changed', () => {
  it('is named as deleted in the human row, the Markdown fact and the table, not with its expiry', () => {
    const report = fleetReport();
    report.instances[0]!.packages = { manager: 'dpkg', simulated: false, changes: [], counts: { major: 0, minor: 0, patch: 0, other: 0 }, snapshotDeleted: true };
    expect(renderHuman(report)).toContain('  snapshot   safeupdate-20261126-042057 (deleted: no package changed)\n');
    expect(renderMarkdown(report)).toContain('**Snapshot:** safeupdate-20261126-042057 (deleted: no package changed)');
    expect(fleetRows(report).map((row) => row.snapshot)).toEqual(['safeupdate-20261126-042057 (deleted)', 'safeupdate-20261126-042057', '-']);
  });
});
