import { describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import { parseHookState, parseRunRecord, STATE_SCRIPT } from '../../../src/hooks/instance-state.js';
import { ALL_PATHS, MODE_FILES, OLD_CLIENT_KEY, OLD_GUARD_APT_CONF, PATHS, trustName } from '../../../src/hooks/layout.js';
import { hookVersionOf, parseHookConf, readTemplate, renderChecks, renderHookConf, renderTemplate } from '../../../src/hooks/render.js';

describe('hook files', () => {
  it('every template carries the version line and no path outside @ROOT@', () => {
    for (const spec of [...MODE_FILES.guard, ...MODE_FILES.snapshot]) {
      if (!spec.template) continue;
      const text = readTemplate(spec.template);
      expect(hookVersionOf(renderTemplate(text, { version: '1.2.3' })), spec.template).toBe('1.2.3');
      // Sourced and installed paths all go through @ROOT@, so that the scripts run below a test folder.
      expect(text.match(/'\/usr\/local\/lib/g), spec.template).toBeNull();
    }
  });

  it('each mode writes its apt.conf.d snippet last: the hook is switched on only once all it needs is there', () => {
    expect(MODE_FILES.guard.at(-1)!.path).toBe(PATHS.guardAptConf);
    expect(MODE_FILES.snapshot.at(-1)!.path).toBe(PATHS.snapshotAptConf);
  });

  it('the guard snippet, 05 (before debconf), asks apt for protocol version 3 for exactly the guard script', () => {
    expect(PATHS.guardAptConf).toBe('/etc/apt/apt.conf.d/05safeupdate-guard');
    expect(OLD_GUARD_APT_CONF).toBe('/etc/apt/apt.conf.d/80safeupdate-guard');
    expect(ALL_PATHS).toContain(OLD_GUARD_APT_CONF);
    const text = renderTemplate(readTemplate('05safeupdate-guard'), { version: '1' });
    expect(text).toContain('DPkg::Pre-Install-Pkgs { "/usr/local/lib/safeupdate/guard"; };');
    expect(text).toContain('DPkg::Tools::Options::/usr/local/lib/safeupdate/guard::Version "3";');
  });

  it('the snapshot snippet asks for the snapshot before dpkg (Pre-Install-Pkgs, protocol 3: it sees simulations) and runs the checks after it', () => {
    const text = renderTemplate(readTemplate('80safeupdate-snapshot'), { version: '1' });
    expect(text).toContain('DPkg::Pre-Install-Pkgs { "/usr/local/lib/safeupdate/pre-snapshot"; };');
    expect(text).toContain('DPkg::Tools::Options::/usr/local/lib/safeupdate/pre-snapshot::Version "3";');
    expect(text).toContain('DPkg::Post-Invoke { "/usr/local/lib/safeupdate/post-check"; };');
    expect(text).not.toContain('Pre-Invoke');
  });

  it('snapshot mode installs the perl client of the broker, and no key or certificate', () => {
    const paths = MODE_FILES.snapshot.map((spec) => spec.path);
    expect(paths).toContain(PATHS.brokerRequest);
    expect(paths.filter((path) => /\.(key|crt)$/.test(path))).toEqual([]);
    expect(readTemplate('broker-request').split('\n')[0]).toMatch(/perl/);
  });
});

describe('hook.conf', () => {
  it('round-trips what the scripts read, with the version line', () => {
    const text = renderHookConf({
      mode: 'snapshot', instance: 'web1', project: 'prod', hostInstance: 'backup:web1', hostOptions: '--project prod', disabledUnits: ['apt-daily.timer'],
    }, '0.1.0');
    expect(hookVersionOf(text)).toBe('0.1.0');
    // Nothing of LXD's (no address, no fingerprint, no instance id): the broker on the host knows those.
    expect(parseHookConf(text)).toEqual({
      mode: 'snapshot', instance: 'web1', project: 'prod', host_instance: 'backup:web1', host_options: '--project prod', disabled_units: 'apt-daily.timer',
    });
  });

  it('refuses a value with a line break, which would smuggle in another key', () => {
    expect(() => renderHookConf({ mode: 'guard', instance: 'web1', project: 'a\nmode=x', hostInstance: 'web1', hostOptions: '', disabledUnits: [] }, '1')).toThrow(/line break/);
  });
});

describe('the checks the hook runs inside', () => {
  it('the systemd check where systemd runs, then unit: and exec: checks with their timings; http and tcp stay on the host', () => {
    const checks = [
      defineCheck('unit:nginx', { timing: { deadlineMs: 30_000 } }),
      defineCheck('exec:test -f /ok', { required: false, timing: { timeoutMs: 2_500 } }),
      defineCheck('http://{ip}:8080/health'),
      defineCheck('tcp:{ip}:53'),
    ];
    const result = renderChecks(checks, true, 'web1', '0.1.0');
    expect(result.run).toEqual(['systemd', 'unit:nginx', 'exec:test -f /ok']);
    expect(result.text.split('\n').filter((line) => !line.startsWith('#') && line)).toEqual([
      'systemd\tyes\t60\t10\t',
      'unit\tyes\t30\t10\tnginx',
      'exec\tno\t60\t3\ttest -f /ok',
    ]);
    expect(result.skipped).toEqual([
      "http://{ip}:8080/health (asked from the host; runs in safeupdate's own runs only)",
      "tcp:{ip}:53 (asked from the host; runs in safeupdate's own runs only)",
    ]);
    expect(hookVersionOf(result.text)).toBe('0.1.0');
  });

  it('a configured systemd check keeps its settings and is not doubled', () => {
    const result = renderChecks([defineCheck('systemd', { timing: { deadlineMs: 5_000 } })], true, 'web1', '1');
    expect(result.run).toEqual(['systemd']);
    expect(result.text).toContain('systemd\tyes\t5\t10\t');
  });

  it('without systemd: no systemd or unit checks, and says why', () => {
    const result = renderChecks([defineCheck('unit:nginx'), defineCheck('exec:true')], false, 'web1', '1');
    expect(result.run).toEqual(['exec:true']);
    expect(result.skipped).toEqual(['unit:nginx (the instance does not run systemd)']);
  });

  it('an exec command with a line break cannot be written as one line: skipped, said so', () => {
    const result = renderChecks([defineCheck('exec:a\nb')], true, 'web1', '1');
    expect(result.run).toEqual(['systemd']);
    expect(result.skipped[0]).toContain('line break');
  });
});

describe('reading the instance', () => {
  it('parses the state script\'s answer: tools (perl), files (the old key and the token unread), folders, timers', () => {
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const state = parseHookState([
      'apt=yes', 'perl=no', 'systemd=yes',
      'unit=apt-daily.timer enabled', 'unit=unattended-upgrades.service absent',
      `file=${PATHS.hookConf} 644 ${b64('mode=guard\n')}`,
      `file=${OLD_CLIENT_KEY} 600 -`,
      `file=${PATHS.requestToken} 600 -`,
      `file=${PATHS.checks} 644 =`,
      'dir=/etc/safeupdate',
      '',
    ].join('\n'));
    expect(state).toEqual({
      apt: true, perl: false, systemd: true, dirs: ['/etc/safeupdate'], files: expect.any(Map) as unknown,
      units: { 'apt-daily.timer': 'enabled', 'unattended-upgrades.service': 'absent' },
    });
    expect(parseHookState('apt=no\nperl=yes\nsystemd=no\n')).toMatchObject({ apt: false, perl: true, systemd: false });
    expect(state.files.get(PATHS.hookConf)).toEqual({ mode: 0o644, content: 'mode=guard\n' });
    expect(state.files.get(OLD_CLIENT_KEY)).toEqual({ mode: 0o600, content: null });
    expect(state.files.get(PATHS.requestToken)).toEqual({ mode: 0o600, content: null });
    expect(state.files.get(PATHS.checks)).toEqual({ mode: 0o644, content: '' });
  });

  it('the state script names every path safeupdate may have written, and never reads the old key or the token', () => {
    for (const path of ALL_PATHS) expect(STATE_SCRIPT).toContain(`'${path}'`);
    expect(STATE_SCRIPT).toContain(`'${OLD_CLIENT_KEY}' | '${PATHS.requestToken}') c=-`);
    expect(STATE_SCRIPT).toContain('perl=');
    expect(STATE_SCRIPT).not.toMatch(/curl|devlxd|\/proc\/net/);
  });

  it('parses the hook\'s record: the last value of each key, and each check', () => {
    const record = parseRunRecord('started=a\nsnapshot_result=taken\ncheck=failed\tunit:x\tx is failed\ncheck=ok\tsystemd\trunning\nchecks_result=failed\nfinished=b\n');
    expect(record.values).toEqual({ started: 'a', snapshot_result: 'taken', checks_result: 'failed', finished: 'b' });
    expect(record.checks).toEqual([{ status: 'failed', name: 'unit:x', message: 'x is failed' }, { status: 'ok', name: 'systemd', message: 'running' }]);
  });
});

describe('the old certificate mode\'s names', () => {
  it('a trust entry name belongs to one instance of one project', () => {
    expect(trustName('web1', 'default')).toBe('safeupdate-hook.web1.default');
    expect(trustName('a-b', 'c')).not.toBe(trustName('a', 'b-c'));
  });
});
