import { describe, expect, it } from 'vitest';
import { EXIT, EXIT_CODE_HELP, exitCodeFor } from '../../../src/report/exit-codes.js';
import type { Outcome } from '../../../src/report/report.js';

describe('the exit-code contract', () => {
  it('keeps the documented values (scripts depend on them)', () => {
    expect(EXIT).toEqual({ ok: 0, failedCleanly: 1, usage: 2, couldNotStart: 3, needsHuman: 4, followUpFailed: 5, interruptedByUser: 130 });
  });

  it.each<[Outcome, number]>([
    ['updated', 0],
    ['planned', 0],
    ['healthy', 0],
    ['recovered', 0],
    ['restored', 0],
    ['synced', 0],
    ['rolled-back', 1],
    ['unhealthy', 1],
    ['sync-failed', 1],
    ['not-started', 3],
    ['needs-attention', 4],
  ])('outcome %s exits %d whatever the signal', (outcome, code) => {
    expect(exitCodeFor(outcome, null)).toBe(code);
    expect(exitCodeFor(outcome, 'SIGTERM')).toBe(code);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ])('interrupted by %s exits %d', (signal, code) => {
    expect(exitCodeFor('interrupted', signal)).toBe(code);
  });

  it('an interrupt without a known signal counts as Ctrl+C: 130', () => {
    expect(exitCodeFor('interrupted', null)).toBe(130);
    expect(exitCodeFor('interrupted', 'SIGUSR1')).toBe(130);
  });

  it('the help text lists every code, in order, with its meaning', () => {
    const lines = EXIT_CODE_HELP.split('\n');
    expect(lines[0]).toBe('Exit codes:');
    const codes = lines.filter((line) => /^ {2}\d/.test(line)).map((line) => line.trim().split(/\s+/)[0]);
    expect(codes).toEqual(['0', '1', '2', '3', '4', '5', '130/143/129']);
    expect(EXIT_CODE_HELP).toContain('  2    bad usage or invalid input; nothing changed');
    expect(EXIT_CODE_HELP).toContain('  5    updated and healthy, but a follow-up step failed');
  });
});
