import { describe, expect, it } from 'vitest';
import { fleetExitCode } from '../../../src/report/exit-codes.js';
import { emptyInstanceReport, type Outcome } from '../../../src/report/report.js';

const fleet = (...outcomes: Array<Outcome | 'follow-up-failed'>) => outcomes.map((outcome, index) => ({
  ...emptyInstanceReport(`web${index}`, null),
  outcome: outcome === 'follow-up-failed' ? 'updated' as const : outcome,
  error: outcome === 'follow-up-failed' ? { step: 'follow-up', message: 'pruning failed' } : null,
}));

describe('one exit code for several instances', () => {
  it.each([
    [['updated', 'updated'], null, 0],
    [['updated', 'follow-up-failed'], null, 5],
    [['follow-up-failed', 'skipped'], null, 3],
    [['updated', 'not-started'], null, 3],
    [['not-started', 'rolled-back'], null, 1],
    [['healthy', 'unhealthy'], null, 1],
    [['rolled-back', 'interrupted', 'skipped'], 'SIGTERM', 143],
    [['updated', 'skipped'], 'SIGHUP', 129],
    [['interrupted'], null, 130],
    [['interrupted', 'needs-attention', 'rolled-back'], 'SIGINT', 4],
  ] as const)('%j interrupted by %s → %i', (outcomes, signal, code) => {
    expect(fleetExitCode(fleet(...outcomes), signal)).toBe(code);
  });
});
