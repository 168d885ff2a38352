import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../src/checks/check.js';
import { headline, renderCheck, renderHuman } from '../../../src/report/human.js';
import { emptyInstanceReport, frameReport, type InstanceReport, type Outcome } from '../../../src/report/report.js';

const RUN = { runId: '20261126T042055Z-web1-8a7f', toolVersion: '0.1.0', runDir: '/state/runs/20261126T042055Z-web1-8a7f' };
const STARTED = Date.parse('2026-11-26T04:20:55.100Z');
const COMMAND = ['sh', '-c', 'apt-get upgrade -y'];

function instance(name: string, fill: (item: InstanceReport) => void): InstanceReport {
  const item = emptyInstanceReport(name, null);
  fill(item);
  return item;
}

const check = (partial: Partial<CheckResult>): CheckResult => ({
  name: 'systemd', phase: 'after-update', ok: true, required: true, attempts: 1, durationMs: 77, message: 'running, no new failed units', ...partial,
});

const lines = (text: string) => {
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
};

describe('the summary for a person', () => {
  it('a rolled-back run: every row, in order, with its label', () => {
    const web1 = instance('web1', (it) => {
      it.outcome = 'rolled-back';
      it.snapshot = { name: 'safeupdate-20261126-042057', expiresAt: '2026-12-10T04:20:57.000Z' };
      it.update = { exitCode: 0, signal: null, timedOut: false, durationMs: 582, logFile: '/state/runs/x/web1/update.log' };
      it.checks = [
        check({ phase: 'baseline', attempts: 2, durationMs: 1100 }),
        check({ ok: false, message: 'failed units: demo.service' }),
        check({ name: 'zones', ok: false, required: false, message: 'exit 1', durationMs: 300 }),
      ];
      it.rollback = {
        performed: true,
        steps: [
          { action: 'stop', ok: true, durationMs: 780, message: 'done' },
          { action: 'restore', ok: false, durationMs: 1500, message: 'no such snapshot' },
        ],
      };
      it.evidenceDir = '/state/runs/x/web1/evidence';
      it.keptFailedCopy = 'web1-failed-20261126-042100';
      it.uncoveredVolumes = [
        { device: 'data', path: '/srv/data', source: 'webdata', pool: 'default' },
        { device: 'media', path: '/media', source: '/mnt/media', pool: null },
      ];
      it.warnings = ['check zones failed', 'second warning'];
      it.steps = [
        { action: 'preflight', ok: true, durationMs: 45, message: 'Running container' },
        { action: 'after-update', ok: false, durationMs: 4480, message: 'failed' },
      ];
      it.finalStatus = 'Stopped';
      it.error = { step: 'after-update', message: 'check failed: systemd (failed units: demo.service)' };
    });
    const report = frameReport(RUN, STARTED, 12_400, 'rolled-back', 1, [web1], { command: COMMAND });
    expect(lines(renderHuman(report))).toEqual([
      'web1: update failed; rolled back and healthy again (after-update: check failed: systemd (failed units: demo.service))',
      '  snapshot   safeupdate-20261126-042057 (expires 2026-12-10T04:20:57.000Z)',
      '  update     sh -c apt-get upgrade -y: exit 0 after 582ms',
      '  log        /state/runs/x/web1/update.log',
      '  checks     ✔ systemd [baseline] running, no new failed units (1.1s, 2 attempts)',
      '             ✖ systemd [after-update] failed units: demo.service (77ms)',
      '             ! zones [after-update] exit 1 (300ms)',
      '  rollback   ✔ stop 780ms  ✖ restore 1.5s',
      '  evidence   /state/runs/x/web1/evidence',
      '  kept       web1-failed-20261126-042100 (stopped copy of the failed state; delete it with: lxc delete web1-failed-20261126-042100)',
      '  not covered /srv/data (device data: volume default/webdata)',
      '             /media (device media: /mnt/media)',
      '  warnings   check zones failed',
      '             second warning',
      '  steps      preflight 45ms, ✖after-update 4.5s',
      '  now        stopped',
      'run 20261126T042055Z-web1-8a7f: 12.4s, exit 1; report in /state/runs/20261126T042055Z-web1-8a7f/report.json',
    ]);
  });

  it('an updated run with a copy to the snapshot server, a snapshot that never expires', () => {
    const web1 = instance('web1', (it) => {
      it.outcome = 'updated';
      it.snapshot = { name: 'safeupdate-a', expiresAt: null };
      it.update = { exitCode: 0, signal: null, timedOut: false, durationMs: 61_000, logFile: null };
      it.copy = { remote: 'backup', ok: true, durationMs: 2_000, transferredSnapshots: ['safeupdate-a', 'safeupdate-b'], message: 'done' };
      it.steps = [{ action: 'update', ok: true, durationMs: 61_000, message: 'exit 0' }];
    });
    const report = frameReport(RUN, STARTED, 3_723_000, 'updated', 0, [web1], { command: ['apt-get', 'upgrade'] });
    expect(lines(renderHuman(report))).toEqual([
      'web1: updated and healthy',
      '  snapshot   safeupdate-a (never expires)',
      '  update     apt-get upgrade: exit 0 after 1m1s',
      '  copy       ✔ to backup: in 2s, snapshots sent: safeupdate-a, safeupdate-b',
      '  steps      update 1m1s',
      'run 20261126T042055Z-web1-8a7f: 1h2m3s, exit 0; report in /state/runs/20261126T042055Z-web1-8a7f/report.json',
    ]);
  });

  it('a copy that sent nothing new, and one that failed with its message', () => {
    const sentNothing = instance('web1', (it) => {
      it.outcome = 'synced';
      it.copy = { remote: 'backup', ok: true, durationMs: 300, transferredSnapshots: [], message: 'done' };
    });
    const failed = instance('db1', (it) => {
      it.outcome = 'sync-failed';
      it.copy = { remote: 'backup', ok: false, durationMs: 1_200, transferredSnapshots: ['ignored'], message: 'no space left' };
    });
    const report = frameReport(RUN, STARTED, 1_500, 'sync-failed', 1, [sentNothing, failed], { command: ['sync', 'backup:'] });
    expect(lines(renderHuman(report))).toEqual([
      'web1: copied to the snapshot server',
      '  copy       ✔ to backup: in 300ms, no new snapshots',
      '  steps      ',
      'db1: COPY TO THE SNAPSHOT SERVER FAILED',
      '  copy       ✖ to backup: in 1.2s, no space left',
      '  steps      ',
      '',
      'instance  outcome      snapshot  duration  checks  member',
      'web1      synced       -         -         -       -',
      'db1       sync-failed  -         -         -       -',
      '2 instances: 1 synced, 1 sync-failed',
      'run 20261126T042055Z-web1-8a7f: 1.5s, exit 1; report in /state/runs/20261126T042055Z-web1-8a7f/report.json',
    ]);
  });

  it('how the update ended: timed out, killed by a signal, killed without one', () => {
    const ended = (update: Partial<InstanceReport['update']>) =>
      lines(renderHuman(frameReport(RUN, STARTED, 10, 'rolled-back', 1, [instance('web1', (it) => {
        it.outcome = 'rolled-back';
        it.update = { ...it.update, durationMs: 3_600_000, ...update };
      })], { command: ['apt-get', 'upgrade'] })))[1];
    expect(ended({ timedOut: true, exitCode: null, signal: 'SIGKILL' })).toBe('  update     apt-get upgrade: timed out after 1h');
    expect(ended({ exitCode: null, signal: 'SIGKILL' })).toBe('  update     apt-get upgrade: killed (SIGKILL) after 1h');
    expect(ended({ exitCode: null, signal: null })).toBe('  update     apt-get upgrade: killed (interrupted) after 1h');
    expect(ended({ exitCode: 100 })).toBe('  update     apt-get upgrade: exit 100 after 1h');
  });

  it('a dry run: the plan, one step a row, and no update row', () => {
    const web1 = instance('web1', (it) => {
      it.outcome = 'planned';
      it.plan = ['snapshot web1 as safeupdate-20261126-042057', 'run: apt-get upgrade', 'check: systemd'];
      it.steps = [{ action: 'preflight', ok: true, durationMs: 12, message: 'ok' }];
      it.finalStatus = 'Running';
    });
    expect(lines(renderHuman(frameReport(RUN, STARTED, 900, 'planned', 0, [web1], { dryRun: true })))).toEqual([
      'web1: dry run; nothing changed',
      '  plan       snapshot web1 as safeupdate-20261126-042057',
      '             run: apt-get upgrade',
      '             check: systemd',
      '  steps      preflight 12ms',
      '  now        running',
      'run 20261126T042055Z-web1-8a7f: 900ms, exit 0; report in /state/runs/20261126T042055Z-web1-8a7f/report.json',
    ]);
  });

  it('an instance that never started: its headline with the error, and empty steps', () => {
    const web1 = instance('web1', (it) => {
      it.error = { step: 'lock', message: 'another run holds web1' };
    });
    expect(renderHuman(frameReport(RUN, STARTED, 20, 'not-started', 3, [web1]))).toBe(
      'web1: not started; nothing changed (lock: another run holds web1)\n' +
        '  steps      \n' +
        'run 20261126T042055Z-web1-8a7f: 20ms, exit 3; report in /state/runs/20261126T042055Z-web1-8a7f/report.json\n',
    );
  });
});

