import { describe, expect, it } from 'vitest';
import { emptyInstanceReport, frameReport, worstOutcome, type InstanceReport, type Outcome } from '../../../src/report/report.js';

const RUN = { runId: '20261126T042055Z-web1-8a7f', toolVersion: '0.1.0', runDir: '/state/runs/20261126T042055Z-web1-8a7f' };
const STARTED = Date.parse('2026-11-26T04:20:55.100Z');

function withOutcome(outcome: Outcome, name = 'web1'): InstanceReport {
  return { ...emptyInstanceReport(name, null), outcome };
}

describe('an instance report before anything happened', () => {
  it('says not started, with every field empty', () => {
    expect(emptyInstanceReport('backup:db1', 'prod')).toStrictEqual({
      instance: 'backup:db1',
      project: 'prod',
      member: null,
      startedAt: null,
      durationMs: null,
      outcome: 'not-started',
      snapshot: { name: null, expiresAt: null },
      update: { exitCode: null, signal: null, timedOut: false, durationMs: null, logFile: null },
      checks: [],
      rollback: { performed: false, steps: [] },
      evidenceDir: null,
      copy: null,
      keptFailedCopy: null,
      space: null,
      uncoveredVolumes: [],
      steps: [],
      plan: [],
      packages: null,
    soak: null,
      finalStatus: null,
      warnings: [],
      error: null,
    });
  });

  it('gives each report lists of its own', () => {
    const a = emptyInstanceReport('web1', null);
    const b = emptyInstanceReport('web2', null);
    a.steps.push({ action: 'preflight', ok: true, durationMs: 1, message: 'ok' });
    a.warnings.push('w');
    expect(b.steps).toEqual([]);
    expect(b.warnings).toEqual([]);
  });
});

describe('the report frame', () => {
  it('fills the frame from the run, the clock and the details', () => {
    const instances = [withOutcome('rolled-back')];
    const report = frameReport(RUN, STARTED, 8100, 'rolled-back', 1, instances, {
      command: ['apt-get', 'upgrade', '-y'],
      dryRun: true,
      interruptedBy: 'SIGTERM',
    });
    expect(report).toStrictEqual({
      schema: 1,
      runId: '20261126T042055Z-web1-8a7f',
      tool: { name: 'safeupdate', version: '0.1.0' },
      client: 'lxc',
      startedAt: '2026-11-26T04:20:55.100Z',
      durationMs: 8100,
      outcome: 'rolled-back',
      exitCode: 1,
      interruptedBy: 'SIGTERM',
      command: ['apt-get', 'upgrade', '-y'],
      dryRun: true,
      runDir: '/state/runs/20261126T042055Z-web1-8a7f',
      instances,
    });
  });

  it('without details: no command, not a dry run, not interrupted', () => {
    const report = frameReport(RUN, STARTED, 5, 'healthy', 0, []);
    expect(report.command).toEqual([]);
    expect(report.dryRun).toBe(false);
    expect(report.interruptedBy).toBeNull();
    expect(report.instances).toEqual([]);
  });

  it('an explicit interruptedBy null stays null', () => {
    expect(frameReport(RUN, STARTED, 5, 'healthy', 0, [], { interruptedBy: null }).interruptedBy).toBeNull();
  });
});

describe('the worst outcome of several instances', () => {
  const ORDER: Outcome[] = ['needs-attention', 'not-started', 'rolled-back', 'updated'];

  it('is the first in the order that any instance had, not only when all had it', () => {
    expect(worstOutcome([withOutcome('updated'), withOutcome('rolled-back', 'web2'), withOutcome('updated', 'web3')], ORDER)).toBe('rolled-back');
    expect(worstOutcome([withOutcome('rolled-back'), withOutcome('needs-attention', 'web2')], ORDER)).toBe('needs-attention');
    expect(worstOutcome([withOutcome('updated'), withOutcome('updated', 'web2')], ORDER)).toBe('updated');
  });

  it('with no instances, is the mildest: the last in the order', () => {
    expect(worstOutcome([], ORDER)).toBe('updated');
  });

  it('an outcome the order does not know is a bug, said loudly: never read as the mildest', () => {
    expect(() => worstOutcome([withOutcome('synced')], ORDER)).toThrow('outcome "synced" is not in the order');
  });
});
