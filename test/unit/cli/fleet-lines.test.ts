import { describe, expect, it } from 'vitest';
import { fleetLines } from '../../../src/cli/fleet-lines.js';
import { emptyInstanceReport } from '../../../src/report/report.js';

describe('the line view of a fleet', () => {
  it('starts every line with its instance, also output that arrives in pieces and interleaved', () => {
    const written: string[] = [];
    const emit = fleetLines({ write: (text) => written.push(text), verbose: false, quiet: false, showOutput: true });
    emit('local:web1', { type: 'step-start', action: 'snapshot', title: 'Take snapshot' });
    emit('local:web2', { type: 'output', chunk: 'Reading pack' });
    emit('local:web2', { type: 'output', chunk: 'age lists\nDone\n' });
    emit('local:web1', { type: 'warning', message: 'low disk' });
    const lines = written.join('').split('\n').filter(Boolean);
    expect(lines.every((line) => /^\[local:web[12]\] /.test(line))).toBe(true);
    expect(lines).toContain('[local:web2] Reading package lists');
    expect(lines).toContain('[local:web2] Done');
    expect(lines.filter((line) => line.startsWith('[local:web1]'))).toHaveLength(2);
  });

  it('ends each instance with one line: its outcome, how long it took and why, also under --quiet', () => {
    const written: string[] = [];
    const emit = fleetLines({ write: (text) => written.push(text), verbose: false, quiet: true, showOutput: false });
    const rolledBack = { ...emptyInstanceReport('web2', null), outcome: 'rolled-back' as const, durationMs: 12_400, error: { step: 'after-update', message: 'checks failed: systemd' } };
    emit('web1', { type: 'finished', item: { ...emptyInstanceReport('web1', null), outcome: 'updated', durationMs: 2_750 } });
    emit('web2', { type: 'finished', item: rolledBack });
    emit('web3', { type: 'finished', item: { ...emptyInstanceReport('web3', null), error: { step: 'selection', message: 'it is Stopped' } } });
    expect(written.join('')).toBe('[web1] → updated and healthy in 2.8s\n[web2] → update failed; rolled back and healthy again in 12.4s (after-update: checks failed: systemd)\n[web3] → not started; nothing changed (selection: it is Stopped)\n');
  });
});
