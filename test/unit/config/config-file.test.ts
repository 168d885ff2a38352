import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFromEntry } from '../../../src/checks/spec.js';
import { loadConfig, settingsFor } from '../../../src/config/config-file.js';
import { parseConfig } from '../../../src/config/config-schema.js';
import { UsageError } from '../../../src/errors.js';
import { resolveChecks, toRunOptions } from '../../../src/cli/run-options.js';

const EXAMPLE = `
defaults:
  expiry: 7d
  timeout: 30m
  env:
    LANG: C.UTF-8
  checks:
    - systemd
instances:
  web1:
    checks:
      - http: "http://{ip}:8080/health"
        expect: ok
        timeout: 5s
        interval: 2s
        deadline: 60s
      - unit: nginx
      - tcp: "{ip}:53"
      - exec: "pdnsutil check-all-zones"
        required: false
        settle: 10s
  "backup:db1":
    expiry: never
    rollback: false
    env:
      PGOPTIONS: "-c statement_timeout=0"
`;

describe('the config file', () => {
  it('reads the documented example', () => {
    const config = { ...parseConfig(EXAMPLE, 'safeupdate.yaml'), file: 'safeupdate.yaml' };
    const web1 = settingsFor(config, 'web1');
    const checks = resolveChecks([], web1)!;
    expect(checks.map((c) => [c.name, c.spec.kind, c.required])).toEqual([
      ['http://{ip}:8080/health', 'http', true],
      ['unit:nginx', 'unit', true],
      ['tcp:{ip}:53', 'tcp', true],
      ['exec:pdnsutil check-all-zones', 'exec', false],
    ]);
    expect(checks[0]!.spec).toEqual({ kind: 'http', url: 'http://{ip}:8080/health', expect: 'ok' });
    expect(checks[0]!.timing).toEqual({ timeoutMs: 5_000, intervalMs: 2_000, deadlineMs: 60_000, settleMs: 0 });
    expect(checks[3]!.timing.settleMs).toBe(10_000);
    expect(checks[2]!.spec).toEqual({ kind: 'tcp', host: '{ip}', port: 53 });
  });

  it('applies precedence: flags > instance > defaults > built-in; lists replace; env merges by key', () => {
    const config = { ...parseConfig(EXAMPLE, 'safeupdate.yaml'), file: 'x' };
    const base = { check: [], env: [] };
    const db1 = toRunOptions('backup:db1', ['true'], base, settingsFor(config, 'backup:db1'), false);
    expect(db1).toMatchObject({ expiryMs: null, timeoutMs: 1_800_000, rollback: false, env: { LANG: 'C.UTF-8', PGOPTIONS: '-c statement_timeout=0' } });
    expect(db1.checks!.map((c) => c.name)).toEqual(['systemd']);
    const flagged = toRunOptions('backup:db1', ['true'], { ...base, expiry: '1d', rollback: true, check: ['unit:pg'], env: ['LANG=C'] }, settingsFor(config, 'backup:db1'), false);
    expect(flagged).toMatchObject({ expiryMs: 86_400_000, rollback: true, env: { LANG: 'C', PGOPTIONS: '-c statement_timeout=0' } });
    expect(flagged.checks!.map((c) => c.name)).toEqual(['unit:pg']);
    const other = toRunOptions('web9', ['true'], base, settingsFor({ file: null }, 'web9'), false);
    expect(other).toMatchObject({ expiryMs: 14 * 86_400_000, timeoutMs: 3_600_000, rollback: true, checks: null });
  });

  it('soak: off by default; from the defaults, the instance, or --soak, which wins', () => {
    const config = { ...parseConfig('defaults:\n  soak: 2m\ninstances:\n  db1:\n    soak: 10m\n', 'f'), file: 'f' };
    const base = { check: [], env: [] };
    expect(toRunOptions('web1', ['true'], base, settingsFor({ file: null }, 'web1'), false).soakMs).toBeNull();
    expect(toRunOptions('web1', ['true'], base, settingsFor(config, 'web1'), false).soakMs).toBe(120_000);
    expect(toRunOptions('db1', ['true'], base, settingsFor(config, 'db1'), false).soakMs).toBe(600_000);
    expect(toRunOptions('db1', ['true'], { ...base, soak: '30s' }, settingsFor(config, 'db1'), false).soakMs).toBe(30_000);
    expect(() => toRunOptions('web1', ['true'], { ...base, soak: '0s' }, {}, false)).toThrow('--soak: "0s" is zero');
    expect(() => parseConfig('defaults:\n  soak: soon\n', 'f')).toThrow('soak');
  });

  it('restart: auto by default; from the defaults, the instance, or --restart, which wins; anything else is bad input', () => {
    const config = { ...parseConfig('defaults:\n  restart: always\ninstances:\n  db1:\n    restart: never\n', 'f'), file: 'f' };
    const base = { check: [], env: [] };
    expect(toRunOptions('web1', ['true'], base, settingsFor({ file: null }, 'web1'), false).restart).toBe('auto');
    expect(toRunOptions('web1', ['true'], base, settingsFor(config, 'web1'), false).restart).toBe('always');
    expect(toRunOptions('db1', ['true'], base, settingsFor(config, 'db1'), false).restart).toBe('never');
    expect(toRunOptions('db1', ['true'], { ...base, restart: 'auto' }, settingsFor(config, 'db1'), false).restart).toBe('auto');
    expect(() => toRunOptions('web1', ['true'], { ...base, restart: 'sometimes' }, {}, false)).toThrow('--restart "sometimes": expected auto, always or never');
    expect(() => parseConfig('defaults:\n  restart: yes\n', 'f')).toThrow('f: defaults.restart: expected auto, always or never');
  });

  it('an empty checks list means no checks, not the built-in systemd check', () => {
    const config = { ...parseConfig('instances:\n  tiny:\n    checks: []\n', 'f'), file: 'f' };
    expect(resolveChecks([], settingsFor(config, 'tiny'))).toEqual([]);
  });

  it.each([
    ['instances:\n  web1:\n    checks:\n      - unit: nginx\n      - tcp: "{ip}:53"\n      - http: "http://{ip}/"\n        timeout: 5 seconds\n', 'instances.web1.checks[2].timeout: expected a duration like 5s'],
    ['defaults:\n  expiry: soon\n', 'defaults.expiry: expected a duration like 14d, or never'],
    ['defaults:\n  timeuot: 5m\n', 'defaults: unknown key timeuot'],
    ['defaults:\n  checks:\n    - unit: a\n      exec: b\n', 'defaults.checks[0]: expected exactly one of exec, unit, systemd, http, tcp'],
    ['defaults:\n  checks:\n    - "unit:my unit"\n', 'defaults.checks[0]: check "unit:my unit": "my unit" is not a systemd unit name'],
    ['instances:\n  web1:\n    checks:\n      - http: "http://"\n', 'instances.web1.checks[0]: check "http://": not a valid URL'],
    ['instances:\n  web1:\n    checks:\n      - tcp: "{ip}:99999"\n', 'instances.web1.checks[0]: check "tcp:{ip}:99999": expected tcp:<host>:<port>'],
    ['defaults:\n  checks:\n    - unit: nginx\n      expect: ok\n', 'defaults.checks[0]: expect: only an http check has an expected body'],
    ['defaults:\n  env:\n    1BAD: x\n', 'defaults.env.1BAD'],
    ['defaults: [1, 2]\n', 'defaults'],
    ['defaults:\n  expiry: 7d\n   bad indent: x\n', 'not valid YAML'],
    ['surprise: true\n', '(top level): unknown key surprise'],
    ['instances:\n  web1:\n    checks:\n      - unit: nginx\n        timeout: 25d\n', 'instances.web1.checks[0].timeout: "25d" is too long; at most 24d'],
    ['defaults:\n  checks:\n    - unit: nginx\n      interval: 4w\n', 'defaults.checks[0].interval: "4w" is too long; at most 24d'],
    ['defaults:\n  checks:\n    - unit: nginx\n      deadline: 24d1s\n', 'defaults.checks[0].deadline: "24d1s" is too long; at most 24d'],
    ['defaults:\n  checks:\n    - unit: nginx\n      settle: 99999999999999999999999s\n', 'defaults.checks[0].settle: "99999999999999999999999s" is too long; at most 24d'],
    ['defaults:\n  timeout: 25d\n', 'defaults.timeout: "25d" is too long; at most 24d'],
    ['instances:\n  web1:\n    expiry: 999999999w\n', 'instances.web1.expiry: "999999999w" is too long; at most 5200w (about 100 years)'],
    ['defaults:\n  checks:\n    - unit: nginx\n      insecure: true\n', 'defaults.checks[0]: insecure: only an https check has a certificate to verify'],
    ['defaults:\n  checks:\n    - tcp: "{ip}:443"\n      ca: ca.pem\n', 'defaults.checks[0]: ca: only an https check has a certificate to verify'],
    ['defaults:\n  checks:\n    - http: "http://{ip}/"\n      insecure: true\n', 'defaults.checks[0]: insecure: "http://{ip}/" is not an https:// URL'],
    ['defaults:\n  checks:\n    - http: "http://{ip}/"\n      ca: ca.pem\n', 'defaults.checks[0]: ca: "http://{ip}/" is not an https:// URL'],
    ['defaults:\n  checks:\n    - http: "https://{ip}/"\n      ca: /nonexistent/ca.pem\n', 'defaults.checks[0]: ca: cannot read /nonexistent/ca.pem (ENOENT)'],
  ])('refuses %j naming file, path and what was expected', (text, message) => {
    expect(() => parseConfig(text, '/etc/safeupdate/config.yaml')).toThrow(UsageError);
    expect(() => parseConfig(text, '/etc/safeupdate/config.yaml')).toThrow(`/etc/safeupdate/config.yaml`);
    expect(() => parseConfig(text, '/etc/safeupdate/config.yaml')).toThrow(message);
  });

  it('is read from --config, and a missing one is bad input', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safeupdate-config-'));
    try {
      await writeFile(join(dir, 'c.yaml'), 'defaults:\n  timeout: 5m\n');
      expect((await loadConfig(join(dir, 'c.yaml'))).defaults?.timeout).toBe('5m');
      await expect(loadConfig(join(dir, 'missing.yaml'))).rejects.toThrow('cannot read it (ENOENT)');
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('accepts durations up to the limits, the way they are documented', () => {
    const text = 'defaults:\n  expiry: 5200w\n  timeout: 24d\n  checks:\n    - unit: nginx\n      timeout: 24d\n      interval: 24d\n      deadline: 24d\n      settle: 24d\n';
    const config = { ...parseConfig(text, 'f'), file: 'f' };
    const options = toRunOptions('web1', ['true'], { check: [], env: [] }, settingsFor(config, 'web1'), false);
    expect(options).toMatchObject({ expiryMs: 5_200 * 604_800_000, timeoutMs: 24 * 86_400_000 });
    expect(options.checks![0]!.timing).toEqual({ timeoutMs: 24 * 86_400_000, intervalMs: 24 * 86_400_000, deadlineMs: 24 * 86_400_000, settleMs: 24 * 86_400_000 });
  });

  it.each([
    [{ timeout: '25d' }, '--timeout: "25d" is too long; at most 24d'],
    [{ timeout: `${'9'.repeat(400)}s` }, 'at most 24d'],
    [{ expiry: '999999999w' }, '--expiry: "999999999w" is too long; at most 5200w (about 100 years)'],
    [{ expiry: '5201w' }, 'at most 5200w'],
  ])('refuses a flag %j past what a timer or a date can hold', (flags, message) => {
    const run = () => toRunOptions('web1', ['true'], { check: [], env: [], ...flags }, {}, false);
    expect(run).toThrow(UsageError);
    expect(run).toThrow(message);
  });

  it.each([
    [{ expiry: '30m' }, {}, '--expiry 30m is not longer than the default timeout 1h'],
    [{ expiry: '1h' }, {}, '--expiry 1h is not longer than the default timeout 1h'],
    [{ expiry: '2h', soak: '1h30m' }, {}, '--expiry 2h is not longer than the default timeout 1h plus --soak 1h30m'],
    [{}, { expiry: '10m' }, 'expiry 10m (config file) is not longer than the default timeout 1h'],
    [{}, { expiry: '2h', timeout: '3h' }, 'expiry 2h (config file) is not longer than timeout 3h (config file)'],
    [{ timeout: '20d' }, {}, 'the default expiry 14d is not longer than --timeout 20d'],
  ])('refuses an expiry %j %j that could delete the snapshot while the run still needs it', (flags, settings, message) => {
    const run = () => toRunOptions('web1', ['true'], { check: [], env: [], ...flags }, settings, false);
    expect(run).toThrow(UsageError);
    expect(run).toThrow(message);
    expect(run).toThrow('LXD would delete the snapshot before the run is done with it');
  });

  it('accepts an expiry longer than the timeout and the soak, or none', () => {
    const options = (flags: object) => toRunOptions('web1', ['true'], { check: [], env: [], ...flags }, {}, false);
    expect(options({ expiry: '1h1s' })).toMatchObject({ expiryMs: 3_601_000, timeoutMs: 3_600_000 });
    expect(options({ expiry: false, timeout: '24d' })).toMatchObject({ expiryMs: null });
    expect(options({ expiry: '2h1s', soak: '1h' })).toMatchObject({ expiryMs: 7_201_000 });
  });

  it('finds a CA file beside the config file, and reads it when the config is loaded', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safeupdate-config-'));
    try {
      await writeFile(join(dir, 'c.yaml'), 'defaults:\n  checks:\n    - http: "https://{ip}/"\n      ca: certs/ca.pem\n');
      await expect(loadConfig(join(dir, 'c.yaml'))).rejects.toThrow(`${join(dir, 'c.yaml')}: defaults.checks[0]: ca: cannot read ${join(dir, 'certs/ca.pem')} (ENOENT)`);
      await mkdir(join(dir, 'certs'));
      await writeFile(join(dir, 'certs/ca.pem'), 'not a certificate\n');
      await expect(loadConfig(join(dir, 'c.yaml'))).rejects.toThrow(`ca: ${join(dir, 'certs/ca.pem')} is not a PEM certificate`);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('names a check by its name key', () => {
    expect(checkFromEntry({ name: 'dns', tcp: '{ip}:53' }).name).toBe('dns');
  });
});
