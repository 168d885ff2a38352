import { describe, expect, it } from 'vitest';
import { fleetLines } from '../../../src/fleet/fleet-lines.js';

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
});
