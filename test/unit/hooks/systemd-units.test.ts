import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { execArgv, expandInstance, hasSetting, parseUnitFile, readUnitFile, setting } from '../../support/systemd-unit.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const UNITS = join(ROOT, 'hooks/systemd');
const SERVICE = 'safeupdate-upgrade@.service';
const TIMER = 'safeupdate-upgrade@.timer';
/** ExecStart names the executable without a folder: systemd looks in /usr/local/bin, /usr/bin, …. */
const INSTALLED_BIN = 'safeupdate';
/** The service with its ExecStart pointing at this checkout's executable instead (a stand-in). */
function withStandIn(text: string): string {
  const changed = text.replace(`ExecStart=${INSTALLED_BIN} `, `ExecStart=${join(ROOT, 'bin/safeupdate.js')} `);
  if (text.includes('[Service]') && changed === text) throw new Error(`no "ExecStart=${INSTALLED_BIN} " to point at the stand-in`);
  return changed;
}

const service = readUnitFile(join(UNITS, SERVICE));
const timer = readUnitFile(join(UNITS, TIMER));

const temps: string[] = [];
afterAll(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/**
 * `systemd-analyze verify` on copies of the units in a temp folder. It checks that ExecStart's
 * executable exists (in systemd's fixed search path, not $PATH), and safeupdate is not installed
 * here: the copies' ExecStart points at the repository's bin/safeupdate.js instead (the only change). It exits 0 even for settings it
 * ignores (an unknown key, a value it cannot parse), so its output must be empty too. `instance`
 * verifies the pair under the names of that instance (`FILE:NAME`, verify's own syntax for a file
 * under another name: a ":" in a file name, as in `@backup:db1`, would be taken for it).
 */
async function verify(instance?: string): Promise<{ exitCode: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'safeupdate-units-'));
  temps.push(dir);
  const args = [SERVICE, TIMER].map((name) => {
    writeFileSync(join(dir, name), withStandIn(readFileSync(join(UNITS, name), 'utf8')));
    return instance === undefined ? join(dir, name) : `${join(dir, name)}:${name.replace('@.', `@${instance}.`)}`;
  });
  const analyze = await execa('systemd-analyze', ['verify', '--man=no', ...args], { reject: false, cwd: dir });
  if (analyze.failed && (analyze as { code?: string }).code === 'ENOENT') {
    throw new Error('systemd-analyze is missing: install Debian\'s "systemd" package (it verifies unit files without systemd running)');
  }
  return { exitCode: analyze.exitCode ?? -1, output: `${analyze.stdout}${analyze.stderr}` };
}