describe('the kept copy of a failed state', () => {
  function keptRow(instance: string, project: string | null) {
    const item = emptyInstanceReport(instance, project);
    item.outcome = 'rolled-back';
    item.keptFailedCopy = 'web1-failed-20261126-042100';
    return lines(renderHuman(frameReport(RUN, STARTED, 10, 'rolled-back', 1, [item], { command: COMMAND }))).find((line) => line.startsWith('  kept'));
  }

  it('is deleted with the remote and project of its instance', () => {
    expect(keptRow('backup:web1', 'prod')).toBe(
      '  kept       web1-failed-20261126-042100 (stopped copy of the failed state; delete it with: lxc delete backup:web1-failed-20261126-042100 --project prod)',
    );
    expect(keptRow('web1', 'default')).toBe(
      '  kept       web1-failed-20261126-042100 (stopped copy of the failed state; delete it with: lxc delete web1-failed-20261126-042100 --project default)',
    );
    expect(keptRow('web1', null)).toBe(
      '  kept       web1-failed-20261126-042100 (stopped copy of the failed state; delete it with: lxc delete web1-failed-20261126-042100)',
    );
  });
});

describe('headlines', () => {
  it.each<[Outcome, string]>([
    ['updated', 'updated and healthy'],
    ['rolled-back', 'update failed; rolled back and healthy again'],
    ['not-started', 'not started; nothing changed'],
    ['needs-attention', 'NEEDS ATTENTION'],
    ['planned', 'dry run; nothing changed'],
    ['healthy', 'healthy'],
    ['unhealthy', 'UNHEALTHY'],
    ['recovered', 'recovered'],
    ['restored', 'restored'],
    ['synced', 'copied to the snapshot server'],
    ['sync-failed', 'COPY TO THE SNAPSHOT SERVER FAILED'],
  ])('%s: "%s"', (outcome, text) => {
    expect(headline(instance('web1', (it) => (it.outcome = outcome)))).toBe(text);
  });

  it('an interrupt says whether it rolled back or came before any change', () => {
    const interrupted = (performed: boolean) => instance('web1', (it) => {
      it.outcome = 'interrupted';
      it.rollback = { performed, steps: [] };
    });
    expect(headline(interrupted(true))).toBe('interrupted; rolled back and healthy again');
    expect(headline(interrupted(false))).toBe('interrupted; nothing changed');
  });

  it('only an interrupt gets the "nothing changed" headline for a rollback not performed', () => {
    expect(headline(instance('web1', (it) => (it.outcome = 'rolled-back')))).toBe('update failed; rolled back and healthy again');
  });
});

describe('one check, on one line', () => {
  it('marks a pass, a required failure and a warning, and counts attempts beyond the first', () => {
    expect(renderCheck(check({ attempts: 1 }))).toBe('✔ systemd [after-update] running, no new failed units (77ms)');
    expect(renderCheck(check({ ok: false, attempts: 3, durationMs: 4_100, message: 'inactive' }))).toBe('✖ systemd [after-update] inactive (4.1s, 3 attempts)');
    expect(renderCheck(check({ ok: false, required: false, phase: 'check', name: 'zones', message: 'exit 1', attempts: 0 }))).toBe('! zones [check] exit 1 (77ms, 0 attempts)');
  });
});
