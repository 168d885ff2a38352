import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFromEntry, defineCheck, parseCheckSpec } from '../../../src/checks/spec.js';
import { DEFAULT_TIMING } from '../../../src/checks/check.js';
import { UsageError } from '../../../src/errors.js';

// What a check may be, as written on the command line or in the config file: a check that could
// never succeed is bad input (exit 2), with a message that says what was expected.

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('expected a UsageError');
}

const KINDS = 'systemd, unit:<name>, exec:<command>, http(s)://host:port/path or tcp:host:port';

describe('the kind of a check', () => {
  it('is what comes before the first colon, and an unknown one lists the kinds there are', () => {
    expect(refusal(() => parseCheckSpec('bogus:x'))).toBe(`check "bogus:x": unknown check kind "bogus"; use ${KINDS}`);
    expect(refusal(() => parseCheckSpec(':x'))).toBe(`check ":x": unknown check kind ":x"; use ${KINDS}`);
    expect(refusal(() => parseCheckSpec('systemd:x'))).toBe(`check "systemd:x": unknown check kind "systemd"; use ${KINDS}`);
  });

  it('a kind without its value: nothing to check', () => {
    expect(refusal(() => parseCheckSpec('unit'))).toBe('check "unit": "" is not a systemd unit name');
    expect(refusal(() => parseCheckSpec('exec'))).toBe('check "exec": exec needs a shell command, like exec:\'test -f /ok\'');
  });

  it('an exec command that mentions a URL is still an exec command', () => {
    expect(parseCheckSpec('exec:curl -f http://localhost/health')).toEqual({ kind: 'exec', command: 'curl -f http://localhost/health' });
  });

  it('an exec command keeps every further colon', () => {
    expect(parseCheckSpec('exec:echo a:b:c')).toEqual({ kind: 'exec', command: 'echo a:b:c' });
  });
});

describe('tcp checks', () => {
  it.each([['tcp:db:1', 1], ['tcp:db:65535', 65_535], ['tcp:{ip}:53', 53]])('accept %s', (text, port) => {
    expect(parseCheckSpec(text)).toMatchObject({ kind: 'tcp', port });
  });

  it.each(['tcp:db:+80', 'tcp:db:80 ', 'tcp:db: 80', 'tcp:db:0x50', 'tcp:db:8e1', 'tcp:db:80.0', 'tcp:db:65536', 'tcp:db:0', 'tcp::80', 'tcp:80'])('refuse %s', (text) => {
    expect(refusal(() => parseCheckSpec(text))).toBe(`check "${text}": expected tcp:<host>:<port> with a port from 1 to 65535, like tcp:{ip}:53`);
  });

  it('an IPv6 address in brackets is the host without them', () => {
    expect(parseCheckSpec('tcp:[fd42::1]:5432')).toEqual({ kind: 'tcp', host: 'fd42::1', port: 5432 });
  });
});

describe('http checks', () => {
  it('a URL that cannot be parsed is refused', () => {
    expect(refusal(() => parseCheckSpec('http://exa mple.org/'))).toBe('check "http://exa mple.org/": not a valid URL');
  });

  it('keeps the URL as written, {ip} included, and the expected body', () => {
    expect(parseCheckSpec('https://{ip}:8443/health', 'ok')).toEqual({ kind: 'http', url: 'https://{ip}:8443/health', expect: 'ok' });
  });
});

describe('checks from the config file', () => {
  it.each(['timeout', 'interval', 'deadline', 'settle'] as const)('a %s that is not a duration is refused, naming the key', (key) => {
    expect(refusal(() => checkFromEntry({ exec: 'true', [key]: '5 s' }))).toBe(`${key}: "5 s" is not a duration; use a number with a unit, like 90s, 5m, 2h, 7d, 2w or 1h30m`);
  });

  it('timings given replace only their defaults', () => {
    expect(checkFromEntry({ exec: 'true', timeout: '5s', settle: '1m' }).timing).toEqual({ ...DEFAULT_TIMING, timeoutMs: 5_000, settleMs: 60_000 });
    expect(checkFromEntry({ unit: 'nginx', interval: '3s', deadline: '2m' }).timing).toEqual({ ...DEFAULT_TIMING, intervalMs: 3_000, deadlineMs: 120_000 });
  });

  it('insecure on an https check: verification is skipped, and the definition says so', () => {
    expect(checkFromEntry({ http: 'https://{ip}:8443/', insecure: true }).spec).toEqual({ kind: 'http', url: 'https://{ip}:8443/', expect: null, tls: { insecure: true } });
    expect(checkFromEntry({ http: 'https://{ip}:8443/', insecure: false }).spec).toEqual({ kind: 'http', url: 'https://{ip}:8443/', expect: null });
  });

  it('insecure on an http:// URL that merely mentions https:// is refused', () => {
    const url = 'http://{ip}/login?next=https://example.org/';
    expect(refusal(() => checkFromEntry({ http: url, insecure: true }))).toBe(`insecure: "${url}" is not an https:// URL, so there is no certificate to verify`);
  });

  it('a string entry is a check as on the command line', () => {
    expect(checkFromEntry('unit:nginx')).toEqual(defineCheck('unit:nginx'));
  });
});

describe('the CA file of an https check', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safeupdate-ca-'));
    await execa('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=ca test',
      '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'),
    ]);
    await execa('openssl', ['x509', '-in', join(dir, 'ca.pem'), '-outform', 'DER', '-out', join(dir, 'ca.der')]);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is read when the config is loaded, as PEM text', () => {
    const spec = checkFromEntry({ http: 'https://{ip}/', ca: join(dir, 'ca.pem') }).spec;
    expect(spec).toMatchObject({ kind: 'http', tls: { caFile: join(dir, 'ca.pem') } });
    expect(spec.kind === 'http' && spec.tls && 'ca' in spec.tls ? spec.tls.ca : '').toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
  });

  it('a certificate in DER, not PEM, is refused', () => {
    const file = join(dir, 'ca.der');
    expect(refusal(() => checkFromEntry({ http: 'https://{ip}/', ca: file }))).toBe(`ca: ${file} is not a PEM certificate (-----BEGIN CERTIFICATE----- …)`);
  });

  it('a PEM file whose certificate is broken is refused', async () => {
    const file = join(dir, 'broken.pem');
    await writeFile(file, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    expect(refusal(() => checkFromEntry({ http: 'https://{ip}/', ca: file }))).toBe(`ca: ${file} is not a PEM certificate (-----BEGIN CERTIFICATE----- …)`);
  });
});