describe('hooks/systemd: a templated service and timer per instance', () => {
  it('systemd-analyze verify accepts the template pair and an instance of it, without a warning', async () => {
    for (const instance of [undefined, 'web1', 'backup:db1', 'web-1']) {
      expect(await verify(instance), instance ?? 'the templates').toEqual({ exitCode: 0, output: '' });
    }
  });

  it('the verification is not a formality: a broken setting and a missing executable are caught', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'safeupdate-units-'));
    temps.push(dir);
    copyFileSync(join(UNITS, SERVICE), join(dir, SERVICE));
    const missing = await execa('systemd-analyze', ['verify', '--man=no', join(dir, SERVICE)], { reject: false });
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toContain(`Command ${INSTALLED_BIN} is not executable`);

    writeFileSync(join(dir, SERVICE), withStandIn(readFileSync(join(UNITS, SERVICE), 'utf8')).replace('KillMode=mixed', 'KillMode=gently'));
    const bad = await execa('systemd-analyze', ['verify', '--man=no', join(dir, SERVICE)], { reject: false });
    expect(bad.stderr).toContain('Failed to parse kill mode');
  });

  it('runs safeupdate on the instance named after "@", with the report in the state directory', () => {
    const argv = execArgv(setting(service, 'Service', 'ExecStart'), 'web1');
    expect(argv).toEqual([
      INSTALLED_BIN, 'web1', '--report', '/var/lib/safeupdate/last-web1.json', '--', 'sh', '-c', 'apt-get update -q && apt-get upgrade -y',
    ]);
    // %i, not %I: %I would turn a "-" of the instance name into "/".
    expect(setting(service, 'Service', 'ExecStart')).not.toContain('%I');
    expect(execArgv(setting(service, 'Service', 'ExecStart'), 'backup:db-1')[1]).toBe('backup:db-1');
    // The report lands in the folder systemd creates, where safeupdate keeps its runs as well.
    expect(setting(service, 'Service', 'StateDirectory')).toBe('safeupdate');
    expect(dirname(argv[3]!)).toBe('/var/lib/safeupdate');
    expect(setting(service, 'Service', 'Environment')).toBe('SAFEUPDATE_STATE_DIR=/var/lib/safeupdate');
    expect(expandInstance(setting(service, 'Unit', 'Description'), 'web1')).toContain('web1');
  });

  it('a failed run is a failed unit: oneshot, every non-zero exit code (1, rolled back, too) fails it, no restart', () => {
    expect(setting(service, 'Service', 'Type')).toBe('oneshot');
    for (const key of ['SuccessExitStatus', 'Restart', 'RemainAfterExit']) expect(hasSetting(service, 'Service', key), key).toBe(false);
    expect(setting(service, 'Service', 'ExecStart').startsWith('-')).toBe(false);
  });

  it('SIGTERM reaches safeupdate alone, so that it can roll back; nothing but LXD or Incus is waited for', () => {
    expect(setting(service, 'Service', 'KillMode')).toBe('mixed');
    expect(setting(service, 'Service', 'TimeoutStartSec')).toBe('infinity');
    expect(setting(service, 'Unit', 'After').split(/\s+/)).toEqual(['lxd.socket', 'lxd.service', 'snap.lxd.daemon.service', 'incus.socket', 'incus.service']);
    for (const key of ['Wants', 'Requires']) expect(hasSetting(service, 'Unit', key), key).toBe(false);
    expect(setting(service, 'Service', 'User')).toBe('root');
  });

  it('the timer: daily, spread by a random delay, catching up after downtime, for the service of the same instance', () => {
    expect(setting(timer, 'Timer', 'OnCalendar')).toBe('*-*-* 04:00:00');
    expect(setting(timer, 'Timer', 'RandomizedDelaySec')).toBe('1h');
    expect(setting(timer, 'Timer', 'Persistent')).toBe('true');
    // No Unit=: a timer activates the service of its own name, safeupdate-upgrade@<instance>.service.
    expect(hasSetting(timer, 'Timer', 'Unit')).toBe(false);
    expect(setting(timer, 'Install', 'WantedBy')).toBe('timers.target');
    expect(hasSetting(service, 'Install', 'WantedBy')).toBe(false);
  });
});

describe('the unit-file reader of these tests', () => {
  it('splits a command line as systemd does, and refuses what it does not know', () => {
    expect(execArgv(`/bin/x %i 'a b' "c \\"d\\"" e\\ f 100%%`, 'n')).toEqual(['/bin/x', 'n', 'a b', 'c "d"', 'e f', '100%']);
    expect(() => execArgv('/bin/x $HOME', 'n')).toThrow('environment variable');
    expect(() => execArgv('/bin/x %n', 'n')).toThrow('specifier');
    expect(() => execArgv('-/bin/x', 'n')).toThrow('prefix');
    expect(() => execArgv("/bin/x 'open", 'n')).toThrow('unterminated');
  });

  it('keeps sections, repeated keys and continued lines', () => {
    const unit = parseUnitFile('# c\n[A]\nK=1\nK=2\n; c\n[B]\nL=x \\\n  y\n');
    expect(unit.get('A')!.get('K')).toEqual(['1', '2']);
    expect(setting(unit, 'B', 'L')).toBe('x    y');
    expect(() => setting(unit, 'A', 'K')).toThrow('2 times');
    expect(() => parseUnitFile('K=1\n')).toThrow('not a unit file line');
  });
});
