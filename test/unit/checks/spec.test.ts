import { describe, expect, it } from 'vitest';
import { defineCheck, parseCheckSpec } from '../../../src/checks/spec.js';
import { UsageError } from '../../../src/errors.js';

describe('parseCheckSpec', () => {
  it('reads the kinds', () => {
    expect(parseCheckSpec('systemd')).toEqual({ kind: 'systemd' });
    expect(parseCheckSpec('unit:nginx.service')).toEqual({ kind: 'unit', unit: 'nginx.service' });
    expect(parseCheckSpec('unit:getty@tty1')).toEqual({ kind: 'unit', unit: 'getty@tty1' });
    expect(parseCheckSpec('exec:test -f /ok && echo yes')).toEqual({ kind: 'exec', command: 'test -f /ok && echo yes' });
  });

  it.each([
    ['bogus:x', 'unknown check kind "bogus"'],
    ['unit:', 'is not a systemd unit name'],
    ['unit:my unit', '"my unit" is not a systemd unit name'],
    ['exec:', 'exec needs a shell command'],
    ['exec:   ', 'exec needs a shell command'],
    ['', 'unknown check kind'],
  ])('refuses "%s"', (text, message) => {
    expect(() => parseCheckSpec(text)).toThrow(UsageError);
    expect(() => parseCheckSpec(text)).toThrow(message);
  });

  it('names a check by its spec and makes it required', () => {
    expect(defineCheck('unit:nginx')).toMatchObject({ name: 'unit:nginx', required: true, timing: { deadlineMs: 60_000 } });
  });
});
