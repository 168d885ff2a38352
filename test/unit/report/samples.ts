import type { CheckResult } from '../../../src/checks/check.js';
import { emptyInstanceReport, frameReport, type InstanceReport, type Report } from '../../../src/report/report.js';

/** Sample reports, as runs produce them, for the renderers' tests. */

const RUN = { runId: '20261126T042055Z-web1-8a7f', toolVersion: '0.1.0', runDir: '/var/lib/safeupdate/runs/20261126T042055Z-web1-8a7f' };
const STARTED = Date.parse('2026-11-26T04:20:55.100Z');
const COMMAND = ['sh', '-c', 'apt-get update -q && apt-get upgrade -y'];
const INSTANCE_DIR = `${RUN.runDir}/web1`;

const check = (phase: CheckResult['phase'], ok: boolean, partial: Partial<CheckResult> = {}): CheckResult => ({
  name: 'systemd', phase, ok, required: true, attempts: 1, durationMs: 77, message: ok ? 'running, no new failed units' : 'failed units: demo.service', ...partial,
});

function item(fill: (item: InstanceReport) => void): InstanceReport {
  const result = emptyInstanceReport('web1', null);
  fill(result);
  return result;
}

export function updatedReport(): Report {
  const web1 = item((it) => {
    it.outcome = 'updated';
    it.snapshot = { name: 'safeupdate-20261126-042057', expiresAt: '2026-12-10T04:20:57.000Z' };
    it.update = { exitCode: 0, signal: null, timedOut: false, durationMs: 582, logFile: `${INSTANCE_DIR}/update.log` };
    it.checks = [check('baseline', true, { attempts: 2, durationMs: 1100 }), check('after-update', true)];
    it.steps = [
      { action: 'preflight', ok: true, durationMs: 45, message: 'Running container' },
      { action: 'baseline', ok: true, durationMs: 1101, message: '1 check(s) passed' },
      { action: 'snapshot', ok: true, durationMs: 900, message: 'safeupdate-20261126-042057, expires 2026-12-10T04:20:57.000Z' },
      { action: 'update', ok: true, durationMs: 582, message: 'exit 0' },
      { action: 'after-update', ok: true, durationMs: 78, message: '1 check(s) passed' },
    ];
    it.finalStatus = 'Running';
  });
  return frameReport(RUN, STARTED, 2750, 'updated', 0, [web1], { command: COMMAND });
}

/** The update broke a service; an after-update check failed (with awkward characters), it was rolled back. */
export const AWKWARD = 'expected <ok> & got "bad" \'x\'\nsecond line | *two*';

export function rolledBackReport(): Report {
  const web1 = item((it) => {
    it.outcome = 'rolled-back';
    it.snapshot = { name: 'safeupdate-20261126-042057', expiresAt: '2026-12-10T04:20:57.000Z' };
    it.update = { exitCode: 0, signal: null, timedOut: false, durationMs: 582, logFile: `${INSTANCE_DIR}/update.log` };
    it.checks = [
      check('baseline', true, { attempts: 2, durationMs: 1100 }),
      check('after-update', false, { failedUnits: ['demo.service'] }),
      check('after-update', false, { name: 'http://{ip}:8080/health', message: AWKWARD, attempts: 3, durationMs: 4100 }),
      check('after-update', false, { name: 'zones', required: false, message: 'exit 1: zone example.org broken', durationMs: 300 }),
      check('after-rollback', true, { attempts: 3, durationMs: 3200 }),
    ];
    const rollback = [
      { action: 'stop', ok: true, durationMs: 780, message: 'done' },
      { action: 'restore', ok: true, durationMs: 533, message: 'done' },
      { action: 'start', ok: true, durationMs: 185, message: 'done' },
    ];
    it.rollback = { performed: true, steps: rollback };
    it.steps = [
      { action: 'preflight', ok: true, durationMs: 45, message: 'Running container' },
      { action: 'baseline', ok: true, durationMs: 1101, message: '1 check(s) passed' },
      { action: 'snapshot', ok: true, durationMs: 900, message: 'safeupdate-20261126-042057, expires 2026-12-10T04:20:57.000Z' },
      { action: 'update', ok: true, durationMs: 582, message: 'exit 0' },
      { action: 'after-update', ok: false, durationMs: 4480, message: '2 of 3 required check(s) failed' },
      { action: 'evidence', ok: true, durationMs: 300, message: `${INSTANCE_DIR}/evidence/instance.txt` },
      ...rollback,
      { action: 'after-rollback', ok: true, durationMs: 3201, message: '1 check(s) passed' },
    ];
    it.evidenceDir = `${INSTANCE_DIR}/evidence`;
    it.warnings = ['check zones failed (after-update, not required): exit 1: zone example.org broken'];
    it.finalStatus = 'Running';
    it.error = { step: 'after-update', message: `checks failed: systemd (failed units: demo.service); http://{ip}:8080/health (${AWKWARD})` };
  });
  return frameReport(RUN, STARTED, 12_400, 'rolled-back', 1, [web1], { command: COMMAND });
}

/** Another run held the lock: not a single step ran. */
export function notStartedReport(): Report {
  const web1 = item((it) => {
    it.error = { step: 'lock', message: 'web1 is being updated by run 20261126T041000Z-web1-0001 (pid 4242, since 04:10:00)' };
    it.finalStatus = 'Running';
  });
  return frameReport(RUN, STARTED, 12, 'not-started', 3, [web1], { command: COMMAND });
}

/** A fleet of three on a cluster: one updated, one rolled back, one skipped after --max-failures 1. */
export function fleetReport(): Report {
  const web1 = { ...updatedReport().instances[0]!, member: 'm1', startedAt: '2026-11-26T04:20:55.200Z', durationMs: 2750 };
  const web2 = { ...rolledBackReport().instances[0]!, instance: 'backup:web2', member: 'm2', startedAt: '2026-11-26T04:20:55.300Z', durationMs: 12_400 };
  const web3 = { ...emptyInstanceReport('web3', null), outcome: 'skipped' as const };
  return frameReport({ ...RUN, runId: '20261126T042055Z-fleet-8a7f' }, STARTED, 15_300, 'rolled-back', 1, [web1, web2, web3], { command: COMMAND });
}
