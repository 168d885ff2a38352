import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { FakeLxd } from '../../support/fake-lxd.js';

async function cli(args: string[]) {
  const lxd = new FakeLxd();
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    terminal: false,
    env: { SAFEUPDATE_STATE_DIR: '/nonexistent/safeupdate-test' },
    createLxd: () => lxd,
  });
  return { code, stdout, stderr, lxd };
}

describe('bad input: exit 2, one clear line naming the value, LXD never called', () => {
  it.each([
    [['web1', 'apt-get', 'upgrade'], 'missing "--" before the update command'],
    [['web1', 'web2', '--', 'true'], 'unexpected "web2" between the instance and "--"'],
    [['web1', '--'], 'the update command after "--" is empty'],
    [['web1', '--', ''], 'the update command after "--" is empty'],
    [['web 1', '--', 'true'], 'instance "web 1": not a valid LXD instance name'],
    [['web/1', '--', 'true'], 'instance "web/1"'],
    [['..', '--', 'true'], 'instance ".."'],
    [['wéb', '--', 'true'], 'instance "wéb"'],
    [[`a${'b'.repeat(63)}`, '--', 'true'], 'not a valid LXD instance name'],
    [['', '--', 'true'], 'instance ""'],
    [['web1', '--snapshot-name', 'a/b', '--', 'true'], 'snapshot name "a/b"'],
    [['web1', '--snapshot-name', '', '--', 'true'], 'snapshot name ""'],
    [['web1', '--check', 'ftp:x', '--', 'true'], 'unknown check kind "ftp"'],
    [['web1', '--check', 'http://', '--', 'true'], 'check "http://": not a valid URL'],
    [['web1', '--config', '/nonexistent/safeupdate.yaml', '--', 'true'], '--config /nonexistent/safeupdate.yaml: cannot read it (ENOENT)'],
    [['check'], "missing required argument 'instance'"],
    [['check', 'web 1'], 'instance "web 1"'],
    [['check', 'web1', '--check', 'tcp:x'], 'expected tcp:<host>:<port>'],
    [['check', 'web1', '--', 'true'], 'check takes no command after "--"'],
    [['web1', '--copy-to', 'backup', '--', 'true'], '--copy-to "backup": expected a remote as <remote>:'],
    [['web1', '--keep', '0', '--', 'true'], '--keep "0"'],
    [['sync', 'web1'], 'sync needs at least one instance and a snapshot server'],
    [['sync', 'web1', 'backup'], 'snapshot server "backup": expected a remote'],
    [['prune', 'web1'], 'prune needs at least one rule'],
    [['prune', 'web1', '--keep-last', 'x'], '--keep-last "x"'],
    [['schedule', 'web1'], 'schedule needs --every'],
    [['schedule', 'web1', '--off', '--every', '@daily'], '--off takes no --every'],
    [['rollback', 'web1', 'a/b'], 'snapshot name "a/b"'],
    [['web1', '--check', 'unit:a b', '--', 'true'], '"a b" is not a systemd unit name'],
    [['web1', '--check', 'systemd', '--check', 'systemd', '--', 'true'], 'check "systemd" is given twice'],
    [['web1', '--expiry', '3 days', '--', 'true'], '--expiry: "3 days" is not a duration'],
    [['web1', '--timeout', '10', '--', 'true'], '--timeout: "10" is not a duration'],
    [['web1', '--timeout', '0s', '--', 'true'], '--timeout: "0s" is zero'],
    [['web1', '--env', 'NOEQUALS', '--', 'true'], '--env "NOEQUALS"'],
    [['web1', '--env', '1X=y', '--', 'true'], '--env "1X=y"'],
    [['web1', '--project', 'a b', '--', 'true'], '--project "a b"'],
    [['web1', '--bogus', '--', 'true'], "unknown option '--bogus'"],
    [['web1', '-v', '-q', '--', 'true'], 'cannot be used with option'],
    [['--', 'true'], "missing required argument 'instance'"],
  ])('%j', async (args, message) => {
    const { code, stderr, stdout, lxd } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stdout).toBe('');
    expect(lxd.calls).toEqual([]);
  });
});

describe('help and version', () => {
  it('documents the exit codes and the explicit run form', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Exit codes:');
    expect(stdout).toContain('130/143/129');
    expect(stdout).toContain('safeupdate <instance> -- <command>');
    const run = await cli(['run', '--help']);
    expect(run.stdout).toContain('--no-rollback');
    expect(run.stdout).toContain('--check <spec>');
  });

  it.each(['run', 'check', 'recover', 'snapshots', 'prune', 'rollback', 'sync', 'schedule', 'history', 'show'])('%s --help has examples', async (command) => {
    const { code, stdout } = await cli([command, '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Examples:');
    expect(stdout).toContain(`safeupdate ${command === 'run' ? 'web1' : command}`);
  });

  it('prints the version', async () => {
    const { code, stdout } = await cli(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('the explicit run form', () => {
  it('updates an instance whose name is a subcommand', async () => {
    const { code, lxd } = await cli(['run', 'run', '--', 'true']);
    // The fake has no script, so the first call proves the name reached the run as an instance.
    expect(lxd.calls[0]).toEqual({ method: 'resolveRef', args: [{ remote: null, name: 'run', project: null }] });
    expect(code).toBe(3);
  });
});
