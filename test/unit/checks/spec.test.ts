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

describe('http and tcp checks', () => {
  it('reads URLs and host:port, with {ip} left for each attempt', () => {
    expect(parseCheckSpec('http://{ip}:8080/health')).toEqual({ kind: 'http', url: 'http://{ip}:8080/health', expect: null });
    expect(parseCheckSpec('https://example.org/')).toMatchObject({ kind: 'http' });
    expect(parseCheckSpec('tcp:127.0.0.1:5432')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 5432 });
    expect(parseCheckSpec('tcp:[::1]:53')).toEqual({ kind: 'tcp', host: '::1', port: 53 });
  });

  it.each(['http://', 'http://exa mple.org/', 'tcp:host', 'tcp::80', 'tcp:host:0', 'tcp:host:65536', 'tcp:host:8o', 'tcp:a b:80'])('refuses "%s"', (text) => {
    expect(() => parseCheckSpec(text)).toThrow(UsageError);
  });
});
